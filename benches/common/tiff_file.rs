//! A TIFF writer for the benchmarks' generated images: classic TIFF or BigTIFF, strips or
//! tiles, Deflate or LZW, 8 or 16-bit grey, grey + alpha, RGB or RGBA. Chunks are compressed a
//! few at a time on every core and written in order, so memory stays at a few chunks whatever
//! the image's size; the tables and the directory follow the pixels.

use std::fs::{self, File};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use rayon::prelude::*;

use super::BoxError;

/// How the pixels are cut.
#[derive(Clone, Copy, Debug)]
pub enum Chunks {
    /// Square tiles of this side.
    Tiles(u32),
    /// Strips of this many rows.
    Strips(u32),
}

#[derive(Clone, Copy, Debug)]
pub enum Codec {
    Deflate,
    Lzw,
}

/// What to write.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub width: u32,
    pub height: u32,
    pub channels: u32,
    /// 8 or 16.
    pub bits: u32,
    pub chunks: Chunks,
    pub codec: Codec,
    /// BigTIFF (64-bit offsets) rather than classic TIFF.
    pub big: bool,
}

impl Shape {
    /// (width, height) of a chunk.
    fn chunk(&self) -> (u32, u32) {
        match self.chunks {
            Chunks::Tiles(side) => (side, side),
            Chunks::Strips(rows) => (self.width, rows),
        }
    }
}

/// Writes an image of `shape` to `path` (through a temporary file, renamed when complete),
/// each sample `sample(x, y, channel)`.
pub fn write(
    path: &Path,
    shape: Shape,
    sample: impl Fn(u32, u32, u32) -> u16 + Sync,
) -> Result<(), BoxError> {
    let tmp = path.with_extension("partial");
    let mut out = BufWriter::new(File::create(&tmp)?);
    out.write_all(&[0; 16])?;
    let (chunk_w, chunk_h) = shape.chunk();
    let (across, down) = (
        shape.width.div_ceil(chunk_w),
        shape.height.div_ceil(chunk_h),
    );
    let chunks: Vec<(u32, u32)> = (0..down)
        .flat_map(|row| (0..across).map(move |column| (column, row)))
        .collect();
    let (mut offsets, mut counts) = (Vec::new(), Vec::new());
    let mut at = 16u64;
    let group = rayon::current_num_threads() * 2;
    for some in chunks.chunks(group) {
        let done: Vec<Vec<u8>> = some
            .par_iter()
            .map(|&(column, row)| compress(&shape, &raw_chunk(&shape, column, row, &sample)))
            .collect::<Result<_, BoxError>>()?;
        for bytes in done {
            offsets.push(at);
            counts.push(bytes.len() as u64);
            at += bytes.len() as u64;
            out.write_all(&bytes)?;
        }
    }
    if !shape.big && at > u64::from(u32::MAX) {
        return Err(format!("{} is too large for a classic TIFF", path.display()).into());
    }
    if !at.is_multiple_of(2) {
        out.write_all(&[0])?;
    }
    let photometric = if shape.channels >= 3 { 2 } else { 1 };
    let compression = match shape.codec {
        Codec::Deflate => 8,
        Codec::Lzw => 5,
    };
    let offset_type = if shape.big { LONG8 } else { LONG };
    let mut entries = vec![
        Entry::new(256, LONG, vec![u64::from(shape.width)]),
        Entry::new(257, LONG, vec![u64::from(shape.height)]),
        Entry::new(
            258,
            SHORT,
            vec![u64::from(shape.bits); shape.channels as usize],
        ),
        Entry::new(259, SHORT, vec![compression]),
        Entry::new(262, SHORT, vec![photometric]),
        Entry::new(277, SHORT, vec![u64::from(shape.channels)]),
    ];
    let (offsets_tag, counts_tag) = match shape.chunks {
        Chunks::Strips(rows) => {
            entries.push(Entry::new(278, LONG, vec![u64::from(rows)]));
            (273, 279)
        }
        Chunks::Tiles(side) => {
            entries.push(Entry::new(322, LONG, vec![u64::from(side)]));
            entries.push(Entry::new(323, LONG, vec![u64::from(side)]));
            (324, 325)
        }
    };
    entries.push(Entry::new(offsets_tag, offset_type, offsets));
    entries.push(Entry::new(counts_tag, offset_type, counts));
    if shape.channels == 2 || shape.channels == 4 {
        // Unassociated alpha.
        entries.push(Entry::new(338, SHORT, vec![2]));
    }
    entries.sort_by_key(|e| e.tag);
    let ifd = write_directory(&mut out, &mut entries, shape.big)?;
    out.seek(SeekFrom::Start(0))?;
    if shape.big {
        out.write_all(b"II+\0\x08\0\0\0")?;
        out.write_all(&ifd.to_le_bytes())?;
    } else {
        out.write_all(b"II*\0")?;
        out.write_all(&u32::try_from(ifd)?.to_le_bytes())?;
    }
    out.into_inner().map_err(|e| e.to_string())?.sync_all()?;
    fs::rename(tmp, path)?;
    Ok(())
}

/// The samples of one chunk, little-endian, chunky, padded with zeros past the image's edges
/// (tiles are whole; the last strip holds only the image's rows).
fn raw_chunk(
    shape: &Shape,
    column: u32,
    row: u32,
    sample: &(impl Fn(u32, u32, u32) -> u16 + Sync),
) -> Vec<u8> {
    let (chunk_w, chunk_h) = shape.chunk();
    let rows = match shape.chunks {
        Chunks::Tiles(_) => chunk_h,
        Chunks::Strips(_) => chunk_h.min(shape.height - row * chunk_h),
    };
    let bytes = (shape.bits / 8) as usize;
    let mut raw = Vec::with_capacity((chunk_w * rows * shape.channels) as usize * bytes);
    for y in row * chunk_h..row * chunk_h + rows {
        for x in column * chunk_w..(column + 1) * chunk_w {
            for c in 0..shape.channels {
                let inside = x < shape.width && y < shape.height;
                let value = if inside { sample(x, y, c) } else { 0 };
                raw.extend_from_slice(&value.to_le_bytes()[..bytes]);
            }
        }
    }
    raw
}

fn compress(shape: &Shape, raw: &[u8]) -> Result<Vec<u8>, BoxError> {
    Ok(match shape.codec {
        Codec::Deflate => {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(3));
            z.write_all(raw)?;
            z.finish()?
        }
        Codec::Lzw => {
            weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8).encode(raw)?
        }
    })
}

const SHORT: u16 = 3;
const LONG: u16 = 4;
const LONG8: u16 = 16;

/// A directory entry; values that do not fit the entry go in a table before the directory.
struct Entry {
    tag: u16,
    kind: u16,
    values: Vec<u64>,
    /// Where the values' table is, when they have one.
    table: Option<u64>,
}

impl Entry {
    fn new(tag: u16, kind: u16, values: Vec<u64>) -> Entry {
        Entry {
            tag,
            kind,
            values,
            table: None,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let size = match self.kind {
            SHORT => 2,
            LONG => 4,
            _ => 8,
        };
        self.values
            .iter()
            .flat_map(|v| v.to_le_bytes().into_iter().take(size))
            .collect()
    }
}

/// Writes the entries' tables, then the directory; returns the directory's offset.
fn write_directory(
    out: &mut BufWriter<File>,
    entries: &mut [Entry],
    big: bool,
) -> Result<u64, BoxError> {
    let inline = if big { 8 } else { 4 };
    for entry in entries.iter_mut() {
        let bytes = entry.bytes();
        if bytes.len() > inline {
            entry.table = Some(out.stream_position()?);
            out.write_all(&bytes)?;
        }
    }
    if !out.stream_position()?.is_multiple_of(2) {
        out.write_all(&[0])?;
    }
    let ifd = out.stream_position()?;
    let count = entries.len() as u64;
    if big {
        out.write_all(&count.to_le_bytes())?;
    } else {
        out.write_all(&u16::try_from(count)?.to_le_bytes())?;
    }
    for entry in entries.iter() {
        out.write_all(&entry.tag.to_le_bytes())?;
        out.write_all(&entry.kind.to_le_bytes())?;
        let mut field = match entry.table {
            Some(offset) => offset.to_le_bytes().to_vec(),
            None => entry.bytes(),
        };
        field.resize(inline, 0);
        let count = entry.values.len() as u64;
        if big {
            out.write_all(&count.to_le_bytes())?;
        } else {
            out.write_all(&u32::try_from(count)?.to_le_bytes())?;
        }
        out.write_all(&field)?;
    }
    out.write_all(&vec![0; inline])?;
    Ok(ifd)
}
