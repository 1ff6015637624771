//! The `trainer` command line: one module per subcommand, each with its
//! arguments struct and an `exec` function.

pub mod eval;
pub mod fit;
pub mod fit_search;
pub mod import;
pub mod inspect;
pub mod interpolate;
pub mod predict;
pub mod quantize;
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
    /// Convert a TensorFlow Lite model (.tflite, f32) into a .rrae file.
    Import(import::ImportArgs),
    /// Quantize an f32 model file to int8 (calibrated on data; post-training, or
    /// after quantization-aware fine-tuning with --qat-steps).
    Quantize(quantize::QuantizeArgs),
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

/// An image shape `(C, H, W)`: the value of `--image-shape`.
pub use crate::data::ImageShape;

/// Parses `--image-shape`: `C,H,W` (or `H,W` for one channel); `x` may
/// separate the numbers too (`1x28x28`). Every number must be positive.
pub fn parse_image_shape(s: &str) -> Result<ImageShape, String> {
    let parts: Vec<&str> = s.split([',', 'x', 'X']).map(str::trim).collect();
    let nums = parts
        .iter()
        .map(|p| p.parse::<usize>().ok().filter(|&v| v > 0))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| format!("{s:?} is not C,H,W with positive whole numbers (e.g. 1,28,28)"))?;
    match nums[..] {
        [c, h, w] => Ok((c, h, w)),
        [h, w] => Ok((1, h, w)),
        _ => Err(format!("{s:?} is not C,H,W (e.g. 1,28,28)")),
    }
}

/// Errors unless `C·H·W` of `shape` equals the model's `input_dim`.
pub(crate) fn check_image_shape(shape: ImageShape, input_dim: usize, model: &str) -> Result<()> {
    let (c, h, w) = shape;
    let values = crate::data::image_len(shape);
    if values != Some(input_dim) {
        anyhow::bail!(
            "image shape {c} x {h} x {w} does not match {model}: it takes {input_dim} values per sample"
        );
    }
    Ok(())
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Fit(a) => fit::exec(*a),
        Command::Eval(a) => eval::exec(a),
        Command::Inspect(a) => inspect::exec(a),
        Command::Import(a) => import::exec(a),
        Command::Quantize(a) => quantize::exec(a),
        Command::Sample(a) => sample::exec(a),
        Command::Interpolate(a) => interpolate::exec(a),
        Command::Predict(a) => predict::exec(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_shape_flag() {
        assert_eq!(parse_image_shape("1,28,28"), Ok((1, 28, 28)));
        assert_eq!(parse_image_shape("3x32x32"), Ok((3, 32, 32)));
        assert_eq!(parse_image_shape("8, 8"), Ok((1, 8, 8)));
        for bad in ["", "1", "1,2,3,4", "0,28,28", "a,b,c", "-1,2,2"] {
            assert!(parse_image_shape(bad).is_err(), "{bad}");
        }
        assert!(check_image_shape((1, 28, 28), 784, "m").is_ok());
        let e = check_image_shape((1, 28, 28), 200, "m.rrae").unwrap_err();
        assert!(e.to_string().contains("200 values"), "{e}");
        assert!(check_image_shape((usize::MAX, 2, 2), 4, "m").is_err());
    }
}
