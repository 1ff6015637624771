//! Dense (fully connected) layer: `Y = act(X Wᵀ + b)` on row-major batches
//! (`batch x features`), with `W` stored `out x in` row-major like the file
//! format.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis, NdFloat};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::activation::{self, Activation};

/// One dense layer's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dense<T> {
    /// `out x in` weights.
    pub w: Array2<T>,
    /// `out` biases.
    pub b: Array1<T>,
    /// Applied after the affine map.
    pub act: Activation,
}

/// Gradients of one dense layer (same shapes as [`Dense`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DenseGrad<T> {
    /// dL/dW, `out x in`.
    pub w: Array2<T>,
    /// dL/db, `out`.
    pub b: Array1<T>,
}

impl<T: NdFloat> DenseGrad<T> {
    /// Zero gradients for weights `w` and biases `b`.
    pub fn zeros_like(w: &Array2<T>, b: &Array1<T>) -> Self {
        Self {
            w: Array2::zeros(w.raw_dim()),
            b: Array1::zeros(b.raw_dim()),
        }
    }
}

impl<T: NdFloat> Dense<T> {
    /// `W` and `b` drawn from U(±1/√in), like the reference (equinox `Linear`).
    pub fn init<R: Rng + ?Sized>(
        in_dim: usize,
        out_dim: usize,
        act: Activation,
        rng: &mut R,
    ) -> Self {
        let bound = 1.0 / (in_dim as f64).sqrt();
        let mut draw = |_| T::from(rng.random_range(-bound..bound)).unwrap_or_else(T::zero);
        let w = Array2::from_shape_fn((out_dim, in_dim), |ij| draw(ij.0));
        let b = Array1::from_shape_fn(out_dim, draw);
        Self { w, b, act }
    }

    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.w.ncols()
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.w.nrows()
    }

    /// Number of trainable values.
    pub fn param_count(&self) -> usize {
        self.w.len() + self.b.len()
    }

    /// Zero gradients shaped like this layer.
    pub fn zero_grad(&self) -> DenseGrad<T> {
        DenseGrad::zeros_like(&self.w, &self.b)
    }

    /// Forward: `z = x Wᵀ + b` (pre-activation) and `a = act(z)`, written into
    /// caller buffers of shape `batch x out`.
    pub fn forward_into(&self, x: ArrayView2<T>, mut z: ArrayViewMut2<T>, a: ArrayViewMut2<T>) {
        general_mat_mul(T::one(), &x, &self.w.t(), T::zero(), &mut z);
        z += &self.b;
        activation::forward(self.act, z.view(), a);
    }

    /// Backward. On entry `g` holds dL/da; on return it holds dL/dz. Writes
    /// dL/dW and dL/db into `grad` and, if given, dL/dx into `dx`
    /// (`batch x in`).
    pub fn backward(
        &self,
        x: ArrayView2<T>,
        z: ArrayView2<T>,
        mut g: ArrayViewMut2<T>,
        grad: &mut DenseGrad<T>,
        dx: Option<ArrayViewMut2<T>>,
    ) {
        activation::backward_in_place(self.act, z, g.view_mut());
        general_mat_mul(T::one(), &g.t(), &x, T::zero(), &mut grad.w);
        grad.b.assign(&g.sum_axis(Axis(0)));
        if let Some(mut dx) = dx {
            general_mat_mul(T::one(), &g, &self.w, T::zero(), &mut dx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::activation::{parse, NAMES};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// L = Σ G ∘ layer(X): checks dW, db and dX by central differences (f64).
    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = StdRng::seed_from_u64(7);
        for &n in NAMES {
            let act = parse(n).unwrap();
            let layer = Dense::<f64>::init(5, 4, act, &mut rng);
            let x = Array2::from_shape_fn((3, 5), |_| rng.random_range(-1.5..1.5));
            let gout = Array2::from_shape_fn((3, 4), |_| rng.random_range(-1.0..1.0));
            let loss = |l: &Dense<f64>, x: &Array2<f64>| {
                let mut z = Array2::zeros((3, 4));
                let mut a = Array2::zeros((3, 4));
                l.forward_into(x.view(), z.view_mut(), a.view_mut());
                (&a * &gout).sum()
            };
            let mut z = Array2::zeros((3, 4));
            let mut a = Array2::zeros((3, 4));
            layer.forward_into(x.view(), z.view_mut(), a.view_mut());
            let mut g = gout.clone();
            let mut grad = layer.zero_grad();
            let mut dx = Array2::zeros((3, 5));
            layer.backward(
                x.view(),
                z.view(),
                g.view_mut(),
                &mut grad,
                Some(dx.view_mut()),
            );

            let h = 1e-6;
            let check = |an: f64, fd: f64, what: &str| {
                let rel = (an - fd).abs() / an.abs().max(fd.abs()).max(1e-4);
                assert!(rel < 1e-5, "{n} {what}: analytic {an} fd {fd}");
            };
            for idx in [(0, 0), (1, 3), (3, 4), (2, 2)] {
                let (mut p, mut m) = (layer.clone(), layer.clone());
                p.w[idx] += h;
                m.w[idx] -= h;
                check(grad.w[idx], (loss(&p, &x) - loss(&m, &x)) / (2.0 * h), "dW");
            }
            for i in 0..4 {
                let (mut p, mut m) = (layer.clone(), layer.clone());
                p.b[i] += h;
                m.b[i] -= h;
                check(grad.b[i], (loss(&p, &x) - loss(&m, &x)) / (2.0 * h), "db");
            }
            for idx in [(0, 0), (1, 4), (2, 1)] {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[idx] += h;
                xm[idx] -= h;
                check(
                    dx[idx],
                    (loss(&layer, &xp) - loss(&layer, &xm)) / (2.0 * h),
                    "dX",
                );
            }
        }
    }

    #[test]
    fn init_is_bounded_and_seeded() {
        let a = Dense::<f32>::init(16, 8, Activation::Relu, &mut StdRng::seed_from_u64(1));
        let b = Dense::<f32>::init(16, 8, Activation::Relu, &mut StdRng::seed_from_u64(1));
        assert_eq!(a, b);
        assert!(a.w.iter().chain(a.b.iter()).all(|v| v.abs() <= 0.25));
    }
}
