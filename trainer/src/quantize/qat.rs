//! Quantization-aware fine-tuning (QAT): the f32 encoder and decoder are
//! fine-tuned through a fake-quantized forward pass that simulates the int8
//! file's inference path (quantized input, int8 weights and int32 biases of
//! the current weights, every layer's requantization to its calibrated
//! `(scale, zero point)`, clamps and activation tables, the int8 code, the
//! int8 output), with the straight-through estimator in the backward pass:
//! every `round()` passes the gradient unchanged, every clamp passes it only
//! inside its range. The weights are re-quantized at every step and the
//! activation ranges re-calibrated every [`QatOptions::recalibrate_every`]
//! steps, where the int8 loss on the calibration data is measured: the
//! weights with the lowest one are kept (the starting point included, so
//! fine-tuning never makes that loss worse). The caller then quantizes the
//! fine-tuned model with the ordinary post-training path
//! ([`F32Model::quantize`]), so the file is written by the same code as
//! without QAT.

use anyhow::{anyhow, Result};
use ndarray::{Array2, ArrayView2, Axis, NdFloat, Zip};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::layer::{QAct, QLayer};
use super::model::{F32Model, Options, QNetworks};
use super::params::{dequantize, quantize};
use crate::nn::activation::{self, Activation};
use crate::nn::{relative_loss, Grads, Layer, Network, Workspace};
use crate::optim::{Optimizer, OptimizerKind};

/// Default Adam learning rate of the fine-tuning (chosen by measurement:
/// docs/TRAINING.md "Int8 models").
pub const DEFAULT_LR: f64 = 1e-4;
/// Minibatch size of the fine-tuning.
pub const BATCH: usize = 64;
/// Default period (steps) of the activation-range re-calibration.
pub const DEFAULT_RECALIBRATE_EVERY: usize = 50;

/// How [`fine_tune`] fine-tunes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QatOptions {
    /// Adam steps (0: none).
    pub steps: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Minibatch size (rows drawn with replacement).
    pub batch: usize,
    /// Seed of the minibatch draws.
    pub seed: u64,
    /// Re-calibrate the activation ranges, and measure the int8 loss on the
    /// calibration data, every this many steps and after the last (0: only
    /// before the first step and after the last).
    pub recalibrate_every: usize,
}

impl QatOptions {
    /// `steps` steps with the default learning rate, batch and period.
    pub fn new(steps: usize, seed: u64) -> Self {
        Self {
            steps,
            lr: DEFAULT_LR,
            batch: BATCH,
            seed,
            recalibrate_every: DEFAULT_RECALIBRATE_EVERY,
        }
    }
}

/// What the fake-quantized graph computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The int8 path: input, weights, biases and activations rounded to
    /// their grids (the QAT forward pass).
    Int8,
    /// The same graph with every `round()` replaced by the identity (clamps
    /// kept): the function whose exact gradient the straight-through
    /// estimator computes, for finite-difference checks.
    Surrogate,
}

/// One layer's forward record.
struct Record<T> {
    /// The layer with fake-quantized parameters and an identity activation.
    net: Network<T>,
    ws: Workspace<T>,
    /// The layer's input.
    input: Array2<T>,
    /// `d(output)/d(pre-activation)` under the straight-through estimator.
    slope: Array2<T>,
}

/// A forward pass through the fake-quantized graph, kept for
/// [`FakeQuant::backward`].
pub struct Tape<T> {
    records: Vec<Record<T>>,
    /// The graph's output (normalized units).
    pub output: Array2<T>,
}

/// The fake-quantized graph of a model: its f32 layers (encoder then
/// decoder) with the int8 layers quantized from them.
pub struct FakeQuant<'a, T> {
    layers: Vec<&'a Layer<T>>,
    q: Vec<&'a QLayer>,
    mode: Mode,
}

fn cast<T: NdFloat>(v: f64) -> T {
    T::from(v).unwrap_or_else(T::zero)
}

/// The real range `[lo, hi]` an activation's clamp keeps (`None`: a table,
/// whose input range is that of its pre-activation parameters), and the
/// value of one pre-activation `z` in `mode`.
fn activate<T: NdFloat>(q: &QLayer, z: T, mode: Mode) -> (T, T) {
    let p = q.output;
    let s = f64::from(p.scale);
    let at = |v: i32| cast::<T>(s * f64::from(v - p.zero_point));
    let zf = z.to_f32().unwrap_or(0.0);
    match &q.act {
        QAct::Clamp { min, max } => {
            let (lo, hi) = (at(i32::from(*min)), at(i32::from(*max)));
            let inside = z >= lo && z <= hi;
            let a = match mode {
                Mode::Int8 => {
                    let v = quantize(zf, p).clamp(*min, *max);
                    cast(f64::from(dequantize(v, p)))
                }
                Mode::Surrogate => z.max(lo).min(hi),
            };
            (a, if inside { T::one() } else { T::zero() })
        }
        QAct::Table {
            table,
            output,
            source,
        } => {
            let (lo, hi) = (at(-128), at(127));
            let inside = z >= lo && z <= hi;
            let a = match mode {
                Mode::Int8 => {
                    let i = (i32::from(quantize(zf, p)) + 128) as usize;
                    cast(f64::from(dequantize(table[i], *output)))
                }
                Mode::Surrogate => activation::value(*source, z.max(lo).min(hi)),
            };
            let d = if inside {
                activation::derivative(*source, z)
            } else {
                T::zero()
            };
            (a, d)
        }
    }
}

/// `layer` with the int8 weights and biases of `q` (dequantized) in `Int8`
/// mode, as it is in `Surrogate` mode; its activation is the identity (the
/// graph applies `q`'s).
fn fake_layer<T: NdFloat>(layer: &Layer<T>, q: &QLayer, mode: Mode) -> Result<Layer<T>> {
    let mut l = layer.clone();
    l.set_activation(Activation::Identity);
    if mode == Mode::Surrogate {
        return Ok(l);
    }
    let per_tensor = q.weight_scale.len() == 1;
    let [w, b] = l.tensors_mut();
    if w.len() != q.weight.len() || b.len() != q.bias.len() {
        return Err(anyhow!("the int8 layer does not match the f32 layer"));
    }
    let scale = |c: usize| q.weight_scale[if per_tensor { 0 } else { c }];
    for (i, (w, &v)) in w.iter_mut().zip(&q.weight).enumerate() {
        *w = cast(f64::from(v) * f64::from(scale(q.kind.weight_channel(i))));
    }
    for (c, (b, &v)) in b.iter_mut().zip(&q.bias).enumerate() {
        *b = cast(f64::from(v) * f64::from(q.input.scale) * f64::from(scale(c)));
    }
    Ok(l)
}

impl<'a, T: NdFloat> FakeQuant<'a, T> {
    /// The graph of `encoder` then `decoder` with their int8 layers `q`.
    ///
    /// # Errors
    /// Networks and int8 layers that do not match.
    pub fn new(
        encoder: &'a Network<T>,
        decoder: &'a Network<T>,
        q: &'a QNetworks,
        mode: Mode,
    ) -> Result<Self> {
        let layers: Vec<_> = encoder.layers.iter().chain(&decoder.layers).collect();
        let q: Vec<_> = q.encoder.iter().chain(&q.decoder).collect();
        if layers.len() != q.len() {
            return Err(anyhow!(
                "{} f32 layers but {} int8 layers",
                layers.len(),
                q.len()
            ));
        }
        Ok(Self { layers, q, mode })
    }

    /// Forward pass of a batch `x` (rows are samples, normalized units).
    ///
    /// # Errors
    /// A batch of the wrong width, or layers that do not match.
    pub fn forward(&self, x: ArrayView2<T>) -> Result<Tape<T>> {
        let qin = self
            .q
            .first()
            .map(|q| q.input)
            .ok_or_else(|| anyhow!("no layer"))?;
        let mut h = match self.mode {
            Mode::Int8 => x.mapv(|v| {
                let v = quantize(v.to_f32().unwrap_or(0.0), qin);
                cast(f64::from(dequantize(v, qin)))
            }),
            Mode::Surrogate => x.to_owned(),
        };
        let mut records = Vec::with_capacity(self.layers.len());
        for (&layer, &q) in self.layers.iter().zip(&self.q) {
            let net = Network::new(vec![fake_layer(layer, q, self.mode)?])?;
            let mut ws = Workspace::default();
            let z = net.forward(h.view(), &mut ws)?;
            let mut a = Array2::zeros(z.dim());
            let mut slope = Array2::zeros(z.dim());
            Zip::from(&mut a)
                .and(&mut slope)
                .and(&z)
                .for_each(|a, d, &z| (*a, *d) = activate(q, z, self.mode));
            records.push(Record {
                net,
                ws,
                input: h,
                slope,
            });
            h = a;
        }
        Ok(Tape { records, output: h })
    }

    /// Backward pass: `dy` is dL/d(output) of `tape`'s forward pass; returns
    /// every layer's gradients (straight-through), encoder first.
    ///
    /// # Errors
    /// A gradient of the wrong shape.
    pub fn backward(&self, tape: &mut Tape<T>, dy: ArrayView2<T>) -> Result<Vec<Grads<T>>> {
        let mut g = dy.to_owned();
        let mut grads = Vec::with_capacity(tape.records.len());
        for (i, r) in tape.records.iter_mut().enumerate().rev() {
            if g.dim() != r.slope.dim() {
                return Err(anyhow!("layer {i}: gradient of the wrong shape"));
            }
            g *= &r.slope;
            let mut lg = r.net.zero_grads();
            let dx = r
                .net
                .backward(r.input.view(), &mut r.ws, g.view(), &mut lg, i > 0)?;
            if let Some(dx) = dx {
                g = dx.to_owned();
            }
            grads.push(lg);
        }
        grads.reverse();
        Ok(grads)
    }
}

/// The relative training loss (%) of the fake-quantized graph on `x` and
/// its straight-through gradients.
///
/// # Errors
/// As [`FakeQuant::forward`].
pub fn loss_and_grads<T: NdFloat>(
    graph: &FakeQuant<'_, T>,
    x: ArrayView2<T>,
) -> Result<(T, Vec<Grads<T>>)> {
    let mut tape = graph.forward(x)?;
    let mut dy = Array2::zeros(tape.output.dim());
    let loss = relative_loss(tape.output.view(), x, dy.view_mut());
    let grads = graph.backward(&mut tape, dy.view())?;
    Ok((loss, grads))
}

/// Fine-tunes `model` through its fake-quantized graph on `train` (samples
/// in original units), calibrating on `calib` as `opts` say, and leaves it
/// at the checked weights whose int8 loss on `calib` is lowest.
/// Deterministic for a given `qat.seed`.
///
/// # Errors
/// Bad calibration or training data, or scales outside TFLite's range.
pub fn fine_tune(
    model: &mut F32Model,
    calib: ArrayView2<f32>,
    train: ArrayView2<f32>,
    opts: Options,
    qat: &QatOptions,
    what: &str,
) -> Result<()> {
    super::calibrate::check_data(train, model.encoder.in_dim(), what)?;
    let x = model.normalizer.apply(train)?;
    let xc = model.normalizer.apply(calib)?;
    let mut rng = StdRng::seed_from_u64(qat.seed);
    let mut opt = Optimizer::<f32>::new(OptimizerKind::Adam, qat.lr);
    let period = match qat.recalibrate_every {
        0 => usize::MAX,
        n => n,
    };
    let mut cal = model.calibrate(calib, opts.calibration, what)?;
    let mut best: Option<(f32, Network<f32>, Network<f32>)> = None;
    for step in 0..=qat.steps {
        let check = step % period == 0 || step == qat.steps;
        if check && step > 0 {
            cal = model.calibrate(calib, opts.calibration, what)?;
        }
        let q = model.quantize_with(&cal, opts.per_tensor)?;
        let graph = FakeQuant::new(&model.encoder, &model.decoder, &q, Mode::Int8)?;
        if check {
            // Keep the weights whose int8 model (as the export will
            // calibrate it) fits the calibration data best.
            let out = graph.forward(xc.view())?.output;
            let mut d = Array2::zeros(out.dim());
            let loss = relative_loss(out.view(), xc.view(), d.view_mut());
            if best.as_ref().is_none_or(|b| loss < b.0) {
                best = Some((loss, model.encoder.clone(), model.decoder.clone()));
            }
        }
        if step == qat.steps {
            break;
        }
        let rows: Vec<usize> = (0..qat.batch.max(1))
            .map(|_| rng.random_range(0..x.nrows()))
            .collect();
        let xb = x.select(Axis(0), &rows);
        let (_, grads) = loss_and_grads(&graph, xb.view())?;
        let params = model
            .encoder
            .tensors_mut()
            .chain(model.decoder.tensors_mut());
        opt.step(params, grads.iter().flat_map(Grads::tensors));
    }
    if let Some((_, encoder, decoder)) = best {
        model.encoder = encoder;
        model.decoder = decoder;
    }
    if !(model.encoder.is_finite() && model.decoder.is_finite()) {
        return Err(anyhow!(
            "quantization-aware fine-tuning diverged (non-finite weights): lower the learning rate"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Normalizer;
    use crate::nn::conv::{Conv2d, Conv2dSpec, ConvTranspose2d, ConvTranspose2dSpec};
    use crate::nn::Dense;
    use crate::quantize::calibrate::Method;

    /// A small conv + dense encoder (ELU) and dense + transposed-conv
    /// decoder (tanh), its int8 layers calibrated on `x`, and `x`.
    fn model(per_tensor: bool) -> (F32Model, QNetworks, Array2<f32>) {
        let mut rng = StdRng::seed_from_u64(3);
        let elu = Activation::Elu { alpha: 1.0 };
        let conv = Conv2d::init(Conv2dSpec::square((1, 2), [3, 2, 1], (4, 4)), &mut rng).unwrap();
        let conv_t = ConvTranspose2d::init(
            ConvTranspose2dSpec::square((2, 1), [2, 2, 0], (0, 0), (2, 2)),
            &mut rng,
        )
        .unwrap();
        let encoder = Network::new(vec![
            Layer::Conv2d { conv, act: elu },
            Layer::Dense(Dense::init(8, 2, Activation::Identity, &mut rng)),
        ])
        .unwrap();
        let decoder = Network::new(vec![
            Layer::Dense(Dense::init(2, 8, Activation::Tanh, &mut rng)),
            Layer::ConvTranspose2d {
                conv: conv_t,
                act: Activation::Identity,
            },
        ])
        .unwrap();
        let m = F32Model {
            normalizer: Normalizer::None,
            encoder,
            decoder,
        };
        let x = Array2::from_shape_fn((40, 16), |_| rng.random_range(-1.0..1.0f32));
        let q = m
            .quantize(
                x.view(),
                Options {
                    calibration: Method::MinMax,
                    per_tensor,
                    qat: None,
                },
                "x",
            )
            .unwrap();
        (m, q, x)
    }

    /// The straight-through gradient is the exact gradient of the graph
    /// with every `round()` replaced by the identity: checked against
    /// central differences of that graph (f64), for every parameter tensor.
    #[test]
    fn ste_gradient_matches_finite_differences_of_the_surrogate() {
        let (m, q, x) = model(false);
        let (enc, dec) = (m.encoder.cast::<f64>(), m.decoder.cast::<f64>());
        // Min/max calibration puts the extreme unit exactly on a clamp's
        // end (a kink): evaluate inside the calibrated ranges.
        let x = x.mapv(|v| 0.8 * f64::from(v));
        let mut rng = StdRng::seed_from_u64(5);
        let gout = Array2::from_shape_fn(x.dim(), |_| rng.random_range(-1.0..1.0));
        let loss = |e: &Network<f64>, d: &Network<f64>| {
            let g = FakeQuant::new(e, d, &q, Mode::Surrogate).unwrap();
            (&g.forward(x.view()).unwrap().output * &gout).sum()
        };
        let graph = FakeQuant::new(&enc, &dec, &q, Mode::Surrogate).unwrap();
        let mut tape = graph.forward(x.view()).unwrap();
        // Some units are clamped (zero slope), most are not.
        let slopes = tape.records.iter().flat_map(|r| r.slope.iter());
        let zero = slopes.clone().filter(|&&s| s == 0.0).count();
        assert!(zero < slopes.count() / 2, "{zero} clamped");
        let grads = graph.backward(&mut tape, gout.view()).unwrap();
        let flat: Vec<Vec<f64>> = grads
            .iter()
            .flat_map(Grads::tensors)
            .map(<[f64]>::to_vec)
            .collect();
        let h = 1e-6;
        let n_enc = 2 * enc.layers.len();
        for (t, g) in flat.iter().enumerate() {
            for j in (0..g.len()).step_by(2) {
                let (mut ep, mut em, mut dp, mut dm) =
                    (enc.clone(), enc.clone(), dec.clone(), dec.clone());
                if t < n_enc {
                    ep.tensors_mut().nth(t).unwrap()[j] += h;
                    em.tensors_mut().nth(t).unwrap()[j] -= h;
                } else {
                    dp.tensors_mut().nth(t - n_enc).unwrap()[j] += h;
                    dm.tensors_mut().nth(t - n_enc).unwrap()[j] -= h;
                }
                let fd = (loss(&ep, &dp) - loss(&em, &dm)) / (2.0 * h);
                let rel = (g[j] - fd).abs() / g[j].abs().max(fd.abs()).max(1e-4);
                assert!(rel < 1e-5, "tensor {t}[{j}]: STE {} fd {fd}", g[j]);
            }
        }
    }

    /// The int8 mode simulates the reference int8 kernels: the same int8
    /// values but for rare requantization ties, per channel and per tensor.
    #[test]
    fn int8_mode_matches_the_reference_kernels() {
        for per_tensor in [false, true] {
            let (m, q, x) = model(per_tensor);
            let graph = FakeQuant::new(&m.encoder, &m.decoder, &q, Mode::Int8).unwrap();
            let fake = graph.forward(x.view()).unwrap().output;
            let reference = q
                .reconstruct_reference(&Normalizer::None, x.view())
                .unwrap();
            let step = q.decoder.last().unwrap().out_qparams().scale;
            let diff = (&fake - &reference).mapv(|v| (v / step).abs().round());
            let same = diff.iter().filter(|&&d| d == 0.0).count();
            assert!(diff.iter().all(|&d| d <= 2.0), "{diff}");
            assert!(same * 100 >= 95 * diff.len(), "{same} of {}", diff.len());
        }
    }

    #[test]
    fn fine_tuning_is_seeded() {
        let run = |seed| {
            let (mut m, _, x) = model(false);
            let opts = Options {
                calibration: Method::MinMax,
                per_tensor: false,
                qat: None,
            };
            let qat = QatOptions::new(5, seed);
            fine_tune(&mut m, x.view(), x.view(), opts, &qat, "x").unwrap();
            m.encoder
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
