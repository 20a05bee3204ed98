//! HDR-FLIP's exposures: given, or worked out from the reference image's luminance as the
//! reference tool does, by a scan that streams over the image in bounded memory.

use super::Tonemapper;
use super::colour::luminance;
use crate::pixel::{Layout, Samples};

/// The exposures HDR-FLIP tone-maps at: `count` of them, evenly spaced from `start` to `stop`
/// (in stops, log2 of the factor the radiance is multiplied by).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exposures {
    pub start: f32,
    pub stop: f32,
    pub count: u32,
    pub tonemapper: Tonemapper,
}

impl Exposures {
    /// Exposures given in full: `count` at least 2, or 1 with `start == stop`.
    pub fn given(
        start: f32,
        stop: f32,
        count: u32,
        tonemapper: Tonemapper,
    ) -> Result<Exposures, String> {
        check_range(start, stop)?;
        if count == 0 || (count == 1 && start != stop) {
            return Err(format!(
                "--exposures {count}: at least 2 exposures are needed to span {start} to {stop} \
                 (1 only where start and stop are equal)"
            ));
        }
        Ok(Exposures {
            start,
            stop,
            count,
            tonemapper,
        })
    }

    /// The `i`th exposure, `start + i * step` as the reference computes it.
    pub fn exposure(&self, i: u32) -> f32 {
        if self.count < 2 {
            return self.start;
        }
        let step = (self.stop - self.start) / (self.count - 1) as f32;
        self.start + i as f32 * step
    }

    /// The factor radiance is multiplied by at the `i`th exposure.
    pub fn factor(&self, i: u32) -> f32 {
        2.0f32.powf(self.exposure(i))
    }
}

fn check_range(start: f32, stop: f32) -> Result<(), String> {
    if !start.is_finite() || !stop.is_finite() || start > stop {
        return Err(format!(
            "--exposure {start},{stop}: the start and stop exposures must be finite, start no \
             larger than stop"
        ));
    }
    Ok(())
}

/// The reference's number of exposures for a range: one per stop, at least 2.
fn count_for(start: f32, stop: f32) -> u32 {
    (stop - start).ceil().max(2.0) as u32
}

/// HDR-FLIP's exposures from what was given on the command line (`--exposure START,STOP` as
/// `range`, `--exposures N` as `count`) and, for what was not, from the reference image's
/// luminance `scan` (`None` when both are given), as the reference tool works them out.
pub fn settle(
    range: Option<(f32, f32)>,
    count: Option<u32>,
    scan: Option<&LuminanceScan>,
    tonemapper: Tonemapper,
) -> Result<Exposures, String> {
    let (start, stop) = match (range, scan) {
        (Some(range), _) => range,
        (None, Some(scan)) => scan.range(tonemapper)?,
        (None, None) => {
            return Err("the exposures need --exposure START,STOP or the reference image".into());
        }
    };
    check_range(start, stop)?;
    let count = count.unwrap_or_else(|| count_for(start, stop));
    Exposures::given(start, stop, count, tonemapper)
}

/// Buckets of the first pass: the top 16 bits of a luminance's ordered key.
const BUCKETS: usize = 1 << 16;

/// A bucket's low 16 bits seen so far: `SEEN` once one value fell in it, `MIXED` once two
/// different ones did.
const SEEN: u32 = 1 << 16;
const MIXED: u32 = 1 << 17;

/// The largest luminance and the upper median (element `n / 2` in ascending order, as the
/// reference's `nth_element` finds it) of the reference image, fed band by band with
/// `add`. Memory is bounded (two tables of 65536 entries): the first pass counts the
/// luminances by their top 16 bits; where the median's bucket held different values, a
/// second pass over the same pixels (`needs_second_pass`, then `second_pass` and `add` again)
/// counts that bucket's values by their low 16 bits. NaN luminances are left out.
#[derive(Clone, Debug)]
pub struct LuminanceScan {
    counts: Vec<u64>,
    /// Per bucket: its only low 16 bits so far, with `SEEN` and `MIXED`.
    low: Vec<u32>,
    pixels: u64,
    max: f32,
    /// In the second pass: the median's bucket, and how many smaller values precede it.
    second: Option<(u32, u64)>,
}

impl Default for LuminanceScan {
    fn default() -> LuminanceScan {
        LuminanceScan::new()
    }
}

/// The ordered key of an f32: its bits, made to sort as the values do.
fn key(v: f32) -> u32 {
    let bits = v.to_bits();
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | 1 << 31
    }
}

fn value(key: u32) -> f32 {
    f32::from_bits(if key >> 31 == 1 {
        key & !(1 << 31)
    } else {
        !key
    })
}

impl LuminanceScan {
    pub fn new() -> LuminanceScan {
        LuminanceScan {
            counts: vec![0; BUCKETS],
            low: vec![0; BUCKETS],
            pixels: 0,
            max: f32::NEG_INFINITY,
            second: None,
        }
    }

    /// Adds whole rows of the reference image, in `layout`, to the pass under way: each pixel
    /// of the image once per pass (counted rows, not halo rows), in any order. Integer samples
    /// count as linear values in [0, 1] (v / 255, v / 65535).
    pub fn add(&mut self, samples: &Samples, layout: Layout) {
        let channels = usize::from(layout.channels);
        match samples {
            Samples::U8(s) => self.add_pixels(s, channels, |v| f32::from(v) / 255.0),
            Samples::U16(s) => self.add_pixels(s, channels, |v| f32::from(v) / 65535.0),
            Samples::F32(s) => self.add_pixels(s, channels, |v| v),
        }
    }

    fn add_pixels<T: Copy>(&mut self, samples: &[T], channels: usize, f: impl Fn(T) -> f32) {
        for pixel in samples.chunks_exact(channels) {
            let rgb = if channels >= 3 {
                [f(pixel[0]), f(pixel[1]), f(pixel[2])]
            } else {
                [f(pixel[0]); 3]
            };
            let y = luminance(rgb);
            if y.is_nan() {
                continue;
            }
            let k = key(y);
            let bucket = (k >> 16) as usize;
            match self.second {
                None => {
                    self.pixels += 1;
                    self.max = if y < self.max { self.max } else { y };
                    self.counts[bucket] += 1;
                    let low = self.low[bucket];
                    self.low[bucket] = if low & SEEN == 0 {
                        SEEN | (k & 0xffff)
                    } else if low & 0xffff != k & 0xffff {
                        low | MIXED
                    } else {
                        low
                    };
                }
                Some((median_bucket, _)) if bucket == median_bucket as usize => {
                    self.counts[(k & 0xffff) as usize] += 1;
                }
                Some(_) => {}
            }
        }
    }

    /// The median's bucket and how many values lie in the buckets below it.
    fn median_bucket(&self) -> Option<(u32, u64)> {
        if self.pixels == 0 {
            return None;
        }
        let target = self.pixels / 2;
        let mut below = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            if below + count > target {
                return Some((bucket as u32, below));
            }
            below += count;
        }
        None
    }

    /// After the first pass: whether the median needs a second pass over the same pixels.
    pub fn needs_second_pass(&self) -> bool {
        self.second.is_none()
            && self
                .median_bucket()
                .is_some_and(|(bucket, _)| self.low[bucket as usize] & MIXED != 0)
    }

    /// Starts the second pass: `add` the same pixels again, then ask for the exposures.
    pub fn second_pass(&mut self) {
        if let Some(median) = self.median_bucket() {
            self.second = Some(median);
            self.counts.iter_mut().for_each(|c| *c = 0);
        }
    }

    /// The largest luminance and the upper median, once the passes needed are done; `None`
    /// for an image without pixels.
    pub fn luminances(&self) -> Option<(f32, f32)> {
        let median = match self.second {
            Some((bucket, below)) => {
                let target = self.pixels / 2 - below;
                let mut seen = 0;
                let low = self.counts.iter().position(|&count| {
                    seen += count;
                    seen > target
                })?;
                value(bucket << 16 | low as u32)
            }
            None => {
                let (bucket, _) = self.median_bucket()?;
                let low = self.low[bucket as usize];
                if low & MIXED != 0 {
                    return None;
                }
                value((bucket << 16) | (low & 0xffff))
            }
        };
        Some((self.max, median))
    }

    /// The reference tool's exposure range for `tonemapper`: from the exposure that brings the
    /// largest luminance to where the curve reaches 0.85, to the one that brings the median
    /// there.
    pub fn range(&self, tonemapper: Tonemapper) -> Result<(f32, f32), String> {
        let Some((max, median)) = self.luminances() else {
            return Err(
                "the exposures cannot be worked out from an empty reference image; \
                 give them with --exposure START,STOP"
                    .into(),
            );
        };
        let x = where_curve_reaches(tonemapper, 0.85);
        let start = (f64::from(x / max)).log2() as f32;
        let stop = (f64::from(x / median)).log2() as f32;
        if !start.is_finite() || !stop.is_finite() {
            return Err(format!(
                "cannot work out HDR-FLIP's exposures from the reference image (largest \
                 luminance {max}, median {median}: mostly black?); give them with --exposure \
                 START,STOP"
            ));
        }
        Ok((start, stop))
    }

    /// The reference tool's exposures: its range, and one exposure per stop (at least 2).
    pub fn exposures(&self, tonemapper: Tonemapper) -> Result<Exposures, String> {
        settle(None, None, Some(self), tonemapper)
    }
}

/// The radiance the tone-mapping curve maps to `t`: the larger root of the quadratic
/// `(k0 - t k3) x² + (k1 - t k4) x + (k2 - t k5)`.
fn where_curve_reaches(tonemapper: Tonemapper, t: f32) -> f32 {
    let k = tonemapper.coefficients();
    let (a, b, c) = (k[0] - t * k[3], k[1] - t * k[4], k[2] - t * k[5]);
    if a == 0.0 {
        return -c / b;
    }
    let d1 = -0.5 * (b / a);
    let d2 = (d1 * d1 - c / a).sqrt();
    d1 + d2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixel::Depth;

    fn scan(values: &[f32]) -> LuminanceScan {
        let mut scan = LuminanceScan::new();
        let samples = Samples::F32(values.to_vec());
        let layout = Layout::new(1, Depth::Float);
        scan.add(&samples, layout);
        if scan.needs_second_pass() {
            scan.second_pass();
            scan.add(&samples, layout);
        }
        scan
    }

    #[test]
    fn keys_sort_as_values() {
        let values = [-3.5f32, -1e-30, -0.0, 0.0, 1e-40, 0.25, 1.0, 7e20];
        for w in values.windows(2) {
            assert!(key(w[0]) <= key(w[1]), "{w:?}");
        }
        for v in values {
            assert_eq!(value(key(v)).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn the_median_is_the_upper_one_and_exact() {
        // Close values share a bucket: a second pass tells them apart.
        let values: Vec<f32> = (0..1001)
            .map(|i| 1.0 + (i * 7919 % 1001) as f32 * 1e-6)
            .collect();
        let mut sorted = values.clone();
        sorted.sort_by(f32::total_cmp);
        let s = scan(&values);
        assert_eq!(s.luminances(), Some((sorted[1000], sorted[500])));
        let even = &values[..10];
        let mut sorted = even.to_vec();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(scan(even).luminances(), Some((sorted[9], sorted[5])));
    }

    #[test]
    fn uniform_buckets_need_no_second_pass() {
        let mut s = LuminanceScan::new();
        let values = Samples::F32(vec![0.0, 0.0, 0.0, 2.0, 0.5]);
        s.add(&values, Layout::new(1, Depth::Float));
        assert!(!s.needs_second_pass());
        assert_eq!(s.luminances(), Some((2.0, 0.0)));
    }

    #[test]
    fn exposures_follow_the_curve() {
        // Reinhard: x / (1 + x) = 0.85 at x = 0.85 / 0.15.
        assert!((where_curve_reaches(Tonemapper::Reinhard, 0.85) - 0.85 / 0.15).abs() < 1e-5);
        let aces = where_curve_reaches(Tonemapper::Aces, 0.85);
        let k = Tonemapper::Aces.coefficients();
        let mapped = (aces * aces * k[0] + aces * k[1]) / (aces * aces * k[3] + aces * k[4] + k[5]);
        assert!((mapped - 0.85).abs() < 1e-5, "{mapped}");

        // Luminances 1 and 4 (grey): median 4 (upper), max 4; then 1/4 and 4.
        let e = scan(&[1.0, 4.0]).exposures(Tonemapper::Reinhard).unwrap();
        let log2 = |v: f32| v.log2();
        assert!((e.start - log2(0.85 / 0.15 / 4.0)).abs() < 1e-5);
        assert_eq!((e.start, e.count), (e.stop, 2));
        let e = scan(&[0.25, 0.25, 4.0])
            .exposures(Tonemapper::Reinhard)
            .unwrap();
        assert!((e.stop - e.start - 4.0).abs() < 1e-5, "{e:?}");
        assert_eq!(e.count, 4);
    }

    #[test]
    fn a_black_reference_asks_for_the_range() {
        let err = scan(&[0.0, 0.0, 1.0])
            .exposures(Tonemapper::Aces)
            .unwrap_err();
        assert!(
            err.contains("--exposure START,STOP") && !err.contains('\n'),
            "{err}"
        );
        let err = LuminanceScan::new()
            .exposures(Tonemapper::Aces)
            .unwrap_err();
        assert!(err.contains("--exposure"), "{err}");
    }

    #[test]
    fn given_exposures_are_checked() {
        let aces = Tonemapper::Aces;
        assert!(Exposures::given(-1.0, 2.0, 4, aces).is_ok());
        assert!(Exposures::given(1.0, 1.0, 1, aces).is_ok());
        let err = Exposures::given(-1.0, 2.0, 1, aces).unwrap_err();
        assert!(err.starts_with("--exposures"), "{err}");
        assert!(
            Exposures::given(2.0, 1.0, 3, aces)
                .unwrap_err()
                .starts_with("--exposure ")
        );
        assert!(Exposures::given(0.0, f32::INFINITY, 3, aces).is_err());
        let e = Exposures::given(-1.0, 2.0, 4, aces).unwrap();
        assert_eq!(
            (0..4).map(|i| e.exposure(i)).collect::<Vec<_>>(),
            [-1.0, 0.0, 1.0, 2.0]
        );
        assert_eq!(e.factor(0), 0.5);
    }

    #[test]
    fn settle_fills_in_what_was_not_given() {
        let aces = Tonemapper::Aces;
        let e = settle(Some((-2.0, 1.5)), None, None, aces).unwrap();
        assert_eq!(e.count, 4, "ceil(3.5)");
        let e = settle(Some((1.0, 1.0)), None, None, aces).unwrap();
        assert_eq!(e.count, 2);
        let s = scan(&[0.25, 0.25, 4.0]);
        let e = settle(None, Some(9), Some(&s), aces).unwrap();
        assert_eq!((e.count, Ok((e.start, e.stop))), (9, s.range(aces)));
        assert!(
            settle(None, Some(3), None, aces)
                .unwrap_err()
                .contains("--exposure")
        );
    }
}
