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
use exr::prelude::f16;

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
    /// Pixels held in `pending`, and the most it may hold.
    held: u64,
    limit: u64,
    /// The next image row to hand out, and the complete rows of blocks it comes from.
    next: usize,
    current: Vec<f32>,
    at: usize,
}

/// Opens the OpenEXR image in `stream`.
pub(crate) fn open<R: Stream + 'static>(
    name: &Path,
    stream: R,
    limits: PixelLimits,
) -> Result<ExrRows<R>, Error> {
    let fail = |e: exr::error::Error| Error::decode(name, e);
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
        return Err(Error::decode(name, "image larger than 2^32 pixels a side"));
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
        limit: limits.whole,
        next: 0,
        current: Vec::new(),
        at: 0,
    })
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
        return Err(Error::decode(
            name,
            format!(
                "OpenEXR channels {} are not RGB, RGBA, Y, YA nor a single channel",
                names.join(", ")
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
                self.held -= done.samples.len() as u64 / u64::from(self.header.layout.channels);
                self.current = done.samples;
                self.at = 0;
                self.next += done.rows;
                return Ok(());
            }
            let block = match self.blocks.next() {
                Some(block) => block.map_err(|e| Error::decode(&self.name, e))?,
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
            self.held += (h * width) as u64;
            if self.held > self.limit {
                return Err(Error::decode(
                    &self.name,
                    format!(
                        "blocks stored so far out of row order that more than {} pixels are \
                         held (raise it with --max-pixels)",
                        self.limit
                    ),
                ));
            }
        }
        let pending = self.pending.entry(y0).or_insert_with(|| Pending {
            rows: h,
            samples: vec![0.0; h * width * channels],
            filled: 0,
        });
        if pending.rows != h {
            return Err(Error::decode(
                &self.name,
                format!("blocks of row {y0} differ in height"),
            ));
        }
        let mut bytes = block.data.as_slice();
        for y in 0..h {
            let row = &mut pending.samples[(y * width + x0) * channels..][..w * channels];
            for channel in &self.channels {
                let size = if channel.half { 2 } else { 4 };
                let (line, rest) = bytes.split_at(w * size);
                bytes = rest;
                let Some(slot) = channel.slot else {
                    continue;
                };
                let pixels = row.chunks_exact_mut(channels);
                if channel.half {
                    for (px, v) in pixels.zip(line.chunks_exact(2)) {
                        px[slot] = f16::from_ne_bytes([v[0], v[1]]).to_f32();
                    }
                } else {
                    for (px, v) in pixels.zip(line.chunks_exact(4)) {
                        px[slot] = f32::from_ne_bytes([v[0], v[1], v[2], v[3]]);
                    }
                }
            }
        }
        pending.filled += w * h;
        Ok(())
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
