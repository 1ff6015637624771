//! A trained RRAE in the trainer's own (unfolded) form and its inference
//! path: `α = U_kᵀ e(x)`, `x̂ = d(U_k α)`, on normalized data. This is the
//! oracle the exported, folded model is checked against.

use anyhow::{Context, Result};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::data::Normalizer;
use crate::nn::{Activation, Dense, Layer, NetError, Network};
use crate::{basis, export};

/// How the linear model ([`RraeModel::linear`]) centers the data before
/// its truncated SVD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinearKind {
    /// `x̂ = x V_k V_kᵀ`, the SVD of the raw data (the trainer's linear
    /// baseline).
    Svd,
    /// `x̂ = μ + (x − μ) V_k V_kᵀ`, principal components around the mean
    /// sample `μ`.
    Pca,
}

/// One dense identity layer `x Wᵀ + b` (f64 parameters stored as f32).
fn dense(w: Array2<f64>, b: Array1<f64>) -> Result<Network<f32>, NetError> {
    Network::new(vec![Layer::Dense(Dense {
        w: w.mapv(|v| v as f32),
        b: b.mapv(|v| v as f32),
        act: Activation::Identity,
    })])
}

/// Encoder, decoder and global basis of a trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RraeModel {
    /// `input -> latent` network.
    pub encoder: Network<f32>,
    /// `latent -> input` network.
    pub decoder: Network<f32>,
    /// Global basis `U_k`, `latent x k`, orthonormal columns ordered by
    /// singular value.
    pub u_k: Array2<f32>,
    /// Singular values of the final training latents (all of them).
    pub singular_values: Vec<f64>,
}

impl RraeModel {
    /// The linear autoencoder of rank `k` fitted on `raw` (original units,
    /// `n x input`): `x̂ = m + (x − m) V_k V_kᵀ` with `m` = 0 for
    /// [`LinearKind::Svd`] and the mean sample for [`LinearKind::Pca`], `V_k`
    /// the top right singular vectors of `raw − m`. It is written for inputs
    /// normalized by `normalizer` (what the file's layers see): a one-layer
    /// identity encoder and decoder (affine), latent width k and basis
    /// `I_k`, so it exports and runs like any RRAE.
    ///
    /// # Errors
    /// `k` outside `1..=min(n, input)`, non-finite data, or a normalizer of
    /// another width.
    ///
    /// ```
    /// use ndarray::array;
    /// use rrae_trainer::data::Normalizer;
    /// use rrae_trainer::train::{LinearKind, RraeModel};
    /// let x = array![[1.0f32, 2.0, 0.0], [2.0, 4.0, 0.0], [-1.0, -2.0, 0.0]];
    /// let m = RraeModel::linear(x.view(), &Normalizer::None, 1, LinearKind::Svd).unwrap();
    /// let back = m.reconstruct(x.view()).unwrap();
    /// assert!((&back - &x).iter().all(|d| d.abs() < 1e-5));
    /// ```
    pub fn linear(
        raw: ArrayView2<f32>,
        normalizer: &Normalizer,
        k: usize,
        kind: LinearKind,
    ) -> Result<Self> {
        let d = raw.ncols();
        let x = raw.mapv(f64::from);
        let m = match kind {
            LinearKind::Svd => Array1::zeros(d),
            LinearKind::Pca => x.mean_axis(Axis(0)).context("no samples to fit")?,
        };
        let centered = (&x - &m).mapv(|v| v as f32);
        let gb = basis::global_basis(centered.view(), k).context("fitting the linear model")?;
        let v = gb.u_k;
        let (s, c) = export::shift_scale(normalizer, d)?.unwrap_or((vec![0.0; d], vec![1.0; d]));
        let (s, c) = (Array1::from(s), Array1::from(c));
        // α = V_kᵀ (c ⊙ x_n + s − m);  x̂_n = (V_k α + m − s) / c.
        let encoder = dense(&v.t() * &c, v.t().dot(&(&s - &m)))?;
        let decoder = dense(&v / &c.view().insert_axis(Axis(1)), (&m - &s) / &c)?;
        Ok(Self {
            encoder,
            decoder,
            u_k: Array2::eye(k),
            singular_values: gb.singular_values,
        })
    }

    /// Features per sample.
    pub fn input_dim(&self) -> usize {
        self.encoder.in_dim()
    }

    /// Latent width L.
    pub fn latent_dim(&self) -> usize {
        self.u_k.nrows()
    }

    /// Coefficients kept (k).
    pub fn rank(&self) -> usize {
        self.u_k.ncols()
    }

    /// Trainable values in the encoder and decoder (unfolded).
    pub fn param_count(&self) -> usize {
        self.encoder.param_count() + self.decoder.param_count()
    }

    /// Coefficients `α = U_kᵀ e(x)` of every row (`n x k`).
    ///
    /// # Errors
    /// Rows of the wrong width (or networks that do not chain).
    pub fn encode(&self, x: ArrayView2<f32>) -> Result<Array2<f32>, NetError> {
        Ok(self.encoder.predict(x)?.dot(&self.u_k))
    }

    /// `d(U_k α)` for every row of `alpha` (`n x k` -> `n x input`).
    ///
    /// # Errors
    /// As [`RraeModel::encode`].
    pub fn decode(&self, alpha: ArrayView2<f32>) -> Result<Array2<f32>, NetError> {
        if alpha.ncols() != self.rank() {
            return Err(NetError::Width {
                layer: 0,
                expected: self.rank(),
                got: alpha.ncols(),
            });
        }
        self.decoder.predict(alpha.dot(&self.u_k.t()).view())
    }

    /// `decode(encode(x))`.
    ///
    /// # Errors
    /// As [`RraeModel::encode`].
    pub fn reconstruct(&self, x: ArrayView2<f32>) -> Result<Array2<f32>, NetError> {
        self.decode(self.encode(x)?.view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::NormKind;

    /// Rank-1 data around a non-zero mean: PCA at k = 1 is exact, the
    /// uncentered SVD needs k = 2; both through a global normalization.
    #[test]
    fn linear_models_are_exact_at_the_rank_of_their_data() {
        let x = Array2::from_shape_fn((9, 5), |(i, j)| {
            3.0 + (i as f32 - 4.0) * (j as f32 + 1.0) * 0.5
        });
        let norm = Normalizer::fit(NormKind::Global, x.view()).unwrap();
        let xn = norm.apply(x.view()).unwrap();
        let err = |kind, k| {
            let m = RraeModel::linear(x.view(), &norm, k, kind).unwrap();
            let back = norm
                .invert(m.reconstruct(xn.view()).unwrap().view())
                .unwrap();
            basis::relative_error_percent(x.view(), back.view())
        };
        assert!(err(LinearKind::Pca, 1) < 1e-3);
        assert!(err(LinearKind::Svd, 1) > 1.0);
        assert!(err(LinearKind::Svd, 2) < 1e-3);
        assert!(RraeModel::linear(x.view(), &norm, 6, LinearKind::Pca).is_err());
    }
}
