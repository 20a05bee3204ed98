//! The result of a comparison, the ratio computed as diffimg computes it, and its JSON form.

use std::time::Duration;

use serde::Serialize;

use crate::engine::{Bounds, EngineInfo, Stats};
use crate::perception::PerceptualReport;
use crate::pixel::Layout;
use crate::regions::RegionSummary;

/// Everything a comparison found.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub width: u32,
    pub height: u32,
    /// The layout both images were compared in.
    pub layout: Layout,
    pub ignore_alpha: bool,
    pub stats: Stats,
    /// The perceptual figures, when asked for.
    pub perceptual: Option<PerceptualReport>,
    /// Pixels left out of every figure (ignore rectangles, mask).
    pub ignored: u64,
    /// On a union canvas, the sizes of image 1 and image 2 (`width` and `height` are the
    /// canvas's).
    pub sizes: Option<[(u32, u32); 2]>,
    /// The engine that diffed the image, and how many bands each engine took.
    pub engine: EngineInfo,
    pub gpu_bands: u64,
    pub cpu_bands: u64,
    pub elapsed: Duration,
    /// Things the user should know: layout promotion, an engine falling back.
    pub notes: Vec<String>,
}

impl Report {
    /// Indices of the channels that count towards the ratio.
    pub fn counted_channels(&self) -> Vec<usize> {
        let mask = self.layout.counted_mask(self.ignore_alpha);
        (0..self.layout.channels as usize)
            .filter(|c| mask >> c & 1 == 1)
            .collect()
    }

    /// Pixels compared: the image's, less those left out.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height) - self.ignored
    }

    /// Pixels a person would see as changed (0 without the perceptual count).
    pub fn changed(&self) -> u64 {
        self.perceptual.as_ref().map_or(0, |p| p.changed)
    }

    /// The exact sum of `|a - b|` over the counted channels.
    pub fn sum(&self) -> u64 {
        self.counted_channels()
            .iter()
            .map(|&c| self.stats.sums[c])
            .sum()
    }

    /// Mean absolute difference per counted channel, in sample units.
    pub fn channel_means(&self) -> Vec<f64> {
        let pixels = self.pixels().max(1) as f64;
        self.counted_channels()
            .iter()
            .map(|&c| self.stats.sums[c] as f64 / pixels)
            .collect()
    }

    /// `sum / (max * channels * pixels)`, evaluated as diffimg does (the mean of each channel,
    /// added up, over `channels * max`) so that it matches diffimg to the last digit.
    pub fn ratio(&self) -> f64 {
        let means = self.channel_means();
        let total: f64 = means.iter().sum();
        total / (means.len() as f64 * f64::from(self.layout.depth.max_value()))
    }

    pub fn to_json(&self) -> String {
        let (engine, adapter, backend) = match &self.engine {
            EngineInfo::Cpu => ("cpu", None, None),
            EngineInfo::Gpu { adapter, backend } => {
                ("gpu", Some(adapter.as_str()), Some(backend.as_str()))
            }
        };
        let json = Json {
            ratio: self.ratio(),
            percent: self.ratio() * 100.0,
            width: self.width,
            height: self.height,
            channels: self.counted_channels().len(),
            bit_depth: self.layout.depth.bits(),
            mean_abs_diff: self.channel_means(),
            sum: self.sum(),
            differing_pixels: self.stats.differing,
            max_diff: self.stats.max,
            bbox: self.stats.bounds.map(Bbox::from),
            ignored_pixels: self.ignored,
            canvas: self.sizes.map(|[a, b]| JsonCanvas {
                width: self.width,
                height: self.height,
                image1: Size {
                    width: a.0,
                    height: a.1,
                },
                image2: Size {
                    width: b.0,
                    height: b.1,
                },
            }),
            perceptual: self.perceptual.as_ref().map(|p| JsonPerceptual {
                threshold: p.threshold,
                changed_pixels: p.changed,
                changed_percent: p.changed as f64 * 100.0 / self.pixels().max(1) as f64,
                aa_pixels: p.aa.then_some(p.anti_aliased),
                changed_bbox: p.changed_bounds.map(Bbox::from),
                regions: &p.regions,
            }),
            engine: JsonEngine {
                kind: engine,
                adapter,
                backend,
                gpu_bands: self.gpu_bands,
                cpu_bands: self.cpu_bands,
            },
            elapsed_ms: self.elapsed.as_secs_f64() * 1000.0,
        };
        serde_json::to_string(&json).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct Json<'a> {
    ratio: f64,
    percent: f64,
    width: u32,
    height: u32,
    channels: usize,
    bit_depth: u32,
    mean_abs_diff: Vec<f64>,
    sum: u64,
    differing_pixels: u64,
    max_diff: u32,
    bbox: Option<Bbox>,
    ignored_pixels: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    canvas: Option<JsonCanvas>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    perceptual: Option<JsonPerceptual<'a>>,
    engine: JsonEngine<'a>,
    elapsed_ms: f64,
}

#[derive(Serialize)]
struct Bbox {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
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

#[derive(Serialize)]
struct Size {
    width: u32,
    height: u32,
}

#[derive(Serialize)]
struct JsonCanvas {
    width: u32,
    height: u32,
    image1: Size,
    image2: Size,
}

#[derive(Serialize)]
struct JsonPerceptual<'a> {
    threshold: f64,
    changed_pixels: u64,
    changed_percent: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    aa_pixels: Option<u64>,
    changed_bbox: Option<Bbox>,
    regions: &'a RegionSummary,
}

#[derive(Serialize)]
struct JsonEngine<'a> {
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    adapter: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<&'a str>,
    gpu_bands: u64,
    cpu_bands: u64,
}
