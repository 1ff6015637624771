//! The batched host path of `Model.encode` / `decode` / `reconstruct` for
//! dense-only models: the file's layers become the trainer's
//! `Network<f32>`, which multiplies whole batches at once (ndarray's blocked
//! GEMM, single-threaded) where the runtime runs its `no_std` kernels one
//! row at a time. Models with other layers (convolutions) use the runtime.
//! Parity with the runtime is tested (`python/tests/test_host.py`).

use ndarray::{s, Array1, Array2, ArrayView2};
use rrae_format::meta::{Basis, Layer, Normalization};
use rrae_format::ModelFile;
use rrae_trainer::nn::{Dense, Layer as NetLayer, NetError, Network};

/// A dense-only model ready for whole-batch evaluation.
pub struct Host {
    /// Per-feature `(shift, scale)`, if the file normalizes.
    norm: Option<(Array1<f32>, Array1<f32>)>,
    enc: Network<f32>,
    dec: Network<f32>,
    /// `U_k` (`latent x rank`) when the basis is not folded.
    u: Option<Array2<f32>>,
    rank: usize,
}

/// The file's `layers` as a trainer network, or `None` if one is not dense.
fn network(file: &ModelFile<'_>, layers: &[Layer]) -> Option<Network<f32>> {
    let mut net = Vec::with_capacity(layers.len());
    for l in layers {
        let Layer::Dense {
            in_dim,
            out_dim,
            weight,
            bias,
            activation,
        } = *l
        else {
            return None;
        };
        let w = Array2::from_shape_vec(
            (out_dim as usize, in_dim as usize),
            file.tensor(weight).to_vec(),
        )
        .ok()?;
        let b = Array1::from(file.tensor(bias).to_vec());
        net.push(NetLayer::Dense(Dense {
            w,
            b,
            act: activation,
        }));
    }
    Network::new(net).ok()
}

impl Host {
    /// The host form of a validated file, or `None` if it has a layer
    /// other than dense.
    pub fn new(bytes: &[u8]) -> Option<Host> {
        let file = rrae_format::read(bytes).ok()?;
        let meta = &file.meta;
        let d = meta.input_dim as usize;
        let norm = match meta.normalization {
            Normalization::None => None,
            Normalization::Global { shift, scale } => {
                Some((Array1::from_elem(d, shift), Array1::from_elem(d, scale)))
            }
            Normalization::PerFeature { shift, scale } => Some((
                Array1::from(file.tensor(shift).to_vec()),
                Array1::from(file.tensor(scale).to_vec()),
            )),
        };
        let rank = meta.rank as usize;
        let u = match meta.basis {
            Basis::Separate { u } => Some(
                Array2::from_shape_vec((meta.latent_dim as usize, rank), file.tensor(u).to_vec())
                    .ok()?,
            ),
            Basis::Folded { .. } => None,
        };
        Some(Host {
            norm,
            enc: network(&file, &meta.encoder)?,
            dec: network(&file, &meta.decoder)?,
            u,
            rank,
        })
    }

    /// Coefficients `(N, rank)` of the rows of `x`.
    pub fn encode(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>, NetError> {
        let y = match &self.norm {
            Some((shift, scale)) => self.enc.predict(((&x - shift) / scale).view())?,
            None => self.enc.predict(x)?,
        };
        Ok(match &self.u {
            Some(u) => y.dot(u),
            None => y,
        })
    }

    /// Rows decoded from the coefficients `a` (`(N, k')`, `k' <= rank`;
    /// the missing coefficients count as zero).
    pub fn decode(&self, a: ArrayView2<'_, f32>) -> Result<Array2<f32>, NetError> {
        let k = a.ncols().min(self.rank);
        let a = a.slice(s![.., ..k]);
        let y = match &self.u {
            Some(u) => a.dot(&u.slice(s![.., ..k]).t()),
            None => {
                let mut full = Array2::zeros((a.nrows(), self.rank));
                full.slice_mut(s![.., ..k]).assign(&a);
                full
            }
        };
        let x_hat = self.dec.predict(y.view())?;
        Ok(match &self.norm {
            Some((shift, scale)) => x_hat * scale + shift,
            None => x_hat,
        })
    }

    /// `decode(encode(x))`.
    pub fn reconstruct(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>, NetError> {
        self.decode(self.encode(x)?.view())
    }
}
