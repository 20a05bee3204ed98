//! FLIP pooled over an image: the exact mean (a fixed-point sum), the extremes and where they
//! are first met, percentiles from a histogram of 2^16 bins over [0, 1] that keeps each bin's
//! smallest value, and the 100-bin histogram people plot.

use serde::{Deserialize, Serialize};

use super::{At, UNIT, counted};
use crate::engine::flip::{DEFAULT_PPD, Exposures, Tonemapper};

/// Bins of the fine histogram over [0, 1); 1.0 has a bin of its own after them.
const FINE: usize = 1 << 16;

/// The percentiles every report gives.
pub const PERCENTILES: [f64; 5] = [25.0, 50.0, 75.0, 95.0, 99.0];

/// How FLIP is asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct FlipOptions {
    /// Pixels per degree of visual angle. Default: [`DEFAULT_PPD`], a 0.7 m wide 3840-pixel
    /// display seen from 0.7 m.
    pub ppd: f64,
    /// Floating-point images: the first and last exposure (stops); computed from image 1
    /// when `None`.
    pub exposure: Option<(f32, f32)>,
    /// Floating-point images: how many exposures; computed from the range when `None`.
    pub exposures: Option<u32>,
    /// Floating-point images: the tone mapper. Default: ACES.
    pub tonemapper: Tonemapper,
    /// Keep the per-pixel map in the report ([`FlipReport::map`]): `width * height` values,
    /// row by row. Default: `false`.
    pub keep_map: bool,
    /// Percentiles reported besides [`PERCENTILES`] (more than 0, less than 100), such as
    /// those a gate needs. Default: none.
    pub percentiles: Vec<f64>,
}

impl Default for FlipOptions {
    fn default() -> FlipOptions {
        FlipOptions {
            ppd: f64::from(DEFAULT_PPD),
            exposure: None,
            exposures: None,
            tonemapper: Tonemapper::Aces,
            keep_map: false,
            percentiles: Vec::new(),
        }
    }
}

impl FlipOptions {
    /// Pixels per degree for a display `width_px` pixels and `width_m` metres wide seen from
    /// `distance_m` metres, as FLIP's reference tool computes it.
    pub fn ppd_from_viewing(distance_m: f64, width_px: f64, width_m: f64) -> f64 {
        f64::from(crate::engine::flip::ppd_from_viewing(
            distance_m as f32,
            width_px as f32,
            width_m as f32,
        ))
    }

    /// Checks a pixels-per-degree value: finite and more than 0.
    pub fn check_ppd(ppd: f64) -> Result<f64, String> {
        if ppd.is_finite() && ppd > 0.0 && ppd <= 1e4 {
            Ok(ppd)
        } else {
            Err("must be a number more than 0 and at most 10000".into())
        }
    }
}

/// FLIP's figures over a whole comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct FlipReport {
    /// The mean over the pixels compared.
    pub mean: f64,
    /// The smallest value.
    pub min: f32,
    /// The first pixel in row order with the smallest value.
    pub min_at: Option<At>,
    /// The largest value.
    pub max: f32,
    /// The first pixel in row order with the largest value.
    pub max_at: Option<At>,
    /// `(p, value)` for each percentile asked for: the smallest value with at least `p`% of the
    /// pixels at or below it, to within 2^-16.
    pub percentiles: Vec<(f64, f64)>,
    /// Pixel counts of 100 bins over [0, 1]: bin `i` holds [i/100, (i+1)/100), the last one
    /// also 1.0.
    pub histogram: Vec<u64>,
    /// Pixels per degree used.
    pub ppd: f64,
    /// For floating-point images, the exposures used.
    pub exposures: Option<Exposures>,
    /// With [`FlipOptions::keep_map`], the value of every pixel, row by row.
    pub map: Option<Vec<f32>>,
}

impl FlipReport {
    /// The figures in their JSON form.
    pub fn figures(&self) -> FlipFigures {
        FlipFigures {
            mean: self.mean,
            min: f64::from(self.min),
            min_at: self.min_at,
            max: f64::from(self.max),
            max_at: self.max_at,
            percentiles: self
                .percentiles
                .iter()
                .map(|&(p, v)| (format!("{p}"), v))
                .collect(),
            histogram: self.histogram.clone(),
            ppd: self.ppd,
            dynamic_range: match self.exposures {
                Some(_) => "hdr",
                None => "ldr",
            }
            .into(),
            exposures: self.exposures.map(|e| ExposureFigures {
                start: f64::from(e.start),
                stop: f64::from(e.stop),
                count: e.count,
            }),
            tonemapper: self.exposures.map(|e| e.tonemapper.name().into()),
        }
    }

    /// The value of percentile `p`, if reported.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        self.percentiles.iter().find(|q| q.0 == p).map(|q| q.1)
    }
}

/// FLIP's figures in their JSON form (`"flip"` in `--json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlipFigures {
    /// The mean over the pixels compared.
    pub mean: f64,
    /// The smallest value.
    pub min: f64,
    /// Its first pixel in row order.
    pub min_at: Option<At>,
    /// The largest value.
    pub max: f64,
    /// Its first pixel in row order.
    pub max_at: Option<At>,
    /// Percentile (`"25"`, `"99.9"`) to value: the smallest value with at least that share of
    /// the pixels at or below it, to within 2^-16.
    pub percentiles: std::collections::BTreeMap<String, f64>,
    /// Pixel counts of 100 bins over [0, 1]; the last one also holds 1.0.
    pub histogram: Vec<u64>,
    /// Pixels per degree.
    pub ppd: f64,
    /// `ldr` for integer images, `hdr` for floating point.
    pub dynamic_range: String,
    /// HDR only: the exposures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposures: Option<ExposureFigures>,
    /// HDR only: the tone mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tonemapper: Option<String>,
}

/// HDR-FLIP's exposures in their JSON form.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExposureFigures {
    /// The first exposure, in stops.
    pub start: f64,
    /// The last exposure, in stops.
    pub stop: f64,
    /// How many exposures, evenly spaced from start to stop.
    pub count: u32,
}

/// FLIP values gathered band by band.
#[derive(Clone, Debug)]
pub(crate) struct FlipPool {
    sum: u128,
    count: u64,
    fine: Vec<u64>,
    /// The smallest value met in each fine bin.
    fine_min: Vec<f32>,
    coarse: [u64; 100],
    min: (f32, Option<At>),
    max: (f32, Option<At>),
    /// Every value, when the map is kept.
    map: Option<Vec<f32>>,
}

impl FlipPool {
    pub(crate) fn new(keep_map: bool) -> FlipPool {
        FlipPool {
            sum: 0,
            count: 0,
            fine: vec![0; FINE + 1],
            fine_min: vec![f32::INFINITY; FINE + 1],
            coarse: [0; 100],
            min: (f32::INFINITY, None),
            max: (f32::NEG_INFINITY, None),
            map: keep_map.then(Vec::new),
        }
    }

    /// Adds the values of a band's counted rows, which start at row `y` of an image `width`
    /// wide, but for the pixels `left_out` (sorted indices into the band).
    pub(crate) fn add(&mut self, y: u32, width: u32, values: &[f32], left_out: &[usize]) {
        if let Some(map) = &mut self.map {
            map.extend_from_slice(values);
        }
        let at = |i: usize| {
            let width = width as usize;
            Some(At {
                x: (i % width) as u32,
                y: y + (i / width) as u32,
            })
        };
        if left_out.is_empty() {
            for (i, &v) in values.iter().enumerate() {
                self.take(v, i, at);
            }
        } else {
            for i in counted(values.len(), left_out) {
                self.take(values[i], i, at);
            }
        }
    }

    /// Counts value `v` of the band's pixel `i`, at `at(i)` in the image.
    #[inline(always)]
    fn take(&mut self, v: f32, i: usize, at: impl Fn(usize) -> Option<At>) {
        // The kernels give values in [0, 1]; anything else is clamped into it.
        let v = if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) };
        self.sum += (f64::from(v) * UNIT) as u64 as u128;
        self.count += 1;
        let fine = ((v * FINE as f32) as usize).min(FINE);
        self.fine[fine] += 1;
        if v < self.fine_min[fine] {
            self.fine_min[fine] = v;
        }
        self.coarse[((f64::from(v) * 100.0) as usize).min(99)] += 1;
        if v < self.min.0 {
            self.min = (v, at(i));
        }
        if v > self.max.0 {
            self.max = (v, at(i));
        }
    }

    /// The smallest value with at least `p`% of the pixels at or below it, to within 2^-16.
    fn percentile(&self, p: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let wanted = ((p / 100.0 * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bin, &n) in self.fine.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                return f64::from(self.fine_min[bin]);
            }
        }
        1.0
    }

    /// The figures, with percentiles `extra` besides the usual ones.
    pub(crate) fn finish(
        &mut self,
        extra: &[f64],
        ppd: f64,
        exposures: Option<Exposures>,
    ) -> FlipReport {
        let mut ps: Vec<f64> = PERCENTILES.iter().chain(extra).copied().collect();
        ps.sort_by(f64::total_cmp);
        ps.dedup();
        FlipReport {
            mean: match self.count {
                0 => 0.0,
                n => self.sum as f64 / UNIT / n as f64,
            },
            min: if self.count == 0 { 0.0 } else { self.min.0 },
            min_at: self.min.1,
            max: if self.count == 0 { 0.0 } else { self.max.0 },
            max_at: self.max.1,
            percentiles: ps.iter().map(|&p| (p, self.percentile(p))).collect(),
            histogram: self.coarse.to_vec(),
            ppd,
            exposures,
            map: self.map.take(),
        }
    }
}

/// `--max-flip`: a limit on the mean, or on a percentile.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum FlipGate {
    /// Over when the mean exceeds this.
    Mean(f64),
    /// Over when the percentile (more than 0, less than 100) exceeds the value.
    Percentile(f64, f64),
}

impl FlipGate {
    /// Whether `report` is over the gate.
    pub fn exceeded(self, report: &FlipReport) -> bool {
        match self {
            FlipGate::Mean(max) => report.mean > max,
            FlipGate::Percentile(p, max) => report
                .percentiles
                .iter()
                .any(|&(q, value)| q == p && value > max),
        }
    }

    /// The percentile this gate needs, if any.
    pub fn percentile(self) -> Option<f64> {
        match self {
            FlipGate::Mean(_) => None,
            FlipGate::Percentile(p, _) => Some(p),
        }
    }
}

impl std::str::FromStr for FlipGate {
    type Err = String;

    /// `V` (the mean) or `pP=V` (the P-th percentile); V from 0 to 1, P more than 0 and less
    /// than 100.
    fn from_str(text: &str) -> Result<FlipGate, String> {
        let value = |v: &str| match v.trim().parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
            _ => Err(format!("'{}' is not a FLIP value from 0 to 1", v.trim())),
        };
        match text.trim().strip_prefix('p') {
            Some(rest) => {
                let (p, v) = rest
                    .split_once('=')
                    .ok_or_else(|| format!("'{text}' is not pP=V, such as p99=0.2"))?;
                match p.trim().parse::<f64>() {
                    Ok(p) if p > 0.0 && p < 100.0 => Ok(FlipGate::Percentile(p, value(v)?)),
                    _ => Err(format!(
                        "'{}' is not a percentile more than 0 and less than 100",
                        p.trim()
                    )),
                }
            }
            None => Ok(FlipGate::Mean(value(text)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(values: &[f32], width: u32) -> FlipPool {
        let mut pool = FlipPool::new(false);
        pool.add(0, width, values, &[]);
        pool
    }

    #[test]
    fn the_mean_is_exact_whatever_the_bands() {
        let values: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.7919).fract()).collect();
        let whole = pool(&values, 10).finish(&[], 67.0, None);
        let mut banded = FlipPool::new(false);
        for (k, rows) in values.chunks(70).enumerate() {
            banded.add(7 * k as u32, 10, rows, &[]);
        }
        let banded = banded.finish(&[], 67.0, None);
        assert_eq!(whole, banded);
        let exact: f64 = values.iter().map(|&v| f64::from(v)).sum::<f64>() / 1000.0;
        assert!((whole.mean - exact).abs() < 1e-12, "{} {exact}", whole.mean);
    }

    #[test]
    fn percentiles_are_the_smallest_value_with_enough_pixels_below() {
        // 0.1 x 50, 0.3 x 30, 0.9 x 20.
        let mut values = vec![0.1f32; 50];
        values.extend([0.3f32; 30]);
        values.extend([0.9f32; 20]);
        let report = pool(&values, 10).finish(&[80.0, 80.5], 67.0, None);
        let get = |p: f64| report.percentiles.iter().find(|q| q.0 == p).unwrap().1;
        assert_eq!(get(25.0), f64::from(0.1f32));
        assert_eq!(get(50.0), f64::from(0.1f32));
        assert_eq!(get(75.0), f64::from(0.3f32));
        assert_eq!(get(80.0), f64::from(0.3f32));
        assert_eq!(get(80.5), f64::from(0.9f32));
        assert_eq!(get(99.0), f64::from(0.9f32));
    }

    #[test]
    fn histogram_bins_and_extremes() {
        // 0.01 as f32 is just below 1/100: bin 0.
        let values = [0.0, 0.0099, 0.01, 0.5, 0.999, 1.0, 1.0, 0.015];
        let report = pool(&values, 4).finish(&[], 67.0, None);
        assert_eq!(report.histogram[0], 3);
        assert_eq!(report.histogram[1], 1);
        assert_eq!(report.histogram[50], 1);
        assert_eq!(report.histogram[99], 3);
        assert_eq!(report.histogram.iter().sum::<u64>(), 8);
        assert_eq!((report.min, report.min_at), (0.0, Some(At { x: 0, y: 0 })));
        assert_eq!((report.max, report.max_at), (1.0, Some(At { x: 1, y: 1 })));
    }

    #[test]
    fn left_out_pixels_are_in_no_figure() {
        let mut pool = FlipPool::new(false);
        pool.add(3, 2, &[0.5, 1.0, 0.25, 0.0], &[1, 3]);
        let report = pool.finish(&[], 67.0, None);
        assert_eq!(report.mean, 0.375);
        assert_eq!(report.histogram.iter().sum::<u64>(), 2);
        assert_eq!(report.max_at, Some(At { x: 0, y: 3 }));
        assert_eq!(report.min_at, Some(At { x: 0, y: 4 }));
    }

    #[test]
    fn gates_parse_and_judge() {
        assert_eq!("0.1".parse(), Ok(FlipGate::Mean(0.1)));
        assert_eq!("p99.9=0.5".parse(), Ok(FlipGate::Percentile(99.9, 0.5)));
        for bad in [
            "p100=0.1", "p0=0.1", "p50", "1.5", "x", "p-1=0", "pnan=0.1", "nan",
        ] {
            assert!(bad.parse::<FlipGate>().is_err(), "{bad}");
        }
        let report = pool(&[0.0, 0.25, 0.5, 0.75], 4).finish(&[50.0], 67.0, None);
        assert!(FlipGate::Mean(0.37).exceeded(&report));
        assert!(!FlipGate::Mean(0.375).exceeded(&report));
        assert!(FlipGate::Percentile(50.0, 0.24).exceeded(&report));
        assert!(!FlipGate::Percentile(50.0, 0.25).exceeded(&report));
    }
}
