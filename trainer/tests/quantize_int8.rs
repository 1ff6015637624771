//! Int8 quantization end to end (issue #14): `fit --quantize int8` and
//! `trainer quantize` write format 1.2 files that the runtime runs
//! bit-identically to the trainer's reference int8 kernels (`int8_error`
//! checks every value; `ok` fails on the warning a runtime without int8
//! kernels would print); bad calibration data is a one-line error.
//! Quantization-aware fine-tuning (`--qat-steps`) lowers the int8 error of a
//! small model below post-training quantization's, is deterministic under
//! `--seed`, and needs `--quantize int8`.

mod common;

use std::path::Path;

use common::{fails, ok, s};
use rrae_trainer::metrics::Metrics;

/// A short dense fit on `shift` (`steps` steps) with `--quantize int8` and
/// `extra` options in `dir`; its metrics and stdout.
fn fit_with(dir: &Path, steps: &str, extra: &[&str]) -> (Metrics, String) {
    let out = dir.to_str().unwrap();
    let mut args = vec![
        "fit",
        "--dataset",
        "shift",
        "--k",
        "2",
        "--width",
        "16",
        "--steps",
        steps,
        "--val-fraction",
        "0",
        "--model-kind",
        "rrae",
        "--quantize",
        "int8",
        "--out",
        out,
    ];
    args.extend(extra);
    let stdout = ok(&args);
    assert!(stdout.contains("int8 (minmax)"), "{stdout}");
    let json = std::fs::read_to_string(dir.join("metrics.json")).unwrap();
    (serde_json::from_str(&json).unwrap(), stdout)
}

/// A 40-step [`fit_with`], post-training quantization.
fn fit_int8(dir: &Path) -> Metrics {
    fit_with(dir, "40", &[]).0
}

#[test]
fn fit_quantize_writes_the_int8_model_and_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let m = fit_int8(dir.path());
    let q = m.int8.expect("int8 figures in metrics.json");
    let int8 = std::fs::read(dir.path().join("model-int8.rrae")).unwrap();
    assert_eq!(q.file_bytes, int8.len());
    assert!(
        q.file_bytes * 2 < m.file_bytes,
        "{} vs {}",
        q.file_bytes,
        m.file_bytes
    );
    // Errors are measured through the runtime (checked bit for bit against
    // the reference kernels by `int8_error`); int8 stays close to f32 here.
    assert!(q.test_rel_error.is_finite() && q.test_rel_error < 2.0 * m.test_rel_error + 1.0);
    let inspect = ok(&[
        "inspect",
        dir.path().join("model-int8.rrae").to_str().unwrap(),
    ]);
    assert!(inspect.contains("format version: 1.2"), "{inspect}");
    assert!(inspect.contains("int8 dense 200 -> 16"), "{inspect}");
    assert!(inspect.contains("zero point"), "{inspect}");
    // eval, sample, predict accept the int8 file.
    let model = dir.path().join("model-int8.rrae");
    let model = model.to_str().unwrap();
    let eval = ok(&["eval", "--model", model, "--dataset", "shift"]);
    assert!(eval.contains("test_rel_error"), "{eval}");
    ok(&["predict", "--model", model, "--param", "0.5"]);
    let samples = dir.path().join("s.npy");
    ok(&[
        "sample",
        "--model",
        model,
        "-n",
        "3",
        "--out",
        samples.to_str().unwrap(),
    ]);
}

#[test]
fn quantize_cli_and_bad_calibration_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fit_int8(d);
    let model = d.join("model.rrae");
    let model = model.to_str().unwrap();
    let out = d.join("q.rrae");
    let out = out.to_str().unwrap();
    let stdout = ok(&[
        "quantize",
        model,
        "--dataset",
        "shift",
        "--out",
        out,
        "--calibration",
        "p99.99",
    ]);
    assert!(
        stdout.contains("int8") && stdout.contains("bytes"),
        "{stdout}"
    );
    let bad = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let row = vec!["0.5"; 200].join(",");
    let nan = bad(
        "nan.csv",
        &format!("{row}\n{}\n", row.replacen("0.5", "nan", 1)),
    );
    let short = bad("short.csv", "0.5,0.5\n");
    let empty = bad("empty.csv", "");
    for (data, needle) in [
        (nan.as_str(), "non-finite"),
        (short.as_str(), "2 values per sample, the model takes 200"),
        (empty.as_str(), "empty"),
    ] {
        let e = fails(&["quantize", model, "--data", data, "--out", out], needle);
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    }
    fails(
        &[
            "quantize",
            model,
            "--dataset",
            "shift",
            "--out",
            out,
            "--calibration-samples",
            "0",
        ],
        "at least 1",
    );
    fails(
        &["quantize", out, "--dataset", "shift", "--out", out],
        "already quantized",
    );
}

#[test]
fn qat_lowers_the_int8_error_and_stays_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (m, stdout) = fit_with(d, "300", &["--qat-steps", "300"]);
    assert!(stdout.contains("int8 before 300 QAT steps"), "{stdout}");
    let q = m.int8.expect("int8 figures");
    assert_eq!(q.qat_steps, 300);
    let (ptq_train, ptq_test) = (
        q.ptq_train_rel_error.unwrap(),
        q.ptq_test_rel_error.unwrap(),
    );
    assert!(
        q.train_rel_error < ptq_train,
        "train {} vs PTQ {ptq_train}",
        q.train_rel_error
    );
    assert!(
        q.test_rel_error < ptq_test,
        "test {} vs PTQ {ptq_test}",
        q.test_rel_error
    );

    // `trainer quantize --qat-steps`: deterministic, and the file is the
    // same kind.
    let model = d.join("model.rrae");
    let run = |seed: &str, out: &str| {
        let out = d.join(out);
        let stdout = ok(&[
            "quantize",
            s(&model),
            "--dataset",
            "shift",
            "--out",
            s(&out),
            "--qat-steps",
            "40",
            "--seed",
            seed,
        ]);
        assert!(
            stdout.contains("40 QAT steps, post-training int8"),
            "{stdout}"
        );
        std::fs::read(out).unwrap()
    };
    let a = run("3", "a.rrae");
    assert_eq!(a, run("3", "b.rrae"));
    assert_eq!(
        a.len(),
        std::fs::read(d.join("model-int8.rrae")).unwrap().len()
    );
}

#[test]
fn qat_steps_without_int8_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = fails(
        &[
            "fit",
            "--dataset",
            "shift",
            "--qat-steps",
            "10",
            "--out",
            s(dir.path()),
        ],
        "--qat-steps needs --quantize int8",
    );
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
}
