//! TIFF and BigTIFF read a row of chunks at a time (a strip, or a row of tiles) through the
//! `tiff` crate's chunk interface, never the whole image: grey, grey + alpha, RGB, RGBA and CMYK,
//! 8 or 16 bits of unsigned integers or 32-bit floats, chunky or planar, in every compression
//! (and predictor) the crate decodes.
//! A file read from disk is decoded by several workers at once, each with its own file handle
//! and decoder, each taking every n-th row of chunks and keeping at most one finished ahead, so
//! rows come out in order and memory stays at a few rows of chunks. Other TIFFs (palette,
//! YCbCr, fewer than 8 bits) are left to the `image` crate; floating-point samples of other
//! widths are refused.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread;

use tiff::decoder::{ChunkType, Decoder, Limits};
use tiff::tags::{PlanarConfiguration, SampleFormat, Tag};
use tiff::{ColorType, TiffError};

use crate::decode::{Header, PixelLimits, RowSource, Stream};
use crate::error::Error;
use crate::pixel::{Depth, Layout, Samples};

/// Bytes of decoded rows of chunks the workers of one image may hold between them, which
/// bounds their number for wide chunks (and `--max-pixels` below that).
const HELD_BYTES: u64 = 64 << 20;

/// The most chunks (strips, or tiles of every plane) an image may have: each costs a seek and
/// a decompressor's start, and entries in the chunk tables that every worker's decoder reads.
const MAX_CHUNKS: u64 = 1 << 20;

/// Bytes a decoder takes for each chunk while it reads the chunk tables.
const TABLE_BYTES: u64 = 48;

/// Where an image's chunks lie, and how its samples are stored.
#[derive(Clone, Copy)]
struct Geometry {
    width: u32,
    height: u32,
    /// Size of a full chunk.
    chunk: (u32, u32),
    /// Chunks in a row, and rows of chunks.
    across: u32,
    down: u32,
    /// Samples per pixel.
    samples: usize,
    /// Samples in separate planes, each with its own chunks.
    planar: bool,
    /// Bytes per sample: 1, 2 or 4.
    bytes: usize,
}

impl Geometry {
    /// Bytes of a full-width row.
    fn row_bytes(&self) -> usize {
        self.width as usize * self.samples * self.bytes
    }

    /// Chunks in the image, of every plane.
    fn chunks(&self) -> u64 {
        let planes = if self.planar { self.samples } else { 1 };
        u64::from(self.across)
            .saturating_mul(u64::from(self.down))
            .saturating_mul(planes as u64)
    }

    /// Bytes of a full chunk decoded.
    fn chunk_bytes(&self) -> u64 {
        let planes = if self.planar { self.samples } else { 1 };
        let pixel = (self.samples / planes * self.bytes) as u64;
        u64::from(self.chunk.0)
            .saturating_mul(u64::from(self.chunk.1))
            .saturating_mul(pixel)
    }

    /// Whether a row of chunks is a single strip, decoded in place.
    fn in_place(&self) -> bool {
        self.across == 1 && !self.planar
    }

    /// Bytes held while a row of chunks is decoded: its rows, and a chunk's buffer unless it
    /// is decoded in place.
    fn held_bytes(&self) -> u64 {
        let rows = (self.row_bytes() as u64).saturating_mul(u64::from(self.chunk.1));
        rows.saturating_add(if self.in_place() {
            0
        } else {
            self.chunk_bytes()
        })
    }

    /// The image rows of row of chunks `index`.
    fn rows(&self, index: u32) -> std::ops::Range<u32> {
        let top = index * self.chunk.1;
        top..(top + self.chunk.1).min(self.height)
    }
}

/// What a TIFF's header says of its first image, when this module reads it: its layout and
/// geometry, or `None` for a TIFF left to the `image` crate.
fn inspect<R: Stream>(
    name: &Path,
    decoder: &mut Decoder<R>,
    limits: PixelLimits,
) -> Result<Option<(Layout, Geometry)>, Error> {
    let fail = |e| Error::decode(name, cause(e));
    let formats = decoder
        .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
        .map_err(fail)?;
    let format = formats
        .and_then(|f| f.first().copied())
        .map_or(SampleFormat::Uint, SampleFormat::from_u16_exhaustive);
    let float = match format {
        SampleFormat::Uint => false,
        SampleFormat::IEEEFP => true,
        _ => return Ok(None),
    };
    let colour = decoder.colortype().map_err(fail)?;
    let black_is_zero = decoder
        .get_tag_u32(Tag::PhotometricInterpretation)
        .is_ok_and(|p| p == 1);
    let extra_alpha = decoder
        .get_tag_u32(Tag::ExtraSamples)
        .is_ok_and(|e| e == 1 || e == 2);
    let (layout, bits) = match colour {
        ColorType::Gray(b) => (Layout::new(1, Depth::Eight), b),
        ColorType::Multiband {
            bit_depth: b,
            num_samples: 2,
        } if black_is_zero && extra_alpha => (Layout::new(2, Depth::Eight), b),
        ColorType::RGB(b) => (Layout::new(3, Depth::Eight), b),
        ColorType::RGBA(b) => (Layout::new(4, Depth::Eight), b),
        ColorType::CMYK(b) => (Layout::CMYK8, b),
        // The `image` crate would convert floats, which gave a wrong ratio.
        other if float => {
            return Err(Error::decode(
                name,
                format!("floating-point TIFF samples as {other:?} are not read"),
            ));
        }
        _ => return Ok(None),
    };
    let depth = match (bits, float) {
        (8, false) => Depth::Eight,
        (16, false) => Depth::Sixteen,
        (32, true) if !layout.cmyk => Depth::Float,
        (_, true) => {
            return Err(Error::decode(
                name,
                format!(
                    "{bits}-bit floating-point TIFF samples are not read (32-bit are, in grey \
                     and RGB with or without alpha)"
                ),
            ));
        }
        _ => return Ok(None),
    };
    let layout = Layout { depth, ..layout };
    let planar = decoder
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .map_err(fail)?
        .is_some_and(|p| p == PlanarConfiguration::Planar.to_u16());
    let (width, height) = decoder.dimensions().map_err(fail)?;
    PixelLimits::check(name, width, height, limits.streamed)?;
    let chunk = decoder.chunk_dimensions();
    if chunk.0 == 0 || chunk.1 == 0 {
        return Err(Error::decode(name, "chunks of no pixels"));
    }
    let geometry = Geometry {
        width,
        height,
        chunk,
        across: width.div_ceil(chunk.0),
        down: height.div_ceil(chunk.1),
        samples: layout.channels as usize,
        planar,
        bytes: depth.bits() as usize / 8,
    };
    let count = geometry.chunks();
    if count > MAX_CHUNKS {
        return Err(Error::decode(
            name,
            format!("{count} chunks exceed the limit of {MAX_CHUNKS} chunks an image may have"),
        ));
    }
    let held = geometry.held_bytes();
    if held > limits.held_bytes() {
        return Err(Error::decode(
            name,
            format!(
                "chunks of {} rows of {width} pixels take {held} bytes decoded, over the {} \
                 bytes an image may hold at once (raise it with --max-pixels)",
                chunk.1,
                limits.held_bytes()
            ),
        ));
    }
    let (across, down) = (geometry.across, geometry.down);
    let (offsets, counts) = match decoder.get_chunk_type() {
        ChunkType::Strip => (Tag::StripOffsets, Tag::StripByteCounts),
        ChunkType::Tile => (Tag::TileOffsets, Tag::TileByteCounts),
    };
    let offsets = decoder.get_tag_u64_vec(offsets).map_err(fail)?;
    let counts = decoder.get_tag_u64_vec(counts).map_err(fail)?;
    let uncompressed = decoder
        .find_tag_unsigned::<u16>(Tag::Compression)
        .map_err(fail)?
        .is_none_or(|c| c == 1);
    let file_len = decoder
        .inner()
        .seek(SeekFrom::End(0))
        .map_err(|e| Error::read(name, e))?;
    let full = geometry.chunk_bytes();
    for (i, (&offset, &count)) in offsets.iter().zip(&counts).enumerate() {
        let row = (i as u64 % (u64::from(across) * u64::from(down))) / u64::from(across);
        let top = row * u64::from(chunk.1);
        let rows_here = u64::from(chunk.1).min(u64::from(height).saturating_sub(top));
        let what = format!("chunk of rows {top} to {}", top + rows_here.max(1) - 1);
        if offset.saturating_add(count) > file_len {
            return Err(Error::decode(
                name,
                format!("{what} lies past the end of the file ({count} bytes at {offset})"),
            ));
        }
        // Strips may stop at the image's last row; tiles are always whole.
        let needed = match decoder.get_chunk_type() {
            ChunkType::Strip => full / u64::from(chunk.1) * rows_here,
            ChunkType::Tile => full,
        };
        if uncompressed && count < needed {
            return Err(Error::decode(
                name,
                format!("{what} holds {count} bytes of the {needed} its pixels take"),
            ));
        }
    }
    Ok(Some((layout, geometry)))
}

/// What a `tiff` crate error says, cut to a few hundred characters: some list a value for
/// every sample of a pixel, of which a forged header may claim 65535.
fn cause(error: TiffError) -> String {
    const MOST: usize = 200;
    let text = error.to_string();
    if text.len() <= MOST {
        return text;
    }
    let cut = text.floor_char_boundary(MOST);
    format!("{}... ({} more bytes)", &text[..cut], text.len() - cut)
}

/// The decoder's limits: chunk tables (and other tag values) up to 8 MiB, `MAX_CHUNKS`
/// entries in BigTIFF.
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.ifd_value_size = (MAX_CHUNKS * 8) as usize;
    limits
}

/// Opens the TIFF in `stream` as rows, decoded by workers reading `path` when there is one;
/// `None`, with `stream` back at its start, for a TIFF left to the `image` crate.
pub(crate) fn open<R: Stream + 'static>(
    name: &Path,
    path: Option<&Path>,
    mut stream: R,
    limits: PixelLimits,
) -> Result<Result<Box<dyn RowSource>, R>, Error> {
    let start = stream.stream_position().map_err(|e| Error::read(name, e))?;
    let inspected = Decoder::new(&mut stream)
        .map_err(|e| Error::decode(name, cause(e)))
        .and_then(|decoder| inspect(name, &mut decoder.with_limits(self::limits()), limits));
    stream
        .seek(SeekFrom::Start(start))
        .map_err(|e| Error::read(name, e))?;
    let Some((layout, geometry)) = inspected? else {
        return Ok(Err(stream));
    };
    let (width, height) = (geometry.width, geometry.height);
    let header = Header {
        width,
        height,
        layout,
    };
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    // Each worker holds the row of chunks it decodes, one it has finished and a decoder with
    // its own chunk tables; the reader holds the row it hands out.
    let row = geometry.held_bytes();
    let worker = 2 * row + geometry.chunks() * TABLE_BYTES;
    let room = HELD_BYTES.min(limits.held_bytes()).saturating_sub(row) / worker.max(1);
    let workers = cores.min(room as usize).min(geometry.down as usize).max(1);
    let chunks = match path {
        Some(path) if workers > 1 => Chunks::Parallel(start_workers(name, path, geometry, workers)),
        Some(path) => {
            let decoder = file_decoder(name, path)?;
            Chunks::Serial(Box::new(decoder))
        }
        None => {
            let stream: Box<dyn Stream> = Box::new(stream);
            let decoder = Decoder::new(stream).map_err(|e| Error::decode(name, cause(e)))?;
            Chunks::Serial(Box::new(decoder.with_limits(self::limits())))
        }
    };
    Ok(Ok(Box::new(TiffRows {
        name: name.to_owned(),
        header,
        geometry,
        chunks,
        next: 0,
        held: Vec::new(),
        at: 0,
    })))
}

/// Where decoded rows of chunks come from.
enum Chunks {
    /// Decoded as asked for, by one decoder (of its own file, for a file).
    Serial(Box<Decoder<Box<dyn Stream>>>),
    /// Decoded ahead by workers: row of chunks `i` comes from worker `i % workers`.
    Parallel(Vec<Receiver<Result<Vec<u8>, Error>>>),
}

/// A TIFF handed out row by row from its decoded rows of chunks.
pub(crate) struct TiffRows {
    name: PathBuf,
    header: Header,
    geometry: Geometry,
    chunks: Chunks,
    /// The next row of chunks to decode.
    next: u32,
    /// Bytes of the current row of chunks (native-endian samples), handed out from `at`.
    held: Vec<u8>,
    at: usize,
}

impl TiffRows {
    /// Makes the next row of chunks the current one.
    fn advance(&mut self) -> Result<(), Error> {
        let index = self.next;
        let held = std::mem::take(&mut self.held);
        self.held = match &mut self.chunks {
            Chunks::Serial(decoder) => {
                let mut held = held;
                decode_row_of_chunks(&self.name, decoder, &self.geometry, index, &mut held)?;
                held
            }
            Chunks::Parallel(workers) => workers[index as usize % workers.len()]
                .recv()
                .unwrap_or_else(|_| Err(Error::crashed(&self.name)))?,
        };
        self.next += 1;
        self.at = 0;
        Ok(())
    }
}

impl RowSource for TiffRows {
    fn header(&self) -> Header {
        self.header
    }

    fn decodes_as_read(&self) -> bool {
        true
    }

    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error> {
        let samples = rows as usize * self.header.row_len();
        dst.reset(self.header.layout.depth, samples);
        let bytes = self.geometry.bytes;
        let mut filled = 0;
        while filled < samples {
            if self.at == self.held.len() {
                self.advance()?;
            }
            let n = (samples - filled).min((self.held.len() - self.at) / bytes);
            let src = &self.held[self.at..self.at + n * bytes];
            dst.as_bytes_mut()[filled * bytes..(filled + n) * bytes].copy_from_slice(src);
            filled += n;
            self.at += n * bytes;
        }
        Ok(())
    }
}

/// A decoder of the TIFF at `path`, reading it through a `ChunkFile`.
fn file_decoder(name: &Path, path: &Path) -> Result<Decoder<Box<dyn Stream>>, Error> {
    let file = super::open_regular(path).map_err(|e| e.naming(name))?;
    let stream: Box<dyn Stream> = Box::new(ChunkFile {
        file: BufReader::with_capacity(1 << 16, file),
        position: 0,
    });
    let decoder = Decoder::new(stream).map_err(|e| Error::decode(name, cause(e)))?;
    Ok(decoder.with_limits(limits()))
}

/// A file read through a buffer that a seek to a place already in it keeps: the `tiff` crate
/// seeks to each chunk, and `BufReader`'s own seek empties its buffer, which made every chunk
/// of a few bytes cost a read of the whole buffer.
struct ChunkFile {
    file: BufReader<File>,
    /// Where the next byte read comes from.
    position: u64,
}

impl Read for ChunkFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl BufRead for ChunkFile {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.file.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.file.consume(n);
        self.position += n as u64;
    }
}

impl Seek for ChunkFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let offset = match to {
            SeekFrom::Start(at) => i64::try_from(at)
                .ok()
                .and_then(|at| at.checked_sub(self.position as i64)),
            SeekFrom::Current(offset) => Some(offset),
            SeekFrom::End(_) => None,
        };
        let target = offset.and_then(|o| Some((o, self.position.checked_add_signed(o)?)));
        match target {
            Some((offset, at)) => {
                self.file.seek_relative(offset)?;
                self.position = at;
            }
            None => self.position = self.file.seek(to)?,
        }
        Ok(self.position)
    }
}

/// Starts `workers` threads that decode the rows of chunks of the TIFF at `path`, each every
/// `workers`-th one from its own, keeping at most one decoded ahead.
fn start_workers(
    name: &Path,
    path: &Path,
    geometry: Geometry,
    workers: usize,
) -> Vec<Receiver<Result<Vec<u8>, Error>>> {
    (0..workers)
        .map(|first| {
            let (tx, rx) = sync_channel(1);
            let (name, path) = (name.to_owned(), path.to_owned());
            let work = move || {
                let mut decoder = match file_decoder(&name, &path) {
                    Ok(decoder) => decoder,
                    Err(e) => return drop(tx.send(Err(e))),
                };
                for index in (first as u32..geometry.down).step_by(workers) {
                    let mut held = Vec::new();
                    let decoded =
                        decode_row_of_chunks(&name, &mut decoder, &geometry, index, &mut held);
                    let failed = decoded.is_err();
                    if tx.send(decoded.map(|()| held)).is_err() || failed {
                        return;
                    }
                }
            };
            // A worker that cannot start is seen as one that crashed, when its rows are due.
            let _ = thread::Builder::new().name("tiff".into()).spawn(work);
            rx
        })
        .collect()
}

/// Decodes row of chunks `index` into `out` as full-width rows of interleaved samples.
fn decode_row_of_chunks<R: Stream>(
    name: &Path,
    decoder: &mut Decoder<R>,
    g: &Geometry,
    index: u32,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let rows = g.rows(index);
    let fail = |e: String| {
        let (first, last) = (rows.start, rows.end - 1);
        Error::decode(name, format!("chunk of rows {first} to {last}: {e}"))
    };
    // Every byte is written below, so a buffer of the right size is used as it is, and a new
    // one comes zeroed from the allocator (fresh pages, not written twice).
    let len = rows.len() * g.row_bytes();
    if out.len() != len {
        *out = vec![0; len];
    }
    if g.in_place() {
        // A strip's rows are the image's: decoded in place.
        let layout = decoder
            .image_chunk_buffer_layout(index)
            .map_err(|e| fail(cause(e)))?;
        let stride = layout.row_stride.map_or(g.row_bytes(), |s| s.get());
        if layout.len == len && stride == g.row_bytes() {
            return decoder
                .read_chunk_bytes(index, out)
                .map_err(|e| fail(cause(e)));
        }
    }
    let planes = if g.planar { g.samples } else { 1 };
    let per_plane = g.across * g.down;
    let pixel = g.samples * g.bytes;
    let mut chunk = Vec::new();
    for column in 0..g.across {
        let left = (column * g.chunk.0) as usize;
        let chunk_width = (g.chunk.0.min(g.width - column * g.chunk.0)) as usize;
        for plane in 0..planes {
            let at = plane as u32 * per_plane + index * g.across + column;
            let layout = decoder
                .image_chunk_buffer_layout(at)
                .map_err(|e| fail(cause(e)))?;
            chunk.resize(layout.len, 0);
            decoder
                .read_chunk_bytes(at, &mut chunk)
                .map_err(|e| fail(cause(e)))?;
            // Rows of the chunk as read (edge tiles may come whole, padding included).
            let used = chunk_width * pixel / planes;
            let stride = layout.row_stride.map_or(used, |s| s.get());
            if stride < used || chunk.len() < stride * (rows.len() - 1) + used {
                return Err(fail("chunk smaller than its place in the image".into()));
            }
            for y in 0..rows.len() {
                let src = &chunk[y * stride..][..used];
                let row = &mut out[y * g.row_bytes() + left * pixel..][..chunk_width * pixel];
                if !g.planar {
                    row.copy_from_slice(src);
                    continue;
                }
                let offset = plane * g.bytes;
                for (dst, sample) in row.chunks_exact_mut(pixel).zip(src.chunks_exact(g.bytes)) {
                    dst[offset..offset + g.bytes].copy_from_slice(sample);
                }
            }
        }
    }
    Ok(())
}
