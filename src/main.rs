//! The `diffimg` command; see the `cli` module.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    cli::main()
}
