//! Input normalization, fitted on the training array and stored with the
//! model: `x_n = (x − shift) / scale`, inverted by `x = x_n · scale + shift`.
//!
//! - [`Normalizer::None`] is the identity.
//! - [`Normalizer::Global`] uses one mean and one (population) standard
//!   deviation over the whole training array, like the reference's
//!   `"meanstd"`.
//! - [`Normalizer::PerFeature`] uses a mean and a standard deviation per
//!   feature (column).
//!
//! Statistics are accumulated in `f64`.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use super::DataError;

/// Which normalization to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NormKind {
    /// No normalization.
    #[default]
    None,
    /// One global mean / standard deviation (the reference's `"meanstd"`).
    Global,
    /// A mean / standard deviation per feature.
    PerFeature,
}

/// A fitted normalization.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalizer {
    /// Identity.
    None,
    /// `(x − shift) / scale` with scalars.
    Global {
        /// Mean of the training array.
        shift: f64,
        /// Population standard deviation of the training array.
        scale: f64,
    },
    /// `(x − shift[j]) / scale[j]` per feature `j`.
    PerFeature {
        /// Mean of each feature.
        shift: Array1<f64>,
        /// Population standard deviation of each feature.
        scale: Array1<f64>,
    },
}

fn mean_std<'a>(values: impl Iterator<Item = &'a f32> + Clone, n: usize) -> (f64, f64) {
    let n = n as f64;
    let mean = values.clone().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values.map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

impl Normalizer {
    /// Fits a normalization of kind `kind` on `train` (`samples x features`).
    ///
    /// # Errors
    /// [`DataError::ZeroVariance`] if the array (global) or a feature
    /// (per-feature, naming the first one) is constant, including an empty
    /// array; [`DataError::NonFiniteTrain`] if `train` holds NaN or infinity.
    pub fn fit(kind: NormKind, train: ArrayView2<f32>) -> Result<Self, DataError> {
        if kind == NormKind::None {
            return Ok(Self::None);
        }
        if let Some(((row, col), _)) = train.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(DataError::NonFiniteTrain { row, col });
        }
        match kind {
            NormKind::None => Ok(Self::None),
            NormKind::Global => {
                let (shift, scale) = mean_std(train.iter(), train.len());
                if scale.is_nan() || scale <= 0.0 {
                    return Err(DataError::ZeroVariance { feature: None });
                }
                Ok(Self::Global { shift, scale })
            }
            NormKind::PerFeature => {
                let n = train.nrows();
                let mut shift = Array1::zeros(train.ncols());
                let mut scale = Array1::zeros(train.ncols());
                for (j, col) in train.axis_iter(Axis(1)).enumerate() {
                    let (m, s) = mean_std(col.iter(), n);
                    if s.is_nan() || s <= 0.0 {
                        return Err(DataError::ZeroVariance { feature: Some(j) });
                    }
                    shift[j] = m;
                    scale[j] = s;
                }
                if train.ncols() == 0 {
                    return Err(DataError::ZeroVariance { feature: None });
                }
                Ok(Self::PerFeature { shift, scale })
            }
        }
    }

    fn check_width(&self, x: &ArrayView2<f32>) -> Result<(), DataError> {
        if let Self::PerFeature { shift, .. } = self {
            if shift.len() != x.ncols() {
                return Err(DataError::FeatureMismatch {
                    expected: shift.len(),
                    found: x.ncols(),
                });
            }
        }
        Ok(())
    }

    /// Normalizes `x` (`samples x features`).
    ///
    /// # Errors
    /// [`DataError::FeatureMismatch`] if a per-feature normalizer gets a
    /// matrix of another width.
    pub fn apply(&self, x: ArrayView2<f32>) -> Result<Array2<f32>, DataError> {
        self.check_width(&x)?;
        Ok(self.map(x, |v, shift, scale| (v - shift) / scale))
    }

    /// Undoes [`Normalizer::apply`].
    ///
    /// # Errors
    /// [`DataError::FeatureMismatch`] as for [`Normalizer::apply`].
    pub fn invert(&self, x: ArrayView2<f32>) -> Result<Array2<f32>, DataError> {
        self.check_width(&x)?;
        Ok(self.map(x, |v, shift, scale| v * scale + shift))
    }

    fn map(&self, x: ArrayView2<f32>, f: impl Fn(f64, f64, f64) -> f64) -> Array2<f32> {
        match self {
            Self::None => x.to_owned(),
            Self::Global { shift, scale } => x.mapv(|v| f(f64::from(v), *shift, *scale) as f32),
            Self::PerFeature { shift, scale } => {
                let mut out = x.to_owned();
                for (j, mut col) in out.axis_iter_mut(Axis(1)).enumerate() {
                    col.mapv_inplace(|v| f(f64::from(v), shift[j], scale[j]) as f32);
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn global_matches_meanstd_and_round_trips() {
        let x = array![[1.0f32, 2.0], [3.0, 6.0]];
        let n = Normalizer::fit(NormKind::Global, x.view()).unwrap();
        let Normalizer::Global { shift, scale } = n else {
            panic!("wrong kind")
        };
        assert!((shift - 3.0).abs() < 1e-12);
        assert!((scale - 3.5f64.sqrt()).abs() < 1e-12);
        let y = n.apply(x.view()).unwrap();
        assert!(y.sum().abs() < 1e-6);
        let back = n.invert(y.view()).unwrap();
        assert!((&back - &x).iter().all(|d| d.abs() < 1e-6));
    }

    #[test]
    fn per_feature_standardizes_each_column() {
        let x = array![[1.0f32, 10.0, 0.0], [3.0, 30.0, 1.0], [5.0, 20.0, 5.0]];
        let n = Normalizer::fit(NormKind::PerFeature, x.view()).unwrap();
        let y = n.apply(x.view()).unwrap();
        for col in y.axis_iter(Axis(1)) {
            let (m, s) = mean_std(col.iter(), col.len());
            assert!(m.abs() < 1e-6 && (s - 1.0).abs() < 1e-6);
        }
        let back = n.invert(y.view()).unwrap();
        assert!((&back - &x).iter().all(|d| d.abs() < 1e-5));
        let e = n.apply(array![[1.0f32, 2.0]].view()).unwrap_err();
        assert!(matches!(
            e,
            DataError::FeatureMismatch {
                expected: 3,
                found: 2
            }
        ));
    }

    #[test]
    fn none_is_identity() {
        let x = array![[1.0f32, 2.0]];
        let n = Normalizer::fit(NormKind::None, x.view()).unwrap();
        assert_eq!(n, Normalizer::None);
        assert_eq!(n.apply(x.view()).unwrap(), x);
        assert_eq!(n.invert(x.view()).unwrap(), x);
    }

    #[test]
    fn zero_variance_and_non_finite_are_errors() {
        let x = array![[1.0f32, 2.0, 7.0], [3.0, 2.0, 7.0]];
        let e = Normalizer::fit(NormKind::PerFeature, x.view()).unwrap_err();
        assert!(matches!(e, DataError::ZeroVariance { feature: Some(1) }));
        assert!(e.to_string().contains("feature 1"));
        let c = Array2::<f32>::from_elem((3, 2), 4.0);
        assert!(matches!(
            Normalizer::fit(NormKind::Global, c.view()).unwrap_err(),
            DataError::ZeroVariance { feature: None }
        ));
        let empty = Array2::<f32>::zeros((0, 2));
        assert!(Normalizer::fit(NormKind::Global, empty.view()).is_err());
        let mut bad = x.clone();
        bad[(1, 2)] = f32::NAN;
        assert!(matches!(
            Normalizer::fit(NormKind::Global, bad.view()).unwrap_err(),
            DataError::NonFiniteTrain { row: 1, col: 2 }
        ));
    }
}
