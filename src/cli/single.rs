//! `diffimg compare`: one comparison, printed as the ratio, a percentage or JSON, with the
//! exit status of its gates (0 compared, 1 over a gate, 2 error).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diffimg::Report;
use diffimg::internals::{EngineInfo, ReportInternals};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::args::CompareArgs;

/// Runs the comparison; panics outside the library's guards become an `error:` line too.
pub fn main(args: &CompareArgs) -> ExitCode {
    // Panics are reported as one `error:` line: those of decoder threads by the library, the
    // rest below; the default hook would print several lines first.
    std::panic::set_hook(Box::new(|_| {}));
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        super::remove_unfinished_on_signals(&[SIGINT, SIGTERM, SIGHUP]);
    }
    let outcome = std::panic::catch_unwind(|| run(args)).unwrap_or_else(|panic| {
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

/// A testing hook, built only with the `test-hooks` feature: `DIFFIMG_GPU_FAULT=<stage>` makes
/// the GPU engine fail at that stage (see `diffimg::engine::gpu::Fault`) and lets
/// `--backend auto` take any adapter at any size, so the fallback to the CPU can be seen on a
/// machine with only a software adapter.
#[cfg(feature = "test-hooks")]
const FAULT_VARIABLE: &str = "DIFFIMG_GPU_FAULT";

fn run(args: &CompareArgs) -> Result<ExitCode, Failure> {
    let bar = (!args.output.quiet && std::io::stderr().is_terminal()).then(progress_bar);
    let (mut options, gates) = args.options.settings();
    options.diff_image = args.output.filename.clone();
    options.progress = bar.clone().map(|bar| bar.callback());
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
    if !args.output.quiet {
        for note in report.notes() {
            eprintln!("{note}");
        }
    }
    if args.output.verbose {
        print_details(&report);
    }
    let mut line = if args.output.json {
        report.to_json()
    } else if args.output.percent {
        format!("Images differ by {:?}%", report.ratio() * 100.0)
    } else {
        format!("{:?}", report.ratio())
    };
    if !args.output.json {
        line.push_str(&metric_lines(&report));
    }
    // A closed stdout (say, piped into `head`) is not an error worth reporting; any other
    // failure to print is, since the result would be lost.
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(Failure::Stdout(e)),
        _ => {}
    }
    Ok(if gates.exceeded(&report) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The render metrics asked for, a line each after the ratio.
fn metric_lines(report: &Report) -> String {
    let mut lines = String::new();
    let at = |at: Option<diffimg::At>| at.map_or(String::new(), |a| format!(" at {},{}", a.x, a.y));
    if let Some(flip) = report.flip() {
        lines.push_str(&format!("\nFLIP mean {:.6}", flip.mean));
        for (p, v) in &flip.percentiles {
            lines.push_str(&format!(", p{p} {v:.4}"));
        }
        lines.push_str(&format!(", max {:.4}{}", flip.max, at(flip.max_at)));
    }
    if let Some(ssim) = report.ssim() {
        lines.push_str(&format!(
            "\nSSIM mean {:.6}, min {:.4}{}",
            ssim.mean,
            ssim.min,
            at(ssim.min_at)
        ));
    }
    lines
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
