//! `trainer quantize`: int8 quantization of an f32 model file, calibrated on
//! a built-in dataset's training split or a data file: post-training, or
//! after quantization-aware fine-tuning (`--qat-steps`).

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use ndarray::{Array2, ArrayView2};

use crate::basis::relative_error_percent;
use crate::data;
use crate::metrics::LoadedModel;
use crate::quantize::calibrate::Method;
use crate::quantize::model::Options;
use crate::quantize::qat::{self, QatOptions};
use crate::quantize::write::{quantize_file, Quantized};

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
    /// One weight scale per layer instead of one per output channel.
    #[arg(long)]
    pub per_tensor: bool,
    /// Quantization-aware fine-tuning.
    #[command(flatten)]
    pub qat: QatArgs,
    /// Seed of the fine-tuning's minibatch draws (with --qat-steps).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The quantization-aware fine-tuning options (`trainer quantize`, `trainer
/// fit --quantize int8`).
#[derive(Debug, Clone, Args)]
pub struct QatArgs {
    /// Quantization-aware fine-tuning: N Adam steps through the
    /// fake-quantized int8 graph (straight-through estimator) before
    /// quantizing; `--qat-steps` alone: 1000.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = DEFAULT_QAT_STEPS)]
    pub qat_steps: Option<usize>,
    /// Learning rate of the fine-tuning (Adam).
    #[arg(long, value_name = "LR", default_value_t = qat::DEFAULT_LR, requires = "qat_steps")]
    pub qat_lr: f64,
}

/// `--qat-steps` without a value (chosen by measurement: docs/TRAINING.md).
const DEFAULT_QAT_STEPS: &str = "1000";

impl QatArgs {
    /// The fine-tuning these options ask for, seeded with `seed` (`None`:
    /// no `--qat-steps`, or 0 steps).
    pub fn options(&self, seed: u64) -> Option<QatOptions> {
        self.qat_steps.filter(|&n| n > 0).map(|n| QatOptions {
            lr: self.qat_lr,
            ..QatOptions::new(n, seed)
        })
    }
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

/// Relative error (%) of the int8 model on `x` through the runtime, checked
/// bit for bit against the reference kernels ([`crate::quantize::layer`]).
/// A runtime without int8 kernels (it rejects format 1.2 files) gives the
/// reference kernels' error and a warning on stderr.
///
/// # Errors
/// Reconstructions that differ from the reference's.
pub fn int8_error(q: &Quantized, x: ArrayView2<f32>) -> Result<f64> {
    let reference = q.networks.reconstruct_reference(&q.normalizer, x)?;
    let runtime = match LoadedModel::new(&q.bytes) {
        Ok(m) => m.reconstruct(x)?,
        Err(e) => {
            eprintln!("warning: the runtime cannot run the int8 model ({e:#}); errors from the trainer's reference int8 kernels");
            return Ok(relative_error_percent(x, reference.view()));
        }
    };
    if let Some((i, (a, b))) = runtime
        .iter()
        .zip(reference.iter())
        .enumerate()
        .find(|(_, (a, b))| a.to_bits() != b.to_bits())
    {
        return Err(anyhow!(
            "the runtime's int8 output differs from the reference kernels' at value {i}: {a} vs {b}"
        ));
    }
    Ok(relative_error_percent(x, runtime.view()))
}

/// Quantizes the model file `f32_bytes`, calibrated on the first `n` rows
/// of `data` (fine-tuned on all of them with `opts.qat`).
///
/// # Errors
/// As [`quantize_file`].
pub fn quantize_rows(
    f32_bytes: &[u8],
    data: ArrayView2<f32>,
    n: usize,
    opts: Options,
    what: &str,
) -> Result<Quantized> {
    if n == 0 {
        return Err(anyhow!("--calibration-samples must be at least 1"));
    }
    quantize_file(f32_bytes, first_rows(data, n), data, opts, what)
}

/// An int8 model and its errors.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The int8 model.
    pub q: Quantized,
    /// Its relative errors (%) on each evaluation set, through the runtime.
    pub errors: Vec<f64>,
    /// With fine-tuning, the errors of post-training quantization alone.
    pub ptq_errors: Option<Vec<f64>>,
}

/// [`quantize_rows`] and the errors of the result on each of `eval` (with
/// fine-tuning, also those of post-training quantization alone).
///
/// # Errors
/// As [`quantize_rows`] and [`int8_error`].
pub fn quantize_measured(
    f32_bytes: &[u8],
    data: ArrayView2<f32>,
    n: usize,
    opts: Options,
    what: &str,
    eval: &[ArrayView2<f32>],
) -> Result<Measured> {
    let errors =
        |q: &Quantized| -> Result<Vec<f64>> { eval.iter().map(|x| int8_error(q, *x)).collect() };
    let ptq_errors = match opts.qat {
        Some(_) => {
            let ptq = Options { qat: None, ..opts };
            Some(errors(&quantize_rows(f32_bytes, data, n, ptq, what)?)?)
        }
        None => None,
    };
    let q = quantize_rows(f32_bytes, data, n, opts, what)?;
    Ok(Measured {
        errors: errors(&q)?,
        q,
        ptq_errors,
    })
}

/// Runs `trainer quantize`.
pub fn exec(args: QuantizeArgs) -> Result<()> {
    let raw =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let (calib, eval, name) = load(&args)?;
    let opts = Options {
        calibration: args.calibration,
        per_tensor: args.per_tensor,
        qat: args.qat.options(args.seed),
    };
    let m = quantize_measured(
        &raw,
        calib.view(),
        args.calibration_samples,
        opts,
        &name,
        &[eval.view()],
    )
    .with_context(|| format!("quantizing {}", args.model.display()))?;
    crate::atomic::write(&args.out, &m.q.bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let f32_error = LoadedModel::new(&raw)?.rel_error(eval.view())?;
    let int8 = m.errors[0];
    let what = if args.dataset.is_some() {
        "test"
    } else {
        "data"
    };
    let qat = match (&opts.qat, &m.ptq_errors) {
        (Some(q), Some(ptq)) => format!(
            "; {} QAT steps, post-training int8 {:.4} % ({:.3}x)",
            q.steps,
            ptq[0],
            ptq[0] / f32_error
        ),
        _ => String::new(),
    };
    println!(
        "{name}: {what} error f32 {f32_error:.4} %, int8 {int8:.4} % ({:.3}x; calibration {} on {} samples{qat})",
        int8 / f32_error,
        args.calibration,
        calib.nrows().min(args.calibration_samples)
    );
    println!(
        "{} bytes -> {} ({} bytes)",
        raw.len(),
        args.out.display(),
        m.q.bytes.len()
    );
    Ok(())
}
