//! Image generators that produce a picture one row at a time, and a streaming PNG writer, so
//! a benchmark's inputs of any size are made in a few rows of memory.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use super::BoxError;

/// Chunk size of the streaming PNG writer (bytes of image data per IDAT chunk).
pub const STREAM_CHUNK: usize = 1 << 20;

/// Produces an image one row at a time, rows in order from the top.
pub trait RowSource: Send {
    fn fill(&mut self, y: u32, row: &mut [u8]);
}

/// SplitMix64 finaliser: a fixed, well-mixed hash of a 64-bit value.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub fn hash3(a: u64, b: u64, c: u64) -> u64 {
    mix(mix(mix(a) ^ b) ^ c)
}

pub struct Noise(pub fastrand::Rng);

impl RowSource for Noise {
    fn fill(&mut self, _y: u32, row: &mut [u8]) {
        self.0.fill(row);
    }
}

#[derive(Clone, Copy)]
pub struct Rect {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl Rect {
    pub fn new(x: u32, y: u32, w: u32, h: u32) -> Rect {
        Rect {
            x0: x,
            y0: y,
            x1: x + w,
            y1: y + h,
        }
    }

    pub fn covers_row(&self, y: u32) -> bool {
        (self.y0..self.y1).contains(&y)
    }
}

#[derive(Clone, Copy)]
pub enum Paint {
    Solid([u8; 4]),
    /// Left-to-right blend between two colours.
    HGradient([u8; 4], [u8; 4]),
    /// Top-to-bottom blend between two colours.
    VGradient([u8; 4], [u8; 4]),
    /// Rows of 8x16 glyph cells, each glyph a hashed 5x9 bitmap, lines of varying length.
    Text {
        fg: [u8; 4],
        bg: [u8; 4],
        seed: u64,
    },
}

pub fn lerp(a: [u8; 4], b: [u8; 4], num: u32, den: u32) -> [u8; 4] {
    let den = den.max(1);
    let mut out = [0u8; 4];
    for i in 0..4 {
        let (a, b) = (u32::from(a[i]), u32::from(b[i]));
        out[i] = ((a * (den - num) + b * num) / den) as u8;
    }
    out
}

impl Paint {
    pub fn color_at(&self, rect: &Rect, x: u32, y: u32) -> [u8; 4] {
        match *self {
            Paint::Solid(c) => c,
            Paint::HGradient(a, b) => lerp(a, b, x - rect.x0, rect.x1 - rect.x0 - 1),
            Paint::VGradient(a, b) => lerp(a, b, y - rect.y0, rect.y1 - rect.y0 - 1),
            Paint::Text { fg, bg, seed } => {
                let (dx, dy) = (x - rect.x0, y - rect.y0);
                let (line, cy) = (u64::from(dy / 16), dy % 16);
                let (cell, cx) = (u64::from(dx / 8), dx % 8);
                let cols = u64::from((rect.x1 - rect.x0) / 8).max(1);
                let line_len = cols / 3 + hash3(seed, line, u64::MAX) % (cols - cols / 3).max(1);
                if cell >= line_len || !(1..6).contains(&cx) || !(3..12).contains(&cy) {
                    return bg;
                }
                let glyph = hash3(seed, line, cell);
                if glyph.is_multiple_of(6) {
                    return bg; // a space between words
                }
                let bit = (cy - 3) * 5 + (cx - 1);
                if (glyph >> (bit + 3)) & 1 == 1 {
                    fg
                } else {
                    bg
                }
            }
        }
    }
}

/// Painted rectangles, later ones on top.
pub struct Scene {
    pub channels: usize,
    pub layers: Vec<(Rect, Paint)>,
}

impl RowSource for Scene {
    fn fill(&mut self, y: u32, row: &mut [u8]) {
        let width = (row.len() / self.channels) as u32;
        for (rect, paint) in self.layers.iter().filter(|(r, _)| r.covers_row(y)) {
            for x in rect.x0..rect.x1.min(width) {
                let c = paint.color_at(rect, x, y);
                let at = x as usize * self.channels;
                row[at..at + self.channels].copy_from_slice(&c[..self.channels]);
            }
        }
    }
}

pub fn random_color(rng: &mut fastrand::Rng, lo: u8, hi: u8) -> [u8; 4] {
    [rng.u8(lo..=hi), rng.u8(lo..=hi), rng.u8(lo..=hi), 255]
}

/// A desktop with overlapping application windows and a task bar; `edited` adds a few small
/// changes on top (three small flat rectangles and a changed word).
pub fn screenshot_scene(width: u32, height: u32, channels: usize, edited: bool) -> Scene {
    let mut rng = fastrand::Rng::with_seed(0x5c2e_e45b);
    let mut layers = vec![(
        Rect::new(0, 0, width, height),
        Paint::VGradient([32, 64, 112, 255], [12, 20, 40, 255]),
    )];
    let bar = 48.min(height);
    let desk_h = height - bar;
    for _ in 0..7 {
        let w = rng.u32(width / 5..=width / 2).min(width);
        let h = rng.u32(desk_h / 5..=desk_h * 3 / 5).max(80).min(desk_h);
        let x = rng.u32(0..=width - w);
        let y = rng.u32(0..=desk_h - h);
        let body = random_color(&mut rng, 220, 255);
        layers.push((Rect::new(x, y, w, h), Paint::Solid([90, 90, 90, 255])));
        layers.push((Rect::new(x + 1, y + 1, w - 2, h - 2), Paint::Solid(body)));
        let title = random_color(&mut rng, 40, 140);
        let title_end = random_color(&mut rng, 40, 140);
        layers.push((
            Rect::new(x + 1, y + 1, w - 2, 32),
            Paint::HGradient(title, title_end),
        ));
        layers.push((
            Rect::new(x + 12, y + 9, (w / 3).max(16), 16),
            Paint::Text {
                fg: [250, 250, 250, 255],
                bg: title,
                seed: rng.u64(..),
            },
        ));
        let buttons = [[230, 80, 70, 255], [240, 190, 60, 255], [90, 190, 90, 255]];
        for (i, button) in buttons.into_iter().enumerate() {
            layers.push((
                Rect::new(x + w - 30 - 24 * i as u32, y + 9, 16, 16),
                Paint::Solid(button),
            ));
        }
        // Side panel with a list, main area with paragraphs and a picture.
        let panel_w = (w / 5).max(40).min(w - 2);
        let inner_h = h.saturating_sub(34);
        let panel_bg = random_color(&mut rng, 200, 235);
        layers.push((
            Rect::new(x + 1, y + 33, panel_w, inner_h),
            Paint::Solid(panel_bg),
        ));
        layers.push((
            Rect::new(
                x + 9,
                y + 41,
                panel_w.saturating_sub(16).max(8),
                inner_h.saturating_sub(16),
            ),
            Paint::Text {
                fg: [40, 40, 60, 255],
                bg: panel_bg,
                seed: rng.u64(..),
            },
        ));
        let main_x = x + panel_w + 16;
        let main_w = (x + w).saturating_sub(main_x + 16).max(8);
        let picture_h = inner_h / 3;
        let (pa, pb) = (
            random_color(&mut rng, 0, 255),
            random_color(&mut rng, 0, 255),
        );
        layers.push((
            Rect::new(main_x, y + 48, main_w, picture_h),
            Paint::VGradient(pa, pb),
        ));
        layers.push((
            Rect::new(
                main_x,
                y + 64 + picture_h,
                main_w,
                inner_h.saturating_sub(picture_h + 48).max(16),
            ),
            Paint::Text {
                fg: [20, 20, 20, 255],
                bg: body,
                seed: rng.u64(..),
            },
        ));
    }
    layers.push((
        Rect::new(0, desk_h, width, bar),
        Paint::Solid([28, 28, 34, 255]),
    ));
    for i in 0..12 {
        if 16 + 48 * i + 32 > width {
            break;
        }
        let icon = random_color(&mut rng, 60, 250);
        layers.push((
            Rect::new(16 + 48 * i, desk_h + 8, 32, 32),
            Paint::Solid(icon),
        ));
    }
    if width > 200 {
        layers.push((
            Rect::new(width - 140, desk_h + 16, 120, 16),
            Paint::Text {
                fg: [230, 230, 230, 255],
                bg: [28, 28, 34, 255],
                seed: 7,
            },
        ));
    }
    if edited {
        let mut edits = fastrand::Rng::with_seed(0xed17);
        let mut spot = |w: u32, h: u32| {
            Rect::new(
                edits.u32(0..width.saturating_sub(w).max(1)),
                edits.u32(0..desk_h.saturating_sub(h).max(1)),
                w.min(width),
                h.min(desk_h),
            )
        };
        layers.push((spot(16, 16), Paint::Solid([20, 120, 250, 255])));
        layers.push((
            spot(48, 16),
            Paint::Text {
                fg: [20, 20, 20, 255],
                bg: [245, 245, 245, 255],
                seed: 99,
            },
        ));
        layers.push((spot(24, 12), Paint::Solid([250, 40, 40, 255])));
        layers.push((spot(12, 20), Paint::Solid([255, 255, 255, 255])));
    }
    Scene { channels, layers }
}

/// The size and encoding of a PNG file to write.
#[derive(Clone, Copy)]
pub struct PngSpec {
    pub width: u32,
    pub height: u32,
    pub color: png::ColorType,
    pub compression: png::Compression,
}

/// Streams one image to `path` through a temporary file, holding one row at a time.
pub fn write_png(
    spec: &PngSpec,
    mut source: Box<dyn RowSource>,
    path: &Path,
) -> Result<(), BoxError> {
    let tmp = path.with_extension("png.tmp");
    let file = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let mut encoder = png::Encoder::new(file, spec.width, spec.height);
    encoder.set_color(spec.color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(spec.compression);
    // After the compression, which picks a filter of its own: every case filters adaptively,
    // as ordinary encoders do, so decoding has the usual unfiltering work.
    encoder.set_filter(png::Filter::Adaptive);
    let mut writer = encoder.write_header()?;
    let mut stream = writer.stream_writer_with_size(STREAM_CHUNK)?;
    let mut row = vec![0u8; spec.width as usize * spec.color.samples()];
    for y in 0..spec.height {
        source.fill(y, &mut row);
        stream.write_all(&row)?;
    }
    stream.finish()?;
    writer.finish()?;
    fs::rename(&tmp, path)?;
    Ok(())
}
