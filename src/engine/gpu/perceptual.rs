//! The perceptual kernel on the GPU (`shaders/perceptual.wgsl`, the twin of
//! `engine/cpu/perceptual.rs`): both images of a band, halo rows included, go to the device as
//! storage buffers in their own layout (no expansion to RGBA), one invocation per counted pixel
//! classifies it, and the classes and heats come back in one word per pixel. Its pipeline is
//! kept for the device, its buffers for the engine.

use std::sync::{Arc, OnceLock};

use super::Run;
use super::context::{Gpu, cast_error, make_buffer, map_error, scoped, wait};
use super::layout::shared_layout;
use super::staging::Staging;
use crate::engine::Band;
use crate::engine::perceptual::{Planes, Rule};
use crate::error::Error;
use crate::pixel::Depth;

const SHADER: &str = concat!(
    include_str!("../../../shaders/wide.wgsl"),
    include_str!("../../../shaders/perceptual.wgsl")
);
/// Invocations per workgroup (`GROUP` in the shader).
const GROUP: u32 = 64;

shared_layout! {
    /// The uniform block of the shader.
    Params {
        width: u32,
        rows: u32,
        first: u32,
        pixels: u32,
        channels: u32,
        sixteen: u32,
        opaque: u32,
        aa: u32,
        heat_steps: u32,
        stride: u32,
        limit_lo: u32,
        limit_hi: u32,
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
                scoped(device, "cannot build the perceptual shader", || {
                    Ok(make_pipeline(device))
                })
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|cause| Error::Gpu(cause.clone()))
    }
}

/// The perceptual kernel of one engine: the device's pipeline, and buffers kept between bands.
pub(super) struct Perceptual {
    pipeline: Arc<Kept>,
    buffers: Option<Buffers>,
}

impl Perceptual {
    pub(super) fn new(gpu: &Gpu) -> Result<Perceptual, Error> {
        Ok(Perceptual {
            pipeline: gpu.kept()?,
            buffers: None,
        })
    }

    /// Drops the buffers, after a failure that may have left them mapped.
    pub(super) fn clear(&mut self) {
        self.buffers = None;
    }

    /// Fills `out` for `band` under `rule` (see `Engine::perceive_band`).
    pub(super) fn perceive_band(
        &mut self,
        run: &Run,
        band: &Band,
        rule: &Rule,
        out: &mut Planes,
    ) -> Result<(), Error> {
        perceive(run, &self.pipeline, &mut self.buffers, band, rule, out)
    }
}

fn make_pipeline(device: &wgpu::Device) -> Pipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("diffimg perceptual shader"),
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
        label: Some("diffimg perceptual bindings"),
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
            storage(3, true),
            storage(4, false),
        ],
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("diffimg perceptual layout"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("diffimg perceptual pipeline"),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some("perceive"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &[("GROUP", f64::from(GROUP))],
            // The shader has no workgroup memory.
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    Pipeline { pipeline, layout }
}

/// Buffers for bands of up to `input` bytes per image and `pixels` counted pixels.
struct Buffers {
    input: u64,
    pixels: u64,
    params: wgpu::Buffer,
    a: wgpu::Buffer,
    b: wgpu::Buffer,
    heat: wgpu::Buffer,
    results: wgpu::Buffer,
    read: wgpu::Buffer,
    /// Both images' bands on their way in: image 1 from the start, image 2 from `input`.
    upload: Staging,
}

impl Buffers {
    fn new(gpu: &Gpu, input: u64, pixels: u64) -> Buffers {
        use wgpu::BufferUsages as U;
        let device = &gpu.device;
        let params_size = size_of::<Params>() as u64;
        let results = pixels * 4;
        Buffers {
            input,
            pixels,
            params: make_buffer(
                device,
                "perceptual params",
                params_size,
                U::UNIFORM | U::COPY_DST,
            ),
            a: make_buffer(
                device,
                "perceptual image 1",
                input,
                U::STORAGE | U::COPY_DST,
            ),
            b: make_buffer(
                device,
                "perceptual image 2",
                input,
                U::STORAGE | U::COPY_DST,
            ),
            heat: make_buffer(
                device,
                "perceptual heat limits",
                256 * 8,
                U::STORAGE | U::COPY_DST,
            ),
            results: make_buffer(
                device,
                "perceptual results",
                results,
                U::STORAGE | U::COPY_SRC,
            ),
            read: make_buffer(
                device,
                "perceptual read-back",
                results,
                U::MAP_READ | U::COPY_DST,
            ),
            upload: Staging::new(device, "perceptual upload", 2 * input),
        }
    }
}

/// Fills `out` for `band` under `rule` with `pipeline`; `buffers` are kept between bands.
fn perceive(
    run: &Run,
    pipeline: &Kept,
    buffers: &mut Option<Buffers>,
    band: &Band,
    rule: &Rule,
    out: &mut Planes,
) -> Result<(), Error> {
    let gpu = &*run.gpu;
    let pixels = u64::from(band.rows) * u64::from(band.width);
    out.reset(pixels as usize, rule);
    if pixels == 0 {
        return Ok(());
    }
    let (a, b) = (band.a.as_bytes(), band.b.as_bytes());
    let input = (a.len().max(b.len()) as u64).next_multiple_of(4).max(4);
    let limit = gpu.device.limits().max_storage_buffer_binding_size;
    if input > limit || pixels * 4 > limit || pixels > u64::from(u32::MAX) {
        return Err(Error::Gpu(format!(
            "a band of {} rows of {} pixels is larger than the device's buffers allow",
            band.rows, band.width
        )));
    }
    let pipeline = pipeline.get(&gpu.device)?;
    if !buffers
        .as_ref()
        .is_some_and(|f| f.input >= input && f.pixels >= pixels)
    {
        *buffers = None;
        let made = scoped(&gpu.device, "cannot allocate GPU buffers", || {
            Ok(Buffers::new(gpu, input, pixels))
        })?;
        *buffers = Some(made);
    }
    let Some(frame) = buffers.as_ref() else {
        unreachable!("made above");
    };
    let groups = pixels.div_ceil(u64::from(GROUP));
    let groups_x = groups.min(u64::from(gpu.max_groups)) as u32;
    let groups_y = groups.div_ceil(u64::from(groups_x)) as u32;
    let params = Params {
        width: band.width,
        rows: band.halo_above + band.rows + band.halo_below,
        first: band.halo_above,
        pixels: pixels as u32,
        channels: u32::from(band.layout.channels),
        sixteen: u32::from(band.layout.depth == Depth::Sixteen),
        opaque: u32::from(rule.opaque),
        aa: u32::from(rule.aa),
        heat_steps: rule.heat_limits.len() as u32,
        stride: groups_x * GROUP,
        limit_lo: rule.limit as u32,
        limit_hi: (rule.limit >> 32) as u32,
    };
    let read_size = pixels * 4;
    scoped(&gpu.device, "perceiving a band", || {
        let queue = &gpu.queue;
        queue.write_buffer(&frame.params, 0, bytemuck::bytes_of(&params));
        frame.upload.write_words(0, a)?;
        frame.upload.write_words(frame.input, b)?;
        frame.upload.unmap();
        if !rule.heat_limits.is_empty() {
            let words: Vec<[u32; 2]> = rule
                .heat_limits
                .iter()
                .map(|&l| [l as u32, (l >> 32) as u32])
                .collect();
            queue.write_buffer(&frame.heat, 0, bytemuck::cast_slice(&words));
        }
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("diffimg perceptual bind group"),
            layout: &pipeline.layout,
            entries: &[
                entry(0, &frame.params),
                entry(1, &frame.a),
                entry(2, &frame.b),
                entry(3, &frame.heat),
                entry(4, &frame.results),
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
            pass.dispatch_workgroups(groups_x, groups_y, 1);
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
            let words: &[u32] = bytemuck::try_cast_slice(&view).map_err(cast_error)?;
            for (class, &word) in out.class.iter_mut().zip(words) {
                *class = word as u8;
            }
            for (heat, &word) in out.heat.iter_mut().zip(words) {
                *heat = (word >> 8) as u8;
            }
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

    #[test]
    fn shader_and_host_agree() {
        let module = check::parse(SHADER);
        check::agree(&module, "Params", Params::FIELDS, size_of::<Params>());
    }
}
