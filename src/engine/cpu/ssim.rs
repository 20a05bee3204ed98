//! The SSIM kernel on the CPU, in f64 as scikit-image computes it. The window means of x, y,
//! x², y² and xy are filtered along each row, then down the columns through a ring of the last
//! 11 filtered rows, one strip of columns of one channel at a time so that the ring stays in
//! the first-level cache. The loops run over whole strips for the compiler to vectorise (with
//! AVX2 where the CPU has it; no FMA, so every CPU gets the same bits), and the counted rows
//! are split between rayon's threads. A pixel's result depends only on its window, so bands of
//! any height give the same bits.

use rayon::prelude::*;

use crate::engine::Band;
use crate::engine::ssim::{RADIUS, SsimRule, TAPS, ssim, weights};
use crate::pixel::Samples;

const R: usize = RADIUS as usize;

/// Output columns filtered together: 11 rows of five quantities of a strip fill 28 KiB.
const STRIP: usize = 64;

/// Input columns a strip reads.
const SPAN: usize = STRIP + TAPS - 1;

/// Fewest rows a task takes: a task filters 10 rows beyond its own along the rows.
const MIN_TASK_ROWS: usize = 16;

/// The five window quantities: x, y, x², y², xy.
const QUANTITIES: usize = 5;

/// Five quantities of one filtered row of a strip.
type Filtered = [[f64; STRIP]; QUANTITIES];

/// See `Engine::ssim_band`.
pub fn ssim_band(band: &Band, rule: &SsimRule, parallel: bool, out: &mut Vec<f32>) {
    let channels = rule.channels(band.layout);
    out.clear();
    out.resize(band.rows as usize * band.width as usize * channels, 1.0);
    match (&band.a, &band.b) {
        (Samples::U8(a), Samples::U8(b)) => Frame::new(band, rule, a, b).run(parallel, out),
        (Samples::U16(a), Samples::U16(b)) => Frame::new(band, rule, a, b).run(parallel, out),
        (Samples::F32(a), Samples::F32(b)) => Frame::new(band, rule, a, b).run(parallel, out),
        _ => unreachable!("both images of a band share one layout"),
    }
}

/// Both images of a band, halo rows included, and what every task shares.
struct Frame<'a, T> {
    a: &'a [T],
    b: &'a [T],
    width: usize,
    /// Samples per pixel in the band's layout.
    stride: usize,
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

impl<'a, T: Copy + Into<f64> + Sync> Frame<'a, T> {
    fn new(band: &Band, rule: &SsimRule, a: &'a [T], b: &'a [T]) -> Frame<'a, T> {
        let w = weights();
        Frame {
            a,
            b,
            width: band.width as usize,
            stride: usize::from(band.layout.channels),
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
        let mut ring: Box<[Filtered; TAPS]> = Box::new([[[0.0; STRIP]; QUANTITIES]; TAPS]);
        // Held rows of the first and past the last output row.
        let (top, end) = (self.halo_above + first, self.halo_above + first + count);
        for channel in 0..self.channels {
            for x0 in (0..self.width - 2 * R).step_by(STRIP) {
                for y in top - R..end + R {
                    self.filter_row(y, channel, x0, &mut ring[y % TAPS]);
                    if y >= top + R {
                        let means = self.column_means(&ring, y - R);
                        self.write(&means, (y - R - top) * self.width, channel, x0, out);
                    }
                }
            }
        }
    }

    /// Filters along held row `y` the five quantities of `channel` for the strip of output
    /// columns from `R + x0`.
    #[inline(always)]
    fn filter_row(&self, y: usize, channel: usize, x0: usize, dst: &mut Filtered) {
        let mut x = [0.0; SPAN];
        let mut v = [0.0; SPAN];
        let start = (y * self.width + x0) * self.stride + channel;
        let len = SPAN.min(self.width - x0);
        let samples = self.a[start..]
            .iter()
            .zip(&self.b[start..])
            .step_by(self.stride);
        for ((x, v), (a, b)) in x.iter_mut().zip(&mut v).zip(samples).take(len) {
            *x = (*a).into();
            *v = (*b).into();
        }
        let (mut xx, mut vv, mut xv) = ([0.0; SPAN], [0.0; SPAN], [0.0; SPAN]);
        for i in 0..SPAN {
            xx[i] = x[i] * x[i];
            vv[i] = v[i] * v[i];
            xv[i] = x[i] * v[i];
        }
        for (src, dst) in [&x, &v, &xx, &vv, &xv].into_iter().zip(dst) {
            self.filter(|i| src[i], dst);
        }
    }

    /// The means of the windows centred on held row `y`, from the ring of filtered rows.
    #[inline(always)]
    fn column_means(&self, ring: &[Filtered; TAPS], y: usize) -> Filtered {
        let mut means = [[0.0; STRIP]; QUANTITIES];
        for (q, dst) in means.iter_mut().enumerate() {
            // Held row y - R + j is in the ring at (y - R + j) % TAPS.
            let rows: [&[f64; STRIP]; TAPS] =
                std::array::from_fn(|j| &ring[(y + j + TAPS - R) % TAPS][q]);
            for (u, dst) in dst.iter_mut().enumerate() {
                let mut sum = self.half[0] * rows[R][u];
                for d in 1..=R {
                    sum += self.half[d] * (rows[R - d][u] + rows[R + d][u]);
                }
                *dst = sum;
            }
        }
        means
    }

    /// Weighs 11 taps of `src` (by index from the window's first column) into each of `dst`.
    #[inline(always)]
    fn filter(&self, src: impl Fn(usize) -> f64, dst: &mut [f64; STRIP]) {
        for (u, dst) in dst.iter_mut().enumerate() {
            let mut sum = self.half[0] * src(u + R);
            for d in 1..=R {
                sum += self.half[d] * (src(u + R - d) + src(u + R + d));
            }
            *dst = sum;
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
