//! Tiles: a band cut to fit the device's texture limit, each tile's figures added up from its
//! workgroups' records, and where its diff, read back in the band's layout, goes in the band's.

use super::super::context::cast_error;
use super::super::staging::texture_pitch;
use super::{Record, SLOTS};
use crate::engine::float;
use crate::engine::{Band, Bounds, MaxAt, Stats};
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
