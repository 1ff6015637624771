//! The `trainer` binary: bad input gives one `error:` line and a non-zero
//! exit (never a panic); a tiny fit writes a model that `inspect` and
//! `eval --json` read.

use std::process::{Command, Output};

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .expect("run trainer")
}

fn assert_clean_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(stderr.contains(needle), "expected '{needle}' in: {stderr}");
}

#[test]
fn bad_hyperparameters_and_inputs_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    assert_clean_error(
        &trainer(&["fit", "--k", "0", "--out", out, "--quiet"]),
        "--k 0 must satisfy",
    );
    assert_clean_error(
        &trainer(&["fit", "--batch", "1000", "--out", out, "--quiet"]),
        "--batch 1000 must be",
    );
    assert_clean_error(
        &trainer(&["fit", "--activation", "swish", "--out", out]),
        "unknown activation",
    );
    assert_clean_error(
        &trainer(&["fit", "--dataset", "nope", "--out", out]),
        "error: loading dataset 'nope'",
    );
    assert_clean_error(
        &trainer(&["fit", "--data", "/nonexistent.npy", "--out", out]),
        "error: loading /nonexistent.npy",
    );
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "widht = 3\n").unwrap();
    assert_clean_error(
        &trainer(&["fit", "--config", cfg.to_str().unwrap(), "--out", out]),
        "parsing config",
    );
    let junk = dir.path().join("junk.rrae");
    std::fs::write(&junk, b"RRAE not really").unwrap();
    assert_clean_error(
        &trainer(&["inspect", junk.to_str().unwrap()]),
        "is not a valid model",
    );
    assert_clean_error(
        &trainer(&[
            "eval",
            "--model",
            junk.to_str().unwrap(),
            "--dataset",
            "shift",
        ]),
        "error:",
    );
}

#[test]
fn tiny_fit_then_inspect_and_eval() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cfg = dir.path().join("fit.toml");
    // The config file sets most options; the flag overrides its k.
    std::fs::write(
        &cfg,
        "k = 2\nlatent = 8\nwidth = 16\ndec-depth = 2\nsteps = 60\nfinetune-steps = 5\n",
    )
    .unwrap();
    // (60 steps lose to the linear model on validation; this test is about
    // the RRAE's file, so it asks for the RRAE.)
    let fit = trainer(&[
        "fit",
        "--config",
        cfg.to_str().unwrap(),
        "--k",
        "1",
        "--model-kind",
        "rrae",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        fit.status.success(),
        "{}",
        String::from_utf8_lossy(&fit.stderr)
    );
    let summary = String::from_utf8_lossy(&fit.stdout);
    assert!(
        summary.contains("shift: k=1") && summary.contains("weight bytes"),
        "{summary}"
    );

    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    for key in [
        "dataset",
        "k",
        "latent_dim",
        "input_dim",
        "train_rel_error",
        "test_rel_error",
        "linear_baseline_test_rel_error",
        "singular_values",
        "wall_seconds",
        "steps",
        "param_count",
        "weight_bytes",
    ] {
        assert!(metrics.get(key).is_some(), "metrics.json lacks {key}");
    }
    assert_eq!(metrics["k"], 1);
    assert_eq!(metrics["latent_dim"], 8);

    let model = out.join("model.rrae");
    let inspect = trainer(&["inspect", model.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        inspect.status.success() && text.contains("CRC: ok") && text.contains("dense 200 -> 16"),
        "{text}"
    );

    let eval = trainer(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        "shift",
        "--json",
    ]);
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let diff = (report["test_rel_error"].as_f64().unwrap()
        - metrics["test_rel_error"].as_f64().unwrap())
    .abs();
    assert!(diff < 1e-9, "eval and fit disagree by {diff}");
}

/// `--arch cnn` from a TOML file on flat CSV rows declared to be 1 x 8 x 8
/// images: the model file holds the convolutions and `inspect` shows them.
#[test]
fn tiny_cnn_fit_from_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let data = dir.path().join("blobs.csv");
    let rows: Vec<String> = (0..40)
        .map(|i| {
            let (x0, y0) = ((i % 7) as f32 - 3.0, (i / 7) as f32 - 3.0);
            let px: Vec<String> = (0..64)
                .map(|p| {
                    let (y, x) = ((p / 8) as f32 - 3.5, (p % 8) as f32 - 3.5);
                    format!("{}", (-((x - x0).powi(2) + (y - y0).powi(2)) / 4.0).exp())
                })
                .collect();
            px.join(",")
        })
        .collect();
    std::fs::write(&data, rows.join("\n") + "\n").unwrap();
    let cfg = dir.path().join("fit.toml");
    std::fs::write(
        &cfg,
        "arch = \"cnn\"\nimage-shape = [1, 8, 8]\nchannels = [4, 8]\nk = 2\nlatent = 8\n\
         steps = 30\nfinetune-steps = 5\nmodel-kind = \"rrae\"\n",
    )
    .unwrap();
    let fit = trainer(&[
        "fit",
        "--config",
        cfg.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        fit.status.success(),
        "{}",
        String::from_utf8_lossy(&fit.stderr)
    );
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(
        metrics["config"]["cnn"]["channels"],
        serde_json::json!([4, 8])
    );
    let inspect = trainer(&["inspect", out.join("model.rrae").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&inspect.stdout);
    for line in [
        "conv2d 1x8x8 -> 4x4x4 (kernel 3x3, stride 2x2, padding 1x1), elu",
        "conv2d 4x4x4 -> 8x2x2",
        "dense 32 -> 2, identity",
        "dense 2 -> 32, elu",
        "conv-transpose2d 8x2x2 -> 4x4x4",
        "conv-transpose2d 4x4x4 -> 1x8x8 (kernel 3x3, stride 2x2, padding 1x1, output padding 1x1), identity",
    ] {
        assert!(text.contains(line), "{line:?} not in {text}");
    }
}
