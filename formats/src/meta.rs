//! The model's metadata: everything about a model except the weight bytes.
//!
//! Encoded with postcard between the header and the weights section. Every
//! type here decodes without allocation: lists are `heapless::Vec`s with fixed
//! capacities, strings borrow from the file.

use heapless::Vec;
use serde::{Deserialize, Serialize};

/// Most layers an encoder or a decoder may have.
pub const MAX_LAYERS: usize = 16;

/// A run of f32 values inside the weights section.
///
/// `offset` counts **bytes** from the start of the weights section and is a
/// multiple of 16; `len` counts **f32 elements**. The shape is implied by the
/// owner (see each field's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorRef {
    /// Byte offset from the start of the weights section (multiple of 16).
    pub offset: u32,
    /// Number of f32 elements.
    pub len: u32,
}

/// Element-wise function applied after a layer's affine map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Activation {
    /// `f(x) = x`
    Identity,
    /// `f(x) = max(x, 0)`
    Relu,
    /// `f(x) = x` if `x > 0`, else `slope * x`.
    LeakyRelu {
        /// Slope for negative inputs.
        slope: f32,
    },
    /// `f(x) = tanh(x)`
    Tanh,
    /// `f(x) = 1 / (1 + exp(-x))`
    Sigmoid,
    /// `f(x) = x` if `x > 0`, else `alpha * (exp(x) - 1)`.
    Elu {
        /// Scale of the negative branch.
        alpha: f32,
    },
    /// `f(x) = ln(1 + exp(x))`
    Softplus,
}

/// One layer of an encoder or decoder.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Layer {
    /// `y = act(W x + b)`; `weight` is `out_dim x in_dim`, row-major;
    /// `bias` has `out_dim` elements.
    Dense {
        /// Input width.
        in_dim: u32,
        /// Output width.
        out_dim: u32,
        /// `out_dim x in_dim` row-major.
        weight: TensorRef,
        /// `out_dim` values.
        bias: TensorRef,
        /// Applied after the affine map.
        activation: Activation,
    },
}

/// How inputs are scaled before the encoder (and outputs after the decoder).
///
/// Normalized value: `(x - shift) / scale`; restored: `x_n * scale + shift`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Normalization {
    /// Inputs go to the encoder unchanged.
    None,
    /// One scalar shift and scale for every feature.
    Global {
        /// Subtracted from every feature.
        shift: f32,
        /// Divides every feature (non-zero, finite).
        scale: f32,
    },
    /// A shift and a scale per feature; each tensor has `input_dim` elements.
    PerFeature {
        /// `input_dim` shifts.
        shift: TensorRef,
        /// `input_dim` scales (non-zero, finite).
        scale: TensorRef,
    },
}

/// Where the truncated basis `U_k` sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Basis {
    /// Folded into the adjacent layers at export: the encoder outputs the k
    /// coefficients directly and the decoder takes them. `stored` optionally
    /// keeps `U_k` (`latent_dim x rank`, row-major) for latent inspection.
    Folded {
        /// `latent_dim x rank` row-major, if kept.
        stored: Option<TensorRef>,
    },
    /// Not folded: the encoder outputs `latent_dim` values `y`, the runtime
    /// computes `alpha = U_k^T y`, and `y = U_k alpha` before the decoder.
    Separate {
        /// `latent_dim x rank` row-major.
        u: TensorRef,
    },
}

/// Gaussian fit of the training coefficients, for sampling:
/// `alpha = mean + chol * z` with `z ~ N(0, I)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sampler {
    /// `rank` values.
    pub mean: TensorRef,
    /// `rank x rank` lower-triangular Cholesky factor, row-major.
    pub chol: TensorRef,
}

/// Training parameters and their coefficients, for parametric interpolation
/// (reduced-order modelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamTable {
    /// Number of parameters per sample (1 for the 1-D synthetic sets).
    pub param_dim: u32,
    /// Number of training samples stored.
    pub count: u32,
    /// `count x param_dim` row-major.
    pub params: TensorRef,
    /// `count x rank` row-major coefficients.
    pub coeffs: TensorRef,
}

/// Everything about a model except the weight bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta<'a> {
    /// Free-form model name (e.g. the dataset it was trained on).
    pub name: &'a str,
    /// Features per sample (`T`).
    pub input_dim: u32,
    /// Width of the latent space before truncation (`L`).
    pub latent_dim: u32,
    /// Number of coefficients kept (`k`), `1 <= rank <= latent_dim`.
    pub rank: u32,
    /// Input scaling.
    pub normalization: Normalization,
    /// Encoder layers, input first.
    pub encoder: Vec<Layer, MAX_LAYERS>,
    /// Decoder layers, latent (or coefficients) first.
    pub decoder: Vec<Layer, MAX_LAYERS>,
    /// The truncated basis and whether it is folded.
    pub basis: Basis,
    /// Optional Gaussian over the coefficients.
    pub sampler: Option<Sampler>,
    /// Optional parameter table.
    pub params: Option<ParamTable>,
    /// Training singular values of the latents (`rank` leading values are
    /// the kept modes). Informational.
    pub singular_values: Option<TensorRef>,
}

impl ModelMeta<'_> {
    /// The header flags this metadata implies (`FLAG_*` in [`crate::header`]).
    pub fn flags(&self) -> u32 {
        use crate::header::{FLAG_BASIS_FOLDED, FLAG_BASIS_STORED, FLAG_PARAMS, FLAG_SAMPLER};
        let bit = |on: bool, flag: u32| if on { flag } else { 0 };
        bit(self.sampler.is_some(), FLAG_SAMPLER)
            | bit(self.params.is_some(), FLAG_PARAMS)
            | bit(
                matches!(self.basis, Basis::Folded { .. }),
                FLAG_BASIS_FOLDED,
            )
            | bit(self.basis_tensor().is_some(), FLAG_BASIS_STORED)
    }

    /// `U_k` (`latent_dim x rank`, row-major), if the file stores it.
    pub fn basis_tensor(&self) -> Option<TensorRef> {
        match self.basis {
            Basis::Folded { stored } => stored,
            Basis::Separate { u } => Some(u),
        }
    }
}

impl Layer {
    /// `(in_dim, out_dim)`.
    pub fn dims(&self) -> (u32, u32) {
        match *self {
            Layer::Dense {
                in_dim, out_dim, ..
            } => (in_dim, out_dim),
        }
    }
}
