//! The ratio kernel on the GPU (`shaders/ratio.wgsl`): a band is diffed tile by tile (`tiles`),
//! both images uploaded as textures in the band's own layout (nothing expanded on the host),
//! with up to `IN_FLIGHT` tiles submitted before the first is read back, each in a frame of its
//! own (`frame`), so that the host uploads one tile and reads back another while the device
//! computes; each workgroup writes one record (per-channel sums, count, maximum, bounds) that
//! the host adds up in order as `u128`, so results equal the CPU engine's bit for bit. The
//! pipelines, one per layout, are kept for the device (`pipeline`).

mod frame;
mod pipeline;
mod tiles;

use std::collections::VecDeque;
use std::sync::{Arc, mpsc};

use super::Run;
use super::context::{Gpu, cast_error, make_buffer, map_error, scoped, wait};
use super::layout::shared_layout;
use crate::engine::{Band, Stats};
use crate::error::Error;
use crate::hooks::Fault;
use crate::pixel::{Depth, Layout, Samples};
use frame::{Frame, records_bytes, upload};
use pipeline::{Pipelines, diff_words_per_pixel, texels_per_pixel};
use tiles::{Tile, diff_bytes, place_tile, tile_stats};

const SHADER: &str = concat!(
    include_str!("../../../../shaders/wide.wgsl"),
    include_str!("../../../../shaders/ratio.wgsl")
);

/// Pixels of one row that one invocation handles.
const STRIP: u32 = 16;
/// Invocations per workgroup.
const GROUP: u32 = 64;
const _: () = assert!(
    (STRIP as u64) * (GROUP as u64) * 65535 < 1 << 32,
    "a workgroup's partial sum must fit a u32"
);

/// Bytes one input texture may take: bounds the rows of a tile.
const TEXTURE_BUDGET: u64 = 64 << 20;

/// Tiles submitted and not yet read back, at most; a band is cut into at least this many tiles
/// (when it has the rows) so that they overlap.
const IN_FLIGHT: usize = 3;

shared_layout! {
    /// The uniform block of the shader.
    Params {
        width: u32,
        height: u32,
        counted_mask: u32,
        alpha_max: u32,
        write_diff: u32,
        sample_max: u32,
    }
}

shared_layout! {
    /// One workgroup's figures; the minimums of the bounds and of the index of the largest
    /// difference as complements (0 is neutral); sums in two words, their squares in three.
    Record {
        sums: [u32; 4],
        sums_high: [u32; 4],
        squares_low: [u32; 4],
        squares_high: [u32; 4],
        squares_top: [u32; 4],
        differing: u32,
        max: u32,
        x0_inv: u32,
        y0_inv: u32,
        x1: u32,
        y1: u32,
        max_at_inv: u32,
        nan: u32,
        inf: u32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
    }
}

/// Where in an RGBA texel each channel of a 1- to 4-channel pixel goes: grey in red, alpha in
/// alpha, so that channels keep their identity.
const SLOTS: [&[usize]; 5] = [&[], &[0], &[0, 3], &[0, 1, 2], &[0, 1, 2, 3]];

/// Workgroups of a tile, laid out within the per-dimension limit: (x, y).
fn dispatch_size(width: u32, height: u32, max_groups: u32) -> (u32, u32) {
    let pixels = u64::from(width) * u64::from(height);
    let groups = pixels.div_ceil(u64::from(STRIP * GROUP)).max(1);
    let x = groups.min(u64::from(max_groups));
    // Tiles are bounded by TEXTURE_BUDGET, so y stays far below u32::MAX.
    (x as u32, groups.div_ceil(x) as u32)
}

/// The ratio kernel of one engine: the device's pipelines, and the frames and uniform buffer
/// for the largest tile seen so far.
pub(super) struct Ratio {
    pipelines: Arc<Pipelines>,
    params: wgpu::Buffer,
    /// One frame per tile in flight.
    frames: Vec<Frame>,
    /// Largest tile, within the device's texture limit.
    max_tile: (u32, u32),
    /// Workgroups per dispatch dimension: the device's limit.
    max_groups: u32,
}

impl Ratio {
    /// The kernel on `gpu`, with tiles of at most `max_tile` (below what the device allows).
    pub(super) fn new(gpu: &Gpu, (width, height): (u32, u32)) -> Result<Ratio, Error> {
        let params = scoped(&gpu.device, "cannot allocate GPU buffers", || {
            Ok(make_buffer(
                &gpu.device,
                "diffimg params",
                size_of::<Params>() as u64,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ))
        })?;
        Ok(Ratio {
            pipelines: gpu.kept()?,
            params,
            frames: Vec::new(),
            max_tile: (
                width.clamp(1, gpu.max_texture),
                height.clamp(1, gpu.max_texture),
            ),
            max_groups: gpu.max_groups,
        })
    }

    /// Drops the frames, after a failure that may have left them mapped or in an unknown state.
    pub(super) fn clear(&mut self) {
        self.frames.clear();
    }

    /// Diffs `band` (see `Engine::diff_band`).
    pub(super) fn diff_band(
        &mut self,
        run: &Run,
        band: &Band,
        ignore_alpha: bool,
        diff: Option<&mut Samples>,
    ) -> Result<Stats, Error> {
        let slots = SLOTS[usize::from(band.layout.channels)];
        let mask = band.layout.counted_mask(ignore_alpha);
        let counted_mask = slots
            .iter()
            .enumerate()
            .filter(|&(c, _)| mask >> c & 1 == 1)
            .fold(0, |bits, (_, &slot)| bits | 1 << slot);
        let alpha_max = ignore_alpha && band.layout.has_alpha();
        if band.width == 0 || band.rows == 0 {
            return Ok(Stats::default());
        }
        let (width, height) = self.tile_size(&run.gpu, band);
        self.prepare(run, band.layout, width, height, diff.is_some())?;
        let kernel = Kernel {
            counted_mask,
            mask,
            alpha_max,
        };
        self.diff_tiles(run, band, (width, height), kernel, diff)
    }

    /// The largest tile for `band`: within `max_tile`, one input texture within
    /// `TEXTURE_BUDGET`, and at most a share of the band's rows (`IN_FLIGHT` tiles of it).
    fn tile_size(&self, gpu: &Gpu, band: &Band) -> (u32, u32) {
        let per_pixel = texels_per_pixel(band.layout).max(diff_words_per_pixel(band.layout));
        let width = band
            .width
            .min(self.max_tile.0)
            .min(gpu.max_texture / per_pixel);
        let row_bytes = u64::from(width) * band.layout.bytes_per_pixel() as u64;
        let budget_rows = (TEXTURE_BUDGET / row_bytes).max(1);
        let share = band.rows.div_ceil(IN_FLIGHT as u32);
        let height = u64::from(share.min(self.max_tile.1)).min(budget_rows);
        (width, height as u32)
    }

    /// Makes sure each of the `IN_FLIGHT` frames holds tiles of `width` x `height` in `layout`,
    /// with a diff target when `diff`. Grows them to cover both the old and the new tile when
    /// that stays within budget.
    fn prepare(
        &mut self,
        run: &Run,
        layout: Layout,
        width: u32,
        height: u32,
        diff: bool,
    ) -> Result<(), Error> {
        let gpu = &*run.gpu;
        let (params, max_groups) = (&self.params, self.max_groups);
        let frames = &mut self.frames;
        scoped(&gpu.device, "cannot allocate GPU memory", || {
            if run.fails_at(Fault::Allocation) {
                let too_big = gpu.device.limits().max_buffer_size.saturating_add(4);
                make_buffer(
                    &gpu.device,
                    "diffimg oversized",
                    too_big,
                    wgpu::BufferUsages::STORAGE,
                );
            }
            let pipeline = self.pipelines.get(&gpu.device, layout)?;
            let fits = |f: &Frame| f.fits(layout, width, height);
            if frames.len() < IN_FLIGHT || !frames.iter().all(fits) {
                let (mut w, mut h) = (width, height);
                if let Some(old) = frames.first().filter(|f| f.layout == layout) {
                    (w, h) = (old.width.max(width), old.height.max(height));
                    let bytes = u64::from(w) * u64::from(h) * layout.bytes_per_pixel() as u64;
                    if bytes > TEXTURE_BUDGET {
                        (w, h) = (width, height);
                    }
                }
                frames.clear();
                for _ in 0..IN_FLIGHT {
                    frames.push(Frame::new(gpu, pipeline, params, max_groups, layout, w, h));
                }
            }
            for frame in frames.iter_mut().filter(|f| diff && f.diff.is_none()) {
                frame.add_diff_target(gpu, pipeline, params);
            }
            Ok(())
        })
    }

    /// Diffs `band`'s tiles of `width` x `height`, submitting each into the next frame and
    /// reading a frame back only when it is needed again or at the end.
    fn diff_tiles(
        &mut self,
        run: &Run,
        band: &Band,
        (width, height): (u32, u32),
        kernel: Kernel,
        mut diff: Option<&mut Samples>,
    ) -> Result<Stats, Error> {
        let mut stats = Stats::default();
        let mut in_flight = VecDeque::with_capacity(IN_FLIGHT);
        let tiles = (0..band.rows).step_by(height as usize).flat_map(|y| {
            (0..band.width).step_by(width as usize).map(move |x| Tile {
                x,
                y,
                width: width.min(band.width - x),
                height: height.min(band.rows - y),
            })
        });
        for (k, tile) in tiles.enumerate() {
            if in_flight.len() == IN_FLIGHT
                && let Some(pending) = in_flight.pop_front()
            {
                stats = stats.merge(self.read_back(run, band, pending, diff.as_deref_mut())?);
            }
            let pending = scoped(&run.gpu.device, "diffing a tile", || {
                self.submit_tile(run, k % IN_FLIGHT, band, tile, kernel, diff.is_some())
            })?;
            in_flight.push_back(pending);
        }
        while let Some(pending) = in_flight.pop_front() {
            stats = stats.merge(self.read_back(run, band, pending, diff.as_deref_mut())?);
        }
        Ok(stats)
    }

    /// Uploads one tile into frame `slot`, runs the shader and asks for the figures and, with
    /// `diff`, the diff pixels back, without waiting.
    fn submit_tile(
        &self,
        run: &Run,
        slot: usize,
        band: &Band,
        tile: Tile,
        kernel: Kernel,
        diff: bool,
    ) -> Result<Pending, Error> {
        let gpu = &*run.gpu;
        let depth = band.layout.depth;
        let Some(frame) = self.frames.get(slot) else {
            return Err(Error::Gpu("no GPU memory for the tile".to_owned()));
        };
        let target = match (diff, &frame.diff) {
            (false, _) => None,
            (true, Some(target)) => Some(target),
            (true, None) => return Err(Error::Gpu("no GPU memory for the diff".to_owned())),
        };

        let params = Params {
            width: tile.width,
            height: tile.height,
            counted_mask: kernel.counted_mask,
            alpha_max: u32::from(kernel.alpha_max),
            write_diff: u32::from(target.is_some()),
            sample_max: match depth {
                Depth::Float => 1f32.to_bits(),
                _ => depth.max_value(),
            },
        };
        // Written before this submission's commands run, after the previous one's.
        gpu.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let (groups_x, groups_y) = dispatch_size(tile.width, tile.height, self.max_groups);
        let records_size = records_bytes(groups_x, groups_y);
        // The diff target, and the rows of its texture that hold the tile's diff words.
        let diff_size = diff_bytes(band.layout, tile.width, tile.height);
        let diff_target =
            target.map(|t| (t, diff_size.div_ceil(4 * u64::from(t.row_words)) as u32));

        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("diffimg tile"),
            });
        upload(band, tile, frame, &mut encoder)?;
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("diffimg diff pass"),
                timestamp_writes: None,
            });
            let pipeline = self.pipelines.get(&gpu.device, band.layout)?;
            pass.set_pipeline(&pipeline.pipeline);
            pass.set_bind_group(0, target.map_or(&frame.plain, |t| &t.bindings), &[]);
            let groups_x = match run.fails_at(Fault::Dispatch) {
                true => self.max_groups + 1,
                false => groups_x,
            };
            pass.dispatch_workgroups(groups_x, groups_y, 1);
        }
        encoder.copy_buffer_to_buffer(&frame.records, 0, &frame.records_read, 0, records_size);
        if let Some((target, rows)) = diff_target {
            encoder.copy_texture_to_buffer(
                wgpu::TexelCopyTextureInfo {
                    texture: &target.texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                wgpu::TexelCopyBufferInfo {
                    buffer: &target.read,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(4 * target.row_words),
                        rows_per_image: Some(rows),
                    },
                },
                wgpu::Extent3d {
                    width: target.row_words,
                    height: rows,
                    depth_or_array_layers: 1,
                },
            );
        }
        let submission = gpu.queue.submit([encoder.finish()]);

        let (sender, receiver) = mpsc::channel();
        frame.upload.remap(sender.clone());
        let records = frame.records_read.slice(..records_size);
        let pixels = diff_target
            .map(|(t, rows)| t.read.slice(..4 * u64::from(t.row_words) * u64::from(rows)));
        for slice in [Some(records), pixels].into_iter().flatten() {
            let sender = sender.clone();
            slice.map_async(wgpu::MapMode::Read, move |result| {
                // The send fails only when the tile was given up on: nothing left to tell.
                let _ = sender.send(result);
            });
        }
        Ok(Pending {
            slot,
            tile,
            submission,
            receiver,
            records_size,
            diff_size: target.is_some().then_some(diff_size),
            mask: kernel.mask,
        })
    }

    /// Waits for a submitted tile and reads its figures and, with `diff`, its diff pixels.
    fn read_back(
        &self,
        run: &Run,
        band: &Band,
        pending: Pending,
        diff: Option<&mut Samples>,
    ) -> Result<Stats, Error> {
        let gpu = &*run.gpu;
        run.hang()?;
        // The staging buffer and the records, and the diff when it is read.
        let maps = 2 + usize::from(pending.diff_size.is_some());
        wait(
            &gpu.device,
            pending.submission,
            &pending.receiver,
            maps,
            run.timeout,
        )?;
        if run.fails_at(Fault::ReadBack) {
            return Err(Error::Gpu(
                "reading back the results: injected fault".into(),
            ));
        }
        let Some(frame) = self.frames.get(pending.slot) else {
            return Err(Error::Gpu("no GPU memory for the tile".to_owned()));
        };
        let tile = pending.tile;
        let stats = {
            let records = frame.records_read.slice(..pending.records_size);
            let view = records.get_mapped_range().map_err(map_error)?;
            let records: &[Record] = bytemuck::try_cast_slice(&view).map_err(cast_error)?;
            tile_stats(records, band, tile, pending.mask)
        };
        if let (Some(out), Some(len), Some(target)) = (diff, pending.diff_size, &frame.diff) {
            let view = target
                .read
                .slice(..len.next_multiple_of(4))
                .get_mapped_range()
                .map_err(map_error)?;
            place_tile(&view[..len as usize], band, tile, out)?;
        }
        frame.records_read.unmap();
        if let (Some(_), Some(target)) = (pending.diff_size, &frame.diff) {
            target.read.unmap();
        }
        Ok(stats)
    }
}

/// What the shader counts and writes, the same for every tile of a band.
#[derive(Clone, Copy, Debug)]
struct Kernel {
    /// RGBA slots counted in `differing`, `max` and `bounds`.
    counted_mask: u32,
    /// The same channels, of the band's layout.
    mask: u8,
    /// The diff's alpha at its maximum.
    alpha_max: bool,
}

/// A tile submitted and not yet read back.
struct Pending {
    slot: usize,
    tile: Tile,
    submission: wgpu::SubmissionIndex,
    receiver: mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    records_size: u64,
    /// Bytes of the diff read back, when the diff is.
    diff_size: Option<u64>,
    /// The counted channels of the band's layout.
    mask: u8,
}

#[cfg(test)]
mod tests {
    use super::super::layout::check;
    use super::super::{GpuEngine, GpuOptions};
    use super::*;
    use crate::engine::Engine;
    use crate::engine::cpu::CpuEngine;

    #[test]
    fn shader_and_host_agree() {
        let module = check::parse(SHADER);
        check::agree(&module, "Params", Params::FIELDS, size_of::<Params>());
        check::agree(&module, "Record", Record::FIELDS, size_of::<Record>());
        assert_eq!(check::array_stride(&module, "records"), size_of::<Record>());
    }

    #[test]
    fn dispatch_stays_within_the_limit_per_dimension() {
        assert_eq!(dispatch_size(1, 1, 65535), (1, 1));
        // 64 invocations of 16 pixels each fill one workgroup.
        assert_eq!(dispatch_size(1024, 1, 65535), (1, 1));
        assert_eq!(dispatch_size(1025, 1, 65535), (2, 1));
        assert_eq!(dispatch_size(16, 640, 65535), (10, 1));
        assert_eq!(dispatch_size(16, 640, 4), (4, 3));
        assert_eq!(dispatch_size(1, 2048, 65535), (2, 1));
        let (x, y) = dispatch_size(16384, 16384, 65535);
        assert!(x <= 65535 && u64::from(x) * u64::from(y) >= 16384 * 16384 / 1024);
    }

    #[test]
    fn two_dimensional_dispatch_matches_cpu() {
        let mut engine = match GpuEngine::new(GpuOptions::default()) {
            Ok(engine) => engine,
            Err(e) if std::env::var("DIFFIMG_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
                panic!("DIFFIMG_REQUIRE_GPU=1 but {e}")
            }
            Err(e) => {
                eprintln!("skipped: {e} (set DIFFIMG_REQUIRE_GPU=1 to require a GPU)");
                return;
            }
        };
        // Few workgroups per dimension force several rows of workgroups, some of them idle.
        engine.ratio.max_groups = 3;
        let mut rng = fastrand::Rng::with_seed(11);
        let (width, rows) = (150u32, 70u32);
        let len = (width * rows * 4) as usize;
        let a: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        let b = a
            .iter()
            .map(|&v| if rng.u8(..16) == 0 { rng.u8(..) } else { v })
            .collect();
        let band = Band {
            width,
            y: 3,
            rows,
            halo_above: 0,
            halo_below: 0,
            layout: Layout::RGBA8,
            a: Samples::U8(a),
            b: Samples::U8(b),
        };
        let (mut expected, mut got) = (Samples::U8(Vec::new()), Samples::U8(Vec::new()));
        let cpu = CpuEngine::default()
            .diff_band(&band, false, Some(&mut expected))
            .unwrap();
        assert_eq!(engine.diff_band(&band, false, Some(&mut got)).unwrap(), cpu);
        assert!(got == expected, "diff pixels differ");
    }
}
