//! Writes quantized networks as a format 1.2 `.rrae` file: the quantized
//! layers, and everything else (name, dimensions, normalization, sampler,
//! parameter table, singular values) copied from the f32 file. The stored
//! basis `U_k` is dropped (the basis is folded; an int8 file is for
//! deployment).

use anyhow::{anyhow, Result};
use ndarray::ArrayView2;
use rrae_format::meta::{
    Basis, ConvGeometry, Layer, Normalization, ParamTable, QActivation, Quant, Sampler, MAX_LAYERS,
};
use rrae_format::{heapless, AlignedBytes, ModelFile, ModelMeta, ModelWriter};

use super::layer::{QAct, QKind, QLayer};
use super::model::{F32Model, Options, QNetworks};
use super::qat;
use crate::data::Normalizer;

fn u32_of(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| anyhow!("a layer size {v} does not fit the model file"))
}

fn pair((a, b): (usize, usize)) -> Result<[u32; 2]> {
    Ok([u32_of(a)?, u32_of(b)?])
}

/// The file's geometry of a quantized convolution of either kind.
fn geometry(kind: &QKind) -> Result<ConvGeometry> {
    let ((in_channels, out_channels), input, [kernel, stride, padding]) = kind
        .conv_geometry()
        .ok_or_else(|| anyhow!("a dense layer has no convolution geometry"))?;
    Ok(ConvGeometry {
        in_channels: u32_of(in_channels)?,
        in_height: u32_of(input.0)?,
        in_width: u32_of(input.1)?,
        out_channels: u32_of(out_channels)?,
        kernel: pair(kernel)?,
        stride: pair(stride)?,
        padding: pair(padding)?,
    })
}

fn layer(w: &mut ModelWriter, l: &QLayer) -> Result<Layer> {
    let activation = match &l.act {
        QAct::Clamp { min, max } => QActivation::Clamp {
            min: *min,
            max: *max,
        },
        QAct::Table {
            table,
            output,
            source,
        } => QActivation::Table {
            table: w.tensor_i8(table),
            output: *output,
            source: *source,
        },
    };
    let q = Quant {
        input: l.input,
        weight: w.tensor_i8(&l.weight),
        weight_scale: w.tensor(&l.weight_scale),
        bias: w.tensor_i32(&l.bias),
        multiplier: w.tensor_i32(&l.multiplier),
        shift: w.tensor_i32(&l.shift),
        output: l.output,
        activation,
    };
    Ok(match l.kind {
        QKind::Dense { in_dim, out_dim } => Layer::QDense {
            in_dim: u32_of(in_dim)?,
            out_dim: u32_of(out_dim)?,
            q,
        },
        QKind::Conv2d(_) => Layer::QConv2d {
            conv: geometry(&l.kind)?,
            q,
        },
        QKind::ConvTranspose2d(s) => Layer::QConvTranspose2d {
            conv: geometry(&l.kind)?,
            output_padding: pair(s.output_padding)?,
            q,
        },
    })
}

fn layers(w: &mut ModelWriter, ls: &[QLayer]) -> Result<heapless::Vec<Layer, MAX_LAYERS>> {
    let mut out = heapless::Vec::new();
    for l in ls {
        out.push(layer(w, l)?)
            .map_err(|_| anyhow!("more than {MAX_LAYERS} layers"))?;
    }
    Ok(out)
}

/// The bytes of the int8 model: `encoder` and `decoder` quantized, the rest
/// of `f32_file` copied.
///
/// # Errors
/// If the format's writer rejects the result (it re-validates everything).
pub fn model_bytes(
    f32_file: &ModelFile<'_>,
    encoder: &[QLayer],
    decoder: &[QLayer],
) -> Result<Vec<u8>> {
    let m = &f32_file.meta;
    let mut w = ModelWriter::new();
    let mut copy = |r| w.tensor(f32_file.tensor(r));
    let normalization = match m.normalization {
        Normalization::PerFeature { shift, scale } => Normalization::PerFeature {
            shift: copy(shift),
            scale: copy(scale),
        },
        other => other,
    };
    let sampler = m.sampler.map(|s| Sampler {
        mean: copy(s.mean),
        chol: copy(s.chol),
    });
    let params = m.params.map(|p| ParamTable {
        params: copy(p.params),
        coeffs: copy(p.coeffs),
        ..p
    });
    let singular_values = m.singular_values.map(&mut copy);
    let meta = ModelMeta {
        name: m.name,
        input_dim: m.input_dim,
        latent_dim: m.latent_dim,
        rank: m.rank,
        normalization,
        encoder: layers(&mut w, encoder)?,
        decoder: layers(&mut w, decoder)?,
        basis: Basis::Folded { stored: None },
        sampler,
        params,
        singular_values,
    };
    w.finish(&meta)
        .map_err(|e| anyhow!("writing the int8 model: {e}"))
}

/// An int8 model file and what it was made of.
#[derive(Debug, Clone)]
pub struct Quantized {
    /// The format 1.2 file.
    pub bytes: Vec<u8>,
    /// Its quantized layers.
    pub networks: QNetworks,
    /// The normalization (f32, applied by the runtime around the int8 layers).
    pub normalizer: Normalizer,
}

/// Quantization of the f32 model file `f32_bytes`, calibrated on `calib`
/// (samples in original units; `what` names them in errors) as `opts` say;
/// with `opts.qat`, the model is first fine-tuned on `train`
/// ([`qat::fine_tune`]) and then quantized the same way.
///
/// # Errors
/// An invalid or unsuitable model file (not folded, already quantized), bad
/// calibration data (one line), or scales outside TFLite's range.
pub fn quantize_file(
    f32_bytes: &[u8],
    calib: ArrayView2<f32>,
    train: ArrayView2<f32>,
    opts: Options,
    what: &str,
) -> Result<Quantized> {
    let aligned = AlignedBytes::new(f32_bytes);
    let file = rrae_format::read(&aligned).map_err(|e| anyhow!("invalid model file: {e}"))?;
    let mut model = F32Model::from_file(&file)?;
    if let Some(q) = &opts.qat {
        qat::fine_tune(&mut model, calib, train, opts, q, what)?;
    }
    let networks = model.quantize(calib, opts, what)?;
    let bytes = model_bytes(&file, &networks.encoder, &networks.decoder)?;
    Ok(Quantized {
        bytes,
        networks,
        normalizer: model.normalizer,
    })
}
