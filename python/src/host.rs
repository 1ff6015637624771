//! The batched host path of `Model.encode` / `decode` / `reconstruct` for
//! f32 models: whole batches at once, single-threaded, where the runtime
//! runs its `no_std` kernels one row at a time. Dense layers multiply with
//! faer's GEMM (2.2x the GEMM throughput of ndarray's `matrixmultiply` on
//! these shapes, measured in the python/README.md section on batch
//! inference), convolutions run the trainer's im2col layers, activations
//! the trainer's (SIMD tanh and sigmoid). Int8 models use the runtime.
//! Parity with the runtime is tested (`python/tests/test_host.py`).

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rrae_format::meta::{Basis, Layer, Normalization};
use rrae_format::ModelFile;
use rrae_trainer::nn::activation;
use rrae_trainer::nn::from_file::file_network;
use rrae_trainer::nn::{Dense, Layer as NetLayer, NetError, Network};

/// Rows per pass through the layers (bounds the intermediate arrays).
const CHUNK: usize = 4096;

/// One layer of the host form.
enum Stage {
    /// `act(x Wᵀ + b)`, the product by faer.
    Dense(Dense<f32>),
    /// A convolution or transposed convolution (a one-layer network).
    Conv(Network<f32>),
}

impl Stage {
    fn in_dim(&self) -> usize {
        match self {
            Stage::Dense(d) => d.in_dim(),
            Stage::Conv(n) => n.in_dim(),
        }
    }

    fn out_dim(&self) -> usize {
        match self {
            Stage::Dense(d) => d.out_dim(),
            Stage::Conv(n) => n.out_dim(),
        }
    }

    /// The layer on the rows of `x` (whose width the caller checked).
    fn run(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>, NetError> {
        match self {
            Stage::Conv(net) => net.predict(x),
            Stage::Dense(d) => Ok(dense(d, x)),
        }
    }
}

/// `act(x Wᵀ + b)` with faer's GEMM (`x` has `d.in_dim()` columns).
fn dense(d: &Dense<f32>, x: ArrayView2<'_, f32>) -> Array2<f32> {
    let (rows, inner, out) = (x.nrows(), d.in_dim(), d.out_dim());
    let x = x.as_standard_layout();
    let w = d.w.as_standard_layout();
    // Standard-layout arrays always have a slice; empty ones stay zeros.
    let mut z = Array2::<f32>::zeros((rows, out));
    if let (Some(xs), Some(ws), Some(zs)) = (x.as_slice(), w.as_slice(), z.as_slice_mut()) {
        matmul(
            MatMut::from_row_major_slice_mut(zs, rows, out),
            Accum::Replace,
            MatRef::from_row_major_slice(xs, rows, inner),
            MatRef::from_row_major_slice(ws, out, inner).transpose(),
            1.0f32,
            Par::Seq,
        );
    }
    z += &d.b;
    let mut a = Array2::<f32>::zeros((rows, out));
    activation::forward(d.act, z.view(), a.view_mut());
    a
}

/// Layers applied in order (never empty).
struct Stack(Vec<Stage>);

impl Stack {
    /// The stack applied to every row of `x` (chunks of [`CHUNK`] rows).
    fn predict(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>, NetError> {
        let out_dim = self.0.last().map_or(0, Stage::out_dim);
        let mut out = Array2::zeros((x.nrows(), out_dim));
        for (chunk, mut dst) in x
            .axis_chunks_iter(Axis(0), CHUNK)
            .zip(out.axis_chunks_iter_mut(Axis(0), CHUNK))
        {
            let mut cur: Option<Array2<f32>> = None;
            for (layer, stage) in self.0.iter().enumerate() {
                let input = cur.as_ref().map_or(chunk, |c| c.view());
                if input.ncols() != stage.in_dim() {
                    return Err(NetError::Width {
                        layer,
                        expected: stage.in_dim(),
                        got: input.ncols(),
                    });
                }
                cur = Some(stage.run(input)?);
            }
            if let Some(cur) = cur {
                dst.assign(&cur);
            }
        }
        Ok(out)
    }
}

/// An f32 model ready for whole-batch evaluation.
pub struct Host {
    /// Per-feature `(shift, scale)`, if the file normalizes.
    norm: Option<(Array1<f32>, Array1<f32>)>,
    enc: Stack,
    dec: Stack,
    /// `U_k` (`latent x rank`) when the basis is not folded.
    u: Option<Array2<f32>>,
    rank: usize,
}

/// The file's `layers` as host stages, or `None` if one is quantized.
fn network(file: &ModelFile<'_>, layers: &[Layer]) -> Option<Stack> {
    let net = file_network(file, layers, "layers").ok()?;
    let mut stages = Vec::with_capacity(net.layers.len());
    for layer in net.layers {
        stages.push(match layer {
            NetLayer::Dense(d) => Stage::Dense(d),
            conv => Stage::Conv(Network::new(vec![conv]).ok()?),
        });
    }
    Some(Stack(stages))
}

impl Host {
    /// The host form of a validated file, or `None` if it has a quantized
    /// layer.
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
