//! A trained RRAE in the trainer's own (unfolded) form and its inference
//! path: `α = U_kᵀ e(x)`, `x̂ = d(U_k α)`, on normalized data. This is the
//! oracle the exported, folded model is checked against.

use anyhow::{Context, Result};
use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::basis;
use crate::nn::{Activation, Dense, Layer, NetError, Network};

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
    /// The linear autoencoder of rank `k` fitted on `data` (normalized,
    /// `n x input`): the truncated SVD `x̂ = x V_k V_kᵀ` as a one-layer
    /// identity encoder `V_kᵀ` and decoder `V_k`, latent width k and basis
    /// `I_k`, so it exports and runs like any RRAE.
    ///
    /// # Errors
    /// `k` outside `1..=min(n, input)`, or non-finite data.
    ///
    /// ```
    /// use ndarray::array;
    /// use rrae_trainer::train::RraeModel;
    /// let x = array![[1.0f32, 2.0, 0.0], [2.0, 4.0, 0.0], [-1.0, -2.0, 0.0]];
    /// let m = RraeModel::linear(x.view(), 1).unwrap();
    /// let back = m.reconstruct(x.view()).unwrap();
    /// assert!((&back - &x).iter().all(|d| d.abs() < 1e-5));
    /// ```
    pub fn linear(data: ArrayView2<f32>, k: usize) -> Result<Self> {
        let gb = basis::global_basis(data, k).context("fitting the linear model")?;
        let v = gb.u_k.mapv(|x| x as f32);
        let dense = |w: Array2<f32>| {
            Network::new(vec![Layer::Dense(Dense {
                b: Array1::zeros(w.nrows()),
                w,
                act: Activation::Identity,
            })])
        };
        Ok(Self {
            encoder: dense(v.t().to_owned())?,
            decoder: dense(v)?,
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
