//! The exporter folds the input normalization into the first encoder layer
//! and the last decoder layer: the file says `Normalization::None`, its
//! scratch leaves out `input_dim`, and the runtime still reproduces the
//! trainer's inference path (normalize, `α = U_kᵀ e(x)`, `x̂ = d(U_k α)`,
//! de-normalize) within 1e-5 of `max |x|`.

use ndarray::{array, Array2};
use rrae_format::meta::{Activation, Normalization};
use rrae_format::AlignedBytes;
use rrae_runtime::Model;
use rrae_tests::{export, max_abs, max_abs_diff, train_small, Trained};
use rrae_trainer::data::{NormKind, Normalizer};
use rrae_trainer::export::fold_normalization;
use rrae_trainer::nn::{Dense, Layer, Network};

fn check(kind: NormKind, k: usize) {
    let t = train_small("shift", kind, k);
    assert_ne!(t.normalizer, Normalizer::None);
    let Trained {
        ds,
        normalizer,
        model,
        ..
    } = &t;

    let x = ds.test.view();
    let x_n = normalizer.apply(x).unwrap();
    let own = normalizer
        .invert(model.reconstruct(x_n.view()).unwrap().view())
        .unwrap();
    let own_alpha = model.encode(x_n.view()).unwrap();
    let (scale, alpha_scale) = (max_abs(x), max_abs(own_alpha.view()).max(1e-6));
    let n = x.ncols();

    for fold in [true, false] {
        let bytes = export(&t, fold);
        let aligned = AlignedBytes::new(&bytes);
        let m = Model::from_bytes(&aligned).unwrap();
        assert_eq!(m.meta().normalization, Normalization::None, "{kind:?}");
        assert!(
            m.scratch_len() < 2 * n,
            "{kind:?} fold={fold}: scratch {} still holds input_dim {n}",
            m.scratch_len()
        );

        let mut scratch = vec![f32::NAN; m.scratch_len()];
        let mut rt = Array2::zeros(x.raw_dim());
        let mut alpha = vec![0.0; k];
        for ((row, mut out), own_row) in x
            .rows()
            .into_iter()
            .zip(rt.rows_mut())
            .zip(own_alpha.rows())
        {
            let row = row.to_vec();
            m.reconstruct(&row, out.as_slice_mut().unwrap(), &mut scratch)
                .unwrap();
            m.encode(&row, &mut alpha, &mut scratch).unwrap();
            for (a, b) in alpha.iter().zip(own_row) {
                assert!(
                    (a - b).abs() / alpha_scale <= 1e-5,
                    "{kind:?} fold={fold}: alpha {a} vs {b}"
                );
            }
        }
        let rel = max_abs_diff(rt.view(), own.view()) / scale;
        assert!(
            rel <= 1e-5,
            "{kind:?} fold={fold}: runtime vs trainer max diff {rel:e} (relative)"
        );
    }
}

#[test]
fn global_normalization_folds_into_the_networks() {
    check(NormKind::Global, 1);
}

#[test]
fn per_feature_normalization_folds_into_the_networks() {
    check(NormKind::PerFeature, 2);
}

/// A nonlinear output layer cannot absorb the de-normalization: the networks
/// stay as they are (and the exporter keeps the normalization in the file).
#[test]
fn nonlinear_output_layer_keeps_the_normalization() {
    let dense = |w: Array2<f32>, act| {
        Layer::Dense(Dense {
            b: ndarray::Array1::zeros(w.nrows()),
            w,
            act,
        })
    };
    let mut enc = Network {
        layers: vec![dense(array![[1.0, 2.0]], Activation::Identity)],
    };
    let mut dec = Network {
        layers: vec![dense(array![[1.0], [3.0]], Activation::Tanh)],
    };
    let (enc0, dec0) = (enc.clone(), dec.clone());
    let norm = Normalizer::Global {
        shift: 1.0,
        scale: 2.0,
    };
    assert!(!fold_normalization(&norm, &mut enc, &mut dec).unwrap());
    assert_eq!((&enc, &dec), (&enc0, &dec0));
    assert!(!fold_normalization(&Normalizer::None, &mut enc, &mut dec).unwrap());

    dec.layers[0].set_activation(Activation::Identity);
    assert!(fold_normalization(&norm, &mut enc, &mut dec).unwrap());
    // Encoder: W / 2, b - W (1 / 2); decoder: 2 W, 2 b + 1.
    let (Layer::Dense(e), Layer::Dense(d)) = (&enc.layers[0], &dec.layers[0]) else {
        unreachable!("dense layers stay dense");
    };
    assert_eq!(e.w, array![[0.5, 1.0]]);
    assert_eq!(e.b, array![-1.5]);
    assert_eq!(d.w, array![[2.0], [6.0]]);
    assert_eq!(d.b, array![1.0, 1.0]);
}
