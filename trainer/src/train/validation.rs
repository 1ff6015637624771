//! Validation inside the training data: a seeded hold-out of the training
//! samples that no gradient step sees, the relative error on it (original
//! units, through the global basis, like the reported errors), and the
//! best-so-far parameters that training keeps for checkpoint selection.

use anyhow::{bail, Result};
use ndarray::{Array2, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::basis;
use crate::data::Normalizer;
use crate::nn::Network;

/// Smallest validation share worth holding out (samples).
pub const MIN_VAL: usize = 3;
/// Fewest samples left for the gradient steps when validating.
pub const MIN_FIT: usize = 5;
/// Training rows (at most) whose latents give the basis of a validation
/// evaluation (evenly spaced; all of them below this count).
pub const BASIS_ROWS: usize = 2048;

/// Mixed into the seed so that the validation split differs from the
/// `--test-fraction` split of the same seed.
const SPLIT_SALT: u64 = 0x5641_4c49_4441_5445;

/// Row indices of the training samples that train (`fit`) and validate
/// (`val`), both ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Rows the gradient steps see.
    pub fit: Vec<usize>,
    /// Held-out rows (empty: no validation).
    pub val: Vec<usize>,
}

/// How many of `n` training samples validate at `fraction`:
/// `max(round(fraction·n), MIN_VAL)`, or 0 (no validation) when
/// `fraction` is 0 or fewer than [`MIN_FIT`] samples would be left.
///
/// # Errors
/// A fraction outside `[0, 1)`.
///
/// ```
/// use rrae_trainer::train::validation::val_count;
/// assert_eq!(val_count(200, 0.2).unwrap(), 40);
/// assert_eq!(val_count(10, 0.2).unwrap(), 3); // the minimum
/// assert_eq!(val_count(7, 0.2).unwrap(), 0); // too few to hold any out
/// assert_eq!(val_count(200, 0.0).unwrap(), 0);
/// ```
pub fn val_count(n: usize, fraction: f64) -> Result<usize> {
    if !(fraction.is_finite() && (0.0..1.0).contains(&fraction)) {
        bail!("--val-fraction {fraction} must be at least 0 and below 1");
    }
    if fraction == 0.0 {
        return Ok(0);
    }
    let want = ((fraction * n as f64).round() as usize).max(MIN_VAL);
    Ok(if n >= want + MIN_FIT { want } else { 0 })
}

/// The split of `n` training samples at `fraction` (see [`val_count`]):
/// a seeded random share, or with `last` the last rows; the same
/// `(n, fraction, seed, last)` always gives the same split.
///
/// # Errors
/// As [`val_count`].
pub fn split(n: usize, fraction: f64, seed: u64, last: bool) -> Result<Split> {
    let n_val = val_count(n, fraction)?;
    let mut idx: Vec<usize> = (0..n).collect();
    if last {
        idx.rotate_right(n_val);
    } else {
        idx.shuffle(&mut StdRng::seed_from_u64(seed ^ SPLIT_SALT));
    }
    let (val, fit) = idx.split_at_mut(n_val);
    val.sort_unstable();
    fit.sort_unstable();
    Ok(Split {
        fit: fit.to_vec(),
        val: val.to_vec(),
    })
}

/// The validation samples and what scoring a model on them needs.
#[derive(Debug, Clone)]
pub struct Validation {
    /// Normalized training rows whose latents give the basis.
    basis_rows: Array2<f32>,
    /// Normalized validation rows.
    x: Array2<f32>,
    /// The same rows in original units.
    raw: Array2<f32>,
    normalizer: Normalizer,
    /// Evaluate every this many steps.
    pub every: usize,
}

impl Validation {
    /// Scores on the rows `split.val` of `train_n` (normalized training
    /// data; `normalizer` maps it back), the basis from the rows
    /// `split.fit`, every `every` steps.
    ///
    /// # Errors
    /// An empty validation split, or a normalizer of another width.
    pub fn new(
        train_n: ArrayView2<f32>,
        split: &Split,
        normalizer: &Normalizer,
        every: usize,
    ) -> Result<Self> {
        if split.val.is_empty() || split.fit.is_empty() {
            bail!("the validation split is empty");
        }
        let stride = split.fit.len().div_ceil(BASIS_ROWS);
        let basis_idx: Vec<usize> = split.fit.iter().copied().step_by(stride).collect();
        let x = train_n.select(Axis(0), &split.val);
        Ok(Self {
            basis_rows: train_n.select(Axis(0), &basis_idx),
            raw: normalizer.invert(x.view())?,
            x,
            normalizer: normalizer.clone(),
            every: every.max(1),
        })
    }

    /// Validation samples.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// Whether there are none (never true for a constructed validation).
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    /// The validation rows in original units.
    pub fn raw(&self) -> ArrayView2<'_, f32> {
        self.raw.view()
    }

    /// Relative error (%, original units) of `d(U_k U_kᵀ e(x))` on the
    /// validation rows, `U_k` the rank-`k` basis of the training latents;
    /// infinite when the networks give non-finite values.
    ///
    /// # Errors
    /// Networks that do not fit the data.
    pub fn error(&self, encoder: &Network<f32>, decoder: &Network<f32>, k: usize) -> Result<f64> {
        let latents = encoder.predict(self.basis_rows.view())?;
        let Ok(gb) = basis::global_basis(latents.view(), k) else {
            return Ok(f64::INFINITY);
        };
        let u = gb.u_k.mapv(|v| v as f32);
        let projected = encoder.predict(self.x.view())?.dot(&u).dot(&u.t());
        let x_hat = self
            .normalizer
            .invert(decoder.predict(projected.view())?.view())?;
        let e = basis::relative_error_percent(self.raw.view(), x_hat.view());
        Ok(if e.is_finite() { e } else { f64::INFINITY })
    }

    /// Relative error (%, original units) on the validation rows of the
    /// linear baseline at rank `k`: the truncated SVD of the training rows
    /// that give the basis (original units), as `metrics.json`'s
    /// `linear_baseline_test_rel_error` does for the test set. A `k` above
    /// the rank those rows allow is lowered to it (the best linear model).
    ///
    /// # Errors
    /// An SVD failure.
    pub fn linear_error(&self, k: usize) -> Result<f64> {
        let fit_raw = self.normalizer.invert(self.basis_rows.view())?;
        let k = k.min(fit_raw.nrows()).min(fit_raw.ncols()).max(1);
        Ok(basis::linear_baseline(fit_raw.view(), self.raw.view(), k)?)
    }
}

/// The best parameters seen on validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Step at which they were evaluated.
    pub step: usize,
    /// Their validation error (%).
    pub error: f64,
    /// Encoder parameters.
    pub encoder: Network<f32>,
    /// Decoder parameters.
    pub decoder: Network<f32>,
}

/// Validation bookkeeping of a run (part of the checkpointed state).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// `(step, error %)` of every evaluation.
    pub history: Vec<(usize, f64)>,
    /// The best so far (lowest error; the earliest on ties).
    pub best: Option<Best>,
}

impl Track {
    /// Records the evaluation of `encoder`/`decoder` at `step`, keeping
    /// them if they are the best so far.
    pub fn record(
        &mut self,
        step: usize,
        error: f64,
        encoder: &Network<f32>,
        decoder: &Network<f32>,
    ) {
        self.history.push((step, error));
        if self.best.as_ref().is_none_or(|b| error < b.error) {
            self.best = Some(Best {
                step,
                error,
                encoder: encoder.clone(),
                decoder: decoder.clone(),
            });
        }
    }

    /// Step of the last evaluation.
    pub fn last_step(&self) -> Option<usize> {
        self.history.last().map(|&(s, _)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::NormKind;

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let a = split(50, 0.2, 3, false).unwrap();
        assert_eq!((a.fit.len(), a.val.len()), (40, 10));
        assert_eq!(a, split(50, 0.2, 3, false).unwrap());
        assert_ne!(a, split(50, 0.2, 4, false).unwrap());
        let last = split(50, 0.2, 3, true).unwrap();
        assert_eq!(last.val, (40..50).collect::<Vec<_>>());
        assert_eq!(last.fit, (0..40).collect::<Vec<_>>());
        let mut all: Vec<usize> = a.fit.iter().chain(&a.val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        assert!(split(4, 0.5, 0, false).unwrap().val.is_empty());
        assert!(split(10, 1.0, 0, false).is_err());
        assert!(split(10, f64::NAN, 0, true).is_err());
    }

    #[test]
    fn error_is_zero_for_an_exact_model_and_track_keeps_the_best() {
        use crate::nn::{Activation, Dense, Layer};
        // Identity networks at full rank reconstruct exactly.
        let eye = |d: usize| {
            Network::new(vec![Layer::Dense(Dense {
                w: Array2::eye(d),
                b: ndarray::Array1::zeros(d),
                act: Activation::Identity,
            })])
            .unwrap()
        };
        let data = Array2::from_shape_fn((12, 3), |(i, j)| ((i * 3 + j) as f32).sin() + 2.0);
        let norm = Normalizer::fit(NormKind::Global, data.view()).unwrap();
        let data_n = norm.apply(data.view()).unwrap();
        let s = split(12, 0.25, 0, false).unwrap();
        let v = Validation::new(data_n.view(), &s, &norm, 1).unwrap();
        assert_eq!(v.len(), 3);
        assert!(v.error(&eye(3), &eye(3), 3).unwrap() < 1e-4);
        let lossy = v.error(&eye(3), &eye(3), 1).unwrap();
        assert!(lossy > 1e-3);
        let mut t = Track::default();
        t.record(1, lossy, &eye(3), &eye(3));
        t.record(2, 0.5 * lossy, &eye(3), &eye(3));
        t.record(3, lossy, &eye(3), &eye(3));
        assert_eq!(t.best.as_ref().map(|b| b.step), Some(2));
        assert_eq!(t.last_step(), Some(3));
    }
}
