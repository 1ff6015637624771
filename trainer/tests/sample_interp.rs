//! Sampling, two-sample interpolation and parametric prediction on a tiny
//! `shift` fit (k = 2), through the exported file and the runtime.

use std::sync::OnceLock;

use ndarray::{Array2, Axis};
use rrae_trainer::cli::{fit::fit, interpolate, predict, sample};
use rrae_trainer::config::FitOptions;
use rrae_trainer::data;
use rrae_trainer::metrics::LoadedModel;

struct Tiny {
    _dir: tempfile::TempDir,
    model: LoadedModel,
    interp_error: Option<f64>,
}

fn tiny() -> &'static Tiny {
    static TINY: OnceLock<Tiny> = OnceLock::new();
    TINY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let opts = FitOptions {
            dataset: Some("shift".into()),
            k: Some(2),
            latent: Some(8),
            width: Some(16),
            dec_depth: Some(2),
            steps: Some(100),
            finetune_steps: Some(5),
            out: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let out = fit(&opts, true, false).unwrap();
        Tiny {
            model: LoadedModel::from_path(&out.model_path).unwrap(),
            interp_error: out.metrics.test_interp_rel_error,
            _dir: dir,
        }
    })
}

fn max_abs_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn sampling_is_deterministic_under_a_seed() {
    let m = &tiny().model;
    let a = sample::generate(m, 5, 7).unwrap();
    assert_eq!(a.dim(), (5, 200));
    assert_eq!(a, sample::generate(m, 5, 7).unwrap());
    assert_ne!(a, sample::generate(m, 5, 8).unwrap());
    assert!(a.iter().all(|v| v.is_finite()));
}

#[test]
fn interpolation_endpoints_reproduce_the_encodings() {
    let m = &tiny().model;
    let x = data::synthetic::load("shift").unwrap().test;
    let ends = x.select(Axis(0), &[3, 400]);
    let alpha = m.encode(ends.view()).unwrap();
    let path = interpolate::path(m, alpha.row(0), alpha.row(1), 5).unwrap();
    assert_eq!(path.nrows(), 5);
    let recon = m.reconstruct(ends.view()).unwrap();
    let got = path.select(Axis(0), &[0, 4]);
    assert!(
        max_abs_diff(&got, &recon) < 1e-5,
        "{}",
        max_abs_diff(&got, &recon)
    );
    assert!(interpolate::path(m, alpha.row(0), alpha.row(1), 1).is_err());
}

#[test]
fn predict_at_a_training_parameter_decodes_its_coefficients() {
    let t = tiny();
    let ds = data::synthetic::load("shift").unwrap();
    let params = ds.train_params.unwrap();
    let coeffs = t.model.encode(ds.train.view()).unwrap();
    for i in [0, 17, 198] {
        // The table stores parameters as f32.
        let p = f64::from(params[[i, 0]] as f32);
        let got = predict::predict(&t.model, &[p]).unwrap();
        let want = t.model.decode(coeffs.select(Axis(0), &[i]).view()).unwrap();
        assert!(max_abs_diff(&got, &want) < 1e-4, "row {i}");
    }
    let err = predict::predict(&t.model, &[2.5]).unwrap_err();
    assert!(format!("{err:#}").contains("outside the training range"));
    assert!(predict::predict(&t.model, &[0.5, 0.5]).is_err());
    let e = t.interp_error.expect("shift has parameters");
    assert!(e.is_finite() && e > 0.0, "{e}");
}
