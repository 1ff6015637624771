//! Multilayer perceptron: a stack of [`Dense`] layers with a hidden
//! activation and an identity output, plus the preallocated buffers that make
//! a training step allocation-free.

use ndarray::{Array2, ArrayView2, Axis, NdFloat};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::activation::Activation;
use super::dense::{Dense, DenseGrad};

/// Encoder or decoder network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mlp<T> {
    /// Layers, input first.
    pub layers: Vec<Dense<T>>,
}

/// Per-layer activations of one forward pass, reused across steps.
#[derive(Debug, Clone)]
pub struct Workspace<T> {
    /// Pre-activations, `batch x out_i`.
    z: Vec<Array2<T>>,
    /// Post-activations, `batch x out_i` (the last is the network output).
    a: Vec<Array2<T>>,
    /// dL/dz of each layer during backward.
    g: Vec<Array2<T>>,
    /// dL/d(input), `batch x in_0`.
    dx: Array2<T>,
}

impl<T: NdFloat> Default for Workspace<T> {
    fn default() -> Self {
        Self {
            z: Vec::new(),
            a: Vec::new(),
            g: Vec::new(),
            dx: Array2::zeros((0, 0)),
        }
    }
}

/// Gradients of every layer, shaped like the network.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads<T> {
    /// One entry per layer.
    pub layers: Vec<DenseGrad<T>>,
}

impl<T: NdFloat> Grads<T> {
    /// Every gradient tensor as a flat slice, in the order of
    /// [`Mlp::tensors_mut`].
    pub fn tensors(&self) -> impl Iterator<Item = &[T]> {
        self.layers
            .iter()
            .flat_map(|l| [l.w.as_slice(), l.b.as_slice()])
            .map(|s| s.unwrap_or(&[]))
    }
}

impl<T: NdFloat> Mlp<T> {
    /// Layers of widths `dims[0] -> dims[1] -> … -> dims[n]`: `hidden` after
    /// every layer but the last, identity output. `dims` needs two or more
    /// entries.
    pub fn new<R: Rng + ?Sized>(dims: &[usize], hidden: Activation, rng: &mut R) -> Self {
        let n = dims.len().saturating_sub(1);
        let layers = (0..n)
            .map(|i| {
                let act = if i + 1 == n {
                    Activation::Identity
                } else {
                    hidden
                };
                Dense::init(dims[i], dims[i + 1], act, rng)
            })
            .collect();
        Self { layers }
    }

    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.layers.first().map_or(0, Dense::in_dim)
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.layers.last().map_or(0, Dense::out_dim)
    }

    /// Number of trainable values.
    pub fn param_count(&self) -> usize {
        self.layers.iter().map(Dense::param_count).sum()
    }

    /// Zero gradients shaped like the network.
    pub fn zero_grads(&self) -> Grads<T> {
        Grads {
            layers: self.layers.iter().map(Dense::zero_grad).collect(),
        }
    }

    /// Every parameter tensor as a flat mutable slice (W then b per layer).
    pub fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
        self.layers
            .iter_mut()
            .flat_map(|l| [l.w.as_slice_mut(), l.b.as_slice_mut()])
            .map(|s| s.unwrap_or(&mut []))
    }

    fn ensure(&self, ws: &mut Workspace<T>, batch: usize) {
        let fits = ws.a.len() == self.layers.len()
            && ws.dx.dim() == (batch, self.in_dim())
            && ws
                .a
                .iter()
                .zip(&self.layers)
                .all(|(a, l)| a.dim() == (batch, l.out_dim()));
        if !fits {
            let shape = |l: &Dense<T>| Array2::zeros((batch, l.out_dim()));
            ws.z = self.layers.iter().map(shape).collect();
            ws.a = self.layers.iter().map(shape).collect();
            ws.g = self.layers.iter().map(shape).collect();
            ws.dx = Array2::zeros((batch, self.in_dim()));
        }
    }

    /// Forward pass of a `batch x in` matrix; the output (`batch x out`)
    /// lives in the workspace, which is (re)sized on first use.
    pub fn forward<'w>(&self, x: ArrayView2<T>, ws: &'w mut Workspace<T>) -> ArrayView2<'w, T> {
        self.ensure(ws, x.nrows());
        for (i, layer) in self.layers.iter().enumerate() {
            let (before, rest) = ws.a.split_at_mut(i);
            let input = if i == 0 {
                x.view()
            } else {
                before[i - 1].view()
            };
            layer.forward_into(input, ws.z[i].view_mut(), rest[0].view_mut());
        }
        // With no layers the output is empty (`dx` is `batch x 0`).
        ws.a.last().unwrap_or(&ws.dx).view()
    }

    /// Backward pass after [`Mlp::forward`] on the same `x`: `dy` is
    /// dL/d(output). Fills `grads`; returns dL/dx if `want_dx`.
    pub fn backward<'w>(
        &self,
        x: ArrayView2<T>,
        ws: &'w mut Workspace<T>,
        dy: ArrayView2<T>,
        grads: &mut Grads<T>,
        want_dx: bool,
    ) -> Option<ArrayView2<'w, T>> {
        let n = self.layers.len();
        ws.g.last_mut()?.assign(&dy);
        for i in (0..n).rev() {
            let layer = &self.layers[i];
            let input = if i == 0 { x.view() } else { ws.a[i - 1].view() };
            let (lower, upper) = ws.g.split_at_mut(i);
            let dx = match i {
                0 if want_dx => Some(ws.dx.view_mut()),
                0 => None,
                _ => Some(lower[i - 1].view_mut()),
            };
            layer.backward(
                input,
                ws.z[i].view(),
                upper[0].view_mut(),
                &mut grads.layers[i],
                dx,
            );
        }
        want_dx.then(|| ws.dx.view())
    }

    /// Forward pass of any number of rows (allocates; not for the hot loop).
    pub fn predict(&self, x: ArrayView2<T>) -> Array2<T> {
        const CHUNK: usize = 256;
        let mut out = Array2::zeros((x.nrows(), self.out_dim()));
        let mut ws = Workspace::default();
        for (xc, mut oc) in x
            .axis_chunks_iter(Axis(0), CHUNK)
            .zip(out.axis_chunks_iter_mut(Axis(0), CHUNK))
        {
            oc.assign(&self.forward(xc, &mut ws));
        }
        out
    }

    /// The same network in another float type (e.g. f32 -> f64 for checks).
    pub fn cast<U: NdFloat>(&self) -> Mlp<U> {
        let c = |v: &T| U::from(*v).unwrap_or_else(U::zero);
        Mlp {
            layers: self
                .layers
                .iter()
                .map(|l| Dense {
                    w: l.w.map(c),
                    b: l.b.map(c),
                    act: l.act,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::activation::{parse, NAMES};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Whole-network gradient (every parameter tensor and the input) against
    /// central differences of L = Σ G ∘ mlp(X), in f64.
    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = StdRng::seed_from_u64(3);
        for &n in NAMES {
            let act = parse(n).unwrap();
            let net = Mlp::<f64>::new(&[4, 6, 5, 3], act, &mut rng);
            let x = Array2::from_shape_fn((5, 4), |_| rng.random_range(-1.0..1.0));
            let gout = Array2::from_shape_fn((5, 3), |_| rng.random_range(-1.0..1.0));
            let loss = |m: &Mlp<f64>, x: &Array2<f64>| (&m.predict(x.view()) * &gout).sum();

            let mut ws = Workspace::default();
            let mut grads = net.zero_grads();
            net.forward(x.view(), &mut ws);
            let dx = net
                .backward(x.view(), &mut ws, gout.view(), &mut grads, true)
                .unwrap()
                .to_owned();

            let h = 1e-6;
            let check = |an: f64, fd: f64, what: String| {
                let rel = (an - fd).abs() / an.abs().max(fd.abs()).max(1e-4);
                assert!(rel < 1e-5, "{n} {what}: analytic {an} fd {fd}");
            };
            let flat: Vec<Vec<f64>> = grads.tensors().map(<[f64]>::to_vec).collect();
            for (t, g) in flat.iter().enumerate() {
                for j in (0..g.len()).step_by(3) {
                    let (mut p, mut m) = (net.clone(), net.clone());
                    p.tensors_mut().nth(t).unwrap()[j] += h;
                    m.tensors_mut().nth(t).unwrap()[j] -= h;
                    check(
                        g[j],
                        (loss(&p, &x) - loss(&m, &x)) / (2.0 * h),
                        format!("tensor {t}[{j}]"),
                    );
                }
            }
            for idx in [(0, 0), (2, 3), (4, 1)] {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[idx] += h;
                xm[idx] -= h;
                check(
                    dx[idx],
                    (loss(&net, &xp) - loss(&net, &xm)) / (2.0 * h),
                    format!("dX{idx:?}"),
                );
            }
        }
    }

    #[test]
    fn output_layer_is_identity_and_predict_matches_forward() {
        let mut rng = StdRng::seed_from_u64(5);
        let net = Mlp::<f32>::new(&[3, 8, 2], Activation::Relu, &mut rng);
        assert_eq!(net.layers[0].act, Activation::Relu);
        assert_eq!(net.layers[1].act, Activation::Identity);
        let x = Array2::from_shape_fn((300, 3), |(i, j)| (i as f32 * 0.01) - j as f32);
        let mut ws = Workspace::default();
        let full = net.forward(x.view(), &mut ws).to_owned();
        assert_eq!(full, net.predict(x.view()));
        assert_eq!(net.param_count(), 3 * 8 + 8 + 8 * 2 + 2);
    }
}
