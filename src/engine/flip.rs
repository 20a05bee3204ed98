//! The FLIP rule both engines apply (Andersson et al. 2020; HDR-FLIP 2021).

/// The reference tool's pixels per degree: a 0.7 m wide 3840-pixel display seen from 0.7 m.
pub const DEFAULT_PPD: f32 = 67.020_645;

/// How HDR-FLIP maps linear light to display values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tonemapper {
    Aces,
    Hable,
    Reinhard,
}

impl Tonemapper {
    pub const NAMES: [&str; 3] = ["aces", "hable", "reinhard"];
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl std::str::FromStr for Tonemapper {
    type Err = String;
    fn from_str(name: &str) -> Result<Tonemapper, String> {
        match name {
            "aces" => Ok(Tonemapper::Aces),
            "hable" => Ok(Tonemapper::Hable),
            "reinhard" => Ok(Tonemapper::Reinhard),
            _ => Err(format!("'{name}' is not aces, hable or reinhard")),
        }
    }
}

/// The exposures of HDR-FLIP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exposures {
    pub start: f32,
    pub stop: f32,
    pub count: u32,
    pub tonemapper: Tonemapper,
}

/// The observer and, for floating-point images, the exposures of one FLIP comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct FlipRule {
    /// Pixels per degree of visual angle.
    pub ppd: f32,
    pub hdr: Option<Exposures>,
}

impl FlipRule {
    /// Rows of context the filters read on each side of a pixel.
    pub fn halo(&self) -> u32 {
        todo!()
    }
}

/// Placeholder.
pub struct LuminanceScan;
impl LuminanceScan {
    pub fn new() -> LuminanceScan {
        LuminanceScan
    }
    pub fn add(&mut self, _s: &crate::pixel::Samples, _l: crate::pixel::Layout) {}
    pub fn next_pass(&mut self) -> bool {
        false
    }
}
impl Exposures {
    pub fn settle(
        _r: Option<(f32, f32)>,
        _c: Option<u32>,
        _s: Option<&LuminanceScan>,
        _t: Tonemapper,
    ) -> Result<Exposures, String> {
        todo!()
    }
}
pub fn ppd_from_viewing(d: f32, px: f32, w: f32) -> f32 {
    d * (px / w) * std::f32::consts::PI / 180.0
}
