//! The CPU kernel for floating-point bands, by the rules of `engine::float`.

use rayon::prelude::*;

use super::Rows;
use crate::engine::float::{Channel, compare};
use crate::engine::{Bounds, MaxAt, Stats};

/// Rows in one task when split between threads.
const ROWS_PER_TASK: usize = 16;

/// The figures (and, with `out`, the diff samples) of `a` against `b`: rows of pixels of
/// `channels` samples, shaped as `rows` says.
pub(super) fn diff_rows(
    rows: Rows,
    channels: usize,
    a: &[f32],
    b: &[f32],
    out: Option<&mut [f32]>,
) -> Stats {
    let row_len = rows.width * channels;
    if row_len == 0 {
        return Stats::default();
    }
    let floats = Floats { rows, channels };
    let chunk = if rows.parallel {
        ROWS_PER_TASK * row_len
    } else {
        a.len().max(1)
    };
    let task = |i: usize, a: &[f32], b: &[f32], out: Option<&mut [f32]>| {
        floats.run(rows.y + (i * chunk / row_len) as u32, a, b, out)
    };
    match out {
        Some(out) => a
            .par_chunks(chunk)
            .zip(b.par_chunks(chunk))
            .zip(out.par_chunks_mut(chunk))
            .enumerate()
            .map(|(i, ((a, b), out))| task(i, a, b, Some(out)))
            .reduce(Stats::default, Stats::merge),
        None => a
            .par_chunks(chunk)
            .zip(b.par_chunks(chunk))
            .enumerate()
            .map(|(i, (a, b))| task(i, a, b, None))
            .reduce(Stats::default, Stats::merge),
    }
}

/// The rows of a band of floats, and their samples per pixel.
#[derive(Clone, Copy)]
struct Floats {
    rows: Rows,
    channels: usize,
}

impl Floats {
    fn run(self, y: u32, a: &[f32], b: &[f32], mut out: Option<&mut [f32]>) -> Stats {
        let row_len = self.rows.width * self.channels;
        let mut stats = Stats::default();
        let rows = a.chunks_exact(row_len).zip(b.chunks_exact(row_len));
        for (r, (ra, rb)) in rows.enumerate() {
            let out = out.as_deref_mut().map(|o| &mut o[r * row_len..][..row_len]);
            let y = y + r as u32;
            if bytemuck::cast_slice::<f32, u32>(ra) == bytemuck::cast_slice::<f32, u32>(rb) {
                // Rows equal bit for bit, common in real images: nothing to count.
                if let Some(out) = out {
                    out.fill(0.0);
                    if self.rows.alpha_max {
                        out.chunks_exact_mut(self.channels)
                            .for_each(|px| px[px.len() - 1] = 1.0);
                    }
                }
                continue;
            }
            stats = stats.merge(self.row(y, ra, rb, out));
        }
        stats
    }

    fn row(self, y: u32, a: &[f32], b: &[f32], mut out: Option<&mut [f32]>) -> Stats {
        let c = self.channels;
        let mut stats = Stats::default();
        let pixels = a.chunks_exact(c).zip(b.chunks_exact(c)).enumerate();
        for (p, (pa, pb)) in pixels {
            let x = p as u32;
            let mut differs = false;
            let mut max = (0, 0);
            for k in 0..c {
                let channel = compare(pa[k].to_bits(), pb[k].to_bits());
                let q = channel.fixed();
                stats.sums[k] += u128::from(q);
                stats.squares[k] += u128::from(q) * u128::from(q);
                let counted = self.rows.mask >> k & 1 == 1;
                if let Some(out) = out.as_deref_mut() {
                    let bits = match self.rows.alpha_max && k == c - 1 {
                        true => 1f32.to_bits(),
                        false => channel.bits(),
                    };
                    out[p * c + k] = f32::from_bits(bits);
                }
                if !counted {
                    continue;
                }
                match channel {
                    Channel::Finite(0) => {}
                    Channel::Finite(bits) => {
                        differs = true;
                        if bits > max.0 {
                            max = (bits, k);
                        }
                    }
                    Channel::Nan => (differs, stats.nan) = (true, stats.nan + 1),
                    Channel::Inf => (differs, stats.inf) = (true, stats.inf + 1),
                }
            }
            if !differs {
                continue;
            }
            stats.differing += 1;
            let point = Bounds {
                x0: x,
                y0: y,
                x1: x,
                y1: y,
            };
            stats.bounds = Some(stats.bounds.map_or(point, |b| b.union(point)));
            if max.0 > stats.max {
                stats.max = max.0;
                let channel = max.1 as u8;
                stats.max_at = Some(MaxAt { x, y, channel });
            }
        }
        stats
    }
}
