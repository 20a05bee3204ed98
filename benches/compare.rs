//! End-to-end benchmark of the `diffimg` binary, measured against the PNG decoding floor.
//!
//! Run with `cargo bench --bench compare [-- CASE...]` (`cargo test --benches` makes one
//! quick pass over the 1x1 case only). For each case it makes (once, cached under
//! `target/bench-data/`) a pair of PNG files from fixed seeds, then measures, one run of each
//! in turn, round after round:
//! - the floor: both files decoded at once on two threads with the `png` crate, row by row, in
//!   a process of its own (this program, started again), as the tool runs; again inside this
//!   warm process, with no start-up and every page already mapped; and whole frames in-process
//!   for reference;
//! - `diffimg A B` end to end (median and best wall time of N runs, and the child's peak RSS)
//!   with the CPU backend, the automatic choice, the CPU backend writing a diff image, and the
//!   GPU backend when an adapter works;
//! - peer tools found on `PATH`.
//!
//! A `diffimg` run that fails is shown with its exit status and first line of stderr, so the
//! harness runs before the tool is complete. Environment: `BENCH_RUNS` (runs per figure,
//! default 20 for small cases and 5 for large ones), `BENCH_TIMEOUT` (seconds allowed for one
//! command, default 600), `BENCH_BIN` (another `diffimg` binary to measure instead of this
//! build's, e.g. an older one for comparison).

use std::error::Error;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

type BoxError = Box<dyn Error + Send + Sync>;

/// Bumped whenever the generators change, so stale cached files are not reused.
const DATA_VERSION: u32 = 1;

/// Cases at or above this many pixels get fewer runs by default.
const LARGE_PIXELS: u64 = 10_000_000;

/// Chunk size of the streaming PNG writer (bytes of image data per IDAT chunk).
const STREAM_CHUNK: usize = 1 << 20;

#[derive(Clone, Copy)]
enum Content {
    /// Independent random bytes in each image.
    Noise,
    /// Flat UI-like panels, text-like glyph rows and gradients; B has a few small edits.
    Screenshot,
    /// Low-frequency gradients; B has a few small edited rectangles.
    Smooth,
    /// Like `Smooth`, with large flat tiles between the gradients.
    SmoothTiled,
}

struct Case {
    name: &'static str,
    width: u32,
    height: u32,
    color: png::ColorType,
    content: Content,
    compression: png::Compression,
    /// Run when no case is named on the command line.
    default: bool,
}

/// A pair of independent random RGBA images; noise does not compress, so it is stored.
const fn noise(name: &'static str, side: u32) -> Case {
    Case {
        name,
        width: side,
        height: side,
        color: png::ColorType::Rgba,
        content: Content::Noise,
        compression: png::Compression::NoCompression,
        default: true,
    }
}

const CASES: &[Case] = &[
    noise("1x1", 1),
    noise("2000", 2000),
    noise("10000", 10_000),
    Case {
        name: "screenshot",
        width: 3840,
        height: 2160,
        color: png::ColorType::Rgba,
        content: Content::Screenshot,
        compression: png::Compression::Balanced,
        default: true,
    },
    Case {
        name: "smooth16k",
        width: 16_000,
        height: 16_000,
        color: png::ColorType::Rgb,
        content: Content::Smooth,
        compression: png::Compression::Fast,
        default: true,
    },
    Case {
        name: "50k",
        width: 50_000,
        height: 50_000,
        color: png::ColorType::Rgba,
        content: Content::SmoothTiled,
        compression: png::Compression::Fast,
        default: false,
    },
];

impl Case {
    fn channels(&self) -> usize {
        self.color.samples()
    }

    fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    fn frame_bytes(&self) -> u64 {
        self.pixels() * self.channels() as u64
    }

    fn color_name(&self) -> &'static str {
        match self.color {
            png::ColorType::Rgb => "RGB",
            png::ColorType::Rgba => "RGBA",
            _ => "other",
        }
    }

    fn path(&self, dir: &Path, side: Side) -> PathBuf {
        let letter = match side {
            Side::A => "a",
            Side::B => "b",
        };
        dir.join(format!("{}-v{DATA_VERSION}-{letter}.png", self.name))
    }

    fn default_runs(&self) -> usize {
        if self.pixels() >= LARGE_PIXELS { 5 } else { 20 }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

// ---------------------------------------------------------------------------------------------
// Input generation
// ---------------------------------------------------------------------------------------------

/// Produces an image one row at a time, rows in order from the top.
trait RowSource: Send {
    fn fill(&mut self, y: u32, row: &mut [u8]);
}

/// SplitMix64 finaliser: a fixed, well-mixed hash of a 64-bit value.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash3(a: u64, b: u64, c: u64) -> u64 {
    mix(mix(mix(a) ^ b) ^ c)
}

struct Noise(fastrand::Rng);

impl RowSource for Noise {
    fn fill(&mut self, _y: u32, row: &mut [u8]) {
        self.0.fill(row);
    }
}

#[derive(Clone, Copy)]
struct Rect {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl Rect {
    fn new(x: u32, y: u32, w: u32, h: u32) -> Rect {
        Rect {
            x0: x,
            y0: y,
            x1: x + w,
            y1: y + h,
        }
    }

    fn covers_row(&self, y: u32) -> bool {
        (self.y0..self.y1).contains(&y)
    }
}

#[derive(Clone, Copy)]
enum Paint {
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

fn lerp(a: [u8; 4], b: [u8; 4], num: u32, den: u32) -> [u8; 4] {
    let den = den.max(1);
    let mut out = [0u8; 4];
    for i in 0..4 {
        let (a, b) = (u32::from(a[i]), u32::from(b[i]));
        out[i] = ((a * (den - num) + b * num) / den) as u8;
    }
    out
}

impl Paint {
    fn color_at(&self, rect: &Rect, x: u32, y: u32) -> [u8; 4] {
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
struct Scene {
    channels: usize,
    layers: Vec<(Rect, Paint)>,
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

fn random_color(rng: &mut fastrand::Rng, lo: u8, hi: u8) -> [u8; 4] {
    [rng.u8(lo..=hi), rng.u8(lo..=hi), rng.u8(lo..=hi), 255]
}

/// A desktop with overlapping application windows and a task bar; `edited` adds a few small
/// changes on top (three small flat rectangles and a changed word).
fn screenshot_scene(width: u32, height: u32, channels: usize, edited: bool) -> Scene {
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

/// Slow waves: red and green are sums of a column term and a row term (both whole numbers, so
/// filtered rows are nearly constant), blue is a product of two waves (its rounding steps
/// fall irregularly, which is what the compressed size mostly pays for).
struct Smooth {
    channels: usize,
    height: u32,
    /// Side of the flat tiles, if any (every third tile on a diagonal is one flat colour).
    tile: Option<u32>,
    col_r: Vec<i16>,
    col_g: Vec<i16>,
    col_b: Vec<f32>,
    edits: Vec<(Rect, [u8; 4])>,
}

/// Amplitude of the blue product wave, in levels.
const SMOOTH_DETAIL: f32 = 20.0;

fn wave(i: u32, periods: f32, span: u32, phase: f32) -> f32 {
    (std::f32::consts::TAU * periods * i as f32 / span as f32 + phase).sin()
}

impl Smooth {
    fn new(width: u32, height: u32, channels: usize, tile: Option<u32>, edited: bool) -> Smooth {
        let levels = |amplitude: f32, periods: f32, phase: f32| -> Vec<i16> {
            (0..width)
                .map(|x| (amplitude * wave(x, periods, width, phase)).round() as i16)
                .collect()
        };
        let mut edits = Vec::new();
        if edited {
            let mut rng = fastrand::Rng::with_seed(0x5700_7eed);
            for _ in 0..5 {
                let (w, h) = (rng.u32(16..=160).min(width), rng.u32(16..=160).min(height));
                let x = rng.u32(0..=width - w);
                let y = rng.u32(0..=height - h);
                edits.push((Rect::new(x, y, w, h), random_color(&mut rng, 0, 255)));
            }
        }
        Smooth {
            channels,
            height,
            tile,
            col_r: levels(70.0, 3.0, 0.3),
            col_g: levels(60.0, 5.0, 1.0),
            col_b: (0..width)
                .map(|x| SMOOTH_DETAIL * wave(x, 4.0, width, 0.0))
                .collect(),
            edits,
        }
    }

    fn smooth_span(&self, y: u32, x0: usize, x1: usize, row: &mut [u8]) {
        let h = self.height;
        let row_r = 128 + (50.0 * wave(y, 2.0, h, 0.0)).round() as i16;
        let row_g = 128 + (50.0 * wave(y, 4.0, h, 0.5)).round() as i16;
        let row_b = wave(y, 3.0, h, 0.0);
        let ch = self.channels;
        for x in x0..x1 {
            let px = &mut row[x * ch..x * ch + ch];
            px[0] = (self.col_r[x] + row_r).clamp(0, 255) as u8;
            px[1] = (self.col_g[x] + row_g).clamp(0, 255) as u8;
            px[2] = (128.0 + self.col_b[x] * row_b).round() as u8;
            if ch == 4 {
                px[3] = 255;
            }
        }
    }
}

impl RowSource for Smooth {
    fn fill(&mut self, y: u32, row: &mut [u8]) {
        let width = row.len() / self.channels;
        match self.tile {
            None => self.smooth_span(y, 0, width, row),
            Some(tile) => {
                let ty = y / tile;
                for tx in 0..width.div_ceil(tile as usize) {
                    let x0 = tx * tile as usize;
                    let x1 = (x0 + tile as usize).min(width);
                    if (tx as u32 + ty).is_multiple_of(3) {
                        let c = mix(u64::from(ty) << 32 | tx as u64).to_le_bytes();
                        for px in row[x0 * self.channels..x1 * self.channels]
                            .chunks_exact_mut(self.channels)
                        {
                            px.copy_from_slice(&[c[0], c[1], c[2], 255][..self.channels]);
                        }
                    } else {
                        self.smooth_span(y, x0, x1, row);
                    }
                }
            }
        }
        for (rect, c) in self.edits.iter().filter(|(r, _)| r.covers_row(y)) {
            let ch = self.channels;
            for px in row[rect.x0 as usize * ch..rect.x1 as usize * ch].chunks_exact_mut(ch) {
                px.copy_from_slice(&c[..ch]);
            }
        }
    }
}

fn row_source(case: &Case, side: Side) -> Box<dyn RowSource> {
    let edited = side == Side::B;
    let (w, h, ch) = (case.width, case.height, case.channels());
    match case.content {
        Content::Noise => {
            let seed = hash3(u64::from(w), u64::from(h), edited as u64);
            Box::new(Noise(fastrand::Rng::with_seed(seed)))
        }
        Content::Screenshot => Box::new(screenshot_scene(w, h, ch, edited)),
        Content::Smooth => Box::new(Smooth::new(w, h, ch, None, edited)),
        Content::SmoothTiled => Box::new(Smooth::new(w, h, ch, Some(4000), edited)),
    }
}

/// Streams one image to `path` through a temporary file, holding one row at a time.
fn write_png(case: &Case, mut source: Box<dyn RowSource>, path: &Path) -> Result<(), BoxError> {
    let tmp = path.with_extension("png.tmp");
    let file = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let mut encoder = png::Encoder::new(file, case.width, case.height);
    encoder.set_color(case.color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(case.compression);
    // After the compression, which picks a filter of its own: every case filters adaptively,
    // as ordinary encoders do, so decoding has the usual unfiltering work.
    encoder.set_filter(png::Filter::Adaptive);
    let mut writer = encoder.write_header()?;
    let mut stream = writer.stream_writer_with_size(STREAM_CHUNK)?;
    let mut row = vec![0u8; case.width as usize * case.channels()];
    for y in 0..case.height {
        source.fill(y, &mut row);
        stream.write_all(&row)?;
    }
    stream.finish()?;
    writer.finish()?;
    fs::rename(&tmp, path)?;
    Ok(())
}

/// Makes the pair unless both files exist; returns the time taken when it made them.
fn ensure_pair(case: &Case, dir: &Path) -> Result<Option<Duration>, BoxError> {
    let (a, b) = (case.path(dir, Side::A), case.path(dir, Side::B));
    if a.exists() && b.exists() {
        return Ok(None);
    }
    let start = Instant::now();
    thread::scope(|s| -> Result<(), BoxError> {
        let job_b = s.spawn(|| write_png(case, row_source(case, Side::B), &b));
        write_png(case, row_source(case, Side::A), &a)?;
        job_b.join().map_err(|_| "generator thread panicked")??;
        Ok(())
    })?;
    Ok(Some(start.elapsed()))
}

// ---------------------------------------------------------------------------------------------
// Decoding floor
// ---------------------------------------------------------------------------------------------

fn open_png(path: &Path) -> Result<png::Reader<BufReader<File>>, BoxError> {
    let file = BufReader::with_capacity(1 << 16, File::open(path)?);
    let limits = png::Limits { bytes: usize::MAX };
    let mut decoder = png::Decoder::new_with_limits(file, limits);
    decoder.set_transformations(png::Transformations::EXPAND);
    Ok(decoder.read_info()?)
}

fn decode_rows(path: &Path) -> Result<(), BoxError> {
    let mut reader = open_png(path)?;
    let mut rows = 0u32;
    while let Some(row) = reader.next_row()? {
        std::hint::black_box(row.data());
        rows += 1;
    }
    if rows != reader.info().height {
        return Err(format!("{}: {rows} rows decoded", path.display()).into());
    }
    Ok(())
}

fn decode_frame(path: &Path) -> Result<(), BoxError> {
    let mut reader = open_png(path)?;
    let size = reader
        .output_buffer_size()
        .ok_or("frame does not fit in memory")?;
    let mut buf = vec![0u8; size];
    reader.next_frame(&mut buf)?;
    std::hint::black_box(&buf);
    Ok(())
}

/// User plus system CPU time of this process so far.
fn own_cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    cpu_time(&usage)
}

fn cpu_time(usage: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Decodes both files at once on two threads.
fn decode_pair(
    a: &Path,
    b: &Path,
    decode: fn(&Path) -> Result<(), BoxError>,
) -> Result<(), BoxError> {
    thread::scope(|s| {
        let other = s.spawn(|| decode(b));
        decode(a)?;
        other.join().map_err(|_| "decoder thread panicked")?
    })
}

/// Makes this program decode `FLOOR_ARG A B` and exit: the floor in a process of its own.
const FLOOR_ARG: &str = "--decode-floor";

/// Decodes both files row by row, exiting 2 on failure.
fn decode_floor(a: &Path, b: &Path) {
    if let Err(e) = decode_pair(a, b, decode_rows) {
        eprintln!("floor: {e}");
        std::process::exit(2);
    }
}

/// How one row of a case's table is measured, once per round.
enum Job {
    /// Decoding both files at once on two threads, in this process.
    InProcess(fn(&Path) -> Result<(), BoxError>),
    /// A command; exit codes in `ok_codes` count as success.
    Command {
        program: PathBuf,
        args: Vec<OsString>,
        ok_codes: &'static [i32],
    },
}

/// A row of a case's table and the runs measured for it so far.
struct Row {
    label: String,
    job: Job,
    /// Wall and CPU time of each run.
    times: Vec<(Duration, Duration)>,
    max_rss: Option<u64>,
    /// First line of standard output of the last run.
    output: String,
    /// Why the row stopped being measured.
    failed: Option<String>,
    /// A failure means "not available here" rather than an error (the GPU row).
    optional: bool,
}

impl Row {
    fn new(label: impl Into<String>, job: Job) -> Row {
        Row {
            label: label.into(),
            job,
            times: Vec::new(),
            max_rss: None,
            output: String::new(),
            failed: None,
            optional: false,
        }
    }

    fn command(label: impl Into<String>, program: &Path, args: Vec<OsString>) -> Row {
        let ok_codes = &[0, 1];
        let program = program.to_owned();
        Row::new(
            label,
            Job::Command {
                program,
                args,
                ok_codes,
            },
        )
    }

    /// Measures one more run, unless an earlier one failed.
    fn run(&mut self, a: &Path, b: &Path, scratch: &Path, timeout: Duration) {
        if self.failed.is_some() {
            return;
        }
        match &self.job {
            Job::InProcess(decode) => {
                let (start, cpu_start) = (Instant::now(), own_cpu_time());
                match decode_pair(a, b, *decode) {
                    Ok(()) => {
                        let cpu = own_cpu_time().saturating_sub(cpu_start);
                        self.times.push((start.elapsed(), cpu));
                    }
                    Err(e) => self.failed = Some(e.to_string()),
                }
            }
            Job::Command {
                program,
                args,
                ok_codes,
            } => match run_command(program, args, ok_codes, scratch, timeout) {
                Ok((wall, usage, output)) => {
                    self.times.push((wall, cpu_time(&usage)));
                    let rss = usage.ru_maxrss as u64 * 1024;
                    self.max_rss = Some(self.max_rss.unwrap_or(0).max(rss));
                    self.output = output;
                }
                Err(why) => self.failed = Some(why),
            },
        }
    }

    /// Median wall time.
    fn wall(&self) -> Option<Duration> {
        median(self.times.iter().map(|t| t.0).collect())
    }
}

fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    let n = values.len();
    (n > 0).then(|| (values[(n - 1) / 2] + values[n / 2]) / 2)
}

struct Exit {
    wall: Duration,
    status: i32,
    usage: libc::rusage,
}

/// Waits for `pid` with `wait4`, killing it after `timeout`. The wait happens
/// on a helper thread so the timeout can be enforced without polling.
fn wait_pid(pid: libc::pid_t, start: Instant, timeout: Duration) -> Result<Exit, String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 fills it in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let waited = loop {
            // SAFETY: plain system call on our own child, with valid out-pointers.
            if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != -1 {
                break Ok(start.elapsed());
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                break Err(format!("wait4: {error}"));
            }
        };
        let _ = tx.send(waited.map(|wall| Exit {
            wall,
            status,
            usage,
        }));
    });
    match rx.recv_timeout(timeout) {
        Ok(exit) => exit,
        Err(_) => {
            // SAFETY: the child has not been reaped yet (the waiter has not answered), so the
            // pid is still its own. It stays in our process group, so Ctrl-C reaches it too.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = rx.recv();
            Err(format!("timed out after {} s", timeout.as_secs()))
        }
    }
}

fn first_line(path: &Path) -> String {
    let Ok(file) = File::open(path) else {
        return String::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
}

/// Runs a command once: its wall time, resource usage and first line of output, or why it
/// failed (an exit code not in `ok_codes`, with its first line of stderr).
fn run_command(
    program: &Path,
    args: &[OsString],
    ok_codes: &[i32],
    scratch: &Path,
    timeout: Duration,
) -> Result<(Duration, libc::rusage, String), String> {
    let (out_path, err_path) = (scratch.join("stdout.txt"), scratch.join("stderr.txt"));
    // A spawned child's peak RSS starts at this process's peak (exec records the high water
    // mark of the address space it replaces), so bring ours down to what is resident.
    reset_peak_rss();
    let spawned = File::create(&out_path).and_then(|out| {
        let err = File::create(&err_path)?;
        let start = Instant::now();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()?;
        Ok((child, start))
    });
    let (child, start) = spawned.map_err(|e| format!("cannot start: {e}"))?;
    // The child is reaped by wait4 below; `Child` itself never waits.
    let exit = wait_pid(child.id() as libc::pid_t, start, timeout)?;
    let status = exit.status;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    if !libc::WIFEXITED(status) || !ok_codes.contains(&code) {
        let how = if libc::WIFSIGNALED(status) {
            format!("killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("exit {code}")
        };
        let line = first_line(&err_path);
        let line = if line.is_empty() {
            first_line(&out_path)
        } else {
            line
        };
        return Err(format!("{how}: {}", clip(&line, 90)));
    }
    Ok((exit.wall, exit.usage, first_line(&out_path)))
}

/// Lowers this process's peak RSS to its current RSS (Linux `clear_refs` value 5).
fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb < 10.0 {
        format!("{mb:.2} MB")
    } else {
        format!("{mb:.0} MB")
    }
}

/// Seconds with three decimals, or milliseconds below 10 ms.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 0.01 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.3} s")
    }
}

fn file_size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

const LABEL_WIDTH: usize = 30;

fn print_header() {
    println!(
        "  {:<LABEL_WIDTH$} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9}  output",
        "measure", "wall", "vs floor", "vs warm", "best", "cpu", "max RSS"
    );
}

/// The floors a figure is shown against: decoding in a process of its own, as the tool runs,
/// and decoding again inside the warm bench process.
#[derive(Clone, Copy)]
struct Floors {
    process: Duration,
    warm: Duration,
}

fn print_row(row: &Row, floors: Floors) {
    let label = &row.label;
    if let Some(why) = &row.failed {
        let what = if row.optional {
            "unavailable"
        } else {
            "failed"
        };
        println!("  {label:<LABEL_WIDTH$} {what}: {why}");
        return;
    }
    let (Some(wall), Some(best)) = (row.wall(), row.times.iter().map(|t| t.0).min()) else {
        println!("  {label:<LABEL_WIDTH$} no runs");
        return;
    };
    let cpu = median(row.times.iter().map(|t| t.1).collect()).unwrap_or_default();
    let ratio = |floor: Duration| {
        if floor.is_zero() {
            "-".to_string()
        } else {
            format!("{:.2}x", wall.as_secs_f64() / floor.as_secs_f64())
        }
    };
    let rss = row.max_rss.map(megabytes).unwrap_or_else(|| "-".into());
    println!(
        "  {label:<LABEL_WIDTH$} {:>9} {:>9} {:>9} {:>9} {:>8} {rss:>9}  {}",
        seconds(wall),
        ratio(floors.process),
        ratio(floors.warm),
        seconds(best),
        seconds(cpu),
        clip(&row.output, 40),
    );
}

struct Settings {
    runs: Option<usize>,
    timeout: Duration,
    data_dir: PathBuf,
    binary: PathBuf,
}

fn bench_case(case: &Case, settings: &Settings) -> Result<(), BoxError> {
    let dir = &settings.data_dir;
    let (a, b) = (case.path(dir, Side::A), case.path(dir, Side::B));
    let runs = settings.runs.unwrap_or_else(|| case.default_runs());
    println!();
    println!(
        "== {}: {}x{} {}, files {} + {}, {runs} runs ==",
        case.name,
        case.width,
        case.height,
        case.color_name(),
        megabytes(file_size(&a)),
        megabytes(file_size(&b)),
    );
    print_header();

    let scratch = scratch_dir(dir);
    fs::create_dir_all(&scratch)?;
    let floor_args = vec![FLOOR_ARG.into(), a.clone().into(), b.clone().into()];
    let mut rows = vec![
        Row::command(
            "floor: decode rows x2",
            &std::env::current_exe()?,
            floor_args,
        ),
        Row::new("  same, warm, in-process", Job::InProcess(decode_rows)),
    ];
    // Two whole frames must fit comfortably in memory to be worth timing.
    let frames = 2 * case.frame_bytes();
    let frames_fit = frames <= physical_memory() / 2;
    if frames_fit {
        let label = "decode frames x2, in-process";
        rows.push(Row::new(label, Job::InProcess(decode_frame)));
    }

    let diff_png = scratch.join("diff.png");
    let pair = [a.clone().into_os_string(), b.clone().into_os_string()];
    let with = |extra: &[&OsStr]| -> Vec<OsString> {
        let mut args = pair.to_vec();
        args.extend(extra.iter().map(OsString::from));
        args
    };
    let tool = &settings.binary;
    let flag = |s: &'static str| OsStr::new(s);
    rows.extend([
        Row::command(
            "diffimg cpu ratio-only",
            tool,
            with(&[flag("--backend"), flag("cpu")]),
        ),
        Row::command(
            "diffimg auto ratio-only",
            tool,
            with(&[flag("--backend"), flag("auto")]),
        ),
        Row::command(
            "diffimg cpu + diff image",
            tool,
            with(&[
                flag("--backend"),
                flag("cpu"),
                flag("-f"),
                diff_png.as_os_str(),
            ]),
        ),
        Row {
            optional: true,
            ..Row::command(
                "diffimg gpu ratio-only",
                tool,
                with(&[flag("--backend"), flag("gpu")]),
            )
        },
    ]);
    let mut missing = Vec::new();
    for peer in PEERS {
        match find_on_path(peer.name) {
            Some(program) => {
                let out = scratch.join(format!("{}.png", peer.name));
                rows.push(Row::new(
                    format!("peer {}", peer.label),
                    Job::Command {
                        program,
                        args: (peer.args)(&a, &b, &out),
                        ok_codes: peer.ok_codes,
                    },
                ));
            }
            None => missing.push(peer.name),
        }
    }

    // Round after round over every row, in a new order each round, so that the machine
    // drifting during a case, or one run slowing the next, weighs on all rows alike.
    let mut rng = fastrand::Rng::with_seed(1);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    for _ in 0..runs {
        rng.shuffle(&mut order);
        for &i in &order {
            rows[i].run(&a, &b, &scratch, settings.timeout);
            for leftover in fs::read_dir(&scratch)?.flatten() {
                if leftover.path().extension().is_some_and(|e| e == "png") {
                    let _ = fs::remove_file(leftover.path());
                }
            }
        }
    }
    let _ = fs::remove_dir_all(&scratch);

    let floor = |row: &Row| {
        row.wall()
            .ok_or_else(|| format!("{}: {:?}", row.label, row.failed))
    };
    let floors = Floors {
        process: floor(&rows[0])?,
        warm: floor(&rows[1])?,
    };
    for (i, row) in rows.iter().enumerate() {
        print_row(row, floors);
        if i == 1 && !frames_fit {
            let label = "decode frames x2, in-process";
            println!(
                "  {label:<LABEL_WIDTH$} skipped: two frames take {}",
                megabytes(frames)
            );
        }
    }
    for name in missing {
        println!("  peer {name}: not installed");
    }
    Ok(())
}

struct Peer {
    name: &'static str,
    label: &'static str,
    /// Arguments from the two inputs and a scratch path for a diff image.
    args: fn(&Path, &Path, &Path) -> Vec<OsString>,
    /// Exit codes meaning "compared" (equal or different), as each tool documents them.
    ok_codes: &'static [i32],
}

fn three(a: &Path, b: &Path, out: &Path) -> Vec<OsString> {
    vec![a.into(), b.into(), out.into()]
}

const PEERS: &[Peer] = &[
    Peer {
        name: "odiff",
        label: "odiff (diff image)",
        args: three,
        ok_codes: &[0, 21, 22],
    },
    Peer {
        name: "blazediff",
        label: "blazediff (diff image)",
        args: three,
        ok_codes: &[0, 1],
    },
    Peer {
        name: "compare",
        label: "compare -metric AE",
        args: |a, b, _| {
            vec![
                "-metric".into(),
                "AE".into(),
                a.into(),
                b.into(),
                "null:".into(),
            ]
        },
        ok_codes: &[0, 1],
    },
    Peer {
        name: "pixelmatch",
        label: "pixelmatch (diff image)",
        args: three,
        ok_codes: &[0, 64],
    },
];

fn physical_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && page > 0 {
        pages as u64 * page as u64
    } else {
        u64::MAX
    }
}

/// This process's peak RSS since the last `reset_peak_rss` (`VmHWM`; `getrusage` would
/// also count the address space that exec replaced, cargo's).
fn own_peak_rss() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-data")
}

/// Where commands' output and diff images go for the duration of one case; per process, so
/// two runs at once do not clash.
fn scratch_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(format!("out-{}", std::process::id()))
}

fn env_number(name: &str) -> Result<Option<u64>, BoxError> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(
            v.trim()
                .parse()
                .map_err(|_| format!("{name}={v}: not a whole number"))?,
        )),
        Err(_) => Ok(None),
    }
}

fn run() -> Result<(), BoxError> {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this without it, and then
    // one quick pass over the smallest case checks that the harness works. Other words name
    // cases.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benching = args.iter().any(|a| a == "--bench");
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let cases: Vec<&Case> = if names.is_empty() && !benching {
        CASES.iter().take(1).collect()
    } else if names.is_empty() {
        CASES.iter().filter(|c| c.default).collect()
    } else {
        let mut chosen = Vec::new();
        for name in &names {
            let case = CASES.iter().find(|c| c.name == *name).ok_or_else(|| {
                let known: Vec<&str> = CASES.iter().map(|c| c.name).collect();
                format!("unknown case {name:?}; cases: {}", known.join(", "))
            })?;
            chosen.push(case);
        }
        chosen
    };
    let settings = Settings {
        runs: env_number("BENCH_RUNS")?
            .map(|n| n.max(1) as usize)
            .or((!benching).then_some(1)),
        timeout: Duration::from_secs(env_number("BENCH_TIMEOUT")?.unwrap_or(600)),
        data_dir: data_dir(),
        binary: std::env::var_os("BENCH_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_diffimg")),
            PathBuf::from,
        ),
    };

    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let backend = std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "(unset)".into());
    println!("diffimg end-to-end benchmark");
    println!(
        "  cores {cores}, memory {}, WGPU_BACKEND={backend}",
        megabytes(physical_memory())
    );
    println!("  binary {}", settings.binary.display());
    println!("  data   {}", settings.data_dir.display());
    println!(
        "  runs   {} per figure: median wall (ratios use it), best wall, median CPU, max RSS \
         over all runs; timeout {} s per command",
        settings
            .runs
            .map_or("20 small / 5 large".to_string(), |n| n.to_string()),
        settings.timeout.as_secs()
    );
    println!(
        "  floor  = png crate decoding both files at once on 2 threads, row by row, in a new \
         process like the tool's (`vs floor`) and again in this warm process (`vs warm`)"
    );

    fs::create_dir_all(&settings.data_dir)?;
    if !reset_peak_rss() {
        println!(
            "  note   /proc/self/clear_refs unavailable: child RSS includes this process's peak"
        );
    }
    if let Some(program) = find_on_path("true") {
        let scratch = scratch_dir(&settings.data_dir);
        fs::create_dir_all(&scratch)?;
        let mut probe = Row::command("true", &program, Vec::new());
        for _ in 0..3 {
            probe.run(Path::new(""), Path::new(""), &scratch, settings.timeout);
        }
        let _ = fs::remove_dir_all(&scratch);
        if let (Some(wall), Some(rss)) = (probe.wall(), probe.max_rss) {
            println!(
                "  spawn  `true` measures {} wall, max RSS {} (the least those columns can show)",
                seconds(wall),
                megabytes(rss),
            );
        }
    }
    for case in &cases {
        let dir = &settings.data_dir;
        reset_peak_rss();
        match ensure_pair(case, dir)? {
            Some(took) => println!(
                "generated {}: {:.1} s, files {} + {}, bench process peak RSS {}",
                case.name,
                took.as_secs_f64(),
                megabytes(file_size(&case.path(dir, Side::A))),
                megabytes(file_size(&case.path(dir, Side::B))),
                own_peak_rss().map_or("unknown".into(), megabytes),
            ),
            None => println!("cached {}", case.name),
        }
    }
    for case in &cases {
        bench_case(case, &settings)?;
    }
    Ok(())
}

fn main() {
    // Large buffers (whole decoded frames) get their own mappings, so freeing one returns it
    // to the system and it does not count against the next child's peak RSS.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes an allocator setting; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if let [flag, a, b] = &args[..]
        && flag == FLOOR_ARG
    {
        decode_floor(Path::new(a), Path::new(b));
        return;
    }
    if let Err(e) = run() {
        eprintln!("bench error: {e}");
        std::process::exit(2);
    }
}
