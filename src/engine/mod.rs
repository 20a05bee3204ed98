//! The engine interface: exact per-channel sums and, when asked, the diff pixels of one band of
//! rows of two images. The CPU and the GPU engine implement it; results are equal bit for bit.

pub mod choice;
pub mod cpu;
pub mod flip;
pub mod float;
pub mod gpu;
pub mod perceptual;
pub mod ssim;
pub mod trial;

use crate::error::Error;
use crate::pixel::{Layout, Samples};
use flip::FlipRule;
use perceptual::{Planes, Rule};
use ssim::SsimRule;

/// A band: the same rows of both images, in one layout. `a` and `b` hold
/// `halo_above + rows + halo_below` rows of `width` pixels; the halo rows are context an engine
/// may read but never counts or writes.
#[derive(Clone, Debug)]
pub struct Band {
    pub width: u32,
    /// Index in the image of the first counted row.
    pub y: u32,
    /// Counted rows.
    pub rows: u32,
    pub halo_above: u32,
    pub halo_below: u32,
    pub layout: Layout,
    pub a: Samples,
    pub b: Samples,
}

impl Band {
    /// Samples in one row.
    pub fn row_len(&self) -> usize {
        self.width as usize * self.layout.channels as usize
    }

    /// The range of samples in `a` and `b` that belong to the counted rows.
    pub fn counted(&self) -> std::ops::Range<usize> {
        let start = self.halo_above as usize * self.row_len();
        start..start + self.rows as usize * self.row_len()
    }
}

/// Inclusive pixel bounds of the differing pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl Bounds {
    pub fn union(self, other: Bounds) -> Bounds {
        Bounds {
            x0: self.x0.min(other.x0),
            y0: self.y0.min(other.y0),
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
        }
    }
}

/// Where the largest counted difference is first met: the first pixel in row order, and its
/// first channel with that difference (`max_diff_at` in `--json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MaxAt {
    /// Column of the pixel.
    pub x: u32,
    /// Row of the pixel.
    pub y: u32,
    /// The channel's index in the image's layout (0 for grey or red, 3 for RGBA's alpha).
    pub channel: u8,
}

/// Exact figures for a band (or, merged, for a whole image). "Differing" and "max" look only at
/// the counted channels; `sums` and `squares` hold every channel, alpha included. Differences
/// of floating-point samples are in the fixed point of `float` (units of 2^-24).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sum of `|a - b|` per channel index.
    pub sums: [u128; 4],
    /// Sum of `(a - b)²` per channel index.
    pub squares: [u128; 4],
    /// Pixels where any counted channel differs.
    pub differing: u64,
    /// Largest counted channel difference; for floating point, the bits of the `f32`.
    pub max: u32,
    /// Where `max` is first met; `None` when no counted channel differs.
    pub max_at: Option<MaxAt>,
    /// Bounding box of the differing pixels, in image coordinates.
    pub bounds: Option<Bounds>,
    /// Floating point only: counted channels where one sample is NaN, and where the
    /// difference is infinite or too large for the fixed point (see `float`).
    pub nan: u64,
    pub inf: u64,
}

impl Stats {
    pub fn merge(mut self, other: Stats) -> Stats {
        for (s, o) in self.sums.iter_mut().zip(other.sums) {
            *s += o;
        }
        for (s, o) in self.squares.iter_mut().zip(other.squares) {
            *s += o;
        }
        self.differing += other.differing;
        self.nan += other.nan;
        self.inf += other.inf;
        self.max_at = match self.max.cmp(&other.max) {
            std::cmp::Ordering::Greater => self.max_at,
            std::cmp::Ordering::Less => other.max_at,
            std::cmp::Ordering::Equal => [self.max_at, other.max_at]
                .into_iter()
                .flatten()
                .min_by_key(|at| (at.y, at.x)),
        };
        self.max = self.max.max(other.max);
        self.bounds = match (self.bounds, other.bounds) {
            (Some(a), Some(b)) => Some(a.union(b)),
            (a, b) => a.or(b),
        };
        self
    }
}

/// Which engine computed a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineInfo {
    Cpu,
    Gpu { adapter: String, backend: String },
}

/// One way of diffing bands.
pub trait Engine {
    fn info(&self) -> EngineInfo;

    /// Whether `diff_band` mostly waits for a device (a GPU) rather than computing on the
    /// calling thread: such an engine is best driven from a thread of its own.
    fn waits_on_device(&self) -> bool {
        false
    }

    /// Bytes of one image's pixels this engine takes best in one band: the pipeline hands it
    /// bands of at least this size (0: any size suits it).
    fn band_bytes(&self) -> u64 {
        0
    }

    /// Diffs the counted rows of `band`. With `diff`, also writes their diff pixels there
    /// (resized to `rows * width` pixels in the band's layout): per channel `|a - b|`, and alpha
    /// at its maximum when `ignore_alpha`. Channels counted in `Stats::differing`, `max` and
    /// `bounds` are all of them, or all but alpha when `ignore_alpha`.
    fn diff_band(
        &mut self,
        band: &Band,
        ignore_alpha: bool,
        diff: Option<&mut Samples>,
    ) -> Result<Stats, Error>;

    /// Fills `out` with the class (and, when `rule` asks, the heat) of each pixel of the
    /// counted rows of `band` by the perceptual rule. The anti-aliasing test reads two pixels
    /// beyond a counted one: the band's halo rows, or the image's border where it has none.
    fn perceive_band(&mut self, band: &Band, rule: &Rule, out: &mut Planes) -> Result<(), Error>;

    /// Fills `out` (resized to `rows * width`) with the FLIP value of each pixel of the counted
    /// rows of `band`, in [0, 1]. The filters read `rule.halo()` rows and columns beyond a
    /// pixel: the band's halo rows, or the image's edge repeated where it has none.
    fn flip_band(&mut self, band: &Band, rule: &FlipRule, out: &mut Vec<f32>)
    -> Result<(), Error>;

    /// Fills `out` (resized to `rows * width * rule.channels(layout)`) with the SSIM of each
    /// pixel of the counted rows of `band`, per colour channel, pixel by pixel. A pixel whose
    /// 11x11 window does not lie inside the band with its halo rows, or inside the width, gets 1.
    fn ssim_band(&mut self, band: &Band, rule: &SsimRule, out: &mut Vec<f32>)
    -> Result<(), Error>;
}
