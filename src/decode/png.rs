//! PNG decoded row by row as it is read (interlaced PNG whole, its rows arriving in seven
//! passes). Text and ICC profile chunks are skipped without being kept, so a file full of them
//! costs no memory, and the decoder may hold rows as wide as the pixel limit allows. A grey or
//! RGB image with a `tRNS` colour key stays grey or RGB, as Pillow keeps it; palette images
//! with `tRNS` become RGBA.

use std::path::{Path, PathBuf};

use crate::decode::{Header, PixelLimits, RowSource, Stream};
use crate::error::Error;
use crate::pixel::{Depth, Layout, Samples};

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
pub(crate) struct PngRows<R: Stream> {
    name: PathBuf,
    header: Header,
    reader: png::Reader<R>,
    /// Rows decoded but not yet handed out: the whole image when interlaced.
    frame: Option<Vec<u8>>,
    next_row: u32,
    /// Bytes of a row as the decoder gives it (with alpha from `tRNS`).
    row_bytes: usize,
    /// The decoder's rows have an alpha channel from `tRNS` that is not handed out.
    drop_alpha: bool,
    scratch: Vec<u8>,
}

impl<R: Stream> PngRows<R> {
    pub(crate) fn new(name: &Path, stream: R, limits: PixelLimits) -> Result<Self, Error> {
        // The decoder's allocations are its rows, each held whole: allow a few rows as wide as
        // the limit on what is held whole (8 bytes a pixel at most), not only its default
        // 64 MiB; wider rows are refused below, with a reason.
        let widest = limits.whole.min(1 << 31);
        let bytes = usize::try_from(widest.saturating_mul(8 * 4)).unwrap_or(usize::MAX);
        let mut decoder = png::Decoder::new_with_limits(
            stream,
            png::Limits {
                bytes: bytes.max(64 << 20),
            },
        );
        decoder.set_transformations(png::Transformations::EXPAND);
        decoder.set_ignore_text_chunk(true);
        decoder.set_ignore_iccp_chunk(true);
        let reader = decoder
            .read_info()
            .map_err(|e| Error::decode(name, describe(&e)))?;
        let info = reader.info();
        let limit = if info.interlaced {
            limits.whole
        } else {
            limits.streamed
        };
        PixelLimits::check(name, info.width, info.height, limit)?;
        if u64::from(info.width) > limits.whole {
            return Err(Error::decode(
                name,
                format!(
                    "rows of {} pixels exceed the limit of {} pixels held at once \
                     (raise it with --max-pixels)",
                    info.width, limits.whole
                ),
            ));
        }
        check_palette(name, info)?;
        let (colour, bits) = reader.output_color_type();
        let colour_key = matches!(
            info.color_type,
            png::ColorType::Grayscale | png::ColorType::Rgb
        );
        let drop_alpha = colour_key && info.trns.is_some();
        let row_bytes = reader
            .output_line_size(info.width)
            .ok_or_else(|| Error::decode(name, "rows too large to decode"))?;
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
            layout: Layout::new(channels - u8::from(drop_alpha), depth),
        };
        let interlaced = info.interlaced;
        let mut rows = PngRows {
            name: name.to_owned(),
            header,
            reader,
            frame: None,
            next_row: 0,
            row_bytes,
            drop_alpha,
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
                .map_err(|e| Error::decode(name, describe(&e)))?;
            rows.frame = Some(frame);
        }
        Ok(rows)
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
                Err(e) => return Err(fail(describe(&e))),
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
                e => Error::decode(
                    &self.name,
                    format!("after the image data: {}", describe(&e)),
                ),
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
        dst.reset(self.header.layout.depth, rows as usize * row_len);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(self.row_bytes, 0);
        // Samples of a pixel handed out, and as decoded.
        let kept = self.header.layout.channels as usize;
        let decoded = kept + usize::from(self.drop_alpha);
        match dst {
            Samples::F32(_) => unreachable!("PNG samples are integers"),
            Samples::U8(d) if !self.drop_alpha => {
                for out in d.chunks_exact_mut(row_len) {
                    self.decode_row(out)?;
                }
            }
            Samples::U8(d) => {
                for out in d.chunks_exact_mut(row_len) {
                    self.decode_row(&mut scratch)?;
                    let pixels = scratch.chunks_exact(decoded);
                    for (o, px) in out.chunks_exact_mut(kept).zip(pixels) {
                        o.copy_from_slice(&px[..kept]);
                    }
                }
            }
            Samples::U16(d) => {
                for out in d.chunks_exact_mut(row_len) {
                    self.decode_row(&mut scratch)?;
                    let pixels = scratch.chunks_exact(decoded * 2);
                    for (o, px) in out.chunks_exact_mut(kept).zip(pixels) {
                        for (o, be) in o.iter_mut().zip(px.chunks_exact(2)) {
                            *o = u16::from_be_bytes([be[0], be[1]]);
                        }
                    }
                }
            }
        }
        self.scratch = scratch;
        Ok(())
    }
}

/// The PNG decoder's message, with a chunk type named by its four letters rather than shown
/// as a Rust structure.
fn describe(e: &png::DecodingError) -> String {
    let text = e.to_string();
    let name = text
        .split_once("type: ")
        .and_then(|(_, rest)| rest.split_once(','))
        .map(|(name, _)| name.trim_matches('"'));
    match name {
        Some(name) if text.starts_with("Unrecognized critical chunk") => format!(
            "unknown critical chunk '{name}': the image uses a PNG extension this decoder does \
             not read"
        ),
        Some(name) => match text.split_once("ChunkType") {
            Some((before, _)) => format!("{before}'{name}'"),
            None => text,
        },
        None => text,
    }
}
