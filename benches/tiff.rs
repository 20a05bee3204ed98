//! Workstation-format benchmark: four pairs generated here (fixed content, a few edited squares
//! in image b, cached under `target/bench-data/`; written a few chunks at a time, so in little
//! memory): 20000x20000 RGB 8-bit TIFF in 256x256 Deflate tiles, 50000x50000 RGBA 8-bit BigTIFF
//! in 16-row LZW strips, 12000x12000 RGB 16-bit TIFF in Deflate tiles, and 8192x8192 RGBA
//! half-float OpenEXR in 16-line ZIP blocks. Each is compared by diffimg on 1 core, 2 cores
//! (where there are more) and all cores, against the floor measured the same way: the same
//! chunks decoded by the same crate (`tiff` with as many workers per image as diffimg starts,
//! each with its own file handle; `exr` with its block decompressor's thread pool), both images
//! at once, nothing else done, in a process of its own. On all cores also with a diff PNG, and
//! ImageMagick's `compare -metric AE` and OpenImageIO's `idiff` on the same pair when they are
//! installed.
//!
//! `cargo bench --bench tiff`; `TIFF_BENCH_ROUNDS` sets the rounds (3), `TIFF_BENCH_CASES` the
//! pairs (`tiff`, `bigtiff-lzw`, `tiff16`, `exr-half`, comma-separated; all by default).
//! `cargo test --benches` runs one round of each on 600x500 pairs, to check the harness.

mod common;

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use common::measure::{Job, Row};
use common::table::{Floors, file_size, megabytes, print_header, print_row};
use common::tiff_file::{self, Chunks, Codec, Shape};
use common::{BoxError, data_dir, env_number, find_on_path, scratch_dir};

/// Bumped when the generated content changes, so cached files are made again.
const DATA_VERSION: u32 = 1;
/// Makes this program decode `FLOOR_ARG A B` and exit: the floor in a process of its own.
const FLOOR_ARG: &str = "--tiff-floor";

/// A benchmark pair: its name (for `TIFF_BENCH_CASES` and the cached files), its title and
/// what it is made of.
struct Case {
    name: &'static str,
    title: &'static str,
    kind: Kind,
}

enum Kind {
    /// A TIFF of this shape (at full size) and these samples.
    Tiff {
        shape: Shape,
        sample: fn(u32, u32, u32, bool, u32) -> u16,
    },
    /// An RGBA half-float OpenEXR, square, of this side at full size.
    Exr { side: u32 },
}

const CASES: [Case; 4] = [
    Case {
        name: "tiff",
        title: "RGB 8-bit, 256x256 Deflate tiles",
        kind: Kind::Tiff {
            shape: Shape {
                width: 20000,
                height: 20000,
                channels: 3,
                bits: 8,
                chunks: Chunks::Tiles(256),
                codec: Codec::Deflate,
                big: false,
            },
            sample: waves,
        },
    },
    Case {
        name: "bigtiff-lzw",
        title: "RGBA 8-bit BigTIFF, 16-row LZW strips",
        kind: Kind::Tiff {
            shape: Shape {
                width: 50000,
                height: 50000,
                channels: 4,
                bits: 8,
                chunks: Chunks::Strips(16),
                codec: Codec::Lzw,
                big: true,
            },
            sample: ramps,
        },
    },
    Case {
        name: "tiff16",
        title: "RGB 16-bit, 256x256 Deflate tiles",
        kind: Kind::Tiff {
            shape: Shape {
                width: 12000,
                height: 12000,
                channels: 3,
                bits: 16,
                chunks: Chunks::Tiles(256),
                codec: Codec::Deflate,
                big: false,
            },
            sample: ramps,
        },
    },
    Case {
        name: "exr-half",
        title: "RGBA half-float OpenEXR, 16-line ZIP blocks",
        kind: Kind::Exr { side: 8192 },
    },
];

/// Whether (x, y) lies in one of image b's few edited squares.
fn edited_at(x: u32, y: u32) -> bool {
    (x / 97 + y / 89).is_multiple_of(997) && x % 97 < 40 && y % 89 < 40
}

/// Smooth waves with fine detail, 8-bit.
fn waves(x: u32, y: u32, c: u32, edited: bool, _bits: u32) -> u16 {
    let (fx, fy) = (x as f32, y as f32);
    let wave = (fx * 0.0031 + c as f32).sin() * (fy * 0.0023 + 0.7 * c as f32).cos();
    let detail = ((x.wrapping_mul(7) ^ y.wrapping_mul(13)) >> 2) & 7;
    let base = (128.0 + 100.0 * wave) as u32 + detail;
    u16::from(
        (if edited && edited_at(x, y) {
            base ^ 0x5a
        } else {
            base
        }) as u8,
    )
}

/// Ramps with fine detail, cheap enough for billions of samples; alpha (channel 3) opaque.
fn ramps(x: u32, y: u32, c: u32, edited: bool, bits: u32) -> u16 {
    let max = (1u32 << bits) - 1;
    if c == 3 {
        return max as u16;
    }
    let base = (x >> 2) * 3 + (y >> 2) * 5 + c * 61 + ((x ^ y) & 7);
    let value = if edited && edited_at(x, y) {
        base ^ 0x5a
    } else {
        base
    };
    (value.wrapping_mul(if bits == 8 { 1 } else { 257 }) & max) as u16
}

/// A render in linear light: smooth shading from 0 to about 3 (past 1, as HDR renders go) with
/// a little noise, alpha 1; image b brightened in its few edited squares.
fn render(x: u32, y: u32, c: u32, edited: bool) -> f32 {
    if c == 3 {
        return 1.0;
    }
    let (fx, fy) = (x as f32, y as f32);
    let shade = (fx * 0.0021 + c as f32).sin() * (fy * 0.0017 + 0.4 * c as f32).cos();
    let noise = ((x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) >> 24) as f32 / 4096.0;
    let value = 1.5 + 1.5 * shade + noise;
    if edited && edited_at(x, y) {
        value + 0.25
    } else {
        value
    }
}

/// Writes an OpenEXR render of `size` (RGBA half, ZIP blocks of 16 lines), block by block.
fn write_exr(path: &Path, size: (u32, u32), edited: bool) -> Result<(), BoxError> {
    use exr::prelude::{
        Blocks, Compression, Encoding, Image, Layer, LayerAttributes, LineOrder, SpecificChannels,
        Vec2, WritableImage, f16,
    };
    let pixels = SpecificChannels::rgba(move |Vec2(x, y): Vec2<usize>| {
        let sample = |c| f16::from_f32(render(x as u32, y as u32, c, edited));
        (sample(0), sample(1), sample(2), sample(3))
    });
    let encoding = Encoding {
        compression: Compression::ZIP16,
        blocks: Blocks::ScanLines,
        line_order: LineOrder::Increasing,
    };
    let size = (size.0 as usize, size.1 as usize);
    let layer = Layer::new(size, LayerAttributes::default(), encoding, pixels);
    Image::from_layer(layer).write().to_file(path)?;
    Ok(())
}

/// Decompresses every block of the OpenEXR at `path` with the `exr` crate's parallel
/// decompressor, as diffimg reads it.
fn decode_blocks(path: &Path) -> Result<(), BoxError> {
    use exr::block::reader::ChunksReader;
    let file = BufReader::with_capacity(1 << 18, File::open(path)?);
    let chunks = exr::block::read(file, false)?.all_chunks(false)?;
    let mut blocks = chunks
        .parallel_decompressor(false)
        .map_err(|_| "the pair is compressed")?;
    while let Some(block) = blocks.decompress_next_block() {
        std::hint::black_box(block?);
    }
    Ok(())
}

/// Decodes every chunk of the image at `path`, as its format's floor.
fn decode_chunks(path: &Path) -> Result<(), BoxError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("exr") => decode_blocks(path),
        _ => decode_tiles(path),
    }
}

/// Decodes every chunk of the TIFF at `path` with as many workers as diffimg starts (one per
/// core here), each with its own decoder taking every n-th row of chunks.
fn decode_tiles(path: &Path) -> Result<(), BoxError> {
    let workers = thread::available_parallelism().map_or(1, |n| n.get());
    thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|first| {
                s.spawn(move || -> Result<(), BoxError> {
                    let file = BufReader::with_capacity(1 << 16, File::open(path)?);
                    let mut decoder = tiff::decoder::Decoder::new(file)?;
                    let (width, height) = decoder.dimensions()?;
                    let (chunk_w, chunk_h) = decoder.chunk_dimensions();
                    let (across, down) = (width.div_ceil(chunk_w), height.div_ceil(chunk_h));
                    let mut buf = Vec::new();
                    for row in (first as u32..down).step_by(workers) {
                        for column in 0..across {
                            let index = row * across + column;
                            let layout = decoder.image_chunk_buffer_layout(index)?;
                            buf.resize(layout.len, 0);
                            decoder.read_chunk_bytes(index, &mut buf)?;
                        }
                    }
                    std::hint::black_box(&buf);
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| "worker panicked")?)
    })
}

fn os(s: impl Into<OsString>) -> OsString {
    s.into()
}

/// Rows measured on `cores` (a `taskset` CPU list, or all), labelled `on`: the floor, then
/// diffimg.
fn rows_on(
    cores: Option<&str>,
    on: &str,
    me: &Path,
    diffimg: &Path,
    a: &Path,
    b: &Path,
) -> Vec<Row> {
    let pinned = |program: &Path, args: Vec<OsString>| match cores {
        Some(list) => {
            let mut all = vec![os("-c"), os(list), os(program)];
            all.extend(args);
            (PathBuf::from("taskset"), all)
        }
        None => (program.to_owned(), args),
    };
    let pair = || vec![os(a), os(b)];
    let (p, args) = pinned(me, [vec![os(FLOOR_ARG)], pair()].concat());
    let floor = Row::command(format!("floor, {on}"), &p, args);
    let (p, args) = pinned(diffimg, pair());
    let ratio = Row::command(format!("diffimg, {on}"), &p, args);
    vec![floor, ratio]
}

/// The thread counts measured: 1, 2 and all cores, as `taskset` lists (all: none) and labels.
fn core_counts() -> Vec<(Option<String>, String)> {
    let all = thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![(Some("0".to_owned()), "1 core".to_owned())];
    if all > 2 {
        counts.push((Some("0,1".to_owned()), "2 cores".to_owned()));
    }
    if all > 1 {
        counts.push((None, format!("all {all} cores")));
    }
    counts
}

/// Generates `case`'s pair at `scale` (unless cached), measures it over `rounds` and prints its
/// table; whether every run that had to succeed did.
fn bench(case: &Case, full: bool, rounds: u64) -> Result<bool, BoxError> {
    let (width, height) = match (&case.kind, full) {
        (_, false) => (600, 500),
        (Kind::Tiff { shape, .. }, true) => (shape.width, shape.height),
        (Kind::Exr { side }, true) => (*side, *side),
    };
    let extension = match case.kind {
        Kind::Tiff { .. } => "tiff",
        Kind::Exr { .. } => "exr",
    };
    let dir = data_dir();
    fs::create_dir_all(&dir)?;
    let side = format!("{width}x{height}");
    let name = |t: &str| {
        let side = if width == height {
            width.to_string()
        } else {
            side.clone()
        };
        dir.join(format!(
            "{}-{side}-v{DATA_VERSION}-{t}.{extension}",
            case.name
        ))
    };
    let (a, b) = (name("a"), name("b"));
    for (path, edited) in [(&a, false), (&b, true)] {
        if path.exists() {
            continue;
        }
        eprintln!("generating {}", path.display());
        match case.kind {
            Kind::Tiff { shape, sample } => {
                let shape = Shape {
                    width,
                    height,
                    ..shape
                };
                tiff_file::write(path, shape, |x, y, c| sample(x, y, c, edited, shape.bits))?;
            }
            Kind::Exr { .. } => write_exr(path, (width, height), edited)?,
        }
    }
    let me = std::env::current_exe()?;
    let diffimg = PathBuf::from(env!("CARGO_BIN_EXE_diffimg"));
    let scratch = scratch_dir(&dir);
    fs::create_dir_all(&scratch)?;
    // Each row with the index of its floor.
    let mut rows: Vec<(Row, usize)> = Vec::new();
    for (cores, on) in core_counts() {
        let floor = rows.len();
        rows.extend(
            rows_on(cores.as_deref(), &on, &me, &diffimg, &a, &b)
                .into_iter()
                .map(|r| (r, floor)),
        );
    }
    let all = rows.len() - 2;
    let diff = scratch.join("diff.png");
    let with_diff = vec![os(&a), os(&b), os("-f"), os(&diff)];
    rows.push((
        Row::command("diffimg -f diff.png, all cores", &diffimg, with_diff),
        all,
    ));
    // idiff exits 2 when the images differ beyond its threshold, as they do here.
    let peers: [(&str, &str, Vec<OsString>, &'static [i32]); 2] = [
        (
            "ImageMagick compare -metric AE",
            "compare",
            vec![os("-metric"), os("AE"), os(&a), os(&b), os("null:")],
            &[0, 1],
        ),
        (
            "OpenImageIO idiff",
            "idiff",
            vec![os(&a), os(&b)],
            &[0, 1, 2],
        ),
    ];
    for (label, program, args, ok_codes) in peers {
        if let Some(program) = find_on_path(program) {
            let job = Job::Command {
                program,
                args,
                ok_codes,
            };
            let mut row = Row::new(label, job);
            row.optional = true;
            rows.push((row, all));
        }
    }
    for _ in 0..rounds {
        for (row, _) in &mut rows {
            let _ = fs::remove_file(&diff);
            // A peer that takes longer is shown as timed out, and not run again.
            let minutes = if row.optional { 10 } else { 30 };
            row.run(&a, &b, &scratch, Duration::from_secs(minutes * 60));
        }
    }
    println!(
        "{side} {}: {} + {}, {rounds} rounds",
        case.title,
        megabytes(file_size(&a)),
        megabytes(file_size(&b))
    );
    print_header();
    for (row, floor) in &rows {
        let floor = rows[*floor].0.wall().unwrap_or_default();
        print_row(
            row,
            Floors {
                process: floor,
                warm: floor,
            },
        );
    }
    println!();
    let _ = fs::remove_dir_all(&scratch);
    Ok(rows.iter().all(|(r, _)| r.failed.is_none() || r.optional))
}

fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(FLOOR_ARG) {
        let (a, b) = (Path::new(&args[2]), Path::new(&args[3]));
        thread::scope(|s| {
            let other = s.spawn(|| decode_chunks(b).map_err(|e| e.to_string()));
            let mine = decode_chunks(a).map_err(|e| e.to_string());
            mine.and(other.join().map_err(|_| "panicked".to_string())?)
        })?;
        return Ok(());
    }
    let full = args.iter().any(|a| a == "--bench");
    let rounds = if full {
        env_number("TIFF_BENCH_ROUNDS")?.unwrap_or(3)
    } else {
        1
    };
    let chosen = std::env::var("TIFF_BENCH_CASES").ok();
    let mut ok = true;
    for case in &CASES {
        if chosen
            .as_deref()
            .is_none_or(|c| c.split(',').any(|n| n == case.name))
        {
            ok &= bench(case, full, rounds)?;
        }
    }
    if !ok {
        return Err("a run failed".into());
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
