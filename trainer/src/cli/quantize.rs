//! `trainer quantize`: post-training int8 quantization of an f32 model file,
//! calibrated on a built-in dataset's training split or a data file.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use ndarray::{Array2, ArrayView2};

use crate::basis::relative_error_percent;
use crate::data;
use crate::metrics::LoadedModel;
use crate::quantize::calibrate::Method;
use crate::quantize::model::Options;
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

/// Quantizes the model file `f32_bytes` on the first `n` rows of `calib`.
///
/// # Errors
/// As [`quantize_file`].
pub fn quantize_rows(
    f32_bytes: &[u8],
    calib: ArrayView2<f32>,
    n: usize,
    opts: Options,
    what: &str,
) -> Result<Quantized> {
    if n == 0 {
        return Err(anyhow!("--calibration-samples must be at least 1"));
    }
    quantize_file(f32_bytes, first_rows(calib, n), opts, what)
}

/// Runs `trainer quantize`.
pub fn exec(args: QuantizeArgs) -> Result<()> {
    let raw =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let (calib, eval, name) = load(&args)?;
    let q = quantize_rows(
        &raw,
        calib.view(),
        args.calibration_samples,
        Options {
            calibration: args.calibration,
            per_tensor: args.per_tensor,
        },
        &name,
    )
    .with_context(|| format!("quantizing {}", args.model.display()))?;
    crate::atomic::write(&args.out, &q.bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let f32_error = LoadedModel::new(&raw)?.rel_error(eval.view())?;
    let int8 = int8_error(&q, eval.view())?;
    let what = if args.dataset.is_some() {
        "test"
    } else {
        "data"
    };
    println!(
        "{name}: {what} error f32 {f32_error:.4} %, int8 {int8:.4} % ({:.3}x; calibration {} on {} samples)",
        int8 / f32_error,
        args.calibration,
        calib.nrows().min(args.calibration_samples)
    );
    println!(
        "{} bytes -> {} ({} bytes)",
        raw.len(),
        args.out.display(),
        q.bytes.len()
    );
    Ok(())
}
