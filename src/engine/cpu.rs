//! The CPU engine: exact integer sums over rows split between threads, with an inner loop
//! specialised per sample type and channel count so the compiler can vectorise it.

use rayon::prelude::*;

use super::{Band, Bounds, Engine, EngineInfo, Stats};
use crate::error::Error;
use crate::pixel::{Sample, Samples};

/// Rows handed to one thread at a time: enough work to outweigh the hand-over.
const MIN_SAMPLES_PER_TASK: usize = 1 << 16;

/// Pixels whose differences fit a `u32` accumulator per channel: 65535 * 65536 < 2^32.
const SEGMENT_PIXELS: usize = 1 << 16;

#[derive(Clone, Copy, Debug, Default)]
pub struct CpuEngine;

impl Engine for CpuEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo::Cpu
    }

    fn diff_band(
        &mut self,
        band: &Band,
        ignore_alpha: bool,
        mut diff: Option<&mut Samples>,
    ) -> Result<Stats, Error> {
        let range = band.counted();
        let mask = band.layout.counted_mask(ignore_alpha);
        let alpha_max = ignore_alpha && band.layout.has_alpha();
        let rows = Rows {
            width: band.width as usize,
            y: band.y,
            mask,
            alpha_max,
        };
        if let Some(out) = diff.as_deref_mut() {
            out.reset(band.layout.depth, range.len());
        }
        let channels = band.layout.channels;
        let stats = match (&band.a, &band.b) {
            (Samples::U8(a), Samples::U8(b)) => {
                let out = diff.and_then(u8::slice_mut);
                rows.run(channels, &a[range.clone()], &b[range], out)
            }
            (Samples::U16(a), Samples::U16(b)) => {
                let out = diff.and_then(u16::slice_mut);
                rows.run(channels, &a[range.clone()], &b[range], out)
            }
            _ => unreachable!("both images of a band share one layout"),
        };
        Ok(stats)
    }
}

/// What every row of a band shares.
#[derive(Clone, Copy)]
struct Rows {
    width: usize,
    y: u32,
    mask: u8,
    alpha_max: bool,
}

impl Rows {
    fn run<T: Sample>(self, channels: u8, a: &[T], b: &[T], out: Option<&mut [T]>) -> Stats {
        match channels {
            1 => self.split::<T, 1>(a, b, out),
            2 => self.split::<T, 2>(a, b, out),
            3 => self.split::<T, 3>(a, b, out),
            _ => self.split::<T, 4>(a, b, out),
        }
    }

    /// Splits the rows into tasks for the thread pool and merges their figures.
    fn split<T: Sample, const C: usize>(self, a: &[T], b: &[T], out: Option<&mut [T]>) -> Stats {
        let row_len = self.width * C;
        if row_len == 0 {
            return Stats::default();
        }
        let rows_per_task = MIN_SAMPLES_PER_TASK.div_ceil(row_len);
        let chunk = rows_per_task * row_len;
        let task = |(i, (a, b)): (usize, (&[T], &[T])), out: Option<&mut [T]>| {
            let y = self.y + (i * rows_per_task) as u32;
            self.rows::<T, C>(y, a, b, out)
        };
        match out {
            Some(out) => a
                .par_chunks(chunk)
                .zip(b.par_chunks(chunk))
                .enumerate()
                .zip(out.par_chunks_mut(chunk))
                .map(|(ab, out)| task(ab, Some(out)))
                .reduce(Stats::default, Stats::merge),
            None => a
                .par_chunks(chunk)
                .zip(b.par_chunks(chunk))
                .enumerate()
                .map(|ab| task(ab, None))
                .reduce(Stats::default, Stats::merge),
        }
    }

    fn rows<T: Sample, const C: usize>(
        self,
        y: u32,
        a: &[T],
        b: &[T],
        mut out: Option<&mut [T]>,
    ) -> Stats {
        let row_len = self.width * C;
        let masks: [u32; C] = std::array::from_fn(|c| if self.mask >> c & 1 == 1 { !0 } else { 0 });
        let mut stats = Stats::default();
        for (r, (ra, rb)) in a
            .chunks_exact(row_len)
            .zip(b.chunks_exact(row_len))
            .enumerate()
        {
            let row_out = out
                .as_deref_mut()
                .map(|out| &mut out[r * row_len..(r + 1) * row_len]);
            if ra == rb {
                // Equal rows, common in real images, cost a memcmp and add nothing.
                if let Some(row_out) = row_out {
                    write_diff::<T, C>(ra, rb, row_out, self.alpha_max);
                }
                continue;
            }
            let mut row_differing = 0;
            let segments = ra
                .chunks(SEGMENT_PIXELS * C)
                .zip(rb.chunks(SEGMENT_PIXELS * C));
            for (sa, sb) in segments {
                let seg = segment::<T, C>(sa, sb, &masks);
                for c in 0..C {
                    stats.sums[c] += u64::from(seg.sums[c]);
                }
                stats.max = stats.max.max(seg.max);
                row_differing += u64::from(seg.differing);
            }
            if row_differing > 0 {
                let differs =
                    |(pa, pb): (&[T], &[T])| (0..C).any(|c| pa[c] != pb[c] && masks[c] != 0);
                let pixels = || ra.chunks_exact(C).zip(rb.chunks_exact(C));
                // Both exist: this row has a differing pixel.
                let x0 = pixels().position(differs).unwrap_or(0) as u32;
                let x1 = (self.width - 1 - pixels().rev().position(differs).unwrap_or(0)) as u32;
                let y = y + r as u32;
                let row = Bounds {
                    x0,
                    y0: y,
                    x1,
                    y1: y,
                };
                stats.bounds = Some(stats.bounds.map_or(row, |b| b.union(row)));
                stats.differing += row_differing;
            }
            if let Some(row_out) = row_out {
                write_diff::<T, C>(ra, rb, row_out, self.alpha_max);
            }
        }
        stats
    }
}

/// Figures of a run of at most `SEGMENT_PIXELS` pixels, in `u32`.
struct Segment<const C: usize> {
    sums: [u32; C],
    differing: u32,
    max: u32,
}

/// Pixels processed side by side: the accumulators of a block fill whole vector registers.
const BLOCK: usize = 16;

#[inline(always)]
fn segment<T: Sample, const C: usize>(a: &[T], b: &[T], masks: &[u32; C]) -> Segment<C> {
    let masks: [T; C] = masks.map(|m| if m == 0 { T::ZERO } else { T::MAX });
    // One accumulator per lane of the block; added up across lanes at the end.
    let mut sums = [[0u32; C]; BLOCK];
    let mut maxes = [[T::ZERO; C]; BLOCK];
    let mut differing = [0u32; BLOCK];
    let blocks = a.chunks_exact(BLOCK * C).zip(b.chunks_exact(BLOCK * C));
    let tail = a.len() / (BLOCK * C) * BLOCK * C;
    for (ba, bb) in blocks {
        for p in 0..BLOCK {
            let mut any = T::ZERO;
            for c in 0..C {
                let d = ba[p * C + c].abs_diff(bb[p * C + c]);
                sums[p][c] += d.into();
                let counted = d & masks[c];
                maxes[p][c] = maxes[p][c].max(counted);
                any = any | counted;
            }
            differing[p] += u32::from(any != T::ZERO);
        }
    }
    let rest = a[tail..].chunks_exact(C).zip(b[tail..].chunks_exact(C));
    for (p, (pa, pb)) in rest.enumerate() {
        let mut any = T::ZERO;
        for c in 0..C {
            let d = pa[c].abs_diff(pb[c]);
            sums[p][c] += d.into();
            let counted = d & masks[c];
            maxes[p][c] = maxes[p][c].max(counted);
            any = any | counted;
        }
        differing[p] += u32::from(any != T::ZERO);
    }
    let mut total = Segment {
        sums: [0; C],
        differing: differing.iter().sum(),
        max: 0,
    };
    for p in 0..BLOCK {
        for c in 0..C {
            total.sums[c] += sums[p][c];
            total.max = total.max.max(maxes[p][c].into());
        }
    }
    total
}

fn write_diff<T: Sample, const C: usize>(a: &[T], b: &[T], out: &mut [T], alpha_max: bool) {
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x.abs_diff(*y);
    }
    if alpha_max {
        for px in out.chunks_exact_mut(C) {
            px[C - 1] = T::MAX;
        }
    }
}
