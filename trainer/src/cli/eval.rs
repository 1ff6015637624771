//! `trainer eval`: reconstruction errors of a model file (through the
//! runtime, original units) on a built-in dataset or a data file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use crate::basis;
use crate::data;
use crate::metrics::LoadedModel;

/// Arguments of `trainer eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// The model file.
    #[arg(long)]
    pub model: PathBuf,
    /// A built-in dataset (train and test errors, linear baseline).
    #[arg(long, conflicts_with = "data", required_unless_present = "data")]
    pub dataset: Option<String>,
    /// A data file or image directory (the formats of `fit --data`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the model's reconstructions of `--data` (one row per
    /// sample, original units) to this .npy or .csv file.
    #[arg(long, requires = "data")]
    pub reconstructions: Option<PathBuf>,
}

/// The figures `eval` reports (relative errors in %).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Dataset name or file.
    pub dataset: String,
    /// Rank of the model.
    pub k: usize,
    /// Error on the training split (built-in sets only).
    pub train_rel_error: Option<f64>,
    /// Error on the test split (or the whole file).
    pub test_rel_error: f64,
    /// Truncated SVD of the training split at the same k (built-in sets only).
    pub linear_baseline_test_rel_error: Option<f64>,
}

/// Computes the report.
pub fn evaluate(args: &EvalArgs) -> Result<EvalReport> {
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let loaded =
        LoadedModel::new(&bytes).with_context(|| format!("loading {}", args.model.display()))?;
    let k = loaded.model()?.rank();
    if let Some(path) = &args.data {
        let x = data::files::load_samples(path, None)
            .with_context(|| format!("loading {}", path.display()))?
            .x;
        if let Some(out) = &args.reconstructions {
            let x_hat = loaded.reconstruct(x.view())?;
            data::files::write_matrix(out, x_hat.view())
                .with_context(|| format!("writing {}", out.display()))?;
        }
        return Ok(EvalReport {
            dataset: path.display().to_string(),
            k,
            train_rel_error: None,
            test_rel_error: loaded
                .rel_error(x.view())
                .with_context(|| format!("evaluating on {}", path.display()))?,
            linear_baseline_test_rel_error: None,
        });
    }
    let name = args.dataset.as_deref().unwrap_or_default();
    let ds = data::synthetic::load(name).with_context(|| format!("loading dataset '{name}'"))?;
    Ok(EvalReport {
        dataset: ds.name.clone(),
        k,
        train_rel_error: Some(loaded.rel_error(ds.train.view())?),
        test_rel_error: loaded.rel_error(ds.test.view())?,
        linear_baseline_test_rel_error: Some(basis::linear_baseline(
            ds.train.view(),
            ds.test.view(),
            k,
        )?),
    })
}

/// Runs `trainer eval`.
pub fn exec(args: EvalArgs) -> Result<()> {
    let r = evaluate(&args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!("dataset: {} (k = {})", r.dataset, r.k);
    if let Some(e) = r.train_rel_error {
        println!("train_rel_error: {e:.4} %");
    }
    println!("test_rel_error: {:.4} %", r.test_rel_error);
    if let Some(e) = r.linear_baseline_test_rel_error {
        println!("linear_baseline_test_rel_error: {e:.4} %");
    }
    Ok(())
}
