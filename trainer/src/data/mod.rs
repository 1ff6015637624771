//! Data sets for the trainer: the paper's synthetic sets, user matrices from
//! `.npy` / `.csv` files, images from `.npy` stacks, IDX files (MNIST,
//! Fashion-MNIST) and PNG directories, splitting and normalization.
//!
//! Every matrix is row-major `samples x features` (rows are samples), the
//! transpose of the `T x N` orientation of `RRAE-SPEC.md`.

pub mod files;
pub mod idx;
pub mod normalize;
pub mod npy_images;
pub mod png_dir;
pub mod synthetic;

use std::path::PathBuf;

use ndarray::{Array2, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use thiserror::Error;

pub use normalize::{NormKind, Normalizer};

/// `(channels, height, width)` of an image sample (flattened row-major
/// `C x H x W`).
pub type ImageShape = (usize, usize, usize);

/// Values per sample of an image shape, `C·H·W` (`None` on overflow).
pub fn image_len((c, h, w): ImageShape) -> Option<usize> {
    c.checked_mul(h)?.checked_mul(w)
}

/// A training / test pair of data matrices (rows are samples).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Name of the data set (a synthetic name, or the user's file stem).
    pub name: String,
    /// Training samples, `n_train x features`.
    pub train: Array2<f32>,
    /// Test samples, `n_test x features`.
    pub test: Array2<f32>,
    /// Generating parameters of the training samples, `n_train x P`, if known.
    pub train_params: Option<Array2<f64>>,
    /// Generating parameters of the test samples, `n_test x P`, if known.
    pub test_params: Option<Array2<f64>>,
    /// Intrinsic dimension of the data, if known.
    pub k_star: Option<usize>,
    /// `(channels, height, width)` when each sample is a flattened image
    /// (row-major `C x H x W`); `None` for 1-D curves and plain tables.
    pub image_shape: Option<(usize, usize, usize)>,
}

/// Errors while generating, loading, splitting or normalizing data.
#[derive(Debug, Error)]
pub enum DataError {
    /// The synthetic data set name is not known.
    #[error("unknown synthetic data set {name:?}; valid names: {valid}")]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// Comma-separated valid names.
        valid: String,
    },
    /// The file does not exist.
    #[error("{}: file not found", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("{}: cannot read or write the file", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's extension is not `.npy` or `.csv` (nor, for
    /// [`files::load_samples`], an IDX name or a directory).
    #[error("{}: unknown extension {ext:?} (expected .npy, .csv, an IDX file *-ubyte[.gz] or a directory of .png files)", path.display())]
    UnknownExtension {
        /// The file.
        path: PathBuf,
        /// The extension found (empty if none).
        ext: String,
    },
    /// The `.npy` file is malformed or holds an unsupported element type.
    #[error("{}: invalid .npy file: {message}", path.display())]
    Npy {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The IDX file is malformed, truncated or of an unsupported kind.
    #[error("{}: invalid IDX file: {message}", path.display())]
    Idx {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A PNG file (or a directory of them) cannot be read as an image.
    #[error("{}: invalid PNG image: {message}", path.display())]
    Png {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An image's shape differs from the first image's.
    #[error("{}: image is {} x {} x {} (C x H x W) but {} is {} x {} x {}; all images must share one shape", path.display(), found.0, found.1, found.2, first.display(), expected.0, expected.1, expected.2)]
    ImageShape {
        /// The odd file.
        path: PathBuf,
        /// Its `(C, H, W)`.
        found: (usize, usize, usize),
        /// `(C, H, W)` of the first image.
        expected: (usize, usize, usize),
        /// The first image's file.
        first: PathBuf,
    },
    /// The data would exceed a size limit.
    #[error("{}: too large: {message}", path.display())]
    TooLarge {
        /// The file or directory.
        path: PathBuf,
        /// What is too large.
        message: String,
    },
    /// The array is not 2-D.
    #[error("{}: expected a 2-D array (samples x features), found {ndim} dimension(s)", path.display())]
    WrongNdim {
        /// The file.
        path: PathBuf,
        /// Number of dimensions found.
        ndim: usize,
    },
    /// A CSV row has a different number of cells than the first data row.
    #[error("{}: line {line} has {found} cell(s), expected {expected}", path.display())]
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file.
        line: u64,
        /// Cells in the first data row.
        expected: usize,
        /// Cells on this line.
        found: usize,
    },
    /// A CSV cell is not a number.
    #[error("{}: line {line}, column {column}: {cell:?} is not a number", path.display())]
    NonNumeric {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file.
        line: u64,
        /// 1-based column number.
        column: usize,
        /// The cell's text.
        cell: String,
    },
    /// A value is NaN or infinite (or does not fit in `f32`).
    #[error("{}: non-finite value {value} at {position}", path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// Where: `line L, column C` (CSV, 1-based) or `row R, column C` (npy, 0-based).
        position: String,
        /// The value read.
        value: f64,
    },
    /// A CSV file could not be parsed.
    #[error("{}: CSV error: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The matrix has no rows or no columns.
    #[error("{}: empty matrix ({rows} x {cols})", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// Rows found.
        rows: usize,
        /// Columns found.
        cols: usize,
    },
    /// A test fraction that leaves an empty training or test set.
    #[error("test fraction {frac} is invalid for {rows} sample(s): need 0 < fraction < 1 leaving at least one training and one test sample")]
    BadSplit {
        /// The fraction asked for.
        frac: f64,
        /// Number of samples.
        rows: usize,
    },
    /// A feature (or the whole array, `feature == None`) has zero variance.
    #[error("cannot normalize: {} has zero variance", match feature { Some(j) => format!("feature {j}"), None => "the training array".to_string() })]
    ZeroVariance {
        /// The constant feature (0-based), or `None` for global normalization.
        feature: Option<usize>,
    },
    /// A matrix given to a normalizer has the wrong number of features.
    #[error("normalizer fitted on {expected} feature(s) applied to {found}")]
    FeatureMismatch {
        /// Features the normalizer was fitted on.
        expected: usize,
        /// Features of the matrix given.
        found: usize,
    },
    /// Training data with a NaN or an infinity given to a normalizer.
    #[error("cannot normalize: non-finite training value at row {row}, column {col}")]
    NonFiniteTrain {
        /// 0-based row.
        row: usize,
        /// 0-based column.
        col: usize,
    },
}

/// Splits the rows of `x` at random into `(train, test)` with
/// `round(frac * rows)` test rows, deterministically for a given `seed`.
/// Both parts keep the original relative order of their rows.
///
/// # Errors
/// [`DataError::BadSplit`] unless `0 < frac < 1` and both parts are non-empty.
pub fn split_test_fraction(
    x: ArrayView2<f32>,
    frac: f64,
    seed: u64,
) -> Result<(Array2<f32>, Array2<f32>), DataError> {
    let rows = x.nrows();
    // Written so that NaN is rejected too.
    let n_test = (frac * rows as f64).round();
    if !(frac > 0.0 && frac < 1.0) || n_test < 1.0 || n_test > (rows as f64 - 1.0) {
        return Err(DataError::BadSplit { frac, rows });
    }
    let n_test = n_test as usize;
    let mut idx: Vec<usize> = (0..rows).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(seed));
    let (test_idx, train_idx) = idx.split_at_mut(n_test);
    test_idx.sort_unstable();
    train_idx.sort_unstable();
    Ok((x.select(Axis(0), train_idx), x.select(Axis(0), test_idx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_deterministic_and_complete() {
        let x = Array2::from_shape_fn((10, 3), |(i, j)| (i * 3 + j) as f32);
        let (tr, te) = split_test_fraction(x.view(), 0.3, 7).unwrap();
        assert_eq!((tr.nrows(), te.nrows()), (7, 3));
        let (tr2, te2) = split_test_fraction(x.view(), 0.3, 7).unwrap();
        assert_eq!((&tr, &te), (&tr2, &te2));
        let mut firsts: Vec<f32> = tr.column(0).iter().chain(te.column(0)).copied().collect();
        firsts.sort_by(f32::total_cmp);
        assert_eq!(firsts, x.column(0).to_vec());
        for bad in [0.0, 1.0, -0.1, f64::NAN, 0.01, 0.99] {
            assert!(split_test_fraction(x.view(), bad, 1).is_err(), "{bad}");
        }
    }
}
