//! Post-training quantization of a whole model: the f32 networks read from
//! a `.rrae` file, calibrated on sample data, quantized layer by layer into
//! a chain whose every layer's input parameters are its predecessor's
//! output parameters (the encoder's last output parameters are the code's,
//! the decoder's first input).

use anyhow::{anyhow, Context, Result};
use ndarray::{Array2, ArrayView2};
use rrae_format::meta::{Basis, Normalization};
use rrae_format::ModelFile;

use super::calibrate::{self, LayerRange, Method, Range};
use super::layer::{forward_chain, QAct, QKind, QLayer};
use super::params::{
    choose_qparams, dequantize, effective_scale, quantize, quantize_bias, quantize_weights,
};
use super::{lut, QParams};
use crate::data::Normalizer;
use crate::nn::from_file::file_network;
use crate::nn::{Layer, Network};

/// The f32 model of a `.rrae` file as trainer networks.
#[derive(Debug, Clone)]
pub struct F32Model {
    /// The file's input normalization.
    pub normalizer: Normalizer,
    /// Encoder (input to coefficients; the basis is folded).
    pub encoder: Network<f32>,
    /// Decoder (coefficients to output).
    pub decoder: Network<f32>,
}

impl F32Model {
    /// The networks and normalization of a validated f32 model file.
    ///
    /// # Errors
    /// A file whose basis is not folded (quantized models need it folded),
    /// or one that is already quantized.
    pub fn from_file(file: &ModelFile<'_>) -> Result<Self> {
        let m = &file.meta;
        if let Basis::Separate { .. } = m.basis {
            return Err(anyhow!(
                "the model's basis is not folded (trained with --no-fold): quantization needs a folded model"
            ));
        }
        let normalizer = match m.normalization {
            Normalization::None => Normalizer::None,
            Normalization::Global { shift, scale } => Normalizer::Global {
                shift: f64::from(shift),
                scale: f64::from(scale),
            },
            Normalization::PerFeature { shift, scale } => {
                let f = |r| file.tensor(r).iter().map(|&v| f64::from(v)).collect();
                Normalizer::PerFeature {
                    shift: f(shift),
                    scale: f(scale),
                }
            }
        };
        Ok(Self {
            normalizer,
            encoder: file_network(file, &m.encoder, "encoder")?,
            decoder: file_network(file, &m.decoder, "decoder")?,
        })
    }
}

/// How [`F32Model::quantize`] quantizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// How activation ranges are calibrated.
    pub calibration: Method,
    /// One weight scale per layer instead of one per output channel (saves
    /// 12 bytes per channel: scale, multiplier, shift).
    pub per_tensor: bool,
    /// Quantization-aware fine-tuning before the quantization (`None`:
    /// post-training quantization only).
    pub qat: Option<super::qat::QatOptions>,
}

/// The quantized encoder and decoder of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct QNetworks {
    /// Input to coefficients.
    pub encoder: Vec<QLayer>,
    /// Coefficients to output.
    pub decoder: Vec<QLayer>,
}

/// Quantizes one f32 layer whose int8 input has parameters `input`.
fn quantize_layer(
    l: &Layer<f32>,
    input: QParams,
    r: &LayerRange,
    index: usize,
    per_tensor: bool,
) -> Result<QLayer> {
    let bad = |what: &str| anyhow!("layer {index}: {what}");
    let (kind, w, b, act) = match l {
        Layer::Dense(d) => (
            QKind::Dense {
                in_dim: d.in_dim(),
                out_dim: d.out_dim(),
            },
            d.w.as_standard_layout().to_owned(),
            &d.b,
            d.act,
        ),
        Layer::Conv2d { conv, act } => {
            let w = conv.w.as_standard_layout().to_owned();
            let flat = Array2::from_shape_vec((1, w.len()), w.into_raw_vec_and_offset().0)?;
            (QKind::Conv2d(*conv.spec()), flat, &conv.b, *act)
        }
        Layer::ConvTranspose2d { conv, act } => {
            let w = conv.w.as_standard_layout().to_owned();
            let flat = Array2::from_shape_vec((1, w.len()), w.into_raw_vec_and_offset().0)?;
            (QKind::ConvTranspose2d(*conv.spec()), flat, &conv.b, *act)
        }
        Layer::Coord(_) => return Err(bad("a coordinate layer cannot be quantized")),
    };
    let flat = w.as_slice().ok_or_else(|| bad("non-contiguous weights"))?;
    let channels = kind.channels();
    let qw = if per_tensor {
        quantize_weights(flat, 1, |_| 0)
    } else {
        quantize_weights(flat, channels, |i| kind.weight_channel(i))
    }
    .ok_or_else(|| bad("a weight is not finite"))?;
    let qp = |range: Range, what: &str| {
        choose_qparams(range.min, range.max)
            .ok_or_else(|| bad(&format!("the calibrated {what} range is not finite")))
    };
    let (output, qact) = match lut::clamp_range(act, qp(r.post, "output")?) {
        Some((min, max)) => (qp(r.post, "output")?, QAct::Clamp { min, max }),
        None => {
            let post = qp(r.post, "output")?;
            let (min, max) = lut::table_input_range(act, r.pre.min, r.pre.max, post.scale);
            let pre = qp(Range { min, max }, "pre-activation")?;
            let table = lut::table(act, pre, post).to_vec();
            (
                pre,
                QAct::Table {
                    table,
                    output: post,
                    source: act,
                },
            )
        }
    };
    let mut multiplier = Vec::with_capacity(channels);
    let mut shift = Vec::with_capacity(channels);
    let fc_per_tensor = matches!(kind, QKind::Dense { .. }) && qw.scales.len() == 1;
    for &s in &qw.scales {
        let m = effective_scale(input.scale, s, output.scale, fc_per_tensor);
        match rrae_format::quant::quantize_multiplier(m) {
            Some((q, e)) => {
                multiplier.push(q);
                shift.push(e);
            }
            _ => {
                return Err(bad(&format!(
                    "requantization scale {m:e} is outside TFLite's range"
                )))
            }
        }
    }
    let bias = b
        .iter()
        .enumerate()
        .map(|(c, &b)| quantize_bias(b, input.scale, qw.scales[c.min(qw.scales.len() - 1)]))
        .collect();
    Ok(QLayer {
        kind,
        input,
        weight: qw.values,
        weight_scale: qw.scales,
        bias,
        multiplier,
        shift,
        output,
        act: qact,
    })
}

fn quantize_chain(
    net: &Network<f32>,
    input: QParams,
    ranges: &[LayerRange],
    per_tensor: bool,
    what: &str,
) -> Result<Vec<QLayer>> {
    let mut q = input;
    let mut out = Vec::new();
    for (i, (l, r)) in net.layers.iter().zip(ranges).enumerate() {
        let ql = quantize_layer(l, q, r, i, per_tensor)
            .with_context(|| format!("quantizing the {what}"))?;
        q = ql.out_qparams();
        out.push(ql);
    }
    Ok(out)
}

/// Calibrated activation ranges of a whole model: what
/// [`F32Model::quantize_with`] needs besides the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Parameters of the int8 input.
    pub input: QParams,
    /// Ranges of every encoder layer.
    pub encoder: Vec<LayerRange>,
    /// Ranges of every decoder layer (calibrated on the f32 encoder's codes).
    pub decoder: Vec<LayerRange>,
}

impl F32Model {
    /// Calibrates on `data` (samples in the model's original units) by
    /// `method`.
    ///
    /// # Errors
    /// Bad calibration data (empty, wrong width, non-finite; one line).
    pub fn calibrate(
        &self,
        data: ArrayView2<f32>,
        method: Method,
        what: &str,
    ) -> Result<Calibration> {
        calibrate::check_data(data, self.encoder.in_dim(), what)?;
        let x = self.normalizer.apply(data)?;
        let mut xs: Vec<f32> = x.iter().copied().collect();
        let in_range = Range::of(&mut xs, method);
        let input = choose_qparams(in_range.min, in_range.max)
            .ok_or_else(|| anyhow!("calibration data {what}: non-finite range"))?;
        let (encoder, codes) = calibrate::calibrate(&self.encoder, x.view(), method)?;
        let (decoder, _) = calibrate::calibrate(&self.decoder, codes.view(), method)?;
        Ok(Calibration {
            input,
            encoder,
            decoder,
        })
    }

    /// Quantizes every layer with the activation ranges of `cal`.
    ///
    /// # Errors
    /// A layer whose scales fall outside TFLite's range.
    pub fn quantize_with(&self, cal: &Calibration, per_tensor: bool) -> Result<QNetworks> {
        let encoder = quantize_chain(
            &self.encoder,
            cal.input,
            &cal.encoder,
            per_tensor,
            "encoder",
        )?;
        let code = encoder
            .last()
            .map(QLayer::out_qparams)
            .ok_or_else(|| anyhow!("the encoder has no layer"))?;
        let decoder = quantize_chain(&self.decoder, code, &cal.decoder, per_tensor, "decoder")?;
        Ok(QNetworks { encoder, decoder })
    }

    /// Post-training quantization: calibrates on `data` (samples in the
    /// model's original units) as `opts` say and quantizes every layer.
    ///
    /// # Errors
    /// Bad calibration data (empty, wrong width, non-finite; one line), or
    /// a layer whose scales fall outside TFLite's range.
    pub fn quantize(&self, data: ArrayView2<f32>, opts: Options, what: &str) -> Result<QNetworks> {
        let cal = self.calibrate(data, opts.calibration, what)?;
        self.quantize_with(&cal, opts.per_tensor)
    }
}

impl QNetworks {
    /// Reconstructs every row of `x` (original units) with the reference
    /// int8 kernels: normalize, quantize, encoder, decoder, dequantize,
    /// denormalize (what the runtime's f32 API does).
    ///
    /// # Errors
    /// A width that does not match the normalizer.
    pub fn reconstruct_reference(
        &self,
        normalizer: &Normalizer,
        x: ArrayView2<f32>,
    ) -> Result<Array2<f32>> {
        let (Some(first), Some(last)) = (self.encoder.first(), self.decoder.last()) else {
            return Err(anyhow!("empty network"));
        };
        let (qin, qout) = (first.input, last.out_qparams());
        let xn = normalizer.apply(x)?;
        let mut out = Array2::zeros(xn.dim());
        for (row, mut o) in xn.rows().into_iter().zip(out.rows_mut()) {
            let q: Vec<i8> = row.iter().map(|&v| quantize(v, qin)).collect();
            let code = forward_chain(&self.encoder, &q);
            let y = forward_chain(&self.decoder, &code);
            o.iter_mut()
                .zip(y)
                .for_each(|(d, v)| *d = dequantize(v, qout));
        }
        Ok(normalizer.invert(out.view())?)
    }
}
