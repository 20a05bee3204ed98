//! The result of a comparison, the ratio computed as diffimg computes it, and its JSON form.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::{EngineInfo, Stats};
use crate::pixel::Layout;

/// Everything a comparison found.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub width: u32,
    pub height: u32,
    /// The layout both images were compared in.
    pub layout: Layout,
    pub ignore_alpha: bool,
    pub stats: Stats,
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

    fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
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
            sum: self.sum(),
            differing_pixels: self.stats.differing,
            max_diff: self.stats.max,
            bbox: self.stats.bounds.map(|b| Bbox {
                x: b.x0,
                y: b.y0,
                width: b.x1 - b.x0 + 1,
                height: b.y1 - b.y0 + 1,
            }),
            engine: Some(FiguresEngine {
                kind: kind.to_string(),
                adapter: adapter.cloned(),
                backend: backend.cloned(),
                gpu_bands: self.gpu_bands,
                cpu_bands: self.cpu_bands,
            }),
            elapsed_ms: self.elapsed.as_secs_f64() * 1000.0,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.figures()).unwrap_or_default()
    }
}

/// The figures of a comparison in their JSON form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub ratio: f64,
    pub percent: f64,
    pub width: u32,
    pub height: u32,
    pub channels: usize,
    pub bit_depth: u32,
    pub mean_abs_diff: Vec<f64>,
    pub sum: u64,
    pub differing_pixels: u64,
    pub max_diff: u32,
    pub bbox: Option<Bbox>,
    /// `None` when no engine ran (files equal byte for byte).
    pub engine: Option<FiguresEngine>,
    pub elapsed_ms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bbox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiguresEngine {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    pub gpu_bands: u64,
    pub cpu_bands: u64,
}
