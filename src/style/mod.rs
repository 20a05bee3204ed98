//! Diff images people can read, drawn band by band from the perceptual planes: `highlight`
//! (image 1 faded to grey, changed pixels in the diff colour, anti-aliased ones in yellow,
//! ignored areas hatched), `mask` (changed pixels only, the rest transparent) and `heatmap`
//! (each pixel's delta through the viridis colour map, equal pixels black). `raw`, the default,
//! is the engines' `|a - b|` image and is not drawn here. Each style draws with at most 256
//! colours, so its diff image is drawn as one palette index a pixel, a quarter of the bytes to
//! write. `flip` and `ssim` draw the render metrics' values (see `maps`).

mod maps;

pub(crate) use maps::{draw_flip, draw_ssim};

use crate::engine::perceptual::{ANTI_ALIASED, CHANGED, HEAT_STEPS, K, Planes, SAME};
use crate::pixel::{Depth, Layout, Sample, Samples};

/// How the diff image shows the differences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Style {
    /// `|a - b|` per channel, as diffimg writes it.
    #[default]
    Raw,
    /// Changed pixels in the diff colour over a faded grey copy of image 1.
    Highlight,
    /// Changed pixels in the diff colour, the others transparent.
    Mask,
    /// Each pixel's difference on a colour scale.
    Heatmap,
    /// FLIP per pixel through the magma colour map (turns FLIP on).
    Flip,
    /// 1 - SSIM per pixel through the magma colour map (turns SSIM on).
    Ssim,
}

impl Style {
    /// Every style's name, as `FromStr` takes it.
    pub const NAMES: [&str; 6] = ["raw", "highlight", "mask", "heatmap", "flip", "ssim"];

    /// Whether this style draws a render metric rather than the perceptual planes.
    pub fn draws_metric(self) -> bool {
        matches!(self, Style::Flip | Style::Ssim)
    }

    /// Whether this style draws the perceptual planes (and so needs the perceptual count).
    pub fn draws_planes(self) -> bool {
        matches!(self, Style::Highlight | Style::Mask | Style::Heatmap)
    }

    /// The layout of this style's diff image, for images of `layout`.
    pub fn layout(self, layout: Layout) -> Layout {
        match self {
            Style::Raw => layout,
            Style::Highlight | Style::Mask => Layout::RGBA8,
            Style::Heatmap | Style::Flip | Style::Ssim => Layout::RGB8,
        }
    }

    /// The colours of the indices this style draws (none for `Raw`, which is not drawn), with
    /// `colour` for changed pixels.
    pub fn palette(self, colour: [u8; 3]) -> Vec<[u8; 4]> {
        let diff = [colour[0], colour[1], colour[2], 255];
        match self {
            Style::Raw => Vec::new(),
            Style::Highlight => {
                let mut colours: Vec<[u8; 4]> =
                    (FADED_LOWEST..=255).map(|g| [g, g, g, 255]).collect();
                colours.extend([diff, YELLOW, HATCH]);
                colours
            }
            Style::Mask => vec![[0; 4], diff],
            Style::Heatmap => heat_colours().map(|[r, g, b]| [r, g, b, 255]).to_vec(),
            Style::Flip | Style::Ssim => maps::magma(),
        }
    }
}

impl std::str::FromStr for Style {
    type Err = String;

    fn from_str(name: &str) -> Result<Style, String> {
        Ok(match name {
            "raw" => Style::Raw,
            "highlight" => Style::Highlight,
            "mask" => Style::Mask,
            "heatmap" => Style::Heatmap,
            "flip" => Style::Flip,
            "ssim" => Style::Ssim,
            _ => {
                return Err(format!(
                    "'{name}' is not raw, highlight, mask, heatmap, flip or ssim"
                ));
            }
        })
    }
}

/// A colour written `#rrggbb` (the `#` may be left out).
pub fn parse_colour(text: &str) -> Result<[u8; 3], String> {
    let hex = text.trim().strip_prefix('#').unwrap_or(text.trim());
    // Hex digits only: `from_str_radix` alone takes a sign ("+f").
    let byte = |i: usize| {
        hex.get(i..i + 2)
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
    };
    match (hex.len(), byte(0), byte(2), byte(4)) {
        (6, Some(r), Some(g), Some(b)) => Ok([r, g, b]),
        _ => Err(format!("'{text}' is not a colour of the form #rrggbb")),
    }
}

/// Anti-aliased pixels in `highlight`.
const YELLOW: [u8; 4] = [255, 255, 0, 255];
/// The hatch over ignored areas in `highlight`.
const HATCH: [u8; 4] = [64, 128, 255, 255];
/// Equal pixels in `heatmap`.
const EQUAL: [u8; 3] = [0, 0, 0];

/// The darkest faded grey: black at full opacity, blended 10% towards white.
const FADED_LOWEST: u8 = 230;
/// `highlight`'s indices after its greys.
const HIGHLIGHT_DIFF: u8 = 255 - FADED_LOWEST + 1;
const HIGHLIGHT_YELLOW: u8 = HIGHLIGHT_DIFF + 1;
const HIGHLIGHT_HATCH: u8 = HIGHLIGHT_DIFF + 2;
/// `mask`'s indices.
const MASK_CLEAR: u8 = 0;
const MASK_DIFF: u8 = 1;
/// `heatmap`'s index for equal pixels; the others are their heat.
const HEAT_EQUAL: u8 = 0;

/// Where and how one band's diff rows are drawn.
pub struct Frame {
    /// Not `Raw`.
    pub style: Style,
    /// The layout of image 1.
    pub layout: Layout,
    pub width: u32,
    /// The index of the band's first row.
    pub y: u32,
}

impl Frame {
    /// Draws the band's rows into `out`, as indices into the style's palette: `a` holds image
    /// 1's samples of those rows, `planes` their classes and heats, `ignored` the pixels left
    /// out (indices, in order).
    pub fn draw(&self, a: &Samples, planes: &Planes, ignored: &[usize], out: &mut Samples) {
        out.reset(Depth::Eight, planes.class.len());
        let Samples::U8(out) = out else {
            unreachable!("reset to 8 bits");
        };
        match self.style {
            Style::Raw | Style::Flip | Style::Ssim => {}
            Style::Mask => {
                for (px, &class) in out.iter_mut().zip(&planes.class) {
                    *px = if class == CHANGED {
                        MASK_DIFF
                    } else {
                        MASK_CLEAR
                    };
                }
            }
            Style::Heatmap => {
                if planes.heat.is_empty() {
                    out.fill(HEAT_EQUAL);
                } else {
                    out.copy_from_slice(&planes.heat);
                }
                for &i in ignored {
                    out[i] = HEAT_EQUAL;
                }
            }
            Style::Highlight => {
                faded(self.layout.channels, a, out);
                // Changed and anti-aliased pixels are few: find them a word at a time.
                for (w, word) in planes.class.chunks(8).enumerate() {
                    if let Ok(word) = <[u8; 8]>::try_from(word)
                        && u64::from_ne_bytes(word) == u64::from_ne_bytes([SAME; 8])
                    {
                        continue;
                    }
                    for (k, &class) in word.iter().enumerate() {
                        match class {
                            CHANGED => out[w * 8 + k] = HIGHLIGHT_DIFF,
                            ANTI_ALIASED => out[w * 8 + k] = HIGHLIGHT_YELLOW,
                            _ => {}
                        }
                    }
                }
                // Pixels left out are never changed in the planes; a hatch marks them.
                for &i in ignored {
                    let (x, row) = (i as u32 % self.width, self.y + i as u32 / self.width);
                    if (x + row) % 8 < 2 {
                        out[i] = HIGHLIGHT_HATCH;
                    }
                }
            }
        }
    }
}

/// The heatmap's colour per heat: equal pixels, then the colour map from 0 to 1.
fn heat_colours() -> &'static [[u8; 3]; 256] {
    static COLOURS: std::sync::OnceLock<[[u8; 3]; 256]> = std::sync::OnceLock::new();
    COLOURS.get_or_init(|| {
        std::array::from_fn(|heat| match heat {
            0 => EQUAL,
            _ => {
                let t = (heat - 1) as f64 / HEAT_STEPS as f64;
                colorous::VIRIDIS.eval_continuous(t).as_array()
            }
        })
    })
}

/// Image 1's pixels (`a`, of `channels` samples) as grey, blended towards white at 10% of
/// their opacity, into `out` as indices of `highlight`'s greys; with AVX2 where the CPU has it, whose 32-bit multiplies let the
/// compiler vectorise the loop.
fn faded(channels: u8, a: &Samples, out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has just been found to have AVX2.
        return unsafe { faded_avx2(channels, a, out) };
    }
    faded_by_layout(channels, a, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn faded_avx2(channels: u8, a: &Samples, out: &mut [u8]) {
    faded_by_layout(channels, a, out);
}

#[inline(always)]
fn faded_by_layout(channels: u8, a: &Samples, out: &mut [u8]) {
    match (a, channels) {
        (Samples::U8(a), 1) => faded_of::<u8, 1>(a, out),
        (Samples::U8(a), 2) => faded_of::<u8, 2>(a, out),
        (Samples::U8(a), 3) => faded_of::<u8, 3>(a, out),
        (Samples::U8(a), _) => faded_of::<u8, 4>(a, out),
        (Samples::U16(a), 1) => faded_of::<u16, 1>(a, out),
        (Samples::U16(a), 2) => faded_of::<u16, 2>(a, out),
        (Samples::U16(a), 3) => faded_of::<u16, 3>(a, out),
        (Samples::U16(a), _) => faded_of::<u16, 4>(a, out),
        (Samples::F32(_), _) => unreachable!("drawn styles refuse floating-point images"),
    }
}

#[inline(always)]
fn faded_of<T: Sample, const C: usize>(a: &[T], out: &mut [u8]) {
    // The top 8 bits of each sample.
    let shift = 8 * (size_of::<T>() as u32 - 1);
    for (px, p) in out.iter_mut().zip(a.as_chunks::<C>().0) {
        let sample = |k: usize| -> u32 { p[k].into() >> shift };
        let (rgb, alpha) = match C {
            1 => ([sample(0); 3], 255),
            2 => ([sample(0); 3], sample(1)),
            3 => ([sample(0), sample(1), sample(2)], 255),
            _ => ([sample(0), sample(1), sample(2)], sample(3)),
        };
        let luma =
            (K[0][0] as u32 * rgb[0] + K[0][1] as u32 * rgb[1] + K[0][2] as u32 * rgb[2]) >> 14;
        // The grey is `255 - (255 - luma) * alpha / 2550`, from 230 to 255.
        *px = (u32::from(255 - FADED_LOWEST) - (255 - luma) * alpha / 2550) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The faded grey of one pixel, from its samples as 8-bit values, written out directly.
    fn grey(rgb: [u32; 3], alpha: u32) -> u8 {
        let luma = (4897 * rgb[0] + 9611 * rgb[1] + 1876 * rgb[2]) >> 14;
        (255 - (255 - luma) * alpha / 2550) as u8
    }

    /// Every layout fades as the formula says, 16-bit samples by their top 8 bits, whatever
    /// the vector width the CPU gives the loop (lengths around it).
    #[test]
    fn faded_follows_the_formula_in_every_layout() {
        let mut rng = fastrand::Rng::with_seed(5);
        for depth in [Depth::Eight, Depth::Sixteen] {
            for channels in 1..=4u8 {
                for pixels in [1, 7, 33, 100] {
                    let len = pixels * channels as usize;
                    let a = match depth {
                        Depth::Eight => Samples::U8((0..len).map(|_| rng.u8(..)).collect()),
                        _ => Samples::U16((0..len).map(|_| rng.u16(..)).collect()),
                    };
                    let mut out = vec![0; pixels];
                    faded(channels, &a, &mut out);
                    let palette = Style::Highlight.palette([0; 3]);
                    for (i, px) in out.iter().enumerate() {
                        let s = |k: usize| -> u32 {
                            match &a {
                                Samples::U8(v) => v[i * channels as usize + k].into(),
                                Samples::U16(v) => u32::from(v[i * channels as usize + k] >> 8),
                                Samples::F32(_) => unreachable!("integer samples above"),
                            }
                        };
                        let want = match channels {
                            1 => grey([s(0); 3], 255),
                            2 => grey([s(0); 3], s(1)),
                            3 => grey([s(0), s(1), s(2)], 255),
                            _ => grey([s(0), s(1), s(2)], s(3)),
                        };
                        let got = palette[usize::from(*px)];
                        assert_eq!(got, [want, want, want, 255], "{depth:?} {channels} {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn heat_colours_run_through_the_colour_map() {
        let colours = heat_colours();
        assert_eq!(colours[0], EQUAL);
        assert_eq!(
            colours[1],
            colorous::VIRIDIS.eval_continuous(0.0).as_array()
        );
        assert_eq!(
            colours[255],
            colorous::VIRIDIS.eval_continuous(1.0).as_array()
        );
    }
}
