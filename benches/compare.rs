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

mod common;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use common::floor::{FLOOR_ARG, decode_floor, decode_frame, decode_rows};
use common::measure::{Job, Row, reset_peak_rss};
use common::scene::{
    Noise, PngSpec, Rect, RowSource, hash3, mix, random_color, screenshot_scene, write_png,
};
use common::table::{Floors, LABEL_WIDTH, file_size, megabytes, print_header, print_row, seconds};
use common::{
    BoxError, data_dir, env_number, find_on_path, own_peak_rss, physical_memory, scratch_dir,
};

/// Bumped whenever the generators change, so stale cached files are not reused.
const DATA_VERSION: u32 = 1;

/// Cases at or above this many pixels get fewer runs by default.
const LARGE_PIXELS: u64 = 10_000_000;

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
    fn spec(&self) -> PngSpec {
        PngSpec {
            width: self.width,
            height: self.height,
            color: self.color,
            compression: self.compression,
        }
    }

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
// Input generation (the shared generators are in `common::scene`)
// ---------------------------------------------------------------------------------------------

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

/// Makes the pair unless both files exist; returns the time taken when it made them.
fn ensure_pair(case: &Case, dir: &Path) -> Result<Option<Duration>, BoxError> {
    let (a, b) = (case.path(dir, Side::A), case.path(dir, Side::B));
    if a.exists() && b.exists() {
        return Ok(None);
    }
    let start = Instant::now();
    let spec = case.spec();
    thread::scope(|s| -> Result<(), BoxError> {
        let job_b = s.spawn(|| write_png(&spec, row_source(case, Side::B), &b));
        write_png(&spec, row_source(case, Side::A), &a)?;
        job_b.join().map_err(|_| "generator thread panicked")??;
        Ok(())
    })?;
    Ok(Some(start.elapsed()))
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

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
