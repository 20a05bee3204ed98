//! The perceptual rule both engines apply, in fixed point so that they agree exactly: which
//! pixels a person would see as changed (the YIQ colour delta of Kotsarenko and Ramos, 2010),
//! and which changed pixels are anti-aliasing (the 3x3 test of Vyšniauskas, 2009). Engines
//! fill per-pixel planes; every figure (counts, boxes, regions) is derived from the planes here
//! and in the pipeline, the same way whichever engine filled them.
//!
//! Fixed point, per pixel and channel (r, g, b; grey is r = g = b; no alpha is opaque):
//! - blended over white: `B = M² - (M - c)·α` for 8-bit samples (M = 255), and the same
//!   shifted right by 16 bits for 16-bit samples (M = 65535), so B is in 0..=U with U = 65025 or
//!   65535²/2^16;
//! - for the two images' `D = B₁ - B₂`: `Y = (Σ Kʸ·D) >> 8`, `I` and `Q` alike, with the YIQ
//!   coefficients times 2^14 (`K` below), then `Δ = Wʸ·Y² + Wⁱ·I² + Wᑫ·Q²` with the weights times
//!   2^12 (`W`): exact integers, below 2^57;
//! - a pixel is changed when `Δ > 2^24·U²·35215·t²/255²`, which is the peers' `delta > 35215·t²`
//!   scaled (the limit is computed once, as an integer both engines compare with);
//! - the brightness of one pixel, for the anti-aliasing test, is `Σ Kʸ·B`, compared exactly.

use crate::pixel::Depth;

/// YIQ coefficients times 2^14, rows y, i, q; columns r, g, b.
pub const K: [[i32; 3]; 3] = [
    [4897, 9611, 1876],
    [9765, -4492, -5272],
    [3465, -8563, 5098],
];
/// Weights of y², i², q² times 2^12.
pub const W: [u64; 3] = [2070, 1225, 802];
/// Bits `Σ K·D` is shifted right by before squaring.
pub const SHIFT: u32 = 8;

/// A pixel not changed: equal, or under the threshold.
pub const SAME: u8 = 0;
/// A changed pixel.
pub const CHANGED: u8 = 1;
/// A changed pixel found to be anti-aliasing (with `Rule::aa`): counted apart.
pub const ANTI_ALIASED: u8 = 2;

/// Heat levels above 0: `heat` is 0 for pixels whose samples are equal, and 1 + the number of
/// `Rule::heat_limits` their delta exceeds otherwise.
pub const HEAT_STEPS: usize = 254;

/// The rule for one comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// A pixel is changed when its fixed-point delta exceeds this.
    pub limit: u64,
    /// Changed pixels that the anti-aliasing test finds are counted apart.
    pub aa: bool,
    /// Alpha is ignored: both images are taken as opaque.
    pub opaque: bool,
    /// The deltas of thresholds k/254 for k = 1..=254, for the heat plane; empty when no heat
    /// plane is wanted.
    pub heat_limits: Vec<u64>,
}

impl Rule {
    /// The rule for `threshold` (0 to 1) on samples of `depth`.
    pub fn new(threshold: f64, depth: Depth, aa: bool, opaque: bool, heat: bool) -> Rule {
        let heat_limits = if heat {
            (1..=HEAT_STEPS)
                .map(|k| limit(k as f64 / HEAT_STEPS as f64, depth))
                .collect()
        } else {
            Vec::new()
        };
        Rule {
            limit: limit(threshold, depth),
            aa,
            opaque,
            heat_limits,
        }
    }

    /// The heat of a pixel with fixed-point delta `delta` whose samples differ.
    pub fn heat(&self, delta: u64) -> u8 {
        1 + self.heat_limits.partition_point(|&l| l < delta) as u8
    }
}

/// The fixed-point delta limit of threshold `t`.
fn limit(t: f64, depth: Depth) -> u64 {
    let unit = match depth {
        Depth::Eight => 65025.0,
        Depth::Sixteen => 65535.0 * 65535.0 / 65536.0,
        Depth::Float => unreachable!("the perceptual count refuses floating-point images"),
    };
    let scaled = (1u64 << 24) as f64 * unit * unit * 35215.0 * t * t / 65025.0;
    scaled.floor() as u64
}

/// A channel blended over white, in fixed point (see the module doc).
#[inline(always)]
pub fn blend(c: u32, alpha: u32, depth: Depth) -> u32 {
    match depth {
        Depth::Eight => 65025 - (255 - c) * alpha,
        Depth::Sixteen => (65535 * 65535 - (65535 - c) * alpha) >> 16,
        Depth::Float => unreachable!("the perceptual count refuses floating-point images"),
    }
}

/// The fixed-point delta of two blended pixels.
#[inline(always)]
pub fn delta(p: [u32; 3], q: [u32; 3]) -> u64 {
    let d = [0, 1, 2].map(|c| p[c] as i32 - q[c] as i32);
    let mut sum = 0;
    for (k, w) in K.iter().zip(W) {
        let v = (k[0] * d[0] + k[1] * d[1] + k[2] * d[2]) >> SHIFT;
        sum += w * u64::from(v.unsigned_abs()).pow(2);
    }
    sum
}

/// The brightness of a blended pixel.
#[inline(always)]
pub fn brightness(p: [u32; 3]) -> u32 {
    K[0][0] as u32 * p[0] + K[0][1] as u32 * p[1] + K[0][2] as u32 * p[2]
}

/// Per-pixel results for the counted rows of a band, filled by an engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Planes {
    /// `SAME`, `CHANGED` or `ANTI_ALIASED` per pixel.
    pub class: Vec<u8>,
    /// Heat per pixel, when the rule has heat limits; empty otherwise.
    pub heat: Vec<u8>,
}

impl Planes {
    /// Sizes the planes for `pixels` pixels under `rule`.
    pub fn reset(&mut self, pixels: usize, rule: &Rule) {
        self.class.clear();
        self.class.resize(pixels, SAME);
        self.heat.clear();
        if !rule.heat_limits.is_empty() {
            self.heat.resize(pixels, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peers' delta in f64, on 8-bit opaque colours.
    fn reference(p: [f64; 3], q: [f64; 3]) -> f64 {
        let d = [p[0] - q[0], p[1] - q[1], p[2] - q[2]];
        let row = |k: [f64; 3]| k[0] * d[0] + k[1] * d[1] + k[2] * d[2];
        let y = row([0.29889531, 0.58662247, 0.11448223]);
        let i = row([0.59597799, -0.27417610, -0.32180189]);
        let q = row([0.21147017, -0.52261711, 0.31114694]);
        0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q
    }

    fn opaque(rgb: [u32; 3]) -> [u32; 3] {
        rgb.map(|c| blend(c, 255, Depth::Eight))
    }

    /// For colour pairs worked out by hand, the fixed-point decision equals the peers' f64
    /// decision at thresholds just below and just above the pair's own threshold.
    #[test]
    fn decisions_match_hand_computed_deltas() {
        let pairs = [
            ([0, 0, 0], [255, 255, 255]),
            ([255, 0, 0], [0, 0, 0]),
            ([0, 255, 0], [0, 0, 0]),
            ([0, 0, 255], [0, 0, 0]),
            ([10, 20, 30], [13, 18, 36]),
            ([200, 100, 50], [190, 110, 60]),
            ([128, 128, 128], [129, 128, 128]),
        ];
        for (p, q) in pairs {
            let exact = reference(p.map(f64::from), q.map(f64::from));
            let own = (exact / 35215.0).sqrt();
            let d = delta(opaque(p), opaque(q));
            for t in [own * 0.999, own * 1.001] {
                let rule = Rule::new(t, Depth::Eight, false, false, false);
                assert_eq!(
                    d > rule.limit,
                    exact > 35215.0 * t * t,
                    "{p:?} {q:?} at {t}"
                );
            }
        }
    }

    /// Semi-transparent pixels are blended over white: transparent black is white.
    #[test]
    fn transparent_pixels_are_white() {
        assert_eq!(blend(0, 0, Depth::Eight), blend(255, 255, Depth::Eight));
        assert_eq!(
            blend(0, 0, Depth::Sixteen),
            blend(65535, 65535, Depth::Sixteen)
        );
        // Half-transparent black is mid grey, within the rounding of 255 levels.
        assert_eq!(blend(0, 255, Depth::Eight), 0);
        assert_eq!(blend(0, 128, Depth::Eight), 65025 - 255 * 128);
    }

    /// 16-bit samples use their full precision: one step in 16 bits changes the delta, and a
    /// 16-bit image that holds 8-bit values times 257 decides as the 8-bit one.
    #[test]
    fn sixteen_bit_precision() {
        let p = [30000, 30000, 30000].map(|c| blend(c, 65535, Depth::Sixteen));
        let q = [30001, 30000, 30000].map(|c| blend(c, 65535, Depth::Sixteen));
        assert!(delta(p, q) > 0);
        for (a, b) in [([10u32, 20, 30], [13u32, 18, 36]), ([0, 0, 0], [255, 0, 0])] {
            let wide = |c: [u32; 3]| c.map(|v| blend(v * 257, 65535, Depth::Sixteen));
            let d16 = delta(wide(a), wide(b));
            let d8 = delta(opaque(a), opaque(b));
            for t in [0.05, 0.1, 0.3] {
                let r8 = Rule::new(t, Depth::Eight, false, false, false);
                let r16 = Rule::new(t, Depth::Sixteen, false, false, false);
                assert_eq!(d8 > r8.limit, d16 > r16.limit, "{a:?} {b:?} at {t}");
            }
        }
    }

    #[test]
    fn heat_grows_with_the_delta() {
        let rule = Rule::new(0.1, Depth::Eight, false, false, true);
        let black = opaque([0, 0, 0]);
        let small = rule.heat(delta(black, opaque([5, 5, 5])));
        let large = rule.heat(delta(black, opaque([255, 255, 255])));
        assert!(1 <= small && small < large, "{small} {large}");
        // sqrt(0.5053 * 255² / 35215) of the scale: black against white is not the largest delta.
        assert_eq!(
            large,
            1 + (254.0 * (0.5053f64 * 65025.0 / 35215.0).sqrt()) as u8
        );
    }
}
