//! The `.rrae` model file of Rank Reduction Autoencoders: byte-level
//! specification, metadata types, a validating zero-copy reader for `no_std`
//! targets, and a writer for the workstation.
//!
//! A file is a 48-byte [`Header`], postcard-encoded [`ModelMeta`], and a
//! section of little-endian `f32` tensors, each 16-byte aligned. The
//! normative specification is `FORMAT.md` beside this crate's `Cargo.toml`.
//!
//! Layers ([`meta::Layer`]) are dense, 2-D convolutions and transposed 2-D
//! convolutions (PyTorch semantics; images are flat row-major `C x H x W`
//! vectors, so layers chain by flat width), each in f32 or in int8 (TFLite's
//! quantization scheme: [`meta::Quant`], [`quant`]). Dense-only files are
//! format 1.0; files with a convolution are 1.1, which 1.0 readers reject
//! with a version error; int8 files are 1.2. Tensors are f32, i32 or i8
//! ([`ModelFile::tensor`], [`ModelFile::tensor_i32`], [`ModelFile::tensor_i8`]).
//!
//! [`read`] validates *everything* once — magic, version, both CRCs, every
//! length, offset and shape, layer chaining, finiteness, zero padding — and
//! then hands out weights as `&[f32]` borrowed from the file (which may sit in
//! flash): no copy, no allocation, no panic, whatever the input bytes.
//!
//! ```
//! # #[cfg(feature = "std")]
//! # fn main() -> Result<(), rrae_format::FormatError> {
//! use rrae_format::meta::*;
//! use rrae_format::{read, AlignedBytes, ModelWriter};
//!
//! // Encoder 2 -> 1 and decoder 1 -> 2, basis folded: rank 1 = latent 1.
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
//! let bytes = AlignedBytes::new(&w.finish(&meta)?);
//! let file = read(&bytes)?;
//! assert_eq!(file.meta, meta);
//! assert_eq!(file.tensor(file.meta.encoder[0].weight()), &[0.5, 0.5]);
//! assert_eq!(file.header.scratch, 2); // 2 buffers x rank (x, x_hat stay the caller's)
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
//! # Features
//!
//! - *(default: none)* — `no_std`, no `alloc`: types, [`read`],
//!   [`scratch_floats`], [`Aligned`].
//! - `std` — [`ModelWriter`], [`AlignedBytes`], [`quant`] (TFLite's
//!   `QuantizeMultiplier` and `QUANTIZE` for writers), and the [`testing`] models.
//!
//! # Promise
//!
//! The reader never panics, never allocates, and never reads out of bounds,
//! on any input; every rejection is a distinct [`FormatError`]. Readers
//! reject files with a different major or a newer minor version.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

mod aligned;
mod decode;
mod error;
pub mod header;
pub mod meta;
#[cfg(feature = "std")]
pub mod quant;
mod reader;
mod scratch;
#[cfg(feature = "std")]
pub mod testing;
mod validate;
#[cfg(feature = "std")]
mod writer;

pub use aligned::Aligned;
#[cfg(feature = "std")]
pub use aligned::AlignedBytes;
pub use error::FormatError;
pub use header::Header;
/// Re-exported so that users build [`ModelMeta`] with the matching version.
pub use heapless;
pub use meta::ModelMeta;
pub use reader::{read, ModelFile};
pub use scratch::scratch_floats;
#[cfg(feature = "std")]
pub use writer::ModelWriter;
