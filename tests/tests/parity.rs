//! Train → export → run with `rrae_runtime`: the deployed model reproduces
//! the trainer's own inference path (`α = U_kᵀ e(x)`, `x̂ = d(U_k α)`), and
//! folded and unfolded exports agree.

use ndarray::{Array2, ArrayView2};
use rrae_format::AlignedBytes;
use rrae_runtime::Model;
use rrae_trainer::config::{FitOptions, TrainConfig};
use rrae_trainer::data::{self, NormKind, Normalizer};
use rrae_trainer::export::{model_bytes, ExportInput};
use rrae_trainer::metrics::LoadedModel;
use rrae_trainer::train::{self, RraeModel};

fn max_abs_diff(a: ArrayView2<f32>, b: ArrayView2<f32>) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn max_abs(a: ArrayView2<f32>) -> f32 {
    a.iter().map(|v| v.abs()).fold(0.0, f32::max)
}

struct Trained {
    ds: data::Dataset,
    normalizer: Normalizer,
    train_n: Array2<f32>,
    model: RraeModel,
}

fn train_small(name: &str, kind: NormKind, k: usize) -> Trained {
    let ds = data::synthetic::load(name).unwrap();
    let normalizer = Normalizer::fit(kind, ds.train.view()).unwrap();
    let train_n = normalizer.apply(ds.train.view()).unwrap();
    let opts = FitOptions {
        k: Some(k),
        latent: Some(16),
        width: Some(24),
        dec_depth: Some(2),
        steps: Some(200),
        finetune_steps: Some(20),
        activation: Some("elu".into()),
        ..Default::default()
    };
    let cfg = TrainConfig::resolve(&opts, train_n.nrows(), train_n.ncols()).unwrap();
    let (model, _) = train::fit(&cfg, train_n.view(), &mut |_| {}).unwrap();
    Trained {
        ds,
        normalizer,
        train_n,
        model,
    }
}

fn export(t: &Trained, fold: bool) -> Vec<u8> {
    model_bytes(&ExportInput {
        name: &t.ds.name,
        model: &t.model,
        normalizer: &t.normalizer,
        train: t.train_n.view(),
        train_params: t.ds.train_params.as_ref().map(|p| p.view()),
        fold,
    })
    .unwrap()
}

fn check_parity(name: &str, kind: NormKind, k: usize) {
    let t = train_small(name, kind, k);
    let x = t.ds.test.view();
    let own_n = t.model.reconstruct(t.normalizer.apply(x).unwrap().view());
    let own = t.normalizer.invert(own_n.view()).unwrap();
    let scale = max_abs(x);
    let mut outputs = Vec::new();
    for fold in [true, false] {
        let bytes = export(&t, fold);
        let loaded = LoadedModel::new(&bytes).unwrap();
        let rt = loaded.reconstruct(x).unwrap();
        let rel = max_abs_diff(rt.view(), own.view()) / scale;
        assert!(
            rel <= 1e-5,
            "{name} fold={fold}: runtime vs trainer max diff {rel:e} (relative)"
        );

        // Coefficients agree too.
        let aligned = AlignedBytes::new(&bytes);
        let m = Model::from_bytes(&aligned).unwrap();
        let mut scratch = vec![0.0; m.scratch_len()];
        let own_alpha = t.model.encode(t.normalizer.apply(x).unwrap().view());
        let alpha_scale = max_abs(own_alpha.view()).max(1e-6);
        let mut alpha = vec![0.0; k];
        for (row, own_row) in x.rows().into_iter().zip(own_alpha.rows()).step_by(7) {
            m.encode(row.as_slice().unwrap(), &mut alpha, &mut scratch)
                .unwrap();
            for (a, b) in alpha.iter().zip(own_row) {
                assert!(
                    (a - b).abs() / alpha_scale <= 1e-5,
                    "{name} fold={fold}: alpha {a} vs {b}"
                );
            }
        }
        outputs.push(rt);
    }
    let rel = max_abs_diff(outputs[0].view(), outputs[1].view()) / scale;
    assert!(
        rel <= 1e-5,
        "{name}: folded vs unfolded max diff {rel:e} (relative)"
    );
}

#[test]
fn runtime_matches_trainer_on_shift_folded_and_unfolded() {
    check_parity("shift", NormKind::None, 1);
}

#[test]
fn runtime_matches_trainer_with_per_feature_normalization_and_k2() {
    check_parity("shift", NormKind::PerFeature, 2);
}

#[test]
fn exported_file_carries_sampler_params_and_basis() {
    let t = train_small("shift", NormKind::Global, 1);
    let bytes = export(&t, true);
    let aligned = AlignedBytes::new(&bytes);
    let m = Model::from_bytes(&aligned).unwrap();
    assert_eq!((m.input_dim(), m.latent_dim(), m.rank()), (200, 16, 1));
    assert_eq!(m.basis().map(<[f32]>::len), Some(16));
    let meta = m.meta();
    assert!(meta.sampler.is_some());
    assert_eq!(
        meta.params.map(|p| p.count),
        Some(t.ds.train.nrows() as u32)
    );
    let mut alpha = [0.0f32];
    m.sample(&[0.0], &mut alpha).unwrap();
    assert!(alpha[0].is_finite());
}
