//! The ratio kernel's pipelines: one per pixel layout, from one shader whose constants the
//! layout sets, built once per device; and the texture formats the layout's images and diff
//! take on the device.

use std::sync::OnceLock;

use super::super::context::scoped;
use super::{GROUP, SHADER, STRIP};
use crate::error::Error;
use crate::pixel::{Depth, Layout};

/// The compute pipeline for one layout.
pub(super) struct Pipeline {
    pub(super) pipeline: wgpu::ComputePipeline,
    pub(super) layout: wgpu::BindGroupLayout,
    /// A 1x1 diff target, bound where no diff is written.
    pub(super) unused: wgpu::TextureView,
}

/// The pipelines of a device, one per layout, each built the first time it is needed.
#[derive(Default)]
pub(super) struct Pipelines([OnceLock<Result<Pipeline, String>>; 12]);

impl Pipelines {
    /// The pipeline for `layout` on `device`.
    pub(super) fn get(&self, device: &wgpu::Device, layout: Layout) -> Result<&Pipeline, Error> {
        let depth = match layout.depth {
            Depth::Eight => 0,
            Depth::Sixteen => 1,
            Depth::Float => 2,
        };
        let index = depth * 4 + usize::from(layout.channels.clamp(1, 4) - 1);
        self.0[index]
            .get_or_init(|| {
                scoped(device, "cannot build the ratio shader", || {
                    Ok(make_pipeline(device, layout))
                })
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|cause| Error::Gpu(cause.clone()))
    }
}

/// The format of the diff texture: words of samples packed in the band's layout.
pub(super) const DIFF_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Uint;

/// The format of an input texture: the layout's own, with RGB (which has none) as single
/// samples, three texels a pixel.
pub(super) fn input_format(layout: Layout) -> wgpu::TextureFormat {
    use wgpu::TextureFormat as F;
    match (layout.channels, layout.depth) {
        (2, Depth::Eight) => F::Rg8Uint,
        (2, Depth::Sixteen) => F::Rg16Uint,
        (4, Depth::Eight) => F::Rgba8Uint,
        (4, Depth::Sixteen) => F::Rgba16Uint,
        (_, Depth::Eight) => F::R8Uint,
        (_, Depth::Sixteen) => F::R16Uint,
        // Floats as their bits: the shader compares them in integer operations.
        (2, Depth::Float) => F::Rg32Uint,
        (4, Depth::Float) => F::Rgba32Uint,
        (_, Depth::Float) => F::R32Uint,
    }
}

/// Texels of an input texture per pixel: 3 for RGB, 1 otherwise.
pub(super) fn texels_per_pixel(layout: Layout) -> u32 {
    if layout.channels == 3 { 3 } else { 1 }
}

/// Words of the diff a pixel spans, rounded up: 2 for 16-bit RGB and RGBA, one a channel for
/// floats, 1 otherwise.
pub(super) fn diff_words_per_pixel(layout: Layout) -> u32 {
    (layout.bytes_per_pixel() as u32).div_ceil(4)
}

fn make_pipeline(device: &wgpu::Device, layout: Layout) -> Pipeline {
    let (name, depth, channels) = (layout.to_string(), layout.depth, layout.channels);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("diffimg ratio shader"),
        source: wgpu::ShaderSource::Wgsl(SHADER.into()),
    });
    let compute = wgpu::ShaderStages::COMPUTE;
    let input = |binding| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: compute,
        ty: wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Uint,
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
        count: None,
    };
    let target = wgpu::BindGroupLayoutEntry {
        binding: 3,
        visibility: compute,
        ty: wgpu::BindingType::StorageTexture {
            access: wgpu::StorageTextureAccess::WriteOnly,
            format: DIFF_FORMAT,
            view_dimension: wgpu::TextureViewDimension::D2,
        },
        count: None,
    };
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(&format!("diffimg bindings ({name})")),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: compute,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
            input(1),
            input(2),
            target,
            wgpu::BindGroupLayoutEntry {
                binding: 4,
                visibility: compute,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: false },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
        ],
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(&format!("diffimg pipeline layout ({name})")),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&format!("diffimg diff pipeline ({name})")),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some("diff"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &[
                ("STRIP", f64::from(STRIP)),
                ("GROUP", f64::from(GROUP)),
                ("SIXTEEN", f64::from(u8::from(depth == Depth::Sixteen))),
                ("FLOAT", f64::from(u8::from(depth == Depth::Float))),
                ("CHANNELS", f64::from(channels)),
            ],
            // The shader zeroes its workgroup memory itself.
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    let unused = make_texture(device, "diffimg unused diff", DIFF_FORMAT, 1, 1, true)
        .create_view(&Default::default());
    Pipeline {
        pipeline,
        layout,
        unused,
    }
}

/// An input texture (`diff` false) or a diff target.
pub(super) fn make_texture(
    device: &wgpu::Device,
    label: &str,
    format: wgpu::TextureFormat,
    width: u32,
    height: u32,
    diff: bool,
) -> wgpu::Texture {
    let usage = if diff {
        wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_SRC
    } else {
        wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST
    };
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage,
        view_formats: &[],
    })
}
