//! Evaluation through the exported file: reconstruction errors computed by
//! running the `.rrae` bytes in `rrae_runtime` (so the figures describe what
//! is deployed), model size figures, and the `metrics.json` record.

use anyhow::{anyhow, Result};
use ndarray::{Array2, ArrayView2};
use rrae_format::meta::Layer;
use rrae_format::{AlignedBytes, ModelMeta};
use rrae_runtime::Model;
use serde::{Deserialize, Serialize};

use crate::basis::relative_error_percent;

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

    /// The runtime's view of the file.
    pub fn model(&self) -> Result<Model<'_>> {
        Model::from_bytes(&self.bytes).map_err(|e| anyhow!("invalid model file: {e}"))
    }

    /// Reconstructs every row of `x` (original units) with the runtime.
    pub fn reconstruct(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let model = self.model()?;
        if x.ncols() != model.input_dim() {
            return Err(anyhow!(
                "data has {} features, the model expects {}",
                x.ncols(),
                model.input_dim()
            ));
        }
        let mut scratch = vec![0.0f32; model.scratch_len()];
        let mut out = Array2::zeros(x.raw_dim());
        let mut row = vec![0.0f32; x.ncols()];
        for (xr, mut or) in x.rows().into_iter().zip(out.rows_mut()) {
            row.iter_mut().zip(xr).for_each(|(d, &s)| *d = s);
            let dst = or
                .as_slice_mut()
                .ok_or_else(|| anyhow!("non-contiguous output"))?;
            model
                .reconstruct(&row, dst, &mut scratch)
                .map_err(|e| anyhow!("runtime: {e}"))?;
        }
        Ok(out)
    }

    /// `100 · ‖X̂ − X‖_F / ‖X‖_F` of the runtime's reconstruction of `x`.
    pub fn rel_error(&self, x: ArrayView2<f32>) -> Result<f64> {
        Ok(relative_error_percent(x, self.reconstruct(x)?.view()))
    }
}

/// Parameter count and weight bytes of the deployed networks (encoder and
/// decoder layers; basis, sampler and tables excluded).
pub fn model_size(meta: &ModelMeta<'_>) -> (usize, usize) {
    let params: usize = meta
        .encoder
        .iter()
        .chain(meta.decoder.iter())
        .map(|l| match l {
            Layer::Dense { weight, bias, .. } => (weight.len + bias.len) as usize,
        })
        .sum();
    (params, params * 4)
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

/// The contents of `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Dataset name or data file.
    pub dataset: String,
    /// Rank.
    pub k: usize,
    /// Latent width L.
    pub latent_dim: usize,
    /// Features per sample.
    pub input_dim: usize,
    /// Training samples.
    pub n_train: usize,
    /// Test samples.
    pub n_test: usize,
    /// Relative error (%) on the training set, original units, through the exported file.
    pub train_rel_error: f64,
    /// Relative error (%) on the test set, original units, through the exported file.
    pub test_rel_error: f64,
    /// Truncated SVD of the training data at the same k, applied to the test set (%).
    pub linear_baseline_test_rel_error: f64,
    /// Singular values of the final training latents.
    pub singular_values: Vec<f64>,
    /// Training wall time (s).
    pub wall_seconds: f64,
    /// Optimizer steps (main phase).
    pub steps: usize,
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
    /// The resolved hyperparameters.
    pub config: crate::config::TrainConfig,
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
