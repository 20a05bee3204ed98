//! Resizing as Pillow's `Image.resize` does with its default filter, so that ratios after a
//! resize match the original diffimg to the last digit: a separable bicubic convolution
//! (a = -0.5, its support widened by the scale when shrinking), in two passes whose results are
//! each rounded to the sample type. The horizontal pass comes first, over the rows the vertical
//! pass reads, unless the height shrinks by more than twice as many pixels as the width does
//! (Pillow 13's order; earlier versions always went horizontally first, which gives the same
//! pixels whenever the height does not shrink that much).
//!
//! 8-bit samples are convolved in 22-bit fixed point, as Pillow does for its 8-bit modes, and
//! images with alpha are resized premultiplied (Pillow's RGBa and La modes), with its rounding
//! both ways. 16-bit samples follow Pillow's I;16 mode: double-precision sums, rounded half away
//! from zero and clamped. Pillow has no 16-bit colour or alpha mode; here each channel is
//! resized as I;16 is, alpha premultiplied at 16 bits.
//!
//! The image to resize is held whole, in its own sample type, with its horizontally resized
//! rows when that pass comes first; output rows are computed band by band as they are read, so
//! the resized image is never held.

use std::path::Path;

use rayon::prelude::*;

use crate::decode::{Header, PixelLimits, RowSource};
use crate::error::Error;
use crate::pixel::{Layout, Samples};

/// Bytes that resizing may hold: as much as an RGBA 8-bit image at the limit for images decoded
/// whole takes (1 GiB by default).
pub fn budget(limits: PixelLimits) -> u64 {
    limits.whole.saturating_mul(4)
}

/// Bytes held to resize an image of `from` pixels in `layout` to `to` pixels: the image, and its
/// rows resized to the new width when the horizontal pass comes first.
pub fn bytes_held(layout: Layout, from: (u32, u32), to: (u32, u32)) -> u64 {
    let pixel = layout.bytes_per_pixel() as u64;
    let source = u64::from(from.0) * u64::from(from.1);
    let rows = if from.0 == to.0 || vertical_first(from, to) {
        0
    } else {
        u64::from(to.0) * u64::from(from.1)
    };
    (source + rows) * pixel
}

/// Whether Pillow makes the vertical pass first: when the height shrinks by more than twice
/// as many pixels as the width.
fn vertical_first(from: (u32, u32), to: (u32, u32)) -> bool {
    let shrink = |a: u32, b: u32| i64::from(a) - i64::from(b);
    let (width, height) = (shrink(from.0, to.0), shrink(from.1, to.1));
    height > 0 && height > width * 2
}

/// Reads `source` whole and returns its rows resized to `width` x `height`, computed as they
/// are read. Refuses, before reading, what would hold more bytes than `budget(limits)`.
pub fn resized(
    mut source: Box<dyn RowSource>,
    width: u32,
    height: u32,
    name: &Path,
    limits: PixelLimits,
) -> Result<Box<dyn RowSource>, Error> {
    let header = source.header();
    let (from, to) = ((header.width, header.height), (width, height));
    let (bytes, budget) = (bytes_held(header.layout, from, to), budget(limits));
    if bytes > budget {
        return Err(Error::ResizeBudget {
            path: name.to_owned(),
            from,
            to,
            bytes,
            budget,
        });
    }
    let mut samples = Samples::zeroed(header.layout.depth, 0);
    source.read_rows(header.height, &mut samples)?;
    let expected = header.pixels() as usize * header.layout.channels as usize;
    if samples.len() != expected {
        return Err(Error::decode(
            name,
            "decoded size does not match the header",
        ));
    }
    Ok(Box::new(Resized::new(header, samples, width, height)))
}

/// Resizes a whole image at once: `samples` of `header`'s size and layout to `width` x `height`.
#[cfg(test)]
fn resize(header: Header, samples: Samples, width: u32, height: u32) -> Samples {
    let mut rows = Resized::new(header, samples, width, height);
    let mut out = Samples::zeroed(header.layout.depth, 0);
    rows.fill(height, &mut out);
    out
}

/// Pillow's bicubic filter, a = -0.5, evaluated in the same order of operations.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// The filter taps of one pass: for each output position, the first input position it reads,
/// and its weights (`stride` slots each, unused ones zero).
struct Taps<K> {
    first: Vec<usize>,
    count: Vec<usize>,
    stride: usize,
    weights: Vec<K>,
}

impl<K: Copy> Taps<K> {
    /// The taps that map `input` positions onto `output`, weights converted by `convert`.
    fn new(input: u32, output: u32, convert: impl Fn(f64) -> K) -> Taps<K> {
        // Pillow takes the box edges as single-precision floats.
        let scale = f64::from(input as f32) / f64::from(output);
        let widen = scale.max(1.0);
        let support = 2.0 * widen;
        let stride = support.ceil() as usize * 2 + 1;
        let step = 1.0 / widen;
        let (mut first, mut count) = (Vec::new(), Vec::new());
        let mut weights = Vec::with_capacity(output as usize * stride);
        let mut raw = vec![0.0; stride];
        for out in 0..output {
            let centre = (f64::from(out) + 0.5) * scale;
            // Rounded by truncation towards zero, as C's conversion to int does.
            let start = ((centre - support + 0.5) as i64).max(0);
            let end = ((centre + support + 0.5) as i64).min(i64::from(input));
            let taps = (end - start).max(0) as usize;
            let mut total = 0.0;
            for (i, w) in raw.iter_mut().enumerate() {
                *w = if i < taps {
                    bicubic(((i as i64 + start) as f64 - centre + 0.5) * step)
                } else {
                    0.0
                };
            }
            for w in &raw[..taps] {
                total += w;
            }
            for w in &mut raw[..taps] {
                if total != 0.0 {
                    *w /= total;
                }
            }
            weights.extend(raw.iter().map(|&w| convert(w)));
            first.push(start as usize);
            count.push(taps);
        }
        Taps {
            first,
            count,
            stride,
            weights,
        }
    }

    /// The input positions and weights of output position `out`.
    fn of(&self, out: usize) -> (usize, &[K]) {
        let weights = &self.weights[out * self.stride..][..self.count[out]];
        (self.first[out], weights)
    }

    /// The input positions read: from the first tap of the first output to the last of the last.
    fn span(&self) -> (usize, usize) {
        let last = self.first.len() - 1;
        (self.first[0], self.first[last] + self.count[last])
    }
}

/// A sample type as Pillow's resampling treats it.
trait Resample: Copy + Default + Send + Sync {
    type Weight: Copy + Send + Sync;
    type Sum: Copy + Send + Sync;
    const MAX: u32;
    fn weight(w: f64) -> Self::Weight;
    fn start() -> Self::Sum;
    fn add(sum: Self::Sum, value: Self, weight: Self::Weight) -> Self::Sum;
    fn finish(sum: Self::Sum) -> Self;
    fn to_u32(self) -> u32;
    fn from_u32(v: u32) -> Self;
    fn samples_mut(samples: &mut Samples) -> &mut Vec<Self>;
}

/// Fractional bits of Pillow's 8-bit fixed point (32 - 8 - 2).
const PRECISION_BITS: u32 = 22;

impl Resample for u8 {
    type Weight = i32;
    type Sum = i32;
    const MAX: u32 = 255;
    fn weight(w: f64) -> i32 {
        let scaled = w * f64::from(1u32 << PRECISION_BITS);
        if w < 0.0 {
            (scaled - 0.5) as i32
        } else {
            (scaled + 0.5) as i32
        }
    }
    fn start() -> i32 {
        1 << (PRECISION_BITS - 1)
    }
    fn add(sum: i32, value: u8, weight: i32) -> i32 {
        sum.wrapping_add(i32::from(value).wrapping_mul(weight))
    }
    fn finish(sum: i32) -> u8 {
        (sum >> PRECISION_BITS).clamp(0, 255) as u8
    }
    fn to_u32(self) -> u32 {
        self.into()
    }
    fn from_u32(v: u32) -> u8 {
        v.min(255) as u8
    }
    fn samples_mut(samples: &mut Samples) -> &mut Vec<u8> {
        if !matches!(samples, Samples::U8(_)) {
            *samples = Samples::U8(Vec::new());
        }
        match samples {
            Samples::U8(v) => v,
            _ => unreachable!("made 8-bit above"),
        }
    }
}

impl Resample for u16 {
    type Weight = f64;
    type Sum = f64;
    const MAX: u32 = 65535;
    fn weight(w: f64) -> f64 {
        w
    }
    fn start() -> f64 {
        0.0
    }
    fn add(sum: f64, value: u16, weight: f64) -> f64 {
        sum + f64::from(value) * weight
    }
    /// Rounded half away from zero, then clamped.
    fn finish(sum: f64) -> u16 {
        let rounded = if sum >= 0.0 { sum + 0.5 } else { sum - 0.5 } as i32;
        rounded.clamp(0, 65535) as u16
    }
    fn to_u32(self) -> u32 {
        self.into()
    }
    fn from_u32(v: u32) -> u16 {
        v.min(65535) as u16
    }
    fn samples_mut(samples: &mut Samples) -> &mut Vec<u16> {
        if !matches!(samples, Samples::U16(_)) {
            *samples = Samples::U16(Vec::new());
        }
        match samples {
            Samples::U16(v) => v,
            _ => unreachable!("made 16-bit above"),
        }
    }
}

/// `c * a / MAX` rounded as Pillow's MULDIV255 rounds (exact for every 8-bit pair), and its
/// 16-bit counterpart.
fn premultiply<S: Resample>(c: S, a: S) -> S {
    let bits = if S::MAX == 255 { 8 } else { 16 };
    let t = u64::from(c.to_u32()) * u64::from(a.to_u32()) + (1 << (bits - 1));
    S::from_u32(((t + (t >> bits)) >> bits) as u32)
}

/// Undoes `premultiply` as Pillow does: unchanged where alpha is 0 or opaque, else
/// `c * MAX / a` truncated and clamped.
fn unpremultiply<S: Resample>(c: S, a: S) -> S {
    let a = a.to_u32();
    if a == 0 || a == S::MAX {
        c
    } else {
        S::from_u32(c.to_u32() * S::MAX / a)
    }
}

/// Applies `f(colour, alpha)` to the colour samples of every pixel of `rows`.
fn for_colours<S: Resample>(rows: &mut [S], channels: usize, f: fn(S, S) -> S) {
    rows.par_chunks_mut(channels * 4096).for_each(|chunk| {
        for pixel in chunk.chunks_exact_mut(channels) {
            let (colour, alpha) = pixel.split_at_mut(channels - 1);
            for c in colour {
                *c = f(*c, alpha[0]);
            }
        }
    });
}

/// An image being resized: what is held (the source, premultiplied when it has alpha, or its
/// horizontally resized rows), and the passes left to make on each output row.
struct Resized {
    header: Header,
    plan: Plan,
    next_row: u32,
}

enum Plan {
    Eight(Passes<u8>),
    Sixteen(Passes<u16>),
}

/// Rows held, and the passes that make an output row of them.
struct Passes<S: Resample> {
    rows: Vec<S>,
    /// Pixels in a row of `rows`.
    rows_width: usize,
    channels: usize,
    vertical: Option<Taps<S::Weight>>,
    /// The horizontal pass, when it comes after the vertical one.
    horizontal: Option<Taps<S::Weight>>,
}

impl Resized {
    fn new(header: Header, samples: Samples, width: u32, height: u32) -> Resized {
        let plan = match samples {
            Samples::U8(v) => Plan::Eight(Passes::new(header, v, width, height)),
            Samples::U16(v) => Plan::Sixteen(Passes::new(header, v, width, height)),
            Samples::F32(_) => unreachable!("resizing refuses floating-point images"),
        };
        Resized {
            header: Header {
                width,
                height,
                layout: header.layout,
            },
            plan,
            next_row: 0,
        }
    }

    /// Computes the next `rows` output rows into `dst`.
    fn fill(&mut self, rows: u32, dst: &mut Samples) {
        let range = self.next_row as usize..(self.next_row + rows) as usize;
        let (width, alpha) = (self.header.width as usize, self.header.layout.has_alpha());
        match &self.plan {
            Plan::Eight(p) => p.fill(range, width, alpha, u8::samples_mut(dst)),
            Plan::Sixteen(p) => p.fill(range, width, alpha, u16::samples_mut(dst)),
        }
        self.next_row += rows;
    }
}

impl RowSource for Resized {
    fn header(&self) -> Header {
        self.header
    }

    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error> {
        self.fill(rows, dst);
        Ok(())
    }
}

impl<S: Resample> Passes<S> {
    /// Premultiplies alpha, and makes the horizontal pass when it comes first.
    fn new(header: Header, mut rows: Vec<S>, width: u32, height: u32) -> Passes<S> {
        let channels = header.layout.channels as usize;
        if header.layout.has_alpha() {
            for_colours(&mut rows, channels, premultiply::<S>);
        }
        let (from, to) = ((header.width, header.height), (width, height));
        let mut vertical = (height != header.height).then(|| Taps::new(from.1, to.1, S::weight));
        let horizontal = (width != header.width).then(|| Taps::new(from.0, to.0, S::weight));
        let mut passes = Passes {
            rows,
            rows_width: header.width as usize,
            channels,
            vertical: None,
            horizontal: None,
        };
        match horizontal {
            Some(taps) if vertical_first(from, to) => passes.horizontal = Some(taps),
            Some(taps) => {
                // Only the rows the vertical pass reads are resized, and it counts from them.
                let (first, end) = vertical.as_ref().map_or((0, from.1 as usize), Taps::span);
                if let Some(vertical) = &mut vertical {
                    vertical.first.iter_mut().for_each(|start| *start -= first);
                }
                let row_len = from.0 as usize * channels;
                let source = &passes.rows[first * row_len..end * row_len];
                passes.rows = horizontal_rows(source, row_len, channels, &taps);
                passes.rows_width = width as usize;
            }
            None => {}
        }
        passes.vertical = vertical;
        passes
    }

    /// Output rows `range` (each `width` pixels) into `dst`, alpha unpremultiplied.
    fn fill(&self, range: std::ops::Range<usize>, width: usize, alpha: bool, dst: &mut Vec<S>) {
        let (channels, held_len) = (self.channels, self.rows_width * self.channels);
        let out_len = width * channels;
        dst.clear();
        dst.resize(range.len() * out_len, S::default());
        dst.par_chunks_mut(out_len.max(1)).zip(range).for_each_init(
            || (Vec::new(), Vec::new()),
            |(sums, row), (out, y)| {
                let row: &[S] = match &self.vertical {
                    Some(taps) => {
                        vertical_row(&self.rows, held_len, taps.of(y), sums, row);
                        row
                    }
                    None => &self.rows[y * held_len..][..held_len],
                };
                match &self.horizontal {
                    Some(taps) => horizontal_row(row, out, channels, taps),
                    None => out.copy_from_slice(row),
                }
            },
        );
        if alpha {
            for_colours(dst, channels, unpremultiply::<S>);
        }
    }
}

/// The horizontal pass over `rows` (each `row_len` samples), on rayon's threads.
fn horizontal_rows<S: Resample>(
    rows: &[S],
    row_len: usize,
    channels: usize,
    taps: &Taps<S::Weight>,
) -> Vec<S> {
    let out_len = taps.first.len() * channels;
    let mut out = vec![S::default(); rows.len() / row_len.max(1) * out_len];
    out.par_chunks_mut(out_len.max(1))
        .zip(rows.par_chunks(row_len.max(1)))
        .for_each(|(out, row)| horizontal_row(row, out, channels, taps));
    out
}

/// One row of the horizontal pass: `row` resized into `out`.
fn horizontal_row<S: Resample>(row: &[S], out: &mut [S], channels: usize, taps: &Taps<S::Weight>) {
    for (x, pixel) in out.chunks_exact_mut(channels).enumerate() {
        let (first, weights) = taps.of(x);
        let input = &row[first * channels..];
        for (c, sample) in pixel.iter_mut().enumerate() {
            let mut sum = S::start();
            for (i, &w) in weights.iter().enumerate() {
                sum = S::add(sum, input[i * channels + c], w);
            }
            *sample = S::finish(sum);
        }
    }
}

/// One row of the vertical pass over `rows` (each `row_len` samples) into `out`, with the
/// taps of that row; `sums` is scratch space.
fn vertical_row<S: Resample>(
    rows: &[S],
    row_len: usize,
    (first, weights): (usize, &[S::Weight]),
    sums: &mut Vec<S::Sum>,
    out: &mut Vec<S>,
) {
    sums.clear();
    sums.resize(row_len, S::start());
    // Each output sample adds its taps in order from the first, as Pillow does.
    for (i, &w) in weights.iter().enumerate() {
        let input = &rows[(first + i) * row_len..][..row_len];
        for (sum, &v) in sums.iter_mut().zip(input) {
            *sum = S::add(*sum, v, w);
        }
    }
    out.clear();
    out.extend(sums.iter().map(|&sum| S::finish(sum)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bicubic_weights_sum_to_one_and_vanish_at_integers() {
        assert_eq!(bicubic(0.0), 1.0);
        assert_eq!(bicubic(1.0), 0.0);
        assert_eq!(bicubic(-2.0), 0.0);
        let taps = Taps::new(10, 3, |w| w);
        for out in 0..3 {
            let sum: f64 = taps.of(out).1.iter().sum();
            assert!((sum - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn premultiplied_rounding_is_pillows() {
        assert_eq!(premultiply(255u8, 128), 128);
        assert_eq!(premultiply(100u8, 0), 0);
        assert_eq!(premultiply(200u8, 255), 200);
        assert_eq!(unpremultiply(64u8, 128), 127);
        assert_eq!(unpremultiply(200u8, 100), 255);
    }

    #[test]
    fn sixteen_bit_sums_round_half_away_and_clamp() {
        assert_eq!(u16::finish(65535.4), 65535);
        assert_eq!(u16::finish(-3.0), 0);
        assert_eq!(u16::finish(65541.0), 65535);
        assert_eq!(u16::finish(2.5), 3);
    }

    #[test]
    fn vertical_pass_first_when_the_height_shrinks_over_twice_the_width() {
        assert!(vertical_first((5, 300), (300, 5)));
        assert!(vertical_first((50, 50), (49, 10)));
        assert!(!vertical_first((80, 51), (37, 23)));
        assert!(!vertical_first((10, 10), (10, 10)));
        assert!(!vertical_first((300, 5), (5, 300)));
    }

    #[test]
    fn same_size_is_unchanged_without_alpha() {
        let header = Header {
            width: 3,
            height: 2,
            layout: Layout::RGB8,
        };
        let samples = Samples::U8((0..18).collect());
        assert_eq!(resize(header, samples.clone(), 3, 2), samples);
    }
}
