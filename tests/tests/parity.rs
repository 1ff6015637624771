//! Train → export → run with `rrae_runtime`: the deployed model reproduces
//! the trainer's own inference path (`α = U_kᵀ e(x)`, `x̂ = d(U_k α)`), and
//! folded and unfolded exports agree.

use rrae_format::AlignedBytes;
use rrae_runtime::Model;
use rrae_tests::{export, max_abs, max_abs_diff, train_small};
use rrae_trainer::data::NormKind;
use rrae_trainer::metrics::LoadedModel;

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
