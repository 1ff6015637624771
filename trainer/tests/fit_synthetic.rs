//! Shortened versions of the default `fit` on the paper's synthetic sets:
//! far below the linear baseline at k = 1 (the full-length figures are in
//! docs/TRAINING.md), and reproducible under a seed.

use rrae_trainer::cli::fit::fit;
use rrae_trainer::config::FitOptions;

fn short_fit(dataset: &str, steps: usize, out: &std::path::Path) -> rrae_trainer::metrics::Metrics {
    let opts = FitOptions {
        dataset: Some(dataset.into()),
        steps: Some(steps),
        out: Some(out.to_path_buf()),
        ..Default::default()
    };
    fit(&opts, true, false).unwrap().metrics
}

#[test]
fn shift_k1_short_fit_beats_linear_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let m = short_fit("shift", 2000, dir.path());
    assert!(
        (m.linear_baseline_test_rel_error - 66.5).abs() < 0.5,
        "{}",
        m.linear_baseline_test_rel_error
    );
    assert!(
        m.test_rel_error <= 15.0,
        "shift test error {:.2} %",
        m.test_rel_error
    );
    assert!(dir.path().join("model.rrae").exists());
}

#[test]
fn gaussian_shift_k1_short_fit_meets_the_10_percent_bar() {
    // The recipe search picks the coordinate decoder on validation (the MLP
    // decoder stays near 57 %, docs/TRAINING.md) and, with only 4
    // validation samples, trains it afresh on all 20. A 2,500-step run; the
    // default 6,000 steps reach ~2 %.
    let dir = tempfile::tempdir().unwrap();
    let m = short_fit("gaussian_shift", 2500, dir.path());
    assert!(
        (m.linear_baseline_test_rel_error - 93.5).abs() < 0.5,
        "{}",
        m.linear_baseline_test_rel_error
    );
    assert_eq!(m.config.coord.as_ref().map(|c| c.grid), Some((1, 500)));
    assert_eq!(m.recipe, "coord-64");
    assert!(m.refit);
    assert_eq!(m.recipes.iter().filter(|r| r.chosen).count(), 1);
    let coord = m.recipes.iter().find(|r| r.chosen).unwrap();
    assert!(m
        .recipes
        .iter()
        .all(|r| r.val_rel_error.unwrap() >= coord.val_rel_error.unwrap()));
    assert!(
        m.test_rel_error <= 10.0,
        "gaussian_shift test error {:.2} % (train {:.2} %)",
        m.test_rel_error,
        m.train_rel_error
    );
    let interp = m.test_interp_rel_error.unwrap();
    assert!(interp <= 10.0, "interpolated test error {interp:.2} %");
}

#[test]
fn gaussian_2d_k2_short_fit_meets_the_10_percent_bar() {
    // The built-in 32 x 32 image set of intrinsic dimension 2 (issue #9's
    // bar: test error <= 10 % at k = 2; the full default run reaches 2.2 %
    // with the MLP and 5.8 % with --arch cnn, docs/TRAINING.md).
    let dir = tempfile::tempdir().unwrap();
    let opts = FitOptions {
        dataset: Some("2d_gaussian_shift_scale".into()),
        k: Some(2),
        steps: Some(2000),
        finetune_steps: Some(100),
        out: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let m = fit(&opts, true, false).unwrap().metrics;
    assert!(m.linear_baseline_test_rel_error > 70.0, "{m:?}");
    assert!(
        m.test_rel_error <= 10.0,
        "2d_gaussian_shift_scale test error {:.2} %",
        m.test_rel_error
    );
    assert!(dir.path().join("reconstructions.png").exists());
}

#[test]
fn same_seed_same_model() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let opts = |out: &std::path::Path| FitOptions {
        latent: Some(8),
        width: Some(16),
        steps: Some(50),
        seed: Some(9),
        out: Some(out.to_path_buf()),
        ..Default::default()
    };
    fit(&opts(a.path()), true, false).unwrap();
    fit(&opts(b.path()), true, false).unwrap();
    let read = |d: &tempfile::TempDir| std::fs::read(d.path().join("model.rrae")).unwrap();
    assert_eq!(read(&a), read(&b));
}
