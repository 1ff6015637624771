//! Int8 (format 1.2) example models: [`tiny_int8_model`] (pinned by the
//! golden file `tiny-int8.rrae`), [`quantize_meta`] (a plain post-training
//! quantization of a folded f32 model, per-channel or per-tensor weights, for
//! tests) and [`random_int8_model`].

use std::vec::Vec;

use super::{activate_f64, random_conv_model, random_model, Rng};
use crate::meta::{
    Activation, Basis, ConvGeometry, Layer, ModelMeta, Normalization, ParamTable, QActivation,
    QParams, Quant, Sampler, TensorRef,
};
use crate::quant::{quantize, quantize_multiplier};
use crate::reader::{read, ModelFile};
use crate::{AlignedBytes, ModelWriter};

/// TFLite-style asymmetric parameters for values in `[lo, hi]` (widened to
/// hold 0): `scale = (hi - lo) / 255`, `zero_point = round(-128 - lo / scale)`.
///
/// ```
/// let p = rrae_format::testing::qparams_for_range(0.0, 2.55);
/// assert_eq!((p.scale, p.zero_point), (0.01, -128));
/// ```
pub fn qparams_for_range(lo: f32, hi: f32) -> QParams {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = if hi > lo {
        (hi - lo) / 255.0
    } else {
        1.0 / 255.0
    };
    let zero_point = ((-128.0 - lo / scale).round() as i32).clamp(-128, 127);
    QParams { scale, zero_point }
}

/// The quantization of one layer, its tensors appended to `w`.
///
/// `weight` / `bias` are the f32 layer's; `channel_of(i)` is the output
/// channel of weight element `i`. Weights are symmetric (`max |w| / 127` per
/// channel, or per tensor), biases `round(b / (input.scale * w_scale))`,
/// multipliers from [`quantize_multiplier`]. `Identity` becomes a full clamp,
/// `Relu` a clamp at the zero point; other activations a table mapping
/// `output` (pre-activation) to `table_output`.
///
/// # Panics
///
/// If a requantization multiplier leaves the format's range (a test bug).
#[allow(clippy::too_many_arguments)]
pub fn quant_layer(
    w: &mut ModelWriter,
    input: QParams,
    weight: &[f32],
    channel_of: impl Fn(usize) -> usize,
    bias: &[f32],
    per_channel: bool,
    (output, table_output): (QParams, QParams),
    activation: Activation,
) -> Quant {
    let channels = bias.len();
    let mut max_abs = std::vec![0.0f32; if per_channel { channels } else { 1 }];
    let slot = |i: usize| if per_channel { channel_of(i) } else { 0 };
    for (i, v) in weight.iter().enumerate() {
        max_abs[slot(i)] = max_abs[slot(i)].max(v.abs());
    }
    let scales: Vec<f32> = max_abs
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 / 127.0 })
        .collect();
    let wq: Vec<i8> = weight
        .iter()
        .enumerate()
        .map(|(i, v)| (v / scales[slot(i)]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    let scale_of = |c: usize| scales[if per_channel { c } else { 0 }];
    let bq: Vec<i32> = bias
        .iter()
        .enumerate()
        .map(|(c, b)| {
            (f64::from(*b) / (f64::from(input.scale) * f64::from(scale_of(c)))).round() as i32
        })
        .collect();
    let (mult, shift): (Vec<i32>, Vec<i32>) = scales
        .iter()
        .map(|&s| {
            let real = f64::from(input.scale) * f64::from(s) / f64::from(output.scale);
            quantize_multiplier(real).expect("requantization multiplier in range")
        })
        .unzip();
    let act = match activation {
        Activation::Identity => QActivation::Clamp {
            min: -128,
            max: 127,
        },
        Activation::Relu => QActivation::Clamp {
            min: output.zero_point.clamp(-128, 127) as i8,
            max: 127,
        },
        source => {
            let table: Vec<i8> = (-128..=127)
                .map(|v: i32| {
                    let real = f64::from(output.scale) * f64::from(v - output.zero_point);
                    quantize(activate_f64(source, real) as f32, table_output)
                })
                .collect();
            QActivation::Table {
                table: w.tensor_i8(&table),
                output: table_output,
                source,
            }
        }
    };
    Quant {
        input,
        weight: w.tensor_i8(&wq),
        weight_scale: w.tensor(&scales),
        bias: w.tensor_i32(&bq),
        multiplier: w.tensor_i32(&mult),
        shift: w.tensor_i32(&shift),
        output,
        activation: act,
    }
}

/// The int8 twin of an f32 layer: same geometry, [`quant_layer`] tensors.
fn quantize_layer(
    file: &ModelFile<'_>,
    w: &mut ModelWriter,
    layer: &Layer,
    input: QParams,
    params: (QParams, QParams),
    per_channel: bool,
) -> Layer {
    let (weight, bias) = (file.tensor(layer.weight()), file.tensor(layer.bias()));
    let act = layer.activation();
    let quant = |w: &mut ModelWriter, channel_of: &dyn Fn(usize) -> usize| {
        quant_layer(w, input, weight, channel_of, bias, per_channel, params, act)
    };
    let per_row = |len: usize| weight.len() / len.max(1);
    match *layer {
        Layer::Dense {
            in_dim, out_dim, ..
        } => Layer::QDense {
            in_dim,
            out_dim,
            q: quant(w, &|i| i / per_row(bias.len())),
        },
        Layer::Conv2d(c) => Layer::QConv2d {
            conv: c.geometry(),
            q: quant(w, &|i| i / per_row(bias.len())),
        },
        Layer::ConvTranspose2d {
            conv,
            output_padding,
        } => {
            let g: ConvGeometry = conv.geometry();
            let taps = (g.kernel[0] * g.kernel[1]) as usize;
            Layer::QConvTranspose2d {
                conv: g,
                output_padding,
                q: quant(w, &|i| (i / taps) % g.out_channels as usize),
            }
        }
        other => other,
    }
}

/// Quantizes a folded f32 model into `w`: layer `i` (encoder then decoder)
/// reads `boundaries[i]` and writes `boundaries[i + 1]`; a layer whose
/// activation needs a table requantizes to `pre[i]` first. The model-level
/// f32 parts (normalization, sampler, parameter table, singular values,
/// stored basis) are copied. Returns the metadata; finish `w` with it.
///
/// # Panics
///
/// If the model's basis is separate or a slice is too short (a test bug).
pub fn quantize_meta(
    file: &ModelFile<'_>,
    w: &mut ModelWriter,
    boundaries: &[QParams],
    pre: &[QParams],
    per_channel: impl Fn(usize) -> bool,
) -> ModelMeta<'static> {
    let m = &file.meta;
    let mut layers: Vec<Layer> = Vec::new();
    for (i, l) in m.encoder.iter().chain(&m.decoder).enumerate() {
        let needs_table = !matches!(l.activation(), Activation::Identity | Activation::Relu);
        let out = if needs_table {
            pre[i]
        } else {
            boundaries[i + 1]
        };
        let params = (out, boundaries[i + 1]);
        layers.push(quantize_layer(
            file,
            w,
            l,
            boundaries[i],
            params,
            per_channel(i),
        ));
    }
    let (encoder, decoder) = layers.split_at(m.encoder.len());
    let mut copy = |t: TensorRef| w.tensor(file.tensor(t));
    let normalization = match m.normalization {
        Normalization::PerFeature { shift, scale } => Normalization::PerFeature {
            shift: copy(shift),
            scale: copy(scale),
        },
        other => other,
    };
    let Basis::Folded { stored } = m.basis else {
        panic!("quantize_meta needs a folded basis")
    };
    ModelMeta {
        name: "int8",
        input_dim: m.input_dim,
        latent_dim: m.latent_dim,
        rank: m.rank,
        normalization,
        encoder: heapless::Vec::from_slice(encoder).expect("capacity"),
        decoder: heapless::Vec::from_slice(decoder).expect("capacity"),
        basis: Basis::Folded {
            stored: stored.map(&mut copy),
        },
        sampler: m.sampler.map(|s| Sampler {
            mean: copy(s.mean),
            chol: copy(s.chol),
        }),
        params: m.params.map(|p| ParamTable {
            params: copy(p.params),
            coeffs: copy(p.coeffs),
            ..p
        }),
        singular_values: m.singular_values.map(&mut copy),
    }
}

/// A valid int8 model of random small shape from `seed`: a folded
/// [`random_model`] (even seeds) or [`random_conv_model`] (odd seeds),
/// quantized with random activation parameters and per-channel or
/// per-tensor weights layer by layer.
pub fn random_int8_model(seed: u64) -> (ModelMeta<'static>, Vec<u8>) {
    let bytes = (0u64..)
        .map(|i| {
            let s = seed ^ (i << 40);
            if seed % 2 == 0 {
                random_model(s).1
            } else {
                random_conv_model(s).1
            }
        })
        .find(|b| {
            let b = AlignedBytes::new(b);
            matches!(read(&b).map(|f| f.meta.basis), Ok(Basis::Folded { .. }))
        })
        .expect("a folded model");
    let bytes = AlignedBytes::new(&bytes);
    let file = read(&bytes).expect("valid");
    let n = file.meta.encoder.len() + file.meta.decoder.len();
    let mut r = Rng::new(seed ^ 0x1E8);
    let mut qp = || QParams {
        scale: (1.0 + r.uniform(0.4)) / (1u32 << r.range(2, 7)) as f32,
        zero_point: r.range(0, 40) as i32 - 20,
    };
    let boundaries: Vec<QParams> = (0..=n).map(|_| qp()).collect();
    let pre: Vec<QParams> = (0..n).map(|_| qp()).collect();
    let per_channel: Vec<bool> = (0..n).map(|_| r.coin()).collect();
    let mut w = ModelWriter::new();
    let meta = quantize_meta(&file, &mut w, &boundaries, &pre, |i| per_channel[i]);
    let bytes = w.finish(&meta).expect("the quantized model is valid");
    (meta, bytes)
}

/// The quantized twin of [`tiny_cnn_model`](super::tiny_cnn_model): the
/// same geometry (Conv2d, Dense | Dense, ConvTranspose2d on `1 x 4 x 4`),
/// per-channel weights on the convolutions and per-tensor on the dense
/// layers, a tanh table on the first layer, a ReLU clamp in the decoder,
/// global normalization and a sampler. Pinned by
/// `formats/tests/golden/tiny-int8.rrae` (format 1.2).
pub fn tiny_int8_model() -> (ModelMeta<'static>, Vec<u8>) {
    let (_, f32_bytes) = super::tiny_cnn_model();
    let f32_bytes = AlignedBytes::new(&f32_bytes);
    let file = read(&f32_bytes).expect("valid");
    // Exact binary fractions keep the file reproducible everywhere.
    let p = |scale: f32, zero_point: i32| QParams { scale, zero_point };
    let boundaries = [
        p(0.0625, -8),
        p(0.0078125, 0),
        p(0.03125, 3),
        p(0.015625, -128),
        p(0.0625, 5),
    ];
    let pre = [p(0.015625, -2), p(1.0, 0), p(1.0, 0), p(1.0, 0)];
    let mut w = ModelWriter::new();
    let mut meta = quantize_meta(&file, &mut w, &boundaries, &pre, |i| i % 3 == 0);
    meta.name = "tiny-int8";
    meta.normalization = Normalization::Global {
        shift: 0.5,
        scale: 2.0,
    };
    meta.sampler = Some(Sampler {
        mean: w.tensor(&[0.25, -0.25]),
        chol: w.tensor(&[1.0, 0.0, 0.5, 2.0]),
    });
    let bytes = w.finish(&meta).expect("the tiny int8 model is valid");
    (meta, bytes)
}
