//! FLIP's separable filter weights for one observer, computed as the reference computes them.
//! Both engines use these f32 values: the GPU engine uploads them.

use super::colour::{GW, PI};

/// The contrast sensitivity functions: per channel (Y, Cx, Cz) `a1, b1` and, for Cz's second
/// Gaussian, `a2, b2`.
const A1: [f32; 3] = [1.0, 1.0, 34.1];
const B1: [f32; 3] = [0.0047, 0.0053, 0.04];
const A2: [f32; 3] = [0.0, 0.0, 13.5];
const B2: [f32; 3] = [1.0e-5, 1.0e-5, 0.025];

/// The radii of the colour filters and of the feature filters at `ppd`.
pub(crate) fn radii(ppd: f32) -> (usize, usize) {
    let pi_sq = PI * PI;
    let largest = B1.into_iter().chain(B2).fold(f32::MIN, f32::max);
    let spatial = (3.0 * (largest / (2.0 * pi_sq)).sqrt() * ppd).ceil() as usize;
    (spatial, (3.0 * feature_sigma(ppd)).ceil() as usize)
}

fn feature_sigma(ppd: f32) -> f32 {
    0.5 * GW * ppd
}

/// The CSF Gaussian `a √(π/b) exp(-π² x² / b)`.
fn gaussian(x2: f32, a: f32, b: f32) -> f32 {
    a * (PI / b).sqrt() * (-(PI * PI) * x2 / b).exp()
}

/// The separable factor of a Gaussian whose 2-D filter is a sum of two.
fn gaussian_sqrt(x2: f32, a: f32, b: f32) -> f32 {
    (a * (PI / b).sqrt()).sqrt() * (-(PI * PI) * x2 / b).exp()
}

/// Taps from `-radius` to `radius`, normalised as the reference does.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Filters {
    pub spatial_radius: usize,
    /// The colour filters: Y, Cx, and the two separable factors of Cz.
    pub spatial: [Vec<f32>; 4],
    pub feature_radius: usize,
    /// The feature filters: the Gaussian, its first and its second derivative.
    pub feature: [Vec<f32>; 3],
}

impl Filters {
    pub fn new(ppd: f32) -> Filters {
        let (spatial_radius, feature_radius) = radii(ppd);
        Filters {
            spatial_radius,
            spatial: spatial(ppd, spatial_radius),
            feature_radius,
            feature: feature(ppd, feature_radius),
        }
    }
}

fn spatial(ppd: f32, radius: usize) -> [Vec<f32>; 4] {
    let delta = 1.0 / ppd;
    let mut taps: [Vec<f32>; 4] = Default::default();
    let mut sums = [0.0f32; 4];
    for i in 0..2 * radius + 1 {
        let x = (i as i32 - radius as i32) as f32 * delta;
        let x2 = x * x;
        let values = [
            gaussian(x2, A1[0], B1[0]),
            gaussian(x2, A1[1], B1[1]),
            gaussian_sqrt(x2, A1[2], B1[2]),
            gaussian_sqrt(x2, A2[2], B2[2]),
        ];
        for ((tap, sum), value) in taps.iter_mut().zip(&mut sums).zip(values) {
            tap.push(value);
            *sum += value;
        }
    }
    let cz = 1.0 / (sums[2] * sums[2] + sums[3] * sums[3]).sqrt();
    let norms = [1.0 / sums[0], 1.0 / sums[1], cz, cz];
    for (tap, norm) in taps.iter_mut().zip(norms) {
        tap.iter_mut().for_each(|w| *w *= norm);
    }
    taps
}

fn feature(ppd: f32, radius: usize) -> [Vec<f32>; 3] {
    let sigma = feature_sigma(ppd);
    let mut taps: [Vec<f32>; 3] = Default::default();
    let (mut g_sum, mut dg_positive, mut dg_negative) = (0.0f32, 0.0f32, 0.0f32);
    let (mut ddg_positive, mut ddg_negative) = (0.0f32, 0.0f32);
    for i in 0..2 * radius + 1 {
        let x = (i as i32 - radius as i32) as f32;
        let g = (-(x * x) / (2.0 * sigma * sigma)).exp();
        g_sum += g;
        let dg = -x * g;
        if dg > 0.0 {
            dg_positive += dg;
        } else {
            dg_negative -= dg;
        }
        let ddg = (x * x / (sigma * sigma) - 1.0) * g;
        if ddg > 0.0 {
            ddg_positive += ddg;
        } else {
            ddg_negative -= ddg;
        }
        taps[0].push(g);
        taps[1].push(dg);
        taps[2].push(ddg);
    }
    taps[0].iter_mut().for_each(|g| *g /= g_sum);
    let by_sign = |v: &mut f32, positive: f32, negative: f32| {
        *v /= if *v > 0.0 { positive } else { negative };
    };
    taps[1]
        .iter_mut()
        .for_each(|v| by_sign(v, dg_positive, dg_negative));
    taps[2]
        .iter_mut()
        .for_each(|v| by_sign(v, ddg_positive, ddg_negative));
    taps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::flip::DEFAULT_PPD;

    fn sum(taps: &[f32]) -> f32 {
        taps.iter().sum()
    }

    #[test]
    fn filters_are_symmetric_and_normalised() {
        let f = Filters::new(DEFAULT_PPD);
        assert_eq!((f.spatial_radius, f.feature_radius), (10, 9));
        for taps in &f.spatial {
            assert_eq!(taps.len(), 21);
            for i in 0..taps.len() {
                assert_eq!(taps[i], taps[taps.len() - 1 - i]);
            }
            // Peaked at the centre, falling off outwards.
            assert!(taps.windows(2).take(10).all(|w| w[0] <= w[1]));
        }
        assert!((sum(&f.spatial[0]) - 1.0).abs() < 1e-6);
        assert!((sum(&f.spatial[1]) - 1.0).abs() < 1e-6);
        // Cz's two factors are normalised together: their sums form a unit vector.
        let cz = sum(&f.spatial[2]).hypot(sum(&f.spatial[3]));
        assert!((cz - 1.0).abs() < 1e-6, "{cz}");
        // The Y filter's spread: sigma = sqrt(b / 2) / pi degrees = 0.01543 deg = 1.034 px.
        let sigma = (B1[0] / 2.0).sqrt() / PI * DEFAULT_PPD;
        let expected = (-1.0 / (2.0 * sigma * sigma)).exp();
        assert!((f.spatial[0][11] / f.spatial[0][10] - expected).abs() < 1e-4);

        let [g, dg, ddg] = &f.feature;
        assert_eq!(g.len(), 19);
        assert!((sum(g) - 1.0).abs() < 1e-6);
        // Odd first derivative: positive taps sum to 1, negative to -1; zero in the middle.
        assert_eq!(dg[9], 0.0);
        let positive: f32 = dg.iter().filter(|v| **v > 0.0).sum();
        assert!((positive - 1.0).abs() < 1e-6);
        assert!(
            dg[..9].iter().all(|v| *v > 0.0),
            "-x g is positive left of centre"
        );
        for i in 0..19 {
            // Each sign is normalised by its own sum, added up in a different order.
            assert!((dg[i] + dg[18 - i]).abs() < 1e-7);
            assert_eq!(ddg[i], ddg[18 - i]);
        }
        // Second derivative: negative in the middle (|x| < sigma = 2.75), positive outside.
        let positive: f32 = ddg.iter().filter(|v| **v > 0.0).sum();
        let negative: f32 = ddg.iter().filter(|v| **v < 0.0).sum();
        assert!((positive - 1.0).abs() < 1e-6 && (negative + 1.0).abs() < 1e-6);
        assert!(ddg[7..12].iter().all(|v| *v < 0.0) && ddg[..6].iter().all(|v| *v > 0.0));
    }
}
