//! SSIM pooled over an image as scikit-image pools it: per colour channel, the mean over the
//! pixels whose whole window lies inside the image, then the mean of the channels; and the
//! smallest per-pixel SSIM (the mean over channels) among the same pixels.

use serde::{Deserialize, Serialize};

use super::{At, UNIT, counted};
use crate::engine::ssim::RADIUS;

/// SSIM's figures over a whole comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct SsimReport {
    /// The mean of the channels' means.
    pub mean: f64,
    /// Each colour channel's mean (one for grey, three for colour).
    pub channels: Vec<f64>,
    /// The smallest per-pixel SSIM (the mean over channels).
    pub min: f64,
    /// The first pixel in row order with the smallest SSIM.
    pub min_at: Option<At>,
}

impl SsimReport {
    /// The figures in their JSON form.
    pub fn figures(&self) -> SsimFigures {
        SsimFigures {
            mean: self.mean,
            channels: self.channels.clone(),
            min: self.min,
            min_at: self.min_at,
        }
    }
}

/// SSIM's figures in their JSON form (`"ssim"` in `--json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SsimFigures {
    /// The mean of the channels' means.
    pub mean: f64,
    /// Each colour channel's mean.
    pub channels: Vec<f64>,
    /// The smallest per-pixel SSIM (the mean over channels).
    pub min: f64,
    /// Its first pixel in row order.
    pub min_at: Option<At>,
}

/// SSIM values gathered band by band.
#[derive(Clone, Debug)]
pub(crate) struct SsimPool {
    width: u32,
    height: u32,
    channels: usize,
    sums: Vec<i128>,
    count: u64,
    min: (f64, Option<At>),
}

impl SsimPool {
    /// A pool for an image of `width` x `height` pixels of `channels` colour channels.
    pub(crate) fn new(width: u32, height: u32, channels: usize) -> SsimPool {
        SsimPool {
            width,
            height,
            channels,
            sums: vec![0; channels],
            count: 0,
            min: (f64::INFINITY, None),
        }
    }

    pub(crate) fn width(&self) -> u32 {
        self.width
    }

    pub(crate) fn channels(&self) -> usize {
        self.channels
    }

    /// Whether pixel (x, y) has its whole window inside the image.
    pub(crate) fn inside(&self, x: u32, y: u32) -> bool {
        let r = RADIUS;
        x >= r && y >= r && x + r < self.width && y + r < self.height
    }

    /// Adds the values (`[pixel][channel]`) of a band's counted rows, which start at row `y`,
    /// but for the pixels `left_out` (sorted indices into the band).
    pub(crate) fn add(&mut self, y: u32, values: &[f32], left_out: &[usize]) {
        let width = self.width as usize;
        let pixels = values.len() / self.channels;
        for i in counted(pixels, left_out) {
            let (px, py) = ((i % width) as u32, y + (i / width) as u32);
            if !self.inside(px, py) {
                continue;
            }
            let pixel = &values[i * self.channels..(i + 1) * self.channels];
            let mut total = 0.0;
            for (sum, &v) in self.sums.iter_mut().zip(pixel) {
                *sum += i128::from((f64::from(v) * UNIT) as i64);
                total += f64::from(v);
            }
            self.count += 1;
            let mean = total / self.channels as f64;
            if mean < self.min.0 {
                self.min = (mean, Some(At { x: px, y: py }));
            }
        }
    }

    pub(crate) fn finish(&self) -> SsimReport {
        let n = self.count.max(1) as f64;
        let channels: Vec<f64> = match self.count {
            0 => vec![1.0; self.channels],
            _ => self.sums.iter().map(|&s| s as f64 / UNIT / n).collect(),
        };
        SsimReport {
            mean: channels.iter().sum::<f64>() / channels.len() as f64,
            channels,
            min: if self.count == 0 { 1.0 } else { self.min.0 },
            min_at: self.min.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pixels_with_a_whole_window_count() {
        // 12 x 11: columns 5 and 6 of row 5 have whole windows.
        let mut pool = SsimPool::new(12, 11, 1);
        let mut values = vec![0.0f32; 12 * 11];
        values[5 * 12 + 5] = 0.5;
        values[5 * 12 + 6] = 0.75;
        pool.add(0, &values[..12 * 4], &[]);
        pool.add(4, &values[12 * 4..], &[]);
        let report = pool.finish();
        assert_eq!(report.channels, [0.625]);
        assert_eq!(report.min, 0.5);
        assert_eq!(report.min_at, Some(At { x: 5, y: 5 }));
    }

    #[test]
    fn channels_pool_apart_and_left_out_pixels_are_skipped() {
        let mut pool = SsimPool::new(11, 12, 3);
        let mut values = vec![0.0f32; 11 * 12 * 3];
        for (k, v) in [0.25f32, 0.5, 1.0].into_iter().enumerate() {
            values[(5 * 11 + 5) * 3 + k] = v;
            values[(6 * 11 + 5) * 3 + k] = 1.0;
        }
        pool.add(0, &values, &[6 * 11 + 5]);
        let report = pool.finish();
        assert_eq!(report.channels, [0.25, 0.5, 1.0]);
        assert!((report.mean - 1.75 / 3.0).abs() < 1e-15);
        assert_eq!(report.min_at, Some(At { x: 5, y: 5 }));
    }
}
