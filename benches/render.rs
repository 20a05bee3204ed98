//! Render-metric benchmark: `diffimg --flip` against NVIDIA's `flip` command (flip-evaluator
//! 1.7) and `diffimg --ssim` against scikit-image, each reading the same files.
//!
//! Run with `cargo bench --bench render [-- CASE...]`, cases `flip` (1920x1080 PNG pair),
//! `flip20k` (20000x20000 PNG pair, diffimg alone: the reference holds whole images), `ssim`
//! (4000x4000 RGB PNG pair) and `hdr` (1280x720 float OpenEXR pair, HDR-FLIP). The pairs are a
//! generated render (shaded spheres over a checkered floor, with render noise except at
//! 20000x20000); the test image is the scene moved by a fraction of a pixel, blurred and with
//! other noise. They are made once and cached under `target/bench-data/`. Then, one run of
//! each in turn, round after round in a new order, it measures the median wall time and the
//! peak RSS of every row: the floor of decoding both PNG files, `diffimg --flip` or `--ssim`
//! with `--backend cpu` (and `--backend gpu` for FLIP), and the reference. Last it checks that
//! the figures agree (FLIP means within 1e-4: the reference prints six decimals of a float32
//! running sum; SSIM within 1e-6), so the rows did the same work, and prints the targets.
//!
//! The `flip` command is found in `FLIP_EVALUATOR`, then on `PATH`; the Python for the SSIM
//! reference (`benches/ssim_reference.py`, NumPy, Pillow and scikit-image) in `SSIM_PYTHON`,
//! then beside the `flip` command (its virtual environment), then as `python3` on `PATH`. A
//! missing one is a "not found" row. `BENCH_RUNS` sets the runs per row, `BENCH_TIMEOUT` the
//! seconds per command (default 600), `BENCH_BIN` another `diffimg` binary. The GPU rows use
//! whatever adapter wgpu finds (`WGPU_BACKEND=vulkan` for Mesa's lavapipe). Without `--bench`
//! (as `cargo test --benches` runs it) every case makes one run on a 320x180 pair.

mod common;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use common::floor::{FLOOR_ARG, decode_floor};
use common::measure::{Row, reset_peak_rss};
use common::references::{
    Metric, References, find_references, labelled, measured_mean, os_args, reference_row,
    ssim_script,
};
use common::render::{RenderRows, Sampling, write_exr};
use common::scene::{PngSpec, write_png};
use common::table::{Floors, file_size, megabytes, print_header, print_row, seconds};
use common::{BoxError, data_dir, env_number, scratch_dir};

/// Bumped whenever the generator changes, so stale cached files are not reused.
const DATA_VERSION: u32 = 1;

struct Case {
    name: &'static str,
    width: u32,
    height: u32,
    metric: Metric,
    /// OpenEXR (float, HDR-FLIP) rather than PNG.
    exr: bool,
    /// Whether the reference tool runs on it.
    reference: bool,
    /// Samples per pixel along each axis, and whether the scene has render noise.
    grid: u32,
    noisy: bool,
    runs: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "flip",
        width: 1920,
        height: 1080,
        metric: Metric::Flip,
        exr: false,
        reference: true,
        grid: 3,
        noisy: true,
        runs: 5,
    },
    Case {
        name: "flip20k",
        width: 20_000,
        height: 20_000,
        metric: Metric::Flip,
        exr: false,
        reference: false,
        grid: 1,
        noisy: false,
        runs: 2,
    },
    Case {
        name: "ssim",
        width: 4000,
        height: 4000,
        metric: Metric::Ssim,
        exr: false,
        reference: true,
        grid: 2,
        noisy: true,
        runs: 3,
    },
    Case {
        name: "hdr",
        width: 1280,
        height: 720,
        metric: Metric::Flip,
        exr: true,
        reference: true,
        grid: 3,
        noisy: true,
        runs: 3,
    },
];

/// A case at the size it runs at (small without `--bench`).
struct Sized<'a> {
    case: &'a Case,
    width: u32,
    height: u32,
    runs: usize,
}

impl Sized<'_> {
    fn path(&self, dir: &Path, test: bool) -> PathBuf {
        let (ext, side) = (if self.case.exr { "exr" } else { "png" }, ["a", "b"]);
        dir.join(format!(
            "render-{}-{}x{}-v{DATA_VERSION}-{}.{ext}",
            self.case.name,
            self.width,
            self.height,
            side[usize::from(test)]
        ))
    }

    fn pixels(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height)
    }
}

/// Makes the pair unless both files exist, both images at once.
fn ensure_pair(sized: &Sized, dir: &Path) -> Result<(), BoxError> {
    let (a, b) = (sized.path(dir, false), sized.path(dir, true));
    if a.exists() && b.exists() {
        return Ok(());
    }
    let start = std::time::Instant::now();
    let case = sized.case;
    let write = |test: bool, path: &Path| -> Result<(), BoxError> {
        let sampling = Sampling::pair_member(test, case.grid, case.noisy);
        if case.exr {
            return write_exr(path, (sized.width, sized.height), sampling);
        }
        let spec = PngSpec {
            width: sized.width,
            height: sized.height,
            color: png::ColorType::Rgb,
            compression: png::Compression::Balanced,
        };
        let rows = RenderRows {
            width: sized.width,
            height: sized.height,
            sampling,
        };
        write_png(&spec, Box::new(rows), path)
    };
    thread::scope(|s| -> Result<(), BoxError> {
        let second = s.spawn(|| write(true, &b));
        write(false, &a)?;
        second.join().map_err(|_| "generator thread panicked")?
    })?;
    println!(
        "generated {} {}x{}: {:.1} s, files {} + {}",
        case.name,
        sized.width,
        sized.height,
        start.elapsed().as_secs_f64(),
        megabytes(file_size(&a)),
        megabytes(file_size(&b))
    );
    Ok(())
}

struct Settings {
    runs: Option<usize>,
    timeout: Duration,
    data_dir: PathBuf,
    binary: PathBuf,
    references: References,
    full: bool,
}

/// What a case measured, for the agreement check and the targets.
struct Outcome {
    name: &'static str,
    pixels: f64,
    rows: Vec<Row>,
}

impl Outcome {
    fn row(&self, label_start: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.label.starts_with(label_start))
    }
}

fn bench_case(sized: &Sized, settings: &Settings) -> Result<Outcome, BoxError> {
    let case = sized.case;
    let dir = &settings.data_dir;
    let (a, b) = (sized.path(dir, false), sized.path(dir, true));
    let runs = settings.runs.unwrap_or(sized.runs);
    let kind = if case.exr {
        "float RGB OpenEXR"
    } else {
        "RGB PNG"
    };
    println!();
    println!(
        "== {}: {}x{} {kind}, files {} + {}, {runs} runs ==",
        case.name,
        sized.width,
        sized.height,
        megabytes(file_size(&a)),
        megabytes(file_size(&b)),
    );
    print_header();
    let scratch = scratch_dir(dir);
    fs::create_dir_all(&scratch)?;
    let tool = &settings.binary;
    let mut rows = Vec::new();
    if !case.exr {
        let floor_args = os_args(&[&FLOOR_ARG, &a, &b]);
        let exe = std::env::current_exe()?;
        rows.push(Row::command("floor: decode rows x2", &exe, floor_args));
    }
    let flag = match case.metric {
        Metric::Flip => "--flip",
        Metric::Ssim => "--ssim",
    };
    let cpu_args = os_args(&[&a, &b, &flag, &"--backend", &"cpu", &"--json"]);
    rows.push(Row::command(
        format!("diffimg {flag} --backend cpu"),
        tool,
        cpu_args,
    ));
    if case.metric == Metric::Flip && case.name != "flip20k" {
        let gpu_args = os_args(&[&a, &b, &flag, &"--backend", &"gpu", &"--json"]);
        let mut gpu = Row::command(format!("diffimg {flag} --backend gpu"), tool, gpu_args);
        gpu.optional = true;
        rows.push(gpu);
    }
    if case.reference {
        rows.push(reference_row(
            case.metric,
            case.exr,
            &a,
            &b,
            &scratch,
            &settings.references,
        ));
    }

    // Round after round over every row, in a new order each round.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    for _ in 0..runs {
        rng.shuffle(&mut order);
        for &i in &order {
            rows[i].run(&a, &b, &scratch, settings.timeout);
        }
    }
    let _ = fs::remove_dir_all(&scratch);

    let floor = |r: &Row| r.label.starts_with("floor");
    let floors = Floors {
        process: rows
            .iter()
            .find(|r| floor(r))
            .and_then(Row::wall)
            .unwrap_or_default(),
        warm: Duration::ZERO,
    };
    for row in &rows {
        print_row(row, floors);
    }
    let outcome = Outcome {
        name: case.name,
        pixels: sized.pixels(),
        rows,
    };
    print_agreement(case.metric, &outcome);
    Ok(outcome)
}

fn print_agreement(metric: Metric, outcome: &Outcome) {
    let (tolerance, reference_label, reference) = match metric {
        Metric::Flip => (
            1e-4,
            "flip",
            outcome
                .row("flip (")
                .and_then(|r| measured_mean(r, "Mean:")),
        ),
        Metric::Ssim => (
            1e-6,
            "skimage",
            outcome
                .row("skimage")
                .and_then(|r| measured_mean(r, "ssim")),
        ),
    };
    let name = match metric {
        Metric::Flip => "FLIP",
        Metric::Ssim => "SSIM",
    };
    println!("  {name} mean:");
    if let Some(r) = outcome.row("flip (")
        && let Some(eval) = labelled(&r.stdout, "Evaluation time:")
    {
        println!("    flip's own evaluation time (no file reading): {eval:.3} s");
    }
    match reference {
        Some(v) => println!("    {reference_label:<24} {v:.7}"),
        None => println!("    {reference_label:<24} -"),
    }
    for row in outcome
        .rows
        .iter()
        .filter(|r| r.label.starts_with("diffimg"))
    {
        let Some(ours) = measured_mean(row, "") else {
            println!("    {:<24} -", row.label);
            continue;
        };
        let verdict = reference.map_or(String::new(), |r| {
            let gap = (ours - r).abs();
            let within = if gap <= tolerance {
                "agrees"
            } else {
                "DIFFERS"
            };
            format!("  gap {gap:.1e}: {within} within {tolerance:.0e}")
        });
        println!(
            "    {:<24} {ours:.7}{verdict}",
            row.label.trim_start_matches("diffimg ")
        );
    }
}

fn target_line(what: &str, value: Option<f64>, target: &str, met: impl Fn(f64) -> bool) {
    match value {
        Some(v) => println!(
            "  {what:<52} {v:>9.3}  (target {target}: {})",
            if met(v) { "met" } else { "NOT met" }
        ),
        None => println!("  {what:<52}         -  (target {target}: n/a)"),
    }
}

fn print_targets(outcomes: &[Outcome]) {
    println!();
    println!("== targets ==");
    let wall = |o: &Outcome, label: &str| o.row(label).and_then(Row::wall).map(|d| d.as_secs_f64());
    let rss =
        |o: &Outcome, label: &str| o.row(label).and_then(|r| r.max_rss).map(|b| b as f64 / 1e6);
    let ratio = |x: Option<f64>, y: Option<f64>| x.zip(y).map(|(x, y)| x / y);
    for o in outcomes {
        let ours = |b: &str| {
            wall(
                o,
                &format!(
                    "diffimg --{} --backend {b}",
                    if o.name == "ssim" { "ssim" } else { "flip" }
                ),
            )
        };
        match o.name {
            "flip" => {
                target_line(
                    "flip: diffimg cpu time / flip's",
                    ratio(ours("cpu"), wall(o, "flip (")),
                    "<= 0.05",
                    |v| v <= 0.05,
                );
                println!(
                    "  {:<52} {:>9}",
                    "flip: diffimg gpu time / flip's",
                    ratio(ours("gpu"), wall(o, "flip (")).map_or("-".into(), |v| format!("{v:.3}"))
                );
            }
            "flip20k" => {
                target_line(
                    "flip20k: diffimg peak RSS, MB",
                    rss(o, "diffimg"),
                    "< 256",
                    |v| v < 256.0,
                );
                if let Some(t) = ours("cpu") {
                    println!(
                        "  {:<52} {:>9}  ({:.1} ns per pixel)",
                        "flip20k: diffimg time",
                        seconds(Duration::from_secs_f64(t)),
                        t * 1e9 / o.pixels
                    );
                }
            }
            "ssim" => {
                target_line(
                    "ssim: diffimg cpu time / skimage's",
                    ratio(ours("cpu"), wall(o, "skimage")),
                    "<= 0.1",
                    |v| v <= 0.1,
                );
                target_line(
                    "ssim: diffimg peak RSS, MB",
                    rss(o, "diffimg"),
                    "< 128",
                    |v| v < 128.0,
                );
            }
            "hdr" => {
                println!(
                    "  {:<52} {:>9}  (no target)",
                    "hdr: diffimg cpu time / flip's",
                    ratio(ours("cpu"), wall(o, "flip (")).map_or("-".into(), |v| format!("{v:.3}"))
                );
            }
            _ => {}
        }
    }
    print_reference_memory(outcomes);
}

/// What the reference would hold at 20000x20000: the two inputs as float RGB, and its peak on
/// the 1920x1080 pair scaled by the pixels.
fn print_reference_memory(outcomes: &[Outcome]) {
    let Some(big) = outcomes.iter().find(|o| o.name == "flip20k") else {
        return;
    };
    let inputs = big.pixels * 3.0 * 4.0;
    print!(
        "  flip not run at 20000x20000: it holds whole images as float RGB, {:.1} GB per input",
        inputs / 1e9
    );
    let small = outcomes.iter().find(|o| o.name == "flip");
    match small.and_then(|o| Some((o.pixels, o.row("flip (")?.max_rss?))) {
        Some((pixels, peak)) => println!(
            "; its {} peak at {:.1} Mpixel scales to {:.0} GB",
            megabytes(peak),
            pixels / 1e6,
            peak as f64 / pixels * big.pixels / 1e9
        ),
        None => println!(),
    }
}

fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let known = CASES.iter().map(|c| c.name).collect::<Vec<_>>().join(", ");
    for name in &names {
        if !CASES.iter().any(|c| c.name == name.as_str()) {
            return Err(format!("unknown case {name:?}; cases: {known}").into());
        }
    }
    let settings = Settings {
        runs: env_number("BENCH_RUNS")?
            .map(|n| n.max(1) as usize)
            .or((!full).then_some(1)),
        timeout: Duration::from_secs(env_number("BENCH_TIMEOUT")?.unwrap_or(600)),
        data_dir: data_dir(),
        binary: std::env::var_os("BENCH_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_diffimg")),
            PathBuf::from,
        ),
        references: find_references(),
        full,
    };
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!("diffimg render-metric benchmark (FLIP at the default 67.02 ppd; SSIM sigma 1.5)");
    println!("  cores {cores}; binary {}", settings.binary.display());
    let refs = &settings.references;
    let flip_at = refs
        .flip
        .as_ref()
        .map_or("not found".into(), |p| p.display().to_string());
    println!("  flip   {flip_at}, run as -r A -t B -nerm -nexm -v 2 -d SCRATCH");
    match &refs.python {
        Ok(p) => println!(
            "  python {}, run as {} A B",
            p.display(),
            ssim_script().display()
        ),
        Err(why) => println!("  python {why}"),
    }
    println!(
        "  figures: median wall over the runs (ratios use it), best wall, median CPU, max RSS over all runs"
    );
    fs::create_dir_all(&settings.data_dir)?;
    reset_peak_rss();
    let sized: Vec<Sized> = CASES
        .iter()
        .filter(|c| names.is_empty() || names.iter().any(|n| *n == c.name))
        .map(|case| {
            let (width, height) = if settings.full {
                (case.width, case.height)
            } else {
                (320, 180)
            };
            Sized {
                case,
                width,
                height,
                runs: case.runs,
            }
        })
        .collect();
    for s in &sized {
        ensure_pair(s, &settings.data_dir)?;
    }
    let mut outcomes = Vec::new();
    for s in &sized {
        outcomes.push(bench_case(s, &settings)?);
    }
    print_targets(&outcomes);
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
