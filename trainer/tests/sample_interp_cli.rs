//! `trainer sample | interpolate | predict` and the plots of `trainer fit`,
//! run as the binary on a tiny fit: outputs, determinism, and one `error:`
//! line with a non-zero exit for bad input.

use std::path::Path;

use rrae_trainer::data::files::load_matrix;

mod common;
use common::{interpolate_shift, ok, s};

/// `common::fails`, with the error on one line.
fn fails(args: &[&str], needle: &str) {
    let stderr = common::fails(args, needle);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn tiny_fit_then_sample_interpolate_predict() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    ok(&[
        "fit",
        "--k",
        "2",
        "--latent",
        "8",
        "--width",
        "16",
        "--dec-depth",
        "2",
        "--steps",
        "60",
        "--finetune-steps",
        "5",
        "--samples",
        "4",
        "--quiet",
        "--out",
        s(&run),
    ]);
    for png in [
        "loss.png",
        "spectrum.png",
        "reconstructions.png",
        "samples.png",
    ] {
        assert!(run.join(png).metadata().unwrap().len() > 1000, "{png}");
    }
    let metrics = std::fs::read_to_string(run.join("metrics.json")).unwrap();
    assert!(metrics.contains("\"test_interp_rel_error\""), "{metrics}");
    let model = run.join("model.rrae");
    let m = s(&model);

    // sample: N x input_dim, identical under a seed.
    let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
    let png = dir.path().join("samples.png");
    let sample = |out: &Path, extra: &[&str]| {
        let args = [
            "sample",
            "--model",
            m,
            "-n",
            "6",
            "--seed",
            "3",
            "--out",
            s(out),
        ];
        ok(&[&args[..], extra].concat())
    };
    sample(&a, &["--png", s(&png)]);
    sample(&b, &[]);
    assert_eq!(load_matrix(&a).unwrap().dim(), (6, 200));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(png.exists());

    // interpolate: T x input_dim.
    let p = dir.path().join("path.npy");
    interpolate_shift(m, "5", &p, &["--png", s(&dir.path().join("p.png"))]);
    assert_eq!(load_matrix(&p).unwrap().dim(), (5, 200));

    // predict: to a file, or printed one value per line.
    let c = dir.path().join("curve.csv");
    ok(&["predict", "--model", m, "--param", "0.75", "--out", s(&c)]);
    assert_eq!(load_matrix(&c).unwrap().dim(), (1, 200));
    assert_eq!(
        ok(&["predict", "--model", m, "--param", "0.75"])
            .lines()
            .count(),
        200
    );

    // Bad input.
    fails(
        &[
            "sample",
            "--model",
            s(&dir.path().join("none.rrae")),
            "-n",
            "2",
            "--out",
            s(&a),
        ],
        "none.rrae",
    );
    fails(&["sample", "--model", m, "-n", "0", "--out", s(&a)], "-n");
    let huge = usize::MAX.to_string();
    fails(
        &["sample", "--model", m, "-n", &huge, "--out", s(&a)],
        "more than the limit",
    );
    fails(
        &[
            "interpolate",
            "--model",
            m,
            "--dataset",
            "shift",
            "--from",
            "0",
            "--to",
            "1",
            "--steps",
            &huge,
            "--out",
            s(&p),
        ],
        "more than the limit",
    );
    fails(
        &[
            "interpolate",
            "--model",
            m,
            "--dataset",
            "shift",
            "--from",
            "0",
            "--to",
            "498",
            "--out",
            s(&p),
        ],
        "--to 498 is out of range",
    );
    fails(
        &["predict", "--model", m, "--param", "1.9"],
        "outside the training range",
    );
    fails(
        &["predict", "--model", m, "--param", "0.5", "--param", "1"],
        "expected 1 parameter value(s), got 2",
    );
    fails(
        &[
            "predict",
            "--model",
            m,
            "--param",
            "0.5",
            "--out",
            s(&dir.path().join("c.txt")),
        ],
        "c.txt",
    );
}
