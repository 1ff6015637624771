//! Parametric interpolation (reduced-order modelling): the coefficients of a
//! new parameter value are interpolated from the coefficients of the training
//! samples over their parameter grid, then decoded.
//!
//! The training parameters must form a full tensor grid: in each of the `d`
//! parameter dimensions a sorted list of distinct values, and exactly one
//! training sample per combination (a 1-D set is any list of distinct
//! values). A query is interpolated multilinearly from the `2^d` corners of
//! the grid cell that encloses it, each corner weighted by the volume of the
//! sub-box opposite to it (in 1-D: linear between the two neighbours). There
//! is no extrapolation: a query outside the training range is an error, and
//! so are scattered (off-grid) training parameters.

use std::collections::HashMap;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use thiserror::Error;

/// Why a grid cannot be built or a query cannot be answered.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum InterpError {
    /// Parameters and coefficients have different row counts, or no rows.
    #[error("{0}")]
    Shape(String),
    /// A parameter or coefficient is NaN or infinite.
    #[error("non-finite value in the {0}")]
    NonFinite(&'static str),
    /// The training parameters are not a full tensor grid.
    #[error("the training parameters are not on a grid: {0}")]
    NotAGrid(String),
    /// The query has the wrong number of parameters.
    #[error("expected {expected} parameter value(s), got {got}")]
    Dimension {
        /// Parameters per sample in the table.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A query value lies outside the training range of its dimension.
    #[error(
        "parameter {dim} = {value} is outside the training range [{lo}, {hi}] (no extrapolation)"
    )]
    OutOfRange {
        /// Dimension (0-based).
        dim: usize,
        /// The value asked for.
        value: f64,
        /// Smallest training value.
        lo: f64,
        /// Largest training value.
        hi: f64,
    },
}

/// Training coefficients arranged on their parameter grid.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamGrid {
    /// Distinct sorted values per parameter dimension.
    axes: Vec<Vec<f64>>,
    /// Coefficients (`k` each) in row-major grid order (last axis fastest).
    coeffs: Array2<f64>,
}

/// Most parameters per sample (the interpolation visits `2^d` corners).
pub const MAX_PARAM_DIM: usize = 16;

impl ParamGrid {
    /// Arranges `coeffs` (`n x k`) by `params` (`n x d`, one row per
    /// training sample, any order).
    ///
    /// # Errors
    ///
    /// [`InterpError::Shape`] for mismatched or empty inputs,
    /// [`InterpError::NonFinite`], and [`InterpError::NotAGrid`] when the
    /// parameters are not exactly one sample per grid point.
    pub fn new(params: ArrayView2<f64>, coeffs: ArrayView2<f64>) -> Result<Self, InterpError> {
        let (n, d) = params.dim();
        if n == 0 || d == 0 || coeffs.ncols() == 0 {
            return Err(InterpError::Shape("empty parameter table".into()));
        }
        // Multilinear interpolation visits 2^d corners.
        if d > MAX_PARAM_DIM {
            return Err(InterpError::Shape(format!(
                "{d} parameters per sample; at most {MAX_PARAM_DIM} are supported"
            )));
        }
        if coeffs.nrows() != n {
            return Err(InterpError::Shape(format!(
                "{n} parameter rows but {} coefficient rows",
                coeffs.nrows()
            )));
        }
        if params.iter().any(|v| !v.is_finite()) {
            return Err(InterpError::NonFinite("parameters"));
        }
        if coeffs.iter().any(|v| !v.is_finite()) {
            return Err(InterpError::NonFinite("coefficients"));
        }
        let axes: Vec<Vec<f64>> = params
            .columns()
            .into_iter()
            .map(|c| {
                let mut v = c.to_vec();
                v.sort_by(f64::total_cmp);
                v.dedup();
                v
            })
            .collect();
        let points = axes
            .iter()
            .try_fold(1usize, |acc, a| acc.checked_mul(a.len()));
        if points != Some(n) {
            let sizes: Vec<String> = axes.iter().map(|a| a.len().to_string()).collect();
            return Err(InterpError::NotAGrid(format!(
                "{n} samples but {} distinct values per dimension",
                sizes.join(" x ")
            )));
        }
        let mut grid = Array2::from_elem((n, coeffs.ncols()), f64::NAN);
        let mut filled: HashMap<usize, usize> = HashMap::with_capacity(n);
        for (row, (p, c)) in params.rows().into_iter().zip(coeffs.rows()).enumerate() {
            let mut flat = 0;
            for (a, &v) in axes.iter().zip(p) {
                // `v` is one of the axis values by construction.
                let i = a.partition_point(|&g| g < v);
                flat = flat * a.len() + i;
            }
            if let Some(first) = filled.insert(flat, row) {
                return Err(InterpError::NotAGrid(format!(
                    "samples {first} and {row} have the same parameters"
                )));
            }
            grid.row_mut(flat).assign(&c);
        }
        Ok(Self { axes, coeffs: grid })
    }

    /// Parameters per sample (`d`).
    pub fn param_dim(&self) -> usize {
        self.axes.len()
    }

    /// Coefficients per sample (`k`).
    pub fn rank(&self) -> usize {
        self.coeffs.ncols()
    }

    /// `(min, max)` of the training values of each parameter dimension.
    pub fn ranges(&self) -> Vec<(f64, f64)> {
        self.axes.iter().map(|a| (a[0], a[a.len() - 1])).collect()
    }

    /// Interpolated coefficients (`k`) at parameter `p` (`d` values).
    ///
    /// # Errors
    ///
    /// [`InterpError::Dimension`] for a wrong number of values,
    /// [`InterpError::OutOfRange`] for a value outside the training range
    /// (or NaN).
    pub fn interpolate(&self, p: ArrayView1<f64>) -> Result<Array1<f64>, InterpError> {
        if p.len() != self.axes.len() {
            return Err(InterpError::Dimension {
                expected: self.axes.len(),
                got: p.len(),
            });
        }
        // Per dimension: the lower corner index and the weight of the upper one.
        let mut cell = Vec::with_capacity(p.len());
        for (dim, (a, &v)) in self.axes.iter().zip(p).enumerate() {
            let (lo, hi) = (a[0], a[a.len() - 1]);
            if !(lo..=hi).contains(&v) {
                return Err(InterpError::OutOfRange {
                    dim,
                    value: v,
                    lo,
                    hi,
                });
            }
            let upper = a.partition_point(|&g| g < v).clamp(1, a.len().max(2) - 1);
            cell.push(match a.get(upper) {
                Some(&g1) => {
                    let g0 = a[upper - 1];
                    (upper - 1, (v - g0) / (g1 - g0))
                }
                None => (0, 0.0), // a single value on this axis: v equals it
            });
        }
        let mut out = Array1::zeros(self.rank());
        for corner in 0..1usize << cell.len() {
            let (mut flat, mut weight) = (0, 1.0);
            for (bit, (a, &(i, t))) in self.axes.iter().zip(&cell).enumerate() {
                let up = corner >> (cell.len() - 1 - bit) & 1 == 1;
                weight *= if up { t } else { 1.0 - t };
                flat = flat * a.len() + i + usize::from(up && a.len() > 1);
            }
            if weight != 0.0 {
                out.scaled_add(weight, &self.coeffs.row(flat));
            }
        }
        Ok(out)
    }

    /// [`interpolate`](Self::interpolate) for every row of `params`
    /// (`m x d` -> `m x k`).
    ///
    /// # Errors
    ///
    /// The first failing row's error.
    pub fn interpolate_rows(&self, params: ArrayView2<f64>) -> Result<Array2<f64>, InterpError> {
        let mut out = Array2::zeros((params.nrows(), self.rank()));
        for (p, mut o) in params.rows().into_iter().zip(out.rows_mut()) {
            o.assign(&self.interpolate(p)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// Rows of the tensor grid `xs x ys`, in shuffled order.
    fn grid_2d(xs: &[f64], ys: &[f64]) -> Array2<f64> {
        let mut rows: Vec<[f64; 2]> = xs
            .iter()
            .flat_map(|&x| ys.iter().map(move |&y| [x, y]))
            .collect();
        rows.reverse();
        rows.swap(0, 3);
        Array2::from_shape_fn((rows.len(), 2), |(i, j)| rows[i][j])
    }

    /// A bilinear function of two parameters, two outputs.
    fn bilinear(p: ArrayView1<f64>) -> [f64; 2] {
        let (x, y) = (p[0], p[1]);
        [1.0 + 2.0 * x - 3.0 * y + 0.5 * x * y, -x * y + 4.0]
    }

    fn table(params: &Array2<f64>, f: impl Fn(ArrayView1<f64>) -> [f64; 2]) -> Array2<f64> {
        let mut c = Array2::zeros((params.nrows(), 2));
        for (p, mut o) in params.rows().into_iter().zip(c.rows_mut()) {
            o.assign(&Array1::from(f(p).to_vec()));
        }
        c
    }

    #[test]
    fn one_d_is_linear_between_neighbours() {
        let p = array![[2.0], [0.0], [1.0], [4.0]];
        let c = array![[20.0], [0.0], [10.0], [0.0]];
        let g = ParamGrid::new(p.view(), c.view()).unwrap();
        let at = |v: f64| g.interpolate(array![v].view()).unwrap()[0];
        assert_eq!(at(0.0), 0.0);
        assert_eq!(at(0.25), 2.5);
        assert_eq!(at(1.5), 15.0);
        assert_eq!(at(3.0), 10.0);
        assert_eq!(at(4.0), 0.0);
        assert_eq!(g.ranges(), vec![(0.0, 4.0)]);
    }

    #[test]
    fn multilinear_functions_are_reproduced_exactly() {
        let params = grid_2d(&[0.0, 0.5, 2.0], &[-1.0, 1.0, 1.5, 3.0]);
        let g = ParamGrid::new(params.view(), table(&params, bilinear).view()).unwrap();
        assert_eq!((g.param_dim(), g.rank()), (2, 2));
        for x in [0.0, 0.1, 0.5, 1.3, 2.0] {
            for y in [-1.0, -0.2, 1.0, 1.2, 2.9, 3.0] {
                let q = array![x, y];
                let got = g.interpolate(q.view()).unwrap();
                let want = bilinear(q.view());
                for (a, b) in got.iter().zip(want) {
                    assert!((a - b).abs() < 1e-12, "{x} {y}: {a} vs {b}");
                }
            }
        }
        let rows = g.interpolate_rows(params.view()).unwrap();
        assert!((rows - table(&params, bilinear))
            .iter()
            .all(|d| d.abs() < 1e-12));
    }

    #[test]
    fn trilinear_with_a_single_valued_axis() {
        let f = |p: ArrayView1<f64>| [p[0] * p[1] - p[2], 2.0 * p[0]];
        let mut rows = Vec::new();
        for x in [0.0, 1.0, 3.0] {
            for y in [5.0] {
                for z in [0.0, 2.0] {
                    rows.push([x, y, z]);
                }
            }
        }
        let params = Array2::from_shape_fn((rows.len(), 3), |(i, j)| rows[i][j]);
        let g = ParamGrid::new(params.view(), table(&params, f).view()).unwrap();
        let q = array![2.0, 5.0, 0.5];
        let got = g.interpolate(q.view()).unwrap();
        assert!((got[0] - (10.0 - 0.5)).abs() < 1e-12 && (got[1] - 4.0).abs() < 1e-12);
        assert!(matches!(
            g.interpolate(array![2.0, 5.1, 0.5].view()),
            Err(InterpError::OutOfRange { dim: 1, .. })
        ));
    }

    #[test]
    fn rejects_extrapolation_bad_queries_and_scattered_parameters() {
        let params = grid_2d(&[0.0, 1.0], &[0.0, 1.0]);
        let c = table(&params, bilinear);
        let g = ParamGrid::new(params.view(), c.view()).unwrap();
        let err = g.interpolate(array![1.5, 0.5].view()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter 0 = 1.5 is outside the training range [0, 1] (no extrapolation)"
        );
        assert!(matches!(
            g.interpolate(array![f64::NAN, 0.5].view()),
            Err(InterpError::OutOfRange { .. })
        ));
        assert_eq!(
            g.interpolate(array![0.5].view()),
            Err(InterpError::Dimension {
                expected: 2,
                got: 1
            })
        );
        let scattered = array![[0.0, 0.0], [1.0, 0.3], [0.2, 1.0], [1.0, 1.0]];
        assert!(matches!(
            ParamGrid::new(scattered.view(), c.view()),
            Err(InterpError::NotAGrid(_))
        ));
        let dup = array![[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        assert!(matches!(
            ParamGrid::new(dup.view(), c.view()),
            Err(InterpError::NotAGrid(_))
        ));
        assert!(matches!(
            ParamGrid::new(params.view(), c.slice(ndarray::s![..3, ..])),
            Err(InterpError::Shape(_))
        ));
        let mut nan = c.clone();
        nan[[0, 0]] = f64::NAN;
        assert_eq!(
            ParamGrid::new(params.view(), nan.view()),
            Err(InterpError::NonFinite("coefficients"))
        );
    }
}
