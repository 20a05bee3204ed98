//! The FLIP kernel on the GPU (`shaders/flip.wgsl`, the twin of `engine/cpu/flip.rs`): both
//! images of a band, halo rows included, go to the device as storage buffers in their own
//! layout; the colour constants, the filter taps and the sRGB table go with them, computed on
//! the host as the CPU engine computes them. The counted rows are cut into tiles whose
//! intermediate planes fit the device's buffers; each tile and exposure runs three passes
//! (convert, filter along x, filter along y and finish) in a submission of its own, and the
//! map comes back in one read. Its pipelines are kept for the device, its buffers for the engine.

use std::sync::{Arc, OnceLock};

use super::Run;
use super::context::{Gpu, cast_error, make_buffer, map_error, scoped, wait};
use super::layout::shared_layout;
use super::staging::Staging;
use crate::engine::Band;
use crate::engine::cpu::flip::linear_table;
use crate::engine::flip::colour::{self, Remap};
use crate::engine::flip::filters::Filters;
use crate::engine::flip::{FlipRule, Tonemapper};
use crate::error::Error;
use crate::pixel::Depth;

const SHADER: &str = include_str!("../../../shaders/flip.wgsl");
/// Invocations per workgroup (`GROUP` in the shader).
const GROUP: u32 = 64;
/// Bytes between the parameters of one dispatch and the next: the largest uniform offset
/// alignment WebGPU allows.
const PARAMS_STRIDE: u64 = 256;
/// Planes of f32 per converted pixel: YCxCz of both images, and their x-filtered planes.
const YCC_PLANES: u64 = 6;
const FILTERED_PLANES: u64 = 14;
/// Pixels one tile converts at most: one submission per tile and exposure, a fraction of a
/// second even on a software adapter (lavapipe takes about 2 µs a pixel), within the timeout.
const TILE_PIXELS: u64 = 1 << 19;

shared_layout! {
    /// The uniform block of the shader, one per tile and exposure.
    Params {
        width: u32,
        channels: u32,
        depth: u32,
        hdr: u32,
        reinhard: u32,
        factor: f32,
        first_held: u32,
        converted: u32,
        first_row: i32,
        tile_row: i32,
        tile_rows: u32,
        lo: i32,
        hi: i32,
        spatial_radius: u32,
        feature_radius: u32,
        keep_max: u32,
        stride: u32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
    }
}

/// The colour constants at the head of the shader's `table`, at the indices it names.
fn constants(remap: Remap, tonemapper: Tonemapper) -> Vec<f32> {
    let mut table = Vec::with_capacity(64);
    table.extend(colour::RGB_TO_XYZ.iter().flatten());
    table.extend(colour::XYZ_TO_RGB.iter().flatten());
    table.extend(colour::ILLUMINANT);
    table.extend(colour::INV_ILLUMINANT);
    table.extend([
        colour::DELTA_CUBE,
        colour::LAB_FACTOR,
        colour::LAB_TERM,
        colour::ONE_THIRD,
        colour::ONE_OVER_116,
        colour::SIXTEEN_OVER_116,
        remap.cmax,
        remap.pccmax,
        colour::GPT / remap.pccmax,
        colour::GQC,
        colour::GPT,
        colour::GQF,
        colour::normalisation(),
    ]);
    table.extend(tonemapper.coefficients());
    table.extend(colour::LOG2_SERIES);
    table.extend(colour::EXP2_SERIES);
    table
}

/// The shader's `table` for `rule` and samples of `depth`: constants, taps, sRGB table.
fn table(rule: &FlipRule, depth: Depth, filters: &Filters) -> Vec<f32> {
    let tonemapper = rule.hdr.map(|e| e.tonemapper).unwrap_or_default();
    let mut table = constants(Remap::new(), tonemapper);
    table.extend(filters.spatial.iter().flatten());
    table.extend(filters.feature.iter().flatten());
    match (depth, rule.hdr) {
        (Depth::Eight, None) => table.extend(linear_table(8)),
        (Depth::Sixteen, None) => table.extend(linear_table(16)),
        _ => {}
    }
    table
}

struct Pipeline {
    passes: [wgpu::ComputePipeline; 3],
    layout: wgpu::BindGroupLayout,
}

/// The device's pipelines, built the first time they are needed.
#[derive(Default)]
struct Kept(OnceLock<Result<Pipeline, String>>);

impl Kept {
    fn get(&self, device: &wgpu::Device) -> Result<&Pipeline, Error> {
        self.0
            .get_or_init(|| {
                scoped(device, "cannot build the FLIP shader", || {
                    Ok(make_pipeline(device))
                })
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|cause| Error::Gpu(cause.clone()))
    }
}

/// The FLIP kernel of one engine: the device's pipelines, and buffers kept between bands.
pub(super) struct Flip {
    pipeline: Arc<Kept>,
    buffers: Option<Buffers>,
    /// The most counted rows in one tile (a test hook's limit, or none).
    max_tile_rows: u32,
}

impl Flip {
    pub(super) fn new(gpu: &Gpu, max_tile_rows: u32) -> Result<Flip, Error> {
        Ok(Flip {
            pipeline: gpu.kept()?,
            buffers: None,
            max_tile_rows: max_tile_rows.max(1),
        })
    }

    /// Drops the buffers, after a failure that may have left them mapped.
    pub(super) fn clear(&mut self) {
        self.buffers = None;
    }

    /// Fills `out` with FLIP for `band` under `rule` (see `Engine::flip_band`).
    pub(super) fn flip_band(
        &mut self,
        run: &Run,
        band: &Band,
        rule: &FlipRule,
        out: &mut Vec<f32>,
    ) -> Result<(), Error> {
        let pixels = band.rows as usize * band.width as usize;
        out.clear();
        out.resize(pixels, 0.0);
        if pixels == 0 {
            return Ok(());
        }
        flip(run, self, band, rule, out)
    }
}

fn make_pipeline(device: &wgpu::Device) -> Pipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("diffimg FLIP shader"),
        source: wgpu::ShaderSource::Wgsl(SHADER.into()),
    });
    let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("diffimg FLIP bindings"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(size_of::<Params>() as u64),
                },
                count: None,
            },
            storage(1, true),
            storage(2, true),
            storage(3, true),
            storage(4, false),
            storage(5, false),
            storage(6, false),
        ],
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("diffimg FLIP layout"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pass = |entry: &str| {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("diffimg FLIP pipeline"),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[("GROUP", f64::from(GROUP))],
                // The shader has no workgroup memory.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        })
    };
    Pipeline {
        passes: [pass("convert"), pass("filter_x"), pass("filter_y")],
        layout,
    }
}

/// Buffers for bands of up to `input` bytes per image, `pixels` counted pixels, tiles of
/// `converted` pixels, `table` entries and `dispatches` parameter blocks.
struct Buffers {
    input: u64,
    pixels: u64,
    converted: u64,
    table_len: u64,
    dispatches: u64,
    params: wgpu::Buffer,
    a: wgpu::Buffer,
    b: wgpu::Buffer,
    table: wgpu::Buffer,
    ycc: wgpu::Buffer,
    filtered: wgpu::Buffer,
    flip: wgpu::Buffer,
    read: wgpu::Buffer,
    /// Both images' bands on their way in: image 1 from the start, image 2 from `input`.
    upload: Staging,
}

impl Buffers {
    fn new(gpu: &Gpu, size: Sizes) -> Buffers {
        use wgpu::BufferUsages as U;
        let device = &gpu.device;
        let storage = |label, bytes| make_buffer(device, label, bytes, U::STORAGE | U::COPY_DST);
        Buffers {
            input: size.input,
            pixels: size.pixels,
            converted: size.converted,
            table_len: size.table_len,
            dispatches: size.dispatches,
            params: make_buffer(
                device,
                "FLIP params",
                size.dispatches * PARAMS_STRIDE,
                U::UNIFORM | U::COPY_DST,
            ),
            a: storage("FLIP image 1", size.input),
            b: storage("FLIP image 2", size.input),
            table: storage("FLIP table", size.table_len * 4),
            ycc: storage("FLIP YCxCz", size.converted * YCC_PLANES * 4),
            filtered: storage("FLIP filtered", size.converted * FILTERED_PLANES * 4),
            flip: make_buffer(
                device,
                "FLIP map",
                size.pixels * 4,
                U::STORAGE | U::COPY_SRC | U::COPY_DST,
            ),
            read: make_buffer(
                device,
                "FLIP read-back",
                size.pixels * 4,
                U::MAP_READ | U::COPY_DST,
            ),
            upload: Staging::new(device, "FLIP upload", 2 * size.input),
        }
    }

    fn fits(&self, size: Sizes) -> bool {
        self.input >= size.input
            && self.pixels >= size.pixels
            && self.converted >= size.converted
            && self.table_len >= size.table_len
            && self.dispatches >= size.dispatches
    }
}

#[derive(Clone, Copy)]
struct Sizes {
    input: u64,
    pixels: u64,
    converted: u64,
    table_len: u64,
    dispatches: u64,
}

/// One tile: counted rows `rows`, converted rows `first_row..first_row + converted`.
struct Tile {
    rows: std::ops::Range<i64>,
    first_row: i64,
    converted: u64,
}

/// Cuts the counted rows into tiles of at most `tile_rows`, each with the rows its filters
/// read from `lo` to `hi - 1`.
fn tiles(rows: i64, tile_rows: i64, halo: i64, lo: i64, hi: i64) -> Vec<Tile> {
    (0..rows)
        .step_by(tile_rows as usize)
        .map(|start| {
            let end = (start + tile_rows).min(rows);
            let first_row = (start - halo).max(lo);
            let last = (end + halo).min(hi);
            Tile {
                rows: start..end,
                first_row,
                converted: (last - first_row) as u64,
            }
        })
        .collect()
}

/// Fills `out` for `band` under `rule`; `kernel` keeps the buffers between bands.
fn flip(
    run: &Run,
    kernel: &mut Flip,
    band: &Band,
    rule: &FlipRule,
    out: &mut [f32],
) -> Result<(), Error> {
    let gpu = &*run.gpu;
    let limits = gpu.device.limits();
    let limit = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    let width = u64::from(band.width);
    let pixels = u64::from(band.rows) * width;
    let filters = Filters::new(rule.ppd);
    let halo = filters.spatial_radius.max(filters.feature_radius) as i64;
    let lo = -i64::from(band.halo_above).min(halo);
    let hi = i64::from(band.rows) + i64::from(band.halo_below).min(halo);
    let row_bytes = width * FILTERED_PLANES * 4;
    let budget = (limit / row_bytes).min(TILE_PIXELS / width) as i64;
    let fits = limit / row_bytes > 2 * halo as u64;
    let tile_rows = (budget - 2 * halo)
        .max(1)
        .min(i64::from(kernel.max_tile_rows));
    let (a, b) = (band.a.as_bytes(), band.b.as_bytes());
    let input = (a.len().max(b.len()) as u64).next_multiple_of(4).max(4);
    if !fits || input > limit || pixels * 4 > limit || pixels > u64::from(u32::MAX) {
        return Err(Error::Gpu(format!(
            "a band of {} rows of {} pixels is larger than the device's buffers allow",
            band.rows, band.width
        )));
    }
    let tiles = tiles(i64::from(band.rows), tile_rows, halo, lo, hi);
    let exposures: Vec<f32> = match rule.hdr {
        Some(e) => (0..e.count).map(|i| e.factor(i)).collect(),
        None => vec![1.0],
    };
    let table = table(rule, band.layout.depth, &filters);
    let size = Sizes {
        input,
        pixels,
        converted: tiles.iter().map(|t| t.converted).max().unwrap_or(1) * width,
        table_len: table.len() as u64,
        dispatches: (tiles.len() * exposures.len()) as u64,
    };
    let pipeline = kernel.pipeline.get(&gpu.device)?;
    if !kernel.buffers.as_ref().is_some_and(|f| f.fits(size)) {
        kernel.buffers = None;
        let made = scoped(&gpu.device, "cannot allocate GPU buffers", || {
            Ok(Buffers::new(gpu, size))
        })?;
        kernel.buffers = Some(made);
    }
    let Some(frame) = kernel.buffers.as_ref() else {
        unreachable!("made above");
    };
    let groups = size.converted.div_ceil(u64::from(GROUP));
    let groups_x = groups.min(u64::from(gpu.max_groups)) as u32;
    let stride = groups_x * GROUP;
    let tonemapper = rule.hdr.map(|e| e.tonemapper).unwrap_or_default();
    let mut params = vec![0u8; (size.dispatches * PARAMS_STRIDE) as usize];
    for (t, tile) in tiles.iter().enumerate() {
        for (e, &factor) in exposures.iter().enumerate() {
            let block = Params {
                width: band.width,
                channels: u32::from(band.layout.channels),
                depth: match band.layout.depth {
                    Depth::Eight => 0,
                    Depth::Sixteen => 1,
                    Depth::Float => 2,
                },
                hdr: u32::from(rule.hdr.is_some()),
                reinhard: u32::from(tonemapper == Tonemapper::Reinhard),
                factor,
                first_held: (i64::from(band.halo_above) + tile.first_row) as u32,
                converted: tile.converted as u32,
                first_row: tile.first_row as i32,
                tile_row: tile.rows.start as i32,
                tile_rows: (tile.rows.end - tile.rows.start) as u32,
                lo: lo as i32,
                hi: hi as i32,
                spatial_radius: filters.spatial_radius as u32,
                feature_radius: filters.feature_radius as u32,
                keep_max: u32::from(rule.hdr.is_some()),
                stride,
                ..Params::default()
            };
            let at = (t * exposures.len() + e) * PARAMS_STRIDE as usize;
            params[at..at + size_of::<Params>()].copy_from_slice(bytemuck::bytes_of(&block));
        }
    }
    let read_size = pixels * 4;
    scoped(&gpu.device, "computing FLIP for a band", || {
        let queue = &gpu.queue;
        queue.write_buffer(&frame.params, 0, &params);
        queue.write_buffer(&frame.table, 0, bytemuck::cast_slice(&table));
        frame.upload.write_words(0, a)?;
        frame.upload.write_words(frame.input, b)?;
        frame.upload.unmap();
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("diffimg FLIP bind group"),
            layout: &pipeline.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &frame.params,
                        offset: 0,
                        size: wgpu::BufferSize::new(size_of::<Params>() as u64),
                    }),
                },
                entry(1, &frame.a),
                entry(2, &frame.b),
                entry(3, &frame.table),
                entry(4, &frame.ycc),
                entry(5, &frame.filtered),
                entry(6, &frame.flip),
            ],
        });
        let (sender, receiver) = std::sync::mpsc::channel();
        let mut submissions = Vec::with_capacity(tiles.len() * exposures.len());
        for (t, tile) in tiles.iter().enumerate() {
            let converted = tile.converted * width;
            let counted = (tile.rows.end - tile.rows.start) as u64 * width;
            for e in 0..exposures.len() {
                let mut encoder = gpu
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
                let first = t == 0 && e == 0;
                if first {
                    let upload = frame.upload.buffer();
                    for (offset, image, bytes) in [(0, &frame.a, a), (frame.input, &frame.b, b)] {
                        let words = (bytes.len() as u64).next_multiple_of(4);
                        encoder.copy_buffer_to_buffer(upload, offset, image, 0, words);
                    }
                    encoder.clear_buffer(&frame.flip, 0, Some(read_size));
                }
                let offset = ((t * exposures.len() + e) as u64 * PARAMS_STRIDE) as u32;
                let invocations = [converted, converted, counted];
                for (pass, invocations) in pipeline.passes.iter().zip(invocations) {
                    let groups = invocations.div_ceil(u64::from(GROUP));
                    let groups_y = groups.div_ceil(u64::from(groups_x)) as u32;
                    let mut compute =
                        encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
                    compute.set_pipeline(pass);
                    compute.set_bind_group(0, &bind, &[offset]);
                    compute.dispatch_workgroups(groups_x, groups_y, 1);
                }
                if submissions.len() + 1 == tiles.len() * exposures.len() {
                    encoder.copy_buffer_to_buffer(&frame.flip, 0, &frame.read, 0, read_size);
                }
                submissions.push(queue.submit([encoder.finish()]));
                if first {
                    frame.upload.remap(sender.clone());
                }
            }
        }
        let slice = frame.read.slice(..read_size);
        slice.map_async(wgpu::MapMode::Read, move |mapped| {
            // The send fails only when the band was given up on: nothing left to tell.
            let _ = sender.send(mapped);
        });
        let last = submissions.len() - 1;
        for (i, submission) in submissions.into_iter().enumerate() {
            // Each submission may take the whole timeout; the last one's wait also hears from
            // the upload's mapping and the read-back's.
            let maps = if i == last { 2 } else { 0 };
            wait(&gpu.device, submission, &receiver, maps, run.timeout)?;
        }
        {
            let view = slice.get_mapped_range().map_err(map_error)?;
            let values: &[f32] = bytemuck::try_cast_slice(&view).map_err(cast_error)?;
            out.copy_from_slice(values);
        }
        frame.read.unmap();
        Ok(())
    })?;
    gpu.health.check()
}

fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: buffer.as_entire_binding(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::check;
    use super::*;

    /// Index of the first filter tap in `table` (`TAPS` in the shader).
    const TAPS: usize = 55;

    #[test]
    fn shader_and_host_agree() {
        let module = check::parse(SHADER);
        check::agree(&module, "Params", Params::FIELDS, size_of::<Params>());
        let filters = Filters::new(67.0);
        let table = table(&FlipRule::default(), Depth::Eight, &filters);
        assert_eq!(constants(Remap::new(), Tonemapper::Aces).len(), TAPS);
        assert_eq!(table.len(), TAPS + 4 * 21 + 3 * 19 + 256);
        // The shader's index of the first tap is the host's.
        let source = SHADER.replace(' ', "");
        assert!(source.contains(&format!("constTAPS={TAPS}u;")));
    }

    #[test]
    fn tiles_cover_the_rows_with_their_context() {
        let tiles = tiles(100, 40, 10, -3, 110);
        let rows: Vec<_> = tiles.iter().map(|t| t.rows.clone()).collect();
        assert_eq!(rows, [0..40, 40..80, 80..100]);
        assert_eq!((tiles[0].first_row, tiles[0].converted), (-3, 53));
        assert_eq!((tiles[1].first_row, tiles[1].converted), (30, 60));
        assert_eq!((tiles[2].first_row, tiles[2].converted), (70, 40));
    }
}
