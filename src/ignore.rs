//! What should not count: rectangles (clipped to the image) and a mask image whose pixels that
//! are not opaque black are left out. Ignored pixels count in no figure: not in the ratio (whose
//! denominator counts compared pixels only), the counts, the regions or the gates.

use std::path::Path;
use std::str::FromStr;

use crate::decode::{self, PixelLimits};
use crate::error::Error;
use crate::pixel::Samples;

/// A rectangle of pixels: `X,Y,W,H`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl FromStr for Rect {
    type Err = String;

    fn from_str(text: &str) -> Result<Rect, String> {
        let numbers: Vec<u32> = text
            .split(',')
            .map(|n| n.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("'{text}' is not X,Y,W,H in whole pixels"))?;
        match numbers[..] {
            [x, y, width, height] => Ok(Rect {
                x,
                y,
                width,
                height,
            }),
            _ => Err(format!("'{text}' is not X,Y,W,H (four numbers)")),
        }
    }
}

/// The pixels left out of an image of `width` x `height`.
#[derive(Clone, Debug, Default)]
pub struct Ignored {
    width: u32,
    height: u32,
    rects: Vec<Rect>,
    /// One bit per pixel, row after row: set where the mask leaves the pixel out.
    mask: Option<Vec<u64>>,
}

impl Ignored {
    /// Rectangles clipped to the image, and the mask at `mask`, which must be an image of the
    /// same size.
    pub fn new(
        rects: &[Rect],
        mask: Option<&Path>,
        width: u32,
        height: u32,
        limits: PixelLimits,
    ) -> Result<Ignored, Error> {
        let rects = rects
            .iter()
            .filter(|r| r.x < width && r.y < height && r.width > 0 && r.height > 0)
            .map(|r| Rect {
                width: r.width.min(width - r.x),
                height: r.height.min(height - r.y),
                ..*r
            })
            .collect();
        let mask = match mask {
            Some(path) => Some(read_mask(path, width, height, limits)?),
            None => None,
        };
        Ok(Ignored {
            width,
            height,
            rects,
            mask,
        })
    }

    /// Whether anything is left out.
    pub fn any(&self) -> bool {
        !self.rects.is_empty() || self.mask.is_some()
    }

    /// How many pixels are left out in all.
    pub fn count(&self) -> u64 {
        if !self.any() {
            return 0;
        }
        let mut pixels = Vec::new();
        (0..self.height)
            .map(|y| {
                self.in_rows(y, 1, &mut pixels);
                pixels.len() as u64
            })
            .sum()
    }

    /// The pixels left out in rows `y..y + rows`, as indices within those rows, in order.
    pub fn in_rows(&self, y: u32, rows: u32, out: &mut Vec<usize>) {
        out.clear();
        if !self.any() {
            return;
        }
        let width = self.width as usize;
        for row in y..(y + rows).min(self.height) {
            let base = (row - y) as usize * width;
            let start = out.len();
            for r in &self.rects {
                if (r.y..r.y + r.height).contains(&row) {
                    out.extend((r.x..r.x + r.width).map(|x| base + x as usize));
                }
            }
            if let Some(bits) = &self.mask {
                let first = row as usize * width;
                out.extend(
                    (0..width)
                        .filter(|x| bits[(first + x) / 64] >> ((first + x) % 64) & 1 == 1)
                        .map(|x| base + x),
                );
            }
            out[start..].sort_unstable();
            let mut kept = start;
            for i in start..out.len() {
                if i == start || out[i] != out[kept - 1] {
                    out[kept] = out[i];
                    kept += 1;
                }
            }
            out.truncate(kept);
        }
    }
}

/// Reads the mask at `path` into one bit per pixel: set where it is not opaque black.
fn read_mask(path: &Path, width: u32, height: u32, limits: PixelLimits) -> Result<Vec<u64>, Error> {
    let mut source = decode::open(path, limits)?;
    let header = source.header();
    if (header.width, header.height) != (width, height) {
        return Err(Error::decode(
            path,
            format!(
                "the mask is {}x{}, the images are {width}x{height}",
                header.width, header.height
            ),
        ));
    }
    let pixels = header.pixels() as usize;
    let mut bits = vec![0u64; pixels.div_ceil(64)];
    let channels = header.layout.channels as usize;
    let alpha = header.layout.has_alpha();
    let rows_at_once = ((1u32 << 16) / width.max(1)).clamp(1, height);
    let mut samples = Samples::zeroed(header.layout.depth, 0);
    let mut y = 0;
    while y < height {
        let rows = rows_at_once.min(height - y);
        source.read_rows(rows, &mut samples)?;
        let values: Vec<u32> = match &samples {
            Samples::U8(v) => v.iter().map(|&s| u32::from(s)).collect(),
            Samples::U16(v) => v.iter().map(|&s| u32::from(s)).collect(),
            // Any value but zero (NaN included) is not black.
            Samples::F32(v) => v.iter().map(|&s| u32::from(s != 0.0)).collect(),
        };
        let first = y as usize * width as usize;
        for (i, px) in values.chunks_exact(channels).enumerate() {
            let colour = if alpha { &px[..channels - 1] } else { px };
            let opaque_black = colour.iter().all(|&s| s == 0) && (!alpha || px[channels - 1] != 0);
            if !opaque_black {
                bits[(first + i) / 64] |= 1 << ((first + i) % 64);
            }
        }
        y += rows;
    }
    Ok(bits)
}
