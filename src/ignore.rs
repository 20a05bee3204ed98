//! What should not count: rectangles (clipped to the image) and a mask image whose visible
//! pixels (alpha not 0) that are not black are left out. Ignored pixels count in no figure: not in the ratio (whose
//! denominator counts compared pixels only), the counts, the regions or the gates.

use std::path::Path;
use std::str::FromStr;

use crate::decode::{self, PixelLimits};
use crate::error::Error;
use crate::pixel::Samples;

/// A rectangle of pixels: `X,Y,W,H`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
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
    /// The rectangles as rows of equal coverage, top to bottom, none empty.
    bands: Vec<RowBand>,
    /// One bit per pixel, row after row: set where the mask leaves the pixel out.
    mask: Option<Vec<u64>>,
}

/// Rows `y0..y1` where the rectangles cover the same columns.
#[derive(Clone, Debug)]
struct RowBand {
    y0: u32,
    y1: u32,
    /// Columns `x0..x1`, in order, apart and not touching.
    spans: Vec<(u32, u32)>,
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
        let mut rects: Vec<Rect> = rects
            .iter()
            .filter(|r| r.x < width && r.y < height && r.width > 0 && r.height > 0)
            .map(|r| Rect {
                width: r.width.min(width - r.x),
                height: r.height.min(height - r.y),
                ..*r
            })
            .collect();
        rects.sort_unstable_by_key(|r| (r.y, r.x, r.width, r.height));
        rects.dedup();
        let mask = match mask {
            Some(path) => Some(read_mask(path, width, height, limits)?),
            None => None,
        };
        Ok(Ignored {
            width,
            height,
            bands: row_bands(&rects),
            mask,
        })
    }

    /// Whether anything is left out.
    pub fn any(&self) -> bool {
        !self.bands.is_empty() || self.mask.is_some()
    }

    /// How many pixels are left out in all.
    pub fn count(&self) -> u64 {
        if self.mask.is_none() {
            let area = |b: &RowBand| {
                let columns: u64 = b.spans.iter().map(|&(x0, x1)| u64::from(x1 - x0)).sum();
                u64::from(b.y1 - b.y0) * columns
            };
            return self.bands.iter().map(area).sum();
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
        let mut band = self.bands.partition_point(|b| b.y1 <= y);
        for row in y..(y + rows).min(self.height) {
            while self.bands.get(band).is_some_and(|b| b.y1 <= row) {
                band += 1;
            }
            let base = (row - y) as usize * self.width as usize;
            self.push_row(row, band, self.width, base, out);
        }
    }

    /// The columns left out in row `y` among its first `columns`, in order.
    pub(crate) fn in_row(&self, y: u32, columns: u32, out: &mut Vec<usize>) {
        out.clear();
        if self.any() && y < self.height {
            let band = self.bands.partition_point(|b| b.y1 <= y);
            self.push_row(y, band, columns.min(self.width), 0, out);
        }
    }

    /// Appends `base + x` for each column `x < columns` left out in `row`, whose rectangles
    /// are those of `self.bands[band]` if it holds the row.
    fn push_row(&self, row: u32, band: usize, columns: u32, base: usize, out: &mut Vec<usize>) {
        let spans = match self.bands.get(band) {
            Some(b) if b.y0 <= row => &b.spans[..],
            _ => &[],
        };
        let columns = columns as usize;
        let Some(bits) = &self.mask else {
            for &(x0, x1) in spans {
                let x1 = (x1 as usize).min(columns);
                out.extend((x0 as usize..x1).map(|x| base + x));
            }
            return;
        };
        let first = row as usize * self.width as usize;
        let mut spans = spans.iter().peekable();
        for x in 0..columns {
            while spans.next_if(|s| s.1 as usize <= x).is_some() {}
            let in_rect = spans.peek().is_some_and(|s| s.0 as usize <= x);
            if in_rect || bits[(first + x) / 64] >> ((first + x) % 64) & 1 == 1 {
                out.push(base + x);
            }
        }
    }
}

/// The rows of equal coverage of `rects`, each with its columns merged into spans.
fn row_bands(rects: &[Rect]) -> Vec<RowBand> {
    let mut edges: Vec<u32> = rects.iter().flat_map(|r| [r.y, r.y + r.height]).collect();
    edges.sort_unstable();
    edges.dedup();
    let mut bands = Vec::new();
    let mut columns = Vec::new();
    for pair in edges.windows(2) {
        let (y0, y1) = (pair[0], pair[1]);
        columns.clear();
        columns.extend(
            rects
                .iter()
                .filter(|r| r.y <= y0 && y1 <= r.y + r.height)
                .map(|r| (r.x, r.x + r.width)),
        );
        if columns.is_empty() {
            continue;
        }
        columns.sort_unstable();
        let mut spans: Vec<(u32, u32)> = Vec::new();
        for &(x0, x1) in &columns {
            match spans.last_mut() {
                Some(last) if x0 <= last.1 => last.1 = last.1.max(x1),
                _ => spans.push((x0, x1)),
            }
        }
        bands.push(RowBand { y0, y1, spans });
    }
    bands
}

/// Reads the mask at `path` into one bit per pixel: set where it is visible (alpha not 0, or no
/// alpha) and not black.
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
            let visible = !alpha || px[channels - 1] != 0;
            if visible && colour.iter().any(|&s| s != 0) {
                bits[(first + i) / 64] |= 1 << ((first + i) % 64);
            }
        }
        y += rows;
    }
    Ok(bits)
}
