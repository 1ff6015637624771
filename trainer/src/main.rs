//! `trainer` binary: see `trainer --help`. Errors are printed once, as one
//! `error: ...` line with their context chain, and give a non-zero exit code.

use std::process::ExitCode;

use clap::Parser;
use rrae_trainer::cli::{run, Cli};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
