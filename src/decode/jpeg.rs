//! JPEG decoded by libjpeg-turbo, the decoder Pillow uses, so that the pixels are Pillow's:
//! on a thread of its own, a few rows at a time (libjpeg's scanline interface), so that a
//! baseline JPEG of any size costs a few rows of memory (a progressive one is held whole by
//! libjpeg, as its scans refine the whole image in turn).
//!
//! The file is first read up to its end-of-image marker and checked on the way: bytes after
//! that marker, however many, are never read, and a file cut short, or whose scans are too
//! short for the size its header claims, is refused before the decoder (which fills missing
//! data with grey instead of failing) sees it. libjpeg's errors unwind out of it as panics,
//! which become one-line errors.

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use mozjpeg::{ColorSpace, Decompress};

use crate::decode::{Header, PixelLimits, RowSource};
use crate::error::Error;
use crate::pixel::{Depth, Layout, Samples};

/// Pixels decoded at a time and handed over together (whole rows, at least one).
const PIXELS_AT_ONCE: usize = 1 << 16;

/// Groups of rows decoded ahead of the reader.
const AHEAD: usize = 4;

/// A JPEG decoded on a thread of its own, its rows handed over a few at a time.
pub(crate) struct JpegRows {
    name: PathBuf,
    header: Header,
    rows: Receiver<Result<Vec<u8>, Error>>,
    /// Rows received and not yet handed out, from `at`.
    held: Vec<u8>,
    at: usize,
}

impl JpegRows {
    /// Reads the JPEG in `stream` and starts decoding it; `name` is what errors call it.
    pub(crate) fn new(
        name: &Path,
        stream: &mut impl Read,
        limits: PixelLimits,
    ) -> Result<JpegRows, Error> {
        let (data, progressive) = read(name, stream)?;
        let limit = if progressive {
            limits.whole
        } else {
            limits.streamed
        };
        let (header_tx, header_rx) = sync_channel(1);
        let (rows_tx, rows_rx) = sync_channel(AHEAD);
        let owned = name.to_owned();
        thread::Builder::new()
            .name("jpeg".into())
            .spawn(move || decode(&owned, &data, limit, header_tx, rows_tx))
            .map_err(|e| Error::read(name, e))?;
        let header = header_rx
            .recv()
            .unwrap_or_else(|_| Err(Error::crashed(name)))?;
        Ok(JpegRows {
            name: name.to_owned(),
            header,
            rows: rows_rx,
            held: Vec::new(),
            at: 0,
        })
    }
}

impl RowSource for JpegRows {
    fn header(&self) -> Header {
        self.header
    }

    fn decodes_as_read(&self) -> bool {
        true
    }

    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error> {
        dst.reset(Depth::Eight, rows as usize * self.header.row_len());
        let Samples::U8(out) = dst else {
            unreachable!("reset to 8 bits")
        };
        let mut filled = 0;
        while filled < out.len() {
            if self.at == self.held.len() {
                self.held = self
                    .rows
                    .recv()
                    .unwrap_or_else(|_| Err(Error::crashed(&self.name)))?;
                self.at = 0;
            }
            let n = (out.len() - filled).min(self.held.len() - self.at);
            out[filled..filled + n].copy_from_slice(&self.held[self.at..self.at + n]);
            (filled, self.at) = (filled + n, self.at + n);
        }
        Ok(())
    }
}

/// Decodes the JPEG in `data`: sends its header (or why it has none) on `header_tx`, then its
/// rows, a group at a time, on `rows_tx`, until they end, an error (sent as the last group) or
/// the reader hangs up.
fn decode(
    name: &Path,
    data: &[u8],
    limit: u64,
    header_tx: SyncSender<Result<Header, Error>>,
    rows_tx: SyncSender<Result<Vec<u8>, Error>>,
) {
    let mut row = None;
    let decoded = catch_unwind(AssertUnwindSafe(|| -> Result<(), Error> {
        let fail = |e: std::io::Error| Error::decode(name, e);
        let started = Decompress::new_mem(data).and_then(|jpeg| {
            match jpeg.components().len() {
                1 => jpeg.grayscale(),
                3 => jpeg.rgb(),
                // CMYK (or YCCK, which libjpeg converts to CMYK), inverted as Pillow reads it
                // (Adobe's convention, which most CMYK JPEGs follow).
                4 => jpeg.to_colorspace(ColorSpace::JCS_CMYK),
                n => Err(std::io::Error::other(format!(
                    "JPEG with {n} components (1, 3 or 4 are read)"
                ))),
            }
        });
        let mut jpeg = match started {
            Ok(jpeg) => jpeg,
            Err(e) => {
                let _ = header_tx.send(Err(fail(e)));
                return Ok(());
            }
        };
        let (width, height) = (jpeg.width(), jpeg.height());
        let checked = match (u32::try_from(width), u32::try_from(height)) {
            (Ok(w), Ok(h)) => PixelLimits::check(name, w, h, limit).map(|()| (w, h)),
            _ => Err(Error::decode(name, "image size out of range")),
        };
        let (cmyk, channels) = match jpeg.color_space() {
            ColorSpace::JCS_GRAYSCALE => (false, 1),
            ColorSpace::JCS_CMYK => (true, 4),
            _ => (false, 3),
        };
        let layout = match cmyk {
            true => Layout::CMYK8,
            false => Layout::new(channels, Depth::Eight),
        };
        let header = checked.map(|(width, height)| Header {
            width,
            height,
            layout,
        });
        let refused = header.is_err();
        if header_tx.send(header).is_err() || refused {
            return Ok(());
        }
        let row_len = width * usize::from(channels);
        let at_once = (PIXELS_AT_ONCE / width).max(1);
        let mut done = 0;
        while done < height {
            let rows = at_once.min(height - done);
            row = Some(done);
            let mut group = vec![0; rows * row_len];
            jpeg.read_scanlines_into(&mut group).map_err(|e| {
                Error::decode(name, format!("rows {done} to {}: {e}", done + rows - 1))
            })?;
            if cmyk {
                group.iter_mut().for_each(|v| *v = 255 - *v);
            }
            if rows_tx.send(Ok(group)).is_err() {
                return Ok(());
            }
            done += rows;
        }
        jpeg.finish().map_err(fail)
    }));
    let error = match decoded {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(payload) => {
            let cause = payload
                .downcast_ref::<String>()
                .map(|m| m.trim_start_matches("libjpeg fatal error: ").to_owned())
                .unwrap_or_else(|| "the decoder crashed on this file".into());
            match row {
                Some(row) => Error::decode(name, format!("row {row}: {cause}")),
                None => Error::decode(name, cause),
            }
        }
    };
    match row {
        None => drop(header_tx.send(Err(error))),
        Some(_) => drop(rows_tx.send(Err(error))),
    }
}

/// Bytes read at a time.
const CHUNK: u64 = 1 << 16;

/// Reads a JPEG from `stream` up to its end-of-image marker and checks it (see `Scan`): its
/// bytes, and whether it is progressive.
fn read(name: &Path, stream: &mut impl Read) -> Result<(Vec<u8>, bool), Error> {
    let mut data = Vec::new();
    let mut scan = Scan {
        at: 2, // past the start-of-image marker
        ..Scan::default()
    };
    loop {
        let got = stream
            .by_ref()
            .take(CHUNK)
            .read_to_end(&mut data)
            .map_err(|cause| Error::read(name, cause))?;
        match scan
            .advance(&data)
            .map_err(|cause| Error::decode(name, cause))?
        {
            Some(end) => {
                data.truncate(end);
                return Ok((data, scan.progressive));
            }
            None if got == 0 => {
                return Err(Error::decode(
                    name,
                    "file is truncated (no JPEG end-of-image marker)",
                ));
            }
            None => {}
        }
    }
}

/// A walk through a JPEG's markers, resumed as more of the file arrives: segments are skipped
/// by their length, and entropy-coded data up to the next marker that is not a stuffed zero, a
/// restart or a fill byte. At the end-of-image marker, the scans must hold at least a bit for
/// each 8x8 block the frame header claims (every block's DC coefficient takes one), which a
/// forged size does not.
#[derive(Default)]
struct Scan {
    /// Where the walk stands.
    at: usize,
    /// 8x8 blocks of the largest frame header seen.
    blocks: u64,
    /// Bytes of entropy-coded data seen.
    scan_bytes: u64,
    /// Where the entropy-coded data being walked began.
    in_scan: Option<usize>,
    /// Whether a frame header says progressive: such a frame is decoded whole.
    progressive: bool,
}

impl Scan {
    /// Walks `data` (the file so far) on from where the last call stopped: the length of the
    /// file up to its end-of-image marker once found, `None` while more is needed.
    fn advance(&mut self, data: &[u8]) -> Result<Option<usize>, String> {
        loop {
            if let Some(start) = self.in_scan {
                while let Some(&[byte, next]) = data.get(self.at..self.at + 2)
                    && (byte != 0xff || matches!(next, 0x00 | 0xd0..=0xd7 | 0xff))
                {
                    self.at += 1;
                }
                if self.at + 1 >= data.len() {
                    return Ok(None);
                }
                self.scan_bytes += self.at.saturating_sub(start) as u64;
                self.in_scan = None;
            }
            let at = self.at;
            if at + 1 >= data.len() {
                return Ok(None);
            }
            if data[at] != 0xff {
                self.at += 1; // stray bytes between segments, which decoders skip too
                continue;
            }
            match data[at + 1] {
                0xd9 if self.scan_bytes * 8 < self.blocks => {
                    return Err(format!(
                        "scan data too short for the size in its header \
                         ({} bytes for {} blocks of 8x8)",
                        self.scan_bytes, self.blocks
                    ));
                }
                0xd9 => return Ok(Some(at + 2)),
                0xff => self.at += 1,
                0x00 | 0x01 | 0xd0..=0xd7 => self.at += 2,
                marker => {
                    let Some(&[len_high, len_low]) = data.get(at + 2..at + 4) else {
                        return Ok(None);
                    };
                    let end = at + 2 + usize::from(u16::from_be_bytes([len_high, len_low]));
                    // Frame headers: SOF0 to SOF15 but DHT (c4), JPG (c8) and DAC (cc).
                    if matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
                        let Some(header) = data.get(at + 4..end) else {
                            return Ok(None);
                        };
                        self.blocks = self.blocks.max(frame_blocks(header));
                        self.progressive |= matches!(marker, 0xc2 | 0xc6 | 0xca | 0xce);
                    }
                    self.at = end;
                    if marker == 0xda {
                        self.in_scan = Some(end);
                    }
                }
            }
        }
    }
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
