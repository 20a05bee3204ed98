//! OpenEXR read a row of blocks at a time (a block of scan lines, or a row of tiles) through the
//! `exr` crate's block interface, never the whole image: the blocks of the first part's full
//! resolution are decompressed on every core by the crate's thread pool, a bounded number at
//! once, and each row of blocks is handed out as soon as all of its blocks are in. Channels R,
//! G, B (and A), or Y (and A), or a single channel of any name; half and float samples, both
//! read as `f32` (exactly, for half). Deep data, subsampled and 32-bit integer channels are
//! refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use exr::block::chunk::TileCoordinates;
use exr::block::reader::{ChunksReader, FilteredChunksReader};
use exr::block::{BlockIndex, UncompressedBlock};
use exr::math::Vec2;
use exr::meta::MetaData;
use exr::meta::attribute::SampleType;
use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

use crate::decode::{Header, PixelLimits, RowSource, Stream};
use crate::error::Error;
use crate::pixel::{Depth, Layout, Samples};

/// Where each stored channel goes in a pixel, and as what.
#[derive(Clone, Copy)]
struct Channel {
    slot: Option<usize>,
    half: bool,
}

/// Blocks decompressed in parallel, or (for an uncompressed file) read one after another.
enum Blocks<R: Stream> {
    Parallel(exr::block::reader::ParallelBlockDecompressor<FilteredChunksReader<R>>),
    Serial(exr::block::reader::SequentialBlockDecompressor<FilteredChunksReader<R>>),
}

impl<R: Stream> Blocks<R> {
    fn next(&mut self) -> Option<exr::error::Result<UncompressedBlock>> {
        match self {
            Blocks::Parallel(blocks) => blocks.decompress_next_block(),
            Blocks::Serial(blocks) => blocks.decompress_next_block(),
        }
    }
}

/// A row of blocks being filled.
struct Pending {
    rows: usize,
    samples: Vec<f32>,
    /// The left columns of the blocks written so far.
    columns: Vec<usize>,
    /// Pixels written so far.
    filled: usize,
}

/// An OpenEXR image handed out row by row.
pub(crate) struct ExrRows<R: Stream> {
    name: PathBuf,
    header: Header,
    channels: Vec<Channel>,
    blocks: Blocks<R>,
    /// Rows of blocks by their first row, while their blocks come in.
    pending: BTreeMap<usize, Pending>,
    /// Bytes held in `pending`, and the most it may hold.
    held: u64,
    limit: u64,
    /// The next image row to hand out, and the complete rows of blocks it comes from.
    next: usize,
    current: Vec<f32>,
    at: usize,
    /// Buffers of rows of blocks handed out, for the next ones.
    spare: Vec<Vec<f32>>,
    /// A line's half samples (interleaved, or of one channel), and its channels widened to
    /// floats one after another (for files that mix half and float channels).
    bits: Vec<u16>,
    line: Vec<f32>,
}

/// Opens the OpenEXR image in `stream`.
pub(crate) fn open<R: Stream + 'static>(
    name: &Path,
    stream: R,
    limits: PixelLimits,
) -> Result<ExrRows<R>, Error> {
    let fail = |e| Error::decode(name, cause(e));
    let reader = exr::block::read(stream, false).map_err(fail)?;
    let part = reader
        .headers()
        .first()
        .ok_or_else(|| Error::decode(name, "no image in the file"))?;
    if part.deep {
        return Err(Error::decode(name, "deep OpenEXR data is not read"));
    }
    let (width, height) = (part.layer_size.x(), part.layer_size.y());
    let (w, h) = (u32::try_from(width), u32::try_from(height));
    let (Ok(width), Ok(height)) = (w, h) else {
        return Err(Error::decode(name, "image of 2^32 pixels or more a side"));
    };
    PixelLimits::check(name, width, height, limits.streamed)?;
    let (layout, channels) = channels(name, part)?;
    let chunks = reader
        .filter_chunks(
            false,
            |_: &MetaData, tile: TileCoordinates, block: BlockIndex| {
                block.layer == 0 && tile.level_index == Vec2(0, 0)
            },
        )
        .map_err(fail)?;
    let blocks = match chunks.parallel_decompressor(false) {
        Ok(blocks) => Blocks::Parallel(blocks),
        Err(chunks) => Blocks::Serial(chunks.sequential_decompressor(false)),
    };
    Ok(ExrRows {
        name: name.to_owned(),
        header: Header {
            width,
            height,
            layout,
        },
        channels,
        blocks,
        pending: BTreeMap::new(),
        held: 0,
        limit: limits.held_bytes(),
        next: 0,
        current: Vec::new(),
        at: 0,
        spare: Vec::new(),
        bits: Vec::new(),
        line: Vec::new(),
    })
}

/// What an `exr` crate error says, in words about the file where it would name a system call:
/// a block offset too large to seek to (2^63 or more) lies outside the file.
fn cause(error: exr::error::Error) -> String {
    match error {
        exr::error::Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            "a block's offset in the offset table lies outside the file".to_owned()
        }
        other => other.to_string(),
    }
}

/// The layout the first part's channels make, and where each goes.
fn channels(
    name: &Path,
    part: &exr::meta::header::Header,
) -> Result<(Layout, Vec<Channel>), Error> {
    let list = &part.channels.list;
    let names: Vec<String> = list.iter().map(|c| c.name.to_string()).collect();
    let has = |n: &str| names.iter().any(|c| c == n);
    let order: &[&str] = if has("R") && has("G") && has("B") {
        if has("A") {
            &["R", "G", "B", "A"]
        } else {
            &["R", "G", "B"]
        }
    } else if has("Y") {
        if has("A") { &["Y", "A"] } else { &["Y"] }
    } else if names.len() == 1 {
        &[]
    } else {
        // A list of a few names, however many channels there are.
        let shown = names.len().min(8);
        let more = match names.len() - shown {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        return Err(Error::decode(
            name,
            format!(
                "OpenEXR channels {}{more} are not RGB, RGBA, Y, YA nor a single channel",
                names[..shown].join(", ")
            ),
        ));
    };
    let mut channels = Vec::with_capacity(list.len());
    for (description, channel) in list.iter().zip(&names) {
        let half = match description.sample_type {
            SampleType::F16 => true,
            SampleType::F32 => false,
            SampleType::U32 => {
                return Err(Error::decode(
                    name,
                    format!("OpenEXR channel {channel} holds 32-bit integers, not floats"),
                ));
            }
        };
        if description.sampling != Vec2(1, 1) {
            return Err(Error::decode(
                name,
                format!("OpenEXR channel {channel} is subsampled"),
            ));
        }
        let slot = match order {
            [] => Some(0),
            _ => order.iter().position(|o| o == channel),
        };
        channels.push(Channel { slot, half });
    }
    let count = order.len().max(1) as u8;
    Ok((Layout::new(count, Depth::Float), channels))
}

impl<R: Stream> ExrRows<R> {
    /// Takes in decompressed blocks until the row of blocks holding row `next` is complete.
    fn advance(&mut self) -> Result<(), Error> {
        loop {
            if let Some(entry) = self.pending.first_entry()
                && *entry.key() == self.next
                && entry.get().filled == entry.get().rows * self.header.width as usize
            {
                let done = entry.remove();
                self.held -= size_of_val(done.samples.as_slice()) as u64;
                let spent = std::mem::replace(&mut self.current, done.samples);
                self.spare.push(spent);
                self.at = 0;
                self.next += done.rows;
                return Ok(());
            }
            let block = match self.blocks.next() {
                Some(block) => block.map_err(|e| Error::decode(&self.name, cause(e)))?,
                None => {
                    let row = self.next;
                    return Err(Error::decode(
                        &self.name,
                        format!("no block holds row {row}"),
                    ));
                }
            };
            self.place(block)?;
        }
    }

    /// Writes a block's samples into the row of blocks it belongs to.
    fn place(&mut self, block: UncompressedBlock) -> Result<(), Error> {
        let (x0, y0) = (
            block.index.pixel_position.x(),
            block.index.pixel_position.y(),
        );
        let (w, h) = (block.index.pixel_size.x(), block.index.pixel_size.y());
        let width = self.header.width as usize;
        let channels = usize::from(self.header.layout.channels);
        let stored: usize = self
            .channels
            .iter()
            .map(|c| if c.half { 2 } else { 4 })
            .sum();
        let rows = h.min(self.header.height as usize - y0.min(self.header.height as usize));
        if y0 < self.next || x0 + w > width || rows != h || block.data.len() != w * h * stored {
            let last = y0 + h.max(1) - 1;
            let what = format!("block of rows {y0} to {last}");
            return Err(Error::decode(
                &self.name,
                format!("{what} lies outside the image"),
            ));
        }
        if !self.pending.contains_key(&y0) {
            self.held += (h * width * channels * size_of::<f32>()) as u64;
            if self.held > self.limit {
                return Err(Error::decode(
                    &self.name,
                    format!(
                        "blocks stored so far out of row order that more than {} bytes are \
                         held (raise it with --max-pixels)",
                        self.limit
                    ),
                ));
            }
        }
        let spare = &mut self.spare;
        let pending = self.pending.entry(y0).or_insert_with(|| {
            // Every sample is written before the row is handed out (each block once), so a
            // spent buffer needs no clearing.
            let mut samples = spare.pop().unwrap_or_default();
            samples.resize(h * width * channels, 0.0);
            Pending {
                rows: h,
                samples,
                columns: Vec::new(),
                filled: 0,
            }
        });
        if pending.rows != h || pending.columns.contains(&x0) {
            let why = format!("blocks of row {y0} overlap or differ in height");
            return Err(Error::decode(&self.name, why));
        }
        pending.columns.push(x0);
        let (bits, planes) = (&mut self.bits, &mut self.line);
        let mut bytes = block.data.as_slice();
        for y in 0..h {
            // This line's samples of each of the layout's channels, as stored, and whether
            // they are half.
            let mut stored: [(&[u8], bool); 4] = [(&[], false); 4];
            for channel in &self.channels {
                let size = if channel.half { 2 } else { 4 };
                let (line, rest) = bytes.split_at(w * size);
                bytes = rest;
                if let Some(slot) = channel.slot {
                    stored[slot] = (line, channel.half);
                }
            }
            let stored = &stored[..channels];
            let row = &mut pending.samples[(y * width + x0) * channels..][..w * channels];
            if stored.iter().all(|&(_, half)| half) {
                // Interleaved as stored, then widened into the row in one pass.
                bits.resize(w * channels, 0);
                let lines: [&[u8]; 4] = std::array::from_fn(|slot| match stored.get(slot) {
                    Some(&(line, _)) => line,
                    None => &[],
                });
                interleave(&lines[..channels], bits);
                widen(bits, row);
                continue;
            }
            // Half and float channels mixed: the half ones widened first.
            planes.resize(w * channels, 0.0);
            for (slot, &(line, half)) in stored.iter().enumerate() {
                if half {
                    bits.resize(w, 0);
                    interleave(&[line], bits);
                    widen(bits, &mut planes[slot * w..][..w]);
                }
            }
            let planes: &[f32] = planes;
            let widened = |slot: usize| bytemuck::cast_slice(&planes[slot * w..][..w]);
            let lines: [&[u8]; 4] = std::array::from_fn(|slot| match stored.get(slot) {
                Some(&(_, true)) => widened(slot),
                Some(&(line, false)) => line,
                None => &[],
            });
            interleave(&lines[..channels], row);
        }
        pending.filled += w * h;
        Ok(())
    }
}

/// Half floats (as bits) widened to `f32`, exactly: eight at a time with the F16C instruction
/// where the processor has it (the `half` crate's slice conversion checks for it on every
/// eight), else by the `half` crate.
fn widen(src: &[u16], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the processor has the features the function is compiled for.
        unsafe { widen_f16c(src, dst) };
        return;
    }
    src.reinterpret_cast::<f16>().convert_to_f32_slice(dst);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
fn widen_f16c(src: &[u16], dst: &mut [f32]) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm256_cvtph_ps, _mm256_storeu_ps};
    assert_eq!(src.len(), dst.len());
    let whole = src.len() / 8 * 8;
    for (s, d) in src[..whole]
        .chunks_exact(8)
        .zip(dst[..whole].chunks_exact_mut(8))
    {
        // SAFETY: eight u16 are read from `s` and eight f32 written to `d`, both that long;
        // both intrinsics take unaligned addresses.
        unsafe {
            let halves = _mm_loadu_si128(s.as_ptr().cast::<__m128i>());
            _mm256_storeu_ps(d.as_mut_ptr(), _mm256_cvtph_ps(halves));
        }
    }
    for (s, d) in src[whole..].iter().zip(&mut dst[whole..]) {
        *d = f16::from_bits(*s).to_f32();
    }
}

/// Writes lines of samples (native-endian bytes, one line per channel of the layout) into
/// `row`, a pixel's samples together.
fn interleave<T: bytemuck::Pod>(lines: &[&[u8]], row: &mut [T]) {
    match lines.len() {
        1 => interleave_n::<T, 1>(lines, row),
        2 => interleave_n::<T, 2>(lines, row),
        3 => interleave_n::<T, 3>(lines, row),
        _ => interleave_n::<T, 4>(lines, row),
    }
}

fn interleave_n<T: bytemuck::Pod, const C: usize>(lines: &[&[u8]], row: &mut [T]) {
    let (w, size) = (row.len() / C, size_of::<T>());
    let lines: [&[u8]; C] = std::array::from_fn(|c| &lines[c][..w * size]);
    for (x, px) in row.chunks_exact_mut(C).enumerate() {
        for c in 0..C {
            px[c] = bytemuck::pod_read_unaligned(&lines[c][x * size..][..size]);
        }
    }
}

impl<R: Stream> RowSource for ExrRows<R> {
    fn header(&self) -> Header {
        self.header
    }

    fn decodes_as_read(&self) -> bool {
        true
    }

    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error> {
        let samples = rows as usize * self.header.row_len();
        if self.at == self.current.len() {
            self.advance()?;
        }
        if let Samples::F32(whole) = dst
            && self.at == 0
            && self.current.len() == samples
        {
            // The rows asked for are a row of blocks (as with 16-line blocks and bands of
            // 2^17 pixels at 8192 wide): handed over whole, and the caller's buffer kept.
            std::mem::swap(whole, &mut self.current);
            self.at = self.current.len();
            return Ok(());
        }
        dst.reset(Depth::Float, samples);
        let Samples::F32(dst) = dst else {
            unreachable!("reset to floats above");
        };
        let mut filled = 0;
        while filled < samples {
            if self.at == self.current.len() {
                self.advance()?;
            }
            let n = (samples - filled).min(self.current.len() - self.at);
            dst[filled..filled + n].copy_from_slice(&self.current[self.at..self.at + n]);
            filled += n;
            self.at += n;
        }
        Ok(())
    }
}
