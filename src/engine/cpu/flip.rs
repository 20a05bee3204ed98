//! The FLIP kernel on the CPU, the twin of `shaders/flip.wgsl`. The counted rows are split into
//! tasks for rayon's threads. A task walks its rows down the band: each input row is converted
//! (to linear RGB, tone-mapped at the exposure for HDR, then YCxCz) and filtered along x into a
//! ring of the last `2 * halo + 1` rows; each output row filters that ring along y and finishes
//! pixel by pixel. The filter loops run over x on planar f32 rows, for the compiler to
//! vectorise (with AVX2 where the CPU has it); taps are summed in the reference's order.

use std::sync::OnceLock;

use rayon::prelude::*;

use crate::engine::Band;
use crate::engine::flip::colour::{self, Remap};
use crate::engine::flip::filters::Filters;
use crate::engine::flip::{Exposures, FlipRule, Tonemapper};
use crate::pixel::Samples;

/// Planes of one x-filtered row, per image: the colour filters' Y, Cx, Cz1 and Cz2, and the
/// feature filters' first derivative, second derivative and Gaussian of normalised L*.
const X_PLANES: usize = 7;
/// Planes of one y-filtered row, per image: Y, Cx, Cz1, Cz2, then dx, ddx, dy and ddy.
const Y_PLANES: usize = 8;

/// See `Engine::flip_band`.
pub fn flip_band(band: &Band, rule: &FlipRule, parallel: bool, out: &mut Vec<f32>) {
    let width = band.width as usize;
    let rows = band.rows as usize;
    out.clear();
    out.resize(rows * width, 0.0);
    if width == 0 || rows == 0 {
        return;
    }
    let kernel = Kernel::new(band, rule);
    if !parallel {
        kernel.task(0, out);
        return;
    }
    let tasks = rayon::current_num_threads() * 2;
    let task_rows = rows.div_ceil(tasks).max(4 * kernel.halo).max(1);
    out.par_chunks_mut(task_rows * width)
        .enumerate()
        .for_each(|(i, out)| kernel.task((i * task_rows) as isize, out));
}

/// One image's samples, halo rows included.
#[derive(Clone, Copy)]
enum Image<'a> {
    U8(&'a [u8]),
    U16(&'a [u16]),
    F32(&'a [f32]),
}

impl<'a> Image<'a> {
    fn of(samples: &'a Samples) -> Image<'a> {
        match samples {
            Samples::U8(s) => Image::U8(s),
            Samples::U16(s) => Image::U16(s),
            Samples::F32(s) => Image::F32(s),
        }
    }
}

/// What every task of a band shares.
struct Kernel<'a> {
    images: [Image<'a>; 2],
    channels: usize,
    width: usize,
    /// The held row of counted row 0.
    first: usize,
    /// Counted-row indices of the first and one past the last row the filters may read: the
    /// image's edge where the band holds fewer halo rows than `halo`.
    lo: isize,
    hi: isize,
    halo: usize,
    filters: Filters,
    remap: Remap,
    hdr: Option<Exposures>,
}

impl<'a> Kernel<'a> {
    fn new(band: &'a Band, rule: &FlipRule) -> Kernel<'a> {
        let filters = Filters::new(rule.ppd);
        let halo = filters.spatial_radius.max(filters.feature_radius);
        let above = (band.halo_above as usize).min(halo);
        let below = (band.halo_below as usize).min(halo);
        Kernel {
            images: [Image::of(&band.a), Image::of(&band.b)],
            channels: usize::from(band.layout.channels),
            width: band.width as usize,
            first: band.halo_above as usize,
            lo: -(above as isize),
            hi: (band.rows as usize + below) as isize,
            halo,
            filters,
            remap: Remap::new(),
            hdr: rule.hdr,
        }
    }

    /// Fills `out` with the counted rows from `y0` on, with AVX2 where the CPU has it.
    fn task(&self, y0: isize, out: &mut [f32]) {
        let mut task = Task::new(self);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has just been found to have AVX2.
            unsafe { run_avx2(&mut task, y0, out) };
            return;
        }
        task.run(y0, out);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2(task: &mut Task, y0: isize, out: &mut [f32]) {
    task.run(y0, out);
}

/// `acc[x] += w * src[x]` over a row.
#[inline(always)]
fn accumulate(acc: &mut [f32], src: &[f32], w: f32) {
    for (a, s) in acc.iter_mut().zip(src) {
        *a += w * s;
    }
}

/// `out[x] = Σ taps[k] * padded[x + offset + k]`, summed in tap order.
#[inline(always)]
fn convolve(out: &mut [f32], padded: &[f32], taps: &[f32], offset: usize) {
    out.fill(0.0);
    let width = out.len();
    for (k, &w) in taps.iter().enumerate() {
        accumulate(out, &padded[offset + k..offset + k + width], w);
    }
}

/// The linear value of each 8-bit and 16-bit sRGB sample, clamped as the reference does.
fn linear_table(bits: u32) -> &'static [f32] {
    static EIGHT: OnceLock<Vec<f32>> = OnceLock::new();
    static SIXTEEN: OnceLock<Vec<f32>> = OnceLock::new();
    let (table, max) = if bits == 8 {
        (&EIGHT, 255.0)
    } else {
        (&SIXTEEN, 65535.0)
    };
    table.get_or_init(|| {
        (0..=max as u32)
            .map(|v| colour::clamp01(colour::srgb_to_linear(v as f32 / max)))
            .collect()
    })
}

/// One task's scratch rows.
struct Task<'k, 'a> {
    k: &'k Kernel<'a>,
    /// x-filtered rows, `ring` of them, `2 * X_PLANES` planes each.
    ring: Vec<f32>,
    ring_rows: usize,
    /// Per image, linear RGB of one row.
    rgb: [[Vec<f32>; 3]; 2],
    /// Y, Cx, Cz and normalised L* of one row, padded by `halo` columns on each side.
    padded: [Vec<f32>; 4],
    /// y-filtered planes of one output row.
    acc: Vec<f32>,
    /// FLIP of one output row at one exposure.
    row: Vec<f32>,
}

impl<'k, 'a> Task<'k, 'a> {
    fn new(k: &'k Kernel<'a>) -> Task<'k, 'a> {
        let w = k.width;
        let ring_rows = 2 * k.halo + 1;
        let plane = || vec![0.0f32; w];
        Task {
            k,
            ring: vec![0.0; ring_rows * 2 * X_PLANES * w],
            ring_rows,
            rgb: [[plane(), plane(), plane()], [plane(), plane(), plane()]],
            padded: std::array::from_fn(|_| vec![0.0; w + 2 * k.halo]),
            acc: vec![0.0; 2 * Y_PLANES * w],
            row: plane(),
        }
    }

    #[inline(always)]
    fn run(&mut self, y0: isize, out: &mut [f32]) {
        let exposures = match self.k.hdr {
            Some(e) => (0..e.count)
                .map(|i| Some((e.factor(i), e.tonemapper)))
                .collect(),
            None => vec![None],
        };
        // HDR-FLIP keeps the largest value over the exposures, from 0 as the reference does.
        let keep_max = self.k.hdr.is_some();
        for exposure in exposures {
            self.exposure(y0, out, exposure, !keep_max);
        }
    }

    /// FLIP of the rows of `out` at one exposure (`None` for LDR-FLIP): written with `write`,
    /// else kept where larger than `out`'s.
    #[inline(always)]
    fn exposure(
        &mut self,
        y0: isize,
        out: &mut [f32],
        exposure: Option<(f32, Tonemapper)>,
        write: bool,
    ) {
        let k = self.k;
        let w = k.width;
        let halo = k.halo as isize;
        let mut next = (y0 - halo).max(k.lo);
        for (i, out) in out.chunks_exact_mut(w).enumerate() {
            let y = y0 + i as isize;
            while next <= (y + halo).min(k.hi - 1) {
                self.filter_x(next, exposure);
                next += 1;
            }
            self.filter_y(y);
            self.finish(out, write);
        }
    }

    fn slot(&self, y: isize) -> usize {
        (y - self.k.lo) as usize % self.ring_rows
    }

    /// Converts counted row `y` of both images and filters it along x into its ring slot.
    #[inline(always)]
    fn filter_x(&mut self, y: isize, exposure: Option<(f32, Tonemapper)>) {
        let k = self.k;
        let (w, halo) = (k.width, k.halo);
        let held = (k.first as isize + y) as usize;
        let slot = self.slot(y);
        for image in 0..2 {
            self.load(image, held, exposure);
            let [r, g, b] = &self.rgb[image];
            let [py, pcx, pcz, pl] = &mut self.padded;
            for x in 0..w {
                let c = colour::xyz_to_ycxcz(colour::rgb_to_xyz([r[x], g[x], b[x]]));
                py[halo + x] = c[0];
                pcx[halo + x] = c[1];
                pcz[halo + x] = c[2];
                pl[halo + x] = c[0] * (1.0 / 116.0) + 16.0 / 116.0;
            }
            for p in &mut self.padded {
                let (left, right) = (p[halo], p[halo + w - 1]);
                p[..halo].fill(left);
                p[halo + w..].fill(right);
            }
            let planes = (slot * 2 + image) * X_PLANES * w;
            let planes = &mut self.ring[planes..planes + X_PLANES * w];
            let mut planes = planes.chunks_exact_mut(w);
            let f = &k.filters;
            let [py, pcx, pcz, pl] = &self.padded;
            let spatial = halo - f.spatial_radius;
            let feature = halo - f.feature_radius;
            let sources = [py, pcx, pcz, pcz];
            for (taps, src) in f.spatial.iter().zip(sources) {
                convolve(planes.next().unwrap(), src, taps, spatial);
            }
            let [g, dg, ddg] = &f.feature;
            for taps in [dg, ddg, g] {
                convolve(planes.next().unwrap(), pl, taps, feature);
            }
        }
    }

    /// Linear RGB of held row `held` of one image: sRGB decoded for LDR-FLIP; exposed,
    /// tone-mapped and clamped for HDR-FLIP.
    #[inline(always)]
    fn load(&mut self, image: usize, held: usize, exposure: Option<(f32, Tonemapper)>) {
        let (w, c) = (self.k.width, self.k.channels);
        let range = held * w * c..(held + 1) * w * c;
        let [r, g, b] = &mut self.rgb[image];
        let mut put = |f: &dyn Fn(usize) -> f32| {
            for x in 0..w {
                let i = x * c;
                if c >= 3 {
                    (r[x], g[x], b[x]) = (f(i), f(i + 1), f(i + 2));
                } else {
                    let v = f(i);
                    (r[x], g[x], b[x]) = (v, v, v);
                }
            }
        };
        match (self.k.images[image], exposure) {
            (Image::U8(s), None) => {
                let table = linear_table(8);
                put(&|i| table[usize::from(s[range.start + i])]);
            }
            (Image::U16(s), None) => {
                let table = linear_table(16);
                put(&|i| table[usize::from(s[range.start + i])]);
            }
            (Image::F32(s), None) => {
                put(&|i| colour::clamp01(colour::srgb_to_linear(s[range.start + i])));
            }
            (Image::U8(s), Some(_)) => put(&|i| f32::from(s[range.start + i]) / 255.0),
            (Image::U16(s), Some(_)) => put(&|i| f32::from(s[range.start + i]) / 65535.0),
            (Image::F32(s), Some(_)) => put(&|i| s[range.start + i]),
        }
        if let Some((factor, tonemapper)) = exposure {
            let coefficients = tonemapper.coefficients();
            let reinhard = tonemapper == Tonemapper::Reinhard;
            for x in 0..w {
                let exposed = [r[x] * factor, g[x] * factor, b[x] * factor];
                [r[x], g[x], b[x]] = colour::tonemap(exposed, &coefficients, reinhard);
            }
        }
    }

    /// Filters the ring along y for output row `y` into `acc`, clamping at the band's edges.
    #[inline(always)]
    fn filter_y(&mut self, y: isize) {
        let k = self.k;
        let w = k.width;
        let f = &k.filters;
        self.acc.fill(0.0);
        let ring_rows = self.ring_rows;
        let row_of = |dy: isize| ((y + dy).clamp(k.lo, k.hi - 1) - k.lo) as usize % ring_rows;
        let (rs, rf) = (f.spatial_radius as isize, f.feature_radius as isize);
        for image in 0..2 {
            let acc = &mut self.acc[image * Y_PLANES * w..(image + 1) * Y_PLANES * w];
            let (colour, feature) = acc.split_at_mut(4 * w);
            for (i, dy) in (-rs..=rs).enumerate() {
                let planes = (row_of(dy) * 2 + image) * X_PLANES * w;
                let src = &self.ring[planes..planes + 4 * w];
                for p in 0..4 {
                    let range = p * w..(p + 1) * w;
                    accumulate(&mut colour[range.clone()], &src[range], f.spatial[p][i]);
                }
            }
            let [g, dg, ddg] = &f.feature;
            for (i, dy) in (-rf..=rf).enumerate() {
                let planes = (row_of(dy) * 2 + image) * X_PLANES * w + 4 * w;
                let src = &self.ring[planes..planes + 3 * w];
                let (dx, rest) = feature.split_at_mut(w);
                let (ddx, rest) = rest.split_at_mut(w);
                let (dy_, ddy) = rest.split_at_mut(w);
                accumulate(dx, &src[..w], g[i]);
                accumulate(ddx, &src[w..2 * w], g[i]);
                accumulate(dy_, &src[2 * w..], dg[i]);
                accumulate(ddy, &src[2 * w..], ddg[i]);
            }
        }
    }

    /// FLIP of each pixel of the row from `acc`, into `out`.
    #[inline(always)]
    fn finish(&mut self, out: &mut [f32], write: bool) {
        let w = self.k.width;
        let remap = self.k.remap;
        let [a, b] = [0, 1].map(|image| &self.acc[image * Y_PLANES * w..][..Y_PLANES * w]);
        let plane = |planes: &[f32], p: usize, x: usize| planes[p * w + x];
        for x in 0..w {
            let ycxcz = |p: &[f32]| {
                [
                    plane(p, 0, x),
                    plane(p, 1, x),
                    plane(p, 2, x) + plane(p, 3, x),
                ]
            };
            let colour_difference = remap.colour_difference(ycxcz(a), ycxcz(b));
            let edge = [a, b].map(|p| colour::length(plane(p, 4, x), plane(p, 6, x)));
            let point = [a, b].map(|p| colour::length(plane(p, 5, x), plane(p, 7, x)));
            self.row[x] = colour::flip(colour_difference, edge, point);
        }
        if write {
            out.copy_from_slice(&self.row);
        } else {
            for (o, v) in out.iter_mut().zip(&self.row) {
                if *v > *o {
                    *o = *v;
                }
            }
        }
    }
}
