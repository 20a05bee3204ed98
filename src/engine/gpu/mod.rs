//! The GPU engine: the context every kernel shares (`context`: the device, its limits and
//! health), the memory layouts host and shaders share (`layout`), the upload buffers kept from
//! batch to batch (`staging`), and one module per kernel, each with its own pipelines, buffers
//! and shader in `shaders/` of the same name: the ratio kernel (`ratio`), the perceptual
//! kernel (`perceptual`), the FLIP kernel (`flip`) and the SSIM kernel (`ssim`). A new kernel
//! is one more module and one more shader: its pipelines kept for the device (`Gpu::kept`), its
//! buffers in a struct the engine holds, its fault points asked through `Run::fails_at`.
//! Results equal the CPU engine's bit for bit, but for the render metrics' floating point:
//! FLIP agrees within rounding, SSIM (f32 here, f64 on the CPU) within 1e-5.

mod context;
mod flip;
mod layout;
mod perceptual;
mod ratio;
mod ssim;
mod staging;

use std::sync::Arc;
use std::time::Duration;

use super::flip::FlipRule;
use super::perceptual::{Planes, Rule};
use super::ssim::SsimRule;
use super::{Band, Engine, EngineInfo, Stats};
use crate::error::Error;
use crate::hooks::{self, Hook};
use crate::pixel::Samples;
pub use context::{DEFAULT_TIMEOUT, hardware_possible, probe};
use context::{Gpu, gpu};
use flip::Flip;
#[cfg(feature = "test-hooks")]
pub use hooks::Fault;
use perceptual::Perceptual;
use ratio::Ratio;
use ssim::Ssim;

/// Options of the GPU engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuOptions {
    /// How long one submission may take before the device counts as hung: the engine then
    /// fails (`Backend::Auto` goes on with the CPU) and the next comparison opens a new device.
    pub timeout: Duration,
    /// Bytes of one image's pixels in one band handed to the engine: bands this large (rather
    /// than the CPU's bands of `Options::band_pixels`) make one submission each, so the wait
    /// for each submission is paid once per batch. 0 keeps the CPU's band size.
    pub batch_bytes: u64,
    /// Largest tile (width, height) in pixels, below what the device allows; for tests that
    /// need tile edges.
    #[cfg(feature = "test-hooks")]
    pub max_tile: Option<(u32, u32)>,
    /// A failure to cause, for tests that GPU trouble never panics or changes a result.
    #[cfg(feature = "test-hooks")]
    pub fault: Option<Fault>,
}

impl Default for GpuOptions {
    fn default() -> GpuOptions {
        GpuOptions {
            timeout: DEFAULT_TIMEOUT,
            batch_bytes: BATCH_BYTES,
            #[cfg(feature = "test-hooks")]
            max_tile: None,
            #[cfg(feature = "test-hooks")]
            fault: None,
        }
    }
}

impl GpuOptions {
    /// What the test hooks ask of the engine: the fault to cause and the largest tile.
    fn hooks(&self) -> (Option<hooks::Fault>, (u32, u32)) {
        #[cfg(feature = "test-hooks")]
        return (self.fault, self.max_tile.unwrap_or((u32::MAX, u32::MAX)));
        #[cfg(not(feature = "test-hooks"))]
        return (None, (u32::MAX, u32::MAX));
    }
}

/// Bytes of one image's pixels in a band handed to the GPU engine, by default: 8 MiB, which
/// takes a 10000x10000 RGBA pair in 48 submissions instead of 763 bands of 2^17 pixels, within
/// one tile (the ratio kernel's budget of 64 MiB per texture), while the pipeline holds a few
/// such bands per image.
pub const BATCH_BYTES: u64 = 8 << 20;

/// What every kernel of an engine runs with.
struct Run {
    gpu: Arc<Gpu>,
    /// How long one submission may take.
    timeout: Duration,
    /// The failure a test asks for (none without the `test-hooks` feature).
    fault: Option<hooks::Fault>,
}

impl Run {
    /// Whether a test asks the engine to fail at `stage`.
    fn fails_at(&self, stage: hooks::Fault) -> bool {
        hooks::fire(Hook::Gpu(self.fault, stage))
    }

    /// `Fault::Hang`: the wait for the first submission runs out, as on a hung device.
    fn hang(&self) -> Result<(), Error> {
        if self.fails_at(hooks::Fault::Hang) {
            std::thread::sleep(self.timeout);
            return Err(context::hung(self.timeout));
        }
        Ok(())
    }
}

/// Diffs bands on the GPU, with one module per kernel.
pub struct GpuEngine {
    run: Run,
    batch_bytes: u64,
    ratio: Ratio,
    perceptual: Perceptual,
    flip: Flip,
    ssim: Ssim,
}

impl GpuEngine {
    /// Opens the device (or takes the one this process has open) and makes an engine on it.
    pub fn new(options: GpuOptions) -> Result<GpuEngine, Error> {
        let (fault, max_tile) = options.hooks();
        if hooks::fire(Hook::Gpu(fault, hooks::Fault::Adapter)) {
            return Err(Error::Gpu("no GPU adapter (injected fault)".into()));
        }
        if hooks::fire(Hook::Gpu(fault, hooks::Fault::Device)) {
            return Err(Error::Gpu(
                "cannot open the GPU device (injected fault)".into(),
            ));
        }
        let gpu = gpu()?;
        if let Err(e) = gpu.health.check() {
            context::forget(&gpu);
            return Err(e);
        }
        Ok(GpuEngine {
            ratio: Ratio::new(&gpu, max_tile)?,
            perceptual: Perceptual::new(&gpu)?,
            flip: Flip::new(&gpu, max_tile.1)?,
            ssim: Ssim::new(&gpu, max_tile.1)?,
            run: Run {
                gpu,
                timeout: options.timeout,
                fault,
            },
            batch_bytes: options.batch_bytes,
        })
    }

    /// Runs a kernel's `call` on `band`, checked, on a healthy device; a failure gives the
    /// device up.
    fn guarded(
        &mut self,
        band: &Band,
        call: impl FnOnce(&mut GpuEngine) -> Result<(), Error>,
    ) -> Result<(), Error> {
        check_band(band)?;
        let result = self.run.gpu.health.check().and_then(|()| call(self));
        if result.is_err() {
            self.give_up();
        }
        result
    }

    /// After a failure: buffers may still be mapped or in an unknown state, and the device
    /// lost or hung, so this engine starts afresh and the next one opens a new device.
    fn give_up(&mut self) {
        self.ratio.clear();
        self.perceptual.clear();
        self.flip.clear();
        self.ssim.clear();
        context::forget(&self.run.gpu);
    }
}

impl Engine for GpuEngine {
    fn info(&self) -> EngineInfo {
        self.run.gpu.info.clone()
    }

    fn waits_on_device(&self) -> bool {
        true
    }

    fn band_bytes(&self) -> u64 {
        self.batch_bytes
    }

    fn diff_band(
        &mut self,
        band: &Band,
        ignore_alpha: bool,
        mut diff: Option<&mut Samples>,
    ) -> Result<Stats, Error> {
        check_band(band)?;
        if let Some(out) = diff.as_deref_mut() {
            out.reset(band.layout.depth, band.counted().len());
        }
        let run = &self.run;
        let result = run.gpu.health.check().and_then(|()| {
            let stats = self.ratio.diff_band(run, band, ignore_alpha, diff)?;
            run.gpu.health.check()?;
            if run.fails_at(hooks::Fault::DeviceLost) {
                run.gpu.device.destroy();
            }
            Ok(stats)
        });
        if result.is_err() {
            self.give_up();
        }
        result
    }

    fn perceive_band(&mut self, band: &Band, rule: &Rule, out: &mut Planes) -> Result<(), Error> {
        self.guarded(band, |e| {
            e.perceptual.perceive_band(&e.run, band, rule, out)
        })
    }

    fn flip_band(&mut self, band: &Band, rule: &FlipRule, out: &mut Vec<f32>) -> Result<(), Error> {
        self.guarded(band, |e| e.flip.flip_band(&e.run, band, rule, out))
    }

    fn ssim_band(&mut self, band: &Band, rule: &SsimRule, out: &mut Vec<f32>) -> Result<(), Error> {
        self.guarded(band, |e| e.ssim.ssim_band(&e.run, band, rule, out))
    }
}

/// Checks that `band`'s samples hold its counted rows in its layout.
fn check_band(band: &Band) -> Result<(), Error> {
    let layout = band.layout;
    if !(1..=4).contains(&layout.channels) {
        return Err(Error::Gpu(format!(
            "pixels of {} channels",
            layout.channels
        )));
    }
    if band.y.checked_add(band.rows).is_none() {
        return Err(Error::Gpu(format!(
            "rows {} to {} do not fit u32",
            band.y, band.rows
        )));
    }
    let rows = u64::from(band.halo_above) + u64::from(band.rows);
    let needed = rows * u64::from(band.width) * u64::from(layout.channels);
    for samples in [&band.a, &band.b] {
        if samples.depth() != layout.depth || (samples.len() as u64) < needed {
            return Err(Error::Gpu(format!(
                "a band of {rows} rows of {} {layout} pixels has {} samples of {} bits",
                band.width,
                samples.len(),
                samples.depth().bits()
            )));
        }
    }
    Ok(())
}
