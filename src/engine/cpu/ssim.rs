//! The SSIM kernel on the CPU, in f64 as scikit-image computes it. The window sums of x, y,
//! x², y² and xy (x from image a, y from image b) are weighed along each row, then down the
//! columns through a ring of the last 11 weighed rows per colour channel, one strip of 64
//! columns at a time so that the rings stay in the second-level cache. The loops run over
//! whole strips for the compiler to vectorise (with AVX2 where the CPU has it; no FMA, so every
//! CPU gets the same bits), and the counted rows are split between rayon's threads. A pixel's
//! result depends only on its window, so bands of any height give the same bits.

use rayon::prelude::*;

use crate::engine::Band;
use crate::engine::ssim::{RADIUS, SsimRule, TAPS, ssim, weights};
use crate::pixel::Samples;

const R: usize = RADIUS as usize;

/// Output columns weighed together: 11 rows of five quantities of a strip of three channels
/// fill 84 KiB.
const STRIP: usize = 64;

/// Output columns weighed together, in registers.
const LANES: usize = 16;

/// Input columns a strip reads.
const SPAN: usize = STRIP + TAPS - 1;

/// Fewest rows a task takes: a task weighs 10 rows beyond its own along the rows.
const MIN_TASK_ROWS: usize = 16;

/// Rows ahead of the weighed one whose strip is asked for early.
const AHEAD: usize = 4;

/// The five window quantities: x, y, x², y², xy.
const QUANTITIES: usize = 5;

/// Five quantities of one weighed row of a strip.
type Filtered = [[f64; STRIP]; QUANTITIES];

/// See `Engine::ssim_band`.
pub fn ssim_band(band: &Band, rule: &SsimRule, parallel: bool, out: &mut Vec<f32>) {
    let channels = rule.channels(band.layout);
    out.clear();
    out.resize(band.rows as usize * band.width as usize * channels, 1.0);
    match (&band.a, &band.b) {
        (Samples::U8(a), Samples::U8(b)) => by_channels(band, rule, a, b, parallel, out),
        (Samples::U16(a), Samples::U16(b)) => by_channels(band, rule, a, b, parallel, out),
        (Samples::F32(a), Samples::F32(b)) => by_channels(band, rule, a, b, parallel, out),
        _ => unreachable!("both images of a band share one layout"),
    }
}

fn by_channels<T: Copy + Into<f64> + Sync>(
    band: &Band,
    rule: &SsimRule,
    a: &[T],
    b: &[T],
    parallel: bool,
    out: &mut [f32],
) {
    match band.layout.channels {
        1 => Frame::<T, 1>::new(band, rule, a, b).run(parallel, out),
        2 => Frame::<T, 2>::new(band, rule, a, b).run(parallel, out),
        3 => Frame::<T, 3>::new(band, rule, a, b).run(parallel, out),
        _ => Frame::<T, 4>::new(band, rule, a, b).run(parallel, out),
    }
}

/// Both images of a band, halo rows included, and what every task shares.
struct Frame<'a, T, const C: usize> {
    /// Pixels of `C` samples.
    a: &'a [[T; C]],
    b: &'a [[T; C]],
    width: usize,
    /// Colour channels compared (and written per pixel).
    channels: usize,
    halo_above: usize,
    /// Rows held, halo rows included.
    held: usize,
    /// Counted rows.
    rows: usize,
    /// The window's weights from the centre outwards.
    half: [f64; R + 1],
    c1: f64,
    c2: f64,
}

impl<'a, T: Copy + Into<f64> + Sync, const C: usize> Frame<'a, T, C> {
    fn new(band: &Band, rule: &SsimRule, a: &'a [T], b: &'a [T]) -> Frame<'a, T, C> {
        let w = weights();
        Frame {
            a: a.as_chunks().0,
            b: b.as_chunks().0,
            width: band.width as usize,
            channels: rule.channels(band.layout),
            halo_above: band.halo_above as usize,
            held: (band.halo_above + band.rows + band.halo_below) as usize,
            rows: band.rows as usize,
            half: std::array::from_fn(|d| w[R + d]),
            c1: rule.c1(),
            c2: rule.c2(),
        }
    }

    /// The counted rows whose window lies in the held rows.
    fn computed(&self) -> std::ops::Range<usize> {
        let first = R.saturating_sub(self.halo_above);
        let end = (self.held.saturating_sub(R + self.halo_above)).min(self.rows);
        first..end.max(first)
    }

    fn run(&self, parallel: bool, out: &mut [f32]) {
        let row_len = self.width * self.channels;
        let rows = self.computed();
        if self.width < TAPS || rows.is_empty() {
            return;
        }
        let out = &mut out[rows.start * row_len..rows.end * row_len];
        if !parallel {
            return self.task(rows.start, out);
        }
        let per_task = rows
            .len()
            .div_ceil(4 * rayon::current_num_threads())
            .max(MIN_TASK_ROWS);
        out.par_chunks_mut(per_task * row_len)
            .enumerate()
            .for_each(|(i, out)| self.task(rows.start + i * per_task, out));
    }

    /// Fills `out` from counted row `first` on, with AVX2 where the CPU has it.
    fn task(&self, first: usize, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has just been found to have AVX2.
            return unsafe { self.task_avx2(first, out) };
        }
        self.rows(first, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn task_avx2(&self, first: usize, out: &mut [f32]) {
        self.rows(first, out);
    }

    #[inline(always)]
    fn rows(&self, first: usize, out: &mut [f32]) {
        let count = out.len() / (self.width * self.channels);
        // Per channel, the weighed rows: held row y at y % TAPS.
        let mut rings = vec![[[[0.0; STRIP]; QUANTITIES]; TAPS]; self.channels];
        let mut means = [[0.0; STRIP]; QUANTITIES];
        // Held rows of the first and past the last output row.
        let (top, end) = (self.halo_above + first, self.halo_above + first + count);
        for x0 in (0..self.width - 2 * R).step_by(STRIP) {
            for y in top - R..end + R {
                self.prefetch(y + AHEAD, x0);
                for (channel, ring) in rings.iter_mut().enumerate() {
                    self.weigh_row(y, channel, x0, &mut ring[y % TAPS]);
                    if y >= top + R {
                        self.column_means(ring, y - R, &mut means);
                        self.write(&means, (y - R - top) * self.width, channel, x0, out);
                    }
                }
            }
        }
    }

    /// Asks the cache for the strip of held row `y` (when held) of both images: rows lie a row
    /// of samples apart, a stride the hardware's prefetcher does not follow.
    #[inline(always)]
    fn prefetch(&self, y: usize, x0: usize) {
        #[cfg(target_arch = "x86_64")]
        if y < self.held {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let start = y * self.width + x0;
            let end = (start + SPAN).min((y + 1) * self.width);
            for pixels in [&self.a[start..end], &self.b[start..end]] {
                let first = pixels.as_ptr().cast::<i8>();
                let bytes = std::mem::size_of_val(pixels);
                for offset in (0..bytes).step_by(64).chain([bytes - 1]) {
                    // SAFETY: every x86-64 CPU has SSE, and a prefetch reads nothing.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(first.wrapping_add(offset)) };
                }
            }
        }
    }

    /// Weighs along held row `y` the five quantities of `channel` for the strip of output
    /// columns from `R + x0`.
    #[inline(always)]
    fn weigh_row(&self, y: usize, channel: usize, x0: usize, dst: &mut Filtered) {
        // x from image a, v from image b (y is the row).
        let mut x = [0.0; SPAN];
        let mut v = [0.0; SPAN];
        let start = y * self.width + x0;
        let len = SPAN.min(self.width - x0);
        let (a, b) = (&self.a[start..start + len], &self.b[start..start + len]);
        for (x, a) in x.iter_mut().zip(a) {
            *x = a[channel].into();
        }
        for (v, b) in v.iter_mut().zip(b) {
            *v = b[channel].into();
        }
        let (mut xx, mut vv, mut xv) = ([0.0; SPAN], [0.0; SPAN], [0.0; SPAN]);
        for i in 0..SPAN {
            xx[i] = x[i] * x[i];
            vv[i] = v[i] * v[i];
            xv[i] = x[i] * v[i];
        }
        for (src, dst) in [&x, &v, &xx, &vv, &xv].into_iter().zip(dst) {
            let taps = std::array::from_fn(|j| {
                src[j..j + STRIP]
                    .try_into()
                    .expect("a span holds a strip and 10 columns")
            });
            weigh(&self.half, taps, dst);
        }
    }

    /// The means of the windows centred on held row `y`, from the ring of weighed rows.
    #[inline(always)]
    fn column_means(&self, ring: &[Filtered; TAPS], y: usize, means: &mut Filtered) {
        for (q, dst) in means.iter_mut().enumerate() {
            // Held row y - R + j is in the ring at (y - R + j) % TAPS.
            let taps = std::array::from_fn(|j| &ring[(y + j + TAPS - R) % TAPS][q]);
            weigh(&self.half, taps, dst);
        }
    }

    /// Writes the SSIM of the strip's pixels of the output row at `row` (its first sample).
    #[inline(always)]
    fn write(&self, m: &Filtered, row: usize, channel: usize, x0: usize, out: &mut [f32]) {
        let mut s = [0.0; STRIP];
        for (u, s) in s.iter_mut().enumerate() {
            *s = ssim(
                m[0][u], m[1][u], m[2][u], m[3][u], m[4][u], self.c1, self.c2,
            );
        }
        let len = STRIP.min(self.width - 2 * R - x0);
        let first = (row + R + x0) * self.channels + channel;
        let dst = out[first..].iter_mut().step_by(self.channels);
        for (dst, s) in dst.zip(&s).take(len) {
            *dst = *s as f32;
        }
    }
}

/// `dst = half[0] taps[R] + half[d] (taps[R - d] + taps[R + d])` for d from 1 to R, added in
/// that order: one axis of the window, over a strip.
#[inline(always)]
fn weigh(half: &[f64; R + 1], taps: [&[f64; STRIP]; TAPS], dst: &mut [f64; STRIP]) {
    for (b, dst) in dst.as_chunks_mut::<LANES>().0.iter_mut().enumerate() {
        let tap = |j: usize, l: usize| taps[j][b * LANES + l];
        let mut sum: [f64; LANES] = std::array::from_fn(|l| half[0] * tap(R, l));
        for (d, w) in half.iter().enumerate().skip(1) {
            for (l, sum) in sum.iter_mut().enumerate() {
                *sum += w * (tap(R - d, l) + tap(R + d, l));
            }
        }
        *dst = sum;
    }
}
