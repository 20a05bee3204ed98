//! The result of a comparison, the ratio computed as diffimg computes it, and its JSON form.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Number;

use crate::engine::trial::Measured;
use crate::engine::{Bounds, EngineInfo, MaxAt, Stats, float};
use crate::metrics::flip::{FlipFigures, FlipGate, FlipReport};
use crate::metrics::ssim::{SsimFigures, SsimReport};
use crate::perception::PerceptualReport;
use crate::pixel::{Depth, Layout};
use crate::regions::RegionSummary;

/// Everything a comparison found.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Report {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// The layout both images were compared in.
    pub(crate) layout: Layout,
    pub(crate) ignore_alpha: bool,
    pub(crate) stats: Stats,
    /// The perceptual figures, when asked for.
    pub(crate) perceptual: Option<PerceptualReport>,
    /// Pixels left out of every figure (ignore rectangles, mask), of those an image covers.
    pub(crate) ignored: u64,
    /// FLIP's figures, when asked for.
    pub(crate) flip: Option<FlipReport>,
    /// SSIM's figures, when asked for.
    pub(crate) ssim: Option<SsimReport>,
    /// On a union canvas, the pixels neither image covers: not compared, in no figure.
    pub(crate) uncovered: u64,
    /// On a union canvas, the sizes of image 1 and image 2 (`width` and `height` are the
    /// canvas's).
    pub(crate) sizes: Option<[(u32, u32); 2]>,
    /// The engine that diffed the image, and how many bands each engine took.
    pub(crate) engine: EngineInfo,
    pub(crate) gpu_bands: u64,
    pub(crate) cpu_bands: u64,
    /// What `auto` measured of each engine, when it had a GPU to measure.
    pub(crate) measured: Vec<Measured>,
    /// Why `auto` chose the engine; `None` for the other backends.
    pub(crate) engine_reason: Option<String>,
    pub(crate) elapsed: Duration,
    /// Things the user should know: layout promotion, an engine falling back.
    pub(crate) notes: Vec<String>,
}

impl Report {
    /// Width of the compared image (of the canvas, on a union canvas).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height of the compared image (of the canvas, on a union canvas).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The layout both images were compared in.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Pixels where any counted channel differs.
    pub fn differing(&self) -> u64 {
        self.stats.differing
    }

    /// Pixels left out of every figure (ignore rectangles, mask), of those an image covers.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// On a union canvas, the pixels neither image covers: not compared, in no figure.
    pub fn uncovered(&self) -> u64 {
        self.uncovered
    }

    /// On a union canvas, the sizes (width, height) of image 1 and image 2.
    pub fn sizes(&self) -> Option<[(u32, u32); 2]> {
        self.sizes
    }

    /// Bands diffed by the GPU engine and by the CPU engine.
    pub fn bands(&self) -> (u64, u64) {
        (self.gpu_bands, self.cpu_bands)
    }

    /// Why `auto` chose the engine; `None` for the other backends.
    pub fn engine_reason(&self) -> Option<&str> {
        self.engine_reason.as_deref()
    }

    /// How long the comparison took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Things the user should know: layout promotion, an engine falling back.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Indices of the channels that count towards the ratio.
    pub fn counted_channels(&self) -> Vec<usize> {
        let mask = self.layout.counted_mask(self.ignore_alpha);
        (0..self.layout.channels as usize)
            .filter(|c| mask >> c & 1 == 1)
            .collect()
    }

    /// Pixels compared: the canvas's, less those left out and those neither image covers.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height) - self.ignored - self.uncovered
    }

    /// FLIP's figures, when asked for.
    pub fn flip(&self) -> Option<&FlipReport> {
        self.flip.as_ref()
    }

    /// SSIM's figures, when asked for.
    pub fn ssim(&self) -> Option<&SsimReport> {
        self.ssim.as_ref()
    }

    /// Pixels a person would see as changed (0 without the perceptual count).
    pub fn changed(&self) -> u64 {
        self.perceptual.as_ref().map_or(0, |p| p.changed)
    }

    /// The exact sum of `|a - b|` over the counted channels, in the engine's units (for
    /// floating point, 2^-24).
    pub fn sum(&self) -> u128 {
        self.counted_channels()
            .iter()
            .map(|&c| self.stats.sums[c])
            .sum()
    }

    /// Sample units per unit of the sums: 1, or 2^24 for floating point.
    fn unit(&self) -> f64 {
        match self.layout.depth {
            Depth::Float => float::ONE as f64,
            _ => 1.0,
        }
    }

    /// The largest sample value, in sample units: 255, 65535, or 1.0 for floating point.
    fn peak(&self) -> f64 {
        f64::from(self.layout.depth.max_value()) / self.unit()
    }

    /// Mean absolute difference per counted channel, in sample units.
    pub fn channel_means(&self) -> Vec<f64> {
        let pixels = self.pixels().max(1) as f64;
        self.counted_channels()
            .iter()
            .map(|&c| self.stats.sums[c] as f64 / pixels / self.unit())
            .collect()
    }

    /// `sum / (max * channels * pixels)`, evaluated as diffimg does (the mean of each channel,
    /// added up, over `channels * max`) so that it matches diffimg to the last digit. For
    /// floating point `max` is 1.0, and values beyond it can take the ratio past 1.
    pub fn ratio(&self) -> f64 {
        let means = self.channel_means();
        let total: f64 = means.iter().sum();
        total / (means.len() as f64 * self.peak())
    }

    /// The mean of `(a - b)²` over the counted channels of the compared pixels, from the exact
    /// integer sum of squares, in sample units.
    pub fn mean_square(&self) -> f64 {
        let channels = self.counted_channels();
        let squares: u128 = channels.iter().map(|&c| self.stats.squares[c]).sum();
        let samples = self.pixels() as f64 * channels.len() as f64;
        squares as f64 / samples.max(1.0) / (self.unit() * self.unit())
    }

    /// Root mean square difference, in sample units.
    pub fn rms(&self) -> f64 {
        self.mean_square().sqrt()
    }

    /// Peak signal-to-noise ratio in dB, against the largest sample value (1.0 for floating
    /// point); `None` when the sums of squares are zero (it is infinite).
    pub fn psnr(&self) -> Option<f64> {
        let mean_square = self.mean_square();
        let peak = self.peak();
        (mean_square > 0.0).then(|| 10.0 * (peak * peak / mean_square).log10())
    }

    /// The largest counted difference, in sample units.
    pub fn max_diff(&self) -> f64 {
        match self.layout.depth {
            Depth::Float => f64::from(f32::from_bits(self.stats.max)),
            _ => f64::from(self.stats.max),
        }
    }

    /// Whether a counted channel differs by more than `max` (NaN and infinite differences
    /// always do).
    pub fn exceeds(&self, max: f64) -> bool {
        self.max_diff() > max || self.stats.nan + self.stats.inf > 0
    }

    /// Every figure, as `--json` prints them.
    pub fn figures(&self) -> Figures {
        let (kind, adapter, backend) = match &self.engine {
            EngineInfo::Cpu => ("cpu", None, None),
            EngineInfo::Gpu { adapter, backend } => ("gpu", Some(adapter), Some(backend)),
        };
        Figures {
            ratio: self.ratio(),
            percent: self.ratio() * 100.0,
            width: self.width,
            height: self.height,
            channels: self.counted_channels().len(),
            bit_depth: self.layout.depth.bits(),
            mean_abs_diff: self.channel_means(),
            sum: match self.layout.depth {
                Depth::Float => number(self.sum() as f64 / self.unit()),
                _ => Number::from(self.sum() as u64),
            },
            differing_pixels: self.stats.differing,
            max_diff: match self.layout.depth {
                Depth::Float => number(self.max_diff()),
                _ => Number::from(self.stats.max),
            },
            nan: self.layout.depth.is_float().then_some(self.stats.nan),
            inf: self.layout.depth.is_float().then_some(self.stats.inf),
            max_diff_at: self.stats.max_at,
            rms: self.rms(),
            psnr: self.psnr(),
            bbox: self.stats.bounds.map(Bbox::from),
            ignored_pixels: self.ignored,
            canvas: self.sizes.map(|[a, b]| UnionCanvas {
                width: self.width,
                height: self.height,
                uncovered: self.uncovered,
                image1: Size {
                    width: a.0,
                    height: a.1,
                },
                image2: Size {
                    width: b.0,
                    height: b.1,
                },
            }),
            perceptual: self.perceptual.as_ref().map(|p| Perceptual {
                threshold: p.threshold,
                changed_pixels: p.changed,
                changed_percent: p.changed as f64 * 100.0 / self.pixels().max(1) as f64,
                aa_pixels: p.aa.then_some(p.anti_aliased),
                changed_bbox: p.changed_bounds.map(Bbox::from),
                regions: p.regions.clone(),
            }),
            flip: self.flip.as_ref().map(FlipReport::figures),
            ssim: self.ssim.as_ref().map(SsimReport::figures),
            engine: Some(FiguresEngine {
                kind: kind.to_string(),
                adapter: adapter.cloned(),
                backend: backend.cloned(),
                reason: self.engine_reason.clone(),
                gpu_bands: self.gpu_bands,
                cpu_bands: self.cpu_bands,
                measured: self.measured.iter().map(MeasuredFigures::from).collect(),
            }),
            elapsed_ms: self.elapsed.as_secs_f64() * 1000.0,
        }
    }

    /// Every figure as one line of JSON, as `--json` prints them.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.figures()).unwrap_or_default()
    }
}

/// The figures of a comparison in their JSON form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Figures {
    /// The difference ratio, from 0 (equal) to 1 (opposite).
    pub ratio: f64,
    /// The ratio in percent.
    pub percent: f64,
    /// Width compared (of the canvas, on a union canvas).
    pub width: u32,
    /// Height compared.
    pub height: u32,
    /// Channels counted in the ratio.
    pub channels: usize,
    /// Bits per sample.
    pub bit_depth: u32,
    /// Mean absolute difference of each counted channel, in sample units.
    pub mean_abs_diff: Vec<f64>,
    /// Sum of `|a - b|` over the counted channels, in sample units: an integer, or a number
    /// for floating point (exact to 2^-24).
    pub sum: Number,
    /// Pixels where any counted channel differs.
    pub differing_pixels: u64,
    /// The largest counted difference, in sample units.
    pub max_diff: Number,
    /// Floating point only: counted channels where one image has NaN, and where the
    /// difference is infinite or 65536 or more; they are left out of every other figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nan: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Floating point only: counted channels with an infinite or too large difference.
    pub inf: Option<u64>,
    /// The first pixel in row order with `max_diff`, and its first such channel.
    #[serde(default)]
    pub max_diff_at: Option<MaxAt>,
    /// Root mean square difference over the counted channels, in sample units.
    #[serde(default)]
    pub rms: f64,
    /// Peak signal-to-noise ratio in dB; null when the images are equal (it is infinite).
    #[serde(default)]
    pub psnr: Option<f64>,
    /// The bounds of the differing pixels.
    pub bbox: Option<Bbox>,
    /// Pixels left out by `--ignore` and `--mask`.
    #[serde(default)]
    pub ignored_pixels: u64,
    /// With `--canvas union` and images of different sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canvas: Option<UnionCanvas>,
    /// With the changed-pixel count.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub perceptual: Option<Perceptual>,
    /// With `--flip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip: Option<FlipFigures>,
    /// With `--ssim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssim: Option<SsimFigures>,
    /// `None` when no engine ran (files equal byte for byte).
    pub engine: Option<FiguresEngine>,
    /// Time the comparison took, in milliseconds.
    pub elapsed_ms: f64,
}

/// A rectangle of pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bbox {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl From<Bounds> for Bbox {
    fn from(b: Bounds) -> Bbox {
        Bbox {
            x: b.x0,
            y: b.y0,
            width: b.x1 - b.x0 + 1,
            height: b.y1 - b.y0 + 1,
        }
    }
}

/// An image's size in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// The union canvas and the sizes of the images on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UnionCanvas {
    /// Width of the canvas.
    pub width: u32,
    /// Height of the canvas.
    pub height: u32,
    /// Pixels neither image covers: not compared.
    #[serde(default)]
    pub uncovered: u64,
    /// Image 1's size.
    pub image1: Size,
    /// Image 2's size.
    pub image2: Size,
}

/// The changed-pixel count's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Perceptual {
    /// The threshold asked for.
    pub threshold: f64,
    /// Pixels a person would see as changed.
    pub changed_pixels: u64,
    /// Changed pixels in percent of the pixels compared.
    pub changed_percent: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Anti-aliased pixels, counted apart when asked for.
    pub aa_pixels: Option<u64>,
    /// The bounds of the changed pixels.
    pub changed_bbox: Option<Bbox>,
    /// The changed pixels' connected regions.
    pub regions: RegionSummary,
}

/// The engine that diffed the images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FiguresEngine {
    /// `cpu` or `gpu`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The GPU adapter's name.
    pub adapter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The GPU's graphics API.
    pub backend: Option<String>,
    /// Why `auto` chose the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Bands the GPU diffed.
    pub gpu_bands: u64,
    /// Bands the CPU diffed.
    pub cpu_bands: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// What `auto` measured of each kernel.
    pub measured: Vec<MeasuredFigures>,
}

/// What `auto` measured of one kernel: millions of pixels per second on each engine (null
/// where not timed), and the engine it chose (null when the image ended first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MeasuredFigures {
    /// The kernel: `ratio`, `perceptual`, `flip` or `ssim`.
    pub kernel: String,
    /// Millions of pixels per second on the GPU.
    pub gpu_mpixels_per_s: Option<f64>,
    /// Millions of pixels per second on the CPU.
    pub cpu_mpixels_per_s: Option<f64>,
    /// `gpu` or `cpu`.
    pub chosen: Option<String>,
}

impl From<&Measured> for MeasuredFigures {
    fn from(m: &Measured) -> MeasuredFigures {
        MeasuredFigures {
            kernel: m.kernel.name().to_string(),
            gpu_mpixels_per_s: m.gpu.map(|r| r / 1e6),
            cpu_mpixels_per_s: m.cpu.map(|r| r / 1e6),
            chosen: m.chosen.map(|side| side.name().to_string()),
        }
    }
}

/// A finite number as JSON has it.
fn number(value: f64) -> Number {
    Number::from_f64(value).unwrap_or_else(|| Number::from(0))
}

/// The gates a comparison may be over: `--max-ratio`, `--max-changed`, `--max-diff`,
/// `--max-flip` and `--min-ssim`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gates {
    /// Over when the ratio exceeds this.
    pub max_ratio: Option<f64>,
    /// Over when more pixels changed than this (needs the perceptual count).
    pub max_changed: Option<ChangedGate>,
    /// Over when a counted channel differs by more than this, in sample units.
    pub max_diff: Option<f64>,
    /// Over when FLIP's mean or a percentile exceeds its limit (needs FLIP).
    pub max_flip: Vec<FlipGate>,
    /// Over when SSIM's mean is below this (needs SSIM).
    pub min_ssim: Option<f64>,
}

impl Gates {
    /// Checks a value of `max_ratio` or `max_diff`: a finite number, 0 or more (ratios of HDR
    /// images may exceed 1).
    pub fn check(value: f64) -> Result<f64, String> {
        if value.is_finite() && value >= 0.0 {
            Ok(value)
        } else {
            Err("must be a finite number, 0 or more".into())
        }
    }

    /// Whether `report` is over any of the gates.
    pub fn exceeded(&self, report: &Report) -> bool {
        self.max_ratio.is_some_and(|max| report.ratio() > max)
            || self.max_diff.is_some_and(|max| report.exceeds(max))
            || self
                .max_changed
                .is_some_and(|gate| gate.exceeded(report.changed(), report.pixels()))
            || report
                .flip
                .as_ref()
                .is_some_and(|flip| self.max_flip.iter().any(|gate| gate.exceeded(flip)))
            || self
                .min_ssim
                .is_some_and(|min| report.ssim.as_ref().is_some_and(|s| s.mean < min))
    }

    /// The percentiles `max_flip` needs reported.
    pub fn flip_percentiles(&self) -> Vec<f64> {
        self.max_flip
            .iter()
            .filter_map(|g| g.percentile())
            .collect()
    }
}

/// `--max-changed`: a number of pixels, or a percentage of the pixels compared.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum ChangedGate {
    /// More than this many pixels.
    Pixels(u64),
    /// More than this percentage of the pixels compared.
    Percent(f64),
}

impl ChangedGate {
    /// Whether `changed` of `pixels` compared pixels is over the gate.
    pub fn exceeded(self, changed: u64, pixels: u64) -> bool {
        match self {
            ChangedGate::Pixels(n) => changed > n,
            ChangedGate::Percent(p) => changed as f64 * 100.0 > p * pixels.max(1) as f64,
        }
    }
}

impl std::str::FromStr for ChangedGate {
    type Err = String;

    /// `N` pixels, or `P%` (P from 0 to 100; a P written nonzero that rounds to 0 is refused).
    fn from_str(text: &str) -> Result<ChangedGate, String> {
        let text = text.trim();
        match text.strip_suffix('%') {
            Some(percent) => match percent.parse::<f64>() {
                Ok(0.0) if written_nonzero(percent) => {
                    Err(format!("{percent}% is too small to tell from 0%"))
                }
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(ChangedGate::Percent(p)),
                _ => Err("a percentage is a number from 0 to 100".into()),
            },
            None => text
                .parse()
                .map(ChangedGate::Pixels)
                .map_err(|_| "a whole number of pixels, or a percentage such as 0.5%".into()),
        }
    }
}

/// Whether a decimal number's digits before any exponent hold one that is not 0.
fn written_nonzero(number: &str) -> bool {
    let mantissa = number.split(['e', 'E']).next().unwrap_or_default();
    mantissa.bytes().any(|c| matches!(c, b'1'..=b'9'))
}
