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
pub mod compare;
pub mod decode;
pub mod engine;
pub mod error;
pub mod output;
pub mod pixel;
pub mod report;

pub use compare::{Options, compare, compare_bytes};
pub use decode::PixelLimits;
pub use engine::choice::Backend;
pub use error::Error;
pub use output::Compression;
pub use report::Report;
