//! Deterministic example models for tests, examples and benchmarks (std only).
//!
//! [`tiny_model`] and [`tiny_cnn_model`] are the models pinned by the golden
//! files `formats/tests/golden/tiny.rrae` and `tiny-cnn.rrae`;
//! [`random_model`] builds a valid dense model of random small shape from a
//! seed, exercising every optional part of the format, and
//! [`random_conv_model`] does the same with convolution and transposed
//! convolution layers. [`activate_f64`], [`layer_f64`] and [`reference_f64`]
//! are the plain `f64` references the runtime's kernels are checked against.
//! Int8 models (format 1.2): [`tiny_int8_model`] (golden `tiny-int8.rrae`),
//! [`random_int8_model`], and [`quantize_meta`] to quantize any folded model.

use std::vec;
use std::vec::Vec;

mod int8;
pub use int8::{qparams_for_range, quant_layer, quantize_meta, random_int8_model, tiny_int8_model};

use crate::meta::{
    Activation, Basis, Conv, Layer, ModelMeta, Normalization, ParamTable, Sampler, TensorRef,
    MAX_LAYERS,
};
use crate::reader::ModelFile;
use crate::writer::ModelWriter;

/// Plain `f64` reference of `act` applied to `v`, for checking the runtime's
/// `f32` kernels (softplus in its overflow-free form).
pub fn activate_f64(act: Activation, v: f64) -> f64 {
    match act {
        Activation::Identity => v,
        Activation::Relu => v.max(0.0),
        Activation::LeakyRelu { slope } => {
            if v > 0.0 {
                v
            } else {
                f64::from(slope) * v
            }
        }
        Activation::Tanh => v.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        Activation::Elu { alpha } => {
            if v > 0.0 {
                v
            } else {
                f64::from(alpha) * v.exp_m1()
            }
        }
        Activation::Softplus => v.max(0.0) + (-v.abs()).exp().ln_1p(),
    }
}

/// A tiny model: input 4, latent 3, rank 2, one tanh Dense layer in the
/// encoder, one identity Dense layer in the decoder, a separate basis, a
/// sampler and global normalization. All values are exact binary fractions.
/// Returns the metadata and the file bytes.
pub fn tiny_model() -> (ModelMeta<'static>, Vec<u8>) {
    let ramp =
        |n: usize, start: f32| -> Vec<f32> { (0..n).map(|i| start + 0.125 * i as f32).collect() };
    let mut w = ModelWriter::new();
    let enc = dense(
        &mut w,
        4,
        3,
        &ramp(12, -0.75),
        &ramp(3, 0.0),
        Activation::Tanh,
    );
    let dec = dense(
        &mut w,
        3,
        4,
        &ramp(12, 0.5),
        &ramp(4, -0.25),
        Activation::Identity,
    );
    let u = w.tensor(&[1.0, 0.0, 0.0, 0.5, 0.0, 0.5]);
    let sampler = Sampler {
        mean: w.tensor(&[0.25, -0.25]),
        chol: w.tensor(&[1.0, 0.0, 0.5, 2.0]),
    };
    let meta = ModelMeta {
        name: "tiny",
        input_dim: 4,
        latent_dim: 3,
        rank: 2,
        normalization: Normalization::Global {
            shift: 0.5,
            scale: 2.0,
        },
        encoder: heapless::Vec::from_slice(&[enc]).expect("capacity"),
        decoder: heapless::Vec::from_slice(&[dec]).expect("capacity"),
        basis: Basis::Separate { u },
        sampler: Some(sampler),
        params: None,
        singular_values: None,
    };
    let bytes = w.finish(&meta).expect("the tiny model is valid");
    (meta, bytes)
}

/// Appends a Dense layer's tensors and returns the layer.
pub fn dense(
    w: &mut ModelWriter,
    in_dim: u32,
    out_dim: u32,
    weight: &[f32],
    bias: &[f32],
    activation: Activation,
) -> Layer {
    Layer::Dense {
        in_dim,
        out_dim,
        weight: w.tensor(weight),
        bias: w.tensor(bias),
        activation,
    }
}

/// Appends the tensors of a 3x3, stride 2, padding 1 convolution on
/// `in_channels x side x side` images and returns its geometry, for either
/// kind: a `Layer::Conv2d` halves the side (rounding up), a
/// `Layer::ConvTranspose2d` with output padding `[1, 1]` doubles it.
pub fn conv3x3_s2(
    w: &mut ModelWriter,
    in_channels: u32,
    side: u32,
    out_channels: u32,
    weight: &[f32],
    bias: &[f32],
    activation: Activation,
) -> Conv {
    Conv {
        in_channels,
        in_height: side,
        in_width: side,
        out_channels,
        kernel: [3, 3],
        stride: [2, 2],
        padding: [1, 1],
        weight: w.tensor(weight),
        bias: w.tensor(bias),
        activation,
    }
}

/// Metadata of a folded model (latent width = `rank`, basis not stored)
/// with no normalization, sampler, parameter table or singular values.
///
/// # Panics
///
/// If a side has more than [`MAX_LAYERS`] layers (a test bug).
pub fn folded_meta<'a>(
    name: &'a str,
    input_dim: u32,
    rank: u32,
    encoder: &[Layer],
    decoder: &[Layer],
) -> ModelMeta<'a> {
    ModelMeta {
        name,
        input_dim,
        latent_dim: rank,
        rank,
        normalization: Normalization::None,
        encoder: heapless::Vec::from_slice(encoder).expect("capacity"),
        decoder: heapless::Vec::from_slice(decoder).expect("capacity"),
        basis: Basis::Folded { stored: None },
        sampler: None,
        params: None,
        singular_values: None,
    }
}

/// xorshift64*: enough randomness for test shapes and weights, no
/// dependency. Shared by the tests, the latency example and the firmware's
/// host generator.
///
/// ```
/// let mut r = rrae_format::testing::Rng::new(7);
/// let v = r.uniform(0.5);
/// assert!((-0.5..0.5).contains(&v));
/// ```
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded by `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Uniform in `[-a, a)`.
    pub fn uniform(&mut self, a: f32) -> f32 {
        let u = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        (2.0 * u - 1.0) * a
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    /// `n` floats uniform in `[-1, 1)`.
    fn floats(&mut self, n: u32) -> Vec<f32> {
        (0..n)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect()
    }
    fn activation(&mut self) -> Activation {
        match self.range(0, 6) {
            0 => Activation::Identity,
            1 => Activation::Relu,
            2 => Activation::LeakyRelu { slope: 0.1 },
            3 => Activation::Tanh,
            4 => Activation::Sigmoid,
            5 => Activation::Elu { alpha: 1.0 },
            _ => Activation::Softplus,
        }
    }
    /// Random Dense layers from `from` to `to` with 0..=2 hidden widths.
    fn layers(
        &mut self,
        w: &mut ModelWriter,
        from: u32,
        to: u32,
    ) -> heapless::Vec<Layer, MAX_LAYERS> {
        let hidden = self.range(0, 2);
        let mut widths = std::vec![from];
        widths.extend((0..hidden).map(|_| self.range(1, 6)));
        widths.push(to);
        widths
            .windows(2)
            .map(|p| {
                let (i, o) = (p[0], p[1]);
                let act = self.activation();
                let (weight, bias) = (self.floats(i * o), self.floats(o));
                dense(w, i, o, &weight, &bias, act)
            })
            .collect()
    }
}

/// A valid model of random small shape built from `seed`: input 1..=6,
/// latent 1..=5, any rank, 1..=3 layers per side with random activations,
/// folded or separate basis, and each optional part present or not.
/// Returns the metadata and the file bytes.
pub fn random_model(seed: u64) -> (ModelMeta<'static>, Vec<u8>) {
    let mut r = Rng::new(seed);
    let mut w = ModelWriter::new();
    let input_dim = r.range(1, 6);
    let latent_dim = r.range(1, 5);
    let rank = r.range(1, latent_dim);
    let normalization = random_normalization(&mut r, &mut w, input_dim);
    let folded = r.coin();
    let code = if folded { rank } else { latent_dim };
    let encoder = r.layers(&mut w, input_dim, code);
    let decoder = r.layers(&mut w, code, input_dim);
    finish_random_with(
        &mut r,
        w,
        [input_dim, latent_dim, rank],
        normalization,
        folded,
        encoder,
        decoder,
    )
}

/// The optional parts of a random model (drawn after the networks), then
/// the file.
fn finish_random_with(
    r: &mut Rng,
    mut w: ModelWriter,
    [input_dim, latent_dim, rank]: [u32; 3],
    normalization: Normalization,
    folded: bool,
    encoder: heapless::Vec<Layer, MAX_LAYERS>,
    decoder: heapless::Vec<Layer, MAX_LAYERS>,
) -> (ModelMeta<'static>, Vec<u8>) {
    let store = r.coin();
    let mut u = || w.tensor(&r.floats(latent_dim * rank));
    let basis = match (folded, store) {
        (true, true) => Basis::Folded { stored: Some(u()) },
        (true, false) => Basis::Folded { stored: None },
        (false, _) => Basis::Separate { u: u() },
    };
    let sampler = r.coin().then(|| Sampler {
        mean: w.tensor(&r.floats(rank)),
        chol: w.tensor(&r.floats(rank * rank)),
    });
    let params = r.coin().then(|| {
        let (count, param_dim) = (r.range(1, 4), r.range(1, 2));
        ParamTable {
            param_dim,
            count,
            params: w.tensor(&r.floats(count * param_dim)),
            coeffs: w.tensor(&r.floats(count * rank)),
        }
    });
    let singular_values = r.coin().then(|| w.tensor(&r.floats(latent_dim)));
    let meta = ModelMeta {
        name: "random",
        input_dim,
        latent_dim,
        rank,
        normalization,
        encoder,
        decoder,
        basis,
        sampler,
        params,
        singular_values,
    };
    let bytes = w.finish(&meta).expect("random models are valid");
    (meta, bytes)
}

/// A random normalization for `input_dim` features.
fn random_normalization(r: &mut Rng, w: &mut ModelWriter, input_dim: u32) -> Normalization {
    match r.range(0, 2) {
        0 => Normalization::None,
        1 => Normalization::Global {
            shift: 0.5,
            scale: 2.0,
        },
        _ => Normalization::PerFeature {
            shift: w.tensor(&r.floats(input_dim)),
            scale: w.tensor(&std::vec![1.5; input_dim as usize]),
        },
    }
}

// ------------------------------------------------------------ convolutions

/// A tiny CNN: a `1 x 4 x 4` image, encoder `Conv2d(1 -> 2, k 3, s 2, p 1)`
/// (tanh, `2 x 2 x 2`) then Dense `8 -> 2`; decoder Dense `2 -> 8` (relu)
/// then `ConvTranspose2d(2 -> 1, k 3, s 2, p 1, output_padding 1)` back to
/// `1 x 4 x 4`. Rank 2, basis folded, no normalization. All values are exact
/// binary fractions. Pinned by `formats/tests/golden/tiny-cnn.rrae`.
pub fn tiny_cnn_model() -> (ModelMeta<'static>, Vec<u8>) {
    let ramp = |n: usize, start: f32, step: f32| -> Vec<f32> {
        (0..n).map(|i| start + step * i as f32).collect()
    };
    let mut w = ModelWriter::new();
    let conv = Layer::Conv2d(conv3x3_s2(
        &mut w,
        1,
        4,
        2,
        &ramp(18, -0.5, 0.0625),
        &[0.125, -0.125],
        Activation::Tanh,
    ));
    let enc_dense = dense(
        &mut w,
        8,
        2,
        &ramp(16, -0.5, 0.0625),
        &[0.0, 0.25],
        Activation::Identity,
    );
    let dec_dense = dense(
        &mut w,
        2,
        8,
        &ramp(16, 0.5, -0.0625),
        &ramp(8, -0.25, 0.0625),
        Activation::Relu,
    );
    let up = Layer::ConvTranspose2d {
        conv: conv3x3_s2(
            &mut w,
            2,
            2,
            1,
            &ramp(18, 0.25, -0.03125),
            &[0.5],
            Activation::Identity,
        ),
        output_padding: [1, 1],
    };
    let meta = folded_meta("tiny-cnn", 16, 2, &[conv, enc_dense], &[dec_dense, up]);
    let bytes = w.finish(&meta).expect("the tiny CNN is valid");
    (meta, bytes)
}

/// An image shape `[channels, height, width]`.
type Shape = [u32; 3];

impl Rng {
    /// Random kernel, stride and padding along one axis.
    fn window(&mut self) -> (u32, u32, u32) {
        let k = self.range(1, 3);
        let s = self.range(1, 2);
        // Mostly PyTorch-typical padding (< kernel); sometimes more.
        let p = self.range(0, k);
        (k, s, p)
    }

    /// A random convolution (either kind) taking a `shape` image, with
    /// `out_channels` channels: `(layer, output shape)`, or `None` if the
    /// drawn geometry leaves no output.
    fn image_layer_from(&mut self, w: &mut ModelWriter, shape: Shape) -> Option<(Layer, Shape)> {
        let (kh, sh, ph) = self.window();
        let (kw, sw, pw) = self.window();
        let out_channels = self.range(1, 3);
        let transposed = self.range(0, 3) == 0;
        let output_padding = [self.range(0, sh - 1), self.range(0, sw - 1)];
        let conv = self.geometry(shape, out_channels, [kh, kw], [sh, sw], [ph, pw]);
        let [ho, wo] = if transposed {
            conv.transposed_output(output_padding).ok()?
        } else {
            conv.conv2d_output().ok()?
        };
        Some((
            self.finish_conv(w, conv, transposed.then_some(output_padding)),
            [out_channels, ho, wo],
        ))
    }

    /// A random convolution (either kind) producing a `shape` image:
    /// `(layer, input shape)`, or `None` if the drawn geometry cannot.
    fn image_layer_to(&mut self, w: &mut ModelWriter, shape: Shape) -> Option<(Layer, Shape)> {
        let [out_channels, ho, wo] = shape;
        let (kh, sh, ph) = self.window();
        let (kw, sw, pw) = self.window();
        let in_channels = self.range(1, 3);
        let transposed = self.range(0, 2) != 0;
        // Input size along one axis giving output `o`, and the output padding.
        let mut axis = |o: u32, k: u32, s: u32, p: u32| -> Option<(u32, u32)> {
            if transposed {
                // o = (n - 1) s - 2p + k + op, op < s.
                let room = (o + 2 * p).checked_sub(k)?;
                Some((room / s + 1, room % s))
            } else {
                // o = floor((n + 2p - k) / s) + 1: n = (o - 1) s + k - 2p + r.
                let r = self.range(0, s - 1);
                (((o - 1) * s + k + r).checked_sub(2 * p))
                    .filter(|&n| n > 0)
                    .map(|n| (n, 0))
            }
        };
        let (h, oph) = axis(ho, kh, sh, ph)?;
        let (wd, opw) = axis(wo, kw, sw, pw)?;
        let conv = self.geometry(
            [in_channels, h, wd],
            out_channels,
            [kh, kw],
            [sh, sw],
            [ph, pw],
        );
        let layer = self.finish_conv(w, conv, transposed.then_some([oph, opw]));
        (layer.dims().1 == out_channels * ho * wo).then_some((layer, [in_channels, h, wd]))
    }

    /// A convolution geometry from a `shape` image to `out_channels`
    /// channels with a random activation; its tensors are written by
    /// [`Rng::finish_conv`].
    fn geometry(
        &mut self,
        [c, h, wd]: Shape,
        out_channels: u32,
        kernel: [u32; 2],
        stride: [u32; 2],
        padding: [u32; 2],
    ) -> Conv {
        Conv {
            in_channels: c,
            in_height: h,
            in_width: wd,
            out_channels,
            kernel,
            stride,
            padding,
            weight: TensorRef { offset: 0, len: 0 },
            bias: TensorRef { offset: 0, len: 0 },
            activation: self.activation(),
        }
    }

    /// Writes random weights and biases for `conv` and returns the layer
    /// (transposed if `output_padding` is given).
    fn finish_conv(
        &mut self,
        w: &mut ModelWriter,
        mut conv: Conv,
        output_padding: Option<[u32; 2]>,
    ) -> Layer {
        let n = conv.in_channels * conv.out_channels * conv.kernel[0] * conv.kernel[1];
        conv.weight = w.tensor(&self.floats(n));
        conv.bias = w.tensor(&self.floats(conv.out_channels));
        match output_padding {
            Some(output_padding) => Layer::ConvTranspose2d {
                conv,
                output_padding,
            },
            None => Layer::Conv2d(conv),
        }
    }

    /// Encoder from the image `shape` to `code`: 1..=2 convolutions (each
    /// kind possible), then a Dense layer.
    fn conv_encoder(
        &mut self,
        w: &mut ModelWriter,
        mut shape: Shape,
        code: u32,
    ) -> heapless::Vec<Layer, MAX_LAYERS> {
        let mut layers = heapless::Vec::new();
        for _ in 0..self.range(1, 2) {
            let Some((layer, next)) = (0..16).find_map(|_| self.image_layer_from(w, shape)) else {
                break;
            };
            layers.push(layer).expect("capacity");
            shape = next;
        }
        let [c, h, wd] = shape;
        let width = c * h * wd;
        let act = self.activation();
        let (weight, bias) = (self.floats(width * code), self.floats(code));
        layers
            .push(dense(w, width, code, &weight, &bias, act))
            .expect("capacity");
        layers
    }

    /// Decoder from `code` to the image `shape`: a Dense layer, then 1..=2
    /// convolutions (each kind possible) ending at `shape`.
    fn conv_decoder(
        &mut self,
        w: &mut ModelWriter,
        mut shape: Shape,
        code: u32,
    ) -> heapless::Vec<Layer, MAX_LAYERS> {
        let mut convs = Vec::new();
        for _ in 0..self.range(1, 2) {
            let Some((layer, prev)) = (0..16).find_map(|_| self.image_layer_to(w, shape)) else {
                break;
            };
            convs.push(layer);
            shape = prev;
        }
        let [c, h, wd] = shape;
        let width = c * h * wd;
        let act = self.activation();
        let (weight, bias) = (self.floats(width * code), self.floats(width));
        let mut layers = heapless::Vec::new();
        layers
            .push(dense(w, code, width, &weight, &bias, act))
            .expect("capacity");
        for layer in convs.into_iter().rev() {
            layers.push(layer).expect("capacity");
        }
        layers
    }
}

/// A valid convolutional model of random small shape built from `seed`: a
/// `C x H x W` input (`C` 1..=2, `H`, `W` 1..=7), an encoder of 1..=2
/// convolutions then a Dense layer, a decoder of a Dense layer then 1..=2
/// convolutions back to the input shape. Each convolution is a `Conv2d` or a
/// `ConvTranspose2d` with kernel 1..=3, stride 1..=2, padding 0..=kernel and
/// a random activation (padding equal to the kernel included: legal, if
/// wasteful). The rest (normalization, basis, sampler, parameter table,
/// singular values) is drawn as in [`random_model`]. Returns the metadata and
/// the file bytes.
pub fn random_conv_model(seed: u64) -> (ModelMeta<'static>, Vec<u8>) {
    let mut r = Rng::new(seed ^ 0xC0_4E_C0_4E);
    let mut w = ModelWriter::new();
    let shape = [r.range(1, 2), r.range(1, 7), r.range(1, 7)];
    let input_dim = shape.iter().product();
    let latent_dim = r.range(1, 5);
    let rank = r.range(1, latent_dim);
    let folded = r.coin();
    let code = if folded { rank } else { latent_dim };
    let normalization = random_normalization(&mut r, &mut w, input_dim);
    let encoder = r.conv_encoder(&mut w, shape, code);
    let decoder = r.conv_decoder(&mut w, shape, code);
    finish_random_with(
        &mut r,
        w,
        [input_dim, latent_dim, rank],
        normalization,
        folded,
        encoder,
        decoder,
    )
}

/// Plain `f64` reference of one layer on the flat input `x` (of the layer's
/// input width), given the layer's `weight` and `bias` tensors.
///
/// Convolutions follow their definitions, one output pixel at a time: a
/// `Conv2d` output sums `w[o, c, ky, kx] * x[c, oy s + ky - p, ox s + kx - p]`
/// over the taps inside the image; a `ConvTranspose2d` output sums
/// `w[c, o, ky, kx] * x[c, iy, ix]` over the input pixels with
/// `iy s - p + ky = oy` and `ix s - p + kx = ox` (a gather, unlike the
/// runtime's scatter).
///
/// # Panics
///
/// If the geometry is invalid or a length does not match (a test bug).
pub fn layer_f64(layer: &Layer, weight: &[f32], bias: &[f32], x: &[f64]) -> Vec<f64> {
    let (in_dim, out_dim) = layer.checked_dims().expect("valid layer");
    assert_eq!(x.len(), in_dim as usize, "input width");
    let w = |i: usize| f64::from(weight[i]);
    let pre: Vec<f64> = match *layer {
        Layer::Dense { in_dim, .. } | Layer::QDense { in_dim, .. } => {
            let n = in_dim as usize;
            (0..out_dim as usize)
                .map(|o| f64::from(bias[o]) + (0..n).map(|i| w(o * n + i) * x[i]).sum::<f64>())
                .collect()
        }
        _ => {
            let c = layer.conv_geometry().expect("a convolution");
            let (transposed, out) = match *layer {
                Layer::ConvTranspose2d { output_padding, .. }
                | Layer::QConvTranspose2d { output_padding, .. } => {
                    (true, c.transposed_output(output_padding))
                }
                _ => (false, c.conv2d_output()),
            };
            let [ho, wo] = out.expect("valid geometry");
            let u = |v: u32| v as usize;
            let (ci, h, wd, co) = (
                u(c.in_channels),
                u(c.in_height),
                u(c.in_width),
                u(c.out_channels),
            );
            let ([kh, kw], [sh, sw], [ph, pw]) =
                (c.kernel.map(u), c.stride.map(u), c.padding.map(u));
            // Input index along one axis for output `o` and tap `k`.
            let src = |o: usize, k: usize, s: usize, p: usize, n: usize| -> Option<usize> {
                let i = if transposed {
                    // o = i s - p + k
                    let t = (o + p).checked_sub(k)?;
                    (t % s == 0).then_some(t / s)?
                } else {
                    (o * s + k).checked_sub(p)?
                };
                (i < n).then_some(i)
            };
            let mut y = vec![0.0; co * u(ho) * u(wo)];
            for o in 0..co {
                for oy in 0..u(ho) {
                    for ox in 0..u(wo) {
                        let mut sum = f64::from(bias[o]);
                        for c in 0..ci {
                            for ky in 0..kh {
                                let Some(iy) = src(oy, ky, sh, ph, h) else {
                                    continue;
                                };
                                for kx in 0..kw {
                                    let Some(ix) = src(ox, kx, sw, pw, wd) else {
                                        continue;
                                    };
                                    let wi = if transposed {
                                        ((c * co + o) * kh + ky) * kw + kx
                                    } else {
                                        ((o * ci + c) * kh + ky) * kw + kx
                                    };
                                    sum += w(wi) * x[(c * h + iy) * wd + ix];
                                }
                            }
                        }
                        y[(o * u(ho) + oy) * u(wo) + ox] = sum;
                    }
                }
            }
            y
        }
    };
    let act = layer.activation();
    pre.into_iter().map(|v| activate_f64(act, v)).collect()
}

/// Plain `f64` evaluation of a whole model (no scratch, no ping-pong):
/// returns `(alpha, x_hat)` where `alpha` are the coefficients of `x` and
/// `x_hat` is decoded from the first `k` of them (the rest zero), both
/// rounded to `f32`.
///
/// # Panics
///
/// If `x` is not `input_dim` long or `k > rank` (a test bug).
pub fn reference_f64(file: &ModelFile<'_>, x: &[f32], k: usize) -> (Vec<f32>, Vec<f32>) {
    let m = &file.meta;
    assert_eq!(x.len(), m.input_dim as usize, "input width");
    let t = |r: TensorRef| -> Vec<f64> { file.tensor(r).iter().map(|&v| f64::from(v)).collect() };
    let n = x.len();
    let (shift, scale): (Vec<f64>, Vec<f64>) = match m.normalization {
        Normalization::None => (vec![0.0; n], vec![1.0; n]),
        Normalization::Global { shift, scale } => {
            (vec![f64::from(shift); n], vec![f64::from(scale); n])
        }
        Normalization::PerFeature { shift, scale } => (t(shift), t(scale)),
    };
    let run = |layers: &[Layer], v: Vec<f64>| {
        layers.iter().fold(v, |v, l| {
            layer_f64(l, file.tensor(l.weight()), file.tensor(l.bias()), &v)
        })
    };
    let xn = x
        .iter()
        .zip(&shift)
        .zip(&scale)
        .map(|((&v, sh), sc)| (f64::from(v) - sh) / sc)
        .collect();
    let y = run(&m.encoder, xn);
    let rank = m.rank as usize;
    let alpha: Vec<f64> = match m.basis {
        Basis::Folded { .. } => y,
        Basis::Separate { u } => {
            let u = t(u);
            (0..rank)
                .map(|j| u.chunks(rank).zip(&y).map(|(row, yi)| row[j] * yi).sum())
                .collect()
        }
    };
    let mut head = alpha.clone();
    head[k..].fill(0.0);
    let code = match m.basis {
        Basis::Folded { .. } => head,
        Basis::Separate { u } => t(u)
            .chunks(rank)
            .map(|row| row.iter().zip(&head).map(|(a, b)| a * b).sum())
            .collect(),
    };
    let out = run(&m.decoder, code);
    let x_hat = out
        .iter()
        .zip(&shift)
        .zip(&scale)
        .map(|((v, sh), sc)| (v * sc + sh) as f32)
        .collect();
    (alpha.iter().map(|&v| v as f32).collect(), x_hat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(c: u32, hw: [u32; 2], o: u32, k: [u32; 2], s: [u32; 2], p: [u32; 2]) -> Conv {
        Conv {
            in_channels: c,
            in_height: hw[0],
            in_width: hw[1],
            out_channels: o,
            kernel: k,
            stride: s,
            padding: p,
            weight: TensorRef { offset: 0, len: 0 },
            bias: TensorRef { offset: 0, len: 0 },
            activation: Activation::Identity,
        }
    }

    #[test]
    fn conv2d_reference_by_hand() {
        // 1 x 3 x 3 input 1..9, 2x2 kernel of ones, stride 1, no padding.
        let x: Vec<f64> = (1..=9).map(f64::from).collect();
        let l = Layer::Conv2d(conv(1, [3, 3], 1, [2, 2], [1, 1], [0, 0]));
        assert_eq!(l.dims(), (9, 4));
        let y = layer_f64(&l, &[1.0; 4], &[0.5], &x);
        assert_eq!(y, [12.5, 16.5, 24.5, 28.5]);
        // Stride 2, padding 1: windows at the corners hang over the edges.
        let l = Layer::Conv2d(conv(1, [3, 3], 1, [2, 2], [2, 2], [1, 1]));
        assert_eq!(l.dims(), (9, 4));
        let y = layer_f64(&l, &[1.0; 4], &[0.0], &x);
        assert_eq!(y, [1.0, 5.0, 11.0, 28.0]);
    }

    #[test]
    fn transposed_reference_by_hand() {
        // 1 x 2 x 2 input, 2x2 kernel of ones, stride 2: each input pixel
        // becomes a 2x2 block.
        let l = Layer::ConvTranspose2d {
            conv: conv(1, [2, 2], 1, [2, 2], [2, 2], [0, 0]),
            output_padding: [0, 0],
        };
        assert_eq!(l.dims(), (4, 16));
        let y = layer_f64(&l, &[1.0; 4], &[0.0], &[1.0, 2.0, 3.0, 4.0]);
        #[rustfmt::skip]
        assert_eq!(y, [1.0, 1.0, 2.0, 2.0,
                       1.0, 1.0, 2.0, 2.0,
                       3.0, 3.0, 4.0, 4.0,
                       3.0, 3.0, 4.0, 4.0]);
    }

    /// `<conv(x), y> = <x, convT(y)>` with the same weights and no bias,
    /// over random geometries: the two references are adjoint.
    #[test]
    fn references_are_adjoint() {
        let mut r = Rng::new(3);
        let mut checked = 0;
        for _ in 0..300 {
            let (kh, sh, ph) = r.window();
            let (kw, sw, pw) = r.window();
            let (ci, co) = (r.range(1, 3), r.range(1, 3));
            let hw = [r.range(1, 7), r.range(1, 7)];
            let fwd = conv(ci, hw, co, [kh, kw], [sh, sw], [ph, pw]);
            let Ok([ho, wo]) = fwd.conv2d_output() else {
                continue;
            };
            // The transposed layer maps the conv's output back to its input
            // size with output_padding = the remainder of the division.
            let op = [(hw[0] + 2 * ph - kh) % sh, (hw[1] + 2 * pw - kw) % sw];
            let back = Layer::ConvTranspose2d {
                conv: conv(co, [ho, wo], ci, [kh, kw], [sh, sw], [ph, pw]),
                output_padding: op,
            };
            let fwd = Layer::Conv2d(fwd);
            assert_eq!(back.dims(), (fwd.dims().1, fwd.dims().0));
            let weight = r.floats(ci * co * kh * kw);
            let x: Vec<f64> = r.floats(fwd.dims().0).into_iter().map(f64::from).collect();
            let y: Vec<f64> = r.floats(fwd.dims().1).into_iter().map(f64::from).collect();
            let cx = layer_f64(&fwd, &weight, &vec![0.0; co as usize], &x);
            let ty = layer_f64(&back, &weight, &vec![0.0; ci as usize], &y);
            let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
            let (l, rhs) = (dot(&cx, &y), dot(&x, &ty));
            assert!((l - rhs).abs() <= 1e-9 * (1.0 + l.abs()), "{l} vs {rhs}");
            checked += 1;
        }
        assert!(checked > 100);
    }

    #[test]
    fn random_conv_models_have_convolutions_on_both_sides() {
        for seed in 0..64 {
            let (meta, bytes) = random_conv_model(seed);
            assert!(meta.encoder.iter().any(Layer::is_conv), "seed {seed}");
            assert!(meta.decoder.iter().any(Layer::is_conv), "seed {seed}");
            assert_eq!(bytes[6], 1, "minor version 1");
        }
    }
}
