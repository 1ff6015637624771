//! The validation hold-out and the linear floor of `trainer fit`: on small
//! real data (El Nino yearly temperature curves, tests/fixtures/README.md)
//! the exported model is never worse than the linear model on validation,
//! and a linear `model.rrae` works with `eval`, `inspect`, `sample` and
//! `interpolate`.

use std::path::{Path, PathBuf};

use rrae_trainer::data::files::load_matrix;
use rrae_trainer::metrics::{ExportedKind, Metrics};
use rrae_trainer::train::LinearKind;

mod common;
use common::{fails, interpolate_shift, ok, s};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn metrics(dir: &Path) -> Metrics {
    serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap()
}

/// Fits the El Nino curves (40 training years, k = 2) at a reduced budget.
fn fit_elnino(out: &Path, extra: &[&str]) -> Metrics {
    let (train, test) = (fixture("elnino_train.npy"), fixture("elnino_test.npy"));
    let args = [
        "fit",
        "--data",
        s(&train),
        "--test",
        s(&test),
        "--k",
        "2",
        "--steps",
        "1500",
        "--quiet",
        "--out",
        s(out),
    ];
    ok(&[&args[..], extra].concat());
    metrics(out)
}

#[test]
fn never_worse_than_linear_on_validation() {
    let dir = tempfile::tempdir().unwrap();
    for seed in ["0", "1"] {
        let out = dir.path().join(seed);
        let m = fit_elnino(&out, &["--seed", seed]);
        assert_eq!((m.n_train, m.n_fit, m.n_val), (40, 32, 8));
        let (r, l) = (m.val_rel_error.unwrap(), m.linear_val_rel_error.unwrap());
        let chosen = match m.model_kind {
            ExportedKind::Rrae => r,
            ExportedKind::Linear => l,
        };
        assert!(chosen <= r.min(l), "seed {seed}: {m:?}");
        assert_eq!(
            out.join("model-rrae.rrae").exists(),
            m.model_kind == ExportedKind::Linear
        );
        if m.model_kind == ExportedKind::Linear {
            assert!(m.rrae_test_rel_error.is_some());
        }
        // The best checkpoint is one of the evaluations.
        let best = m.best_step.unwrap();
        assert!(m.val_history.iter().any(|&(st, _)| st == best));
        assert_eq!(m.val_history.last().unwrap().0, m.steps);
    }
    // Forced kinds, and --val-fraction 0 (no validation, the RRAE).
    let lin = fit_elnino(&dir.path().join("lin"), &["--model-kind", "linear"]);
    assert_eq!(lin.model_kind, ExportedKind::Linear);
    let rrae = fit_elnino(&dir.path().join("rrae"), &["--model-kind", "rrae"]);
    assert_eq!(rrae.model_kind, ExportedKind::Rrae);
    assert!(!dir.path().join("rrae/model-rrae.rrae").exists());
    let none = fit_elnino(&dir.path().join("none"), &["--val-fraction", "0"]);
    assert_eq!((none.n_val, none.model_kind), (0, ExportedKind::Rrae));
    assert!(none.val_rel_error.is_none() && none.val_history.is_empty());
    let bad = dir.path().join("bad");
    fails(
        &["fit", "--val-fraction", "1", "--out", s(&bad)],
        "--val-fraction 1 must be at least 0 and below 1",
    );
}

#[test]
fn linear_model_file_works_with_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("linear");
    ok(&[
        "fit",
        "--model-kind",
        "linear",
        "--k",
        "2",
        "--steps",
        "30",
        "--finetune-steps",
        "2",
        "--quiet",
        "--out",
        s(&run),
    ]);
    let m = metrics(&run);
    assert_eq!(m.model_kind, ExportedKind::Linear);
    // The SVD variant on the full training set is the linear baseline.
    if m.linear_kind == Some(LinearKind::Svd) {
        assert!((m.test_rel_error - m.linear_baseline_test_rel_error).abs() < 0.01);
    }
    let model = run.join("model.rrae");
    let mp = s(&model);
    let eval = ok(&["eval", "--model", mp, "--dataset", "shift"]);
    assert!(eval.contains('%'), "{eval}");
    let inspect = ok(&["inspect", mp]);
    assert!(inspect.contains("rank"), "{inspect}");
    let samples = dir.path().join("samples.npy");
    ok(&["sample", "--model", mp, "-n", "3", "--out", s(&samples)]);
    assert_eq!(load_matrix(&samples).unwrap().dim(), (3, 200));
    let path = dir.path().join("path.npy");
    interpolate_shift(mp, "4", &path, &[]);
    assert_eq!(load_matrix(&path).unwrap().dim(), (4, 200));
}
