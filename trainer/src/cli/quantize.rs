//! `trainer quantize`: post-training int8 quantization of an f32 model file,
//! calibrated on a built-in dataset's training split or a data file.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use ndarray::{Array2, ArrayView2};
use rrae_format::AlignedBytes;

use crate::basis::relative_error_percent;
use crate::data;
use crate::metrics::LoadedModel;
use crate::quantize::calibrate::Method;
use crate::quantize::model::F32Model;

/// Default calibration method (chosen by measurement: docs/TRAINING.md).
pub const DEFAULT_METHOD: &str = "minmax";
/// Most samples used for calibration (the first ones).
pub const DEFAULT_CALIBRATION_SAMPLES: usize = 2000;

/// Arguments of `trainer quantize`.
#[derive(Debug, Clone, Args)]
pub struct QuantizeArgs {
    /// The f32 model file.
    pub model: PathBuf,
    /// A built-in dataset: calibrate on its training split; report train and
    /// test errors.
    #[arg(long, conflicts_with = "data", required_unless_present = "data")]
    pub dataset: Option<String>,
    /// Calibration data file (the formats of `fit --data`), original units.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The int8 model file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Activation ranges: `minmax` or a percentile such as `p99.99`.
    #[arg(long, default_value = DEFAULT_METHOD)]
    pub calibration: Method,
    /// Calibrate on at most N samples (the first ones).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CALIBRATION_SAMPLES)]
    pub calibration_samples: usize,
}

/// What `quantize` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeReport {
    /// Test (or data-file) error of the f32 model, %.
    pub f32_error: f64,
    /// The same for the int8 model, %.
    pub int8_error: f64,
}

/// The first `n` rows of `x`.
fn first_rows<'a>(x: ArrayView2<'a, f32>, n: usize) -> ArrayView2<'a, f32> {
    x.slice_move(ndarray::s![..n.min(x.nrows()), ..])
}

/// Calibration and evaluation data: `(calibration, evaluation, name)`.
fn load(args: &QuantizeArgs) -> Result<(Array2<f32>, Array2<f32>, String)> {
    if let Some(path) = &args.data {
        let x = data::files::load_samples(path, None)
            .with_context(|| format!("loading {}", path.display()))?
            .x;
        return Ok((x.clone(), x, path.display().to_string()));
    }
    let name = args.dataset.as_deref().unwrap_or_default();
    let ds = data::synthetic::load(name).with_context(|| format!("loading dataset '{name}'"))?;
    Ok((ds.train, ds.test, format!("dataset '{name}'")))
}

/// Runs `trainer quantize`.
pub fn exec(args: QuantizeArgs) -> Result<()> {
    let raw =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let bytes = AlignedBytes::new(&raw);
    let file = rrae_format::read(&bytes)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("loading {}", args.model.display()))?;
    let model = F32Model::from_file(&file)?;
    let (calib, eval, name) = load(&args)?;
    if args.calibration_samples == 0 {
        return Err(anyhow!("--calibration-samples must be at least 1"));
    }
    let calib = first_rows(calib.view(), args.calibration_samples);
    let q = model.quantize(calib, args.calibration, &name)?;
    let f32_error = LoadedModel::new(&raw)?.rel_error(eval.view())?;
    let x_hat = q.reconstruct_reference(&model.normalizer, eval.view())?;
    let report = QuantizeReport {
        f32_error,
        int8_error: relative_error_percent(eval.view(), x_hat.view()),
    };
    println!(
        "{name}: f32 {:.4} %, int8 {:.4} % ({:.3}x; calibration {})",
        report.f32_error,
        report.int8_error,
        report.int8_error / report.f32_error,
        args.calibration
    );
    Ok(())
}
