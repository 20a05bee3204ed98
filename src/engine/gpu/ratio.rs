//! The ratio kernel on the GPU (`shaders/diff.wgsl`): a band is diffed tile by tile, both images
//! uploaded as textures in the band's own layout (nothing expanded on the host), with up to
//! `IN_FLIGHT` tiles submitted before the first is read back, each in a frame of its own, so that
//! the host uploads one tile and reads back another while the device computes; each workgroup
//! writes one record (per-channel sums, count, maximum, bounds) that the host adds up in order
//! as `u128`, so results equal the CPU engine's bit for bit.

use std::collections::VecDeque;
use std::sync::mpsc;

#[cfg(feature = "test-hooks")]
use super::Fault;
use super::GpuEngine;
use super::context::{cast_error, map_error, scoped, wait};
use super::frame::{Frame, diff_words_per_pixel, records_bytes, texels_per_pixel};
use super::layout::shared_layout;
use super::staging::{Rows, texture_pitch};
use super::tiles::{Tile, diff_bytes, place_tile};
use crate::engine::float;
use crate::engine::{Band, Bounds, MaxAt, Stats};
use crate::error::Error;
use crate::pixel::{Depth, Layout, Samples};

pub(super) const SHADER: &str = concat!(
    include_str!("../../../shaders/wide.wgsl"),
    include_str!("../../../shaders/diff.wgsl")
);

/// Pixels of one row that one invocation handles.
pub(super) const STRIP: u32 = 16;
/// Invocations per workgroup.
pub(super) const GROUP: u32 = 64;
const _: () = assert!(
    (STRIP as u64) * (GROUP as u64) * 65535 < 1 << 32,
    "a workgroup's partial sum must fit a u32"
);

/// Bytes one input texture may take: bounds the rows of a tile.
pub(super) const TEXTURE_BUDGET: u64 = 64 << 20;

/// Tiles submitted and not yet read back, at most; a band is cut into at least this many tiles
/// (when it has the rows) so that they overlap.
pub(super) const IN_FLIGHT: usize = 3;

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
pub(super) const SLOTS: [&[usize]; 5] = [&[], &[0], &[0, 3], &[0, 1, 2], &[0, 1, 2, 3]];

/// Workgroups of a tile, laid out within the per-dimension limit: (x, y).
pub(super) fn dispatch_size(width: u32, height: u32, max_groups: u32) -> (u32, u32) {
    let pixels = u64::from(width) * u64::from(height);
    let groups = pixels.div_ceil(u64::from(STRIP * GROUP)).max(1);
    let x = groups.min(u64::from(max_groups));
    // Tiles are bounded by TEXTURE_BUDGET, so y stays far below u32::MAX.
    (x as u32, groups.div_ceil(x) as u32)
}

impl GpuEngine {
    /// The largest tile for `band`: within `max_tile`, one input texture within
    /// `TEXTURE_BUDGET`, and at most a share of the band's rows (`IN_FLIGHT` tiles of it).
    pub(super) fn tile_size(&self, band: &Band) -> (u32, u32) {
        let per_pixel = texels_per_pixel(band.layout).max(diff_words_per_pixel(band.layout));
        let width = band
            .width
            .min(self.max_tile.0)
            .min(self.gpu.max_texture / per_pixel);
        let row_bytes = u64::from(width) * band.layout.bytes_per_pixel() as u64;
        let budget_rows = (TEXTURE_BUDGET / row_bytes).max(1);
        let share = band.rows.div_ceil(IN_FLIGHT as u32);
        let height = u64::from(share.min(self.max_tile.1)).min(budget_rows);
        (width, height as u32)
    }

    /// Makes sure each of the `IN_FLIGHT` frames holds tiles of `width` x `height` in `layout`,
    /// with a diff target when `diff`. Grows them to cover both the old and the new tile when
    /// that stays within budget.
    pub(super) fn prepare(
        &mut self,
        layout: Layout,
        width: u32,
        height: u32,
        diff: bool,
    ) -> Result<(), Error> {
        let gpu = &*self.gpu;
        let (params, max_groups) = (&self.params, self.max_groups);
        #[cfg(feature = "test-hooks")]
        let oversized = self.injected(Fault::Allocation);
        let frames = &mut self.frames;
        scoped(&gpu.device, "cannot allocate GPU memory", || {
            #[cfg(feature = "test-hooks")]
            if oversized {
                let too_big = gpu.device.limits().max_buffer_size.saturating_add(4);
                super::context::make_buffer(
                    &gpu.device,
                    "diffimg oversized",
                    too_big,
                    wgpu::BufferUsages::STORAGE,
                );
            }
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
                    frames.push(Frame::new(gpu, params, max_groups, layout, w, h)?);
                }
            }
            for frame in frames.iter_mut().filter(|f| diff && f.diff.is_none()) {
                frame.add_diff_target(gpu, params)?;
            }
            Ok(())
        })
    }

    /// Diffs `band`'s tiles of `width` x `height`, submitting each into the next frame and
    /// reading a frame back only when it is needed again or at the end.
    pub(super) fn diff_tiles(
        &mut self,
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
                stats = stats.merge(self.read_back(band, pending, diff.as_deref_mut())?);
            }
            let gpu = std::sync::Arc::clone(&self.gpu);
            let pending = scoped(&gpu.device, "diffing a tile", || {
                self.submit_tile(k % IN_FLIGHT, band, tile, kernel, diff.is_some())
            })?;
            in_flight.push_back(pending);
        }
        while let Some(pending) = in_flight.pop_front() {
            stats = stats.merge(self.read_back(band, pending, diff.as_deref_mut())?);
        }
        Ok(stats)
    }

    /// Uploads one tile into frame `slot`, runs the shader and asks for the figures and, with
    /// `diff`, the diff pixels back, without waiting.
    fn submit_tile(
        &self,
        slot: usize,
        band: &Band,
        tile: Tile,
        kernel: Kernel,
        diff: bool,
    ) -> Result<Pending, Error> {
        let gpu = &*self.gpu;
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
            pass.set_pipeline(&gpu.pipeline(band.layout)?.pipeline);
            pass.set_bind_group(0, target.map_or(&frame.plain, |t| &t.bindings), &[]);
            #[cfg(feature = "test-hooks")]
            let groups_x = match self.injected(Fault::Dispatch) {
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
        band: &Band,
        pending: Pending,
        diff: Option<&mut Samples>,
    ) -> Result<Stats, Error> {
        let gpu = &*self.gpu;
        #[cfg(feature = "test-hooks")]
        self.inject_hang()?;
        // The staging buffer and the records, and the diff when it is read.
        let maps = 2 + usize::from(pending.diff_size.is_some());
        wait(
            &gpu.device,
            pending.submission,
            &pending.receiver,
            maps,
            self.timeout,
        )?;
        #[cfg(feature = "test-hooks")]
        if self.injected(Fault::ReadBack) {
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
pub(super) struct Kernel {
    /// RGBA slots counted in `differing`, `max` and `bounds`.
    pub(super) counted_mask: u32,
    /// The same channels, of the band's layout.
    pub(super) mask: u8,
    /// The diff's alpha at its maximum.
    pub(super) alpha_max: bool,
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

/// Writes the tile of both images of `band` into `frame`'s staging buffer, rows at the copy
/// pitch, straight from the band (in its own layout, from the tile's column), and records the
/// copies from there into the input textures.
fn upload(
    band: &Band,
    tile: Tile,
    frame: &Frame,
    encoder: &mut wgpu::CommandEncoder,
) -> Result<(), Error> {
    let pixel = band.layout.bytes_per_pixel();
    let stride = band.width as usize * pixel;
    let start = (band.halo_above + tile.y) as usize * stride + tile.x as usize * pixel;
    let row_bytes = tile.width as usize * pixel;
    let pitch = texture_pitch(row_bytes as u64);
    let bytes_per_row = u32::try_from(pitch)
        .map_err(|_| Error::Gpu(format!("rows of {} pixels are too long", tile.width)))?;
    let images = [(&band.a, &frame.a, 0), (&band.b, &frame.b, frame.upload_b)];
    for (samples, _, offset) in images {
        let rows = Rows {
            bytes: &samples.as_bytes()[start..],
            stride,
            row_bytes,
            rows: tile.height as usize,
            pitch,
        };
        frame.upload.write_rows(offset, rows)?;
    }
    frame.upload.unmap();
    for (_, texture, offset) in images {
        encoder.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: frame.upload.buffer(),
                layout: wgpu::TexelCopyBufferLayout {
                    offset,
                    bytes_per_row: Some(bytes_per_row),
                    rows_per_image: Some(tile.height),
                },
            },
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::Extent3d {
                width: tile.width * texels_per_pixel(band.layout),
                height: tile.height,
                depth_or_array_layers: 1,
            },
        );
    }
    Ok(())
}

/// A tile's figures from its workgroups' records, added up in order. The largest difference's
/// place is a pixel; its channel is found in the band, under `counted_mask` (of the layout's
/// channels).
pub(super) fn tile_stats(records: &[Record], band: &Band, tile: Tile, counted_mask: u8) -> Stats {
    let (mut rgba, mut squares) = ([0u128; 4], [0u128; 4]);
    let (mut differing, mut max, mut nan, mut inf) = (0u64, 0u32, 0u64, 0u64);
    let mut bounds: Option<Bounds> = None;
    // The smallest index in the tile of a pixel with the largest difference.
    let mut max_index = 0u32;
    let y = band.y + tile.y;
    for record in records {
        for (slot, sum) in rgba.iter_mut().enumerate() {
            let (low, high) = (record.sums[slot], record.sums_high[slot]);
            *sum += u128::from(u64::from(high) << 32 | u64::from(low));
        }
        for (slot, sum) in squares.iter_mut().enumerate() {
            let (low, high) = (record.squares_low[slot], record.squares_high[slot]);
            let top = u128::from(record.squares_top[slot]) << 64;
            *sum += top | u128::from(u64::from(high) << 32 | u64::from(low));
        }
        nan += u64::from(record.nan);
        inf += u64::from(record.inf);
        if record.differing == 0 {
            continue;
        }
        differing += u64::from(record.differing);
        // Records come in index order: the first with a larger maximum holds its first place.
        if record.max > max {
            max_index = !record.max_at_inv;
        }
        max = max.max(record.max);
        let found = Bounds {
            x0: tile.x + !record.x0_inv,
            y0: y + !record.y0_inv,
            x1: tile.x + record.x1,
            y1: y + record.y1,
        };
        bounds = Some(bounds.map_or(found, |b| b.union(found)));
    }
    let slots = SLOTS[usize::from(band.layout.channels)];
    let mut stats = Stats {
        differing,
        max,
        bounds,
        nan,
        inf,
        ..Stats::default()
    };
    for (c, &slot) in slots.iter().enumerate() {
        stats.sums[c] = rgba[slot];
        stats.squares[c] = squares[slot];
    }
    // Floats may differ by NaN or infinity alone, which has no largest finite difference.
    if max > 0 {
        let (x, row) = (max_index % tile.width, max_index / tile.width);
        let channel = max_channel(band, tile.x + x, tile.y + row, counted_mask, max);
        stats.max_at = Some(MaxAt {
            x: tile.x + x,
            y: y + row,
            channel,
        });
    }
    stats
}

/// The first counted channel of the pixel at column `x` of counted row `row` of `band` whose
/// difference is `max`.
fn max_channel(band: &Band, x: u32, row: u32, counted_mask: u8, max: u32) -> u8 {
    let channels = usize::from(band.layout.channels);
    let start = band.counted().start + row as usize * band.row_len() + x as usize * channels;
    let differs = |c: usize| match (&band.a, &band.b) {
        (Samples::U8(a), Samples::U8(b)) => u32::from(a[start + c].abs_diff(b[start + c])),
        (Samples::U16(a), Samples::U16(b)) => u32::from(a[start + c].abs_diff(b[start + c])),
        (Samples::F32(a), Samples::F32(b)) => {
            match float::compare(a[start + c].to_bits(), b[start + c].to_bits()) {
                float::Channel::Finite(bits) => bits,
                _ => 0,
            }
        }
        _ => 0,
    };
    (0..channels)
        .find(|&c| counted_mask >> c & 1 == 1 && differs(c) == max)
        .unwrap_or(0) as u8
}

#[cfg(test)]
mod tests {
    use super::super::GpuOptions;
    use super::*;
    use crate::engine::Engine;
    use crate::engine::cpu::CpuEngine;

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
        engine.max_groups = 3;
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
