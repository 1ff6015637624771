//! numpy arrays in and out: dtype, shape and finiteness checks with the CLI's
//! one-line messages, and row-major copies the runtime can read.

use numpy::ndarray::{Array2, ArrayViewD};
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyMemoryError, PyTypeError, PyValueError};
use pyo3::prelude::*;

/// A batch of samples copied out of a numpy array: `rows x cols`, row-major.
///
/// `single` remembers a 1-D input (one sample), so that the result is 1-D
/// too.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `rows * cols` values, row after row.
    pub data: Vec<f32>,
    /// Number of samples.
    pub rows: usize,
    /// Values per sample.
    pub cols: usize,
    /// The input was a 1-D array.
    pub single: bool,
}

/// The one-line message for a wrong element type: names both types and
/// the fix.
fn dtype_message(what: &str, given: &str) -> String {
    format!("{what} has dtype {given}, expected float32 (convert with .astype(numpy.float32))")
}

/// The first non-finite value of a row-major `cols`-wide matrix, as the CLI
/// reports it: `non-finite value NaN at row R, column C` (0-based).
pub fn non_finite(what: &str, data: &[f32], cols: usize) -> Option<String> {
    let (i, v) = data.iter().enumerate().find(|(_, v)| !v.is_finite())?;
    let (row, col) = (i / cols.max(1), i % cols.max(1));
    Some(format!(
        "{what}: non-finite value {v} at row {row}, column {col}"
    ))
}

/// Copies the elements of `view` in logical (C) order: a plain copy for a
/// C-contiguous array, an element walk for any other layout (Fortran order,
/// slices with steps, transposes).
fn to_row_major(view: &ArrayViewD<'_, f32>) -> Vec<f32> {
    match view.as_slice() {
        Some(s) => s.to_vec(),
        None => view.iter().copied().collect(),
    }
}

/// A float32 numpy array of any shape, copied to a row-major `Vec` with its
/// shape. Any memory layout is accepted (it is copied); every value must be
/// finite.
///
/// Errors: `TypeError` if `x` is not a numpy array; `ValueError` for another
/// dtype (naming it) or a NaN / infinity (naming its row and column, the
/// column counting along the last axis).
pub fn tensor(x: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<f32>, Vec<usize>)> {
    let array = x.cast::<PyUntypedArray>().map_err(|_| {
        let given = x
            .get_type()
            .name()
            .map_or_else(|_| "?".to_string(), |n| n.to_string());
        PyTypeError::new_err(format!(
            "{what} must be a numpy array of float32, got {given}"
        ))
    })?;
    let typed = array.cast::<PyArrayDyn<f32>>().map_err(|_| {
        let given = array
            .dtype()
            .str()
            .map_or_else(|_| "?".to_string(), |s| s.to_string());
        PyValueError::new_err(dtype_message(what, &given))
    })?;
    let readonly = typed
        .try_readonly()
        .map_err(|e| PyValueError::new_err(format!("{what} cannot be read: {e}")))?;
    let view = readonly.as_array();
    let shape = view.shape().to_vec();
    let data = to_row_major(&view);
    if let Some(msg) = non_finite(what, &data, shape.last().copied().unwrap_or(1)) {
        return Err(PyValueError::new_err(msg));
    }
    Ok((data, shape))
}

/// Reads `x` as a float32 batch (see [`tensor`]): a 1-D array is one
/// sample, a 2-D array one sample per row; any other number of dimensions
/// is a `ValueError`.
pub fn batch(x: &Bound<'_, PyAny>, what: &str) -> PyResult<Batch> {
    let (data, shape) = tensor(x, what)?;
    let (rows, cols, single) = match shape[..] {
        [cols] => (1, cols, true),
        [rows, cols] => (rows, cols, false),
        _ => {
            return Err(PyValueError::new_err(format!(
                "{what} must be 1-D (one sample) or 2-D (one sample per row), got shape {shape:?}"
            )))
        }
    };
    Ok(Batch {
        data,
        rows,
        cols,
        single,
    })
}

/// Errors unless the rows of `b` have `min..=max` values (the CLI's
/// message: `data have 5 values per row, the model expects 4`).
pub fn check_width(b: &Batch, what: &str, (min, max): (usize, usize)) -> PyResult<()> {
    if (min..=max).contains(&b.cols) {
        return Ok(());
    }
    let expected = if min == max {
        max.to_string()
    } else {
        format!("{min} to {max}")
    };
    Err(PyValueError::new_err(format!(
        "{what} have {} values per row, the model expects {expected}",
        b.cols
    )))
}

/// `rows * cols` zeros for an output, or `MemoryError` if that does not
/// fit (instead of the process aborting on a failed allocation).
pub fn zeros(rows: usize, cols: usize) -> PyResult<Vec<f32>> {
    let too_big = || {
        PyMemoryError::new_err(format!(
            "{rows} x {cols} output values do not fit in memory"
        ))
    };
    let n = rows.checked_mul(cols).ok_or_else(too_big)?;
    let mut out = Vec::new();
    out.try_reserve_exact(n).map_err(|_| too_big())?;
    out.resize(n, 0.0);
    Ok(out)
}

/// A new numpy array from `rows x cols` row-major values: 1-D (`cols`) if
/// `single`, else 2-D.
pub fn output<'py>(
    py: Python<'py>,
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    single: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if single {
        return Ok(data.into_pyarray(py).into_any());
    }
    let array = Array2::from_shape_vec((rows, cols), data)
        .map_err(|e| PyValueError::new_err(format!("internal shape error: {e}")))?;
    Ok(array.into_pyarray(py).into_any())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_names_row_and_column() {
        let data = [1.0, 2.0, 3.0, f32::NAN, 5.0, 6.0];
        assert_eq!(
            non_finite("data", &data, 3).as_deref(),
            Some("data: non-finite value NaN at row 1, column 0")
        );
        assert_eq!(
            non_finite("x", &[f32::INFINITY], 1).as_deref(),
            Some("x: non-finite value inf at row 0, column 0")
        );
        assert_eq!(non_finite("x", &[1.0, 2.0], 2), None);
    }

    #[test]
    fn zeros_reports_what_does_not_fit() {
        assert_eq!(zeros(2, 3).ok(), Some(vec![0.0; 6]));
        assert!(zeros(usize::MAX, 2).is_err());
        assert!(zeros(1 << 60, 1).is_err());
    }

    #[test]
    fn dtype_message_names_both_types() {
        assert_eq!(
            dtype_message("data", "float64"),
            "data has dtype float64, expected float32 (convert with .astype(numpy.float32))"
        );
    }
}
