//! `trainer predict`: reduced-order prediction for a new parameter value.
//! The coefficients are interpolated multilinearly from the training
//! coefficients stored in the model's parameter table
//! ([`crate::interp::ParamGrid`]) and decoded by the runtime.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Args;
use ndarray::Array2;

use crate::data;
use crate::metrics::LoadedModel;

/// Arguments of `trainer predict`.
#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// The model file (with a parameter table: trained on a built-in set).
    #[arg(long)]
    pub model: PathBuf,
    /// Parameter value; repeat once per parameter dimension, in order.
    #[arg(long = "param", required = true, allow_negative_numbers = true)]
    pub params: Vec<f64>,
    /// Output file (.npy or .csv, one row); without it the curve is printed,
    /// one value per line.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The decoded curve (`1 x input_dim`, original units) at `params`.
pub fn predict(loaded: &LoadedModel, params: &[f64]) -> Result<Array2<f32>> {
    let grid = loaded.param_grid()?.ok_or_else(|| {
        anyhow!("the model has no parameter table (train it on a built-in dataset)")
    })?;
    let p = Array2::from_shape_vec((1, params.len()), params.to_vec())?;
    loaded.predict(&grid, p.view())
}

/// Runs `trainer predict`.
pub fn exec(args: PredictArgs) -> Result<()> {
    let loaded = LoadedModel::from_path(&args.model)?;
    let y = predict(&loaded, &args.params)?;
    match &args.out {
        Some(out) => {
            data::files::write_matrix(out, y.view())?;
            println!("{} values -> {}", y.len(), out.display());
        }
        None => y.iter().for_each(|v| println!("{v}")),
    }
    Ok(())
}
