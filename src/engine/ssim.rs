//! The SSIM rule both engines apply (Wang, Bovik, Sheikh and Simoncelli 2004), with
//! scikit-image's settings: a Gaussian window of sigma 1.5 over 11x11 pixels, population
//! (co)variances, C1 = (0.01 L)² and C2 = (0.03 L)².

use crate::pixel::Layout;

/// Rows of context the window reads on each side of a pixel.
pub const RADIUS: u32 = 5;

/// Weights of the window along one axis.
pub const TAPS: usize = 2 * RADIUS as usize + 1;

/// The standard deviation of the Gaussian window, in pixels.
pub const SIGMA: f64 = 1.5;

/// The dynamic range of one SSIM comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct SsimRule {
    /// The largest sample value: 255, 65535, or 1 for floating point.
    pub range: f64,
}

impl SsimRule {
    /// Colour channels compared for images of `layout`: 1 for grey, 3 for colour.
    pub fn channels(&self, layout: Layout) -> usize {
        if layout.channels >= 3 { 3 } else { 1 }
    }

    /// The constant that steadies the ratio of means: (0.01 L)².
    pub fn c1(&self) -> f64 {
        (0.01 * self.range).powi(2)
    }

    /// The constant that steadies the ratio of (co)variances: (0.03 L)².
    pub fn c2(&self) -> f64 {
        (0.03 * self.range).powi(2)
    }
}

/// The window's weights along one axis: `exp(-d² / 2 SIGMA²)` at distance `d` from the centre,
/// divided by their sum. The 2-D window is their outer product.
pub fn weights() -> [f64; TAPS] {
    let radius = RADIUS as i32;
    let gauss: [f64; TAPS] = std::array::from_fn(|i| {
        let d = f64::from(i as i32 - radius);
        (-0.5 * d * d / (SIGMA * SIGMA)).exp()
    });
    let sum: f64 = gauss.iter().sum();
    gauss.map(|g| g / sum)
}

/// The SSIM of a pixel from its window's means of x, y, x², y² and xy.
#[inline(always)]
pub fn ssim(mx: f64, my: f64, mxx: f64, myy: f64, mxy: f64, c1: f64, c2: f64) -> f64 {
    let (vx, vy, vxy) = (mxx - mx * mx, myy - my * my, mxy - mx * my);
    let num = (2.0 * mx * my + c1) * (2.0 * vxy + c2);
    let den = (mx * mx + my * my + c1) * (vx + vy + c2);
    num / den
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_the_normalised_gaussian() {
        let w = weights();
        // By hand: the Gaussian at distances 0..=5 is exp(-d²/4.5); the centre weight is one
        // over 1 + 2 (e^-0.2222 + e^-0.8889 + e^-2 + e^-3.5556 + e^-5.5556).
        let tail = [1.0, 4.0, 9.0, 16.0, 25.0].map(|d2: f64| (-d2 / 4.5).exp());
        let centre = 1.0 / (1.0 + 2.0 * tail.iter().sum::<f64>());
        assert!((w[5] - centre).abs() < 1e-16);
        assert!((w[5] - 0.266_011_7).abs() < 1e-7, "{}", w[5]);
        assert!((w[4] - 0.213_005_6).abs() < 1e-7, "{}", w[4]);
        assert!((w[0] - 0.001_028_4).abs() < 1e-7, "{}", w[0]);
        for d in 0..5 {
            assert_eq!(w[d], w[10 - d]);
            assert!((w[5 - d - 1] / w[5] - tail[d]).abs() < 1e-15);
        }
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn equal_windows_score_one_and_constants_follow_the_range() {
        let rule = SsimRule { range: 255.0 };
        assert!((rule.c1() - 6.5025).abs() < 1e-12);
        assert!((rule.c2() - 58.5225).abs() < 1e-12);
        assert_eq!(
            ssim(10.0, 10.0, 120.0, 120.0, 120.0, rule.c1(), rule.c2()),
            1.0
        );
        // Flat windows of 0 and 255: luminance term (C1) / (255² + C1), contrast term 1.
        let s = ssim(0.0, 255.0, 0.0, 65025.0, 0.0, rule.c1(), rule.c2());
        assert!((s - 6.5025 / (65025.0 + 6.5025)).abs() < 1e-15);
    }
}
