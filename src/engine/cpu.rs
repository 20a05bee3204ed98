//! The CPU engine: exact integer sums over a band's rows, on the calling thread or split
//! between rayon's threads. The row kernel is specialised per sample type and channel count:
//! SSE2 for 8-bit samples on x86-64, plain Rust written for the compiler to vectorise otherwise.

pub(crate) mod flip;
mod float;
mod perceptual;
#[cfg(target_arch = "x86_64")]
mod sse2;
pub(crate) mod ssim;

use rayon::prelude::*;

use super::flip::FlipRule;
use super::perceptual::{Planes, Rule};
use super::ssim::SsimRule;
use super::{Band, Bounds, Engine, EngineInfo, MaxAt, Stats};
use crate::error::Error;
use crate::pixel::{Depth, Layout, Sample, Samples};

/// Rows handed to one thread at a time: enough work to outweigh the hand-over.
const MIN_SAMPLES_PER_TASK: usize = 1 << 16;

/// Pixels whose differences fit a `u32` accumulator per channel: 65535 * 65536 < 2^32.
const SEGMENT_PIXELS: usize = 1 << 16;

/// The CPU engine. With `parallel`, a band's rows are split between rayon's threads; without,
/// the band is diffed on the calling thread, which is faster when other threads (decoders)
/// already keep every core busy.
#[derive(Clone, Copy, Debug)]
pub struct CpuEngine {
    pub parallel: bool,
}

impl Default for CpuEngine {
    fn default() -> CpuEngine {
        CpuEngine { parallel: true }
    }
}

impl CpuEngine {
    /// Diffs two images of `layout` held elsewhere in memory (such as arrays read in place),
    /// whole and without copying: `a` and `b` are their samples from the first row on, in
    /// native byte order. No diff image. `None` when 16-bit samples are not aligned.
    pub fn diff_in_place(
        &self,
        layout: Layout,
        width: u32,
        a: &[u8],
        b: &[u8],
        ignore_alpha: bool,
    ) -> Option<Stats> {
        let rows = Rows {
            parallel: self.parallel,
            width: width as usize,
            y: 0,
            mask: layout.counted_mask(ignore_alpha),
            alpha_max: ignore_alpha && layout.has_alpha(),
        };
        match layout.depth {
            Depth::Eight => Some(rows.run::<u8>(layout.channels, a, b, None)),
            Depth::Sixteen => {
                let a: &[u16] = bytemuck::try_cast_slice(a).ok()?;
                let b: &[u16] = bytemuck::try_cast_slice(b).ok()?;
                Some(rows.run(layout.channels, a, b, None))
            }
            Depth::Float => {
                let a: &[f32] = bytemuck::try_cast_slice(a).ok()?;
                let b: &[f32] = bytemuck::try_cast_slice(b).ok()?;
                let channels = usize::from(layout.channels);
                Some(float::diff_rows(rows, channels, a, b, None))
            }
        }
    }
}

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
            parallel: self.parallel,
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
            (Samples::F32(a), Samples::F32(b)) => {
                let out = match diff {
                    Some(Samples::F32(out)) => Some(out.as_mut_slice()),
                    _ => None,
                };
                let (a, b) = (&a[range.clone()], &b[range]);
                float::diff_rows(rows, usize::from(channels), a, b, out)
            }
            _ => unreachable!("both images of a band share one layout"),
        };
        Ok(stats)
    }

    fn perceive_band(&mut self, band: &Band, rule: &Rule, out: &mut Planes) -> Result<(), Error> {
        perceptual::perceive(band, rule, out);
        Ok(())
    }

    /// On every core whatever `parallel` says: the filters cost many times what decoding does,
    /// so the decoders leave cores idle meanwhile.
    fn flip_band(&mut self, band: &Band, rule: &FlipRule, out: &mut Vec<f32>) -> Result<(), Error> {
        flip::flip_band(band, rule, true, out);
        Ok(())
    }

    /// On every core, as `flip_band`.
    fn ssim_band(&mut self, band: &Band, rule: &SsimRule, out: &mut Vec<f32>) -> Result<(), Error> {
        ssim::ssim_band(band, rule, true, out);
        Ok(())
    }
}

/// What every row of a band shares.
#[derive(Clone, Copy)]
struct Rows {
    parallel: bool,
    width: usize,
    y: u32,
    mask: u8,
    alpha_max: bool,
}

impl Rows {
    fn run<T: Kernel>(self, channels: u8, a: &[T], b: &[T], out: Option<&mut [T]>) -> Stats {
        match channels {
            1 => self.split::<T, 1>(a, b, out),
            2 => self.split::<T, 2>(a, b, out),
            3 => self.split::<T, 3>(a, b, out),
            _ => self.split::<T, 4>(a, b, out),
        }
    }

    /// Diffs the rows, split into tasks for the thread pool when `parallel`, and merges their
    /// figures.
    fn split<T: Kernel, const C: usize>(self, a: &[T], b: &[T], out: Option<&mut [T]>) -> Stats {
        let row_len = self.width * C;
        if row_len == 0 {
            return Stats::default();
        }
        if !self.parallel {
            return self.rows::<T, C>(self.y, a, b, out);
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

    fn rows<T: Kernel, const C: usize>(
        self,
        y: u32,
        a: &[T],
        b: &[T],
        mut out: Option<&mut [T]>,
    ) -> Stats {
        let row_len = self.width * C;
        let counted: [bool; C] = std::array::from_fn(|c| self.mask >> c & 1 == 1);
        let mut stats = Stats::default();
        for (r, (ra, rb)) in a
            .chunks_exact(row_len)
            .zip(b.chunks_exact(row_len))
            .enumerate()
        {
            if let Some(out) = out.as_deref_mut() {
                let row_out = &mut out[r * row_len..(r + 1) * row_len];
                write_diff::<T, C>(ra, rb, row_out, self.alpha_max);
            }
            if ra == rb {
                // Equal rows, common in real images, cost a memcmp and add nothing.
                continue;
            }
            let row = T::row::<C>(ra, rb, counted);
            for c in 0..C {
                stats.sums[c] += u128::from(row.sums[c]);
                stats.squares[c] += u128::from(row.squares[c]);
            }
            if row.max > stats.max {
                let (x, channel) = first_max::<T, C>(ra, rb, counted, row.max);
                let y = y + r as u32;
                stats.max_at = Some(MaxAt { x, y, channel });
            }
            stats.max = stats.max.max(row.max);
            stats.differing += row.differing;
            if let Some((x0, x1)) = row.span {
                let y = y + r as u32;
                let row = Bounds {
                    x0: x0 as u32,
                    y0: y,
                    x1: x1 as u32,
                    y1: y,
                };
                stats.bounds = Some(stats.bounds.map_or(row, |b| b.union(row)));
            }
        }
        stats
    }
}

/// The first pixel of a row where a counted channel differs by `max`, and that channel.
fn first_max<T: Sample, const C: usize>(
    a: &[T],
    b: &[T],
    counted: [bool; C],
    max: u32,
) -> (u32, u8) {
    let pixels = a.chunks_exact(C).zip(b.chunks_exact(C)).enumerate();
    for (x, (pa, pb)) in pixels {
        for c in 0..C {
            let d: u32 = pa[c].abs_diff(pb[c]).into();
            if counted[c] && d == max {
                return (x as u32, c as u8);
            }
        }
    }
    unreachable!("the row's largest difference is in the row")
}

/// Figures of one row: `span` holds the first and last differing pixel.
#[derive(Debug, PartialEq, Eq)]
struct RowFigures<const C: usize> {
    sums: [u64; C],
    squares: [u64; C],
    differing: u64,
    max: u32,
    span: Option<(usize, usize)>,
}

impl<const C: usize> Default for RowFigures<C> {
    fn default() -> Self {
        RowFigures {
            sums: [0; C],
            squares: [0; C],
            differing: 0,
            max: 0,
            span: None,
        }
    }
}

impl<const C: usize> RowFigures<C> {
    /// Takes in differing pixels from `first` to `last`, met from left to right.
    fn extend_span(&mut self, first: usize, last: usize) {
        self.span = Some(self.span.map_or((first, last), |(x0, _)| (x0, last)));
    }
}

/// The row kernel of a sample type.
trait Kernel: Sample {
    fn row<const C: usize>(a: &[Self], b: &[Self], counted: [bool; C]) -> RowFigures<C> {
        portable_row(a, b, counted)
    }
}

impl Kernel for u16 {}

#[cfg(target_arch = "x86_64")]
impl Kernel for u8 {
    fn row<const C: usize>(a: &[u8], b: &[u8], counted: [bool; C]) -> RowFigures<C> {
        sse2::row(a, b, counted)
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl Kernel for u8 {}

/// The kernel in plain Rust, written for the compiler to vectorise: the rows split into
/// segments whose sums fit `u32` lanes.
fn portable_row<T: Sample, const C: usize>(a: &[T], b: &[T], counted: [bool; C]) -> RowFigures<C> {
    let masks: [T; C] = counted.map(|c| if c { T::MAX } else { T::ZERO });
    let mut figures = RowFigures::<C>::default();
    for (sa, sb) in a
        .chunks(SEGMENT_PIXELS * C)
        .zip(b.chunks(SEGMENT_PIXELS * C))
    {
        let seg = segment::<T, C>(sa, sb, &masks);
        for c in 0..C {
            figures.sums[c] += u64::from(seg.sums[c]);
            figures.squares[c] += seg.squares[c];
        }
        figures.max = figures.max.max(seg.max);
        figures.differing += u64::from(seg.differing);
    }
    if figures.differing > 0 {
        let differs = |(pa, pb): (&[T], &[T])| (0..C).any(|c| pa[c] != pb[c] && counted[c]);
        let pixels = || a.chunks_exact(C).zip(b.chunks_exact(C));
        // Both exist: this row has a differing pixel.
        let x0 = pixels().position(differs).unwrap_or(0);
        let x1 = a.len() / C - 1 - pixels().rev().position(differs).unwrap_or(0);
        figures.span = Some((x0, x1));
    }
    figures
}

/// Figures of a run of at most `SEGMENT_PIXELS` pixels, in `u32` (squares in `u64`).
struct Segment<const C: usize> {
    sums: [u32; C],
    squares: [u64; C],
    differing: u32,
    max: u32,
}

/// Pixels processed side by side: the accumulators of a block fill whole vector registers.
const BLOCK: usize = 16;

#[inline(always)]
fn segment<T: Sample, const C: usize>(a: &[T], b: &[T], masks: &[T; C]) -> Segment<C> {
    // One accumulator per lane of the block; added up across lanes at the end.
    let mut sums = [[0u32; C]; BLOCK];
    let mut squares = [[0u64; C]; BLOCK];
    let mut maxes = [[T::ZERO; C]; BLOCK];
    let mut differing = [0u32; BLOCK];
    let blocks = a.chunks_exact(BLOCK * C).zip(b.chunks_exact(BLOCK * C));
    let tail = a.len() / (BLOCK * C) * BLOCK * C;
    for (ba, bb) in blocks {
        for p in 0..BLOCK {
            let mut any = T::ZERO;
            for c in 0..C {
                let d = ba[p * C + c].abs_diff(bb[p * C + c]);
                let d32: u32 = d.into();
                sums[p][c] += d32;
                squares[p][c] += u64::from(d32 * d32);
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
            let d32: u32 = d.into();
            sums[p][c] += d32;
            squares[p][c] += u64::from(d32 * d32);
            let counted = d & masks[c];
            maxes[p][c] = maxes[p][c].max(counted);
            any = any | counted;
        }
        differing[p] += u32::from(any != T::ZERO);
    }
    let mut total = Segment {
        sums: [0; C],
        squares: [0; C],
        differing: differing.iter().sum(),
        max: 0,
    };
    for p in 0..BLOCK {
        for c in 0..C {
            total.sums[c] += sums[p][c];
            total.squares[c] += squares[p][c];
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Widths around one step of 16 pixels, and rows long enough to widen the 16-bit lanes.
    const WIDTHS: [usize; 8] = [1, 2, 15, 16, 17, 63, 4097, 9001];

    fn random(rng: &mut fastrand::Rng, len: usize) -> Vec<u8> {
        (0..len).map(|_| rng.u8(..)).collect()
    }

    /// The 8-bit kernel against the portable one, on noise, extreme values and a few edits.
    fn u8_kernel_matches_portable<const C: usize>(rng: &mut fastrand::Rng) {
        for width in WIDTHS {
            let len = width * C;
            let edited = random(rng, len);
            let mut edits = edited.clone();
            for _ in 0..3 {
                let i = rng.usize(..len);
                edits[i] = edits[i].wrapping_add(rng.u8(1..));
            }
            let cases = [
                (random(rng, len), random(rng, len)),
                (vec![0; len], vec![255; len]),
                (edited, edits),
            ];
            for (a, b) in &cases {
                for ignore_last in [false, true] {
                    let counted: [bool; C] = std::array::from_fn(|c| !ignore_last || c + 1 < C);
                    assert_eq!(
                        u8::row(a, b, counted),
                        portable_row(a, b, counted),
                        "{C} channels, width {width}, counted {counted:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn one_thread_and_many_agree() {
        use crate::pixel::Layout;
        let mut rng = fastrand::Rng::with_seed(11);
        // Enough rows for several tasks; one row in five edited, the rest equal.
        let (width, rows) = (300u32, 700u32);
        let len = (width * rows * 4) as usize;
        let a = random(&mut rng, len);
        let mut b = a.clone();
        for row in (0..rows as usize).step_by(5) {
            let i = row * width as usize * 4 + rng.usize(..width as usize * 4);
            b[i] = b[i].wrapping_add(rng.u8(1..));
        }
        let band = Band {
            width,
            y: 40,
            rows,
            halo_above: 0,
            halo_below: 0,
            layout: Layout::RGBA8,
            a: Samples::U8(a),
            b: Samples::U8(b),
        };
        for ignore_alpha in [false, true] {
            let run = |parallel| {
                let mut diff = Samples::U8(Vec::new());
                let stats = CpuEngine { parallel }
                    .diff_band(&band, ignore_alpha, Some(&mut diff))
                    .unwrap();
                (stats, diff)
            };
            let (one, many) = (run(false), run(true));
            assert_eq!(one.0, many.0);
            assert!(one.1.as_bytes() == many.1.as_bytes(), "diff pixels differ");
            if !ignore_alpha {
                assert_eq!(one.0.differing, u64::from(rows).div_ceil(5));
            }
        }
    }

    #[test]
    fn u8_kernel_matches_portable_for_every_channel_count() {
        let mut rng = fastrand::Rng::with_seed(7);
        u8_kernel_matches_portable::<1>(&mut rng);
        u8_kernel_matches_portable::<2>(&mut rng);
        u8_kernel_matches_portable::<3>(&mut rng);
        u8_kernel_matches_portable::<4>(&mut rng);
    }
}
