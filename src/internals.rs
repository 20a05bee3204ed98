//! The engines and their figures as tests, benchmarks and the command line reach them; not a
//! stable interface.

pub use crate::engine::choice::AutoOptions;
pub use crate::engine::cpu::CpuEngine;
pub use crate::engine::flip::{
    DEFAULT_PPD, Exposures, FlipRule, LuminanceScan, Tonemapper, ppd_from_viewing, settle,
};
#[cfg(feature = "test-hooks")]
pub use crate::engine::gpu::Fault;
pub use crate::engine::gpu::{GpuEngine, probe};
pub use crate::engine::ssim::SsimRule;
pub use crate::engine::trial::{Kernel, Measured, Side};
pub use crate::engine::{Band, Bounds, Engine, EngineInfo, Stats};
pub use crate::output::remove_unfinished;
pub use crate::perception::PerceptualReport;
pub use crate::regions::Regions;
pub use crate::style::parse_colour;

use crate::report::Report;

/// A report's engine figures, as the engines found them.
pub trait ReportInternals {
    /// The exact sums, counts and bounds of the ratio kernel.
    fn stats(&self) -> &Stats;
    /// The perceptual count's figures, when asked for.
    fn perceptual(&self) -> Option<&PerceptualReport>;
    /// The engine that diffed the image.
    fn engine(&self) -> &EngineInfo;
    /// What `auto` measured of each engine, when it had a GPU to measure.
    fn measured(&self) -> &[Measured];
}

impl ReportInternals for Report {
    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn perceptual(&self) -> Option<&PerceptualReport> {
        self.perceptual.as_ref()
    }

    fn engine(&self) -> &EngineInfo {
        &self.engine
    }

    fn measured(&self) -> &[Measured] {
        &self.measured
    }
}
