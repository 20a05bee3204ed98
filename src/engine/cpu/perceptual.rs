//! The perceptual kernel on the CPU, the twin of `shaders/perceptual.wgsl`: for each counted
//! pixel of a band, whether it changed by the rule of `engine::perceptual`, and whether a
//! changed pixel is anti-aliasing. Brightness is computed once per pixel of both images into
//! planes that the anti-aliasing test then reads; rows whose samples are equal cost a compare.

use crate::engine::Band;
use crate::engine::perceptual::{ANTI_ALIASED, CHANGED, Planes, Rule, blend, brightness, delta};
use crate::pixel::{Depth, Sample, Samples};

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
        1 => Kernel::<T, 1>::new(band, rule, a, b).run(out),
        2 => Kernel::<T, 2>::new(band, rule, a, b).run(out),
        3 => Kernel::<T, 3>::new(band, rule, a, b).run(out),
        _ => Kernel::<T, 4>::new(band, rule, a, b).run(out),
    }
}

/// One band's images and what the kernel derives from them.
struct Kernel<'a, T, const C: usize> {
    rule: &'a Rule,
    depth: Depth,
    width: usize,
    /// Rows held, halo included.
    rows: usize,
    /// First and past-last counted row, in held rows.
    counted: (usize, usize),
    images: [&'a [T]; 2],
    /// Per image, the brightness of each held pixel (only filled when anti-aliasing is asked
    /// for and the band has a changed pixel).
    bright: [Vec<u32>; 2],
}

impl<'a, T: Sample, const C: usize> Kernel<'a, T, C> {
    fn new(band: &Band, rule: &'a Rule, a: &'a [T], b: &'a [T]) -> Self {
        let width = band.width as usize;
        let rows = (band.halo_above + band.rows + band.halo_below) as usize;
        let first = band.halo_above as usize;
        Kernel {
            rule,
            depth: band.layout.depth,
            width,
            rows,
            counted: (first, first + band.rows as usize),
            images: [a, b],
            bright: [Vec::new(), Vec::new()],
        }
    }

    fn pixel(&self, image: usize, i: usize) -> &[T] {
        &self.images[image][i * C..i * C + C]
    }

    /// A pixel blended over white, in fixed point.
    fn blended(&self, image: usize, i: usize) -> [u32; 3] {
        let p = self.pixel(image, i);
        let max = self.depth.max_value();
        let alpha = match C {
            2 if !self.rule.opaque => p[1].into(),
            4 if !self.rule.opaque => p[3].into(),
            _ => max,
        };
        let rgb: [u32; 3] = if C <= 2 {
            [p[0].into(); 3]
        } else {
            [p[0].into(), p[1].into(), p[2].into()]
        };
        rgb.map(|c| blend(c, alpha, self.depth))
    }

    fn run(mut self, out: &mut Planes) {
        let row_len = self.width * C;
        let (first, last) = self.counted;
        let mut any = false;
        for y in first..last {
            let row = y * row_len..(y + 1) * row_len;
            if self.images[0][row.clone()] == self.images[1][row] {
                continue;
            }
            for x in 0..self.width {
                let i = y * self.width + x;
                if self.pixel(0, i) == self.pixel(1, i) {
                    continue;
                }
                let d = delta(self.blended(0, i), self.blended(1, i));
                let o = (y - first) * self.width + x;
                if !out.heat.is_empty() {
                    out.heat[o] = self.rule.heat(d);
                }
                if d > self.rule.limit {
                    out.class[o] = CHANGED;
                    any = true;
                }
            }
        }
        if !(any && self.rule.aa) {
            return;
        }
        self.bright = [0, 1].map(|image| {
            (0..self.rows * self.width)
                .map(|i| brightness(self.blended(image, i)))
                .collect()
        });
        for (o, class) in out.class.iter_mut().enumerate() {
            if *class != CHANGED {
                continue;
            }
            let (x, y) = (o % self.width, o / self.width + first);
            if self.anti_aliased(0, x, y) || self.anti_aliased(1, x, y) {
                *class = ANTI_ALIASED;
            }
        }
    }

    /// The clipped 3x3 neighbourhood of (x, y): its x and y ranges, and whether the pixel is on
    /// the image's border (which counts as one equal neighbour).
    fn around(&self, x: usize, y: usize) -> ([usize; 2], [usize; 2], bool) {
        let xs = [x.saturating_sub(1), (x + 1).min(self.width - 1)];
        let ys = [y.saturating_sub(1), (y + 1).min(self.rows - 1)];
        let border = x == xs[0] || x == xs[1] || y == ys[0] || y == ys[1];
        (xs, ys, border)
    }

    /// Whether the pixel at (x, y) of `image` is anti-aliasing: fewer than three neighbours of
    /// equal brightness, both a darker and a brighter one, and the darkest or the brightest
    /// (the first found, x outer, y inner) with more than two identical neighbours of its own
    /// in both images.
    fn anti_aliased(&self, image: usize, x: usize, y: usize) -> bool {
        let bright = &self.bright[image];
        let centre = bright[y * self.width + x] as i64;
        let (xs, ys, border) = self.around(x, y);
        let mut equal = u32::from(border);
        let (mut min, mut max) = (0i64, 0i64);
        let (mut darkest, mut brightest) = ((0, 0), (0, 0));
        for nx in xs[0]..=xs[1] {
            for ny in ys[0]..=ys[1] {
                if (nx, ny) == (x, y) {
                    continue;
                }
                let d = centre - bright[ny * self.width + nx] as i64;
                if d == 0 {
                    equal += 1;
                    if equal > 2 {
                        return false;
                    }
                } else if d < min {
                    min = d;
                    darkest = (nx, ny);
                } else if d > max {
                    max = d;
                    brightest = (nx, ny);
                }
            }
        }
        if min == 0 || max == 0 {
            return false;
        }
        let siblings = |(nx, ny)| self.many_siblings(0, nx, ny) && self.many_siblings(1, nx, ny);
        siblings(darkest) || siblings(brightest)
    }

    /// Whether the pixel at (x, y) of `image` has more than two neighbours with exactly its
    /// samples (a pixel on the border starts with one).
    fn many_siblings(&self, image: usize, x: usize, y: usize) -> bool {
        let own = self.pixel(image, y * self.width + x);
        let (xs, ys, border) = self.around(x, y);
        let mut equal = u32::from(border);
        for nx in xs[0]..=xs[1] {
            for ny in ys[0]..=ys[1] {
                if (nx, ny) != (x, y) && self.pixel(image, ny * self.width + nx) == own {
                    equal += 1;
                    if equal > 2 {
                        return true;
                    }
                }
            }
        }
        false
    }
}
