//! diffimg: how different two images are, per pixel. A difference ratio that matches the
//! original Python diffimg to the last digit, a diff image, and the figures a CI gate needs,
//! computed exactly by a GPU engine (wgpu) or a CPU engine.
//!
//! ```no_run
//! let report = diffimg::compare("a.png".as_ref(), "b.png".as_ref(), &Default::default())?;
//! println!("{:?}", report.ratio());
//! # Ok::<(), diffimg::Error>(())
//! ```

pub mod batch;
pub mod canvas;
pub mod compare;
pub mod decode;
pub mod engine;
pub mod error;
pub mod ignore;
pub mod output;
pub mod perception;
mod pipeline;
pub mod pixel;
#[cfg(feature = "python")]
mod python;
pub mod regions;
pub mod report;
pub mod resize;
pub mod style;

pub use compare::{Canvas, Options, compare, compare_bytes, compare_rows};
pub use decode::PixelLimits;
pub use engine::choice::Backend;
pub use error::Error;
pub use ignore::Rect;
pub use output::Compression;
pub use perception::PerceptualOptions;
pub use report::{ChangedGate, Gates, Report};
pub use style::Style;
