//! Deterministic example models for tests, examples and benchmarks (std only).
//!
//! [`tiny_model`] is the model pinned by the golden file
//! `formats/tests/golden/tiny.rrae`; [`random_model`] builds a valid model of
//! random small shape from a seed, exercising every optional part of the
//! format. [`activate_f64`] is the reference the runtime's activation
//! kernels are checked against.

use std::vec::Vec;

use crate::meta::{
    Activation, Basis, Layer, ModelMeta, Normalization, ParamTable, Sampler, MAX_LAYERS,
};
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
    let normalization = match r.range(0, 2) {
        0 => Normalization::None,
        1 => Normalization::Global {
            shift: 0.5,
            scale: 2.0,
        },
        _ => Normalization::PerFeature {
            shift: w.tensor(&r.floats(input_dim)),
            scale: w.tensor(&std::vec![1.5; input_dim as usize]),
        },
    };
    let folded = r.coin();
    let code = if folded { rank } else { latent_dim };
    let encoder = r.layers(&mut w, input_dim, code);
    let decoder = r.layers(&mut w, code, input_dim);
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
