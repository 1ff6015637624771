//! Dense linear algebra helpers for the trainer, in `f64`.
//!
//! The thin SVD is computed with [`faer`] 0.24, sequentially (`Par::Seq`): on
//! the small matrices met in training (a batch of latents, at most a few
//! hundred per side) a second thread never helps (see `NUMERICS.md`).
//! Inputs are [`ndarray`] views of any layout; outputs are owned ndarray
//! matrices.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{svd, svd_scratch, ComputeSvdVectors, SvdError};
use faer::{diag::Diag, Mat, MatRef, Par, Spec};
use ndarray::{Array2, ArrayView2};
use thiserror::Error;

/// Errors of the linear-algebra helpers.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LinalgError {
    /// The input matrix has a zero dimension.
    #[error("cannot decompose an empty {rows} x {cols} matrix")]
    Empty {
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
    /// The input holds a NaN or an infinity.
    #[error("non-finite value {value} at row {row}, column {col} of a {rows} x {cols} matrix")]
    NonFinite {
        /// Row of the first offending entry.
        row: usize,
        /// Column of the first offending entry.
        col: usize,
        /// The offending value.
        value: f64,
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
    /// The SVD iteration did not converge.
    #[error("the SVD of a {rows} x {cols} matrix did not converge")]
    NoConvergence {
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
}

/// A thin singular value decomposition `A = U diag(s) Vᵀ`.
#[derive(Debug, Clone, PartialEq)]
pub struct Svd {
    /// Left singular vectors, `m x p` with orthonormal columns (`p = min(m, n)`).
    pub u: Array2<f64>,
    /// Singular values, `p` of them, non-negative and in descending order.
    pub s: Vec<f64>,
    /// Right singular vectors, transposed: `p x n` with orthonormal rows.
    pub vt: Array2<f64>,
}

/// Returns an error naming the first non-finite entry of `a`, if any.
pub fn check_finite(a: ArrayView2<f64>) -> Result<(), LinalgError> {
    let (rows, cols) = a.dim();
    match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((row, col), &value)) => Err(LinalgError::NonFinite {
            row,
            col,
            value,
            rows,
            cols,
        }),
        None => Ok(()),
    }
}

/// Thin SVD of an `m x n` matrix: `U` is `m x p`, `s` has `p` descending
/// values and `Vᵀ` is `p x n`, with `p = min(m, n)`.
///
/// Runs faer's divide-and-conquer SVD sequentially. The signs of the singular
/// vector pairs are whatever faer returns (consumers that need a canonical
/// sign fix it themselves, see [`crate::basis`]).
///
/// # Errors
/// [`LinalgError::Empty`] for a matrix with a zero dimension,
/// [`LinalgError::NonFinite`] if any entry is NaN or infinite, and
/// [`LinalgError::NoConvergence`] if faer's iteration fails.
pub fn thin_svd(a: ArrayView2<f64>) -> Result<Svd, LinalgError> {
    let (m, n) = a.dim();
    if m == 0 || n == 0 {
        return Err(LinalgError::Empty { rows: m, cols: n });
    }
    check_finite(a)?;
    let p = m.min(n);
    let contiguous = a.as_standard_layout();
    let data = contiguous
        .as_slice()
        .ok_or(LinalgError::Empty { rows: m, cols: n })?;
    let view = MatRef::from_row_major_slice(data, m, n);

    let mut u = Mat::<f64>::zeros(m, p);
    let mut v = Mat::<f64>::zeros(n, p);
    let mut s = Diag::<f64>::zeros(p);
    let par = Par::Seq;
    let mut mem = MemBuffer::new(svd_scratch::<f64>(
        m,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::Thin,
        par,
        Spec::default(),
    ));
    svd(
        view,
        s.as_mut(),
        Some(u.as_mut()),
        Some(v.as_mut()),
        par,
        MemStack::new(&mut mem),
        Spec::default(),
    )
    .map_err(|e| match e {
        SvdError::NoConvergence => LinalgError::NoConvergence { rows: m, cols: n },
    })?;

    let s_col = s.column_vector();
    Ok(Svd {
        u: Array2::from_shape_fn((m, p), |(i, j)| u[(i, j)]),
        s: (0..p).map(|j| s_col[j]).collect(),
        vt: Array2::from_shape_fn((p, n), |(j, i)| v[(i, j)]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn random(m: usize, n: usize, seed: u64) -> Array2<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        Array2::from_shape_fn((m, n), |_| StandardNormal.sample(&mut rng))
    }

    fn max_abs(a: &Array2<f64>) -> f64 {
        a.iter().fold(0.0, |acc, v| acc.max(v.abs()))
    }

    fn check(a: &Array2<f64>) {
        let svd = thin_svd(a.view()).unwrap();
        let (m, n) = a.dim();
        let p = m.min(n);
        assert_eq!(svd.u.dim(), (m, p));
        assert_eq!(svd.vt.dim(), (p, n));
        assert_eq!(svd.s.len(), p);
        assert!(svd.s.windows(2).all(|w| w[0] >= w[1]));
        assert!(svd.s.iter().all(|&x| x >= 0.0));
        let us = &svd.u * &ndarray::Array1::from(svd.s.clone());
        let rec = us.dot(&svd.vt);
        assert!(max_abs(&(&rec - a)) < 1e-12 * max_abs(a).max(1.0));
        let eye = Array2::<f64>::eye(p);
        assert!(max_abs(&(svd.u.t().dot(&svd.u) - &eye)) < 1e-12);
        assert!(max_abs(&(svd.vt.dot(&svd.vt.t()) - &eye)) < 1e-12);
    }

    #[test]
    fn reconstructs_and_is_orthonormal() {
        check(&random(7, 4, 1));
        check(&random(4, 9, 2));
        check(&random(6, 6, 3));
        check(&random(1, 5, 4));
        check(&random(64, 200, 5));
        // Non-contiguous (transposed) input.
        let a = random(5, 8, 6);
        let at = a.t().to_owned();
        check(&at);
        let svd_t = thin_svd(a.t()).unwrap();
        let svd = thin_svd(a.view()).unwrap();
        for (x, y) in svd_t.s.iter().zip(&svd.s) {
            assert!((x - y).abs() < 1e-12);
        }
    }

    #[test]
    fn rank_deficient_and_zero() {
        let mut a = random(6, 5, 7);
        a.column_mut(2).fill(0.0);
        a.column_mut(4).fill(0.0);
        check(&a);
        let z = Array2::<f64>::zeros((3, 4));
        let svd = thin_svd(z.view()).unwrap();
        assert!(svd.s.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn rejects_bad_input() {
        let mut a = random(3, 3, 8);
        a[(1, 2)] = f64::NAN;
        let err = thin_svd(a.view()).unwrap_err();
        assert!(matches!(err, LinalgError::NonFinite { row: 1, col: 2, .. }));
        assert!(err.to_string().contains("row 1, column 2"));
        a[(1, 2)] = f64::INFINITY;
        assert!(thin_svd(a.view()).is_err());
        let e = Array2::<f64>::zeros((0, 3));
        assert_eq!(
            thin_svd(e.view()).unwrap_err(),
            LinalgError::Empty { rows: 0, cols: 3 }
        );
    }
}
