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

use clap::parser::ValueSource;
use clap::{ArgMatches, FromArgMatches};

use args::{Cli, Command, CompareArgs, ComparisonOptions, SingleOutput};

/// Parses the arguments and runs the command they name.
pub fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let mut parser = args::command();
    let command = match parser.try_get_matches_from_mut(&argv) {
        Err(e) => Err(argument_error(&e)),
        Ok(matches) if matches.subcommand().is_none() && !matches.contains_id("generate") => {
            shorthand(&mut parser, argv, &matches)
        }
        Ok(matches) => match Cli::from_arg_matches(&matches) {
            Ok(Cli {
                generate: Some(kind),
                ..
            }) => return generate::write(kind, parser),
            Ok(Cli {
                command: Some(command),
                ..
            }) => Ok(command),
            Ok(_) => unreachable!("a command line is a command, a shorthand or --generate"),
            Err(e) => Err(argument_error(&e)),
        },
    };
    match command {
        Ok(Command::Compare(args)) => single::main(&args),
        Ok(Command::Batch(args)) => finish(batch::run(&args)),
        Ok(Command::Merge(args)) => finish(batch::merge(&args)),
        Err(code) => code,
    }
}

/// The command that a command line without one stands for: `batch` for two folders or
/// `--pairs`, `compare` otherwise. Two images with none of `batch`'s options are `compare`'s
/// arguments as parsed; any other command line is parsed again by the same parser as that
/// command's, so that the other command's options are refused.
fn shorthand(
    parser: &mut clap::Command,
    mut argv: Vec<OsString>,
    matches: &ArgMatches,
) -> Result<Command, ExitCode> {
    let paths: Vec<&PathBuf> = matches
        .get_many::<PathBuf>("paths")
        .map(Iterator::collect)
        .unwrap_or_default();
    let folders = paths.len() == 2 && paths.iter().all(|p| p.is_dir());
    if paths.len() == 2
        && !folders
        && paths.iter().any(|p| p.is_dir())
        && let Some(e) = lone_folder(&paths)
    {
        return Err(finish(Err(e)));
    }
    let batch = folders || matches.contains_id("pairs");
    if let [image1, image2] = paths[..]
        && !batch
        && !given(parser, matches, "BatchOutput")
    {
        let parts = SingleOutput::from_arg_matches(matches)
            .and_then(|output| Ok((output, ComparisonOptions::from_arg_matches(matches)?)));
        return match parts {
            Ok((output, options)) => Ok(Command::Compare(CompareArgs {
                image1: image1.clone(),
                image2: image2.clone(),
                output,
                options,
            })),
            Err(e) => Err(argument_error(&e)),
        };
    }
    let name = if batch { "batch" } else { "compare" };
    argv.insert(1.min(argv.len()), name.into());
    match parser
        .try_get_matches_from_mut(argv)
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(Cli {
            command: Some(command),
            ..
        }) => Ok(command),
        Ok(_) => unreachable!("a command's name was put first"),
        Err(e) => Err(argument_error(&e)),
    }
}

/// Whether any argument of `group` (the arguments of one derived struct) was given on the
/// command line, not taken from a default.
fn given(parser: &clap::Command, matches: &ArgMatches, group: &str) -> bool {
    parser
        .get_groups()
        .filter(|g| g.get_id() == group)
        .flat_map(|g| g.get_args())
        .any(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
}

/// The error of two paths of which one is a folder and the other does not exist: it names
/// the missing one (the folder is not an image to blame).
fn lone_folder(paths: &[&PathBuf]) -> Option<diffimg::Error> {
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
