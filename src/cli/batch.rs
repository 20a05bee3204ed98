//! `diffimg batch` (two folders or a pair list) and `diffimg merge SHARD.jsonl...`. Records
//! go to stdout as JSON lines, a progress bar to a terminal's stderr; Ctrl-C stops the run and
//! leaves no partial file.

use std::io::{BufReader, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use diffimg::Error;
use diffimg::batch::shard::Header;
use diffimg::batch::{self, PairSet, Record, RunOptions, Summary};
use indicatif::{ProgressBar, ProgressStyle};

use super::args::{BatchArgs, MergeArgs};

/// Exit status of an interrupted run.
const INTERRUPTED: u8 = 130;

/// A Ctrl-C stops starting pairs and writing the report; a second one, SIGTERM or SIGHUP ends
/// the process, with the temporary files of diff images and of the report under way removed.
fn interrupt_flag() -> Arc<AtomicBool> {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGTERM};
        super::remove_unfinished_on_signals(&[SIGTERM, SIGHUP]);
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

/// Runs a batch; its outcome is the exit status.
pub fn run(args: &BatchArgs) -> Result<u8, Error> {
    let start = Instant::now();
    let mut set = pair_set(args)?;
    if args.output.diff_dir.is_some() {
        batch::check_diff_names(&set.pairs)?;
    }
    // A shard's output opens with its header, written with the first record or the summary.
    let mut header = args
        .output
        .shard
        .map(|shard| Header::new(shard, set.pairs.iter().map(|p| &p.name)).to_json());
    if let Some(shard) = args.output.shard {
        set.pairs.retain(|p| shard.holds(p.name.as_bytes()));
        set.skipped.retain(|name| shard.holds(name.as_bytes()));
    }
    if let Some(path) = &args.output.report {
        batch::report::check(path)?;
    }
    let cancel = interrupt_flag();
    let (compare, gates) = args.options.settings();
    // With FLIP, the report shows each pair's FLIP map: the diff folder's when it holds them,
    // or maps written for the report into a folder beside it, removed once it is written.
    let maps = match (&args.output.report, &args.output.diff_dir, &compare.flip) {
        (Some(report), None, Some(_)) => Some(batch::report::scratch(report)?),
        _ => None,
    };
    let options = RunOptions {
        compare,
        gates,
        diff_dir: args.output.diff_dir.clone(),
        input_folders: args.folders.clone(),
        jobs: args
            .output
            .jobs
            .map_or(RunOptions::default().jobs, usize::from),
        cancel: cancel.clone(),
        maps: maps.as_ref().map(|dir| dir.path().to_owned()),
    };
    let bar = (!args.quiet && std::io::stderr().is_terminal())
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
    let report = args
        .output
        .report
        .as_deref()
        .map(|path| (path, options.jobs));
    conclude(
        report,
        &records,
        &summary,
        &mut out,
        &cancel,
        args.output.allow_missing,
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

/// Merges shards' outputs; its outcome is the exit status.
pub fn merge(args: &MergeArgs) -> Result<u8, Error> {
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
