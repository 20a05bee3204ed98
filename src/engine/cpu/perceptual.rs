//! The perceptual kernel on the CPU, the twin of `shaders/perceptual.wgsl`: for each counted
//! pixel of a band, whether it changed by the rule of `engine::perceptual`, and whether a
//! changed pixel is anti-aliasing. The counted rows are split into tasks for rayon's threads
//! (the work per pixel is many times the decoders'); each task remembers the brightness of the
//! pixels and whether they have many identical siblings as the anti-aliasing test first asks,
//! so that each is worked out once. Rows whose samples are equal cost a compare.

use rayon::prelude::*;

use crate::engine::Band;
use crate::engine::perceptual::{ANTI_ALIASED, CHANGED, Planes, Rule, blend, brightness, delta};
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
        Task::new(&images, rule, rows).run(class, heat);
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
    #[inline(always)]
    fn pixel(&self, image: usize, i: usize) -> [T; C] {
        self.images[image][i]
    }

    /// A pixel blended over white, in fixed point.
    #[inline(always)]
    fn blended(&self, image: usize, i: usize) -> [u32; 3] {
        let p = self.pixel(image, i);
        let alpha = match C {
            2 | 4 if !self.opaque => p[C - 1].into(),
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

/// The counted rows `rows` (held-row indices) of a band, and the planes the anti-aliasing test
/// reads around them.
struct Task<'a, 'i, T, const C: usize> {
    images: &'a Images<'i, T, C>,
    rule: &'a Rule,
    rows: std::ops::Range<usize>,
    /// The first held row that the planes cover.
    top: usize,
    /// Per image, the brightness of each covered pixel (in the rows worked out).
    bright: [Vec<u32>; 2],
    /// Per covered pixel (in the rows worked out): many identical siblings in both images.
    siblings: Vec<bool>,
}

impl<'a, 'i, T: Sample, const C: usize> Task<'a, 'i, T, C> {
    fn new(images: &'a Images<'i, T, C>, rule: &'a Rule, rows: std::ops::Range<usize>) -> Self {
        Task {
            images,
            rule,
            top: rows.start.saturating_sub(1),
            rows,
            bright: [Vec::new(), Vec::new()],
            siblings: Vec::new(),
        }
    }

    fn run(mut self, class: &mut [u8], heat: &mut [u8]) {
        let images = self.images;
        let width = images.width;
        let aa = self.rule.aa;
        // Per row from `top`: has a changed pixel (whose neighbours the planes must cover), and
        // has its brightness worked out.
        let covered = (self.rows.end + 1).min(images.rows) - self.top;
        let (mut changed_rows, mut bright_rows) = (vec![false; covered], vec![false; covered]);
        if aa {
            self.bright = [0, 1].map(|_| vec![0; covered * width]);
        }
        for (r, y) in self.rows.clone().enumerate() {
            if images.row(0, y) == images.row(1, y) {
                continue;
            }
            let at = (y - self.top) * width;
            bright_rows[y - self.top] = aa;
            for x in 0..width {
                let i = y * width + x;
                let same = images.pixel(0, i) == images.pixel(1, i);
                if same && !aa {
                    continue;
                }
                let p = images.blended(0, i);
                let q = if same { p } else { images.blended(1, i) };
                if aa {
                    self.bright[0][at + x] = brightness(p);
                    self.bright[1][at + x] = brightness(q);
                }
                if same {
                    continue;
                }
                let d = delta(p, q);
                let o = r * width + x;
                if !heat.is_empty() {
                    heat[o] = self.rule.heat(d);
                }
                if d > self.rule.limit {
                    class[o] = CHANGED;
                    changed_rows[y - self.top] = true;
                }
            }
        }
        if !aa || !changed_rows.contains(&true) {
            return;
        }
        self.siblings = vec![false; covered * width];
        let mut counts = [vec![0; width], vec![0; width]];
        for (r, &done) in bright_rows.iter().enumerate() {
            let near = r.saturating_sub(1)..(r + 2).min(covered);
            if changed_rows[near].contains(&true) {
                self.work_out_row(self.top + r, !done, &mut counts);
            }
        }
        for (o, class) in class.iter_mut().enumerate() {
            if *class != CHANGED {
                continue;
            }
            let (x, y) = (o % width, o / width + self.rows.start);
            if self.anti_aliased(0, x, y) || self.anti_aliased(1, x, y) {
                *class = ANTI_ALIASED;
            }
        }
    }

    /// Fills the planes for held row `y`: its brightness when `bright`, and its siblings (with
    /// `counts` as scratch).
    fn work_out_row(&mut self, y: usize, bright: bool, counts: &mut [Vec<u8>; 2]) {
        let images = self.images;
        let width = images.width;
        let at = (y - self.top) * width;
        if bright {
            for image in 0..2 {
                let plane = &mut self.bright[image][at..at + width];
                for (x, b) in plane.iter_mut().enumerate() {
                    *b = brightness(images.blended(image, y * width + x));
                }
            }
        }
        for (image, counts) in counts.iter_mut().enumerate() {
            images.sibling_counts(image, y, counts);
        }
        for ((s, &a), &b) in self.siblings[at..at + width]
            .iter_mut()
            .zip(&counts[0])
            .zip(&counts[1])
        {
            *s = a > 2 && b > 2;
        }
    }

    /// Whether the pixel at (x, y) of `image` is anti-aliasing: fewer than three neighbours of
    /// equal brightness, both a darker and a brighter one, and the darkest or the brightest
    /// (the first found, x outer, y inner) with more than two identical neighbours of its own
    /// in both images.
    fn anti_aliased(&self, image: usize, x: usize, y: usize) -> bool {
        let width = self.images.width;
        let bright = &self.bright[image];
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
        equal <= 2 && min != 0 && max != 0 && (self.siblings[darkest] || self.siblings[brightest])
    }
}
