//! Semantic checks on decoded metadata against the weights section: shapes,
//! layer chaining (and convolution geometry), tensor bounds, alignment,
//! layout, finiteness, padding, and the int8 rules of format 1.2
//! (quantization parameters, their chaining, value ranges).

use crate::error::FormatError;
use crate::header::ALIGN;
use crate::meta::{
    Activation, Basis, Layer, ModelMeta, Normalization, QActivation, QParams, Quant, TensorRef,
    MAX_LAYERS,
};
use heapless::Vec;

/// Upper bound on the tensors one metadata block can reference: six per
/// quantized layer (weight, weight scale, bias, multiplier, shift, table) on
/// both sides, and eight model-level ones.
const MAX_TENSORS: usize = 6 * 2 * MAX_LAYERS + 8;

/// Entries of an activation lookup table (one per int8 value).
pub(crate) const TABLE_LEN: u32 = 256;

/// The length a tensor's shape implies.
#[derive(Clone, Copy)]
enum Expect {
    Exactly(u64),
    AtLeast(u64),
    /// 1 (per tensor) or this many (per channel).
    OneOr(u64),
}

/// The element type of a tensor.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elem {
    F32,
    I32,
    I8,
}

impl Elem {
    fn size(self) -> u64 {
        match self {
            Elem::I8 => 1,
            Elem::F32 | Elem::I32 => 4,
        }
    }
}

/// Calls `f(name, tensor, expected length, element type)` for every tensor
/// `meta` references.
fn for_each_tensor(
    meta: &ModelMeta<'_>,
    mut f: impl FnMut(&'static str, TensorRef, Expect, Elem) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    let (input, latent, rank) = (
        u64::from(meta.input_dim),
        u64::from(meta.latent_dim),
        u64::from(meta.rank),
    );
    for layer in meta.encoder.iter().chain(&meta.decoder) {
        let (out_dim, channels) = match *layer {
            Layer::Dense { out_dim, .. } | Layer::QDense { out_dim, .. } => (out_dim, out_dim),
            _ => (0, layer.conv_geometry().map_or(0, |g| g.out_channels)),
        };
        let weight_len = match layer.conv_geometry() {
            // Fits: check_structure ran first (u64::MAX never matches).
            Some(g) => g.weight_len().map_or(u64::MAX, u64::from),
            None => u64::from(out_dim) * u64::from(layer.dims().0),
        };
        let channels = u64::from(channels);
        let Some(q) = layer.quant() else {
            let what = if layer.is_conv() {
                ["conv weight", "conv bias"]
            } else {
                ["dense weight", "dense bias"]
            };
            f(
                what[0],
                layer.weight(),
                Expect::Exactly(weight_len),
                Elem::F32,
            )?;
            f(what[1], layer.bias(), Expect::Exactly(channels), Elem::F32)?;
            continue;
        };
        f(
            "int8 weight",
            q.weight,
            Expect::Exactly(weight_len),
            Elem::I8,
        )?;
        f(
            "weight scale",
            q.weight_scale,
            Expect::OneOr(channels),
            Elem::F32,
        )?;
        f("int32 bias", q.bias, Expect::Exactly(channels), Elem::I32)?;
        let per = Expect::Exactly(u64::from(q.weight_scale.len));
        f("multiplier", q.multiplier, per, Elem::I32)?;
        f("shift", q.shift, per, Elem::I32)?;
        if let QActivation::Table { table, .. } = q.activation {
            f(
                "activation table",
                table,
                Expect::Exactly(TABLE_LEN.into()),
                Elem::I8,
            )?;
        }
    }
    if let Normalization::PerFeature { shift, scale } = meta.normalization {
        f(
            "normalization shift",
            shift,
            Expect::Exactly(input),
            Elem::F32,
        )?;
        f(
            "normalization scale",
            scale,
            Expect::Exactly(input),
            Elem::F32,
        )?;
    }
    if let Some(u) = meta.basis_tensor() {
        f("basis", u, Expect::Exactly(latent * rank), Elem::F32)?;
    }
    if let Some(s) = meta.sampler {
        f("sampler mean", s.mean, Expect::Exactly(rank), Elem::F32)?;
        f(
            "sampler cholesky",
            s.chol,
            Expect::Exactly(rank * rank),
            Elem::F32,
        )?;
    }
    if let Some(p) = meta.params {
        let count = u64::from(p.count);
        f(
            "parameters",
            p.params,
            Expect::Exactly(count * u64::from(p.param_dim)),
            Elem::F32,
        )?;
        f(
            "parameter coefficients",
            p.coeffs,
            Expect::Exactly(count * rank),
            Elem::F32,
        )?;
    }
    if let Some(sv) = meta.singular_values {
        f("singular values", sv, Expect::AtLeast(rank), Elem::F32)?;
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
    check_chain(&meta.decoder, code, meta.input_dim)?;
    check_quant_chain(meta)
}

/// Int8 models: no f32 layer, a folded basis, valid quantization parameters,
/// and each layer's input parameters equal to the previous layer's output
/// parameters (across the code, from the last encoder layer to the first
/// decoder layer).
fn check_quant_chain(meta: &ModelMeta<'_>) -> Result<(), FormatError> {
    let quantized = meta.is_quantized();
    let mut prev: Option<QParams> = None;
    for layer in meta.encoder.iter().chain(&meta.decoder) {
        if layer.is_quantized() != quantized {
            return Err(FormatError::MixedLayerKinds);
        }
        let Some(q) = layer.quant() else { continue };
        check_quant_params(q)?;
        if let Some(p) = prev {
            if !same_qparams(p, q.input) {
                return Err(FormatError::QuantChain);
            }
        }
        prev = Some(q.output_qparams());
    }
    if quantized && matches!(meta.basis, Basis::Separate { .. }) {
        return Err(FormatError::QuantizedSeparateBasis);
    }
    Ok(())
}

/// Equal scales (bit for bit) and zero points.
fn same_qparams(a: QParams, b: QParams) -> bool {
    a.scale.to_bits() == b.scale.to_bits() && a.zero_point == b.zero_point
}

/// Scales finite and positive, zero points in `-128..=127`, clamp bounds
/// ordered, table of 256 entries (the scalar rules of one layer).
fn check_quant_params(q: &Quant) -> Result<(), FormatError> {
    let mut params = [q.input, q.output, q.input];
    match q.activation {
        QActivation::Clamp { min, max } => {
            if min > max {
                return Err(FormatError::BadClamp { min, max });
            }
        }
        QActivation::Table { table, output, .. } => {
            if table.len != TABLE_LEN {
                return Err(FormatError::BadTableLength { got: table.len });
            }
            params[2] = output;
        }
    }
    for p in params {
        if !(p.scale.is_finite() && p.scale > 0.0) {
            return Err(FormatError::BadScale { what: "activation" });
        }
        if !(-128..=127).contains(&p.zero_point) {
            return Err(FormatError::BadZeroPoint {
                zero_point: p.zero_point,
            });
        }
    }
    Ok(())
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
pub(crate) fn tensor_slice<T: bytemuck::Pod>(weights: &[T], t: TensorRef) -> Option<&[T]> {
    let start = usize::try_from(t.offset).ok()? / core::mem::size_of::<T>();
    let end = start.checked_add(usize::try_from(t.len).ok()?)?;
    weights.get(start..end)
}

/// Shape, alignment, bounds and finiteness (f32) of one tensor; returns its
/// byte range. Not inlined: it is called from a dozen places in
/// [`for_each_tensor`], and one copy in flash is enough.
#[inline(never)]
fn check_tensor(
    what: &'static str,
    t: TensorRef,
    expect: Expect,
    elem: Elem,
    bytes: &[u8],
) -> Result<(u32, u32), FormatError> {
    let len = u64::from(t.len);
    let (ok, expected) = match expect {
        Expect::Exactly(n) => (len == n, n),
        Expect::AtLeast(n) => (len >= n, n),
        Expect::OneOr(n) => (len == n || len == 1, n),
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
    let out_of_bounds = FormatError::OutOfBounds {
        offset: t.offset,
        len: t.len,
    };
    let end = u64::from(t.offset) + len * elem.size();
    let data = usize::try_from(end)
        .ok()
        .and_then(|end| bytes.get(t.offset as usize..end))
        .ok_or(out_of_bounds)?;
    if elem == Elem::F32 {
        let floats: &[f32] = bytemuck::try_cast_slice(data).map_err(|_| FormatError::Misaligned)?;
        if !floats.iter().all(|v| v.is_finite()) {
            return Err(FormatError::NonFinite { what });
        }
    }
    // Fits: within `bytes`, whose length is a u32 header field.
    Ok((t.offset, end as u32))
}

/// The value rules of a quantized layer's tensors (all in bounds): weights
/// in `-127..=127`, weight scales positive (finite: checked as f32),
/// multipliers in `2^30..=2^31 - 1`, shifts in `-31..=30`.
fn check_quant_values(q: &Quant, bytes: &[u8]) -> Result<(), FormatError> {
    let (floats, ints): (&[f32], &[i32]) = (
        bytemuck::try_cast_slice(bytes).map_err(|_| FormatError::Misaligned)?,
        bytemuck::try_cast_slice(bytes).map_err(|_| FormatError::Misaligned)?,
    );
    let weights: &[i8] = bytemuck::cast_slice(bytes);
    if let Some(&w) = tensor_slice(weights, q.weight)
        .unwrap_or(&[])
        .iter()
        .find(|&&w| w == i8::MIN)
    {
        return Err(FormatError::BadWeight { value: w });
    }
    if tensor_slice(floats, q.weight_scale)
        .unwrap_or(&[])
        .iter()
        .any(|&s| s <= 0.0)
    {
        return Err(FormatError::BadScale { what: "weight" });
    }
    let multipliers = tensor_slice(ints, q.multiplier).unwrap_or(&[]);
    if let Some(&m) = multipliers.iter().find(|&&m| m < 1 << 30) {
        return Err(FormatError::BadMultiplier { multiplier: m });
    }
    let shifts = tensor_slice(ints, q.shift).unwrap_or(&[]);
    if let Some(&s) = shifts.iter().find(|&&s| !(-31..=30).contains(&s)) {
        return Err(FormatError::BadShift { shift: s });
    }
    Ok(())
}

/// Checks everything about `meta` against the weights section `bytes`
/// (4-byte aligned), which starts at file offset `base`.
pub(crate) fn validate(meta: &ModelMeta<'_>, bytes: &[u8], base: usize) -> Result<(), FormatError> {
    check_structure(meta)?;
    let mut ranges: Vec<(u32, u32), MAX_TENSORS> = Vec::new();
    for_each_tensor(meta, |what, t, expect, elem| {
        let range = check_tensor(what, t, expect, elem, bytes)?;
        ranges.push(range).map_err(|_| FormatError::TooLarge)
    })?;
    let floats: &[f32] = bytemuck::try_cast_slice(bytes).map_err(|_| FormatError::Misaligned)?;
    if let Normalization::PerFeature { scale, .. } = meta.normalization {
        let scales = tensor_slice(floats, scale).unwrap_or(&[]);
        if scales.contains(&0.0) {
            return Err(FormatError::BadNormalization);
        }
    }
    for layer in meta.encoder.iter().chain(&meta.decoder) {
        if let Some(q) = layer.quant() {
            check_quant_values(q, bytes)?;
        }
    }
    check_layout(&mut ranges, bytes, base)
}

/// Tensors (byte ranges) do not overlap and every byte outside them is zero.
fn check_layout(ranges: &mut [(u32, u32)], bytes: &[u8], base: usize) -> Result<(), FormatError> {
    // Insertion sort: a model has a few dozen tensors, and core's
    // `sort_unstable` costs ~5.5 kB of flash on Cortex-M (docs/FOOTPRINT.md).
    for i in 1..ranges.len() {
        let mut j = i;
        while j > 0 && ranges[j - 1].0 > ranges[j].0 {
            ranges.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut end = 0usize; // end of the previous tensor, in bytes
    for &(start, stop) in ranges.iter() {
        let start_at = start as usize; // in bounds: checked above
        if start_at < end {
            return Err(FormatError::TensorOverlap { offset: start });
        }
        check_zero(bytes.get(end..start_at).unwrap_or(&[]), base + end)?;
        end = stop as usize;
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
