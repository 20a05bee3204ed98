//! `--generate`: the man page and the shells' completions, written from the parser itself.

use std::io::Write;
use std::process::ExitCode;

use clap_complete::Shell;

use super::args::Generate;

/// Writes what `kind` names for `command` to stdout.
pub fn write(kind: Generate, mut command: clap::Command) -> ExitCode {
    let mut out = Vec::new();
    let shell = match kind {
        Generate::Man => None,
        Generate::CompleteBash => Some(Shell::Bash),
        Generate::CompleteZsh => Some(Shell::Zsh),
        Generate::CompleteFish => Some(Shell::Fish),
        Generate::CompletePowershell => Some(Shell::PowerShell),
    };
    let written = match shell {
        Some(shell) => {
            clap_complete::generate(shell, &mut command, "diffimg", &mut out);
            Ok(())
        }
        None => clap_mangen::Man::new(command).render(&mut out),
    };
    let mut stdout = std::io::stdout().lock();
    match written
        .and_then(|()| stdout.write_all(&out))
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: standard output: {e}");
            ExitCode::from(2)
        }
    }
}
