//! `rrae._rrae.fit_cli`: runs the trainer library's `fit` pipeline with
//! options parsed by the CLI's own parser, so `rrae.fit` has exactly the
//! option names, defaults and error messages of `trainer fit`.

use clap::Parser;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rrae_trainer::cli::{fit, Cli, Command};
use rrae_trainer::config::FitOptions;

use crate::error::os_error;

/// Parses `trainer fit ARGS...` and runs it (GIL released): returns the
/// model file's bytes and the text of `metrics.json`.
///
/// Raises `ValueError` with the CLI's one-line message for a bad option or
/// a failed run (for example non-finite data).
#[pyfunction]
#[pyo3(signature = (args, show_progress))]
pub fn fit_cli<'py>(
    py: Python<'py>,
    args: Vec<String>,
    show_progress: bool,
) -> PyResult<(Bound<'py, PyBytes>, String)> {
    let argv = ["trainer".to_string(), "fit".to_string()]
        .into_iter()
        .chain(args);
    let cli = Cli::try_parse_from(argv).map_err(|e| {
        let text = e.to_string();
        let line = text.lines().next().unwrap_or("invalid options");
        PyValueError::new_err(line.trim_start_matches("error: ").to_string())
    })?;
    let Command::Fit(a) = cli.command else {
        return Err(PyValueError::new_err("not a fit command"));
    };
    let run = || -> anyhow::Result<fit::FitOutcome> {
        let opts = match &a.config {
            Some(path) => a.opts.clone().or(FitOptions::from_toml_file(path)?),
            None => a.opts.clone(),
        };
        fit::fit(&opts, !a.no_fold, show_progress)
    };
    let out = py
        .detach(run)
        .map_err(|e| PyValueError::new_err(format!("{e:#}")))?;
    let bytes = std::fs::read(&out.model_path).map_err(|e| os_error(&e, &out.model_path))?;
    let metrics =
        std::fs::read_to_string(&out.metrics_path).map_err(|e| os_error(&e, &out.metrics_path))?;
    Ok((PyBytes::new(py, &bytes), metrics))
}
