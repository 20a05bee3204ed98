//! diffimg: how different two images are, per pixel. A difference ratio that matches the
//! original Python diffimg to the last digit, a diff image, and the figures a CI gate needs,
//! computed exactly by a GPU engine (wgpu) or a CPU engine.
//!
//! - [`compare`] takes two image files, [`compare_bytes`] two encoded images in memory and
//!   [`compare_rows`] two images already decoded (any [`RowSource`]).
//! - [`Options`] says how to compare; every field has a default.
//! - Each returns a [`Report`]: the ratio and the other figures as methods, and all of them in
//!   their JSON form as [`Figures`] (what `diffimg --json` prints).
//! - [`batch`] compares many pairs: from two folders or a pair list, in shards, with an HTML
//!   report.
//! - Every failure is an [`Error`] that names the file involved.
//!
//! ```no_run
//! let options = diffimg::Options {
//!     diff_image: Some("diff.png".into()),
//!     ..Default::default()
//! };
//! let report = diffimg::compare("a.png".as_ref(), "b.png".as_ref(), &options)?;
//! println!("{:?} of {} pixels", report.ratio(), report.pixels());
//! # Ok::<(), diffimg::Error>(())
//! ```

#![warn(missing_docs)]

pub mod batch;
mod canvas;
mod compare;
mod decode;
#[allow(missing_docs)]
mod engine;
mod error;
mod hooks;
mod ignore;
#[doc(hidden)]
pub mod internals;
mod metrics;
mod options;
mod output;
mod perception;
mod pipeline;
mod pixel;
#[cfg(feature = "python")]
mod python;
mod regions;
mod report;
mod resize;
mod style;

pub use compare::{compare, compare_bytes, compare_rows};
pub use decode::{Header, PixelLimits, RowSource};
pub use engine::MaxAt;
pub use engine::choice::Backend;
pub use engine::flip::{Exposures, Tonemapper};
pub use engine::gpu::GpuOptions;
pub use error::Error;
pub use ignore::Rect;
pub use metrics::At;
pub use metrics::flip::{FlipGate, FlipOptions, FlipReport};
pub use metrics::ssim::SsimReport;
pub use options::{Canvas, Options, Progress};
pub use output::Compression;
pub use perception::PerceptualOptions;
pub use pixel::{Depth, Layout, Samples};
pub use regions::{RegionBox, RegionSummary};
pub use report::{
    Bbox, ChangedGate, Figures, FiguresEngine, Gates, MeasuredFigures, Perceptual, Report, Size,
    UnionCanvas,
};
pub use style::Style;
