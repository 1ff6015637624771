//! Evaluation through the exported file: reconstruction errors computed by
//! running the `.rrae` bytes in `rrae_runtime` (so the figures describe what
//! is deployed), model size figures, and the `metrics.json` record.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use ndarray::{Array2, ArrayView2};
use rrae_format::meta::Layer;
use rrae_format::{AlignedBytes, ModelMeta};
use rrae_runtime::Model;
use serde::{Deserialize, Serialize};

use crate::basis::relative_error_percent;
use crate::interp::ParamGrid;

/// Flash sizes we warn about (bytes).
pub const FLASH_LIMITS: [(usize, &str); 2] = [(256 * 1024, "256 kB"), (1024 * 1024, "1 MB")];

/// A model file loaded into an aligned buffer, ready for the runtime.
pub struct LoadedModel {
    bytes: AlignedBytes,
}

impl LoadedModel {
    /// Copies `bytes` into an aligned buffer and validates them once.
    pub fn new(bytes: &[u8]) -> Result<Self> {
        let loaded = Self {
            bytes: AlignedBytes::new(bytes),
        };
        loaded.model()?;
        Ok(loaded)
    }

    /// Reads and validates the model file at `path`.
    pub fn from_path(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::new(&bytes).with_context(|| format!("loading {}", path.display()))
    }

    /// The runtime's view of the file.
    pub fn model(&self) -> Result<Model<'_>> {
        // The runtime's message already says "invalid model file".
        Model::from_bytes(&self.bytes).map_err(|e| anyhow!("{e}"))
    }

    /// The file's parameter table (training parameters and coefficients)
    /// arranged on its grid; `None` if the file has no table.
    pub fn param_grid(&self) -> Result<Option<ParamGrid>> {
        let file =
            rrae_format::read(&self.bytes).map_err(|e| anyhow!("invalid model file: {e}"))?;
        let Some(t) = file.meta.params else {
            return Ok(None);
        };
        let (n, d, k) = (
            t.count as usize,
            t.param_dim as usize,
            file.meta.rank as usize,
        );
        let table = |r, cols| {
            let v: Vec<f64> = file.tensor(r).iter().map(|&v| f64::from(v)).collect();
            Array2::from_shape_vec((n, cols), v)
                .map_err(|_| anyhow!("the parameter table does not match its stated shape"))
        };
        let (params, coeffs) = (table(t.params, d)?, table(t.coeffs, k)?);
        Ok(Some(ParamGrid::new(params.view(), coeffs.view())?))
    }

    /// Coefficients of `params` (`n x d`) interpolated from the parameter
    /// table and decoded (`n x input_dim`, original units).
    pub fn predict(&self, grid: &ParamGrid, params: ArrayView2<f64>) -> Result<Array2<f32>> {
        let alpha = grid.interpolate_rows(params)?.mapv(|v| v as f32);
        self.decode(alpha.view())
    }

    /// The paper's test error: `100 · ‖X̂ − X‖_F / ‖X‖_F` where `X̂` decodes
    /// the coefficients interpolated at the test parameters `params` from
    /// the training ones. `None` if the file has no parameter table.
    pub fn interp_rel_error(
        &self,
        params: ArrayView2<f64>,
        x: ArrayView2<f32>,
    ) -> Result<Option<f64>> {
        let Some(grid) = self.param_grid()? else {
            return Ok(None);
        };
        let x_hat = self.predict(&grid, params)?;
        Ok(Some(relative_error_percent(x, x_hat.view())))
    }

    /// Applies the runtime operation `op(model, row, out, scratch)` to every
    /// row of `x`, giving `n x out_cols`; `what` names the rows in errors.
    fn map_rows(
        &self,
        x: ArrayView2<f32>,
        in_cols: usize,
        out_cols: usize,
        what: &str,
        op: impl Fn(&Model<'_>, &[f32], &mut [f32], &mut [f32]) -> Result<(), rrae_runtime::Error>,
    ) -> Result<Array2<f32>> {
        let model = self.model()?;
        if x.ncols() != in_cols {
            return Err(anyhow!(
                "{what} have {} values per row, the model expects {in_cols}",
                x.ncols()
            ));
        }
        let mut scratch = vec![0.0f32; model.scratch_len()];
        let mut out = Array2::zeros((x.nrows(), out_cols));
        let mut row = vec![0.0f32; x.ncols()];
        for (xr, mut or) in x.rows().into_iter().zip(out.rows_mut()) {
            row.iter_mut().zip(xr).for_each(|(d, &s)| *d = s);
            let dst = or
                .as_slice_mut()
                .ok_or_else(|| anyhow!("non-contiguous output"))?;
            op(&model, &row, dst, &mut scratch).map_err(|e| anyhow!("runtime: {e}"))?;
        }
        Ok(out)
    }

    /// Reconstructs every row of `x` (original units) with the runtime.
    pub fn reconstruct(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let d = self.model()?.input_dim();
        self.map_rows(x, d, d, "data", |m, x, o, s| m.reconstruct(x, o, s))
    }

    /// Coefficients (`n x rank`) of every row of `x` (original units).
    pub fn encode(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let m = self.model()?;
        self.map_rows(x, m.input_dim(), m.rank(), "data", |m, x, o, s| {
            m.encode(x, o, s)
        })
    }

    /// Decodes every row of `alpha` (`n x rank`) with the runtime, in
    /// original units (`n x input_dim`).
    pub fn decode(&self, alpha: ArrayView2<f32>) -> Result<Array2<f32>> {
        let m = self.model()?;
        self.map_rows(
            alpha,
            m.rank(),
            m.input_dim(),
            "coefficients",
            |m, a, o, s| m.decode(a, o, s),
        )
    }

    /// `100 · ‖X̂ − X‖_F / ‖X‖_F` of the runtime's reconstruction of `x`.
    pub fn rel_error(&self, x: ArrayView2<f32>) -> Result<f64> {
        Ok(relative_error_percent(x, self.reconstruct(x)?.view()))
    }
}

/// Parameter count and weight bytes of the deployed networks (encoder and
/// decoder layers: weights and biases, 4 bytes each, or 1 byte for an int8
/// weight; basis, sampler, scales and tables excluded).
pub fn model_size(meta: &ModelMeta<'_>) -> (usize, usize) {
    meta.encoder
        .iter()
        .chain(meta.decoder.iter())
        .map(|l: &Layer| {
            let (w, b) = (l.weight().len as usize, l.bias().len as usize);
            let w_bytes = if l.is_quantized() { w } else { 4 * w };
            (w + b, w_bytes + 4 * b)
        })
        .fold((0, 0), |(p, n), (a, b)| (p + a, n + b))
}

/// The flash sizes a model of `weight_bytes` exceeds, as warnings.
pub fn flash_warnings(weight_bytes: usize) -> Vec<String> {
    FLASH_LIMITS
        .iter()
        .filter(|(limit, _)| weight_bytes > *limit)
        .map(|(_, name)| {
            format!("warning: weights ({weight_bytes} bytes) exceed a typical {name} flash part")
        })
        .collect()
}

/// The model `trainer fit` exported as `model.rrae`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportedKind {
    /// The trained RRAE.
    #[default]
    Rrae,
    /// The linear autoencoder (truncated SVD at the same k).
    Linear,
}

/// The contents of `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Dataset name or data file.
    pub dataset: String,
    /// Rank (the final one for `--adaptive`).
    pub k: usize,
    /// Which model `model.rrae` holds (`"rrae"` or `"linear"`).
    #[serde(default)]
    pub model_kind: ExportedKind,
    /// `[step, k]` at every change of rank during an adaptive run (first
    /// entry at step 0; empty for a fixed rank).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub k_history: Vec<[usize; 2]>,
    /// Every candidate the staged adaptive search judged: rank, step,
    /// training loss, validation error, the linear model's validation error,
    /// both thresholds, whether it had a fresh restart, verdict (adaptive
    /// runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub k_judgements: Vec<crate::train::adaptive::Judgement>,
    /// The `--restarts` candidates: seed, mean loss of their trial, which one
    /// training continued from (empty without restarts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<crate::train::Restart>,
    /// The recipe trained (`mlp-64`, `coord-64`, …; docs/TRAINING.md).
    #[serde(default)]
    pub recipe: String,
    /// The `--recipe auto` candidates: label, validation error after the
    /// trial, trial steps, which one was chosen (empty without a search).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipes: Vec<crate::train::recipe::CandidateScore>,
    /// Whether the chosen recipe was trained afresh on all training samples
    /// (fewer than `recipe::REFIT_BELOW` validation samples).
    #[serde(default)]
    pub refit: bool,
    /// Latent width L.
    pub latent_dim: usize,
    /// Features per sample.
    pub input_dim: usize,
    /// Training samples (validation samples included).
    pub n_train: usize,
    /// Training samples the gradient steps saw.
    #[serde(default)]
    pub n_fit: usize,
    /// Training samples held out for validation (0: no validation).
    #[serde(default)]
    pub n_val: usize,
    /// Test samples.
    pub n_test: usize,
    /// Relative error (%) on the training set, original units, through the exported file.
    pub train_rel_error: f64,
    /// Relative error (%) on the test set, original units, through the exported file.
    pub test_rel_error: f64,
    /// Relative error (%) on the test set when the test coefficients are
    /// interpolated over the training parameters and decoded (datasets with
    /// parameters only; the paper's test figure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_interp_rel_error: Option<f64>,
    /// Truncated SVD of the training data at the same k, applied to the test set (%).
    pub linear_baseline_test_rel_error: f64,
    /// The RRAE's relative error (%) on the validation samples, original
    /// units, through its exported file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_rel_error: Option<f64>,
    /// The linear model's (fitted on the same samples as the RRAE)
    /// validation error (%), through its exported file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_val_rel_error: Option<f64>,
    /// The linear variant compared on validation or exported (`"svd"`:
    /// the truncated SVD of the raw data, the linear baseline; `"pca"`:
    /// around the mean sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_kind: Option<crate::train::LinearKind>,
    /// The RRAE's test error (%) when `model.rrae` is the linear model
    /// (the RRAE is then `model-rrae.rrae`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrae_test_rel_error: Option<f64>,
    /// Step whose parameters the RRAE kept (the best validation error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_step: Option<usize>,
    /// `[step, validation error %]` of every evaluation during training.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub val_history: Vec<(usize, f64)>,
    /// Singular values of the final training latents (of the normalized
    /// training data for the linear model).
    pub singular_values: Vec<f64>,
    /// Training wall time (s; adaptive runs: search and fit).
    pub wall_seconds: f64,
    /// Optimizer steps (main phase; for an adaptive run, the fit at the
    /// chosen rank, after `search_steps`).
    pub steps: usize,
    /// Optimizer steps of the adaptive rank search (adaptive runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_steps: Option<usize>,
    /// Decoder fine-tuning steps.
    pub finetune_steps: usize,
    /// Last batch loss of the main phase (%).
    pub final_batch_loss: f64,
    /// Parameters of the deployed networks.
    pub param_count: usize,
    /// Bytes of those parameters (f32).
    pub weight_bytes: usize,
    /// Size of model.rrae.
    pub file_bytes: usize,
    /// Whether the basis is folded into the layers.
    pub folded: bool,
    /// The int8 model beside it (`fit --quantize int8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8: Option<Int8Metrics>,
    /// The resolved hyperparameters.
    pub config: crate::config::TrainConfig,
}

/// The int8 model `trainer fit --quantize int8` writes beside `model.rrae`,
/// measured through the runtime like the f32 one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Int8Metrics {
    /// File name, in the same directory.
    pub file: String,
    /// Calibration method (`minmax` or `pNN`).
    pub calibration: String,
    /// One weight scale per layer (else per output channel).
    pub per_tensor: bool,
    /// Training samples calibrated on.
    pub calibration_samples: usize,
    /// Relative error (%) on the training set, original units.
    pub train_rel_error: f64,
    /// Relative error (%) on the test set, original units.
    pub test_rel_error: f64,
    /// Size of the int8 file.
    pub file_bytes: usize,
    /// Quantization-aware fine-tuning steps (0: post-training quantization).
    #[serde(default)]
    pub qat_steps: usize,
    /// With fine-tuning: the training-set error (%) of post-training
    /// quantization alone (before fine-tuning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptq_train_rel_error: Option<f64>,
    /// With fine-tuning: the test-set error (%) before fine-tuning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptq_test_rel_error: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_warnings_by_size() {
        assert!(flash_warnings(100_000).is_empty());
        assert_eq!(flash_warnings(300_000).len(), 1);
        assert_eq!(flash_warnings(2_000_000).len(), 2);
    }

    #[test]
    fn rejects_garbage_bytes() {
        assert!(LoadedModel::new(b"not a model").is_err());
    }
}
