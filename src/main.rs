//! The `diffimg` command: parses arguments, runs one comparison, prints it, and maps the outcome
//! to an exit code (0 compared, 1 over `--max-ratio`, 2 error).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use diffimg::engine::choice::AutoOptions;
use diffimg::{Backend, Compression, Options, PixelLimits, Report};
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
    /// Resize IMAGE2 to IMAGE1's size first (decodes both images whole, bicubic filter).
    #[arg(long)]
    resize: bool,
    /// Engine: auto picks the GPU when a hardware adapter exists and the image is large.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Exit with status 1 when the ratio exceeds R.
    #[arg(long, value_name = "R")]
    max_ratio: Option<f64>,
    /// Refuse images whose header claims more than N pixels [default: 2^32 for PNG, streamed;
    /// 2^28 for images decoded whole: other formats, interlaced PNG, --resize]
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
Exit status: 0 compared (and within --max-ratio), 1 ratio over --max-ratio, 2 error.
PNG inputs are decoded and diffed band by band in little memory; other formats, and --resize,
decode whole images.";

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Auto,
    Cpu,
    Gpu,
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
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// A testing hook: `DIFFIMG_GPU_FAULT=<stage>` makes the GPU engine fail at that stage (see
/// `diffimg::engine::gpu::Fault`) and lets `--backend auto` take any adapter at any size, so
/// the fallback to the CPU can be seen on a machine with only a software adapter.
const FAULT_VARIABLE: &str = "DIFFIMG_GPU_FAULT";

fn run(args: &Args) -> Result<ExitCode, diffimg::Error> {
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
        ..Options::default()
    };
    if let Some(stage) = std::env::var_os(FAULT_VARIABLE) {
        let fault = stage
            .to_string_lossy()
            .parse()
            .map_err(|e: String| diffimg::Error::Gpu(format!("{FAULT_VARIABLE}: {e}")))?;
        options.gpu.fault = Some(fault);
        options.auto = AutoOptions {
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
        for note in &report.notes {
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
    // A closed stdout (say, piped into `head`) is not an error worth reporting.
    let _ = writeln!(std::io::stdout(), "{line}");
    let over = args.max_ratio.is_some_and(|max| report.ratio() > max);
    Ok(if over {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_details(report: &Report) {
    let engine = match &report.engine {
        diffimg::engine::EngineInfo::Cpu => "cpu".to_string(),
        diffimg::engine::EngineInfo::Gpu { adapter, backend } => {
            format!("gpu ({adapter}, {backend})")
        }
    };
    eprintln!(
        "engine: {engine}; bands: {} gpu, {} cpu",
        report.gpu_bands, report.cpu_bands
    );
    eprintln!(
        "image: {}x{} {}",
        report.width, report.height, report.layout
    );
    eprintln!("elapsed: {:.1} ms", report.elapsed.as_secs_f64() * 1000.0);
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
    fn callback(self) -> diffimg::compare::Progress {
        Arc::new(move |done, total| {
            if self.bar.is_hidden() && self.start.elapsed() > Duration::from_secs(1) {
                self.bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            self.bar.set_length(total);
            self.bar.set_position(done);
        })
    }
}
