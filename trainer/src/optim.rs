//! First-order optimizers: Adam (default) and AdaBelief (the reference
//! implementation's choice), with state that can be reset per learning-rate
//! stage and serialized for checkpoints.

use ndarray::NdFloat;
use serde::{Deserialize, Serialize};

/// Which update rule to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba), b1 = 0.9, b2 = 0.999, eps = 1e-8.
    Adam,
    /// AdaBelief (optax), b1 = 0.9, b2 = 0.999, eps = eps_root = 1e-16.
    #[value(name = "adabelief")]
    #[serde(rename = "adabelief")]
    AdaBelief,
}

/// Optimizer state: one first and second moment per parameter tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optimizer<T> {
    kind: OptimizerKind,
    /// Learning rate applied by the next [`Optimizer::step`].
    pub lr: f64,
    t: u64,
    m: Vec<Vec<T>>,
    v: Vec<Vec<T>>,
}

const B1: f64 = 0.9;
const B2: f64 = 0.999;

impl<T: NdFloat> Optimizer<T> {
    /// Fresh state (moments are sized on the first step).
    pub fn new(kind: OptimizerKind, lr: f64) -> Self {
        Self {
            kind,
            lr,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// Forgets the moments and the step count (a new learning-rate stage).
    pub fn reset(&mut self, lr: f64) {
        *self = Self::new(self.kind, lr);
    }

    /// Steps taken since the last reset.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// One update of every tensor in `params` by the matching slice of
    /// `grads` (same order and lengths every call).
    pub fn step<'p, 'g>(
        &mut self,
        params: impl Iterator<Item = &'p mut [T]>,
        grads: impl Iterator<Item = &'g [T]>,
    ) where
        T: 'p + 'g,
    {
        self.t += 1;
        let t = self.t as i32;
        let c = |v: f64| T::from(v).unwrap_or_else(T::zero);
        let (b1, b2) = (c(B1), c(B2));
        let (one_b1, one_b2) = (c(1.0 - B1), c(1.0 - B2));
        let bc1 = c(1.0 / (1.0 - B1.powi(t)));
        let bc2 = c(1.0 / (1.0 - B2.powi(t)));
        let lr = c(self.lr);
        let (eps, eps_root) = match self.kind {
            OptimizerKind::Adam => (c(1e-8), T::zero()),
            OptimizerKind::AdaBelief => (c(1e-16), c(1e-16)),
        };
        let belief = self.kind == OptimizerKind::AdaBelief;
        for (i, (p, g)) in params.zip(grads).enumerate() {
            if self.m.len() <= i {
                self.m.push(vec![T::zero(); p.len()]);
                self.v.push(vec![T::zero(); p.len()]);
            }
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = b1 * *m + one_b1 * g;
                let d = if belief { g - *m } else { g };
                *v = b2 * *v + one_b2 * d * d + eps_root;
                *p -= lr * (*m * bc1) / ((*v * bc2).sqrt() + eps);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both rules minimize a quadratic; the first Adam step has size ≈ lr.
    #[test]
    fn minimizes_a_quadratic() {
        for kind in [OptimizerKind::Adam, OptimizerKind::AdaBelief] {
            let mut x = vec![3.0f64, -2.0];
            let mut opt = Optimizer::new(kind, 0.05);
            for _ in 0..2000 {
                let g: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
                opt.step(
                    std::iter::once(x.as_mut_slice()),
                    std::iter::once(g.as_slice()),
                );
            }
            assert!(x.iter().all(|v| v.abs() < 1e-2), "{kind:?}: {x:?}");
        }
        let mut x = vec![1.0f64];
        Optimizer::new(OptimizerKind::Adam, 0.1).step(
            std::iter::once(x.as_mut_slice()),
            std::iter::once(&[5.0][..]),
        );
        assert!((x[0] - 0.9).abs() < 1e-6);
    }

    #[test]
    fn reset_clears_state() {
        let mut opt = Optimizer::<f32>::new(OptimizerKind::Adam, 1e-3);
        let mut p = vec![1.0f32; 3];
        opt.step(
            std::iter::once(p.as_mut_slice()),
            std::iter::once(&[1.0f32; 3][..]),
        );
        assert_eq!(opt.steps(), 1);
        opt.reset(1e-4);
        assert_eq!(opt.steps(), 0);
        assert_eq!(opt, Optimizer::new(OptimizerKind::Adam, 1e-4));
    }
}
