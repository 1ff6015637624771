//! How much scratch memory the runtime needs, computed once at export.

use crate::error::FormatError;
use crate::meta::{Basis, ModelMeta};

/// Floats of scratch the runtime needs for `meta`.
///
/// The runtime evaluates layers by ping-pong between two buffers, each as wide
/// as the widest vector it ever holds: the (normalized) input, every layer's
/// input and output, and — for a [`Basis::Separate`] model — the latent vector
/// `y`. The coefficients (`rank <= latent_dim`) fit too. The result is
/// `2 * max_width`; it is stored in the header so nobody guesses arena sizes.
///
/// Errors with [`FormatError::TooLarge`] if it does not fit in a `u32`.
pub fn scratch_floats(meta: &ModelMeta<'_>) -> Result<u32, FormatError> {
    let mut widest = match meta.basis {
        Basis::Separate { .. } => meta.latent_dim,
        Basis::Folded { .. } => 0,
    }
    .max(meta.input_dim);
    for layer in meta.encoder.iter().chain(&meta.decoder) {
        let (i, o) = layer.dims();
        widest = widest.max(i).max(o);
    }
    widest.checked_mul(2).ok_or(FormatError::TooLarge)
}
