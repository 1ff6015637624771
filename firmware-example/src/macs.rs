//! Multiply-adds (MACs) per call of a model, from its layer shapes, for the
//! instructions-per-MAC figures of [`crate::icount`].

use cortex_m_semihosting::hprintln;
use rrae_runtime::format::meta::{Basis, Layer};
use rrae_runtime::Model;

/// Multiply-adds of one layer, f32 or int8: `in x out` for a dense layer;
/// weights x positions for a convolution (output positions for `Conv2d`,
/// input positions for `ConvTranspose2d`), counting the taps that fall into
/// the padding, which the kernels skip: an upper bound for convolutions.
pub fn layer_macs(layer: &Layer) -> u64 {
    let (inp, out) = layer.dims();
    let Some(g) = layer.conv_geometry() else {
        return u64::from(inp) * u64::from(out);
    };
    let taps = u64::from(g.kernel[0] * g.kernel[1]);
    match layer {
        Layer::Conv2d(_) | Layer::QConv2d { .. } => {
            u64::from(out) * u64::from(g.in_channels) * taps
        }
        _ => u64::from(inp) * u64::from(g.out_channels) * taps,
    }
}

/// Multiply-adds of `encode` and `decode` with all `rank` coefficients
/// (plus `rank x latent` each for a basis stored separately).
pub fn model_macs(model: &Model) -> (u64, u64) {
    let meta = model.meta();
    let basis = match meta.basis {
        Basis::Separate { .. } => (model.rank() * model.latent_dim()) as u64,
        Basis::Folded { .. } => 0,
    };
    let sum = |ls: &[Layer]| ls.iter().map(layer_macs).sum::<u64>() + basis;
    (sum(&meta.encoder), sum(&meta.decoder))
}

/// Prints one line per layer of `model` (shape, MACs, activation).
pub fn print_layers(name: &str, model: &Model) {
    let meta = model.meta();
    for (part, layers) in [("encoder", &meta.encoder), ("decoder", &meta.decoder)] {
        for l in layers.iter() {
            let (i, o) = l.dims();
            let kind = if l.is_conv() { "conv" } else { "dense" };
            hprintln!(
                "icount {:<6} {} {} {} -> {}, {} MACs, {:?}",
                name,
                part,
                kind,
                i,
                o,
                layer_macs(l),
                l.activation()
            );
        }
    }
}
