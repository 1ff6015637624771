//! Inference for Rank Reduction Autoencoder models (`.rrae` files) on
//! microcontrollers and hosts alike: `no_std`, no allocation, no panics.
//!
//! A [`Model`] borrows its file (typically in flash): [`Model::from_bytes`]
//! validates everything once, then [`encode`](Model::encode) maps a sample to
//! its `rank` coefficients, [`decode`](Model::decode) maps (the first `k'` of)
//! them back, and [`sample`](Model::sample) / [`interpolate`](Model::interpolate)
//! generate new coefficients.
//!
//! Layers: dense, 2-D convolution and transposed 2-D convolution, in f32 or
//! int8 (see *Int8 models*) (PyTorch
//! semantics, samples as flat row-major `C x H x W` images; see the format's
//! `FORMAT.md`). Convolutions are evaluated directly, one kernel tap at a
//! time over contiguous output runs, without an im2col matrix: they read one
//! scratch buffer and write the other like dense layers, so
//! [`Model::scratch_len`] stays `2 x` the widest vector. Every kernel is
//! checked against the `f64` references of `rrae_format::testing`.
//!
//! ```
//! use rrae_format::meta::*;
//! use rrae_format::{heapless, AlignedBytes, ModelWriter};
//! use rrae_runtime::Model;
//!
//! // Write a model (normally the trainer's job): 2 features -> 1 coefficient.
//! let mut w = ModelWriter::new();
//! let enc = Layer::Dense { in_dim: 2, out_dim: 1, weight: w.tensor(&[0.5, 0.5]),
//!                          bias: w.tensor(&[0.0]), activation: Activation::Identity };
//! let dec = Layer::Dense { in_dim: 1, out_dim: 2, weight: w.tensor(&[1.0, 1.0]),
//!                          bias: w.tensor(&[0.0, 0.0]), activation: Activation::Identity };
//! let meta = ModelMeta {
//!     name: "mean", input_dim: 2, latent_dim: 1, rank: 1,
//!     normalization: Normalization::None,
//!     encoder: heapless::Vec::from_slice(&[enc]).unwrap(),
//!     decoder: heapless::Vec::from_slice(&[dec]).unwrap(),
//!     basis: Basis::Folded { stored: None },
//!     sampler: None, params: None, singular_values: None,
//! };
//! let bytes = AlignedBytes::new(&w.finish(&meta)?); // or include_model!("model.rrae")
//!
//! // Run it: all memory is the caller's.
//! let model = Model::from_bytes(&bytes)?;
//! let mut scratch = [0.0; 8];
//! assert!(scratch.len() >= model.scratch_len());
//! let (mut alpha, mut x_hat) = ([0.0; 1], [0.0; 2]);
//! model.encode(&[1.0, 3.0], &mut alpha, &mut scratch)?;
//! model.decode(&alpha, &mut x_hat, &mut scratch)?;
//! assert_eq!((alpha, x_hat), ([2.0], [2.0, 2.0]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Int8 models
//!
//! Format 1.2 files hold int8 layers (TFLite's quantization scheme: int8
//! weights with per-channel or per-tensor scales, i32 biases, requantization
//! by multiplier and shift, clamps or 256-entry activation tables). Their
//! kernels accumulate in i32 and requantize bit-identically to TFLite's
//! reference int8 kernels (`FullyConnected`, `ConvPerChannel`,
//! `TransposeConv`; checked by property tests against transcriptions of
//! them). The same [`Model`] runs them:
//!
//! - the f32 API is unchanged: `x` is normalized (in f32) and quantized
//!   element by element, the output dequantized and de-normalized; the
//!   coefficients are the dequantized int8 code; progressive decoding fills
//!   the missing coefficients with the code's zero point;
//! - [`Model::encode_i8`], [`Model::decode_i8`] and [`Model::reconstruct_i8`]
//!   take and return int8 data in the model's own quantization
//!   ([`Model::input_qparams`], [`Model::code_qparams`],
//!   [`Model::output_qparams`]); on an f32 model they return
//!   [`Error::NotQuantized`];
//! - the scratch is the same `&mut [f32]` ([`Model::scratch_len`] words),
//!   used as two int8 buffers.
//!
//! ```
//! use rrae_format::{testing::tiny_int8_model, AlignedBytes};
//! use rrae_runtime::Model;
//!
//! let (_, bytes) = tiny_int8_model(); // normally written by `trainer quantize`
//! let bytes = AlignedBytes::new(&bytes);
//! let model = Model::from_bytes(&bytes)?;
//! let mut scratch = [0.0f32; 8];
//! assert_eq!(model.scratch_len(), 8); // two int8 buffers of 16 bytes
//!
//! // The f32 API quantizes in and dequantizes out.
//! let mut x_hat = [0.0; 16];
//! model.reconstruct(&[0.5; 16], &mut x_hat, &mut scratch)?;
//!
//! // The int8 API skips the conversions: here an input of zeros.
//! let p = model.input_qparams().unwrap();
//! let (mut code, mut out) = ([0i8; 2], [0i8; 16]);
//! model.encode_i8(&[p.zero_point as i8; 16], &mut code, &mut scratch)?;
//! model.decode_i8(&code, &mut out, &mut scratch)?;
//! # Ok::<(), rrae_runtime::Error>(())
//! ```
//!
//! # Promise
//!
//! - **No allocation**: the crate does not use `alloc`; inputs, outputs and
//!   scratch ([`Model::scratch_len`] floats, stored in the file) are
//!   caller-owned slices.
//! - **No panics** reachable from the public API: a corrupt, truncated or
//!   misaligned file is an [`Error::Format`]; a wrong buffer length is an
//!   [`Error::BadLength`] (or a sibling variant).
//! - **No unsafe code** (`#![deny(unsafe_code)]`); weights (f32, i32, i8)
//!   are borrowed with `bytemuck` casts, never copied.
//!
//! # Features
//!
//! None. The crate depends on `rrae-format` (reader only) and `libm`.
#![no_std]
#![deny(unsafe_code)]

#[cfg(test)]
extern crate std;

mod error;
mod int8;
mod kernels;
mod model;

pub use error::Error;
pub use model::Model;
pub use rrae_format as format;
pub use rrae_format::{Aligned, FormatError};

/// Embeds a model file as a 16-byte aligned `&'static [u8]`, ready for
/// [`Model::from_bytes`]. The path is relative to the invoking file, like
/// `include_bytes!`.
///
/// ```
/// static MODEL: &[u8] = rrae_runtime::include_model!(concat!(
///     env!("CARGO_MANIFEST_DIR"),
///     "/../formats/tests/golden/tiny.rrae"
/// ));
/// assert_eq!(MODEL.as_ptr() as usize % 16, 0);
/// let model = rrae_runtime::Model::from_bytes(MODEL)?;
/// assert_eq!(model.name(), "tiny");
/// # Ok::<(), rrae_runtime::Error>(())
/// ```
#[macro_export]
macro_rules! include_model {
    ($path:expr) => {{
        static ALIGNED: &$crate::Aligned<[u8]> = &$crate::Aligned(*include_bytes!($path));
        &ALIGNED.0
    }};
}
