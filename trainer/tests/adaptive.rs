//! Fast versions of the adaptive-rank claims (docs/ADAPTIVE.md): with small
//! networks and short stages and without validation (the capacity rule on
//! the training loss alone), `fit --adaptive` ends at k* = 1 on `shift`,
//! `gaussian_shift` and `stairs`, and at k* = 2 on `mult_freqs` and
//! `mult_gausses`; with validation it ends at k* = 1 on `stairs` and at
//! k* = 2 on `mult_gausses`; every
//! verdict is explained in `metrics.json`; a search resumed from any
//! checkpointed state ends in the same model.

use rrae_trainer::cli::fit::fit;
use rrae_trainer::config::FitOptions;
use rrae_trainer::metrics::Metrics;

/// A short staged search from k_max = 4 (two bisection stages) with the
/// default network widths, a small latent and short stages (or `wide`:
/// width 128 and 6,000-step fresh restarts), holding out `val_fraction` of
/// the training samples.
fn adaptive_fit(dataset: &str, val_fraction: f64, wide: bool, out: &std::path::Path) -> Metrics {
    let opts = FitOptions {
        val_fraction: Some(val_fraction),
        width: wide.then_some(128),
        dataset: Some(dataset.into()),
        adaptive: Some(true),
        k_max: Some(4),
        latent: Some(16),
        batch: Some(20),
        init_steps: Some(1000),
        stage_steps: Some(600),
        retry_steps: Some(if wide { 6000 } else { 3000 }),
        steps: Some(30),
        finetune_steps: Some(0),
        out: Some(out.to_path_buf()),
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let m = fit(&opts, true, false).unwrap();
    eprintln!(
        "{dataset}: k = {}, history {:?}, train {:.2} %, {:.1} s",
        m.metrics.k,
        m.metrics.k_history,
        m.metrics.train_rel_error,
        start.elapsed().as_secs_f64()
    );
    m.metrics
}

fn check(dataset: &str, k_star: usize) {
    check_with(dataset, 0.0, false, k_star);
}

fn check_with(dataset: &str, val_fraction: f64, wide: bool, k_star: usize) {
    let dir = tempfile::tempdir().unwrap();
    let m = adaptive_fit(dataset, val_fraction, wide, dir.path());
    assert_eq!(m.k, k_star, "{dataset}: history {:?}", m.k_history);
    assert_eq!(m.k_history.first(), Some(&[0, 4]));
    assert_eq!(m.k_history.last().map(|h| h[1]), Some(k_star));
    // The first judgement defines the ideal loss; every later one says why
    // its rank was kept or dropped, and the last accepted one is the result.
    let j = &m.k_judgements;
    assert_eq!((j[0].k, j[0].threshold, j[0].accepted), (4, None, true));
    for v in &j[1..] {
        let t = v.threshold.unwrap();
        let delivered = match (v.val_error, v.linear_val_error) {
            (Some(e), Some(l)) => e.min(l),
            _ => f64::NEG_INFINITY,
        };
        let val_ok = v.val_threshold.is_none_or(|t| delivered <= t);
        assert_eq!(v.val_threshold.is_some(), val_fraction > 0.0);
        assert_eq!(v.accepted, v.loss <= t && val_ok, "{dataset}: {v:?}");
    }
    assert_eq!(j.iter().rfind(|v| v.accepted).map(|v| v.k), Some(k_star));
    let json = std::fs::read_to_string(dir.path().join("metrics.json")).unwrap();
    assert!(json.contains("\"k_history\"") && json.contains("\"k_judgements\""));
}

#[test]
fn shift_ends_at_k1() {
    check("shift", 1);
}

/// The validation rule: the delivered validation error (the better of the
/// RRAE and the linear model at k) is judged too.
#[test]
fn stairs_on_validation_ends_at_k1() {
    check_with("stairs", 0.2, false, 1);
}

/// With validation, k = 2 is judged on held-out curves as well (measured
/// 2026-12-03: k = 2 delivers 10.5 % against the band 25.2 %, k = 1
/// 67.0 %).
#[test]
fn mult_gausses_on_validation_ends_at_k2() {
    check_with("mult_gausses", 0.2, false, 2);
}

#[test]
fn gaussian_shift_ends_at_k1() {
    check("gaussian_shift", 1);
}

#[test]
fn stairs_ends_at_k1() {
    check("stairs", 1);
}

/// The low-rank recipe of this set (docs/ADAPTIVE.md): width 128 and
/// 6,000-step fresh restarts. Measured 2026-12-03: k = 2 reaches 23.8 %
/// against the band 35.5 % (seed 1: 25.9 against 42.3 %), k = 1 60.9 %
/// (60.8 %). The default width at 3,000-step restarts sits at the band
/// edge (seed 0: k = 2 at 51.8 % against 51.6 %, then k = 3 is taken;
/// seed 1: 48.8 against 53.4 %, accepted), so it separates nothing.
#[test]
fn mult_freqs_ends_at_k2() {
    check_with("mult_freqs", 0.0, true, 2);
}

#[test]
fn mult_gausses_ends_at_k2() {
    check("mult_gausses", 2);
}

/// A staged search resumed from any of its states (mid-stage, mid-restart,
/// after a rollback, in the final schedule), as a checkpoint file holds
/// them, ends in the uninterrupted run's model and judgements.
#[test]
fn resumed_search_is_bit_identical() {
    use rrae_trainer::config::TrainConfig;
    use rrae_trainer::train::checkpoint::{Checkpoint, DataFingerprint};
    use rrae_trainer::train::{fit_from, TrainState};

    let ds = rrae_trainer::data::synthetic::load("mult_gausses").unwrap();
    let data = ds.train.slice(ndarray::s![..60, ..]).to_owned();
    let opts = FitOptions {
        adaptive: Some(true),
        k_max: Some(4),
        latent: Some(8),
        width: Some(16),
        dec_depth: Some(2),
        batch: Some(20),
        init_steps: Some(120),
        stage_steps: Some(80),
        retry_steps: Some(80),
        steps: Some(60),
        finetune_steps: Some(5),
        seed: Some(2),
        ..Default::default()
    };
    let cfg = TrainConfig::resolve(&opts, data.nrows(), data.ncols()).unwrap();
    let mut states = Vec::new();
    let mut keep = |s: &TrainState| {
        if s.step % 20 == 0 {
            states.push(s.clone());
        }
        Ok(())
    };
    let (model, summary) = fit_from(&cfg, data.view(), None, None, &mut keep, &mut |_| {}).unwrap();
    assert!(
        summary.k_judgements.len() >= 2,
        "{:?}",
        summary.k_judgements
    );
    assert!(states.len() > 10);
    let fingerprint = DataFingerprint::of(data.view());
    for saved in states.into_iter().skip(1).step_by(3) {
        // Through the checkpoint's bytes, as `--resume` reads it.
        let ck = Checkpoint {
            config: cfg.clone(),
            data: fingerprint,
            state: saved,
        };
        let path = std::path::Path::new("ck.bin");
        let back = Checkpoint::from_bytes(&ck.to_bytes().unwrap(), path).unwrap();
        back.check_matches(&cfg, fingerprint, path).unwrap();
        let step = back.state.step;
        let (resumed, again) = fit_from(
            &cfg,
            data.view(),
            None,
            Some(back.state),
            &mut |_| Ok(()),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(resumed, model, "resumed at step {step}");
        assert_eq!(again.k_history, summary.k_history, "resumed at step {step}");
        assert_eq!(again.k_judgements, summary.k_judgements);
        assert_eq!(again.steps, summary.steps);
    }
}

/// With 4 of 20 samples to validate on, the search trains on all 20 (no
/// validation: the training band decides) with the batch and k_max of 20
/// rows, and the fit at the chosen rank runs the fixed-k recipe search
/// (which refits on all 20).
#[test]
fn gaussian_shift_with_tiny_validation_refits_and_ends_at_k1() {
    let dir = tempfile::tempdir().unwrap();
    let opts = FitOptions {
        dataset: Some("gaussian_shift".into()),
        adaptive: Some(true),
        k_max: Some(4),
        latent: Some(16),
        init_steps: Some(1000),
        stage_steps: Some(600),
        retry_steps: Some(3000),
        steps: Some(40),
        finetune_steps: Some(0),
        out: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let m = fit(&opts, true, false).unwrap().metrics;
    assert_eq!(m.k, 1, "history {:?}", m.k_history);
    assert_eq!((m.n_val, m.n_fit, m.config.batch), (4, 20, 20));
    assert!(m.refit && !m.recipes.is_empty(), "{:?}", m.recipes);
    assert!(m.k_judgements.iter().all(|j| j.val_error.is_none()));
    let last_change = m.k_history.last().map_or(0, |h| h[0]);
    assert!(m.search_steps.is_some_and(|s| s >= last_change));
    assert!(dir.path().join("search.json").exists());
}
