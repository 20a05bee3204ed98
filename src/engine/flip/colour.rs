//! FLIP's colour transforms and per-pixel steps, in the reference's order of f32 operations.
//! The CPU kernel calls them pixel by pixel; `shaders/flip.wgsl` repeats them line by line.

/// π as the reference spells it in f32.
pub(crate) const PI: f32 = 3.141_592_7;

/// The exponent of the colour difference (q_c).
pub(crate) const GQC: f32 = 0.7;
/// Where the colour remap's knee sits, as a share of the largest difference (p_c).
pub(crate) const GPC: f32 = 0.4;
/// The remapped value at the knee (p_t).
pub(crate) const GPT: f32 = 0.95;
/// The feature filters' width in degrees (w).
pub(crate) const GW: f32 = 0.082;
/// The exponent of the feature difference (q_f).
pub(crate) const GQF: f32 = 0.5;

/// The D65 white point and its reciprocal.
const ILLUMINANT: [f32; 3] = [0.950_428_55, 1.0, 1.088_900_4];
const INV_ILLUMINANT: [f32; 3] = [1.052_156_9, 1.0, 0.918_357_7];

/// Linear sRGB to XYZ (D65), as exact fractions rounded to f32.
const RGB_TO_XYZ: [[f32; 3]; 3] = [
    [
        10135552.0 / 24577794.0,
        8788810.0 / 24577794.0,
        4435075.0 / 24577794.0,
    ],
    [
        2613072.0 / 12288897.0,
        8788810.0 / 12288897.0,
        887015.0 / 12288897.0,
    ],
    [
        1425312.0 / 73733382.0,
        8788810.0 / 73733382.0,
        70074185.0 / 73733382.0,
    ],
];

/// XYZ (D65) to linear sRGB.
const XYZ_TO_RGB: [[f32; 3]; 3] = [
    [3.241_003_3, -1.537_398_9, -0.498_615_87],
    [-0.969_224_33, 1.875_930_1, 0.041_554_224],
    [0.055_639_423, -0.204_011_2, 1.057_148_9],
];

/// The reference's `Max` and `Min`: the first operand when the comparison holds, so a NaN
/// gives way to the bound.
#[inline(always)]
pub(crate) fn max(x: f32, y: f32) -> f32 {
    if x > y { x } else { y }
}

#[inline(always)]
pub(crate) fn min(x: f32, y: f32) -> f32 {
    if x > y { y } else { x }
}

/// Clamps into [0, 1] as the reference does.
#[inline(always)]
pub(crate) fn clamp01(v: f32) -> f32 {
    min(max(v, 0.0), 1.0)
}

/// One sRGB-encoded value to linear.
pub(crate) fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

#[inline(always)]
fn times(m: &[[f32; 3]; 3], c: [f32; 3]) -> [f32; 3] {
    m.map(|row| row[0] * c[0] + row[1] * c[1] + row[2] * c[2])
}

/// Linear RGB to XYZ.
#[inline(always)]
pub(crate) fn rgb_to_xyz(rgb: [f32; 3]) -> [f32; 3] {
    times(&RGB_TO_XYZ, rgb)
}

/// XYZ to linear RGB.
#[inline(always)]
pub(crate) fn xyz_to_rgb(xyz: [f32; 3]) -> [f32; 3] {
    times(&XYZ_TO_RGB, xyz)
}

/// XYZ to the opponent space YCxCz.
#[inline(always)]
pub(crate) fn xyz_to_ycxcz(xyz: [f32; 3]) -> [f32; 3] {
    let [x, y, z] = [0, 1, 2].map(|i| xyz[i] * INV_ILLUMINANT[i]);
    [116.0 * y - 16.0, 500.0 * (x - y), 200.0 * (y - z)]
}

/// YCxCz back to XYZ.
#[inline(always)]
pub(crate) fn ycxcz_to_xyz(c: [f32; 3]) -> [f32; 3] {
    let y = (c[0] + 16.0) / 116.0;
    let cx = c[1] / 500.0;
    let cz = c[2] / 200.0;
    [
        (y + cx) * ILLUMINANT[0],
        y * ILLUMINANT[1],
        (y - cz) * ILLUMINANT[2],
    ]
}

/// XYZ to CIELab.
#[inline(always)]
pub(crate) fn xyz_to_lab(xyz: [f32; 3]) -> [f32; 3] {
    const DELTA: f32 = 6.0 / 29.0;
    const DELTA_SQUARE: f32 = DELTA * DELTA;
    const DELTA_CUBE: f32 = DELTA * DELTA_SQUARE;
    const FACTOR: f32 = 1.0 / (3.0 * DELTA_SQUARE);
    const TERM: f32 = 4.0 / 29.0;
    let [x, y, z] = [0, 1, 2].map(|i| {
        let v = xyz[i] * INV_ILLUMINANT[i];
        if v > DELTA_CUBE {
            v.powf(1.0 / 3.0)
        } else {
            FACTOR * v + TERM
        }
    });
    [116.0 * y - 16.0, 500.0 * (x - y), 200.0 * (y - z)]
}

/// Hunt's adjustment of a chroma by lightness.
#[inline(always)]
pub(crate) fn hunt(lightness: f32, chroma: f32) -> f32 {
    0.01 * lightness * chroma
}

/// The HyAB distance of two Lab colours: city-block in L, Euclidean in a and b.
#[inline(always)]
pub(crate) fn hyab(p: [f32; 3], q: [f32; 3]) -> f32 {
    let (da, db) = (p[1] - q[1], p[2] - q[2]);
    (p[0] - q[0]).abs() + (da * da + db * db).sqrt()
}

/// Linear RGB to Lab with Hunt's adjustment.
#[inline(always)]
pub(crate) fn rgb_to_hunt_lab(rgb: [f32; 3]) -> [f32; 3] {
    let [l, a, b] = xyz_to_lab(rgb_to_xyz(rgb));
    [l, hunt(l, a), hunt(l, b)]
}

/// The largest colour difference after the exponent: green against blue (c_max).
pub(crate) fn max_distance() -> f32 {
    let green = rgb_to_hunt_lab([0.0, 1.0, 0.0]);
    let blue = rgb_to_hunt_lab([0.0, 0.0, 1.0]);
    hyab(green, blue).powf(GQC)
}

/// The colour remap's constants: c_max and the knee p_c · c_max.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Remap {
    pub cmax: f32,
    pub pccmax: f32,
}

impl Remap {
    pub fn new() -> Remap {
        let cmax = max_distance();
        Remap {
            cmax,
            pccmax: GPC * cmax,
        }
    }

    /// The colour difference of two filtered YCxCz colours, in [0, 1].
    #[inline(always)]
    pub fn colour_difference(&self, reference: [f32; 3], test: [f32; 3]) -> f32 {
        let lab = |c: [f32; 3]| rgb_to_hunt_lab(xyz_to_rgb(ycxcz_to_xyz(c)).map(clamp01));
        let d = hyab(lab(reference), lab(test)).powf(GQC);
        if d < self.pccmax {
            d * (GPT / self.pccmax)
        } else {
            GPT + ((d - self.pccmax) / (self.cmax - self.pccmax)) * (1.0 - GPT)
        }
    }
}

/// The feature difference of the filtered edge and point responses of both images, and FLIP
/// from it and the colour difference.
#[inline(always)]
pub(crate) fn flip(colour: f32, edge: [f32; 2], point: [f32; 2]) -> f32 {
    let normalisation = 1.0 / 2.0f32.sqrt();
    let feature =
        (normalisation * max((edge[0] - edge[1]).abs(), (point[0] - point[1]).abs())).powf(GQF);
    colour.powf(1.0 - feature)
}

/// The length of a 2-vector, as the reference computes it.
#[inline(always)]
pub(crate) fn length(x: f32, y: f32) -> f32 {
    (x * x + y * y).sqrt()
}

/// Tone-maps one linear RGB colour, already exposed, and clamps it into [0, 1].
#[inline(always)]
pub(crate) fn tonemap(rgb: [f32; 3], k: &[f32; 6], reinhard: bool) -> [f32; 3] {
    if reinhard {
        let luminance = luminance(rgb);
        let factor = 1.0 / (1.0 + luminance);
        return rgb.map(|c| clamp01(c * factor));
    }
    rgb.map(|c| clamp01(((c * c) * k[0] + c * k[1] + k[2]) / (c * c * k[3] + c * k[4] + k[5])))
}

/// The luminance of a linear RGB colour.
#[inline(always)]
pub(crate) fn luminance(rgb: [f32; 3]) -> f32 {
    0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f32; 3], b: [f32; 3], tolerance: f32) -> bool {
        a.iter().zip(b).all(|(a, b)| (a - b).abs() <= tolerance)
    }

    #[test]
    fn srgb_decodes_by_both_branches() {
        assert_eq!(srgb_to_linear(0.0), 0.0);
        assert_eq!(srgb_to_linear(0.04), 0.04 / 12.92);
        assert!((srgb_to_linear(1.0) - 1.0).abs() < 1e-7);
        // ((0.5 + 0.055) / 1.055)^2.4 = 0.21404.
        assert!((srgb_to_linear(0.5) - 0.214_041_14).abs() < 1e-6);
    }

    #[test]
    fn white_is_the_illuminant_and_grey_has_no_chroma() {
        let white = rgb_to_xyz([1.0; 3]);
        assert!(close(white, ILLUMINANT, 1e-6), "{white:?}");
        assert!(close(xyz_to_ycxcz(white), [100.0, 0.0, 0.0], 1e-4));
        assert!(close(xyz_to_lab(white), [100.0, 0.0, 0.0], 1e-4));
        let lab = xyz_to_lab(rgb_to_xyz([0.5; 3]));
        // L* of Y = 0.5: 116 * 0.5^(1/3) - 16 = 76.0693.
        assert!(close(lab, [76.069_3, 0.0, 0.0], 2e-4), "{lab:?}");
        // Black falls in the linear segment: L* = 116 * 4/29 - 16 = 0.
        assert!(close(xyz_to_lab([0.0; 3]), [0.0; 3], 1e-5));
    }

    #[test]
    fn primaries_reach_their_known_lab() {
        // CIELab of sRGB's primaries under D65 (L*, a*, b*).
        let red = xyz_to_lab(rgb_to_xyz([1.0, 0.0, 0.0]));
        assert!(close(red, [53.24, 80.09, 67.20], 0.02), "{red:?}");
        let green = xyz_to_lab(rgb_to_xyz([0.0, 1.0, 0.0]));
        assert!(close(green, [87.73, -86.18, 83.18], 0.02), "{green:?}");
        let blue = xyz_to_lab(rgb_to_xyz([0.0, 0.0, 1.0]));
        assert!(close(blue, [32.30, 79.19, -107.86], 0.02), "{blue:?}");
    }

    #[test]
    fn transforms_invert() {
        let rgb = [0.2, 0.7, 0.4];
        let back = xyz_to_rgb(ycxcz_to_xyz(xyz_to_ycxcz(rgb_to_xyz(rgb))));
        assert!(close(back, rgb, 1e-5), "{back:?}");
    }

    #[test]
    fn hyab_adds_lightness_to_chroma_distance() {
        assert_eq!(hyab([50.0, 10.0, 20.0], [40.0, 13.0, 24.0]), 10.0 + 5.0);
        assert_eq!(hunt(50.0, 20.0), 10.0);
        // c_max: green against blue after Hunt, to the power 0.7.
        let hunted = |lab: [f32; 3]| [lab[0], lab[0] * lab[1] / 100.0, lab[0] * lab[2] / 100.0];
        let green = hunted([87.735, -86.183, 83.179]);
        let blue = hunted([32.303, 79.197, -107.864]);
        let expected = (hyab(green, blue) as f64).powf(0.7) as f32;
        assert!(
            (max_distance() - expected).abs() < 0.01,
            "{}",
            max_distance()
        );
    }

    #[test]
    fn remap_has_its_knee_at_pc_cmax() {
        let remap = Remap::new();
        let same = remap.colour_difference([50.0, 3.0, -4.0], [50.0, 3.0, -4.0]);
        assert_eq!(same, 0.0);
        // Black against white: HyAB 100 in L, above the knee of 0.4 c_max.
        let grey = |v: f32| xyz_to_ycxcz(rgb_to_xyz([v; 3]));
        let d = remap.colour_difference(grey(0.0), grey(1.0));
        let (cmax, knee) = (remap.cmax, remap.pccmax);
        let expected = GPT + (100f32.powf(GQC) - knee) / (cmax - knee) * (1.0 - GPT);
        assert!((d - expected).abs() < 1e-5, "{d} {expected}");
        // Greys 0.2 and 0.25 (linear): L* = 116 v^(1/3) - 16 apart, below the knee.
        let d = remap.colour_difference(grey(0.2), grey(0.25));
        let lightness = |v: f64| 116.0 * v.cbrt() - 16.0;
        let hyab = (lightness(0.25) - lightness(0.2)) as f32;
        let expected = hyab.powf(GQC) * GPT / knee;
        assert!(d < GPT && (d - expected).abs() < 1e-4, "{d} {expected}");
        // Green against blue (filtered colours of the primaries) is the largest: 1.
        let ycxcz = |rgb| xyz_to_ycxcz(rgb_to_xyz(rgb));
        let d = remap.colour_difference(ycxcz([0.0, 1.0, 0.0]), ycxcz([0.0, 0.0, 1.0]));
        assert!((d - 1.0).abs() < 1e-5, "{d}");
    }

    #[test]
    fn flip_raises_colour_by_features() {
        assert_eq!(flip(0.25, [0.0, 0.0], [0.0, 0.0]), 0.25);
        // Feature difference 1 (edge difference sqrt 2): FLIP is colour^0 = 1.
        assert!((flip(0.25, [2f32.sqrt(), 0.0], [0.0, 0.0]) - 1.0).abs() < 1e-6);
        // Point difference 0.5: feature difference (0.5 / √2)^0.5 = 0.5946.
        let f = (0.5f32 / 2f32.sqrt()).sqrt();
        assert!((flip(0.25, [0.1, 0.1], [0.5, 0.0]) - 0.25f32.powf(1.0 - f)).abs() < 1e-6);
    }

    #[test]
    fn tone_mappers_match_their_curves() {
        let aces = crate::engine::flip::Tonemapper::Aces.coefficients();
        // Narkowicz's ACES at 0.6 x: (2.51 y² + 0.03 y) / (2.43 y² + 0.59 y + 0.14), y = 0.6 x.
        let y = 0.6f32;
        let expected = (2.51 * y * y + 0.03 * y) / (2.43 * y * y + 0.59 * y + 0.14);
        let got = tonemap([1.0, 0.0, 100.0], &aces, false);
        assert!((got[0] - expected).abs() < 1e-6, "{got:?}");
        assert_eq!(got[1], 0.0);
        assert_eq!(got[2], 1.0, "clamped");
        let hable = crate::engine::flip::Tonemapper::Hable.coefficients();
        let got = tonemap([0.5; 3], &hable, false)[0];
        let expected = (0.25 * 0.231683 + 0.5 * 0.013791) / (0.25 * 0.18 + 0.5 * 0.3 + 0.018);
        assert!((got - expected).abs() < 1e-6, "{got}");
        // Reinhard divides by 1 + luminance: grey 1 becomes 0.5.
        let reinhard = crate::engine::flip::Tonemapper::Reinhard.coefficients();
        assert!(close(tonemap([1.0; 3], &reinhard, true), [0.5; 3], 1e-6));
    }
}
