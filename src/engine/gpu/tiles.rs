//! Tiles: a band cut to fit the device's texture limit, and where each tile's diff, read back
//! in the band's layout, goes in the band's.

use super::context::cast_error;
use super::staging::texture_pitch;
use crate::engine::Band;
use crate::error::Error;
use crate::pixel::{Layout, Samples};

/// A tile of a band: `y` counts from the band's first counted row.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tile {
    pub(super) x: u32,
    pub(super) y: u32,
    pub(super) width: u32,
    pub(super) height: u32,
}

/// The diff texture for tiles of up to `width` x `height` pixels in `layout`, in words: the
/// packed samples of a tile row or more per texture row, whose bytes are a whole number of
/// copy rows (so that a tile's words come back without padding), and enough rows for them all.
pub(super) fn diff_shape(layout: Layout, width: u32, height: u32, max_texture: u32) -> (u32, u32) {
    let align = wgpu::COPY_BYTES_PER_ROW_ALIGNMENT / 4;
    let row_bytes = u64::from(width) * layout.bytes_per_pixel() as u64;
    let row_words = (texture_pitch(row_bytes) / 4) as u32;
    let row_words = row_words.min(max_texture / align * align).max(align);
    let words = diff_bytes(layout, width, height).div_ceil(4);
    (row_words, words.div_ceil(u64::from(row_words)) as u32)
}

/// Bytes of the diff of `width` x `height` pixels in `layout`.
pub(super) fn diff_bytes(layout: Layout, width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height) * layout.bytes_per_pixel() as u64
}

/// Copies a tile's diff, its samples in row-major order (`bytes`), into `out`, the band's.
pub(super) fn place_tile(
    bytes: &[u8],
    band: &Band,
    tile: Tile,
    out: &mut Samples,
) -> Result<(), Error> {
    match out {
        Samples::U8(out) => place(bytes, band, tile, out),
        Samples::U16(out) => {
            let samples = bytemuck::try_cast_slice(bytes).map_err(cast_error)?;
            place::<u16>(samples, band, tile, out);
        }
        Samples::F32(out) => {
            let samples = bytemuck::try_cast_slice(bytes).map_err(cast_error)?;
            place::<f32>(samples, band, tile, out);
        }
    }
    Ok(())
}

fn place<T: Copy>(samples: &[T], band: &Band, tile: Tile, out: &mut [T]) {
    let len = tile.width as usize * usize::from(band.layout.channels);
    let start =
        tile.y as usize * band.row_len() + tile.x as usize * usize::from(band.layout.channels);
    if len == band.row_len() {
        let all = len * tile.height as usize;
        out[start..start + all].copy_from_slice(&samples[..all]);
        return;
    }
    for (r, row) in samples
        .chunks_exact(len)
        .take(tile.height as usize)
        .enumerate()
    {
        let at = start + r * band.row_len();
        out[at..at + len].copy_from_slice(row);
    }
}
