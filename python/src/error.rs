//! Python exceptions for the crate's errors: `rrae.FormatError` for a file
//! the format rejects, `OSError` (with the path) for a file that cannot be
//! read or written, `ValueError` for a caller mistake.

use std::path::Path;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError, PyValueError};
use pyo3::PyErr;

create_exception!(
    rrae,
    FormatError,
    PyException,
    "A model file (or a model given to `rrae.write`) that the .rrae format rejects.\n\n\
     The message is the CLI's: `PATH: invalid model file: REASON`."
);

/// `OSError(errno, message, path)`; Python turns it into the matching
/// subclass (`FileNotFoundError`, `PermissionError`, ...).
pub fn os_error(e: &std::io::Error, path: &Path) -> PyErr {
    let path = path.display().to_string();
    match e.raw_os_error() {
        Some(errno) => PyOSError::new_err((errno, e.to_string(), path)),
        None => PyOSError::new_err(format!("{path}: {e}")),
    }
}

/// `rrae.FormatError("{origin}: invalid model file: {e}")`.
pub fn format_error(origin: &str, e: &rrae_format::FormatError) -> PyErr {
    FormatError::new_err(format!("{origin}: invalid model file: {e}"))
}

/// A runtime error after the file was validated: only caller buffer
/// mistakes remain, which are `ValueError`s (`runtime: ...`, as the CLI).
pub fn runtime_error(e: &rrae_runtime::Error) -> PyErr {
    match e {
        rrae_runtime::Error::Format(f) => FormatError::new_err(format!("invalid model file: {f}")),
        other => PyValueError::new_err(format!("runtime: {other}")),
    }
}
