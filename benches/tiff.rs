//! TIFF benchmark: a pair of 20000x20000 RGB 8-bit TIFFs in 256x256 Deflate tiles, generated
//! here (fixed content, cached under `target/bench-data/`; written a row of tiles at a time),
//! compared by diffimg on one core and on all of them, against the floor measured the same
//! way: the same tiles decoded by the `tiff` crate with as many workers per image as diffimg
//! starts, each with its own file handle, nothing else done. ImageMagick's `compare -metric AE`
//! runs on the same pair when it is installed.
//!
//! `cargo bench --bench tiff`; `TIFF_BENCH_ROUNDS` sets the rounds (3). `cargo test --benches`
//! runs one round on a 600x500 pair, to check the harness.

mod common;

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use common::measure::Row;
use common::table::{Floors, file_size, megabytes, print_header, print_row};
use common::{BoxError, data_dir, env_number, find_on_path, scratch_dir};
use rayon::prelude::*;

/// Bumped when the generated content changes, so cached files are made again.
const DATA_VERSION: u32 = 1;
const TILE: u32 = 256;
/// Makes this program decode `FLOOR_ARG A B` and exit: the floor in a process of its own.
const FLOOR_ARG: &str = "--tiff-floor";

/// A sample of the picture: smooth waves with fine detail; image b has a few edited squares.
fn sample(x: u32, y: u32, c: u32, edited: bool) -> u8 {
    let (fx, fy) = (x as f32, y as f32);
    let wave = (fx * 0.0031 + c as f32).sin() * (fy * 0.0023 + 0.7 * c as f32).cos();
    let detail = ((x.wrapping_mul(7) ^ y.wrapping_mul(13)) >> 2) & 7;
    let base = (128.0 + 100.0 * wave) as u32 + detail;
    let in_edit = edited && (x / 97 + y / 89).is_multiple_of(997) && x % 97 < 40 && y % 89 < 40;
    (if in_edit { base ^ 0x5a } else { base }) as u8
}

/// Writes a `side` x `side` RGB TIFF of Deflate tiles, a row of tiles at a time.
fn write_tiff(path: &Path, side: u32, edited: bool) -> Result<(), BoxError> {
    let tmp = path.with_extension("partial");
    let mut out = BufWriter::new(File::create(&tmp)?);
    out.write_all(b"II*\0\0\0\0\0")?;
    let across = side.div_ceil(TILE);
    let (mut offsets, mut counts) = (Vec::new(), Vec::new());
    let mut at = 8u64;
    for row in 0..side.div_ceil(TILE) {
        let tiles: Vec<Vec<u8>> = (0..across)
            .into_par_iter()
            .map(|column| {
                let mut raw = Vec::with_capacity((TILE * TILE * 3) as usize);
                for y in row * TILE..(row + 1) * TILE {
                    for x in column * TILE..(column + 1) * TILE {
                        for c in 0..3 {
                            let inside = x < side && y < side;
                            raw.push(if inside { sample(x, y, c, edited) } else { 0 });
                        }
                    }
                }
                let mut z =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(3));
                z.write_all(&raw).expect("writing to memory");
                z.finish().expect("writing to memory")
            })
            .collect();
        for tile in tiles {
            offsets.push(u32::try_from(at)?);
            counts.push(u32::try_from(tile.len())?);
            at += tile.len() as u64;
            out.write_all(&tile)?;
        }
    }
    // Tables, then the IFD (word-aligned), which the header points to.
    let table = |out: &mut BufWriter<File>, values: &[u32]| -> Result<u32, BoxError> {
        let offset = u32::try_from(out.stream_position()?)?;
        values
            .iter()
            .try_for_each(|v| out.write_all(&v.to_le_bytes()))?;
        Ok(offset)
    };
    if !at.is_multiple_of(2) {
        out.write_all(&[0])?;
    }
    let bits = table(&mut out, &[8 | (8 << 16), 8])?;
    let (offsets_at, counts_at) = (table(&mut out, &offsets)?, table(&mut out, &counts)?);
    let ifd = u32::try_from(out.stream_position()?)?;
    let entries: [(u16, u16, u32, u32); 10] = [
        (256, 4, 1, side),
        (257, 4, 1, side),
        (258, 3, 3, bits),
        (259, 3, 1, 8),
        (262, 3, 1, 2),
        (277, 3, 1, 3),
        (322, 4, 1, TILE),
        (323, 4, 1, TILE),
        (324, 4, offsets.len() as u32, offsets_at),
        (325, 4, counts.len() as u32, counts_at),
    ];
    out.write_all(&(entries.len() as u16).to_le_bytes())?;
    for (tag, kind, count, value) in entries {
        out.write_all(&tag.to_le_bytes())?;
        out.write_all(&kind.to_le_bytes())?;
        out.write_all(&count.to_le_bytes())?;
        out.write_all(&value.to_le_bytes())?;
    }
    out.write_all(&0u32.to_le_bytes())?;
    out.seek(std::io::SeekFrom::Start(4))?;
    out.write_all(&ifd.to_le_bytes())?;
    out.into_inner().map_err(|e| e.to_string())?.sync_all()?;
    fs::rename(tmp, path)?;
    Ok(())
}

/// Decodes every tile of the TIFF at `path` with as many workers as diffimg starts (one per
/// core here), each with its own decoder taking every n-th row of tiles.
fn decode_tiles(path: &Path) -> Result<(), BoxError> {
    let workers = thread::available_parallelism().map_or(1, |n| n.get());
    thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|first| {
                s.spawn(move || -> Result<(), BoxError> {
                    let file = BufReader::with_capacity(1 << 16, File::open(path)?);
                    let mut decoder = tiff::decoder::Decoder::new(file)?;
                    let (width, height) = decoder.dimensions()?;
                    let (across, down) = (width.div_ceil(TILE), height.div_ceil(TILE));
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

/// Rows measured on `cores` (a `taskset` CPU list, or all): the floor, then diffimg.
fn rows_on(cores: Option<&str>, me: &Path, diffimg: &Path, a: &Path, b: &Path) -> Vec<Row> {
    let pinned = |program: &Path, args: Vec<OsString>| match cores {
        Some(list) => {
            let mut all = vec![os("-c"), os(list), os(program)];
            all.extend(args);
            (PathBuf::from("taskset"), all)
        }
        None => (program.to_owned(), args),
    };
    let on = cores.map_or("all cores".to_string(), |c| format!("cores {c}"));
    let pair = || vec![os(a), os(b)];
    let (p, args) = pinned(me, [vec![os(FLOOR_ARG)], pair()].concat());
    let floor = Row::command(format!("floor, {on}"), &p, args);
    let (p, args) = pinned(diffimg, pair());
    let ratio = Row::command(format!("diffimg, {on}"), &p, args);
    vec![floor, ratio]
}

fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(FLOOR_ARG) {
        let (a, b) = (Path::new(&args[2]), Path::new(&args[3]));
        thread::scope(|s| {
            let other = s.spawn(|| decode_tiles(b).map_err(|e| e.to_string()));
            let mine = decode_tiles(a).map_err(|e| e.to_string());
            mine.and(other.join().map_err(|_| "panicked".to_string())?)
        })?;
        return Ok(());
    }
    let full = args.iter().any(|a| a == "--bench");
    let side = if full { 20000 } else { 600 };
    let rounds = if full {
        env_number("TIFF_BENCH_ROUNDS")?.unwrap_or(3)
    } else {
        1
    };
    let dir = data_dir();
    fs::create_dir_all(&dir)?;
    let name = |t: &str| dir.join(format!("tiff-{side}-v{DATA_VERSION}-{t}.tiff"));
    let (a, b) = (name("a"), name("b"));
    for (path, edited) in [(&a, false), (&b, true)] {
        if !path.exists() {
            eprintln!("generating {}", path.display());
            write_tiff(path, side, edited)?;
        }
    }
    let me = std::env::current_exe()?;
    let diffimg = PathBuf::from(env!("CARGO_BIN_EXE_diffimg"));
    let scratch = scratch_dir(&dir);
    fs::create_dir_all(&scratch)?;
    let mut rows = rows_on(Some("0"), &me, &diffimg, &a, &b);
    rows.extend(rows_on(None, &me, &diffimg, &a, &b));
    let diff = scratch.join("diff.png");
    let with_diff = vec![os(&a), os(&b), os("-f"), os(&diff)];
    rows.push(Row::command(
        "diffimg -f diff.png, all cores",
        &diffimg,
        with_diff,
    ));
    if let Some(compare) = find_on_path("compare") {
        let args = vec![os("-metric"), os("AE"), os(&a), os(&b), os("null:")];
        let mut row = Row::command("ImageMagick compare -metric AE", &compare, args);
        row.optional = true;
        rows.push(row);
    }
    let timeout = Duration::from_secs(600);
    for _ in 0..rounds {
        for row in &mut rows {
            let _ = fs::remove_file(&diff);
            row.run(&a, &b, &scratch, timeout);
        }
    }
    println!(
        "{side}x{side} RGB 8-bit, {TILE}x{TILE} Deflate tiles: {} + {}, {rounds} rounds",
        megabytes(file_size(&a)),
        megabytes(file_size(&b))
    );
    print_header();
    let floor_of = |i: usize| rows[i].wall().unwrap_or_default();
    for (i, row) in rows.iter().enumerate() {
        // The floor on the same cores: rows 0-1 on one core, the rest on all of them.
        let floor = if i < 2 { floor_of(0) } else { floor_of(2) };
        print_row(
            row,
            Floors {
                process: floor,
                warm: floor,
            },
        );
    }
    let _ = fs::remove_dir_all(&scratch);
    if rows.iter().any(|r| r.failed.is_some() && !r.optional) {
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
