//! The frame a tile is diffed in: input textures in the band's own layout, the diff target,
//! the workgroup records and their read-back buffers, the bindings that join them, and the
//! upload of a tile into it.

use super::super::context::{Gpu, make_buffer};
use super::super::staging::{Rows, Staging, texture_pitch};
use super::pipeline::{DIFF_FORMAT, Pipeline, input_format, make_texture, texels_per_pixel};
use super::tiles::{Tile, diff_shape};
use super::{Record, dispatch_size};
use crate::engine::Band;
use crate::error::Error;
use crate::pixel::Layout;

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

    /// A frame on `gpu` bound to `pipeline`, `layout`'s.
    pub(super) fn new(
        gpu: &Gpu,
        pipeline: &Pipeline,
        params: &wgpu::Buffer,
        max_groups: u32,
        layout: Layout,
        width: u32,
        height: u32,
    ) -> Frame {
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
        let plain = bind(device, pipeline, params, &a, &b, None, &records);
        Frame {
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
        }
    }

    pub(super) fn add_diff_target(
        &mut self,
        gpu: &Gpu,
        pipeline: &Pipeline,
        params: &wgpu::Buffer,
    ) {
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
            device,
            pipeline,
            params,
            &self.a,
            &self.b,
            Some(&view),
            &self.records,
        );
        self.diff = Some(DiffTarget {
            texture,
            row_words,
            read,
            bindings,
        });
    }
}

fn bind(
    device: &wgpu::Device,
    pipeline: &Pipeline,
    params: &wgpu::Buffer,
    a: &wgpu::Texture,
    b: &wgpu::Texture,
    diff: Option<&wgpu::TextureView>,
    records: &wgpu::Buffer,
) -> wgpu::BindGroup {
    let a = a.create_view(&Default::default());
    let b = b.create_view(&Default::default());
    let label = if diff.is_some() {
        "diffimg bindings with diff"
    } else {
        "diffimg bindings without diff"
    };
    device.create_bind_group(&wgpu::BindGroupDescriptor {
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
    })
}

/// Bytes of the records of `x` by `y` workgroups.
pub(super) fn records_bytes(x: u32, y: u32) -> u64 {
    u64::from(x) * u64::from(y) * size_of::<Record>() as u64
}

/// Writes the tile of both images of `band` into `frame`'s staging buffer, rows at the copy
/// pitch, straight from the band (in its own layout, from the tile's column), and records the
/// copies from there into the input textures.
pub(super) fn upload(
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
