//! The GPU engine: the context every kernel shares (`context`), the memory layouts host and
//! shaders share (`layout`), the upload buffers kept from batch to batch (`staging`), the ratio
//! kernel (`ratio`, with its pipelines and buffers in `frame` and its tiles in `tiles`) and the
//! perceptual kernel (`perceptual`), each kernel with one shader in `shaders/`. Results equal
//! the CPU engine's bit for bit.

mod context;
#[cfg(feature = "test-hooks")]
mod fault;
mod frame;
mod layout;
mod perceptual;
mod ratio;
mod staging;
mod tiles;

use std::sync::Arc;
use std::time::Duration;

use super::perceptual::{Planes, Rule};
use super::{Band, Engine, EngineInfo, Stats};
use crate::error::Error;
use crate::pixel::Samples;
pub use context::{DEFAULT_TIMEOUT, hardware_possible, probe};
use context::{Gpu, gpu, make_buffer, scoped};
#[cfg(feature = "test-hooks")]
pub use fault::Fault;
use frame::Frame;
use ratio::{Kernel, Params, SLOTS};

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

/// Bytes of one image's pixels in a band handed to the GPU engine, by default: 8 MiB, which
/// takes a 10000x10000 RGBA pair in 48 submissions instead of 763 bands of 2^17 pixels, within
/// one tile (`ratio::TEXTURE_BUDGET`), while the pipeline holds a few such bands per image.
pub const BATCH_BYTES: u64 = 8 << 20;

/// Diffs bands on the GPU. Holds textures and buffers for the largest tile seen so far.
pub struct GpuEngine {
    gpu: Arc<Gpu>,
    /// Largest tile, within the device's texture limit.
    max_tile: (u32, u32),
    /// Workgroups per dispatch dimension: the device's limit.
    max_groups: u32,
    timeout: Duration,
    batch_bytes: u64,
    params: wgpu::Buffer,
    /// The ratio kernel's frames, one per tile in flight.
    frames: Vec<Frame>,
    #[cfg(feature = "test-hooks")]
    fault: Option<Fault>,
    /// Buffers of the perceptual kernel, once it has run.
    perceptual: Option<perceptual::Buffers>,
}

impl GpuEngine {
    /// Opens the device (or takes the one this process has open) and makes an engine on it.
    pub fn new(options: GpuOptions) -> Result<GpuEngine, Error> {
        #[cfg(feature = "test-hooks")]
        match options.fault {
            Some(Fault::Adapter) => {
                return Err(Error::Gpu("no GPU adapter (injected fault)".into()));
            }
            Some(Fault::Device) => {
                return Err(Error::Gpu(
                    "cannot open the GPU device (injected fault)".into(),
                ));
            }
            _ => {}
        }
        let gpu = gpu()?;
        if let Err(e) = gpu.health.check() {
            context::forget(&gpu);
            return Err(e);
        }
        let params = scoped(&gpu.device, "cannot allocate GPU buffers", || {
            Ok(make_buffer(
                &gpu.device,
                "diffimg params",
                size_of::<Params>() as u64,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ))
        })?;
        #[cfg(feature = "test-hooks")]
        let (width, height) = options.max_tile.unwrap_or((u32::MAX, u32::MAX));
        #[cfg(not(feature = "test-hooks"))]
        let (width, height) = (u32::MAX, u32::MAX);
        Ok(GpuEngine {
            max_tile: (
                width.clamp(1, gpu.max_texture),
                height.clamp(1, gpu.max_texture),
            ),
            max_groups: gpu.max_groups,
            gpu,
            timeout: options.timeout,
            batch_bytes: options.batch_bytes,
            params,
            frames: Vec::new(),
            #[cfg(feature = "test-hooks")]
            fault: options.fault,
            perceptual: None,
        })
    }

    /// Whether the test hook asks for `fault`.
    #[cfg(feature = "test-hooks")]
    fn injected(&self, fault: Fault) -> bool {
        self.fault == Some(fault)
    }

    /// `Fault::Hang`: the wait for the first submission runs out, as on a hung device.
    #[cfg(feature = "test-hooks")]
    fn inject_hang(&self) -> Result<(), Error> {
        if self.injected(Fault::Hang) {
            std::thread::sleep(self.timeout);
            return Err(context::hung(self.timeout));
        }
        Ok(())
    }

    /// After a failure: buffers may still be mapped or in an unknown state, and the device
    /// lost or hung, so this engine starts afresh and the next one opens a new device.
    fn give_up(&mut self) {
        self.frames.clear();
        self.perceptual = None;
        context::forget(&self.gpu);
    }
}

impl Engine for GpuEngine {
    fn info(&self) -> EngineInfo {
        self.gpu.info.clone()
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
        let slots = SLOTS[usize::from(band.layout.channels)];
        let mask = band.layout.counted_mask(ignore_alpha);
        let counted_mask = slots
            .iter()
            .enumerate()
            .filter(|&(c, _)| mask >> c & 1 == 1)
            .fold(0, |bits, (_, &slot)| bits | 1 << slot);
        let alpha_max = ignore_alpha && band.layout.has_alpha();
        let (width, height) = self.tile_size(band);
        let result = self.gpu.health.check().and_then(|()| {
            if band.width == 0 || band.rows == 0 {
                return Ok(Stats::default());
            }
            self.prepare(band.layout, width, height, diff.is_some())?;
            let kernel = Kernel {
                counted_mask,
                mask,
                alpha_max,
            };
            let stats = self.diff_tiles(band, (width, height), kernel, diff)?;
            self.gpu.health.check()?;
            #[cfg(feature = "test-hooks")]
            if self.injected(Fault::DeviceLost) {
                self.gpu.device.destroy();
            }
            Ok(stats)
        });
        if result.is_err() {
            self.give_up();
        }
        result
    }

    fn perceive_band(&mut self, band: &Band, rule: &Rule, out: &mut Planes) -> Result<(), Error> {
        check_band(band)?;
        let result = self.gpu.health.check().and_then(|()| {
            perceptual::perceive(
                &self.gpu,
                &mut self.perceptual,
                band,
                rule,
                out,
                self.timeout,
            )
        });
        if result.is_err() {
            self.give_up();
        }
        result
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
