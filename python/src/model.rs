//! `rrae.Model`: a validated `.rrae` file and the runtime's operations on
//! float32 numpy batches, one row per sample.

use std::path::PathBuf;
use std::sync::OnceLock;

use ndarray::{Array2, ArrayView2};
use numpy::IntoPyArray;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use rrae_format::meta::{Basis, Normalization};
use rrae_format::AlignedBytes;
use rrae_runtime::Model as Runtime;
use rrae_trainer::nn::NetError;

use crate::array::{batch, check_width, output, zeros, Batch};
use crate::error::{format_error, os_error, runtime_error};
use crate::host::Host;
use crate::layers::describe_layer;

/// A `.rrae` model, run by the Rust `rrae-runtime`.
///
/// Made by `rrae.load(path)`, `Model.from_bytes(data)` or `rrae.write(...)`.
/// Inputs are float32 numpy arrays: `(N, D)` for a batch (one sample per
/// row) or `(D,)` for one sample, which gives a 1-D result. Any memory
/// layout is accepted (non-contiguous arrays are copied). Other dtypes, a
/// wrong width, NaN or infinity raise `ValueError` with the CLI's message.
///
/// >>> import numpy as np, rrae
/// >>> m = rrae.load("model.rrae")                      # doctest: +SKIP
/// >>> alpha = m.encode(np.zeros((5, m.input_dim), np.float32))  # doctest: +SKIP
/// >>> alpha.shape == (5, m.rank)                       # doctest: +SKIP
/// True
#[pyclass(module = "rrae", frozen)]
pub struct Model {
    bytes: AlignedBytes,
    /// The host path's form of the model, built on the first batch (`None`
    /// for int8 models, which always run the runtime).
    host: OnceLock<Option<Host>>,
}

/// The runtime operation applied to each row: `op(model, row, out, scratch)`.
type RowOp = fn(&Runtime<'_>, &[f32], &mut [f32], &mut [f32]) -> Result<(), rrae_runtime::Error>;

/// The same operation on a whole batch by the host path (`host.rs`).
type BatchOp = fn(&Host, ArrayView2<'_, f32>) -> Result<Array2<f32>, NetError>;

impl Model {
    /// Validates `bytes` (`origin` names them in errors).
    pub fn new(bytes: &[u8], origin: &str) -> PyResult<Self> {
        let bytes = AlignedBytes::new(bytes);
        if let Err(e) = rrae_format::read(&bytes) {
            return Err(format_error(origin, &e));
        }
        Ok(Model {
            bytes,
            host: OnceLock::new(),
        })
    }

    /// The runtime's view (the bytes were validated by [`Model::new`]).
    fn runtime(&self) -> PyResult<Runtime<'_>> {
        Runtime::from_bytes(&self.bytes).map_err(|e| runtime_error(&e))
    }

    /// `(input_dim, rank)`.
    fn dims(&self) -> PyResult<(usize, usize)> {
        let m = self.runtime()?;
        Ok((m.input_dim(), m.rank()))
    }

    /// Reads `x` (named `what` in errors), checks that its rows have
    /// `widths.0..=widths.1` values, and applies the operation to every
    /// row (see [`Model::run`]): the result has `out_cols` values per row
    /// and the dimensions of `x`.
    #[allow(clippy::too_many_arguments)]
    fn apply<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        what: &str,
        widths: (usize, usize),
        out_cols: usize,
        op: RowOp,
        batch_op: BatchOp,
    ) -> PyResult<Bound<'py, PyAny>> {
        let b = batch(x, what)?;
        check_width(&b, what, widths)?;
        let out = self.run(py, &b, out_cols, op, batch_op)?;
        output(py, out, b.rows, out_cols, b.single)
    }

    /// The operation on every row of `b`, with the GIL released: a batch of
    /// several rows of an f32 model through the host path's
    /// `batch_op` (GEMMs over the batch; the runtime's results within
    /// float32 rounding), anything else through the runtime's `op`, row by
    /// row.
    fn run(
        &self,
        py: Python<'_>,
        b: &Batch,
        out_cols: usize,
        op: RowOp,
        batch_op: BatchOp,
    ) -> PyResult<Vec<f32>> {
        if b.rows > 1 {
            if let Some(host) = self.host.get_or_init(|| Host::new(&self.bytes)) {
                let out = py
                    .detach(|| {
                        let x = ArrayView2::from_shape((b.rows, b.cols), &b.data)
                            .map_err(|e| e.to_string())?;
                        batch_op(host, x).map_err(|e| e.to_string())
                    })
                    .map_err(PyValueError::new_err)?;
                return Ok(out.iter().copied().collect());
            }
        }
        self.map_rows(py, b, out_cols, op)
    }

    /// Applies `op` to every row of `b`, giving `rows x out_cols` values,
    /// with the GIL released.
    fn map_rows(
        &self,
        py: Python<'_>,
        b: &Batch,
        out_cols: usize,
        op: RowOp,
    ) -> PyResult<Vec<f32>> {
        let model = self.runtime()?;
        let mut out = zeros(b.rows, out_cols)?;
        py.detach(|| {
            let mut scratch = vec![0.0f32; model.scratch_len()];
            let rows = b.data.chunks_exact(b.cols.max(1));
            for (x, o) in rows.zip(out.chunks_exact_mut(out_cols.max(1))) {
                op(&model, x, o, &mut scratch)?;
            }
            Ok(out)
        })
        .map_err(|e| runtime_error(&e))
    }
}

#[pymethods]
impl Model {
    /// Reads and validates a model from the bytes of a `.rrae` file.
    ///
    /// Raises `rrae.FormatError` if the bytes are not a valid model.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Model::new(data, "<bytes>")
    }

    /// The file's bytes (what `rrae.write` wrote).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    /// Coefficients `alpha` (`(N, rank)`, or `(rank,)` for one sample) of
    /// the samples `x` (`(N, input_dim)` or `(input_dim,)`), in the data's
    /// original units (the model normalizes).
    fn encode<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (d, k) = self.dims()?;
        self.apply(
            py,
            x,
            "data",
            (d, d),
            k,
            |m, x, o, s| m.encode(x, o, s),
            Host::encode,
        )
    }

    /// Samples (`(N, input_dim)` or `(input_dim,)`) decoded from the
    /// coefficients `alpha` (`(N, k')` or `(k',)`). Progressive decoding:
    /// `k'` may be any of `1..=rank` (the first `k'` coefficients; the rest
    /// count as zero).
    fn decode<'py>(
        &self,
        py: Python<'py>,
        alpha: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (d, k) = self.dims()?;
        self.apply(
            py,
            alpha,
            "coefficients",
            (1, k),
            d,
            |m, a, o, s| m.decode(a, o, s),
            Host::decode,
        )
    }

    /// `decode(encode(x))` in one pass, same shapes as `x`.
    fn reconstruct<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (d, _) = self.dims()?;
        self.apply(
            py,
            x,
            "data",
            (d, d),
            d,
            |m, x, o, s| m.reconstruct(x, o, s),
            Host::reconstruct,
        )
    }

    /// `n` new samples (`(n, input_dim)`): standard-normal draws `z` from
    /// `numpy.random.default_rng(seed)`, mapped to the training coefficient
    /// distribution (`alpha = mean + L z`) and decoded. With `decode=False`
    /// the coefficients `(n, rank)` are returned instead.
    ///
    /// Raises `ValueError` if the model has no sampler.
    #[pyo3(signature = (n=1, seed=0, decode=true))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        seed: u64,
        decode: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (d, k) = self.dims()?;
        let rng = py
            .import("numpy.random")?
            .call_method1("default_rng", (seed,))?;
        let z = rng
            .call_method1("standard_normal", ((n, k),))?
            .call_method1("astype", ("float32",))?;
        let z = batch(&z, "z")?;
        let alpha = self.map_rows(py, &z, k, |m, z, a, _| m.sample(z, a))?;
        if !decode {
            return output(py, alpha, n, k, false);
        }
        let alpha = Batch {
            data: alpha,
            rows: n,
            cols: k,
            single: false,
        };
        let out = self.run(py, &alpha, d, |m, a, o, s| m.decode(a, o, s), Host::decode)?;
        output(py, out, n, d, false)
    }

    /// Linear interpolation between two coefficient vectors `a` and `b`
    /// (each `(rank,)`): `a + t (b - a)` for a float `t` (`(rank,)`), or
    /// for each value of a 1-D array `t` (`(len(t), rank)`). Decode the
    /// result to get samples.
    fn interpolate<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
        t: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = self.runtime()?.rank();
        let (a, b) = (batch(a, "a")?, batch(b, "b")?);
        for (v, name) in [(&a, "a"), (&b, "b")] {
            if !(v.single && v.cols == k) {
                return Err(PyValueError::new_err(format!(
                    "{name} must be one coefficient vector of length {k}"
                )));
            }
        }
        let (ts, single): (Vec<f32>, bool) = match t.extract::<f32>() {
            Ok(t) if !t.is_finite() => {
                return Err(PyValueError::new_err(format!("t: non-finite value {t}")))
            }
            Ok(t) => (vec![t], true),
            Err(_) => {
                let tb = batch(t, "t")?;
                if !tb.single {
                    return Err(PyValueError::new_err("t must be a float or a 1-D array"));
                }
                (tb.data, false)
            }
        };
        let mut out = zeros(ts.len(), k)?;
        for (t, o) in ts.iter().zip(out.chunks_exact_mut(k.max(1))) {
            Runtime::interpolate(&a.data, &b.data, *t, o).map_err(|e| runtime_error(&e))?;
        }
        output(py, out, ts.len(), k, single)
    }

    /// Features per sample (`D`).
    #[getter]
    fn input_dim(&self) -> PyResult<usize> {
        Ok(self.runtime()?.input_dim())
    }

    /// Number of coefficients (`k`).
    #[getter]
    fn rank(&self) -> PyResult<usize> {
        Ok(self.runtime()?.rank())
    }

    /// Width of the latent space before truncation (`L`).
    #[getter]
    fn latent_dim(&self) -> PyResult<usize> {
        Ok(self.runtime()?.latent_dim())
    }

    /// The model's name.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.runtime()?.name().to_string())
    }

    /// `U_k` (`(latent_dim, rank)`) if the file stores it, else `None`.
    #[getter]
    fn basis<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let m = self.runtime()?;
        m.basis()
            .map(|u| output(py, u.to_vec(), m.latent_dim(), m.rank(), false))
            .transpose()
    }

    /// Everything the file says about the model, as a dict: `name`,
    /// `input_dim`, `latent_dim`, `rank`, `version` (`"1.0"` / `"1.1"`),
    /// `scratch_len`, `normalization` (`None`, `"global"`, `"per_feature"`),
    /// `basis` (`"folded"`, `"folded+stored"`, `"separate"`), `encoder` and
    /// `decoder` (lists of layer dicts without weights), `has_sampler`,
    /// `has_params`, `singular_values` (array or `None`), `weight_bytes`.
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let file = rrae_format::read(&self.bytes).map_err(|e| format_error("<model>", &e))?;
        let meta = &file.meta;
        let d = PyDict::new(py);
        d.set_item("name", meta.name)?;
        d.set_item("input_dim", meta.input_dim)?;
        d.set_item("latent_dim", meta.latent_dim)?;
        d.set_item("rank", meta.rank)?;
        d.set_item(
            "version",
            format!("{}.{}", file.header.major, file.header.minor),
        )?;
        d.set_item("scratch_len", file.header.scratch)?;
        let norm = match meta.normalization {
            Normalization::None => None,
            Normalization::Global { .. } => Some("global"),
            Normalization::PerFeature { .. } => Some("per_feature"),
        };
        d.set_item("normalization", norm)?;
        let basis = match meta.basis {
            Basis::Folded { stored: None } => "folded",
            Basis::Folded { stored: Some(_) } => "folded+stored",
            Basis::Separate { .. } => "separate",
        };
        d.set_item("basis", basis)?;
        for (key, layers) in [("encoder", &meta.encoder), ("decoder", &meta.decoder)] {
            let list = PyList::empty(py);
            for layer in layers.iter() {
                list.append(describe_layer(py, layer)?)?;
            }
            d.set_item(key, list)?;
        }
        d.set_item("has_sampler", meta.sampler.is_some())?;
        d.set_item("has_params", meta.params.is_some())?;
        let sv = meta
            .singular_values
            .map(|t| file.tensor(t).to_vec().into_pyarray(py));
        d.set_item("singular_values", sv)?;
        d.set_item("weight_bytes", file.header.weights_len)?;
        Ok(d)
    }

    fn __repr__(&self) -> PyResult<String> {
        let m = self.runtime()?;
        Ok(format!(
            "rrae.Model(name={:?}, input_dim={}, rank={}, latent_dim={})",
            m.name(),
            m.input_dim(),
            m.rank(),
            m.latent_dim()
        ))
    }
}

/// Reads and validates the `.rrae` file at `path` (a `str` or
/// `os.PathLike`).
///
/// Raises `OSError` (e.g. `FileNotFoundError`) if it cannot be read and
/// `rrae.FormatError` (`PATH: invalid model file: REASON`) if it is not a
/// valid model.
///
/// >>> m = rrae.load("model.rrae")   # doctest: +SKIP
#[pyfunction]
pub fn load(path: PathBuf) -> PyResult<Model> {
    let bytes = std::fs::read(&path).map_err(|e| os_error(&e, &path))?;
    Model::new(&bytes, &path.display().to_string())
}
