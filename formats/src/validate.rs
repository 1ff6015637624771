//! Semantic checks on decoded metadata against the weights section: shapes,
//! layer chaining (and convolution geometry), tensor bounds, alignment,
//! layout, finiteness, padding.

use crate::error::FormatError;
use crate::header::ALIGN;
use crate::meta::{Activation, Basis, Layer, ModelMeta, Normalization, TensorRef, MAX_LAYERS};
use heapless::Vec;

/// Upper bound on the tensors one metadata block can reference.
const MAX_TENSORS: usize = 4 * MAX_LAYERS + 8;

/// The length a tensor's shape implies.
#[derive(Clone, Copy)]
enum Expect {
    Exactly(u64),
    AtLeast(u64),
}

/// Calls `f(name, tensor, expected length)` for every tensor `meta` references.
fn for_each_tensor(
    meta: &ModelMeta<'_>,
    mut f: impl FnMut(&'static str, TensorRef, Expect) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    let (input, latent, rank) = (
        u64::from(meta.input_dim),
        u64::from(meta.latent_dim),
        u64::from(meta.rank),
    );
    for layer in meta.encoder.iter().chain(&meta.decoder) {
        let (what, weight_len, bias_len) = match *layer {
            Layer::Dense {
                in_dim, out_dim, ..
            } => (
                ["dense weight", "dense bias"],
                u64::from(out_dim) * u64::from(in_dim),
                out_dim,
            ),
            Layer::Conv2d(c) | Layer::ConvTranspose2d { conv: c, .. } => (
                ["conv weight", "conv bias"],
                // Fits: check_structure ran first (u64::MAX never matches).
                c.weight_len().map_or(u64::MAX, u64::from),
                c.out_channels,
            ),
        };
        f(what[0], layer.weight(), Expect::Exactly(weight_len))?;
        f(what[1], layer.bias(), Expect::Exactly(u64::from(bias_len)))?;
    }
    if let Normalization::PerFeature { shift, scale } = meta.normalization {
        f("normalization shift", shift, Expect::Exactly(input))?;
        f("normalization scale", scale, Expect::Exactly(input))?;
    }
    if let Some(u) = meta.basis_tensor() {
        f("basis", u, Expect::Exactly(latent * rank))?;
    }
    if let Some(s) = meta.sampler {
        f("sampler mean", s.mean, Expect::Exactly(rank))?;
        f("sampler cholesky", s.chol, Expect::Exactly(rank * rank))?;
    }
    if let Some(p) = meta.params {
        let count = u64::from(p.count);
        f(
            "parameters",
            p.params,
            Expect::Exactly(count * u64::from(p.param_dim)),
        )?;
        f(
            "parameter coefficients",
            p.coeffs,
            Expect::Exactly(count * rank),
        )?;
    }
    if let Some(sv) = meta.singular_values {
        f("singular values", sv, Expect::AtLeast(rank))?;
    }
    Ok(())
}

/// Dimensions, rank, layer chain and scalar parameters (no tensor data).
fn check_structure(meta: &ModelMeta<'_>) -> Result<(), FormatError> {
    if meta.input_dim == 0 {
        return Err(FormatError::ZeroDim);
    }
    if meta.rank == 0 || meta.rank > meta.latent_dim {
        return Err(FormatError::BadRank {
            rank: meta.rank,
            latent_dim: meta.latent_dim,
        });
    }
    if let Normalization::Global { shift, scale } = meta.normalization {
        if !shift.is_finite() || !scale.is_finite() || scale == 0.0 {
            return Err(FormatError::BadNormalization);
        }
    }
    if let Some(p) = meta.params {
        if p.count == 0 || p.param_dim == 0 {
            return Err(FormatError::ZeroDim);
        }
    }
    let code = match meta.basis {
        Basis::Folded { .. } => meta.rank,
        Basis::Separate { .. } => meta.latent_dim,
    };
    check_chain(&meta.encoder, meta.input_dim, code)?;
    check_chain(&meta.decoder, code, meta.input_dim)
}

/// Layers are non-empty, convolution geometries valid, widths non-zero,
/// start at `from`, end at `to`, and chain; activation parameters are finite.
fn check_chain(layers: &[Layer], from: u32, to: u32) -> Result<(), FormatError> {
    if layers.is_empty() {
        return Err(FormatError::EmptyNetwork);
    }
    let mut width = from;
    for layer in layers {
        let (in_dim, out_dim) = layer.checked_dims()?;
        if in_dim != width {
            return Err(FormatError::LayerChain {
                expected: width,
                got: in_dim,
            });
        }
        if out_dim == 0 {
            return Err(FormatError::ZeroDim);
        }
        let param = match layer.activation() {
            Activation::LeakyRelu { slope } => slope,
            Activation::Elu { alpha } => alpha,
            _ => 0.0,
        };
        if !param.is_finite() {
            return Err(FormatError::BadActivation);
        }
        width = out_dim;
    }
    if width != to {
        return Err(FormatError::LayerChain {
            expected: to,
            got: width,
        });
    }
    Ok(())
}

/// The elements of `t` within `weights`, if in bounds.
pub(crate) fn tensor_slice(weights: &[f32], t: TensorRef) -> Option<&[f32]> {
    let start = usize::try_from(t.offset / 4).ok()?;
    let end = start.checked_add(usize::try_from(t.len).ok()?)?;
    weights.get(start..end)
}

/// Shape, alignment, bounds and finiteness of one tensor. Not inlined: it is
/// called from a dozen places in [`for_each_tensor`], and one copy in flash
/// is enough.
#[inline(never)]
fn check_tensor(
    what: &'static str,
    t: TensorRef,
    expect: Expect,
    weights: &[f32],
) -> Result<(), FormatError> {
    let (ok, expected) = match expect {
        Expect::Exactly(n) => (u64::from(t.len) == n, n),
        Expect::AtLeast(n) => (u64::from(t.len) >= n, n),
    };
    if !ok {
        return Err(FormatError::ShapeMismatch {
            what,
            expected,
            got: t.len,
        });
    }
    if t.offset as usize % ALIGN != 0 {
        return Err(FormatError::UnalignedTensor { offset: t.offset });
    }
    let data = tensor_slice(weights, t).ok_or(FormatError::OutOfBounds {
        offset: t.offset,
        len: t.len,
    })?;
    if !data.iter().all(|v| v.is_finite()) {
        return Err(FormatError::NonFinite { what });
    }
    Ok(())
}

/// Checks everything about `meta` against the weights section `bytes`
/// (viewed as `weights`), which starts at file offset `base`.
pub(crate) fn validate(
    meta: &ModelMeta<'_>,
    weights: &[f32],
    bytes: &[u8],
    base: usize,
) -> Result<(), FormatError> {
    check_structure(meta)?;
    let mut refs: Vec<TensorRef, MAX_TENSORS> = Vec::new();
    for_each_tensor(meta, |what, t, expect| {
        check_tensor(what, t, expect, weights)?;
        refs.push(t).map_err(|_| FormatError::TooLarge)
    })?;
    if let Normalization::PerFeature { scale, .. } = meta.normalization {
        let scales = tensor_slice(weights, scale).unwrap_or(&[]);
        if scales.contains(&0.0) {
            return Err(FormatError::BadNormalization);
        }
    }
    check_layout(&mut refs, bytes, base)
}

/// Tensors do not overlap and every byte outside them is zero.
fn check_layout(refs: &mut [TensorRef], bytes: &[u8], base: usize) -> Result<(), FormatError> {
    // Insertion sort: a model has a few dozen tensors, and core's
    // `sort_unstable` costs ~5.5 kB of flash on Cortex-M (docs/FOOTPRINT.md).
    for i in 1..refs.len() {
        let mut j = i;
        while j > 0 && refs[j - 1].offset > refs[j].offset {
            refs.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut end = 0usize; // end of the previous tensor, in bytes
    for t in refs.iter() {
        let start = t.offset as usize; // in bounds: checked above
        if start < end {
            return Err(FormatError::TensorOverlap { offset: t.offset });
        }
        check_zero(bytes.get(end..start).unwrap_or(&[]), base + end)?;
        end = start + t.len as usize * 4;
    }
    check_zero(bytes.get(end..).unwrap_or(&[]), base + end)
}

/// Every byte of `padding` (at file offset `at`) is zero.
pub(crate) fn check_zero(padding: &[u8], at: usize) -> Result<(), FormatError> {
    match padding.iter().position(|&b| b != 0) {
        Some(i) => Err(FormatError::NonZeroPadding { at: at + i }),
        None => Ok(()),
    }
}
