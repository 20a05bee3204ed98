//! The FLIP kernel on the CPU, the twin of `shaders/flip.wgsl`. The counted rows are split into
//! tasks for rayon's threads. A task walks its rows down the band: each input row is converted
//! (to linear RGB, tone-mapped at the exposure for HDR, then YCxCz) and filtered along x into a
//! ring of the last `2 * halo + 1` rows; each output row filters that ring along y and finishes
//! pixel by pixel. The filter loops run over x on planar f32 rows, for the compiler to
//! vectorise (with AVX-512 or AVX2 where the CPU has them; no fused multiply-adds, so every
//! path gives the same bits); taps are summed in the reference's order.

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

    /// Fills `out` with the counted rows from `y0` on, with AVX-512 or AVX2 where the CPU has
    /// them.
    fn task(&self, y0: isize, out: &mut [f32]) {
        let mut task = Task::new(self);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has just been found to have AVX-512.
            unsafe { run_avx512(&mut task, y0, out) };
            return;
        }
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
#[target_feature(enable = "avx512f")]
fn run_avx512(task: &mut Task, y0: isize, out: &mut [f32]) {
    task.run(y0, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2(task: &mut Task, y0: isize, out: &mut [f32]) {
    task.run(y0, out);
}

/// Pixels filtered at once: accumulators that stay in registers, enough of them for the adds
/// of one tap to overlap (four AVX-512 or eight AVX2 registers); then a narrower block and
/// single pixels for the rest of a row.
const LANES: usize = 64;
const NARROW: usize = 8;

/// `out[x] = Σ taps[k] * src[x + k]`, summed in tap order; `src` holds the row padded by the
/// filter's radius on each side.
#[inline(always)]
fn convolve_x(out: &mut [f32], src: &[f32], taps: &[f32]) {
    let src = &src[..out.len() + taps.len() - 1];
    let done = blocks_x::<LANES>(out, 0, src, taps);
    let done = blocks_x::<NARROW>(out, done, src, taps);
    blocks_x::<1>(out, done, src, taps);
}

/// `convolve_x` for the pixels from `start` in blocks of `L`; returns where they end.
#[inline(always)]
fn blocks_x<const L: usize>(out: &mut [f32], start: usize, src: &[f32], taps: &[f32]) -> usize {
    let len = out.len();
    let mut blocks = out[start..].chunks_exact_mut(L);
    for (i, block) in (&mut blocks).enumerate() {
        let x = start + i * L;
        let mut acc = [0.0f32; L];
        for (k, &t) in taps.iter().enumerate() {
            let s = &src[x + k..][..L];
            for l in 0..L {
                acc[l] += t * s[l];
            }
        }
        block.copy_from_slice(&acc);
    }
    len - blocks.into_remainder().len()
}

/// `out[x] = Σ taps[k] * src[rows[k] + x]`, summed in tap order: a filter along y over rows
/// of `src` that start at `rows`.
#[inline(always)]
fn convolve_y(out: &mut [f32], src: &[f32], rows: &[usize], taps: &[f32]) {
    let rows = &rows[..taps.len()];
    let done = blocks_y::<LANES>(out, 0, src, rows, taps);
    let done = blocks_y::<NARROW>(out, done, src, rows, taps);
    blocks_y::<1>(out, done, src, rows, taps);
}

/// `convolve_y` for the pixels from `start` in blocks of `L`; returns where they end.
#[inline(always)]
fn blocks_y<const L: usize>(
    out: &mut [f32],
    start: usize,
    src: &[f32],
    rows: &[usize],
    taps: &[f32],
) -> usize {
    let len = out.len();
    let mut blocks = out[start..].chunks_exact_mut(L);
    for (i, block) in (&mut blocks).enumerate() {
        let x = start + i * L;
        let mut acc = [0.0f32; L];
        for (&t, &row) in taps.iter().zip(rows) {
            let s = &src[row + x..][..L];
            for l in 0..L {
                acc[l] += t * s[l];
            }
        }
        block.copy_from_slice(&acc);
    }
    len - blocks.into_remainder().len()
}

/// The linear value of each 8-bit (`bits` 8) or 16-bit sRGB sample, clamped as the reference
/// does.
pub(crate) fn linear_table(bits: u32) -> &'static [f32] {
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

/// Spreads a row of `channels` samples per pixel into planes of red, green and blue,
/// as `value` makes them; grey goes to all three, alpha is dropped.
#[inline(always)]
fn spread<T: Copy>(
    row: &[T],
    channels: usize,
    [r, g, b]: [&mut [f32]; 3],
    value: impl Fn(T) -> f32,
) {
    let pixels = row.chunks_exact(channels).zip(r).zip(g).zip(b);
    for (((pixel, r), g), b) in pixels {
        if channels >= 3 {
            (*r, *g, *b) = (value(pixel[0]), value(pixel[1]), value(pixel[2]));
        } else {
            let v = value(pixel[0]);
            (*r, *g, *b) = (v, v, v);
        }
    }
}

/// One task's scratch rows.
struct Task<'k, 'a> {
    k: &'k Kernel<'a>,
    /// x-filtered rows, `ring_rows` of them, `2 * X_PLANES` planes each.
    ring: Vec<f32>,
    ring_rows: usize,
    /// Per image, linear RGB of one row.
    rgb: [[Vec<f32>; 3]; 2],
    /// Y, Cx, Cz and normalised L* of one row, padded by `halo` columns on each side.
    padded: [Vec<f32>; 4],
    /// y-filtered planes of one output row.
    acc: Vec<f32>,
    /// Per image, X, Y and Z relative to white of one output row, then their CIELab roots.
    roots: Vec<f32>,
    /// FLIP of one output row at one exposure.
    row: Vec<f32>,
    /// Where each tap's row starts in `ring`, for one filter along y.
    rows: Vec<usize>,
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
            roots: vec![0.0; 6 * w],
            row: plane(),
            rows: Vec::with_capacity(ring_rows),
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
            let (r, g, b) = (&r[..w], &g[..w], &b[..w]);
            let [py, pcx, pcz, pl] = &mut self.padded;
            let (py, pcx) = (&mut py[halo..halo + w], &mut pcx[halo..halo + w]);
            let (pcz, pl) = (&mut pcz[halo..halo + w], &mut pl[halo..halo + w]);
            for x in 0..w {
                let c = colour::xyz_to_ycxcz(colour::rgb_to_xyz([r[x], g[x], b[x]]));
                py[x] = c[0];
                pcx[x] = c[1];
                pcz[x] = c[2];
                pl[x] = c[0] * colour::ONE_OVER_116 + colour::SIXTEEN_OVER_116;
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
                convolve_x(planes.next().unwrap(), &src[spatial..], taps);
            }
            let [g, dg, ddg] = &f.feature;
            for taps in [dg, ddg, g] {
                convolve_x(planes.next().unwrap(), &pl[feature..], taps);
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
        let (r, g, b) = (&mut r[..w], &mut g[..w], &mut b[..w]);
        match (self.k.images[image], exposure) {
            (Image::U8(s), None) => {
                let table = linear_table(8);
                spread(&s[range], c, [r, g, b], |v| table[usize::from(v)]);
            }
            (Image::U16(s), None) => {
                let table = linear_table(16);
                spread(&s[range], c, [r, g, b], |v| table[usize::from(v)]);
            }
            (Image::F32(s), None) => spread(&s[range], c, [r, g, b], |v| {
                colour::clamp01(colour::srgb_to_linear(v))
            }),
            (Image::U8(s), Some(_)) => spread(&s[range], c, [r, g, b], |v| f32::from(v) / 255.0),
            (Image::U16(s), Some(_)) => {
                spread(&s[range], c, [r, g, b], |v| f32::from(v) / 65535.0);
            }
            (Image::F32(s), Some(_)) => spread(&s[range], c, [r, g, b], |v| v),
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
        let ring_rows = self.ring_rows;
        let slot = |dy: isize| ((y + dy).clamp(k.lo, k.hi - 1) - k.lo) as usize % ring_rows;
        let (rs, rf) = (f.spatial_radius as isize, f.feature_radius as isize);
        let [g, dg, ddg] = &f.feature;
        for image in 0..2 {
            let acc = &mut self.acc[image * Y_PLANES * w..(image + 1) * Y_PLANES * w];
            let mut acc = acc.chunks_exact_mut(w);
            let plane = |slot: usize, p: usize| ((slot * 2 + image) * X_PLANES + p) * w;
            for p in 0..4 {
                self.rows.clear();
                self.rows.extend((-rs..=rs).map(|dy| plane(slot(dy), p)));
                convolve_y(acc.next().unwrap(), &self.ring, &self.rows, &f.spatial[p]);
            }
            // dx and ddx: the x-derivatives filtered by the Gaussian; dy and ddy: the
            // Gaussian filtered by the y-derivatives.
            for (p, taps) in [(4, g), (5, g), (6, dg), (6, ddg)] {
                self.rows.clear();
                self.rows.extend((-rf..=rf).map(|dy| plane(slot(dy), p)));
                convolve_y(acc.next().unwrap(), &self.ring, &self.rows, taps);
            }
        }
    }

    /// FLIP of each pixel of the row from `acc`, into `out`: in loops over the row, one
    /// step of the colour pipeline each, that the compiler vectorises.
    #[inline(always)]
    fn finish(&mut self, out: &mut [f32], write: bool) {
        let w = self.k.width;
        let remap = self.k.remap;
        let mut planes = self.acc.chunks_exact(w);
        let mut next = || planes.next().unwrap_or_default();
        let [ay, acx, acz1, acz2, adx, addx, ady, addy] = [(); Y_PLANES].map(|()| next());
        let [by, bcx, bcz1, bcz2, bdx, bddx, bdy, bddy] = [(); Y_PLANES].map(|()| next());
        let mut roots = self.roots.chunks_exact_mut(w);
        let mut next = || roots.next().unwrap_or_default();
        let [rax, ray, raz, rbx, rby, rbz] = [(); 6].map(|()| next());
        for (y, cx, cz1, cz2, [rx, ry, rz]) in [
            (ay, acx, acz1, acz2, [&mut *rax, &mut *ray, &mut *raz]),
            (by, bcx, bcz1, bcz2, [&mut *rbx, &mut *rby, &mut *rbz]),
        ] {
            let (cx, cz1, cz2) = (&cx[..w], &cz1[..w], &cz2[..w]);
            let (rx, ry, rz) = (&mut rx[..w], &mut ry[..w], &mut rz[..w]);
            for x in 0..w {
                [rx[x], ry[x], rz[x]] = colour::filtered_to_white([y[x], cx[x], cz1[x] + cz2[x]]);
            }
        }
        for v in &mut self.roots {
            *v = colour::lab_root(*v);
        }
        let [rax, ray, raz, rbx, rby, rbz] = {
            let mut roots = self.roots.chunks_exact(w);
            [(); 6].map(|()| roots.next().unwrap_or_default())
        };
        let row = &mut self.row[..w];
        let (ady, addy, bdx, bddx, bdy, bddy) = (
            &ady[..w],
            &addy[..w],
            &bdx[..w],
            &bddx[..w],
            &bdy[..w],
            &bddy[..w],
        );
        let (adx, addx) = (&adx[..w], &addx[..w]);
        let (ray, raz, rbx, rby, rbz) = (&ray[..w], &raz[..w], &rbx[..w], &rby[..w], &rbz[..w]);
        for x in 0..w {
            let a = colour::hunted(colour::lab_of_roots(rax[x], ray[x], raz[x]));
            let b = colour::hunted(colour::lab_of_roots(rbx[x], rby[x], rbz[x]));
            let colour_difference = remap.remap(colour::hyab(a, b));
            let edge = [
                colour::length(adx[x], ady[x]),
                colour::length(bdx[x], bdy[x]),
            ];
            let point = [
                colour::length(addx[x], addy[x]),
                colour::length(bddx[x], bddy[x]),
            ];
            row[x] = colour::flip(colour_difference, edge, point);
        }
        if write {
            out.copy_from_slice(row);
        } else {
            for (o, v) in out.iter_mut().zip(row.iter()) {
                if *v > *o {
                    *o = *v;
                }
            }
        }
    }
}
