//! The ratio kernel's pipelines (one per pixel layout, from one shader) and the frame a tile is
//! diffed in: input textures in the band's own layout, the diff target, the workgroup records
//! and their read-back buffers, and the bindings that join them.

use super::context::{Gpu, make_buffer, scoped};
use super::ratio::{GROUP, Record, SHADER, STRIP, dispatch_size};
use super::staging::{Staging, texture_pitch};
use super::tiles::diff_shape;
use crate::error::Error;
use crate::pixel::{Depth, Layout};

/// The compute pipeline for one layout.
pub(super) struct Pipeline {
    pub(super) pipeline: wgpu::ComputePipeline,
    pub(super) layout: wgpu::BindGroupLayout,
    /// A 1x1 diff target, bound where no diff is written.
    pub(super) unused: wgpu::TextureView,
}

impl Gpu {
    /// The pipeline for `layout`, built the first time it is needed.
    pub(super) fn pipeline(&self, layout: Layout) -> Result<&Pipeline, Error> {
        let depth = match layout.depth {
            Depth::Eight => 0,
            Depth::Sixteen => 1,
            Depth::Float => 2,
        };
        let index = depth * 4 + usize::from(layout.channels.clamp(1, 4) - 1);
        self.ratio[index]
            .get_or_init(|| {
                scoped(&self.device, "cannot build the diff shader", || {
                    Ok(make_pipeline(&self.device, layout))
                })
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|cause| Error::Gpu(cause.clone()))
    }
}

/// The format of the diff texture: words of samples packed in the band's layout.
const DIFF_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Uint;

/// The format of an input texture: the layout's own, with RGB (which has none) as single
/// samples, three texels a pixel.
fn input_format(layout: Layout) -> wgpu::TextureFormat {
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

pub(super) fn make_pipeline(device: &wgpu::Device, layout: Layout) -> Pipeline {
    let (name, depth, channels) = (layout.to_string(), layout.depth, layout.channels);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("diffimg diff shader"),
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

/// The textures and buffers for tiles of up to `width` x `height` pixels in `layout`.
pub(super) struct Frame {
    pub(super) layout: Layout,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) a: wgpu::Texture,
    pub(super) b: wgpu::Texture,
    pub(super) records: wgpu::Buffer,
    pub(super) records_read: wgpu::Buffer,
    /// Both images' tiles on their way in: image a's rows from the start, b's from `upload_b`.
    pub(super) upload: Staging,
    pub(super) upload_b: u64,
    /// Bindings with the dummy diff target.
    pub(super) plain: wgpu::BindGroup,
    pub(super) diff: Option<DiffTarget>,
}

/// The diff texture, its read-back buffer and the bindings that write it.
pub(super) struct DiffTarget {
    pub(super) texture: wgpu::Texture,
    /// Words in a row of the texture.
    pub(super) row_words: u32,
    pub(super) read: wgpu::Buffer,
    pub(super) bindings: wgpu::BindGroup,
}

impl Frame {
    pub(super) fn fits(&self, layout: Layout, width: u32, height: u32) -> bool {
        self.layout == layout && self.width >= width && self.height >= height
    }

    pub(super) fn new(
        gpu: &Gpu,
        params: &wgpu::Buffer,
        max_groups: u32,
        layout: Layout,
        width: u32,
        height: u32,
    ) -> Result<Frame, Error> {
        let device = &gpu.device;
        let (format, texels) = (input_format(layout), width * texels_per_pixel(layout));
        let a = make_texture(device, "diffimg image a", format, texels, height, false);
        let b = make_texture(device, "diffimg image b", format, texels, height, false);
        let (x, y) = dispatch_size(width, height, max_groups);
        let records_size = records_bytes(x, y);
        let records = make_buffer(
            device,
            "diffimg records",
            records_size,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        );
        let records_read = make_buffer(
            device,
            "diffimg records read-back",
            records_size,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let row_bytes = u64::from(width) * layout.bytes_per_pixel() as u64;
        let upload_b = texture_pitch(row_bytes) * u64::from(height);
        let upload = Staging::new(device, "diffimg upload", 2 * upload_b);
        let plain = bind(gpu, layout, params, &a, &b, None, &records)?;
        Ok(Frame {
            layout,
            width,
            height,
            a,
            b,
            records,
            records_read,
            upload,
            upload_b,
            plain,
            diff: None,
        })
    }

    pub(super) fn add_diff_target(
        &mut self,
        gpu: &Gpu,
        params: &wgpu::Buffer,
    ) -> Result<(), Error> {
        let device = &gpu.device;
        let (row_words, rows) = diff_shape(self.layout, self.width, self.height, gpu.max_texture);
        let texture = make_texture(device, "diffimg diff", DIFF_FORMAT, row_words, rows, true);
        let read = make_buffer(
            device,
            "diffimg diff read-back",
            4 * u64::from(row_words) * u64::from(rows),
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let view = texture.create_view(&Default::default());
        let bindings = bind(
            gpu,
            self.layout,
            params,
            &self.a,
            &self.b,
            Some(&view),
            &self.records,
        )?;
        self.diff = Some(DiffTarget {
            texture,
            row_words,
            read,
            bindings,
        });
        Ok(())
    }
}

pub(super) fn bind(
    gpu: &Gpu,
    layout: Layout,
    params: &wgpu::Buffer,
    a: &wgpu::Texture,
    b: &wgpu::Texture,
    diff: Option<&wgpu::TextureView>,
    records: &wgpu::Buffer,
) -> Result<wgpu::BindGroup, Error> {
    let pipeline = gpu.pipeline(layout)?;
    let a = a.create_view(&Default::default());
    let b = b.create_view(&Default::default());
    let label = if diff.is_some() {
        "diffimg bindings with diff"
    } else {
        "diffimg bindings without diff"
    };
    Ok(gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout: &pipeline.layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::TextureView(&a),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: wgpu::BindingResource::TextureView(&b),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: wgpu::BindingResource::TextureView(diff.unwrap_or(&pipeline.unused)),
            },
            wgpu::BindGroupEntry {
                binding: 4,
                resource: records.as_entire_binding(),
            },
        ],
    }))
}

/// Bytes of the records of `x` by `y` workgroups.
pub(super) fn records_bytes(x: u32, y: u32) -> u64 {
    u64::from(x) * u64::from(y) * size_of::<Record>() as u64
}
