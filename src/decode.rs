//! Reading images as rows: PNG is decoded row by row as it is read; every other format is
//! decoded whole by the `image` crate and then handed out row by row.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Seek};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::error::Error;
use crate::pixel::{Depth, Layout, Samples};

/// What an image's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
}

impl Header {
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    pub fn row_len(&self) -> usize {
        self.width as usize * self.layout.channels as usize
    }
}

/// The most pixels an image's header may claim before anything is allocated for it: a damaged
/// or hostile header must not make the tool reserve gigabytes. Streamed images hold only a few
/// rows, so their limit is high; images decoded whole are held entirely in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelLimits {
    /// PNG decoded row by row: 2^32 pixels (65536x65536) by default.
    pub streamed: u64,
    /// Everything decoded whole: 2^28 pixels (16384x16384, 1 GiB as RGBA) by default.
    pub whole: u64,
}

impl PixelLimits {
    /// The same limit for every image.
    pub fn all(pixels: u64) -> PixelLimits {
        PixelLimits {
            streamed: pixels,
            whole: pixels,
        }
    }

    /// Refuses a header of `width` x `height` above `limit`, or with no pixels.
    pub fn check(name: &Path, width: u32, height: u32, limit: u64) -> Result<(), Error> {
        if width == 0 || height == 0 {
            return Err(Error::decode(
                name,
                format!("image has no pixels ({width}x{height})"),
            ));
        }
        if u64::from(width) * u64::from(height) > limit {
            let path = name.to_owned();
            return Err(Error::TooLarge {
                path,
                width,
                height,
                limit,
            });
        }
        Ok(())
    }
}

impl Default for PixelLimits {
    fn default() -> PixelLimits {
        PixelLimits {
            streamed: 1 << 32,
            whole: 1 << 28,
        }
    }
}

/// A source of an image's rows, top to bottom.
pub trait RowSource: Send {
    fn header(&self) -> Header;

    /// Reads the next `rows` rows into `dst`, resized to hold them.
    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error>;

    /// Whether reading rows decodes them, rather than copying rows decoded beforehand.
    fn decodes_as_read(&self) -> bool {
        false
    }
}

/// Byte streams the decoders read.
pub trait Stream: BufRead + Seek + Send {}
impl<T: BufRead + Seek + Send> Stream for T {}

/// Opens the image at `path`, refusing headers that claim more pixels than `limits` allow.
pub fn open(path: &Path, limits: PixelLimits) -> Result<Box<dyn RowSource>, Error> {
    let read_error = |cause| Error::read(path, cause);
    let file = File::open(path).map_err(read_error)?;
    if file.metadata().map_err(read_error)?.is_dir() {
        return Err(Error::decode(path, "is a directory, not an image"));
    }
    // TGA has no signature to recognise it by: its extension has to do.
    let by_name = ImageFormat::from_path(path)
        .ok()
        .filter(|&format| format == ImageFormat::Tga);
    let stream = BufReader::with_capacity(1 << 18, file);
    read(path, stream, limits, by_name)
}

/// Reads an image from `stream`; `name` is what errors call it.
pub fn from_stream<R: Stream + 'static>(
    name: &Path,
    stream: R,
    limits: PixelLimits,
) -> Result<Box<dyn RowSource>, Error> {
    read(name, stream, limits, None)
}

/// Reads an image from `stream` in the format its content shows, or else `by_name`.
fn read<R: Stream + 'static>(
    name: &Path,
    stream: R,
    limits: PixelLimits,
    by_name: Option<ImageFormat>,
) -> Result<Box<dyn RowSource>, Error> {
    let mut reader = ImageReader::new(stream)
        .with_guessed_format()
        .map_err(|cause| Error::read(name, cause))?;
    if let (None, Some(format)) = (reader.format(), by_name) {
        reader.set_format(format);
    }
    match reader.format() {
        Some(ImageFormat::Png) => Ok(Box::new(PngRows::new(name, reader.into_inner(), limits)?)),
        Some(ImageFormat::Jpeg) => {
            // The JPEG decoder fills missing data with grey instead of failing: check first.
            let mut bytes = Vec::new();
            reader
                .into_inner()
                .read_to_end(&mut bytes)
                .map_err(|cause| Error::read(name, cause))?;
            check_jpeg(&bytes).map_err(|cause| Error::decode(name, cause))?;
            let reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Jpeg);
            Ok(Box::new(WholeRows::decode(name, reader, limits.whole)?))
        }
        Some(_) => Ok(Box::new(WholeRows::decode(name, reader, limits.whole)?)),
        None => Err(Error::decode(name, "not an image in a supported format")),
    }
}

/// Checks that a JPEG's markers, followed from the start, reach its end-of-image marker (a file
/// cut short never does), and that its scans hold at least a bit for each 8x8 block the frame
/// header claims (every block's DC coefficient takes one), which a forged size does not.
/// Segments are skipped by their length, and entropy-coded data up to the next marker that is
/// not a stuffed zero, a restart or a fill byte.
fn check_jpeg(data: &[u8]) -> Result<(), String> {
    let (mut blocks, mut scan_bytes) = (0u64, 0u64);
    let mut at = 2; // past the start-of-image marker
    while at + 1 < data.len() {
        if data[at] != 0xff {
            at += 1; // stray bytes between segments, which decoders skip too
            continue;
        }
        match data[at + 1] {
            0xd9 if scan_bytes * 8 < blocks => {
                return Err(format!(
                    "scan data too short for the size in its header \
                     ({scan_bytes} bytes for {blocks} blocks of 8x8)"
                ));
            }
            0xd9 => return Ok(()),
            0xff => at += 1,
            0x00 | 0x01 | 0xd0..=0xd7 => at += 2,
            marker => {
                let Some(&[len_high, len_low]) = data.get(at + 2..at + 4) else {
                    break;
                };
                let end = at + 2 + usize::from(u16::from_be_bytes([len_high, len_low]));
                // Frame headers: SOF0 to SOF15 but DHT (c4), JPG (c8) and DAC (cc).
                if matches!(data[at + 1], 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
                    let header = data.get(at + 4..end.min(data.len())).unwrap_or_default();
                    blocks = blocks.max(frame_blocks(header));
                }
                at = end;
                if marker == 0xda {
                    let start = at;
                    while let Some(&[byte, next]) = data.get(at..at + 2)
                        && (byte != 0xff || matches!(next, 0x00 | 0xd0..=0xd7 | 0xff))
                    {
                        at += 1;
                    }
                    scan_bytes += at.saturating_sub(start) as u64;
                }
            }
        }
    }
    Err("file is truncated (no JPEG end-of-image marker)".into())
}

/// The 8x8 blocks of all components of a JPEG frame header (after its length field):
/// precision, height, width, component count, then id, sampling factors and table of each.
fn frame_blocks(header: &[u8]) -> u64 {
    let Some(&[_, h_high, h_low, w_high, w_low, _]) = header.get(..6) else {
        return 0;
    };
    let height = u64::from(u16::from_be_bytes([h_high, h_low]));
    let width = u64::from(u16::from_be_bytes([w_high, w_low]));
    let sampling: Vec<(u64, u64)> = header[6..]
        .chunks_exact(3)
        .map(|c| (u64::from(c[1] >> 4).max(1), u64::from(c[1] & 15).max(1)))
        .collect();
    let h_max = sampling.iter().map(|s| s.0).max().unwrap_or(1);
    let v_max = sampling.iter().map(|s| s.1).max().unwrap_or(1);
    sampling
        .iter()
        .map(|(h, v)| {
            let columns = (width * h).div_ceil(h_max).div_ceil(8);
            let rows = (height * v).div_ceil(v_max).div_ceil(8);
            columns * rows
        })
        .sum()
}

/// Refuses a palette that is not whole RGB entries, which the PNG decoder (png 0.18.1) panics
/// on when it expands the image.
fn check_palette(name: &Path, info: &png::Info) -> Result<(), Error> {
    match (&info.palette, info.color_type) {
        (Some(palette), png::ColorType::Indexed) if palette.len() % 3 != 0 => Err(Error::decode(
            name,
            format!(
                "PLTE chunk of {} bytes is not whole RGB entries",
                palette.len()
            ),
        )),
        _ => Ok(()),
    }
}

/// A PNG decoded row by row. Interlaced images are decoded whole first, since their rows
/// arrive in seven passes.
struct PngRows<R: Stream> {
    name: PathBuf,
    header: Header,
    reader: png::Reader<R>,
    /// Rows decoded but not yet handed out: the whole image when interlaced.
    frame: Option<Vec<u8>>,
    next_row: u32,
    scratch: Vec<u8>,
}

impl<R: Stream> PngRows<R> {
    fn new(name: &Path, stream: R, limits: PixelLimits) -> Result<Self, Error> {
        let mut decoder = png::Decoder::new(stream);
        decoder.set_transformations(png::Transformations::EXPAND);
        let reader = decoder.read_info().map_err(|e| Error::decode(name, e))?;
        let info = reader.info();
        let limit = if info.interlaced {
            limits.whole
        } else {
            limits.streamed
        };
        PixelLimits::check(name, info.width, info.height, limit)?;
        check_palette(name, info)?;
        let (colour, bits) = reader.output_color_type();
        let channels = match colour {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => {
                return Err(Error::decode(name, "palette PNG was not expanded"));
            }
        };
        let depth = if bits == png::BitDepth::Sixteen {
            Depth::Sixteen
        } else {
            Depth::Eight
        };
        let header = Header {
            width: info.width,
            height: info.height,
            layout: Layout::new(channels, depth),
        };
        let interlaced = info.interlaced;
        let mut rows = PngRows {
            name: name.to_owned(),
            header,
            reader,
            frame: None,
            next_row: 0,
            scratch: Vec::new(),
        };
        if interlaced {
            let size = rows
                .reader
                .output_buffer_size()
                .ok_or_else(|| Error::decode(name, "interlaced image too large to decode"))?;
            let mut frame = vec![0; size];
            rows.reader
                .next_frame(&mut frame)
                .map_err(|e| Error::decode(name, e))?;
            rows.frame = Some(frame);
        }
        Ok(rows)
    }

    /// Bytes of one decoded row.
    fn row_bytes(&self) -> usize {
        self.header.row_len() * self.header.layout.depth.bits() as usize / 8
    }

    /// Decodes the next row into `out` (exactly `row_bytes` long).
    fn decode_row(&mut self, out: &mut [u8]) -> Result<(), Error> {
        let row = self.next_row;
        if let Some(frame) = &self.frame {
            let start = row as usize * out.len();
            out.copy_from_slice(&frame[start..start + out.len()]);
        } else {
            let fail = |cause: String| Error::decode(&self.name, format!("row {row}: {cause}"));
            match self.reader.read_row(out) {
                Ok(Some(_)) => {}
                Ok(None) => return Err(fail("image data ends early".into())),
                Err(png::DecodingError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Err(fail("file is truncated".into()));
                }
                Err(e) => return Err(fail(e.to_string())),
            }
        }
        self.next_row += 1;
        if self.frame.is_none() && self.next_row == self.header.height {
            // The file must go on to its end (IEND): one cut after the last row is truncated
            // too, as the interlaced path and the image crate find.
            self.reader.finish().map_err(|e| match e {
                png::DecodingError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    Error::decode(&self.name, "file is truncated after the image data")
                }
                e => Error::decode(&self.name, format!("after the image data: {e}")),
            })?;
        }
        Ok(())
    }
}

impl<R: Stream> RowSource for PngRows<R> {
    fn header(&self) -> Header {
        self.header
    }

    fn decodes_as_read(&self) -> bool {
        self.frame.is_none()
    }

    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error> {
        let row_len = self.header.row_len();
        let row_bytes = self.row_bytes();
        dst.reset(self.header.layout.depth, rows as usize * row_len);
        match dst {
            Samples::U8(d) => {
                for out in d.chunks_exact_mut(row_len) {
                    self.decode_row(out)?;
                }
            }
            Samples::U16(d) => {
                let mut scratch = std::mem::take(&mut self.scratch);
                scratch.resize(row_bytes, 0);
                for out in d.chunks_exact_mut(row_len) {
                    self.decode_row(&mut scratch)?;
                    for (o, be) in out.iter_mut().zip(scratch.chunks_exact(2)) {
                        *o = u16::from_be_bytes([be[0], be[1]]);
                    }
                }
                self.scratch = scratch;
            }
        }
        Ok(())
    }
}

/// An image decoded whole, handed out row by row.
pub struct WholeRows {
    header: Header,
    samples: Samples,
    next_row: u32,
}

impl WholeRows {
    fn decode<R: Stream>(
        name: &Path,
        reader: ImageReader<R>,
        max_pixels: u64,
    ) -> Result<Self, Error> {
        let mut decoder = reader.into_decoder().map_err(|e| Error::decode(name, e))?;
        let (width, height) = decoder.dimensions();
        PixelLimits::check(name, width, height, max_pixels)?;
        // The decoder's own buffers besides the image (a GIF frame larger than its screen, TIFF
        // strips) get as much again as the image, and at least the image crate's default:
        // without a limit, a forged frame or strip size is allocated unchecked.
        let mut limits = image::Limits::default();
        let budget = decoder.total_bytes().saturating_mul(2);
        limits.max_alloc = limits.max_alloc.map(|default| default.max(budget));
        decoder
            .set_limits(limits)
            .map_err(|e| Error::decode(name, e))?;
        let image = DynamicImage::from_decoder(decoder).map_err(|e| Error::decode(name, e))?;
        Ok(WholeRows::from_image(image))
    }

    /// Rows of an image already in memory, in the nearest layout this crate has.
    pub fn from_image(image: DynamicImage) -> WholeRows {
        use DynamicImage as D;
        let (width, height) = (image.width(), image.height());
        let (channels, samples) = match image {
            D::ImageLuma8(i) => (1, Samples::U8(i.into_raw())),
            D::ImageLumaA8(i) => (2, Samples::U8(i.into_raw())),
            D::ImageRgb8(i) => (3, Samples::U8(i.into_raw())),
            D::ImageRgba8(i) => (4, Samples::U8(i.into_raw())),
            D::ImageLuma16(i) => (1, Samples::U16(i.into_raw())),
            D::ImageLumaA16(i) => (2, Samples::U16(i.into_raw())),
            D::ImageRgb16(i) => (3, Samples::U16(i.into_raw())),
            D::ImageRgba16(i) => (4, Samples::U16(i.into_raw())),
            D::ImageRgb32F(_) => (3, Samples::U16(image.to_rgb16().into_raw())),
            _ => (4, Samples::U16(image.to_rgba16().into_raw())),
        };
        let layout = Layout::new(channels, samples.depth());
        WholeRows {
            header: Header {
                width,
                height,
                layout,
            },
            samples,
            next_row: 0,
        }
    }
}

impl RowSource for WholeRows {
    fn header(&self) -> Header {
        self.header
    }

    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error> {
        let row_len = self.header.row_len();
        let range = self.next_row as usize * row_len..(self.next_row + rows) as usize * row_len;
        dst.reset(self.header.layout.depth, range.len());
        match (&self.samples, dst) {
            (Samples::U8(s), Samples::U8(d)) => d.copy_from_slice(&s[range]),
            (Samples::U16(s), Samples::U16(d)) => d.copy_from_slice(&s[range]),
            _ => unreachable!("reset gives dst the source's depth"),
        }
        self.next_row += rows;
        Ok(())
    }
}
