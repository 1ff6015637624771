//! Fast versions of the adaptive-rank claim (docs/ADAPTIVE.md): with small
//! networks and short stages, `fit --adaptive` ends at k* = 1 on `shift`,
//! `gaussian_shift` and `stairs`, and at k* = 2 on `mult_freqs` and
//! `mult_gausses`; the run is reproducible and recorded in `metrics.json`.

use rrae_trainer::cli::fit::fit;
use rrae_trainer::config::FitOptions;
use rrae_trainer::metrics::Metrics;

/// A short staged search from k_max = 4 (two bisection stages) with the
/// default network widths, a small latent and short stages.
fn adaptive_fit(dataset: &str, out: &std::path::Path) -> Metrics {
    let opts = FitOptions {
        dataset: Some(dataset.into()),
        adaptive: Some(true),
        k_max: Some(4),
        latent: Some(16),
        batch: Some(20),
        init_steps: Some(1000),
        stage_steps: Some(600),
        retry_steps: Some(3000),
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
    let dir = tempfile::tempdir().unwrap();
    let m = adaptive_fit(dataset, dir.path());
    assert_eq!(m.k, k_star, "{dataset}: history {:?}", m.k_history);
    assert_eq!(m.k_history.first(), Some(&[0, 4]));
    assert_eq!(m.k_history.last().map(|h| h[1]), Some(k_star));
    // The first judgement defines the ideal loss; every later one says why
    // its rank was kept or dropped, and the last accepted one is the result.
    let j = &m.k_judgements;
    assert_eq!((j[0].k, j[0].threshold, j[0].accepted), (4, None, true));
    for v in &j[1..] {
        let t = v.threshold.unwrap();
        assert_eq!(v.accepted, v.loss <= t, "{dataset}: {v:?}");
    }
    assert_eq!(j.iter().rfind(|v| v.accepted).map(|v| v.k), Some(k_star));
    let json = std::fs::read_to_string(dir.path().join("metrics.json")).unwrap();
    assert!(json.contains("\"k_history\"") && json.contains("\"k_judgements\""));
}

#[test]
fn shift_ends_at_k1() {
    check("shift", 1);
}

#[test]
fn gaussian_shift_ends_at_k1() {
    check("gaussian_shift", 1);
}

#[test]
fn stairs_ends_at_k1() {
    check("stairs", 1);
}

#[test]
fn mult_freqs_ends_at_k2() {
    check("mult_freqs", 2);
}

#[test]
fn mult_gausses_ends_at_k2() {
    check("mult_gausses", 2);
}
