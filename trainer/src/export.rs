//! Writes a trained model as a `.rrae` file: layers, normalization (folded
//! into the first and last layers when possible), the global basis (folded
//! into the adjacent layers by default), the Gaussian of the training
//! coefficients, the parameter table and the training singular values. Callers write the bytes with [`crate::atomic::write`].

use anyhow::{Context, Result};
use ndarray::{Array1, Array2, ArrayView2};
use rrae_format::heapless;
use rrae_format::meta::{
    Activation, Basis, Conv, Layer, Normalization, ParamTable, Sampler, MAX_LAYERS,
};
use rrae_format::{ModelMeta, ModelWriter};

use crate::basis;
use crate::data::Normalizer;
use crate::nn::{Dense, Layer as NetLayer, Network};
use crate::train::RraeModel;

/// What goes into the file besides the networks.
#[derive(Debug, Clone, Copy)]
pub struct ExportInput<'a> {
    /// Model name (e.g. the dataset).
    pub name: &'a str,
    /// The trained networks and basis.
    pub model: &'a RraeModel,
    /// Normalization fitted on the training data.
    pub normalizer: &'a Normalizer,
    /// Normalized training data (for the coefficient Gaussian and table).
    pub train: ArrayView2<'a, f32>,
    /// Generating parameters of the training samples, if known.
    pub train_params: Option<ArrayView2<'a, f64>>,
    /// Fold `U_k` into the adjacent layers (default) or keep it separate.
    pub fold: bool,
}

fn f32s(a: &Array2<f64>) -> Vec<f32> {
    a.iter().map(|&v| v as f32).collect()
}

fn layer(w: &mut ModelWriter, l: &NetLayer<f32>) -> Result<Layer> {
    match l {
        NetLayer::Coord(c) => layer(w, &NetLayer::Dense(c.to_dense())),
        NetLayer::Dense(d) => {
            let weight = w.tensor(d.w.as_standard_layout().as_slice().unwrap_or(&[]));
            let bias = w.tensor(d.b.as_slice().unwrap_or(&[]));
            Ok(Layer::Dense {
                in_dim: d.in_dim() as u32,
                out_dim: d.out_dim() as u32,
                weight,
                bias,
                activation: d.act,
            })
        }
        NetLayer::Conv2d { conv, act } => {
            let s = conv.spec();
            let geometry = (s.kernel, s.stride, s.padding);
            let (weight, bias) = (&conv.w, &conv.b);
            let c = conv_layer(w, conv.in_shape(), s.out_channels, geometry, weight, bias)?;
            Ok(Layer::Conv2d(Conv {
                activation: *act,
                ..c
            }))
        }
        NetLayer::ConvTranspose2d { conv, act } => {
            let s = conv.spec();
            let geometry = (s.kernel, s.stride, s.padding);
            let (weight, bias) = (&conv.w, &conv.b);
            let c = conv_layer(w, conv.in_shape(), s.out_channels, geometry, weight, bias)?;
            let (oh, ow) = s.output_padding;
            Ok(Layer::ConvTranspose2d {
                conv: Conv {
                    activation: *act,
                    ..c
                },
                output_padding: [u32_of(oh)?, u32_of(ow)?],
            })
        }
    }
}

fn u32_of(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| anyhow::anyhow!("a layer size {v} does not fit the model file"))
}

/// `(kernel, stride, padding)`, each `(height, width)`.
type Geometry = ((usize, usize), (usize, usize), (usize, usize));

/// The file's [`Conv`] (identity activation) for a convolution's input
/// shape, geometry and parameters; the weight layouts of the trainer and
/// the format are the same.
fn conv_layer(
    w: &mut ModelWriter,
    (c, h, wd): (usize, usize, usize),
    out_channels: usize,
    (kernel, stride, padding): Geometry,
    weight: &ndarray::Array4<f32>,
    bias: &Array1<f32>,
) -> Result<Conv> {
    let pair = |(a, b): (usize, usize)| -> Result<[u32; 2]> { Ok([u32_of(a)?, u32_of(b)?]) };
    Ok(Conv {
        in_channels: u32_of(c)?,
        in_height: u32_of(h)?,
        in_width: u32_of(wd)?,
        out_channels: u32_of(out_channels)?,
        kernel: pair(kernel)?,
        stride: pair(stride)?,
        padding: pair(padding)?,
        weight: w.tensor(weight.as_standard_layout().as_slice().unwrap_or(&[])),
        bias: w.tensor(bias.as_slice().unwrap_or(&[])),
        activation: Activation::Identity,
    })
}

fn layers(
    w: &mut ModelWriter,
    net: &Network<f32>,
    what: &str,
) -> Result<heapless::Vec<Layer, MAX_LAYERS>> {
    let mut out = heapless::Vec::new();
    for l in &net.layers {
        out.push(layer(w, l)?)
            .map_err(|_| anyhow::anyhow!("the {what} has more than {MAX_LAYERS} layers"))?;
    }
    Ok(out)
}

/// The dense layer at one end of a network (where the basis folds in).
fn dense_end<'a>(layer: Option<&'a mut NetLayer<f32>>, what: &str) -> Result<&'a mut Dense<f32>> {
    match layer {
        Some(NetLayer::Dense(d)) => Ok(d),
        _ => anyhow::bail!("cannot fold the basis: the {what} is not a dense layer"),
    }
}

/// Folds `U_k` (`L x k`) into the networks: encoder last layer
/// `W' = U_kᵀ W`, `b' = U_kᵀ b`; decoder first layer `W₁' = W₁ U_k`
/// (computed in f64; a coordinate layer folds it into its latent weights).
/// The encoder's last layer must be dense and the decoder's first dense or
/// a coordinate layer (true of every architecture the trainer builds).
///
/// # Errors
/// If they are not.
pub fn fold(model: &RraeModel) -> Result<(Network<f32>, Network<f32>)> {
    let u = model.u_k.mapv(f64::from);
    let (mut enc, mut dec) = (model.encoder.clone(), model.decoder.clone());
    let last = dense_end(enc.layers.last_mut(), "encoder's last layer")?;
    let w: Array2<f64> = u.t().dot(&last.w.mapv(f64::from));
    let b: Array1<f64> = u.t().dot(&last.b.mapv(f64::from));
    last.w = w.mapv(|v| v as f32);
    last.b = b.mapv(|v| v as f32);
    match dec.layers.first_mut() {
        Some(NetLayer::Coord(first)) => first.fold_basis(u.view()),
        first => {
            let first = dense_end(first, "decoder's first layer")?;
            first.w = first.w.mapv(f64::from).dot(&u).mapv(|v| v as f32);
        }
    }
    Ok((enc, dec))
}

/// Per-feature `(shift, scale)` of `n` for `dim` features (`None` for no
/// normalization).
///
/// # Errors
/// A normalization of another width.
pub fn shift_scale(n: &Normalizer, dim: usize) -> Result<Option<(Vec<f64>, Vec<f64>)>> {
    let (shift, scale) = match n {
        Normalizer::None => return Ok(None),
        Normalizer::Global { shift, scale } => (vec![*shift; dim], vec![*scale; dim]),
        Normalizer::PerFeature { shift, scale } => (shift.to_vec(), scale.to_vec()),
    };
    anyhow::ensure!(
        shift.len() == dim && scale.len() == dim,
        "the normalization has {} features, the model {dim}",
        shift.len()
    );
    Ok(Some((shift, scale)))
}

/// Folds the normalization `n` into the networks, so that the file can say
/// [`Normalization::None`] and the runtime reads `x` and writes `x_hat` in
/// place (scratch without `input_dim`, see `rrae_format::scratch_floats`).
///
/// First encoder layer: `W' = W diag(1/scale)`, `b' = b - W (shift/scale)`;
/// last decoder layer: `W' = diag(scale) W`, `b' = scale * b + shift`
/// (computed in f64). Only possible when the last decoder layer's activation
/// is [`Activation::Identity`] and both layers are dense; returns `false`
/// and leaves the networks untouched otherwise (and for
/// [`Normalizer::None`]). A convolution's zero padding is not the
/// normalized image of a zero input, so a normalization never folds into a
/// first convolution; the file then keeps the normalization.
///
/// # Errors
/// If the normalization's width differs from the networks'.
pub fn fold_normalization(
    n: &Normalizer,
    enc: &mut Network<f32>,
    dec: &mut Network<f32>,
) -> Result<bool> {
    let (Some(NetLayer::Dense(first)), Some(NetLayer::Dense(last))) =
        (enc.layers.first_mut(), dec.layers.last_mut())
    else {
        return Ok(false);
    };
    let Some((shift, scale)) = shift_scale(n, first.in_dim())? else {
        return Ok(false);
    };
    if last.act != Activation::Identity || last.out_dim() != shift.len() {
        return Ok(false);
    }
    let w = first.w.mapv(f64::from);
    for (i, mut row) in first.w.rows_mut().into_iter().enumerate() {
        let mut b = f64::from(first.b[i]);
        for (j, v) in row.iter_mut().enumerate() {
            b -= w[[i, j]] * shift[j] / scale[j];
            *v = (w[[i, j]] / scale[j]) as f32;
        }
        first.b[i] = b as f32;
    }
    for (i, mut row) in last.w.rows_mut().into_iter().enumerate() {
        row.mapv_inplace(|v| (f64::from(v) * scale[i]) as f32);
        last.b[i] = (f64::from(last.b[i]) * scale[i] + shift[i]) as f32;
    }
    Ok(true)
}

fn normalization(w: &mut ModelWriter, n: &Normalizer) -> Normalization {
    match n {
        Normalizer::None => Normalization::None,
        Normalizer::Global { shift, scale } => Normalization::Global {
            shift: *shift as f32,
            scale: *scale as f32,
        },
        Normalizer::PerFeature { shift, scale } => {
            let s: Vec<f32> = shift.iter().map(|&v| v as f32).collect();
            let c: Vec<f32> = scale.iter().map(|&v| v as f32).collect();
            Normalization::PerFeature {
                shift: w.tensor(&s),
                scale: w.tensor(&c),
            }
        }
    }
}

/// The complete `.rrae` file contents.
pub fn model_bytes(input: &ExportInput<'_>) -> Result<Vec<u8>> {
    let model = input.model;
    let mut w = ModelWriter::new();
    let (mut enc, mut dec) = if input.fold {
        fold(model)?
    } else {
        (model.encoder.clone(), model.decoder.clone())
    };
    let folded_norm = fold_normalization(input.normalizer, &mut enc, &mut dec)?;
    let encoder = layers(&mut w, &enc, "encoder")?;
    let decoder = layers(&mut w, &dec, "decoder")?;
    let u = w.tensor(model.u_k.as_standard_layout().as_slice().unwrap_or(&[]));
    let basis = if input.fold {
        Basis::Folded { stored: Some(u) }
    } else {
        Basis::Separate { u }
    };
    let normalization = if folded_norm {
        Normalization::None
    } else {
        normalization(&mut w, input.normalizer)
    };

    let alpha = model.encode(input.train)?.mapv(f64::from);
    let (mean, chol) =
        basis::coefficient_gaussian(alpha.view()).context("fitting the coefficient Gaussian")?;
    let sampler = Some(Sampler {
        mean: w.tensor(&mean.iter().map(|&v| v as f32).collect::<Vec<_>>()),
        chol: w.tensor(&f32s(&chol)),
    });
    let params = match input.train_params {
        Some(p) if p.nrows() == alpha.nrows() => Some(ParamTable {
            param_dim: p.ncols() as u32,
            count: p.nrows() as u32,
            params: w.tensor(&p.iter().map(|&v| v as f32).collect::<Vec<_>>()),
            coeffs: w.tensor(&f32s(&alpha)),
        }),
        _ => None,
    };
    let sv: Vec<f32> = model.singular_values.iter().map(|&v| v as f32).collect();
    let singular_values = Some(w.tensor(&sv));
    let meta = ModelMeta {
        name: input.name,
        input_dim: model.input_dim() as u32,
        latent_dim: model.latent_dim() as u32,
        rank: model.rank() as u32,
        normalization,
        encoder,
        decoder,
        basis,
        sampler,
        params,
        singular_values,
    };
    w.finish(&meta)
        .map_err(|e| anyhow::anyhow!("encoding the model file: {e}"))
}
