//! Train → export → sample with `rrae_runtime`: the runtime's
//! `alpha = mean + L z` equals `mean + L z` computed here from the stored
//! Gaussian, that Gaussian is the trainer-side one of the training
//! coefficients, and many samples have its mean and covariance.

use ndarray::{Array1, Array2, Axis};
use rrae_format::AlignedBytes;
use rrae_trainer::basis::coefficient_gaussian;
use rrae_trainer::cli::{fit::fit, sample};
use rrae_trainer::config::FitOptions;
use rrae_trainer::data;
use rrae_trainer::metrics::LoadedModel;

type Gaussian = (Array1<f64>, Array2<f64>);

fn max_abs(a: impl IntoIterator<Item = f64>) -> f64 {
    a.into_iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// A tiny k = 2 fit on `shift`: its file, the Gaussian stored in it, and
/// the trainer-side Gaussian of the runtime's training coefficients.
fn fitted() -> (LoadedModel, Gaussian, Gaussian) {
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
    let model = LoadedModel::from_path(&out.model_path).unwrap();
    let bytes = AlignedBytes::new(&std::fs::read(&out.model_path).unwrap());
    let file = rrae_format::read(&bytes).unwrap();
    let sampler = file.meta.sampler.unwrap();
    let f64s = |t| {
        file.tensor(t)
            .iter()
            .map(|&v| f64::from(v))
            .collect::<Vec<_>>()
    };
    let stored = (
        Array1::from(f64s(sampler.mean)),
        Array2::from_shape_vec((2, 2), f64s(sampler.chol)).unwrap(),
    );
    let train = data::synthetic::load("shift").unwrap().train;
    let alpha = model.encode(train.view()).unwrap().mapv(f64::from);
    (model, stored, coefficient_gaussian(alpha.view()).unwrap())
}

#[test]
fn runtime_sample_matches_the_trainer_gaussian() {
    let (model, (mean, chol), (t_mean, t_chol)) = fitted();
    let scale = max_abs(mean.iter().chain(&chol).copied());

    // Same z: runtime vs mean + L z computed here from the stored Gaussian.
    let z = sample::standard_normal(50, 2, 11);
    let got = sample::coefficients(&model, &z).unwrap().mapv(f64::from);
    let want = z.mapv(f64::from).dot(&chol.t()) + &mean;
    let diff = max_abs((&got - &want).iter().copied());
    assert!(
        diff <= 1e-6 * scale.max(1.0),
        "max diff {diff:e} (scale {scale})"
    );

    // The stored Gaussian is the trainer's Gaussian of the training
    // coefficients (it was fitted on the unfolded encoder's f32 output).
    let d = max_abs((&mean - &t_mean).iter().chain(&(&chol - &t_chol)).copied());
    assert!(d <= 1e-4 * scale, "stored vs trainer Gaussian: {d:e}");

    // Many samples: empirical mean and covariance match mean and L Lᵀ.
    let n = 40_000;
    let alpha = sample::coefficients(&model, &sample::standard_normal(n, 2, 5))
        .unwrap()
        .mapv(f64::from);
    let emp_mean = alpha.mean_axis(Axis(0)).unwrap();
    let centred = &alpha - &emp_mean;
    let emp_cov = centred.t().dot(&centred) / (n as f64 - 1.0);
    let cov = chol.dot(&chol.t());
    let sd: Vec<f64> = (0..2).map(|i| cov[[i, i]].sqrt()).collect();
    for i in 0..2 {
        assert!(
            (emp_mean[i] - mean[i]).abs() < 0.03 * sd[i],
            "mean {i}: {} vs {}",
            emp_mean[i],
            mean[i]
        );
        for j in 0..2 {
            let rel = (emp_cov[[i, j]] - cov[[i, j]]).abs() / (sd[i] * sd[j]);
            assert!(
                rel < 0.03,
                "cov {i}{j}: {} vs {}",
                emp_cov[[i, j]],
                cov[[i, j]]
            );
        }
    }
}
