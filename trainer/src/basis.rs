//! The global basis used at inference, coefficient statistics, the linear
//! (truncated-SVD) baseline and the project's error metric.
//!
//! Per-batch SVDs are a training device only. After training, the training
//! latents (`N x L`, rows are samples) are decomposed once — the paper's way,
//! a thin SVD of all of them in `f64` — and the top `k` right singular vectors
//! (the latent-space directions, `L x k`) form the fixed basis `U_k`. A sample
//! is encoded as `α = U_kᵀ e(x)` and decoded as `d(U_k α)`.

use ndarray::{s, Array1, Array2, ArrayView2, Axis, NdFloat, Zip};
use thiserror::Error;

use crate::linalg::{thin_svd, LinalgError};

/// Errors of the basis computations.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BasisError {
    /// The rank is not in `1..=min(rows, cols)` of the matrix decomposed.
    #[error("rank k = {k} is invalid for a {rows} x {cols} matrix: need 1 <= k <= {max}")]
    InvalidRank {
        /// The requested rank.
        k: usize,
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
        /// `min(rows, cols)`.
        max: usize,
    },
    /// Two matrices that must share their number of columns do not.
    #[error("{what}: expected {expected} columns, found {found}")]
    ShapeMismatch {
        /// Which input.
        what: &'static str,
        /// Expected number of columns.
        expected: usize,
        /// Number found.
        found: usize,
    },
    /// Too few samples to estimate a covariance.
    #[error("a Gaussian needs at least 2 coefficient samples, got {0}")]
    TooFewSamples(usize),
    /// A value is NaN or infinite.
    #[error("{what}: non-finite value at row {row}, column {col}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// 0-based row.
        row: usize,
        /// 0-based column.
        col: usize,
    },
    /// The covariance could not be factored even with jitter.
    #[error("the coefficient covariance is not positive definite even with jitter {jitter:e}")]
    NotPositiveDefinite {
        /// The last jitter tried.
        jitter: f64,
    },
    /// The SVD failed.
    #[error(transparent)]
    Linalg(#[from] LinalgError),
}

/// A fixed latent basis computed from the training latents.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalBasis {
    /// `L x k`, orthonormal columns ordered by decreasing singular value; each
    /// column's entry of largest magnitude is positive (deterministic sign).
    pub u_k: Array2<f64>,
    /// All `min(N, L)` singular values of the training latents, descending
    /// (the first `k` belong to `u_k`; the rest show what was dropped).
    pub singular_values: Vec<f64>,
}

impl GlobalBasis {
    /// Number of basis vectors `k`.
    pub fn rank(&self) -> usize {
        self.u_k.ncols()
    }

    /// Latent width `L`.
    pub fn latent_dim(&self) -> usize {
        self.u_k.nrows()
    }
}

fn finite_f64<T: NdFloat>(a: ArrayView2<T>, what: &'static str) -> Result<Array2<f64>, BasisError> {
    if let Some(((row, col), _)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(BasisError::NonFinite { what, row, col });
    }
    Ok(a.mapv(|v| v.to_f64().unwrap_or(f64::NAN)))
}

fn check_rank(k: usize, rows: usize, cols: usize) -> Result<(), BasisError> {
    let max = rows.min(cols);
    if k == 0 || k > max {
        return Err(BasisError::InvalidRank { k, rows, cols, max });
    }
    Ok(())
}

/// Top-`k` right singular vectors of `x` (`n x m`), as the columns of an
/// `m x k` matrix, plus all singular values.
fn top_right_singular(x: &Array2<f64>, k: usize) -> Result<(Array2<f64>, Vec<f64>), BasisError> {
    check_rank(k, x.nrows(), x.ncols())?;
    let svd = thin_svd(x.view())?;
    Ok((svd.vt.slice(s![..k, ..]).t().to_owned(), svd.s))
}

/// The global basis: thin SVD (in `f64`) of all training latents
/// (`N x L`, rows are samples), keeping the top `k` latent-space directions.
///
/// # Errors
/// [`BasisError::InvalidRank`] unless `1 <= k <= min(N, L)`;
/// [`BasisError::NonFinite`] for a NaN / infinite latent; SVD failures.
pub fn global_basis(latents: ArrayView2<f32>, k: usize) -> Result<GlobalBasis, BasisError> {
    let y = finite_f64(latents, "latents")?;
    let (mut u_k, singular_values) = top_right_singular(&y, k)?;
    for mut col in u_k.axis_iter_mut(Axis(1)) {
        let pivot = col.iter().copied().fold(
            0.0f64,
            |best, v| if v.abs() > best.abs() { v } else { best },
        );
        if pivot < 0.0 {
            col.mapv_inplace(|v| -v);
        }
    }
    Ok(GlobalBasis {
        u_k,
        singular_values,
    })
}

/// Coefficients `α = U_kᵀ y` of every latent row: `N x L` in, `N x k` out.
///
/// # Errors
/// [`BasisError::ShapeMismatch`] if the latent width is not the basis's `L`;
/// [`BasisError::NonFinite`] for a NaN / infinite latent.
pub fn coefficients(
    latents: ArrayView2<f32>,
    basis: &GlobalBasis,
) -> Result<Array2<f64>, BasisError> {
    if latents.ncols() != basis.latent_dim() {
        return Err(BasisError::ShapeMismatch {
            what: "latents",
            expected: basis.latent_dim(),
            found: latents.ncols(),
        });
    }
    Ok(finite_f64(latents, "latents")?.dot(&basis.u_k))
}

/// Fits a Gaussian to coefficient samples (`N x k`, rows are samples):
/// returns the mean and the lower Cholesky factor `C` of the sample
/// covariance (denominator `N − 1`), so that `α = mean + C z` with
/// `z ~ N(0, I)` samples it.
///
/// If the covariance is singular (e.g. fewer samples than coefficients, or a
/// constant coefficient), a jitter is added to its diagonal: `1e-10` times
/// the mean variance (or `1e-10` if that is zero), multiplied by 10 until the
/// factorization succeeds (at most 12 tries).
///
/// # Errors
/// [`BasisError::TooFewSamples`] for `N < 2`; [`BasisError::NonFinite`];
/// [`BasisError::NotPositiveDefinite`] if no jitter helps.
pub fn coefficient_gaussian(
    alpha: ArrayView2<f64>,
) -> Result<(Array1<f64>, Array2<f64>), BasisError> {
    let (n, k) = alpha.dim();
    if n < 2 {
        return Err(BasisError::TooFewSamples(n));
    }
    let a = finite_f64(alpha, "coefficients")?;
    let mean = a.sum_axis(Axis(0)) / n as f64;
    let centred = &a - &mean;
    let cov = centred.t().dot(&centred) / (n as f64 - 1.0);
    if let Some(c) = cholesky(&cov) {
        return Ok((mean, c));
    }
    let mean_var = if k == 0 {
        0.0
    } else {
        cov.diag().sum() / k as f64
    };
    let mut jitter = if mean_var > 0.0 {
        1e-10 * mean_var
    } else {
        1e-10
    };
    for _ in 0..12 {
        let mut jittered = cov.clone();
        jittered.diag_mut().mapv_inplace(|v| v + jitter);
        if let Some(c) = cholesky(&jittered) {
            return Ok((mean, c));
        }
        jitter *= 10.0;
    }
    Err(BasisError::NotPositiveDefinite {
        jitter: jitter / 10.0,
    })
}

/// Lower Cholesky factor of a symmetric matrix, or `None` if it is not
/// (numerically) positive definite.
fn cholesky(a: &Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let d = a[(j, j)] - (0..j).map(|p| l[(j, p)] * l[(j, p)]).sum::<f64>();
        if d.is_nan() || d <= 0.0 {
            return None;
        }
        let djj = d.sqrt();
        l[(j, j)] = djj;
        for i in j + 1..n {
            let v = a[(i, j)] - (0..j).map(|p| l[(i, p)] * l[(j, p)]).sum::<f64>();
            l[(i, j)] = v / djj;
        }
    }
    Some(l)
}

/// The project's error metric: `100 · ‖X − X̂‖_F / ‖X‖_F` over the whole
/// matrix (percent), accumulated in `f64`.
///
/// Returns `NaN` if the shapes differ, and for `‖X‖_F = 0` returns `0` when
/// `X̂ = X` and `+∞` otherwise.
pub fn relative_error_percent<T: NdFloat>(x: ArrayView2<T>, x_hat: ArrayView2<T>) -> f64 {
    if x.dim() != x_hat.dim() {
        return f64::NAN;
    }
    let mut num = 0.0f64;
    let mut den = 0.0f64;
    Zip::from(&x).and(&x_hat).for_each(|&a, &b| {
        let a = a.to_f64().unwrap_or(f64::NAN);
        let b = b.to_f64().unwrap_or(f64::NAN);
        num += (a - b) * (a - b);
        den += a * a;
    });
    if den == 0.0 {
        return if num == 0.0 { 0.0 } else { f64::INFINITY };
    }
    100.0 * (num / den).sqrt()
}

/// The linear baseline: relative error (%) on `test` of the rank-`k`
/// truncated SVD of the uncentred `train` matrix (rows are samples), i.e. the
/// test rows projected onto the top-`k` right singular vectors of `train`.
///
/// # Errors
/// [`BasisError::InvalidRank`] unless `1 <= k <= min(train dims)`;
/// [`BasisError::ShapeMismatch`] if the feature counts differ;
/// [`BasisError::NonFinite`]; SVD failures.
pub fn linear_baseline(
    train: ArrayView2<f32>,
    test: ArrayView2<f32>,
    k: usize,
) -> Result<f64, BasisError> {
    if test.ncols() != train.ncols() {
        return Err(BasisError::ShapeMismatch {
            what: "test",
            expected: train.ncols(),
            found: test.ncols(),
        });
    }
    let tr = finite_f64(train, "train")?;
    let te = finite_f64(test, "test")?;
    let (v_k, _) = top_right_singular(&tr, k)?;
    let x_hat = te.dot(&v_k).dot(&v_k.t());
    Ok(relative_error_percent(te.view(), x_hat.view()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn gaussian(m: usize, n: usize, seed: u64) -> Array2<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        Array2::from_shape_fn((m, n), |_| StandardNormal.sample(&mut rng))
    }

    #[test]
    fn basis_is_orthonormal_signed_and_spans_low_rank_latents() {
        // Latents of exact rank 2 in a 6-D latent space.
        let a = gaussian(30, 2, 1).dot(&gaussian(2, 6, 2));
        let latents = a.mapv(|v| v as f32);
        let b = global_basis(latents.view(), 2).unwrap();
        assert_eq!(b.u_k.dim(), (6, 2));
        assert_eq!(b.singular_values.len(), 6);
        assert!(b.singular_values[2] < 1e-5 * b.singular_values[0]);
        let g = b.u_k.t().dot(&b.u_k) - Array2::<f64>::eye(2);
        assert!(g.iter().all(|v| v.abs() < 1e-12));
        for col in b.u_k.axis_iter(Axis(1)) {
            let big = col
                .iter()
                .fold(0.0f64, |m, v| if v.abs() > m.abs() { *v } else { m });
            assert!(big > 0.0);
        }
        let alpha = coefficients(latents.view(), &b).unwrap();
        assert_eq!(alpha.dim(), (30, 2));
        let rec = alpha.dot(&b.u_k.t()).mapv(|v| v as f32);
        assert!(relative_error_percent(latents.view(), rec.view()) < 1e-4);
        // Same basis for the negated latents (sign fixed deterministically).
        let neg = latents.mapv(|v| -v);
        let b2 = global_basis(neg.view(), 2).unwrap();
        assert!((&b2.u_k - &b.u_k).iter().all(|v| v.abs() < 1e-9));
    }

    #[test]
    fn basis_errors() {
        let l = Array2::<f32>::ones((4, 3));
        assert!(matches!(
            global_basis(l.view(), 0),
            Err(BasisError::InvalidRank { k: 0, max: 3, .. })
        ));
        assert!(global_basis(l.view(), 4).is_err());
        let b = global_basis(l.view(), 1).unwrap();
        let wrong = Array2::<f32>::ones((2, 5));
        assert!(matches!(
            coefficients(wrong.view(), &b),
            Err(BasisError::ShapeMismatch {
                expected: 3,
                found: 5,
                ..
            })
        ));
        let mut bad = l.clone();
        bad[(2, 1)] = f32::NAN;
        assert!(matches!(
            global_basis(bad.view(), 1),
            Err(BasisError::NonFinite { row: 2, col: 1, .. })
        ));
    }

    #[test]
    fn gaussian_fit_recovers_covariance() {
        let alpha = array![[1.0, 2.0], [3.0, 2.0], [2.0, 5.0], [2.0, -1.0]];
        let (mean, c) = coefficient_gaussian(alpha.view()).unwrap();
        assert_eq!(mean, array![2.0, 2.0]);
        let cov = c.dot(&c.t());
        let expected = array![[2.0 / 3.0, 0.0], [0.0, 6.0]];
        assert!((&cov - &expected).iter().all(|v| v.abs() < 1e-12));
        assert_eq!(c[(0, 1)], 0.0);
        // Singular covariance (a constant coefficient): jitter, finite factor.
        let sing = array![[1.0, 7.0], [2.0, 7.0], [3.0, 7.0]];
        let (_, c) = coefficient_gaussian(sing.view()).unwrap();
        assert!(c.iter().all(|v| v.is_finite()));
        assert!(c[(1, 1)] > 0.0 && c[(1, 1)] < 1e-4);
        assert!(matches!(
            coefficient_gaussian(array![[1.0, 2.0]].view()),
            Err(BasisError::TooFewSamples(1))
        ));
    }

    #[test]
    fn error_metric() {
        let x = array![[3.0f32, 0.0], [0.0, 4.0]];
        let y = array![[3.0f32, 0.0], [0.0, 3.0]];
        assert!((relative_error_percent(x.view(), y.view()) - 20.0).abs() < 1e-9);
        assert_eq!(relative_error_percent(x.view(), x.view()), 0.0);
        let z = Array2::<f64>::zeros((2, 2));
        assert_eq!(relative_error_percent(z.view(), z.view()), 0.0);
        assert!(relative_error_percent(z.view(), Array2::ones((2, 2)).view()).is_infinite());
        assert!(relative_error_percent(x.view(), array![[1.0f32]].view()).is_nan());
    }

    #[test]
    fn linear_baseline_exact_for_low_rank() {
        let basis = gaussian(2, 8, 3);
        let train = gaussian(20, 2, 4).dot(&basis).mapv(|v| v as f32);
        let test = gaussian(5, 2, 5).dot(&basis).mapv(|v| v as f32);
        assert!(linear_baseline(train.view(), test.view(), 2).unwrap() < 1e-4);
        assert!(linear_baseline(train.view(), test.view(), 1).unwrap() > 1.0);
        assert!(matches!(
            linear_baseline(train.view(), test.slice(s![.., ..3]), 1),
            Err(BasisError::ShapeMismatch { .. })
        ));
    }
}
