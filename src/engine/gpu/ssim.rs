//! The SSIM kernel on the GPU (`shaders/ssim.wgsl`, the twin of `engine/cpu/ssim.rs`, in f32
//! with centred moments): a band goes to the device in tiles of whole rows, each with the rows
//! of context its windows read, as storage buffers in the band's own layout; the SSIM of each
//! pixel and colour channel comes back as f32. Its pipeline is kept for the device, its buffers
//! for the engine.

use std::sync::{Arc, OnceLock};

use super::Run;
use super::context::{Gpu, cast_error, make_buffer, map_error, scoped, wait};
use super::layout::shared_layout;
use super::staging::Staging;
use crate::engine::Band;
use crate::engine::ssim::{RADIUS, SsimRule, weights};
use crate::error::Error;
use crate::pixel::Depth;

const SHADER: &str = include_str!("../../../shaders/ssim.wgsl");

/// Output pixels of a workgroup along each side (`SIDE` in the shader).
const SIDE: u32 = 16;

/// Bytes of one image a tile may upload: bounds its rows.
const INPUT_BUDGET: u64 = 64 << 20;

shared_layout! {
    /// The uniform block of the shader.
    Params {
        width: u32,
        held: u32,
        first: u32,
        rows: u32,
        channels: u32,
        colours: u32,
        depth: u32,
        c1: f32,
        c2: f32,
    }
}

struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// The device's pipeline, built the first time it is needed.
#[derive(Default)]
struct Kept(OnceLock<Result<Pipeline, String>>);

impl Kept {
    fn get(&self, device: &wgpu::Device) -> Result<&Pipeline, Error> {
        self.0
            .get_or_init(|| {
                scoped(device, "cannot build the SSIM shader", || {
                    Ok(make_pipeline(device))
                })
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|cause| Error::Gpu(cause.clone()))
    }
}

/// The SSIM kernel of one engine: the device's pipeline, and buffers kept between bands.
pub(super) struct Ssim {
    pipeline: Arc<Kept>,
    buffers: Option<Buffers>,
    /// Most output rows in one tile, below what the device allows (for tests of tile edges).
    max_rows: u32,
}

impl Ssim {
    pub(super) fn new(gpu: &Gpu, max_rows: u32) -> Result<Ssim, Error> {
        Ok(Ssim {
            pipeline: gpu.kept()?,
            buffers: None,
            max_rows: max_rows.max(1),
        })
    }

    /// Drops the buffers, after a failure that may have left them mapped.
    pub(super) fn clear(&mut self) {
        self.buffers = None;
    }

    /// Fills `out` for `band` under `rule` (see `Engine::ssim_band`), tile by tile.
    pub(super) fn ssim_band(
        &mut self,
        run: &Run,
        band: &Band,
        rule: &SsimRule,
        out: &mut Vec<f32>,
    ) -> Result<(), Error> {
        let colours = rule.channels(band.layout);
        let row_out = band.width as usize * colours;
        out.clear();
        out.resize(band.rows as usize * row_out, 1.0);
        if out.is_empty() {
            return Ok(());
        }
        let tiles = Tiles::new(run, band, colours, self.max_rows)?;
        let pipeline = self.pipeline.get(&run.gpu.device)?;
        let (input, output) = tiles.sizes();
        if !self
            .buffers
            .as_ref()
            .is_some_and(|f| f.input >= input && f.output >= output)
        {
            self.buffers = None;
            let made = scoped(&run.gpu.device, "cannot allocate GPU buffers", || {
                Ok(Buffers::new(&run.gpu, input, output))
            })?;
            self.buffers = Some(made);
        }
        let Some(buffers) = self.buffers.as_ref() else {
            unreachable!("made above");
        };
        for start in (0..band.rows).step_by(tiles.rows as usize) {
            let end = (start + tiles.rows).min(band.rows);
            let out = &mut out[start as usize * row_out..end as usize * row_out];
            tile(run, pipeline, buffers, band, rule, start..end, out)?;
        }
        run.gpu.health.check()
    }
}

/// How a band is cut into tiles of whole rows.
struct Tiles {
    /// Output rows of a tile.
    rows: u32,
    /// Bytes of one held row of one image.
    row_bytes: u64,
    /// Bytes of one output row.
    out_row_bytes: u64,
}

impl Tiles {
    fn new(run: &Run, band: &Band, colours: usize, max_rows: u32) -> Result<Tiles, Error> {
        let limits = run.gpu.device.limits();
        let limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let row_bytes = u64::from(band.width) * band.layout.bytes_per_pixel() as u64;
        let out_row_bytes = u64::from(band.width) * colours as u64 * 4;
        let context = 2 * u64::from(RADIUS);
        let by_input = (limit.min(INPUT_BUDGET) / row_bytes).saturating_sub(context);
        let by_groups = u64::from(run.gpu.max_groups) * u64::from(SIDE);
        let rows = by_input
            .min(limit / out_row_bytes)
            .min(by_groups)
            .min(u64::from(max_rows))
            .min(u64::from(band.rows));
        let groups_x = u64::from(band.width.div_ceil(SIDE));
        if rows == 0 || groups_x > u64::from(run.gpu.max_groups) {
            return Err(Error::Gpu(format!(
                "rows of {} pixels are longer than the device's buffers allow",
                band.width
            )));
        }
        Ok(Tiles {
            rows: rows as u32,
            row_bytes,
            out_row_bytes,
        })
    }

    /// Bytes of the input buffer of one image and of the output buffer for the largest tile.
    fn sizes(&self) -> (u64, u64) {
        let held = u64::from(self.rows) + 2 * u64::from(RADIUS);
        let input = (held * self.row_bytes).next_multiple_of(4);
        (input, u64::from(self.rows) * self.out_row_bytes)
    }
}

fn make_pipeline(device: &wgpu::Device) -> Pipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("diffimg SSIM shader"),
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
        label: Some("diffimg SSIM bindings"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
            storage(1, true),
            storage(2, true),
            storage(3, false),
        ],
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("diffimg SSIM layout"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let w = weights();
    let r = RADIUS as usize;
    let constants = [
        ("W0", w[r]),
        ("W1", w[r + 1]),
        ("W2", w[r + 2]),
        ("W3", w[r + 3]),
        ("W4", w[r + 4]),
        ("W5", w[r + 5]),
    ];
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("diffimg SSIM pipeline"),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some("ssim"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &constants,
            // Every invocation writes its share of the patch before any reads it.
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    Pipeline { pipeline, layout }
}

/// Buffers for tiles of up to `input` bytes per image and `output` bytes of results.
struct Buffers {
    input: u64,
    output: u64,
    params: wgpu::Buffer,
    a: wgpu::Buffer,
    b: wgpu::Buffer,
    results: wgpu::Buffer,
    read: wgpu::Buffer,
    /// Both images' tiles on their way in: image 1 from the start, image 2 from `input`.
    upload: Staging,
}

impl Buffers {
    fn new(gpu: &Gpu, input: u64, output: u64) -> Buffers {
        use wgpu::BufferUsages as U;
        let device = &gpu.device;
        let params = size_of::<Params>() as u64;
        Buffers {
            input,
            output,
            params: make_buffer(device, "SSIM params", params, U::UNIFORM | U::COPY_DST),
            a: make_buffer(device, "SSIM image 1", input, U::STORAGE | U::COPY_DST),
            b: make_buffer(device, "SSIM image 2", input, U::STORAGE | U::COPY_DST),
            results: make_buffer(device, "SSIM results", output, U::STORAGE | U::COPY_SRC),
            read: make_buffer(device, "SSIM read-back", output, U::MAP_READ | U::COPY_DST),
            upload: Staging::new(device, "SSIM upload", 2 * input),
        }
    }
}

/// Fills `out` with the SSIM of counted rows `rows` of `band`: uploads them with up to
/// `RADIUS` rows of context on each side, runs the shader and reads the results back.
fn tile(
    run: &Run,
    pipeline: &Pipeline,
    frame: &Buffers,
    band: &Band,
    rule: &SsimRule,
    rows: std::ops::Range<u32>,
    out: &mut [f32],
) -> Result<(), Error> {
    let gpu = &*run.gpu;
    let held = band.halo_above + band.rows + band.halo_below;
    let first = band.halo_above + rows.start;
    let (top, bottom) = (
        first.saturating_sub(RADIUS),
        (band.halo_above + rows.end + RADIUS).min(held),
    );
    let row_bytes = band.width as usize * band.layout.bytes_per_pixel();
    let range = top as usize * row_bytes..bottom as usize * row_bytes;
    let (a, b) = (band.a.as_bytes(), band.b.as_bytes());
    let (Some(a), Some(b)) = (a.get(range.clone()), b.get(range)) else {
        return Err(Error::Gpu(format!(
            "a band of {held} rows of {} {} pixels lacks samples",
            band.width, band.layout
        )));
    };
    let params = Params {
        width: band.width,
        held: bottom - top,
        first: first - top,
        rows: rows.len() as u32,
        channels: u32::from(band.layout.channels),
        colours: rule.channels(band.layout) as u32,
        depth: match band.layout.depth {
            Depth::Eight => 0,
            Depth::Sixteen => 1,
            Depth::Float => 2,
        },
        c1: rule.c1() as f32,
        c2: rule.c2() as f32,
    };
    let read_size = std::mem::size_of_val(out) as u64;
    scoped(&gpu.device, "computing SSIM", || {
        let queue = &gpu.queue;
        queue.write_buffer(&frame.params, 0, bytemuck::bytes_of(&params));
        frame.upload.write_words(0, a)?;
        frame.upload.write_words(frame.input, b)?;
        frame.upload.unmap();
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("diffimg SSIM bind group"),
            layout: &pipeline.layout,
            entries: &[
                entry(0, &frame.params),
                entry(1, &frame.a),
                entry(2, &frame.b),
                entry(3, &frame.results),
            ],
        });
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        let upload = frame.upload.buffer();
        for (offset, image, bytes) in [(0, &frame.a, a), (frame.input, &frame.b, b)] {
            let words = (bytes.len() as u64).next_multiple_of(4);
            encoder.copy_buffer_to_buffer(upload, offset, image, 0, words);
        }
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&pipeline.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(
                band.width.div_ceil(SIDE),
                params.rows.div_ceil(SIDE),
                params.colours,
            );
        }
        encoder.copy_buffer_to_buffer(&frame.results, 0, &frame.read, 0, read_size);
        let submission = queue.submit([encoder.finish()]);
        let slice = frame.read.slice(..read_size);
        let (sender, receiver) = std::sync::mpsc::channel();
        frame.upload.remap(sender.clone());
        slice.map_async(wgpu::MapMode::Read, move |mapped| {
            // The send fails only when the band was given up on: nothing left to tell.
            let _ = sender.send(mapped);
        });
        wait(&gpu.device, submission, &receiver, 2, run.timeout)?;
        {
            let view = slice.get_mapped_range().map_err(map_error)?;
            let values: &[f32] = bytemuck::try_cast_slice(&view).map_err(cast_error)?;
            out.copy_from_slice(values);
        }
        frame.read.unmap();
        Ok(())
    })
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

    #[test]
    fn shader_and_host_agree() {
        let module = check::parse(SHADER);
        check::agree(&module, "Params", Params::FIELDS, size_of::<Params>());
    }
}
