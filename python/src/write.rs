//! `rrae._rrae.model_bytes`: builds a `.rrae` file from layer dicts through
//! the format's `ModelWriter` (one implementation of the format), which
//! validates the result the way the runtime will.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use rrae_format::heapless;
use rrae_format::meta::{Basis, Layer, ModelMeta, Normalization, Sampler, MAX_LAYERS};
use rrae_format::ModelWriter;

use crate::array::tensor;
use crate::error::FormatError;
use crate::layers::{parse_layer, required};

/// Parses a list of layer dicts named `what` (`encoder_layers`, ...).
fn layer_list(
    list: &Bound<'_, PyAny>,
    w: &mut ModelWriter,
    what: &str,
) -> PyResult<heapless::Vec<Layer, MAX_LAYERS>> {
    let mut out = heapless::Vec::new();
    for (i, item) in list.try_iter()?.enumerate() {
        let layer = parse_layer(&item?, w, &format!("{what}[{i}]"))?;
        out.push(layer).map_err(|_| {
            PyValueError::new_err(format!(
                "{what} has more than {MAX_LAYERS} layers, the format's limit"
            ))
        })?;
    }
    if out.is_empty() {
        return Err(PyValueError::new_err(format!("{what} is empty")));
    }
    Ok(out)
}

/// `Normalization` from `None` or `{"shift": s, "scale": c}` (floats: one
/// for every feature; 1-D arrays: one per feature).
fn normalization(value: Option<&Bound<'_, PyAny>>, w: &mut ModelWriter) -> PyResult<Normalization> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Normalization::None);
    };
    let d = value.cast::<PyDict>().map_err(|_| {
        PyValueError::new_err("normalization must be None or {\"shift\": ..., \"scale\": ...}")
    })?;
    let (shift, scale) = (
        required(d, "shift", "normalization")?,
        required(d, "scale", "normalization")?,
    );
    if let (Ok(shift), Ok(scale)) = (shift.extract::<f32>(), scale.extract::<f32>()) {
        return Ok(Normalization::Global { shift, scale });
    }
    let (shift, _) = tensor(&shift, "normalization shift")?;
    let (scale, _) = tensor(&scale, "normalization scale")?;
    Ok(Normalization::PerFeature {
        shift: w.tensor(&shift),
        scale: w.tensor(&scale),
    })
}

/// The output width of the last layer of `layers`.
fn out_width(layers: &[Layer]) -> u32 {
    layers.last().map_or(0, |l| l.dims().1)
}

/// The bytes of a `.rrae` file (see `rrae.write` for the arguments).
///
/// Raises `ValueError` for a malformed argument (naming it) and
/// `rrae.FormatError` if the format rejects the model (e.g. layers that do
/// not chain).
#[pyfunction]
#[pyo3(signature = (encoder_layers, decoder_layers, basis=None, *, name="model", normalization=None, sampler=None, singular_values=None))]
#[allow(clippy::too_many_arguments)]
pub fn model_bytes<'py>(
    py: Python<'py>,
    encoder_layers: &Bound<'py, PyAny>,
    decoder_layers: &Bound<'py, PyAny>,
    basis: Option<&Bound<'py, PyAny>>,
    name: &str,
    normalization: Option<&Bound<'py, PyAny>>,
    sampler: Option<&Bound<'py, PyAny>>,
    singular_values: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut w = ModelWriter::new();
    let norm = self::normalization(normalization, &mut w)?;
    let encoder = layer_list(encoder_layers, &mut w, "encoder_layers")?;
    let decoder = layer_list(decoder_layers, &mut w, "decoder_layers")?;
    let latent = out_width(&encoder);
    let (basis, rank) = match basis.filter(|b| !b.is_none()) {
        None => (Basis::Folded { stored: None }, latent),
        Some(u) => {
            let (u, shape) = tensor(u, "basis")?;
            let [l, k] = shape[..] else {
                return Err(PyValueError::new_err(format!(
                    "basis must be 2-D (latent_dim, rank), got shape {shape:?}"
                )));
            };
            if l != latent as usize {
                return Err(PyValueError::new_err(format!(
                    "basis has {l} rows, the encoder outputs {latent} values"
                )));
            }
            let rank = u32::try_from(k)
                .map_err(|_| PyValueError::new_err(format!("basis rank {k} is too large")))?;
            (Basis::Separate { u: w.tensor(&u) }, rank)
        }
    };
    let sampler = match sampler.filter(|s| !s.is_none()) {
        None => None,
        Some(s) => {
            let d = s.cast::<PyDict>().map_err(|_| {
                PyValueError::new_err("sampler must be None or {\"mean\": ..., \"chol\": ...}")
            })?;
            let (mean, _) = tensor(&required(d, "mean", "sampler")?, "sampler mean")?;
            let (chol, _) = tensor(&required(d, "chol", "sampler")?, "sampler chol")?;
            Some(Sampler {
                mean: w.tensor(&mean),
                chol: w.tensor(&chol),
            })
        }
    };
    let singular_values = match singular_values.filter(|s| !s.is_none()) {
        None => None,
        Some(s) => Some(w.tensor(&tensor(s, "singular_values")?.0)),
    };
    let input_dim = encoder.first().map_or(0, |l| l.dims().0);
    let meta = ModelMeta {
        name,
        input_dim,
        latent_dim: latent,
        rank,
        normalization: norm,
        encoder,
        decoder,
        basis,
        sampler,
        params: None,
        singular_values,
    };
    let bytes = w
        .finish(&meta)
        .map_err(|e| FormatError::new_err(format!("<model>: invalid model file: {e}")))?;
    Ok(PyBytes::new(py, &bytes))
}
