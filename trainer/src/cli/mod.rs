//! The `trainer` command line: one module per subcommand, each with its
//! arguments struct and an `exec` function.

pub mod eval;
pub mod fit;
pub mod inspect;
pub mod interpolate;
pub mod predict;
pub mod sample;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Train Rank Reduction Autoencoders and export them for microcontrollers.
#[derive(Debug, Parser)]
#[command(name = "trainer", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train an RRAE and write DIR/model.rrae and DIR/metrics.json.
    Fit(Box<fit::FitArgs>),
    /// Reconstruction errors of a model file on a dataset or data file.
    Eval(eval::EvalArgs),
    /// Print a model file's header, layers and sizes.
    Inspect(inspect::InspectArgs),
    /// Generate samples from the model's coefficient Gaussian.
    Sample(sample::SampleArgs),
    /// Decode a straight path in coefficient space between two samples.
    Interpolate(interpolate::InterpolateArgs),
    /// Decode the coefficients interpolated at new parameter values.
    Predict(predict::PredictArgs),
}

/// Most floats one generated output (samples, interpolation path) may hold:
/// 2^28 floats = 1 GiB.
const MAX_OUTPUT_FLOATS: usize = 1 << 28;

/// Errors (instead of aborting on allocation) when `rows x cols` floats of
/// output would exceed [`MAX_OUTPUT_FLOATS`]; `flag` names the option to lower.
pub(crate) fn check_output_size(rows: usize, cols: usize, flag: &str) -> Result<()> {
    match rows.checked_mul(cols) {
        Some(n) if n <= MAX_OUTPUT_FLOATS => Ok(()),
        _ => anyhow::bail!(
            "{flag} {rows} would produce {rows} x {cols} values, more than the limit of {MAX_OUTPUT_FLOATS}"
        ),
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Fit(a) => fit::exec(*a),
        Command::Eval(a) => eval::exec(a),
        Command::Inspect(a) => inspect::exec(a),
        Command::Sample(a) => sample::exec(a),
        Command::Interpolate(a) => interpolate::exec(a),
        Command::Predict(a) => predict::exec(a),
    }
}
