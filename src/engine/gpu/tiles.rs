//! Tiles: a band cut to fit the device's texture limit, and its RGBA diff texels brought back
//! to the band's layout.

use super::context::cast_error;
use super::frame::texel_bytes;
use super::ratio::SLOTS;
use crate::engine::Band;
use crate::error::Error;
use crate::pixel::{Depth, Sample, Samples};

/// Bytes of one row of a texture copied into a buffer.
pub(super) fn padded_row(width: u32, depth: Depth) -> u32 {
    (width * texel_bytes(depth)).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
}

/// A tile of a band: `y` counts from the band's first counted row.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tile {
    pub(super) x: u32,
    pub(super) y: u32,
    pub(super) width: u32,
    pub(super) height: u32,
}

impl Tile {
    pub(super) fn extent(self) -> wgpu::Extent3d {
        wgpu::Extent3d {
            width: self.width,
            height: self.height,
            depth_or_array_layers: 1,
        }
    }
}

/// Copies the tile's diff texels (rows of `padded` bytes) into `out`, in the band's layout.
pub(super) fn contract_tile(
    bytes: &[u8],
    padded: usize,
    band: &Band,
    tile: Tile,
    out: &mut Samples,
) -> Result<(), Error> {
    match out {
        Samples::U8(out) => contract(bytes, padded, band, tile, out),
        Samples::U16(out) => {
            let texels = bytemuck::try_cast_slice(bytes).map_err(cast_error)?;
            contract::<u16>(texels, padded / 2, band, tile, out);
        }
    }
    Ok(())
}

pub(super) fn contract<T: Sample>(
    texels: &[T],
    padded: usize,
    band: &Band,
    tile: Tile,
    out: &mut [T],
) {
    let channels = usize::from(band.layout.channels);
    let slots = SLOTS[channels];
    let len = tile.width as usize * channels;
    for (r, row) in texels.chunks(padded).take(tile.height as usize).enumerate() {
        let row = &row[..tile.width as usize * 4];
        let start = (tile.y as usize + r) * band.row_len() + tile.x as usize * channels;
        let dst = &mut out[start..start + len];
        if channels == 4 {
            dst.copy_from_slice(row);
        } else {
            for (texel, pixel) in row.chunks_exact(4).zip(dst.chunks_exact_mut(channels)) {
                for (value, &slot) in pixel.iter_mut().zip(slots) {
                    *value = texel[slot];
                }
            }
        }
    }
}
