//! FLIP's colour transforms and per-pixel steps, in the reference's order of f32 operations.
//! The CPU kernel calls them pixel by pixel; `shaders/flip.wgsl` repeats them line by line.

/// π as the reference spells it (3.14159265358979f), the same f32.
pub(crate) const PI: f32 = std::f32::consts::PI;

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
pub(crate) const ILLUMINANT: [f32; 3] = [0.950_428_55, 1.0, 1.088_900_4];
pub(crate) const INV_ILLUMINANT: [f32; 3] = [1.052_156_9, 1.0, 0.918_357_7];

/// Linear sRGB to XYZ (D65), as exact fractions rounded to f32.
pub(crate) const RGB_TO_XYZ: [[f32; 3]; 3] = [
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
pub(crate) const XYZ_TO_RGB: [[f32; 3]; 3] = [
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

/// The exponent of CIELab's cube root.
pub(crate) const ONE_THIRD: f32 = 1.0 / 3.0;

/// `2 / ln 2 / (2k + 1)` for k = 0 to 4: log2(m) = s · Σ c_k s^2k with s = (m - 1) / (m + 1).
pub(crate) const LOG2_SERIES: [f32; 5] = [2.88539, 0.9617967, 0.57707804, 0.41219857, 0.3205989];
/// `ln(2)^k / k!` for k = 1 to 7: 2^f = 1 + Σ c_k f^k.
pub(crate) const EXP2_SERIES: [f32; 7] = [
    std::f32::consts::LN_2,
    0.2402265,
    0.05550411,
    0.009618129,
    0.0013333558,
    0.0001540353,
    1.5252734e-05,
];

/// log2 of a positive `x`, to about 1e-7: the exponent, and an odd series for the mantissa
/// taken into [√½, √2). The branches are selects, so that loops of it vectorise, and the GPU
/// engine's shader computes it alike.
#[inline(always)]
pub(crate) fn log2(x: f32) -> f32 {
    let tiny = x < f32::MIN_POSITIVE;
    let x = if tiny { x * 16_777_216.0 } else { x };
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - if tiny { 127 + 24 } else { 127 };
    let mantissa = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = mantissa > std::f32::consts::SQRT_2;
    let m = if big { mantissa * 0.5 } else { mantissa };
    let e = if big { exponent + 1 } else { exponent };
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let c = LOG2_SERIES;
    let series = c[0] + s2 * (c[1] + s2 * (c[2] + s2 * (c[3] + s2 * c[4])));
    e as f32 + s * series
}

const ROUND: f32 = 12_582_912.0;

/// 2^z to about 2 ulp; 0 below 2^-126.
#[inline(always)]
pub(crate) fn exp2(z: f32) -> f32 {
    let z = min(max(z, -127.0), 127.0);
    // Adding 1.5 * 2^23 rounds z to an integer n, held in the low bits of the sum.
    let shifted = z + ROUND;
    let n = shifted - ROUND;
    let f = z - n;
    let c = EXP2_SERIES;
    let p = 1.0
        + f * (c[0] + f * (c[1] + f * (c[2] + f * (c[3] + f * (c[4] + f * (c[5] + f * c[6]))))));
    let n = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    p * f32::from_bits(n.wrapping_add(127) << 23)
}

/// `x^y` for `x >= 0` and `y >= 0`, as exp2(y log2 x): the one power both engines compute
/// alike, for FLIP's cube roots and exponents. 0^0 is 1, 0^y is 0.
#[inline(always)]
pub(crate) fn pow(x: f32, y: f32) -> f32 {
    let p = exp2(y * log2(x));
    let zero = if y == 0.0 { 1.0 } else { 0.0 };
    if x == 0.0 { zero } else { p }
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
    let row = |r: [f32; 3]| r[0] * c[0] + r[1] * c[1] + r[2] * c[2];
    [row(m[0]), row(m[1]), row(m[2])]
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
    let x = xyz[0] * INV_ILLUMINANT[0];
    let y = xyz[1] * INV_ILLUMINANT[1];
    let z = xyz[2] * INV_ILLUMINANT[2];
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

const DELTA: f32 = 6.0 / 29.0;
const DELTA_SQUARE: f32 = DELTA * DELTA;
/// Where CIELab's cube root gives way to a line, the line's slope and its offset.
pub(crate) const DELTA_CUBE: f32 = DELTA * DELTA_SQUARE;
pub(crate) const LAB_FACTOR: f32 = 1.0 / (3.0 * DELTA_SQUARE);
pub(crate) const LAB_TERM: f32 = 4.0 / 29.0;

/// The normalisation of L* for the feature filters: L* / 116 + 16 / 116.
pub(crate) const ONE_OVER_116: f32 = 1.0 / 116.0;
pub(crate) const SIXTEEN_OVER_116: f32 = 16.0 / 116.0;

/// CIELab's cube root of one XYZ component relative to white, a line near black.
#[inline(always)]
pub(crate) fn lab_root(v: f32) -> f32 {
    let root = pow(v, ONE_THIRD);
    let line = LAB_FACTOR * v + LAB_TERM;
    if v > DELTA_CUBE { root } else { line }
}

/// XYZ relative to white: what `lab_root` takes.
#[inline(always)]
pub(crate) fn relative_to_white(xyz: [f32; 3]) -> [f32; 3] {
    [
        xyz[0] * INV_ILLUMINANT[0],
        xyz[1] * INV_ILLUMINANT[1],
        xyz[2] * INV_ILLUMINANT[2],
    ]
}

/// CIELab from the roots of X, Y and Z relative to white.
#[inline(always)]
pub(crate) fn lab_of_roots(x: f32, y: f32, z: f32) -> [f32; 3] {
    [116.0 * y - 16.0, 500.0 * (x - y), 200.0 * (y - z)]
}

/// XYZ to CIELab.
#[inline(always)]
pub(crate) fn xyz_to_lab(xyz: [f32; 3]) -> [f32; 3] {
    let [x, y, z] = relative_to_white(xyz);
    lab_of_roots(lab_root(x), lab_root(y), lab_root(z))
}

/// A filtered YCxCz colour as linear RGB clamped into [0, 1], then as XYZ relative to white:
/// the colour pipeline up to CIELab's roots.
#[inline(always)]
pub(crate) fn filtered_to_white(c: [f32; 3]) -> [f32; 3] {
    let [r, g, b] = xyz_to_rgb(ycxcz_to_xyz(c));
    relative_to_white(rgb_to_xyz([clamp01(r), clamp01(g), clamp01(b)]))
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

/// Lab with Hunt's adjustment.
#[inline(always)]
pub(crate) fn hunted(lab: [f32; 3]) -> [f32; 3] {
    let [l, a, b] = lab;
    [l, hunt(l, a), hunt(l, b)]
}

/// Linear RGB to Lab with Hunt's adjustment.
pub(crate) fn rgb_to_hunt_lab(rgb: [f32; 3]) -> [f32; 3] {
    hunted(xyz_to_lab(rgb_to_xyz(rgb)))
}

/// The largest colour difference after the exponent: green against blue (c_max).
pub(crate) fn max_distance() -> f32 {
    let green = rgb_to_hunt_lab([0.0, 1.0, 0.0]);
    let blue = rgb_to_hunt_lab([0.0, 0.0, 1.0]);
    pow(hyab(green, blue), GQC)
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

    /// The colour difference of two colours' HyAB distance, remapped into [0, 1].
    #[inline(always)]
    pub fn remap(&self, hyab: f32) -> f32 {
        let d = pow(hyab, GQC);
        let below = d * (GPT / self.pccmax);
        let above = GPT + ((d - self.pccmax) / (self.cmax - self.pccmax)) * (1.0 - GPT);
        if d < self.pccmax { below } else { above }
    }

    /// The colour difference of two filtered YCxCz colours, as the CPU kernel computes it
    /// step by step.
    #[cfg(test)]
    pub fn colour_difference(&self, reference: [f32; 3], test: [f32; 3]) -> f32 {
        let lab = |c: [f32; 3]| {
            let [x, y, z] = filtered_to_white(c);
            hunted(lab_of_roots(lab_root(x), lab_root(y), lab_root(z)))
        };
        self.remap(hyab(lab(reference), lab(test)))
    }
}

/// The feature difference of the filtered edge and point responses of both images, and FLIP
/// from it and the colour difference.
#[inline(always)]
pub(crate) fn flip(colour: f32, edge: [f32; 2], point: [f32; 2]) -> f32 {
    let difference = max((edge[0] - edge[1]).abs(), (point[0] - point[1]).abs());
    let feature = pow(normalisation() * difference, GQF);
    pow(colour, 1.0 - feature)
}

/// The feature difference's scale, 1 / √2.
pub(crate) fn normalisation() -> f32 {
    1.0 / 2.0f32.sqrt()
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
        let [r, g, b] = rgb;
        return [
            clamp01(r * factor),
            clamp01(g * factor),
            clamp01(b * factor),
        ];
    }
    let curve =
        |c: f32| clamp01(((c * c) * k[0] + c * k[1] + k[2]) / (c * c * k[3] + c * k[4] + k[5]));
    [curve(rgb[0]), curve(rgb[1]), curve(rgb[2])]
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
    fn the_shared_power_is_close_to_libm() {
        let mut worst = [0.0f64; 3];
        for i in 1..20000 {
            let x = i as f32 / 17000.0;
            let exact = f64::from(x).log2();
            worst[0] = worst[0].max((f64::from(log2(x)) - exact).abs());
            for (slot, y) in [(1, 1.0 / 3.0), (2, 0.7f32)] {
                let exact = f64::from(x).powf(f64::from(y));
                let relative = (f64::from(pow(x, y)) - exact).abs() / exact;
                worst[slot] = worst[slot].max(relative);
            }
        }
        // log2 to a few ulp of values up to 14 in size; powers to a few ulp.
        assert!(
            worst[0] < 1e-6 && worst[1] < 5e-7 && worst[2] < 5e-7,
            "{worst:?}"
        );
        assert_eq!((log2(1.0), log2(0.25), log2(8.0)), (0.0, -2.0, 3.0));
        assert_eq!((exp2(0.0), exp2(-3.0), exp2(5.0)), (1.0, 0.125, 32.0));
        let tiny = 1e-40f32;
        assert!((f64::from(log2(tiny)) - f64::from(tiny).log2()).abs() < 2e-5);
        assert_eq!(exp2(-200.0), 0.0);
        assert_eq!(
            (pow(0.0, 0.5), pow(0.0, 0.0), pow(1.0, 0.3), pow(0.3, 0.0)),
            (0.0, 1.0, 1.0, 1.0)
        );
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
