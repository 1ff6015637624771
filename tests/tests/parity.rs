//! Train → export → run with `rrae_runtime`: the deployed model reproduces
//! the trainer's own inference path (`α = U_kᵀ e(x)`, `x̂ = d(U_k α)`), and
//! folded and unfolded exports agree.

use rrae_format::AlignedBytes;
use rrae_runtime::Model;
use rrae_tests::{export, gaussian_blobs, max_abs, max_abs_diff, train_on, train_small, Trained};
use rrae_trainer::config::{Arch, FitOptions};
use rrae_trainer::data::NormKind;
use rrae_trainer::metrics::LoadedModel;

fn check_parity(name: &str, kind: NormKind, k: usize) {
    check_trained(&train_small(name, kind, k), k);
}

fn check_trained(t: &Trained, k: usize) {
    let name = &t.ds.name;
    let x = t.ds.test.view();
    let own_n = t
        .model
        .reconstruct(t.normalizer.apply(x).unwrap().view())
        .unwrap();
    let own = t.normalizer.invert(own_n.view()).unwrap();
    let scale = max_abs(x);
    let mut outputs = Vec::new();
    for fold in [true, false] {
        let bytes = export(t, fold);
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
        let own_alpha = t
            .model
            .encode(t.normalizer.apply(x).unwrap().view())
            .unwrap();
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

/// A small CNN (conv -> conv -> dense | dense -> convT -> convT) on 12 x 12
/// Gaussian blobs, exported with convolution layers.
fn train_cnn(kind: NormKind, k: usize) -> Trained {
    let opts = FitOptions {
        arch: Some(Arch::Cnn),
        channels: Some(vec![4, 6]),
        k: Some(k),
        latent: Some(8),
        steps: Some(60),
        finetune_steps: Some(10),
        ..Default::default()
    };
    train_on(gaussian_blobs(12, 6, 20, 1), kind, &opts)
}

#[test]
fn runtime_matches_trainer_on_cnn_folded_and_unfolded() {
    let t = train_cnn(NormKind::None, 2);
    let bytes = export(&t, true);
    let aligned = AlignedBytes::new(&bytes);
    let m = Model::from_bytes(&aligned).unwrap();
    let convs = |layers: &[rrae_format::meta::Layer]| layers.iter().filter(|l| l.is_conv()).count();
    assert_eq!((convs(&m.meta().encoder), convs(&m.meta().decoder)), (2, 2));
    assert_eq!((m.input_dim(), m.rank()), (144, 2));
    check_trained(&t, 2);
}

/// Global normalization cannot fold into a padded first convolution: the
/// file keeps it and the runtime applies it.
#[test]
fn runtime_matches_trainer_on_cnn_with_normalization() {
    let t = train_cnn(NormKind::Global, 2);
    let bytes = export(&t, true);
    let aligned = AlignedBytes::new(&bytes);
    let m = Model::from_bytes(&aligned).unwrap();
    assert_ne!(
        m.meta().normalization,
        rrae_format::meta::Normalization::None
    );
    check_trained(&t, 2);
}

/// A small coordinate decoder (coordinate layer -> 1 x 1 convolutions),
/// exported as a dense layer and pointwise convolutions.
fn train_coord(ds: rrae_trainer::data::Dataset, kind: NormKind, k: usize) -> Trained {
    let opts = FitOptions {
        arch: Some(Arch::Coord),
        channels: Some(vec![6, 5]),
        k: Some(k),
        latent: Some(8),
        width: Some(16),
        steps: Some(60),
        finetune_steps: Some(10),
        ..Default::default()
    };
    train_on(ds, kind, &opts)
}

#[test]
fn runtime_matches_trainer_on_coordinate_decoders() {
    let signal = rrae_trainer::data::synthetic::load("gaussian_shift").unwrap();
    for (t, k, convs) in [
        (train_coord(signal, NormKind::None, 1), 1, 2),
        (
            train_coord(gaussian_blobs(10, 5, 20, 2), NormKind::Global, 2),
            2,
            2,
        ),
    ] {
        let bytes = export(&t, true);
        let aligned = AlignedBytes::new(&bytes);
        let m = Model::from_bytes(&aligned).unwrap();
        let dec = &m.meta().decoder;
        assert_eq!(dec.iter().filter(|l| l.is_conv()).count(), convs);
        // The coordinate layer is exported as a dense k -> 6 x pixels layer.
        let pixels = m.input_dim();
        assert!(matches!(
            dec[0],
            rrae_format::meta::Layer::Dense { in_dim, out_dim, .. }
                if in_dim as usize == k && out_dim as usize == 6 * pixels
        ));
        check_trained(&t, k);
    }
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
