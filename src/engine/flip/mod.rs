//! The FLIP rule both engines apply (Andersson et al. 2020; HDR-FLIP 2021), with the constants,
//! filters and colour transforms of NVIDIA's reference implementation (`flip-evaluator` 1.7),
//! in its order of f32 operations.
//!
//! Samples are values in [0, 1] (8-bit / 255, 16-bit / 65535, floating point as they are).
//! LDR-FLIP (`FlipRule::hdr` is `None`, meant for integer samples) reads them as sRGB;
//! HDR-FLIP (meant for floating-point samples) reads them as linear RGB and tone-maps them at
//! each exposure of `FlipRule::hdr`, keeping each pixel's largest value. Grey is replicated
//! into RGB; alpha is dropped, not composited.
//!
//! The CPU engine computes the powers of the colour pipeline (CIELab's cube roots, the
//! exponents of the colour and feature differences) with one exp2-of-log2 written in f32
//! arithmetic (`colour::pow`), which the GPU engine's shader repeats: both agree with the
//! reference to about 1e-5 and with each other to rounding.
//!
//! HDR-FLIP's exposures come from the reference image's luminance (`LuminanceScan`): its largest
//! value and its upper median. The scan needs one pass over image 1, and a second one only when
//! `LuminanceScan::needs_second_pass` says so after the first (the median then lies among
//! values the first pass could not tell apart).

pub(crate) mod colour;
mod exposure;
pub(crate) mod filters;

pub use exposure::{Exposures, LuminanceScan, settle};

/// Pixels per degree of the reference's default observer: 0.7 m from a 0.7 m wide display of
/// 3840 pixels.
pub const DEFAULT_PPD: f32 = 67.020_645;

/// Pixels per degree of visual angle for an observer `distance_m` metres from a display
/// `width_px` pixels and `width_m` metres wide, as the reference computes it.
pub fn ppd_from_viewing(distance_m: f32, width_px: f32, width_m: f32) -> f32 {
    distance_m * (width_px / width_m) * (colour::PI / 180.0)
}

/// The observer and, for floating-point images, the exposures of one FLIP comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct FlipRule {
    /// Pixels per degree of visual angle (`DEFAULT_PPD` by default); sets the filters' size.
    pub ppd: f32,
    /// The exposures HDR-FLIP tone-maps floating-point images at; `None` for LDR-FLIP.
    pub hdr: Option<Exposures>,
}

impl Default for FlipRule {
    fn default() -> FlipRule {
        FlipRule {
            ppd: DEFAULT_PPD,
            hdr: None,
        }
    }
}

impl FlipRule {
    /// Rows of context the filters read on each side of a pixel: the larger of the colour
    /// filters' radius and the feature filters' radius at `ppd`.
    pub fn halo(&self) -> u32 {
        let (spatial, feature) = filters::radii(self.ppd);
        spatial.max(feature) as u32
    }
}

/// How HDR-FLIP maps linear radiance into [0, 1] at each exposure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Tonemapper {
    /// The ACES filmic curve fitted by Narkowicz (the reference's default).
    #[default]
    Aces,
    /// Hable's (Uncharted 2) filmic curve.
    Hable,
    /// Reinhard's curve on luminance.
    Reinhard,
}

impl Tonemapper {
    /// The names `FromStr` takes, in the order of `name`'s values.
    pub const NAMES: [&'static str; 3] = ["aces", "hable", "reinhard"];

    /// The name the reference gives the tone mapper.
    pub fn name(self) -> &'static str {
        match self {
            Tonemapper::Aces => "aces",
            Tonemapper::Hable => "hable",
            Tonemapper::Reinhard => "reinhard",
        }
    }

    /// The reference's coefficients of the curve `(c²·k0 + c·k1 + k2) / (c²·k3 + c·k4 + k5)`.
    /// Reinhard's tone-maps luminance, not each channel; they serve for its exposure range.
    pub(crate) fn coefficients(self) -> [f32; 6] {
        match self {
            Tonemapper::Reinhard => [0.0, 1.0, 0.0, 0.0, 1.0, 1.0],
            Tonemapper::Aces => [
                0.6 * 0.6 * 2.51,
                0.6 * 0.03,
                0.0,
                0.6 * 0.6 * 2.43,
                0.6 * 0.59,
                0.14,
            ],
            Tonemapper::Hable => [0.231683, 0.013791, 0.0, 0.18, 0.3, 0.018],
        }
    }
}

impl std::str::FromStr for Tonemapper {
    type Err = String;

    fn from_str(s: &str) -> Result<Tonemapper, String> {
        match s.to_ascii_lowercase().as_str() {
            "aces" => Ok(Tonemapper::Aces),
            "hable" => Ok(Tonemapper::Hable),
            "reinhard" => Ok(Tonemapper::Reinhard),
            _ => Err(format!(
                "unknown tone mapper '{s}' (expected one of: {})",
                Tonemapper::NAMES.join(", ")
            )),
        }
    }
}

impl std::fmt::Display for Tonemapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_observer_is_the_references() {
        assert_eq!(f64::from(DEFAULT_PPD), 67.02064514160156);
        assert_eq!(ppd_from_viewing(0.7, 3840.0, 0.7), DEFAULT_PPD);
        // 1 m from a 0.5 m wide display of 1000 pixels: 2000 pixels per metre, 1/57.3 m per
        // degree.
        let ppd = ppd_from_viewing(1.0, 1000.0, 0.5);
        assert!(
            (ppd - 2000.0 * std::f32::consts::PI / 180.0).abs() < 1e-3,
            "{ppd}"
        );
    }

    #[test]
    fn the_halo_is_the_larger_radius() {
        // Colour: ceil(3 * sqrt(0.04 / (2 pi²)) * 67.02) = ceil(9.05) = 10; features:
        // ceil(3 * 0.041 * 67.02) = ceil(8.24) = 9.
        assert_eq!(FlipRule::default().halo(), 10);
        assert_eq!(filters::radii(DEFAULT_PPD), (10, 9));
        // At 1 ppd: colour ceil(0.135) = 1, features ceil(0.123) = 1.
        assert_eq!(filters::radii(1.0), (1, 1));
        // The colour radius grows as 0.1350 ppd, the features' as 0.123 ppd.
        assert_eq!(filters::radii(200.0), (28, 25));
    }

    #[test]
    fn tone_mappers_parse_and_name_themselves() {
        for name in Tonemapper::NAMES {
            let t: Tonemapper = name.parse().unwrap();
            assert_eq!(t.name(), name);
        }
        assert_eq!("ACES".parse::<Tonemapper>(), Ok(Tonemapper::Aces));
        let err = "filmic".parse::<Tonemapper>().unwrap_err();
        assert!(err.contains("aces, hable, reinhard"), "{err}");
    }
}
