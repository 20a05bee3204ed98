//! The perceptual kernel on the CPU, the twin of `shaders/perceptual.wgsl`: for each counted
//! pixel of a band, whether it changed by the rule of `engine::perceptual`, and whether a
//! changed pixel is anti-aliasing. The counted rows are split into tasks for rayon's threads.
//! A task works row against row, in loops the compiler vectorises (with AVX2 where the CPU has
//! it): the deltas of a row, then which pixels have many identical siblings. The anti-aliasing
//! test can only find a pixel one of whose neighbours has many siblings, so only such pixels
//! are tested one by one, on brightness worked out for the rows they need. Rows whose samples
//! are equal cost a compare.

use rayon::prelude::*;

use crate::engine::Band;
use crate::engine::perceptual::{
    ANTI_ALIASED, CHANGED, Planes, Rule, SAME, blend, brightness, delta,
};
use crate::pixel::{Depth, Sample, Samples};

/// Counted pixels handed to one task at a time.
const TASK_PIXELS: usize = 1 << 14;

/// Fills `out` for the counted rows of `band` under `rule`.
pub fn perceive(band: &Band, rule: &Rule, out: &mut Planes) {
    out.reset(band.rows as usize * band.width as usize, rule);
    match (&band.a, &band.b) {
        (Samples::U8(a), Samples::U8(b)) => by_channels(band, rule, a, b, out),
        (Samples::U16(a), Samples::U16(b)) => by_channels(band, rule, a, b, out),
        _ => unreachable!("both images of a band share one layout"),
    }
}

fn by_channels<T: Sample>(band: &Band, rule: &Rule, a: &[T], b: &[T], out: &mut Planes) {
    match band.layout.channels {
        1 => run::<T, 1>(band, rule, [a, b], out),
        2 => run::<T, 2>(band, rule, [a, b], out),
        3 => run::<T, 3>(band, rule, [a, b], out),
        _ => run::<T, 4>(band, rule, [a, b], out),
    }
}

/// Splits the counted rows into tasks and runs them.
fn run<T: Sample, const C: usize>(band: &Band, rule: &Rule, images: [&[T]; 2], out: &mut Planes) {
    let width = band.width as usize;
    if width == 0 || band.rows == 0 {
        return;
    }
    let images = Images::<T, C> {
        images: images.map(|samples| samples.as_chunks::<C>().0),
        width,
        rows: (band.halo_above + band.rows + band.halo_below) as usize,
        opaque: rule.opaque,
    };
    let first = band.halo_above as usize;
    let task_rows = TASK_PIXELS.div_ceil(width);
    let heat = !out.heat.is_empty();
    let classes = out.class.par_chunks_mut(task_rows * width);
    let task = |(i, class): (usize, &mut [u8]), heat: &mut [u8]| {
        let rows = first + i * task_rows..first + i * task_rows + class.len() / width;
        task(&images, rule, rows, class, heat);
    };
    if heat {
        classes
            .zip(out.heat.par_chunks_mut(task_rows * width))
            .enumerate()
            .for_each(|(i, (class, heat))| task((i, class), heat));
    } else {
        classes.enumerate().for_each(|c| task(c, &mut []));
    }
}

/// Both images of a band, halo rows included, as pixels.
struct Images<'a, T, const C: usize> {
    images: [&'a [[T; C]]; 2],
    width: usize,
    /// Rows held.
    rows: usize,
    /// Alpha is ignored.
    opaque: bool,
}

impl<T: Sample, const C: usize> Images<'_, T, C> {
    /// A pixel blended over white, in fixed point.
    #[inline(always)]
    fn blended(&self, p: [T; C]) -> [u32; 3] {
        blended(p, self.opaque)
    }

    /// The fixed-point delta of each pixel of held row `y` into `deltas`: zero where the
    /// pixels are equal.
    #[inline(always)]
    fn deltas(&self, y: usize, deltas: &mut [u64]) {
        deltas_of(self.row(0, y), self.row(1, y), self.opaque, deltas);
    }

    /// The brightness of each pixel of held row `y` of `image` into `out`.
    #[inline(always)]
    fn brightness(&self, image: usize, y: usize, out: &mut [u32]) {
        for (b, &p) in out.iter_mut().zip(self.row(image, y)) {
            *b = brightness(self.blended(p));
        }
    }

    /// The clipped 3x3 neighbourhood of (x, y): its x and y ranges, and whether the pixel is on
    /// the image's border (which counts as one equal neighbour).
    #[inline(always)]
    fn around(&self, x: usize, y: usize) -> ([usize; 2], [usize; 2], u32) {
        let xs = [x.saturating_sub(1), (x + 1).min(self.width - 1)];
        let ys = [y.saturating_sub(1), (y + 1).min(self.rows - 1)];
        let border = x == xs[0] || x == xs[1] || y == ys[0] || y == ys[1];
        (xs, ys, u32::from(border))
    }

    /// Held row `y` of `image`, as pixels.
    #[inline(always)]
    fn row(&self, image: usize, y: usize) -> &[[T; C]] {
        &self.images[image][y * self.width..(y + 1) * self.width]
    }

    /// For each pixel of held row `y` of `image`, how many of its neighbours have exactly its
    /// samples, plus one on the image's border, into `counts`: a pixel has many siblings when
    /// its count exceeds 2. Row against row, so that the compiler can vectorise it.
    #[inline(always)]
    fn sibling_counts(&self, image: usize, y: usize, counts: &mut [u8]) {
        let width = self.width;
        let own = self.row(image, y);
        let edge_row = y == 0 || y + 1 == self.rows;
        for (x, count) in counts.iter_mut().enumerate() {
            *count = u8::from(edge_row || x == 0 || x + 1 == width);
        }
        for ny in y.saturating_sub(1)..(y + 2).min(self.rows) {
            let other = self.row(image, ny);
            if ny != y {
                for ((count, p), q) in counts.iter_mut().zip(own).zip(other) {
                    *count += u8::from(p == q);
                }
            }
            if width > 1 {
                // Left neighbours: pixel x against x - 1; right: x against x + 1.
                for ((count, p), q) in counts[1..].iter_mut().zip(&own[1..]).zip(other) {
                    *count += u8::from(p == q);
                }
                for ((count, p), q) in counts.iter_mut().zip(own).zip(&other[1..]) {
                    *count += u8::from(p == q);
                }
            }
        }
    }
}

/// A pixel blended over white, in fixed point.
#[inline(always)]
fn blended<T: Sample, const C: usize>(p: [T; C], opaque: bool) -> [u32; 3] {
    let alpha = match C {
        2 | 4 if !opaque => p[C - 1].into(),
        _ => T::MAX.into(),
    };
    let rgb: [u32; 3] = if C <= 2 {
        [p[0].into(); 3]
    } else {
        [p[0].into(), p[1].into(), p[2].into()]
    };
    // Known from the sample type, so that `blend` is chosen when compiling.
    let depth = if size_of::<T>() == 1 {
        Depth::Eight
    } else {
        Depth::Sixteen
    };
    rgb.map(|c| blend(c, alpha, depth))
}

/// The deltas of two rows, without branches so that the compiler can vectorise it (equal
/// pixels give zero).
#[inline(always)]
fn deltas_of<T: Sample, const C: usize>(a: &[[T; C]], b: &[[T; C]], opaque: bool, out: &mut [u64]) {
    if opaque {
        for ((d, &p), &q) in out.iter_mut().zip(a).zip(b) {
            *d = delta(blended(p, true), blended(q, true));
        }
    } else {
        for ((d, &p), &q) in out.iter_mut().zip(a).zip(b) {
            *d = delta(blended(p, false), blended(q, false));
        }
    }
}

/// Buffers a task works in, kept by each thread from task to task: their contents are
/// worked out before they are read, so they are never cleared.
#[derive(Default)]
struct Scratch {
    /// The deltas of one row.
    deltas: Vec<u64>,
    /// Per covered row: has a changed pixel, whose neighbours the planes must cover.
    changed_rows: Vec<bool>,
    /// Per image, the brightness of each covered pixel (in the rows worked out).
    bright: [Vec<u32>; 2],
    /// Per covered row, whether its brightness is worked out.
    bright_rows: Vec<bool>,
    /// Per covered pixel (in the rows worked out): 1 where it has many identical siblings in
    /// both images, else 0 (bytes, so that a row is searched as fast as memory).
    siblings: Vec<u8>,
    /// Per image, the sibling counts of one row.
    counts: [Vec<u8>; 2],
    /// Per pixel of one row: a neighbour has many siblings.
    near: Vec<u8>,
}

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::default();
}

/// Runs one task, with AVX2 where the CPU has it: the kernel is written so that the compiler
/// vectorises it, and AVX2's wider lanes and 32-bit multiplies more than double its speed.
fn task<T: Sample, const C: usize>(
    images: &Images<T, C>,
    rule: &Rule,
    rows: std::ops::Range<usize>,
    class: &mut [u8],
    heat: &mut [u8],
) {
    let mut scratch = SCRATCH.take();
    let task = Task::new(images, rule, rows, &mut scratch);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has just been found to have AVX2.
        unsafe { run_avx2(task, class, heat) };
        SCRATCH.set(scratch);
        return;
    }
    task.run(class, heat);
    SCRATCH.set(scratch);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2<T: Sample, const C: usize>(task: Task<T, C>, class: &mut [u8], heat: &mut [u8]) {
    task.run(class, heat);
}

/// The counted rows `rows` (held-row indices) of a band, and the planes the anti-aliasing test
/// reads around them.
struct Task<'a, 'i, T, const C: usize> {
    images: &'a Images<'i, T, C>,
    rule: &'a Rule,
    rows: std::ops::Range<usize>,
    /// The first held row that the planes cover.
    top: usize,
    /// Held rows from `top` that the planes cover.
    covered: usize,
    s: &'a mut Scratch,
}

impl<'a, 'i, T: Sample, const C: usize> Task<'a, 'i, T, C> {
    fn new(
        images: &'a Images<'i, T, C>,
        rule: &'a Rule,
        rows: std::ops::Range<usize>,
        s: &'a mut Scratch,
    ) -> Self {
        let top = rows.start.saturating_sub(1);
        let covered = (rows.end + 1).min(images.rows) - top;
        let width = images.width;
        s.deltas.resize(width, 0);
        s.changed_rows.clear();
        s.changed_rows.resize(covered, false);
        if rule.aa {
            for plane in &mut s.bright {
                plane.resize(covered * width, 0);
            }
            s.bright_rows.clear();
            s.bright_rows.resize(covered, false);
            s.siblings.resize(covered * width, 0);
            for counts in &mut s.counts {
                counts.resize(width, 0);
            }
            s.near.resize(width, 0);
        }
        Task {
            images,
            rule,
            top,
            covered,
            rows,
            s,
        }
    }

    #[inline(always)]
    fn run(mut self, class: &mut [u8], heat: &mut [u8]) {
        let images = self.images;
        let width = images.width;
        let top = self.top;
        for (r, y) in self.rows.clone().enumerate() {
            if images.row(0, y) == images.row(1, y) {
                continue;
            }
            let deltas = &mut self.s.deltas;
            images.deltas(y, deltas);
            let class = &mut class[r * width..(r + 1) * width];
            let limit = self.rule.limit;
            let mut any = false;
            for (c, &d) in class.iter_mut().zip(deltas.iter()) {
                let changed = d > limit;
                *c = if changed { CHANGED } else { SAME };
                any |= changed;
            }
            self.s.changed_rows[y - top] = any;
            if !heat.is_empty() {
                let heat = &mut heat[r * width..(r + 1) * width];
                let pixels = images.row(0, y).iter().zip(images.row(1, y));
                for ((h, &d), (p, q)) in heat.iter_mut().zip(deltas.iter()).zip(pixels) {
                    *h = if p == q { 0 } else { self.rule.heat(d) };
                }
            }
        }
        if !self.rule.aa || !self.s.changed_rows.contains(&true) {
            return;
        }
        for r in 0..self.covered {
            let near = r.saturating_sub(1)..(r + 2).min(self.covered);
            if self.s.changed_rows[near].contains(&true) {
                self.siblings_of_row(top + r);
            }
        }
        for (r, y) in self.rows.clone().enumerate() {
            if !self.s.changed_rows[y - top] || !self.near_siblings(y) {
                continue;
            }
            for ny in y.saturating_sub(1)..(y + 2).min(images.rows) {
                self.work_out_brightness(ny);
            }
            let class = &mut class[r * width..(r + 1) * width];
            for (x, c) in class.iter_mut().enumerate() {
                if *c == CHANGED
                    && self.s.near[x] != 0
                    && (self.anti_aliased(0, x, y) || self.anti_aliased(1, x, y))
                {
                    *c = ANTI_ALIASED;
                }
            }
        }
    }

    /// Fills the siblings plane for held row `y`.
    #[inline(always)]
    fn siblings_of_row(&mut self, y: usize) {
        let width = self.images.width;
        let at = (y - self.top) * width;
        let s = &mut *self.s;
        let [first, second] = &mut s.counts;
        self.images.sibling_counts(0, y, first);
        if !first.iter().any(|&c| c > 2) {
            // No pixel has many siblings in image 1: none has in both.
            s.siblings[at..at + width].fill(0);
            return;
        }
        self.images.sibling_counts(1, y, second);
        for ((s, &a), &b) in s.siblings[at..at + width]
            .iter_mut()
            .zip(&s.counts[0])
            .zip(&s.counts[1])
        {
            *s = u8::from(a > 2 && b > 2);
        }
    }

    /// Whether any pixel of the 3x3 neighbourhoods around held row `y` has many siblings, and
    /// per pixel of the row, whether its neighbourhood has one, into `near`. A pixel without one
    /// is not anti-aliasing, whatever its brightness.
    #[inline(always)]
    fn near_siblings(&mut self, y: usize) -> bool {
        let width = self.images.width;
        let rows = y.saturating_sub(1)..(y + 2).min(self.images.rows);
        let (top, s) = (self.top, &mut *self.s);
        let plane = |ny: usize| &s.siblings[(ny - top) * width..(ny - top + 1) * width];
        if rows.clone().all(|ny| !plane(ny).contains(&1)) {
            return false;
        }
        let near = &mut s.near;
        near.fill(0);
        for ny in rows {
            let s = &s.siblings[(ny - top) * width..(ny - top + 1) * width];
            for (n, &s) in near.iter_mut().zip(s) {
                *n |= s;
            }
            for (n, &s) in near[1..].iter_mut().zip(s) {
                *n |= s;
            }
            for (n, &s) in near.iter_mut().zip(&s[1..]) {
                *n |= s;
            }
        }
        true
    }

    /// Works out the brightness of held row `y` in both images, once.
    #[inline(always)]
    fn work_out_brightness(&mut self, y: usize) {
        let r = y - self.top;
        if self.s.bright_rows[r] {
            return;
        }
        self.s.bright_rows[r] = true;
        let width = self.images.width;
        for (image, plane) in self.s.bright.iter_mut().enumerate() {
            self.images
                .brightness(image, y, &mut plane[r * width..(r + 1) * width]);
        }
    }

    /// Whether the pixel at (x, y) of `image` is anti-aliasing: fewer than three neighbours of
    /// equal brightness, both a darker and a brighter one, and the darkest or the brightest
    /// (the first found, x outer, y inner) with more than two identical neighbours of its own
    /// in both images.
    #[inline(always)]
    fn anti_aliased(&self, image: usize, x: usize, y: usize) -> bool {
        let width = self.images.width;
        let bright = &self.s.bright[image];
        let centre_at = (y - self.top) * width + x;
        let centre = bright[centre_at] as i32;
        let (xs, ys, mut equal) = self.images.around(x, y);
        let inside = equal == 0;
        let (mut min, mut max) = (0i32, 0i32);
        let (mut darkest, mut brightest) = (0, 0);
        // Without early exits or branches on the deltas (noise makes them unpredictable): the
        // answer is the same, since any third equal neighbour makes it false.
        let mut look = |at: usize| {
            let d = centre - bright[at] as i32;
            equal += u32::from(d == 0);
            let (darker, brighter) = (d < min, d > max);
            min = if darker { d } else { min };
            darkest = if darker { at } else { darkest };
            max = if brighter { d } else { max };
            brightest = if brighter { at } else { brightest };
        };
        if inside {
            // Inside the image: the eight neighbours in the order above.
            let up = centre_at - width;
            let down = centre_at + width;
            for at in [
                up - 1,
                centre_at - 1,
                down - 1,
                up,
                down,
                up + 1,
                centre_at + 1,
                down + 1,
            ] {
                look(at);
            }
        } else {
            for nx in xs[0]..=xs[1] {
                for ny in ys[0]..=ys[1] {
                    if (nx, ny) != (x, y) {
                        look((ny - self.top) * width + nx);
                    }
                }
            }
        }
        equal <= 2
            && min != 0
            && max != 0
            && (self.s.siblings[darkest] | self.s.siblings[brightest]) != 0
    }
}
