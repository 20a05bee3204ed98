//! Upload memory kept from batch to batch: a buffer the host fills while it is mapped, that the
//! device then copies into a kernel's input textures or buffers, and that is mapped again, in
//! the background, as soon as that copy has run. Each batch costs one copy on the host, from
//! the decoded band into this buffer (the copy `write_texture` would make into staging memory
//! it allocates per call), and no allocation.

use std::sync::mpsc::Sender;

use super::context::map_error;
use crate::error::Error;

/// What a mapping reports when it is done.
pub(super) type Mapped = Sender<Result<(), wgpu::BufferAsyncError>>;

/// Bytes between rows copied into a texture: rows padded to the device's copy alignment.
pub(super) fn texture_pitch(row_bytes: u64) -> u64 {
    row_bytes.next_multiple_of(u64::from(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT))
}

/// A persistent upload buffer, mapped for writing whenever no copy from it is pending.
pub(super) struct Staging {
    buffer: wgpu::Buffer,
}

impl Staging {
    /// A buffer of at least `size` bytes, mapped and ready to be written.
    pub(super) fn new(device: &wgpu::Device, label: &str, size: u64) -> Staging {
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT).max(4),
            usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        Staging { buffer }
    }

    pub(super) fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Writes `source`'s rows, the first at `offset` and each next one `source.pitch` bytes
    /// after the last.
    pub(super) fn write_rows(&self, offset: u64, source: Rows) -> Result<(), Error> {
        let mut view = self.buffer.get_mapped_range_mut(..).map_err(map_error)?;
        let (offset, pitch, len) = (offset as usize, source.pitch as usize, source.row_bytes);
        if pitch == len && source.stride == len {
            let all = len * source.rows;
            view.slice(offset..offset + all)
                .copy_from_slice(&source.bytes[..all]);
        } else {
            for row in 0..source.rows {
                let at = offset + row * pitch;
                view.slice(at..at + len)
                    .copy_from_slice(&source.bytes[row * source.stride..][..len]);
            }
        }
        Ok(())
    }

    /// Writes `bytes` at `offset`, followed by zeros up to a whole number of words.
    pub(super) fn write_words(&self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        let mut view = self.buffer.get_mapped_range_mut(..).map_err(map_error)?;
        let (start, end) = (offset as usize, offset as usize + bytes.len());
        view.slice(start..end).copy_from_slice(bytes);
        view.slice(end..end.next_multiple_of(4)).fill(0);
        Ok(())
    }

    /// Ends the host's writes, so that the device may copy from the buffer.
    pub(super) fn unmap(&self) {
        self.buffer.unmap();
    }

    /// Maps the buffer again once the commands submitted so far have run; `done` hears when.
    pub(super) fn remap(&self, done: Mapped) {
        self.buffer
            .map_async(wgpu::MapMode::Write, .., move |result| {
                // The send fails only when the work was given up on: nothing left to tell.
                let _ = done.send(result);
            });
    }
}

/// Rows to write into a staging buffer.
#[derive(Clone, Copy)]
pub(super) struct Rows<'a> {
    /// The first row's bytes start here.
    pub(super) bytes: &'a [u8],
    /// Bytes from one source row to the next.
    pub(super) stride: usize,
    pub(super) row_bytes: usize,
    pub(super) rows: usize,
    /// Bytes from one written row to the next.
    pub(super) pitch: u64,
}
