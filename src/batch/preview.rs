//! The report's pictures of a pair: each image, a view of where they differ and a thumbnail.
//! Images are read band by band with the comparison's row decoders and shrunk as they are read,
//! so a preview holds its own pixels and one band of rows, whatever the size of the image.

use std::borrow::Cow;
use std::path::Path;

use image::RgbaImage;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::FilterType;

use super::record::{Record, Status};
use crate::decode::{self, Header, PixelLimits, RowSource};
use crate::pixel::{Layout, Samples};

/// Longest side of the previews in the viewer, and of the thumbnails in the table.
const PREVIEW_SIDE: u32 = 2048;
const THUMB_SIDE: u32 = 128;
/// Rows read at a time.
const BAND_ROWS: u32 = 16;
/// Images that only decode whole get no preview above this many pixels (256 MiB as RGBA).
const WHOLE_MAX_PIXELS: u64 = 1 << 26;
/// The colour of differing pixels in the difference view.
const RED: [u8; 4] = [230, 20, 60, 255];

/// The preview files of one pair, by role, as names inside the `_files` folder.
#[derive(Default)]
pub(super) struct Images {
    pub a: Option<String>,
    pub b: Option<String>,
    pub diff: Option<String>,
    pub thumb: Option<String>,
    /// Why there is no preview.
    pub note: Option<String>,
}

/// Writes the previews of the pair at `index` into `dir`: both images and a difference view
/// for pairs that differ, the one image for added and removed ones, nothing otherwise.
pub(super) fn previews(index: usize, record: &Record, dir: &Path) -> Images {
    let (want_a, want_b) = match record.status {
        Status::Changed | Status::OverGate => (true, true),
        Status::Added => (false, true),
        Status::Removed => (true, false),
        Status::Equal | Status::Error => return Images::default(),
    };
    let a = record.a.as_deref().filter(|_| want_a).map(Path::new);
    let b = record.b.as_deref().filter(|_| want_b).map(Path::new);
    let shrunk = match shrink(a, b, record.map.as_deref()) {
        Ok(shrunk) => shrunk,
        Err(note) => {
            return Images {
                note: Some(format!("no preview: {note}")),
                ..Images::default()
            };
        }
    };
    let save = |role: &str, image: &RgbaImage| -> Option<String> {
        let name = format!("{index}-{role}.png");
        save_png(image, &dir.join(&name)).ok().map(|()| name)
    };
    let [a, b, diff] = &shrunk;
    Images {
        a: a.as_ref().and_then(|i| save("a", i)),
        b: b.as_ref().and_then(|i| save("b", i)),
        diff: diff.as_ref().and_then(|i| save("d", i)),
        thumb: diff
            .as_ref()
            .or(b.as_ref())
            .or(a.as_ref())
            .and_then(|i| save("t", &thumbnail(i))),
        note: None,
    }
}

/// The previews of the images at `a` and `b` (those given), and of their difference when both
/// are of one size, read together band by band: the FLIP map at `map` when there is one, a
/// view of the differing pixels otherwise.
fn shrink(
    a: Option<&Path>,
    b: Option<&Path>,
    map: Option<&Path>,
) -> Result<[Option<RgbaImage>; 3], String> {
    let mut a = a.map(Side::open).transpose()?;
    let mut b = b.map(Side::open).transpose()?;
    let mut map = map.map(Side::open).transpose()?;
    let mut diff = match (&a, &b, &map) {
        (Some(a), Some(b), None) if a.size() == b.size() => Some(Shrink::new(a.size())),
        _ => None,
    };
    let height = [&a, &b]
        .iter()
        .flat_map(|s| s.as_ref().map(|s| s.size().1))
        .max();
    let mut marks = Vec::new();
    let mut faded = Vec::new();
    for y in (0..height.unwrap_or(0)).step_by(BAND_ROWS as usize) {
        for side in [&mut a, &mut b, &mut map].into_iter().flatten() {
            side.read_band(y)?;
        }
        let (Some(diff), Some(a), Some(b)) = (&mut diff, &a, &b) else {
            continue;
        };
        for (row_a, row_b) in a
            .band
            .chunks(a.size().0 as usize)
            .zip(b.band.chunks(b.size().0 as usize))
        {
            marks.clear();
            faded.clear();
            for (pa, pb) in row_a.iter().zip(row_b) {
                marks.push(pa != pb);
                faded.push(fade(*pa));
            }
            diff.push(&faded, Some(&marks));
        }
    }
    Ok([
        a.map(Side::finish),
        b.map(Side::finish),
        map.map(Side::finish).or(diff.map(Shrink::finish)),
    ])
}

/// One image being read and shrunk.
struct Side {
    name: String,
    rows: Box<dyn RowSource>,
    header: Header,
    samples: Samples,
    /// The last band read, as RGBA pixels.
    band: Vec<[u8; 4]>,
    shrink: Shrink,
}

impl Side {
    fn open(path: &Path) -> Result<Side, String> {
        let name = path.display().to_string();
        let limits = PixelLimits {
            whole: WHOLE_MAX_PIXELS,
            ..PixelLimits::default()
        };
        let rows = decode::open(path, limits).map_err(|e| e.to_string())?;
        let header = rows.header();
        Ok(Side {
            name,
            rows,
            header,
            samples: Samples::U8(Vec::new()),
            band: Vec::new(),
            shrink: Shrink::new((header.width, header.height)),
        })
    }

    fn size(&self) -> (u32, u32) {
        (self.header.width, self.header.height)
    }

    /// Reads the band of rows from `y` (none past the last row) and shrinks it.
    fn read_band(&mut self, y: u32) -> Result<(), String> {
        self.band.clear();
        let rows = BAND_ROWS.min(self.header.height.saturating_sub(y));
        if rows == 0 {
            return Ok(());
        }
        self.rows
            .read_rows(rows, &mut self.samples)
            .map_err(|e| format!("{}: {e}", self.name))?;
        rgba(&self.samples, self.header.layout, &mut self.band);
        for row in self.band.chunks(self.header.width as usize) {
            self.shrink.push(row, None);
        }
        Ok(())
    }

    fn finish(self) -> RgbaImage {
        self.shrink.finish()
    }
}

/// `samples` in `layout` as 8-bit RGBA pixels, appended to `out`.
fn rgba(samples: &Samples, layout: Layout, out: &mut Vec<[u8; 4]>) {
    let channels = layout.channels as usize;
    let pixel = |s: &[u8]| -> [u8; 4] {
        match channels {
            _ if layout.cmyk => {
                let ink = |c: u8| ((255 - u32::from(c)) * (255 - u32::from(s[3])) / 255) as u8;
                [ink(s[0]), ink(s[1]), ink(s[2]), 255]
            }
            1 => [s[0], s[0], s[0], 255],
            2 => [s[0], s[0], s[0], s[1]],
            3 => [s[0], s[1], s[2], 255],
            _ => [s[0], s[1], s[2], s[3]],
        }
    };
    let eight: Cow<[u8]> = match samples {
        Samples::U8(v) => Cow::Borrowed(v),
        Samples::U16(v) => v
            .iter()
            .map(|&s| ((u32::from(s) + 128) / 257) as u8)
            .collect(),
        Samples::F32(v) => v
            .iter()
            .map(|&s| (s.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect(),
    };
    out.extend(eight.chunks_exact(channels).map(pixel));
}

/// A faded grey copy of a pixel, for the parts of the difference view that are equal.
fn fade([r, g, b, _]: [u8; 4]) -> [u8; 4] {
    let luma = (u32::from(r) * 3 + u32::from(g) * 6 + u32::from(b)) / 10;
    let faded = (255 - (255 - luma) / 5) as u8;
    [faded, faded, faded, 255]
}

/// An image shrunk to fit `PREVIEW_SIDE` as its rows arrive: each pixel is the mean of the box
/// of pixels it covers, or red where one of them is marked.
struct Shrink {
    source: (u32, u32),
    width: u32,
    height: u32,
    pixels: Vec<u8>,
    /// Sums of the samples of the output row being filled, and whether a pixel of each of its
    /// boxes is marked.
    sums: Vec<u32>,
    marked: Vec<bool>,
    /// Source pixels in each column's box, per source row.
    columns: Vec<u32>,
    /// Source rows seen, and those in the output row being filled.
    rows_seen: u32,
    rows_in: u32,
}

impl Shrink {
    fn new(source: (u32, u32)) -> Shrink {
        let (w, h) = source;
        let (width, height) = if w <= PREVIEW_SIDE && h <= PREVIEW_SIDE {
            (w, h)
        } else {
            let scale = f64::from(PREVIEW_SIDE) / f64::from(w.max(h));
            let side = |n: u32| ((f64::from(n) * scale).round() as u32).clamp(1, n);
            (side(w), side(h))
        };
        let mut columns = vec![0; width as usize];
        for x in 0..w {
            columns[column(x, w, width)] += 1;
        }
        Shrink {
            source,
            width,
            height,
            pixels: Vec::with_capacity(width as usize * height as usize * 4),
            sums: vec![0; width as usize * 4],
            marked: vec![false; width as usize],
            columns,
            rows_seen: 0,
            rows_in: 0,
        }
    }

    /// Adds the next source row, with the pixels of `marks` that are true marked.
    fn push(&mut self, row: &[[u8; 4]], marks: Option<&[bool]>) {
        let (from, to) = (self.source.1, self.height);
        let output_row = |y: u32| column(y, from, to);
        if self.rows_in > 0 && output_row(self.rows_seen) != output_row(self.rows_seen - 1) {
            self.flush();
        }
        for (x, pixel) in row.iter().enumerate() {
            let to = column(x as u32, self.source.0, self.width);
            for (sum, &sample) in self.sums[to * 4..to * 4 + 4].iter_mut().zip(pixel) {
                *sum += u32::from(sample);
            }
            if marks.is_some_and(|m| m[x]) {
                self.marked[to] = true;
            }
        }
        self.rows_seen += 1;
        self.rows_in += 1;
    }

    /// Ends the output row being filled.
    fn flush(&mut self) {
        for (x, (sums, marked)) in self.sums.chunks_exact(4).zip(&self.marked).enumerate() {
            if *marked {
                self.pixels.extend(RED);
            } else {
                let count = self.columns[x] * self.rows_in;
                self.pixels
                    .extend(sums.iter().map(|&s| ((s + count / 2) / count) as u8));
            }
        }
        self.sums.fill(0);
        self.marked.fill(false);
        self.rows_in = 0;
    }

    fn finish(mut self) -> RgbaImage {
        if self.rows_in > 0 {
            self.flush();
        }
        // A source that ended early leaves its last rows transparent.
        self.pixels
            .resize(self.width as usize * self.height as usize * 4, 0);
        RgbaImage::from_raw(self.width, self.height, self.pixels).expect("the pixels fit")
    }
}

/// The output column (or row) of source column `x` of `from`, shrunk to `to`.
fn column(x: u32, from: u32, to: u32) -> usize {
    (u64::from(x) * u64::from(to) / u64::from(from)) as usize
}

/// `image` scaled down to fit a thumbnail.
fn thumbnail(image: &RgbaImage) -> RgbaImage {
    let (w, h) = image.dimensions();
    if w <= THUMB_SIDE && h <= THUMB_SIDE {
        return image.clone();
    }
    let scale = f64::from(THUMB_SIDE) / f64::from(w.max(h));
    let side = |n: u32| ((f64::from(n) * scale).round() as u32).max(1);
    image::imageops::resize(image, side(w), side(h), FilterType::Triangle)
}

/// Writes `image` as a quickly compressed PNG.
fn save_png(image: &RgbaImage, path: &Path) -> image::ImageResult<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let encoder = PngEncoder::new_with_quality(file, CompressionType::Fast, PngFilter::Adaptive);
    image.write_with_encoder(encoder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    #[test]
    fn shrinking_averages_boxes_and_keeps_marks() {
        let mut shrink = Shrink::new((4096, 2));
        let row: Vec<[u8; 4]> = (0..4096)
            .map(|x| [(x % 2 * 200) as u8, 0, 0, 255])
            .collect();
        let mut marks = vec![false; 4096];
        marks[4095] = true;
        shrink.push(&row, None);
        shrink.push(&row, Some(&marks));
        let image = shrink.finish();
        assert_eq!(image.dimensions(), (2048, 1));
        assert_eq!(image.get_pixel(0, 0), &Rgba([100, 0, 0, 255]));
        assert_eq!(image.get_pixel(2047, 0), &Rgba(RED));
    }
}
