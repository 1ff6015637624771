//! `rrae._rrae`: the native half of the Python package `rrae` (PyO3 with the
//! stable ABI, numpy arrays via rust-numpy).
//!
//! Inference runs the real `rrae-runtime` on every row (validated once per
//! call), except batches of several rows of an f32 model, which go
//! through a host path of whole-batch GEMMs and im2col (`host.rs`, tested for parity
//! with the runtime); files are written by `rrae_format::ModelWriter`, so Python shares
//! the one implementation of the format. Errors cross the boundary as
//! Python exceptions, never as panics: `ValueError` for bad arrays,
//! `rrae.FormatError` for bad files, `OSError` for I/O. The Python side
//! (`python/rrae/`) adds `rrae.write`, `rrae.fit` (the trainer library,
//! parsed by the CLI's parser) and the PyTorch exporter.
//!
//! ```python
//! import numpy as np, rrae
//! m = rrae.load("model.rrae")
//! alpha = m.encode(x.astype(np.float32))   # (N, rank)
//! x_hat = m.decode(alpha)                   # (N, input_dim)
//! ```
#![deny(unsafe_code)]

mod array;
mod error;
mod fit;
mod host;
mod layers;
mod model;
mod write;

use pyo3::prelude::*;

/// The native module; `rrae/__init__.py` re-exports it.
#[pymodule]
fn _rrae(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::Model>()?;
    m.add_function(wrap_pyfunction!(model::load, m)?)?;
    m.add_function(wrap_pyfunction!(write::model_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(fit::fit_cli, m)?)?;
    m.add("FormatError", m.py().get_type::<error::FormatError>())?;
    Ok(())
}
