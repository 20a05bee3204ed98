//! The GPU engine: the context every kernel shares (`context`), the ratio kernel (`ratio`) and
//! the perceptual kernel (`perceptual`), each with its shader in `shaders/`. Results equal the
//! CPU engine's bit for bit.

mod context;
mod perceptual;
mod ratio;
mod tiles;

use super::perceptual::{Planes, Rule};
use super::{Band, Engine, EngineInfo, Stats};
use crate::error::Error;
use crate::pixel::Samples;
pub use context::{AdapterSummary, hardware_possible, probe};
use context::{Gpu, gpu, make_buffer, scoped};
use ratio::{Frame, Params, SLOTS};
use tiles::Tile;

/// Options of the GPU engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuOptions {
    /// Largest tile (width, height) in pixels, below what the device allows; for tests that
    /// need tile edges.
    pub max_tile: Option<(u32, u32)>,
    /// A failure to cause, for tests that GPU trouble never panics or changes a result.
    pub fault: Option<Fault>,
}

/// Where the GPU engine can be made to fail. Allocation, dispatch and device loss are real
/// failures provoked in the driver; the others return the error the real failure would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No adapter is found.
    Adapter,
    /// The device cannot be created.
    Device,
    /// A buffer larger than the device allows is requested.
    Allocation,
    /// A dispatch with more workgroups than the device allows.
    Dispatch,
    /// Mapping the results for reading fails.
    ReadBack,
    /// The device is destroyed after the first tile.
    DeviceLost,
}

impl std::str::FromStr for Fault {
    type Err = String;

    fn from_str(name: &str) -> Result<Fault, String> {
        Ok(match name {
            "adapter" => Fault::Adapter,
            "device" => Fault::Device,
            "allocation" => Fault::Allocation,
            "dispatch" => Fault::Dispatch,
            "readback" => Fault::ReadBack,
            "lost" => Fault::DeviceLost,
            _ => return Err(format!("unknown GPU fault '{name}'")),
        })
    }
}

/// Diffs bands on the GPU. Holds textures and buffers for the largest tile seen so far.
pub struct GpuEngine {
    gpu: &'static Gpu,
    /// Largest tile, within the device's texture limit.
    max_tile: (u32, u32),
    /// Workgroups per dispatch dimension: the device's limit.
    max_groups: u32,
    params: wgpu::Buffer,
    frame: Option<Frame>,
    /// Tiles of 1- to 3-channel bands, expanded to RGBA.
    staging: Samples,
    fault: Option<Fault>,
    tiles_done: u64,
    /// Buffers of the perceptual kernel, once it has run.
    perceptual: Option<perceptual::Buffers>,
}

impl GpuEngine {
    /// Opens the device (once per process) and makes an engine on it.
    pub fn new(options: GpuOptions) -> Result<GpuEngine, Error> {
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
        gpu.health.check()?;
        let params = scoped(&gpu.device, "cannot allocate GPU buffers", || {
            Ok(make_buffer(
                &gpu.device,
                "diffimg params",
                size_of::<Params>() as u64,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ))
        })?;
        let (width, height) = options.max_tile.unwrap_or((u32::MAX, u32::MAX));
        Ok(GpuEngine {
            gpu,
            max_tile: (
                width.clamp(1, gpu.max_texture),
                height.clamp(1, gpu.max_texture),
            ),
            max_groups: gpu.max_groups,
            params,
            frame: None,
            staging: Samples::U8(Vec::new()),
            fault: options.fault,
            tiles_done: 0,
            perceptual: None,
        })
    }
}

impl Engine for GpuEngine {
    fn info(&self) -> EngineInfo {
        self.gpu.info.clone()
    }

    fn waits_on_device(&self) -> bool {
        true
    }

    fn diff_band(
        &mut self,
        band: &Band,
        ignore_alpha: bool,
        mut diff: Option<&mut Samples>,
    ) -> Result<Stats, Error> {
        self.gpu.health.check()?;
        check_band(band)?;
        if let Some(out) = diff.as_deref_mut() {
            out.reset(band.layout.depth, band.counted().len());
        }
        if band.width == 0 || band.rows == 0 {
            return Ok(Stats::default());
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
        let result = self
            .prepare(band.layout.depth, width, height, diff.is_some())
            .and_then(|()| {
                let mut stats = Stats::default();
                for y in (0..band.rows).step_by(height as usize) {
                    for x in (0..band.width).step_by(width as usize) {
                        let tile = Tile {
                            x,
                            y,
                            width: width.min(band.width - x),
                            height: height.min(band.rows - y),
                        };
                        let what = "diffing a tile";
                        let tile_stats = scoped(&self.gpu.device, what, || {
                            self.diff_tile(band, tile, counted_mask, alpha_max, diff.as_deref_mut())
                        })?;
                        stats = stats.merge(tile_stats);
                        self.tiles_done += 1;
                        if self.fault == Some(Fault::DeviceLost) && self.tiles_done == 1 {
                            self.gpu.device.destroy();
                        }
                    }
                }
                self.gpu.health.check()?;
                Ok(stats)
            });
        if result.is_err() {
            // Buffers may still be mapped or in an unknown state: start afresh next time.
            self.frame = None;
        }
        result
    }

    fn perceive_band(&mut self, band: &Band, rule: &Rule, out: &mut Planes) -> Result<(), Error> {
        self.gpu.health.check()?;
        check_band(band)?;
        let result = perceptual::perceive(self.gpu, &mut self.perceptual, band, rule, out);
        if result.is_err() {
            self.perceptual = None;
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
