//! Diff images people can read, drawn band by band from the perceptual planes: `highlight`
//! (image 1 faded to grey, changed pixels in the diff colour, anti-aliased ones in yellow,
//! ignored areas hatched), `mask` (changed pixels only, the rest transparent) and `heatmap`
//! (each pixel's delta through the viridis colour map, equal pixels black). `raw`, the default,
//! is the engines' `|a - b|` image and is not drawn here.

use crate::engine::perceptual::{ANTI_ALIASED, CHANGED, HEAT_STEPS, K, Planes};
use crate::pixel::{Depth, Layout, Samples};

/// How the diff image shows the differences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Style {
    /// `|a - b|` per channel, as diffimg writes it.
    #[default]
    Raw,
    Highlight,
    Mask,
    Heatmap,
}

impl Style {
    /// The layout of this style's diff image, for images of `layout`.
    pub fn layout(self, layout: Layout) -> Layout {
        match self {
            Style::Raw => layout,
            Style::Highlight | Style::Mask => Layout::RGBA8,
            Style::Heatmap => Layout::RGB8,
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
            _ => return Err(format!("'{name}' is not raw, highlight, mask or heatmap")),
        })
    }
}

/// A colour written `#rrggbb` (the `#` may be left out).
pub fn parse_colour(text: &str) -> Result<[u8; 3], String> {
    let hex = text.trim().strip_prefix('#').unwrap_or(text.trim());
    let byte = |i: usize| {
        hex.get(i..i + 2)
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

/// Where and how one band's diff rows are drawn.
pub struct Frame {
    /// Not `Raw`.
    pub style: Style,
    /// Changed pixels in `highlight` and `mask`.
    pub colour: [u8; 3],
    /// The layout of image 1.
    pub layout: Layout,
    pub width: u32,
    /// The index of the band's first row.
    pub y: u32,
}

impl Frame {
    /// Draws the band's rows into `out`: `a` holds image 1's samples of those rows (as bytes),
    /// `planes` their classes and heats, `ignored` the pixels left out (indices, in order).
    pub fn draw(&self, a: &[u8], planes: &Planes, ignored: &[usize], out: &mut Samples) {
        let pixels = planes.class.len();
        let channels = self.style.layout(self.layout).channels as usize;
        out.reset(Depth::Eight, pixels * channels);
        let Samples::U8(out) = out else {
            unreachable!("reset to 8 bits");
        };
        let diff = [self.colour[0], self.colour[1], self.colour[2], 255];
        let mut left_out = ignored.iter().peekable();
        for (i, px) in out.chunks_exact_mut(channels).enumerate() {
            let ignored = left_out.next_if_eq(&&i).is_some();
            match self.style {
                Style::Raw => {}
                Style::Mask => {
                    let on = planes.class[i] == CHANGED;
                    px.copy_from_slice(if on { &diff } else { &[0; 4] });
                }
                Style::Heatmap => {
                    px.copy_from_slice(&match planes.heat.get(i) {
                        _ if ignored => EQUAL,
                        Some(&0) | None => EQUAL,
                        Some(&heat) => {
                            let t = f64::from(heat - 1) / (HEAT_STEPS as f64);
                            colorous::VIRIDIS.eval_continuous(t).as_array()
                        }
                    });
                }
                Style::Highlight => {
                    let (x, row) = (i as u32 % self.width, self.y + i as u32 / self.width);
                    px.copy_from_slice(&match planes.class[i] {
                        _ if ignored && (x + row) % 8 < 2 => HATCH,
                        _ if ignored => faded(self.layout, a, i),
                        CHANGED => diff,
                        ANTI_ALIASED => YELLOW,
                        _ => faded(self.layout, a, i),
                    });
                }
            }
        }
    }
}

/// Pixel `i` of image 1 as grey, blended towards white at 10% of its opacity.
fn faded(layout: Layout, a: &[u8], i: usize) -> [u8; 4] {
    let c = layout.channels as usize;
    let sample = |k: usize| -> u32 {
        match layout.depth {
            Depth::Eight => u32::from(a[i * c + k]),
            Depth::Sixteen => {
                let at = (i * c + k) * 2;
                u32::from(u16::from_ne_bytes([a[at], a[at + 1]])) >> 8
            }
        }
    };
    let (rgb, alpha) = match c {
        1 => ([sample(0); 3], 255),
        2 => ([sample(0); 3], sample(1)),
        3 => ([sample(0), sample(1), sample(2)], 255),
        _ => ([sample(0), sample(1), sample(2)], sample(3)),
    };
    let luma = (K[0][0] as u32 * rgb[0] + K[0][1] as u32 * rgb[1] + K[0][2] as u32 * rgb[2]) >> 14;
    let grey = 255 - (255 - luma) * alpha / 2550;
    [grey as u8, grey as u8, grey as u8, 255]
}
