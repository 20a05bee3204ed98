//! Pixel layouts (channels and bit depth), sample buffers, and promotion of one layout to another.

use std::fmt;

/// Bits per sample: unsigned integers of 8 or 16 bits, or 32-bit floating point (half-float
/// files are widened to it, exactly).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Depth {
    /// 8-bit integer samples.
    Eight,
    /// 16-bit integer samples.
    Sixteen,
    /// 32-bit floating-point samples.
    Float,
}

/// 1.0 in the fixed point floating-point differences are summed in: units of 2^-24 (see
/// `engine::float`).
pub(crate) const FLOAT_ONE: u64 = 1 << 24;

impl Depth {
    /// The largest sample value of an integer depth; for floating point, the nominal maximum
    /// 1.0 in the fixed point its differences are summed in (see `engine::float`).
    pub fn max_value(self) -> u32 {
        match self {
            Depth::Eight => 255,
            Depth::Sixteen => 65535,
            Depth::Float => FLOAT_ONE as u32,
        }
    }

    /// Bits per sample.
    pub fn bits(self) -> u32 {
        match self {
            Depth::Eight => 8,
            Depth::Sixteen => 16,
            Depth::Float => 32,
        }
    }

    /// Whether samples are floating point.
    pub fn is_float(self) -> bool {
        self == Depth::Float
    }
}

/// How a pixel is stored: 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA, or CMYK) samples of
/// one depth. Alpha, when present, is the last sample; CMYK has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Channels per pixel: 1 grey, 2 grey and alpha, 3 RGB, 4 RGBA or CMYK.
    pub channels: u8,
    /// The sample type.
    pub depth: Depth,
    /// Four ink samples (cyan, magenta, yellow, black) rather than RGBA.
    pub cmyk: bool,
}

impl Layout {
    // Grey (L), grey + alpha (LA), RGB and RGBA, at 8 and 16 bits.
    /// 8-bit grey.
    pub const L8: Layout = Layout::new(1, Depth::Eight);
    /// 8-bit grey with alpha.
    pub const LA8: Layout = Layout::new(2, Depth::Eight);
    /// 8-bit RGB.
    pub const RGB8: Layout = Layout::new(3, Depth::Eight);
    /// 8-bit RGBA.
    pub const RGBA8: Layout = Layout::new(4, Depth::Eight);
    /// 16-bit grey.
    pub const L16: Layout = Layout::new(1, Depth::Sixteen);
    /// 16-bit grey with alpha.
    pub const LA16: Layout = Layout::new(2, Depth::Sixteen);
    /// 16-bit RGB.
    pub const RGB16: Layout = Layout::new(3, Depth::Sixteen);
    /// 16-bit RGBA.
    pub const RGBA16: Layout = Layout::new(4, Depth::Sixteen);
    // CMYK at 8 and 16 bits.
    /// 8-bit CMYK.
    pub const CMYK8: Layout = Layout::cmyk(Depth::Eight);
    /// 16-bit CMYK.
    pub const CMYK16: Layout = Layout::cmyk(Depth::Sixteen);
    // RGBA in floating point.
    /// Floating-point RGBA.
    pub const RGBAF: Layout = Layout::new(4, Depth::Float);

    /// `channels` of `depth`, not CMYK.
    pub const fn new(channels: u8, depth: Depth) -> Layout {
        Layout {
            channels,
            depth,
            cmyk: false,
        }
    }

    /// Four CMYK channels of `depth`.
    pub const fn cmyk(depth: Depth) -> Layout {
        Layout {
            channels: 4,
            depth,
            cmyk: true,
        }
    }

    /// Whether the last channel is alpha.
    pub fn has_alpha(self) -> bool {
        !self.cmyk && (self.channels == 2 || self.channels == 4)
    }

    /// Whether the channels are colours, not grey.
    pub fn has_colour(self) -> bool {
        self.channels >= 3
    }

    /// Bytes of one pixel.
    pub fn bytes_per_pixel(self) -> usize {
        self.channels as usize * (self.depth.bits() as usize / 8)
    }

    /// The smallest layout both `self` and `other` convert to without loss: colour if either
    /// has colour, alpha if either has alpha, the deeper of the two depths. CMYK converts only
    /// to CMYK (the caller refuses CMYK against anything else).
    pub(crate) fn common(self, other: Layout) -> Layout {
        if self.cmyk || other.cmyk {
            return Layout::cmyk(Ord::max(self.depth, other.depth));
        }
        let colour = self.has_colour() || other.has_colour();
        let alpha = self.has_alpha() || other.has_alpha();
        let channels = match (colour, alpha) {
            (false, false) => 1,
            (false, true) => 2,
            (true, false) => 3,
            (true, true) => 4,
        };
        Layout::new(channels, Ord::max(self.depth, other.depth))
    }

    /// Which channels count towards the ratio: a bit per channel index.
    pub(crate) fn counted_mask(self, ignore_alpha: bool) -> u8 {
        let all = (1u8 << self.channels) - 1;
        if ignore_alpha && self.has_alpha() {
            all >> 1
        } else {
            all
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.channels {
            _ if self.cmyk => "CMYK",
            1 => "L",
            2 => "LA",
            3 => "RGB",
            _ => "RGBA",
        };
        match self.depth {
            Depth::Float => write!(f, "{name}32F"),
            _ => write!(f, "{name}{}", self.depth.bits()),
        }
    }
}

/// Samples of whole rows, row-major and interleaved, at 8 or 16 bits or in floating point.
#[derive(Clone, Debug, PartialEq)]
pub enum Samples {
    /// 8-bit samples.
    U8(Vec<u8>),
    /// 16-bit samples.
    U16(Vec<u16>),
    /// Floating-point samples.
    F32(Vec<f32>),
}

impl Samples {
    /// A zeroed buffer of `len` samples at `depth`.
    pub fn zeroed(depth: Depth, len: usize) -> Samples {
        match depth {
            Depth::Eight => Samples::U8(vec![0; len]),
            Depth::Sixteen => Samples::U16(vec![0; len]),
            Depth::Float => Samples::F32(vec![0.0; len]),
        }
    }

    /// The sample type held.
    pub fn depth(&self) -> Depth {
        match self {
            Samples::U8(_) => Depth::Eight,
            Samples::U16(_) => Depth::Sixteen,
            Samples::F32(_) => Depth::Float,
        }
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        match self {
            Samples::U8(v) => v.len(),
            Samples::U16(v) => v.len(),
            Samples::F32(v) => v.len(),
        }
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes this buffer hold `len` samples at `depth`, reusing its allocation when it can.
    /// The contents are unspecified afterwards.
    pub(crate) fn reset(&mut self, depth: Depth, len: usize) {
        match (self, depth) {
            (Samples::U8(v), Depth::Eight) => v.resize(len, 0),
            (Samples::U16(v), Depth::Sixteen) => v.resize(len, 0),
            (Samples::F32(v), Depth::Float) => v.resize(len, 0.0),
            (this, _) => *this = Samples::zeroed(depth, len),
        }
    }

    /// Appends `src[range]`, which must have this depth.
    pub fn extend_from(&mut self, src: &Samples, range: std::ops::Range<usize>) {
        match (self, src) {
            (Samples::U8(v), Samples::U8(s)) => v.extend_from_slice(&s[range]),
            (Samples::U16(v), Samples::U16(s)) => v.extend_from_slice(&s[range]),
            (Samples::F32(v), Samples::F32(s)) => v.extend_from_slice(&s[range]),
            _ => unreachable!("samples of one band share a depth"),
        }
    }

    /// Copies the samples of `pixels` (indices of `channels`-sample pixels) from `src`.
    pub(crate) fn copy_pixels(&mut self, src: &Samples, channels: usize, pixels: &[usize]) {
        fn copy<T: Copy>(dst: &mut [T], src: &[T], c: usize, pixels: &[usize]) {
            for &p in pixels {
                dst[p * c..p * c + c].copy_from_slice(&src[p * c..p * c + c]);
            }
        }
        match (self, src) {
            (Samples::U8(d), Samples::U8(s)) => copy(d, s, channels, pixels),
            (Samples::U16(d), Samples::U16(s)) => copy(d, s, channels, pixels),
            (Samples::F32(d), Samples::F32(s)) => copy(d, s, channels, pixels),
            _ => unreachable!("samples of one band share a depth"),
        }
    }

    /// Sets every sample of `pixels` (indices of `channels`-sample pixels) to the depth's
    /// largest value (1.0 in floating point).
    pub(crate) fn fill_max(&mut self, channels: usize, pixels: &[usize]) {
        for &p in pixels {
            let range = p * channels..p * channels + channels;
            match self {
                Samples::U8(d) => d[range].fill(u8::MAX),
                Samples::U16(d) => d[range].fill(u16::MAX),
                Samples::F32(d) => d[range].fill(1.0),
            }
        }
    }

    /// The samples as native-endian bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Samples::U8(v) => v,
            Samples::U16(v) => bytemuck::cast_slice(v),
            Samples::F32(v) => bytemuck::cast_slice(v),
        }
    }

    /// The samples as native-endian bytes, to write into.
    pub(crate) fn as_bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Samples::U8(v) => v,
            Samples::U16(v) => bytemuck::cast_slice_mut(v),
            Samples::F32(v) => bytemuck::cast_slice_mut(v),
        }
    }
}

/// A sample type: `u8` or `u16`.
pub trait Sample:
    bytemuck::Pod
    + Ord
    + Send
    + Sync
    + Into<u32>
    + std::ops::BitAnd<Output = Self>
    + std::ops::BitOr<Output = Self>
{
    const ZERO: Self;
    const MAX: Self;
    fn abs_diff(self, other: Self) -> Self;
    /// The samples of `samples`, when they are of this type.
    fn slice_mut(samples: &mut Samples) -> Option<&mut [Self]>;
}

impl Sample for u8 {
    const ZERO: u8 = 0;
    const MAX: u8 = u8::MAX;
    fn abs_diff(self, other: u8) -> u8 {
        u8::abs_diff(self, other)
    }
    fn slice_mut(samples: &mut Samples) -> Option<&mut [u8]> {
        match samples {
            Samples::U8(v) => Some(v),
            _ => None,
        }
    }
}

impl Sample for u16 {
    const ZERO: u16 = 0;
    const MAX: u16 = u16::MAX;
    fn abs_diff(self, other: u16) -> u16 {
        u16::abs_diff(self, other)
    }
    fn slice_mut(samples: &mut Samples) -> Option<&mut [u16]> {
        match samples {
            Samples::U16(v) => Some(v),
            _ => None,
        }
    }
}

/// Converts `src` samples in layout `from` into `dst` in layout `to`, which must be
/// `from.common(..)` of some layout: grey is replicated into RGB, missing alpha is opaque (1.0
/// in floating point), 8-bit samples are scaled to 16 bits (`v * 257`, so 255 becomes 65535).
pub fn promote(src: &Samples, from: Layout, to: Layout, dst: &mut Samples) {
    let pixels = src.len() / from.channels as usize;
    dst.reset(to.depth, pixels * to.channels as usize);
    match (src, dst) {
        (Samples::U8(s), Samples::U8(d)) => promote_pixels(s, from, to, d, |v| v),
        (Samples::U8(s), Samples::U16(d)) => promote_pixels(s, from, to, d, |v| u16::from(v) * 257),
        (Samples::U16(s), Samples::U16(d)) => promote_pixels(s, from, to, d, |v| v),
        (Samples::F32(s), Samples::F32(d)) => promote_pixels(s, from, to, d, |v| v),
        _ => unreachable!("promotion never lowers the depth nor mixes integers and floats"),
    }
}

/// What promotion needs of a sample type: its opaque alpha.
trait Opaque: Copy {
    const MAX: Self;
}

impl<S: Sample> Opaque for S {
    const MAX: S = <S as Sample>::MAX;
}

impl Opaque for f32 {
    const MAX: f32 = 1.0;
}

fn promote_pixels<S: Copy, D: Opaque>(
    src: &[S],
    from: Layout,
    to: Layout,
    dst: &mut [D],
    scale: impl Fn(S) -> D,
) {
    let (fc, tc) = (from.channels as usize, to.channels as usize);
    let grey = !from.has_colour();
    for (s, d) in src.chunks_exact(fc).zip(dst.chunks_exact_mut(tc)) {
        let colour = |i: usize| scale(if grey { s[0] } else { s[i] });
        let alpha = if from.has_alpha() {
            scale(s[fc - 1])
        } else {
            D::MAX
        };
        match tc {
            _ if from.cmyk => d.copy_from_slice(&[colour(0), colour(1), colour(2), colour(3)]),
            1 => d[0] = colour(0),
            2 => d.copy_from_slice(&[colour(0), alpha]),
            3 => d.copy_from_slice(&[colour(0), colour(1), colour(2)]),
            _ => d.copy_from_slice(&[colour(0), colour(1), colour(2), alpha]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_layout_keeps_colour_alpha_and_depth() {
        assert_eq!(Layout::L8.common(Layout::RGB8), Layout::RGB8);
        assert_eq!(Layout::L8.common(Layout::LA8), Layout::LA8);
        assert_eq!(Layout::LA8.common(Layout::RGB8), Layout::RGBA8);
        assert_eq!(Layout::RGB8.common(Layout::RGB16), Layout::RGB16);
        assert_eq!(Layout::LA8.common(Layout::RGB16), Layout::RGBA16);
    }

    #[test]
    fn counted_mask_drops_only_alpha() {
        assert_eq!(Layout::RGBA8.counted_mask(true), 0b0111);
        assert_eq!(Layout::RGBA8.counted_mask(false), 0b1111);
        assert_eq!(Layout::LA8.counted_mask(true), 0b01);
        assert_eq!(Layout::RGB8.counted_mask(true), 0b111);
    }

    #[test]
    fn promotion_replicates_grey_adds_opaque_alpha_and_scales() {
        let mut out = Samples::U8(Vec::new());
        promote(
            &Samples::U8(vec![7, 9]),
            Layout::L8,
            Layout::RGBA8,
            &mut out,
        );
        assert_eq!(out, Samples::U8(vec![7, 7, 7, 255, 9, 9, 9, 255]));
        promote(
            &Samples::U8(vec![7, 100]),
            Layout::LA8,
            Layout::RGBA8,
            &mut out,
        );
        assert_eq!(out, Samples::U8(vec![7, 7, 7, 100]));
        promote(
            &Samples::U8(vec![1, 2, 255]),
            Layout::RGB8,
            Layout::RGBA16,
            &mut out,
        );
        assert_eq!(out, Samples::U16(vec![257, 514, 65535, 65535]));
    }
}
