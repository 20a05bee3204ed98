//! The command line: one parser for every command (`compare`, `batch`, `merge`, and the
//! shorthands without a command name), the commands themselves, and how their outcomes become
//! an exit status.

mod args;
mod batch;
mod generate;
mod single;

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::FromArgMatches;

use args::{Cli, Command};

/// Parses the arguments and runs the command they name.
pub fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = match parse(&argv) {
        Ok(cli) => cli,
        Err(e) => return argument_error(&e),
    };
    if let Some(kind) = cli.generate {
        return generate::write(kind, args::command());
    }
    let command = match cli.command {
        Some(command) => Ok(command),
        None => shorthand(&argv, &cli.shorthand),
    };
    match command {
        Ok(Command::Compare(args)) => single::main(&args),
        Ok(Command::Batch(args)) => finish(batch::run(&args)),
        Ok(Command::Merge(args)) => finish(batch::merge(&args)),
        Err(code) => code,
    }
}

fn parse(argv: &[OsString]) -> Result<Cli, clap::Error> {
    let matches = args::command().try_get_matches_from(argv)?;
    Cli::from_arg_matches(&matches)
}

/// The command that a command line without one stands for: `batch` for two folders or
/// `--pairs`, `compare` otherwise. Its arguments are parsed again as that command's, so that
/// the other command's options are refused.
fn shorthand(argv: &[OsString], arguments: &args::Shorthand) -> Result<Command, ExitCode> {
    let paths = &arguments.paths;
    let folders = paths.len() == 2 && paths.iter().all(|p| p.is_dir());
    if paths.len() == 2
        && !folders
        && paths.iter().any(|p| p.is_dir())
        && let Some(e) = lone_folder(paths)
    {
        return Err(finish(Err(e)));
    }
    let name = if folders || arguments.pairs.is_some() {
        "batch"
    } else {
        "compare"
    };
    let mut named = argv.to_vec();
    named.insert(1.min(named.len()), name.into());
    match parse(&named) {
        Ok(Cli {
            command: Some(command),
            ..
        }) => Ok(command),
        Ok(_) => unreachable!("a command's name was put first"),
        Err(e) => Err(argument_error(&e)),
    }
}

/// The error of two paths of which one is a folder and the other does not exist: it names
/// the missing one (the folder is not an image to blame).
fn lone_folder(paths: &[PathBuf]) -> Option<diffimg::Error> {
    let missing = paths
        .iter()
        .find(|p| std::fs::symlink_metadata(p).is_err_and(|e| e.kind() == ErrorKind::NotFound))?;
    Some(diffimg::Error::Input {
        what: missing.display().to_string(),
        cause: "does not exist (batch mode compares two folders)".into(),
    })
}

/// Prints an argument error as one line and gives exit status 2; `--help` and `--version`
/// print in full and succeed.
fn argument_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
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

/// The exit status of a batch command's outcome, its error printed as one line.
fn finish(outcome: Result<u8, diffimg::Error>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
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
