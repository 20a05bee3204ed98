//! The `diffimg` command: parses arguments, runs one comparison, prints it, and maps the outcome
//! to an exit code (0 compared, 1 over `--max-ratio`, 2 error).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use diffimg::internals::{EngineInfo, ReportInternals};
use diffimg::{
    Backend, Canvas, ChangedGate, Compression, Options, PerceptualOptions, PixelLimits, Report,
    Style,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

mod batch_cli;

/// How different are two images? Prints the difference ratio: the sum of per-channel absolute
/// differences over the largest possible sum (0.0 identical, 1.0 opposite).
#[derive(Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Args {
    /// The reference image.
    image1: PathBuf,
    /// Compared against IMAGE1; with --resize, resized to its size first.
    image2: PathBuf,
    /// Print the ratio alone (the default; kept for diffimg compatibility).
    #[arg(short, long, conflicts_with_all = ["percent", "json"])]
    ratio: bool,
    /// Print "Images differ by X%" instead of the ratio.
    #[arg(long, conflicts_with = "json")]
    percent: bool,
    /// Print every figure as one JSON object.
    #[arg(long)]
    json: bool,
    /// Also write the diff image here (format from the extension; PNG without one).
    #[arg(short, long, value_name = "PATH")]
    filename: Option<PathBuf>,
    /// Leave alpha out of the ratio; the diff image gets opaque alpha.
    #[arg(long)]
    ignore_alpha: bool,
    /// Resize IMAGE2 to IMAGE1's size first, as diffimg (Pillow) does; decodes IMAGE2 whole.
    #[arg(long)]
    resize: bool,
    /// Engine: auto picks the GPU when a hardware adapter exists and the image is large.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Seconds the GPU may take for one piece of work before it counts as hung (auto then
    /// goes on with the CPU) [default: 5]
    #[arg(long, value_name = "SECONDS", value_parser = timeout)]
    gpu_timeout: Option<Duration>,
    /// MiB of each image the GPU takes in one submission (1 to 1024) [default: 8]
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1024))]
    gpu_batch: Option<u64>,
    /// Exit with status 1 when the ratio exceeds R (a finite number, 0 or more).
    #[arg(long, value_name = "R", allow_negative_numbers = true, value_parser = gate)]
    max_ratio: Option<f64>,
    /// Count the pixels a person would see as changed: YIQ colour delta over 35215 * T^2
    /// (T from 0 to 1; 0.1 when only --max-changed or a --style asks for the count).
    #[arg(short, long, value_name = "T", allow_negative_numbers = true, value_parser = threshold)]
    threshold: Option<f64>,
    /// Count anti-aliased pixels apart, not as changed (turns the perceptual count on).
    #[arg(long, visible_alias = "antialiasing")]
    aa: bool,
    /// Exit with status 1 when more than N pixels changed, or more than P% of them.
    #[arg(long, value_name = "N|P%", value_parser = clap::value_parser!(ChangedGate))]
    max_changed: Option<ChangedGate>,
    /// Exit with status 1 when a counted channel differs by more than V, in sample units (0 to
    /// 255, 65535 for 16-bit images, 1.0 nominally for floating point, where any NaN or
    /// infinite difference is more).
    #[arg(long, value_name = "V", allow_negative_numbers = true, value_parser = gate)]
    max_diff: Option<f64>,
    /// What the diff image (-f) shows: raw |a - b|, highlight, mask or heatmap.
    #[arg(long, value_enum, default_value_t = StyleArg::Raw)]
    style: StyleArg,
    /// Changed pixels in the highlight and mask styles, as #rrggbb.
    #[arg(long, value_name = "#RRGGBB", value_parser = diffimg::internals::parse_colour, default_value = "#ff0000")]
    diff_color: [u8; 3],
    /// Leave a rectangle out of every figure: X,Y,W,H in pixels; repeatable.
    #[arg(long, value_name = "X,Y,W,H")]
    ignore: Vec<diffimg::Rect>,
    /// Leave out the pixels where this image (of the same size) is not black and not fully
    /// transparent.
    #[arg(long, value_name = "PATH")]
    mask: Option<PathBuf>,
    /// Images of different sizes: an error (same), or compared on a canvas of the larger width
    /// and height, where a pixel only one image covers is changed and one neither covers is
    /// not compared (union).
    #[arg(long, value_enum, default_value_t = CanvasArg::Same, conflicts_with = "resize")]
    canvas: CanvasArg,
    /// Refuse images whose header claims more than N pixels [default: 2^32 for PNG, streamed;
    /// 2^28 for images decoded whole: other formats, interlaced PNG, --resize]; a TIFF or
    /// OpenEXR image may hold 2 bytes per pixel of N decoded at once (512 MiB by default)
    #[arg(long, value_name = "N")]
    max_pixels: Option<u64>,
    /// PNG compression of the diff image: fast, or best for smaller files.
    #[arg(long, value_enum, default_value_t = CompressionArg::Fast)]
    compression: CompressionArg,
    /// No progress bar and no notes on stderr; errors are still printed.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Engine, adapter, image size and timings on stderr.
    #[arg(short, long)]
    verbose: bool,
}

const AFTER_HELP: &str = "\
Batch mode: diffimg DIR_A DIR_B, diffimg --pairs FILE, diffimg merge SHARD.jsonl... (see README).
Exit status: 0 compared (and within the gates), 1 over --max-ratio, --max-changed or --max-diff, 2 error.
PNG inputs are decoded and diffed band by band in little memory; other formats, and the image
that --resize resizes, are decoded whole.";

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Auto,
    Cpu,
    Gpu,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StyleArg {
    Raw,
    Highlight,
    Mask,
    Heatmap,
}

#[derive(Clone, Copy, ValueEnum)]
enum CanvasArg {
    Same,
    Union,
}

fn threshold(value: &str) -> Result<f64, String> {
    match gate(value)? {
        t if t <= 1.0 => Ok(t),
        _ => Err("must be from 0 to 1".into()),
    }
}

fn timeout(value: &str) -> Result<Duration, String> {
    match gate(value)? {
        seconds if seconds <= 0.0 => Err("must be more than 0".into()),
        seconds => Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string()),
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressionArg {
    Fast,
    Best,
}

fn main() -> ExitCode {
    if let Some(code) = batch_cli::dispatch() {
        return code;
    }
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => return argument_error(&e),
    };
    // Panics are reported as one `error:` line: those of decoder threads by the library, the
    // rest below; the default hook would print several lines first.
    std::panic::set_hook(Box::new(|_| {}));
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        remove_unfinished_on_signals(&[SIGINT, SIGTERM, SIGHUP]);
    }
    let outcome = std::panic::catch_unwind(|| run(&args)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Failure::Internal(message))
    });
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(2)
        }
    }
}

/// Why a run failed.
enum Failure {
    Compare(diffimg::Error),
    /// The result could not be printed.
    Stdout(std::io::Error),
    /// A bug: a panic outside the library's guards.
    Internal(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Compare(e) => write!(f, "{e}"),
            Failure::Stdout(e) => write!(f, "standard output: {e}"),
            Failure::Internal(message) => write!(f, "internal error: {message}"),
        }
    }
}

impl From<diffimg::Error> for Failure {
    fn from(e: diffimg::Error) -> Failure {
        Failure::Compare(e)
    }
}

/// Prints an argument error as one line and gives exit status 2; `--help` and `--version`
/// print in full and succeed.
fn argument_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    // clap's first paragraph says what is wrong (a list of missing arguments on lines of
    // their own); usage and tips follow it.
    let text = e.render().to_string();
    let first: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|line| !line.is_empty())
        .collect();
    let first = first.join(" ");
    let first = first.strip_prefix("error: ").unwrap_or(&first);
    eprintln!("error: {first} (see --help)");
    ExitCode::from(2)
}

/// Parses a gate's value: a finite number, 0 or more (ratios of HDR images may exceed 1).
fn gate(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err("must be a finite number, 0 or more".into()),
        Err(_) => Err("not a number".into()),
    }
}

/// On any of `signals`: removes the temporary files of diff images (and of a batch report)
/// being written, then ends as the signal would have. SIGKILL cannot be caught, and leaves them.
#[cfg(unix)]
fn remove_unfinished_on_signals(signals: &[i32]) {
    let Ok(mut signals) = signal_hook::iterator::Signals::new(signals) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            diffimg::internals::remove_unfinished();
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::exit(128 + signal);
        }
    });
}

/// A testing hook, built only with the `test-hooks` feature: `DIFFIMG_GPU_FAULT=<stage>` makes
/// the GPU engine fail at that stage (see `diffimg::engine::gpu::Fault`) and lets
/// `--backend auto` take any adapter at any size, so the fallback to the CPU can be seen on a
/// machine with only a software adapter.
#[cfg(feature = "test-hooks")]
const FAULT_VARIABLE: &str = "DIFFIMG_GPU_FAULT";

fn run(args: &Args) -> Result<ExitCode, Failure> {
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(progress_bar);
    let mut options = Options {
        ignore_alpha: args.ignore_alpha,
        resize: args.resize,
        backend: match args.backend {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Cpu => Backend::Cpu,
            BackendArg::Gpu => Backend::Gpu,
        },
        diff_image: args.filename.clone(),
        compression: match args.compression {
            CompressionArg::Fast => Compression::Fast,
            CompressionArg::Best => Compression::Best,
        },
        max_pixels: args.max_pixels.map(PixelLimits::all).unwrap_or_default(),
        progress: bar.clone().map(|bar| bar.callback()),
        perceptual: (args.threshold.is_some() || args.aa || args.max_changed.is_some()).then(
            || PerceptualOptions {
                threshold: args
                    .threshold
                    .unwrap_or(PerceptualOptions::default().threshold),
                aa: args.aa,
            },
        ),
        style: match args.style {
            StyleArg::Raw => Style::Raw,
            StyleArg::Highlight => Style::Highlight,
            StyleArg::Mask => Style::Mask,
            StyleArg::Heatmap => Style::Heatmap,
        },
        diff_colour: args.diff_color,
        ignore: args.ignore.clone(),
        mask: args.mask.clone(),
        canvas: match args.canvas {
            CanvasArg::Same => Canvas::Same,
            CanvasArg::Union => Canvas::Union,
        },
        ..Options::default()
    };
    if let Some(timeout) = args.gpu_timeout {
        options.gpu.timeout = timeout;
    }
    if let Some(mib) = args.gpu_batch {
        options.gpu.batch_bytes = mib << 20;
    }
    #[cfg(feature = "test-hooks")]
    if let Some(stage) = std::env::var_os(FAULT_VARIABLE) {
        let fault = stage
            .to_string_lossy()
            .parse()
            .map_err(|e: String| diffimg::Error::Gpu(format!("{FAULT_VARIABLE}: {e}")))?;
        options.gpu.fault = Some(fault);
        options.auto = diffimg::internals::AutoOptions {
            min_pixels: 0,
            any_adapter: true,
        };
    }
    let report = diffimg::compare(&args.image1, &args.image2, &options);
    if let Some(bar) = bar {
        bar.bar.finish_and_clear();
    }
    let report = report?;
    if !args.quiet {
        for note in report.notes() {
            eprintln!("{note}");
        }
    }
    if args.verbose {
        print_details(&report);
    }
    let line = if args.json {
        report.to_json()
    } else if args.percent {
        format!("Images differ by {:?}%", report.ratio() * 100.0)
    } else {
        format!("{:?}", report.ratio())
    };
    // A closed stdout (say, piped into `head`) is not an error worth reporting; any other
    // failure to print is, since the result would be lost.
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(Failure::Stdout(e)),
        _ => {}
    }
    let over = args.max_ratio.is_some_and(|max| report.ratio() > max)
        || args.max_diff.is_some_and(|max| report.exceeds(max))
        || args
            .max_changed
            .is_some_and(|gate| gate.exceeded(report.changed(), report.pixels()));
    Ok(if over {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_details(report: &Report) {
    let engine = match report.engine() {
        EngineInfo::Cpu => "cpu".to_string(),
        EngineInfo::Gpu { adapter, backend } => {
            format!("gpu ({adapter}, {backend})")
        }
    };
    eprintln!(
        "engine: {engine}; bands: {} gpu, {} cpu",
        report.bands().0,
        report.bands().1
    );
    let rate =
        |r: Option<f64>| r.map_or("not timed".into(), |r| format!("{:.1} Mpixel/s", r / 1e6));
    for m in report.measured() {
        let chosen = m.chosen.map_or("none yet", |side| side.name());
        eprintln!(
            "auto, {} kernel: gpu {}, cpu {}; chosen: {chosen}",
            m.kernel.name(),
            rate(m.gpu),
            rate(m.cpu)
        );
    }
    eprintln!(
        "image: {}x{} {}",
        report.width(),
        report.height(),
        report.layout()
    );
    eprintln!("elapsed: {:.1} ms", report.elapsed().as_secs_f64() * 1000.0);
}

/// A progress bar that stays hidden for the first second, so quick runs print nothing.
#[derive(Clone)]
struct Bar {
    bar: ProgressBar,
    start: Instant,
}

fn progress_bar() -> Bar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {percent:>3}% {elapsed} rows {pos}/{len}")
    {
        bar.set_style(style);
    }
    Bar {
        bar,
        start: Instant::now(),
    }
}

impl Bar {
    fn callback(self) -> diffimg::Progress {
        Arc::new(move |done, total| {
            if self.bar.is_hidden() && self.start.elapsed() > Duration::from_secs(1) {
                self.bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            self.bar.set_length(total);
            self.bar.set_position(done);
        })
    }
}
