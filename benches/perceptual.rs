//! Perceptual benchmark: `diffimg -t 0.1 --aa` against odiff and blazediff, the screenshot
//! diff tools that count changed pixels with the same YIQ threshold and anti-aliasing test.
//!
//! Run with `cargo bench --bench perceptual [-- CASE...]`, cases `noise10k`, `screenshot`,
//! `aa-strokes`, `aa-text`, `aa-edit` and `regions` (`cargo test --benches` makes one quick
//! pass over `aa-strokes` and a small labeller run). For each case it makes (once, cached under
//! `target/bench-data/`) a pair of PNG files from fixed seeds: independent RGBA noise at
//! 10000x10000 (most pixels over the threshold, the worst case for the anti-aliasing test), a
//! 3840x2160 screenshot-like pair with a few edits, and small drawings whose second copy is
//! moved by a fraction of a pixel (strokes, rings, text-like glyphs), where almost every
//! difference is an anti-aliased edge. Then, one run of each in turn, round after round, it
//! measures the median wall time and the peak RSS of:
//! - the floor: both files decoded at once on two threads, row by row, in a process of its own
//!   (and again in this warm process);
//! - `diffimg A B -t 0.1 --aa --json`, and the same writing `--style highlight -f out.png`;
//! - `odiff A B --parsable-stdout --aa -t 0.1` and `blazediff A B -a -t 0.1`.
//!
//! Then it prints the changed-pixel counts side by side (diffimg's `changed_pixels` and
//! `aa_pixels`, odiff's count, blazediff's `diffCount`) with their gaps in percent; on cases
//! under 10 Mpixel also the counts without the anti-aliasing test (one untimed run of each
//! command without `--aa`/`-a`), which tell the colour rule's gaps from the AA test's. Last,
//! the time and memory ratios that the perceptual mode's targets are stated in. A `diffimg` run
//! that fails is shown with its exit status and first line of stderr. The `regions` section
//! times the streaming region labeller in this process, in nanoseconds per pixel.
//!
//! The peers are looked for in `ODIFF` and `BLAZEDIFF`, then under `target/peers` (where,
//! when benchmarking and `npm` is there, they are installed once:
//! `npm install --prefix target/peers odiff-bin@4.5.0 @blazediff/bin@3.5.0`; the native
//! binaries are run, not the Node wrappers), then on `PATH`. Environment: `BENCH_RUNS` (runs
//! per figure), `BENCH_TIMEOUT` (seconds per command, default 600), `BENCH_BIN` (another
//! `diffimg` binary), `BENCH_NO_INSTALL` (never run npm).

mod common;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use common::drawing::{Drawing, Rendered, Shape, strokes, text_page};
use common::floor::{FLOOR_ARG, decode_floor, decode_rows, own_cpu_time};
use common::measure::{Job, Row, median, reset_peak_rss};
use common::peers::{Counts, PEERS, THRESHOLD, counts, find_peers, gap, json_count, peer_flags};
use common::scene::{Noise, PngSpec, RowSource, hash3, screenshot_scene, write_png};
use common::table::{Floors, file_size, megabytes, print_header, print_row, seconds};
use common::{BoxError, data_dir, env_number, scratch_dir};
use diffimg::internals::Regions;

/// Bumped whenever the generators change, so stale cached files are not reused.
const DATA_VERSION: u32 = 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Content {
    /// Independent random bytes in each image.
    Noise,
    /// The desktop scene of the end-to-end benchmark; B has a few small edits.
    Screenshot,
    /// Strokes and rings; B moved by a fraction of a pixel.
    Strokes,
    /// Text-like glyph lines on panels; B moved by a fraction of a pixel.
    Text,
    /// Text and strokes; B moved down half a pixel, with a few real edits.
    Edited,
}

struct Case {
    name: &'static str,
    width: u32,
    height: u32,
    content: Content,
    compression: png::Compression,
    runs: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "noise10k",
        width: 10_000,
        height: 10_000,
        content: Content::Noise,
        compression: png::Compression::NoCompression,
        runs: 3,
    },
    Case {
        name: "screenshot",
        width: 3840,
        height: 2160,
        content: Content::Screenshot,
        compression: png::Compression::Balanced,
        runs: 10,
    },
    Case {
        name: "aa-strokes",
        width: 1024,
        height: 768,
        content: Content::Strokes,
        compression: png::Compression::Balanced,
        runs: 10,
    },
    Case {
        name: "aa-text",
        width: 1280,
        height: 800,
        content: Content::Text,
        compression: png::Compression::Balanced,
        runs: 10,
    },
    Case {
        name: "aa-edit",
        width: 1280,
        height: 800,
        content: Content::Edited,
        compression: png::Compression::Balanced,
        runs: 10,
    },
];

impl Case {
    fn path(&self, dir: &Path, second: bool) -> PathBuf {
        let side = if second { "b" } else { "a" };
        dir.join(format!(
            "perceptual-{}-v{DATA_VERSION}-{side}.png",
            self.name
        ))
    }

    fn source(&self, second: bool) -> Box<dyn RowSource> {
        let (w, h) = (self.width, self.height);
        let (wf, hf) = (w as f32, h as f32);
        let shift = if second { (0.37, 0.21) } else { (0.0, 0.0) };
        let mut drawing = Drawing::new([255, 255, 255, 255]);
        match self.content {
            Content::Noise => {
                let seed = hash3(u64::from(w), u64::from(h), 0x9e ^ u64::from(second));
                return Box::new(Noise(fastrand::Rng::with_seed(seed)));
            }
            Content::Screenshot => return Box::new(screenshot_scene(w, h, 4, second)),
            Content::Strokes => {
                strokes(&mut drawing, wf, hf, 1);
                drawing.shift = shift;
            }
            Content::Text => {
                text_page(&mut drawing, wf, hf, 2);
                drawing.shift = shift;
            }
            Content::Edited => {
                text_page(&mut drawing, wf, hf, 3);
                strokes(&mut drawing, wf, hf * 0.4, 4);
                if second {
                    drawing.shift = (0.0, 0.5);
                    let edit = Shape::Panel {
                        x0: wf * 0.6,
                        y0: hf * 0.3,
                        x1: wf * 0.6 + 60.0,
                        y1: hf * 0.3 + 24.0,
                    };
                    drawing.add(edit, [220, 40, 40, 255]);
                    drawing.text((wf * 0.1, hf * 0.8), (7.4, 13.2), 30, 99, [20, 20, 20, 255]);
                }
            }
        }
        Box::new(Rendered::new(drawing, 4))
    }
}

/// Makes the pair unless both files exist.
fn ensure_pair(case: &Case, dir: &Path) -> Result<(), BoxError> {
    let (a, b) = (case.path(dir, false), case.path(dir, true));
    if a.exists() && b.exists() {
        return Ok(());
    }
    let start = Instant::now();
    let spec = PngSpec {
        width: case.width,
        height: case.height,
        color: png::ColorType::Rgba,
        compression: case.compression,
    };
    thread::scope(|s| -> Result<(), BoxError> {
        let second = s.spawn(|| write_png(&spec, case.source(true), &b));
        write_png(&spec, case.source(false), &a)?;
        second.join().map_err(|_| "generator thread panicked")?
    })?;
    println!(
        "generated {}: {:.1} s, files {} + {}",
        case.name,
        start.elapsed().as_secs_f64(),
        megabytes(file_size(&a)),
        megabytes(file_size(&b))
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

struct Settings {
    runs: Option<usize>,
    timeout: Duration,
    data_dir: PathBuf,
    binary: PathBuf,
    peers: Vec<Option<PathBuf>>,
}

/// Rows every case has, by index.
const FLOOR: usize = 0;
const JSON: usize = 2;
const HIGHLIGHT: usize = 3;
const FIRST_PEER: usize = 4;

/// What a case measured, for the targets at the end.
struct Outcome {
    case: &'static str,
    floor: Option<Duration>,
    json: Result<Duration, String>,
    highlight: Result<(Duration, Option<u64>), String>,
    blazediff: Option<Duration>,
}

fn bench_case(case: &Case, settings: &Settings) -> Result<Outcome, BoxError> {
    let dir = &settings.data_dir;
    let (a, b) = (case.path(dir, false), case.path(dir, true));
    let runs = settings.runs.unwrap_or(case.runs);
    println!();
    println!(
        "== {}: {}x{} RGBA, files {} + {}, {runs} runs ==",
        case.name,
        case.width,
        case.height,
        megabytes(file_size(&a)),
        megabytes(file_size(&b)),
    );
    print_header();
    let scratch = scratch_dir(dir);
    fs::create_dir_all(&scratch)?;
    let out_png = scratch.join("highlight.png");
    let with = |extra: &[&str]| -> Vec<OsString> {
        let pair = [a.clone().into_os_string(), b.clone().into_os_string()];
        pair.into_iter()
            .chain(extra.iter().map(OsString::from))
            .collect()
    };
    let mut highlight_args = with(&["-t", THRESHOLD, "--aa", "--style", "highlight", "-f"]);
    highlight_args.push(out_png.clone().into_os_string());
    let tool = &settings.binary;
    let mut rows = vec![
        Row::command(
            "floor: decode rows x2",
            &std::env::current_exe()?,
            vec![FLOOR_ARG.into(), a.clone().into(), b.clone().into()],
        ),
        Row::new("  same, warm, in-process", Job::InProcess(decode_rows)),
        Row::command(
            "diffimg -t 0.1 --aa --json",
            tool,
            with(&["-t", THRESHOLD, "--aa", "--json"]),
        ),
        Row::command("  same, --style highlight -f", tool, highlight_args),
    ];
    for (peer, found) in PEERS.iter().zip(&settings.peers) {
        let program = found.clone().unwrap_or_else(|| PathBuf::from(peer.name));
        let job = Job::Command {
            program,
            args: (peer.args)(&a, &b),
            ok_codes: peer.ok_codes,
        };
        let mut row = Row::new(peer.label, job);
        if found.is_none() {
            row.optional = true;
            row.failed = Some("not installed".into());
        }
        rows.push(row);
    }

    // Round after round over every row, in a new order each round.
    let mut rng = fastrand::Rng::with_seed(1);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    for _ in 0..runs {
        rng.shuffle(&mut order);
        for &i in &order {
            let _ = fs::remove_file(&out_png);
            // SAFETY: sync has no preconditions; it flushes the last diff image written.
            unsafe { libc::sync() };
            rows[i].run(&a, &b, &scratch, settings.timeout);
        }
    }
    let _ = fs::remove_dir_all(&scratch);

    let floors = Floors {
        process: rows[FLOOR].wall().unwrap_or_default(),
        warm: rows[1].wall().unwrap_or_default(),
    };
    for row in &rows {
        print_row(row, floors);
    }
    print_counts(case, &rows);
    let result = |row: &Row| match (&row.failed, row.wall()) {
        (None, Some(wall)) => Ok(wall),
        (why, _) => Err(why.clone().unwrap_or_else(|| "no runs".into())),
    };
    Ok(Outcome {
        case: case.name,
        floor: rows[FLOOR].wall(),
        json: result(&rows[JSON]),
        highlight: result(&rows[HIGHLIGHT]).map(|w| (w, rows[HIGHLIGHT].max_rss)),
        blazediff: rows
            .iter()
            .skip(FIRST_PEER)
            .find(|r| r.label.starts_with("blazediff"))
            .and_then(|r| result(r).ok()),
    })
}

// ---------------------------------------------------------------------------------------------
// Counts
// ---------------------------------------------------------------------------------------------

fn print_counts(case: &Case, rows: &[Row]) {
    let pixels = u64::from(case.width) * u64::from(case.height);
    let plain = pixels < 10_000_000;
    let mut tools: Vec<Counts> = PEERS
        .iter()
        .enumerate()
        .map(|(i, peer)| counts(peer.name, &rows[FIRST_PEER + i], plain, peer.count))
        .collect();
    let changed = |stdout: &str| json_count(stdout, "changed_pixels");
    let mut ours = counts("diffimg", &rows[JSON], plain, changed);
    ours.aa_pixels = json_count(&rows[JSON].stdout, "aa_pixels");
    tools.push(ours);
    let percent = |n: u64| n as f64 / pixels as f64 * 100.0;
    let gaps = |n: u64, pick: fn(&Counts) -> Option<u64>, tools: &[Counts], me: &str| {
        let mut out = String::new();
        for other in tools.iter().filter(|t| t.name != me && t.name != "diffimg") {
            if let Some(base) = pick(other) {
                out += &format!(" {:>8} vs {}", gap(n, base), other.name);
            }
        }
        out
    };
    let with_aa = |t: &Counts| t.with_aa.as_ref().ok().copied();
    let plain_count = |t: &Counts| t.plain.as_ref().and_then(|p| p.as_ref().ok().copied());
    println!("  changed pixels at threshold {THRESHOLD}, anti-aliased pixels left out:");
    for t in &tools {
        match &t.with_aa {
            Ok(n) => println!(
                "    {:<9} {n:>10} {:>7.3}%{}",
                t.name,
                percent(*n),
                gaps(*n, with_aa, &tools, t.name)
            ),
            Err(why) => println!("    {:<9} failed: {why}", t.name),
        }
    }
    if !plain {
        println!("  (counts without the anti-aliasing test are taken on cases under 10 Mpixel)");
        return;
    }
    println!("  without the anti-aliasing test (one untimed run each), and the AA pixels found:");
    for t in &tools {
        match (&t.plain, with_aa(t)) {
            (Some(Ok(n)), Some(aa)) => println!(
                "    {:<9} {n:>10} {:>7.3}%{}; AA pixels {}{}",
                t.name,
                percent(*n),
                gaps(*n, plain_count, &tools, t.name),
                n.saturating_sub(aa),
                t.aa_pixels
                    .map_or(String::new(), |r| format!(" (aa_pixels {r})")),
            ),
            (Some(Err(why)), _) => println!("    {:<9} failed: {why}", t.name),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Targets and the region labeller
// ---------------------------------------------------------------------------------------------

fn ratio_line(what: &str, value: Result<f64, String>, target: &str, met: impl Fn(f64) -> bool) {
    match value {
        Ok(v) => println!(
            "  {what:<58} {v:>7.2}  (target {target}: {})",
            if met(v) { "met" } else { "NOT met" }
        ),
        Err(why) => println!("  {what:<58}       -  (target {target}: n/a, {why})"),
    }
}

fn print_targets(outcomes: &[Outcome]) {
    println!();
    println!("== targets of the perceptual mode ==");
    let over =
        |t: &Result<Duration, String>, base: Option<Duration>, name: &str| -> Result<f64, String> {
            let t = t.as_ref().map_err(|e| format!("diffimg: {e}"))?;
            let base = base.ok_or(format!("no {name} time"))?;
            Ok(t.as_secs_f64() / base.as_secs_f64())
        };
    if !outcomes
        .iter()
        .any(|o| ["noise10k", "screenshot"].contains(&o.case))
    {
        println!("  (they are stated for the noise10k and screenshot cases, not run here)");
    }
    for o in outcomes {
        let highlight = o.highlight.as_ref().map(|h| h.0).map_err(Clone::clone);
        match o.case {
            "noise10k" => {
                ratio_line(
                    "noise10k: diffimg --json time / blazediff -a time",
                    over(&o.json, o.blazediff, "blazediff"),
                    "<= 0.10",
                    |v| v <= 0.10,
                );
                let rss = o
                    .highlight
                    .as_ref()
                    .map_err(|e| format!("diffimg: {e}"))
                    .and_then(|h| h.1.ok_or("no RSS".into()))
                    .map(|r| r as f64 / 1e6);
                ratio_line("noise10k: highlight -f peak RSS, MB", rss, "< 128", |v| {
                    v < 128.0
                });
            }
            "screenshot" => {
                ratio_line(
                    "screenshot: diffimg --json time / floor",
                    over(&o.json, o.floor, "floor"),
                    "<= 1.5",
                    |v| v <= 1.5,
                );
                ratio_line(
                    "screenshot: highlight -f time / floor",
                    over(&highlight, o.floor, "floor"),
                    "<= 2.0",
                    |v| v <= 2.0,
                );
            }
            _ => {}
        }
    }
}

/// Whether the pixel at (x, y) of a generated mask is changed.
type Pattern = Box<dyn FnMut(usize, usize) -> bool>;

/// Times the streaming region labeller on masks of `width` x `height` in bands of 256 rows,
/// made by cycling a block of 1024 generated rows (so consecutive rows still differ): median
/// wall and CPU time (the CPU time is steadier on a busy machine).
fn bench_labeller(width: usize, height: usize, runs: usize) {
    println!();
    println!(
        "== regions: the streaming labeller in this process, {width}x{height} masks, bands of 256 rows =="
    );
    let mut rng = fastrand::Rng::with_seed(11);
    let patterns: [(&str, Pattern); 6] = [
        ("noise 85% changed", Box::new(move |_, _| rng.u8(..) < 217)),
        (
            "noise 10% changed",
            Box::new(|x, y| hash3(x as u64, y as u64, 3).is_multiple_of(10)),
        ),
        (
            "isolated dots (every other row, column)",
            Box::new(|x, y| x % 2 == 0 && y % 2 == 0),
        ),
        (
            "checkerboard (one region)",
            Box::new(|x, y| (x + y) % 2 == 0),
        ),
        ("all changed", Box::new(|_, _| true)),
        ("none changed", Box::new(|_, _| false)),
    ];
    println!(
        "  {:<40} {:>9} {:>6} {:>9} {:>6}  result",
        "mask", "wall", "ns/px", "cpu", "ns/px"
    );
    let block_rows = 1024.min(height);
    for (name, mut pattern) in patterns {
        let block: Vec<u8> = (0..block_rows * width)
            .map(|i| u8::from(pattern(i % width, i / width)))
            .collect();
        let (mut times, mut cpu_times) = (Vec::new(), Vec::new());
        let mut summary = None;
        for _ in 0..runs {
            let (start, cpu_start) = (Instant::now(), own_cpu_time());
            let mut regions = Regions::new(width as u32);
            let mut y = 0;
            while y < height {
                let rows = 256.min(height - y).min(block_rows - y % block_rows);
                let at = (y % block_rows) * width;
                regions.add_rows(&block[at..at + rows * width]);
                y += rows;
            }
            summary = Some(regions.finish());
            times.push(start.elapsed());
            cpu_times.push(own_cpu_time().saturating_sub(cpu_start));
        }
        let (wall, cpu) = (
            median(times).unwrap_or_default(),
            median(cpu_times).unwrap_or_default(),
        );
        let per_pixel = |t: Duration| t.as_secs_f64() * 1e9 / (width * height) as f64;
        let (count, largest) = summary.map_or((0, 0), |s| {
            (s.count, s.boxes.first().map_or(0, |b| b.pixels))
        });
        println!(
            "  {name:<40} {:>9} {:>6.2} {:>9} {:>6.2}  {count} regions, largest {largest} pixels",
            seconds(wall),
            per_pixel(wall),
            seconds(cpu),
            per_pixel(cpu),
        );
    }
}

fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benching = args.iter().any(|a| a == "--bench");
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let known = || {
        CASES
            .iter()
            .map(|c| c.name)
            .chain(["regions"])
            .collect::<Vec<_>>()
            .join(", ")
    };
    for name in &names {
        if !known().split(", ").any(|k| k == name.as_str()) {
            return Err(format!("unknown case {name:?}; cases: {}", known()).into());
        }
    }
    let chosen = |name: &str| {
        if names.is_empty() {
            benching || name == "aa-strokes"
        } else {
            names.iter().any(|n| *n == name)
        }
    };
    let data_dir = data_dir();
    let prefix = data_dir.parent().unwrap_or(&data_dir).join("peers");
    let install = benching && std::env::var_os("BENCH_NO_INSTALL").is_none();
    let settings = Settings {
        runs: env_number("BENCH_RUNS")?
            .map(|n| n.max(1) as usize)
            .or((!benching).then_some(1)),
        timeout: Duration::from_secs(env_number("BENCH_TIMEOUT")?.unwrap_or(600)),
        binary: std::env::var_os("BENCH_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_diffimg")),
            PathBuf::from,
        ),
        peers: find_peers(&prefix, install),
        data_dir,
    };
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "diffimg perceptual benchmark (threshold {THRESHOLD}, anti-aliasing test on in every tool)"
    );
    println!("  cores {cores}; binary {}", settings.binary.display());
    for (peer, found) in PEERS.iter().zip(&settings.peers) {
        let at = found
            .as_ref()
            .map_or("not found".into(), |p| p.display().to_string());
        println!("  {:<9} {at}, run as A B {}", peer.name, peer_flags(peer));
    }
    println!(
        "  figures: median wall over the runs (ratios use it), best wall, median CPU, max RSS over all runs"
    );
    fs::create_dir_all(&settings.data_dir)?;
    reset_peak_rss();
    let cases: Vec<&Case> = CASES.iter().filter(|c| chosen(c.name)).collect();
    for case in &cases {
        ensure_pair(case, &settings.data_dir)?;
    }
    let mut outcomes = Vec::new();
    for case in &cases {
        outcomes.push(bench_case(case, &settings)?);
    }
    print_targets(&outcomes);
    if chosen("regions") || !benching {
        let (side, runs) = if benching { (10_000, 3) } else { (300, 1) };
        bench_labeller(side, side, runs);
    }
    Ok(())
}

fn main() {
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
