//! The batch commands' arguments and output: `diffimg DIR_A DIR_B`, `diffimg --pairs FILE` and
//! `diffimg merge SHARD.jsonl...`. Records go to stdout as JSON lines, a progress bar to a
//! terminal's stderr; Ctrl-C stops the run and leaves no partial file.

use std::ffi::OsString;
use std::io::{BufReader, ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::Parser;
use diffimg::batch::shard::Header;
use diffimg::batch::{self, PairSet, Record, RunOptions, Shard, Summary};
use diffimg::internals::parse_colour;

use crate::{gate, threshold};
use diffimg::{
    Backend, Canvas, ChangedGate, Compression, Error, Options, PerceptualOptions, PixelLimits,
    Rect, Style,
};
use indicatif::{ProgressBar, ProgressStyle};

/// Compares every pair of images in two folders (paired by relative path) or in a pair list,
/// printing one JSON line per pair and a summary line.
#[derive(Parser)]
#[command(name = "diffimg", version, after_help = AFTER_HELP)]
struct BatchArgs {
    /// Two folders: their images are paired by relative path, recursively.
    #[arg(num_args = 0..=2, value_name = "DIR")]
    folders: Vec<PathBuf>,
    /// Read the pairs from FILE (- for stdin): JSON lines {"a": PATH, "b": PATH, "name": NAME}
    /// (or "name_bytes": HEX), at most 1 MiB each; relative paths are relative to the list's
    /// folder.
    #[arg(long, value_name = "FILE", conflicts_with = "folders")]
    pairs: Option<PathBuf>,
    /// One JSON line per pair and a summary line on stdout (the default).
    #[arg(long)]
    json_lines: bool,
    /// Write diff images (PNG) of the pairs that differ under DIR, at their relative paths;
    /// names that would share a path are refused before the run; DIR may not be, hold or lie in
    /// an input folder.
    #[arg(long, value_name = "DIR")]
    diff_dir: Option<PathBuf>,
    /// Write an HTML report to PATH, with its images in a PATH_files folder beside it.
    #[arg(long, value_name = "PATH.html")]
    report: Option<PathBuf>,
    /// Pairs compared at once [default: the number of cores].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Run only the pairs whose name hashes to shard K of N (1 <= K <= N); the output opens
    /// with a header line naming the shard and its set of pairs.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Added and removed files are notes, not failures.
    #[arg(long)]
    allow_missing: bool,
    #[command(flatten)]
    pair: PairArgs,
}

/// Merges the outputs of several shards into one set of records, summary, report and exit
/// status.
#[derive(Parser)]
#[command(name = "diffimg merge", bin_name = "diffimg merge", version)]
struct MergeArgs {
    /// The JSON-lines outputs of the shards: every shard 1..N of one run, each complete.
    #[arg(required = true, value_name = "SHARD.jsonl")]
    shards: Vec<PathBuf>,
    /// Write an HTML report of all the pairs to PATH.
    #[arg(long, value_name = "PATH.html")]
    report: Option<PathBuf>,
    /// Added and removed files are notes, not failures.
    #[arg(long)]
    allow_missing: bool,
}

/// The single-pair options, applied to every pair.
#[derive(clap::Args)]
struct PairArgs {
    /// Leave alpha out of the ratio; diff images get opaque alpha.
    #[arg(long)]
    ignore_alpha: bool,
    /// Resize each second image to its first image's size.
    #[arg(long)]
    resize: bool,
    /// Engine for every pair.
    #[arg(long, default_value = "auto", value_parser = ["auto", "cpu", "gpu"])]
    backend: String,
    /// A pair whose ratio exceeds R is over the gate (exit status 1).
    #[arg(long, value_name = "R", allow_negative_numbers = true, value_parser = gate)]
    max_ratio: Option<f64>,
    /// Count the pixels a person would see as changed in every pair (threshold T, 0 to 1).
    #[arg(short, long, value_name = "T", allow_negative_numbers = true, value_parser = threshold)]
    threshold: Option<f64>,
    /// Count anti-aliased pixels apart, not as changed.
    #[arg(long, visible_alias = "antialiasing")]
    aa: bool,
    /// A pair with more than N changed pixels (or P% of them) is over the gate.
    #[arg(long, value_name = "N|P%")]
    max_changed: Option<ChangedGate>,
    /// A pair where a counted channel differs by more than V (in sample units) is over the gate.
    #[arg(long, value_name = "V", allow_negative_numbers = true, value_parser = gate)]
    max_diff: Option<f64>,
    /// What the diff images show: raw, highlight, mask or heatmap.
    #[arg(long, default_value = "raw")]
    style: Style,
    /// Changed pixels in the highlight and mask styles, as #rrggbb.
    #[arg(long, value_name = "#RRGGBB", value_parser = parse_colour, default_value = "#ff0000")]
    diff_color: [u8; 3],
    /// Leave a rectangle out of every pair's figures: X,Y,W,H; repeatable.
    #[arg(long, value_name = "X,Y,W,H")]
    ignore: Vec<Rect>,
    /// Images of different sizes: an error (same) or compared on the union canvas (union).
    #[arg(long, default_value = "same", conflicts_with = "resize")]
    canvas: Canvas,
    /// Refuse images whose header claims more than N pixels.
    #[arg(long, value_name = "N")]
    max_pixels: Option<u64>,
    /// PNG compression of the diff images.
    #[arg(long, default_value = "fast", value_parser = ["fast", "best"])]
    compression: String,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

const AFTER_HELP: &str = "\
Exit status: 0 every pair equal or within the gates; 1 a pair over --max-ratio, --max-changed or --max-diff, or added or
removed (unless --allow-missing); 2 a pair in error or the run could not start; 130 interrupted.";

/// Runs a batch command when the arguments ask for one: `merge`, `--pairs`, or two folders.
pub fn dispatch() -> Option<ExitCode> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "merge") {
        let args = parse::<MergeArgs>(argv[..1].iter().chain(&argv[2..]));
        return Some(finish(merge(&args)));
    }
    let list = argv.iter().skip(1).any(|a| {
        let a = a.to_string_lossy();
        a == "--pairs" || a.starts_with("--pairs=")
    });
    let folders =
        |args: &BatchArgs| args.folders.len() == 2 && args.folders.iter().all(|f| f.is_dir());
    // Arguments that do not parse are batch mode's to report when they name two folders.
    let names_folders = argv
        .iter()
        .skip(1)
        .filter(|a| !a.to_string_lossy().starts_with('-') && Path::new(a).is_dir())
        .count()
        >= 2;
    match BatchArgs::try_parse_from(&argv) {
        Ok(args) if list || folders(&args) => Some(finish(run(&args))),
        Ok(args) if args.folders.len() == 2 && args.folders.iter().any(|f| f.is_dir()) => {
            lone_folder(&args.folders).map(|e| finish(Err(e)))
        }
        Err(_) if list || names_folders => Some(finish(run(&parse::<BatchArgs>(&argv)))),
        _ => None,
    }
}

/// The error of two arguments of which one is a folder and the other does not exist: it names
/// the missing one (the folder is not an image to blame).
fn lone_folder(folders: &[PathBuf]) -> Option<Error> {
    let missing = folders
        .iter()
        .find(|f| std::fs::symlink_metadata(f).is_err_and(|e| e.kind() == ErrorKind::NotFound))?;
    Some(Error::Input {
        what: missing.display().to_string(),
        cause: "does not exist (batch mode compares two folders)".into(),
    })
}

/// Parses arguments; a mistake is one line on stderr and exit status 2.
fn parse<T: Parser>(argv: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> T {
    T::try_parse_from(argv).unwrap_or_else(|e| {
        if !e.use_stderr() {
            e.exit();
        }
        let text = e.to_string();
        let line = text.lines().next().unwrap_or_default();
        eprintln!("error: {}", line.trim_start_matches("error: "));
        std::process::exit(2)
    })
}

fn finish(outcome: Result<u8, Error>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Exit status of an interrupted run.
const INTERRUPTED: u8 = 130;

/// A Ctrl-C stops starting pairs and writing the report; a second one, SIGTERM or SIGHUP ends
/// the process, with the temporary files of diff images and of the report under way removed.
fn interrupt_flag() -> Arc<AtomicBool> {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGTERM};
        crate::remove_unfinished_on_signals(&[SIGTERM, SIGHUP]);
    }
    let flag = Arc::new(AtomicBool::new(false));
    let seen = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            diffimg::internals::remove_unfinished();
            std::process::exit(i32::from(INTERRUPTED));
        }
    });
    flag
}

fn run(args: &BatchArgs) -> Result<u8, Error> {
    let start = Instant::now();
    let mut set = pair_set(args)?;
    if args.diff_dir.is_some() {
        batch::check_diff_names(&set.pairs)?;
    }
    // A shard's output opens with its header, written with the first record or the summary.
    let mut header = args
        .shard
        .map(|shard| Header::new(shard, set.pairs.iter().map(|p| &p.name)).to_json());
    if let Some(shard) = args.shard {
        set.pairs.retain(|p| shard.holds(p.name.as_bytes()));
        set.skipped.retain(|name| shard.holds(name.as_bytes()));
    }
    if let Some(path) = &args.report {
        batch::report::check(path)?;
    }
    let cancel = interrupt_flag();
    let pair = &args.pair;
    let options = RunOptions {
        compare: Options {
            ignore_alpha: pair.ignore_alpha,
            resize: pair.resize,
            backend: match pair.backend.as_str() {
                "cpu" => Backend::Cpu,
                "gpu" => Backend::Gpu,
                _ => Backend::Auto,
            },
            compression: match pair.compression.as_str() {
                "best" => Compression::Best,
                _ => Compression::Fast,
            },
            max_pixels: pair.max_pixels.map(PixelLimits::all).unwrap_or_default(),
            perceptual: (pair.threshold.is_some()
                || pair.aa
                || pair.max_changed.is_some()
                || pair.style != Style::Raw)
                .then(|| PerceptualOptions {
                    threshold: pair
                        .threshold
                        .unwrap_or(PerceptualOptions::default().threshold),
                    aa: pair.aa,
                }),
            style: pair.style,
            diff_colour: pair.diff_color,
            ignore: pair.ignore.clone(),
            canvas: pair.canvas,
            ..Options::default()
        },
        max_ratio: pair.max_ratio,
        max_changed: pair.max_changed,
        max_diff: pair.max_diff,
        diff_dir: args.diff_dir.clone(),
        input_folders: args.folders.clone(),
        jobs: args.jobs.map_or(RunOptions::default().jobs, usize::from),
        cancel: cancel.clone(),
    };
    let bar = (!pair.quiet && std::io::stderr().is_terminal())
        .then(|| progress_bar(set.pairs.len() as u64));
    let mut out = Output::default();
    let mut summary = Summary {
        skipped: set.skipped.len() as u64,
        ..Summary::default()
    };
    let records = batch::run(&set.pairs, &options, |record| {
        summary.count(record.status);
        if let Some(header) = header.take() {
            out.line(&header, &cancel);
        }
        out.line(&record.to_json(), &cancel);
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let records = records?;
    out.check()?;
    if cancel.load(Ordering::SeqCst) {
        eprintln!("error: interrupted");
        return Ok(INTERRUPTED);
    }
    summary.set_wall(start.elapsed());
    if let Some(header) = header.take() {
        out.line(&header, &cancel);
    }
    let report = args.report.as_deref().map(|path| (path, options.jobs));
    conclude(
        report,
        &records,
        &summary,
        &mut out,
        &cancel,
        args.allow_missing,
    )
}

/// Writes the report (when asked for) and the summary line, and gives the exit status.
fn conclude(
    report_to: Option<(&Path, usize)>,
    records: &[Record],
    summary: &Summary,
    out: &mut Output,
    cancel: &AtomicBool,
    allow_missing: bool,
) -> Result<u8, Error> {
    report(report_to, records, summary, cancel)?;
    if cancel.load(Ordering::SeqCst) {
        eprintln!("error: interrupted");
        return Ok(INTERRUPTED);
    }
    out.line(&summary.to_json(), cancel);
    out.check()?;
    match summary.errors {
        0 => {}
        1 => eprintln!("error: 1 pair failed: see its record on stdout (\"status\": \"error\")"),
        n => eprintln!(
            "error: {n} pairs failed: see their records on stdout (\"status\": \"error\")"
        ),
    }
    Ok(summary.exit_code(allow_missing))
}

/// Writes the report, when asked for, `jobs` previews at a time; an interrupted one is not an
/// error of its own.
fn report(
    to: Option<(&Path, usize)>,
    records: &[Record],
    summary: &Summary,
    cancel: &AtomicBool,
) -> Result<(), Error> {
    match to.map(|(path, jobs)| batch::report::write(path, records, summary, jobs, cancel)) {
        Some(Err(_)) if cancel.load(Ordering::SeqCst) => Ok(()),
        Some(outcome) => outcome,
        None => Ok(()),
    }
}

/// The pairs the arguments name: a list, or two folders.
fn pair_set(args: &BatchArgs) -> Result<PairSet, Error> {
    let Some(list) = &args.pairs else {
        return match &args.folders[..] {
            [a, b] => batch::pairs::from_folders(a, b),
            _ => Err(Error::Input {
                what: "arguments".into(),
                cause: "two folders or --pairs FILE are needed".into(),
            }),
        };
    };
    if list.as_os_str() == "-" {
        let base = Path::new(".");
        return batch::pairs::from_list(std::io::stdin().lock(), "stdin", base);
    }
    let name = list.display().to_string();
    let file = std::fs::File::open(list).map_err(|e| Error::Input {
        what: name.clone(),
        cause: e.to_string(),
    })?;
    let base = list.parent().unwrap_or(Path::new(""));
    batch::pairs::from_list(BufReader::new(file), &name, base)
}

/// Standard output, one line at a time; the first failed write stops the run.
#[derive(Default)]
struct Output {
    failed: Option<std::io::Error>,
}

impl Output {
    fn line(&mut self, line: &str, cancel: &AtomicBool) {
        if self.failed.is_some() {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
            self.failed = Some(e);
            cancel.store(true, Ordering::SeqCst);
        }
    }

    fn check(&mut self) -> Result<(), Error> {
        match self.failed.take() {
            Some(e) => Err(Error::Input {
                what: "stdout".into(),
                cause: e.to_string(),
            }),
            None => Ok(()),
        }
    }
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} pairs {per_sec:.0} ETA {eta} ")
    {
        bar.set_style(style);
    }
    bar
}

fn merge(args: &MergeArgs) -> Result<u8, Error> {
    if let Some(path) = &args.report {
        batch::report::check(path)?;
    }
    let cancel = interrupt_flag();
    let mut outputs = Vec::new();
    for shard in &args.shards {
        let name = shard.display().to_string();
        let file = std::fs::File::open(shard).map_err(|e| Error::Input {
            what: name.clone(),
            cause: e.to_string(),
        })?;
        let output = batch::merge::read(BufReader::new(file), &name)?;
        outputs.push((name, output));
    }
    let (records, summary) = batch::merge::combine(outputs)?;
    let mut out = Output::default();
    for record in &records {
        out.line(&record.to_json(), &cancel);
    }
    out.check()?;
    let jobs = RunOptions::default().jobs;
    let report = args.report.as_deref().map(|path| (path, jobs));
    conclude(
        report,
        &records,
        &summary,
        &mut out,
        &cancel,
        args.allow_missing,
    )
}
