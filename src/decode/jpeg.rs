//! JPEG files read up to their end-of-image marker, and checked on the way: bytes after that
//! marker, however many, are never read, and a file cut short, or whose scans are too short for
//! the size its header claims, is refused before the decoder (which fills missing data with
//! grey instead of failing) sees it.

use std::io::Read;
use std::path::Path;

use crate::error::Error;

/// Bytes read at a time.
const CHUNK: u64 = 1 << 16;

/// Reads a JPEG from `stream` up to its end-of-image marker and checks it (see `Scan`).
pub(crate) fn read(name: &Path, stream: &mut impl Read) -> Result<Vec<u8>, Error> {
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
                return Ok(data);
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
