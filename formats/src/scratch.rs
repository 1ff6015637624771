//! How much scratch memory the runtime needs, computed once at export.

use crate::error::FormatError;
use crate::meta::{Basis, ModelMeta, Normalization};

/// Scratch the runtime needs for `meta`, in 4-byte words (`f32`s).
///
/// The runtime evaluates layers by ping-pong between two buffers, each as wide
/// as the widest vector it holds there: every encoder layer's output, every
/// decoder layer's input, the coefficients (`rank`) and, for a
/// [`Basis::Separate`] model, the latent vector `y` (`latent_dim`). The first
/// encoder layer reads the caller's `x` and the last decoder layer writes the
/// caller's `x_hat` directly, so `input_dim` counts only when the model has a
/// [`Normalization`] (the normalized copy of `x` lives in scratch). The
/// result is `2 * max_width`; it is stored in the header so nobody guesses
/// arena sizes.
///
/// Widths are [`Layer::dims`](crate::meta::Layer::dims), so a convolution
/// counts with its flat `C x H x W` widths; the runtime evaluates
/// convolutions directly from one buffer into the other (no im2col matrix),
/// so they need nothing more.
///
/// Errors with [`FormatError::TooLarge`] if it does not fit in a `u32`.
///
/// # Int8 models (format 1.2)
///
/// The unit stays a 4-byte word (the runtime takes `&mut [f32]` scratch and
/// views it as bytes). The runtime ping-pongs two int8 buffers of `widest`
/// bytes, `widest = max(input_dim, rank, every encoder layer's output width,
/// every decoder layer's input width)`: `input_dim` always counts, since the
/// f32 API quantizes `x` into scratch, and the int8 kernels accumulate in
/// registers (no row buffer). The result is `2 * ceil(widest / 4)` words.
pub fn scratch_floats(meta: &ModelMeta<'_>) -> Result<u32, FormatError> {
    let quantized = meta.is_quantized();
    let mut widest = match meta.basis {
        Basis::Separate { .. } => meta.latent_dim,
        Basis::Folded { .. } => 0,
    }
    .max(meta.rank);
    if quantized || !matches!(meta.normalization, Normalization::None) {
        widest = widest.max(meta.input_dim);
    }
    for layer in &meta.encoder {
        widest = widest.max(layer.dims().1);
    }
    for layer in &meta.decoder {
        widest = widest.max(layer.dims().0);
    }
    if quantized {
        widest = widest.div_ceil(4);
    }
    widest.checked_mul(2).ok_or(FormatError::TooLarge)
}
