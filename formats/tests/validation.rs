//! Each semantic rule of the reader, triggered through the writer (which
//! re-reads what it writes) on a minimal model with one defect.
#![cfg(feature = "std")]

use rrae_format::meta::*;
use rrae_format::testing::dense;
use rrae_format::{FormatError, ModelWriter};

/// A valid folded model 2 -> 1 -> 2 (rank 1), modified by `edit`.
fn build(edit: impl FnOnce(&mut ModelWriter, &mut ModelMeta<'static>)) -> Result<(), FormatError> {
    let mut w = ModelWriter::new();
    let enc = dense(&mut w, 2, 1, &[0.5, 0.5], &[0.0], Activation::Identity);
    let dec = dense(&mut w, 1, 2, &[1.0, 1.0], &[0.0, 0.0], Activation::Relu);
    let mut meta = ModelMeta {
        name: "m",
        input_dim: 2,
        latent_dim: 1,
        rank: 1,
        normalization: Normalization::None,
        encoder: heapless::Vec::from_slice(&[enc]).unwrap(),
        decoder: heapless::Vec::from_slice(&[dec]).unwrap(),
        basis: Basis::Folded { stored: None },
        sampler: None,
        params: None,
        singular_values: None,
    };
    edit(&mut w, &mut meta);
    w.finish(&meta).map(|_| ())
}

/// Edits the first layer's input width, weight and activation.
fn set_layer(
    layers: &mut heapless::Vec<Layer, MAX_LAYERS>,
    f: impl FnOnce(&mut u32, &mut TensorRef, &mut Activation),
) {
    let Layer::Dense {
        in_dim,
        weight,
        activation,
        ..
    } = &mut layers[0];
    f(in_dim, weight, activation);
}

#[test]
fn baseline_is_valid() {
    assert_eq!(build(|_, _| {}), Ok(()));
}

#[test]
fn rank_must_be_within_latent_dim() {
    let err = build(|_, m| m.rank = 2);
    assert_eq!(
        err,
        Err(FormatError::BadRank {
            rank: 2,
            latent_dim: 1
        })
    );
    let err = build(|_, m| m.rank = 0);
    assert_eq!(
        err,
        Err(FormatError::BadRank {
            rank: 0,
            latent_dim: 1
        })
    );
}

#[test]
fn layers_must_chain() {
    let err = build(|_, m| set_layer(&mut m.encoder, |i, _, _| *i = 3));
    assert_eq!(
        err,
        Err(FormatError::LayerChain {
            expected: 2,
            got: 3
        })
    );
    let err = build(|w, m| {
        m.latent_dim = 2;
        m.basis = Basis::Separate {
            u: w.tensor(&[1.0, 0.0]),
        };
    });
    assert_eq!(
        err,
        Err(FormatError::LayerChain {
            expected: 2,
            got: 1
        })
    );
}

#[test]
fn networks_must_not_be_empty() {
    assert_eq!(
        build(|_, m| m.decoder.clear()),
        Err(FormatError::EmptyNetwork)
    );
}

#[test]
fn shapes_must_match() {
    let err = build(|w, m| set_layer(&mut m.encoder, |_, wt, _| *wt = w.tensor(&[1.0])));
    assert_eq!(
        err,
        Err(FormatError::ShapeMismatch {
            what: "dense weight",
            expected: 2,
            got: 1
        })
    );
}

#[test]
fn weights_must_be_finite() {
    let err = build(|w, m| set_layer(&mut m.encoder, |_, wt, _| *wt = w.tensor(&[1.0, f32::NAN])));
    assert_eq!(
        err,
        Err(FormatError::NonFinite {
            what: "dense weight"
        })
    );
}

#[test]
fn activation_parameters_must_be_finite() {
    let err = build(|_, m| {
        set_layer(&mut m.decoder, |_, _, a| {
            *a = Activation::LeakyRelu {
                slope: f32::INFINITY,
            }
        })
    });
    assert_eq!(err, Err(FormatError::BadActivation));
}

#[test]
fn normalization_scale_must_be_nonzero() {
    let err = build(|_, m| {
        m.normalization = Normalization::Global {
            shift: 0.0,
            scale: 0.0,
        }
    });
    assert_eq!(err, Err(FormatError::BadNormalization));
    let err = build(|w, m| {
        m.normalization = Normalization::PerFeature {
            shift: w.tensor(&[0.0, 0.0]),
            scale: w.tensor(&[1.0, 0.0]),
        }
    });
    assert_eq!(err, Err(FormatError::BadNormalization));
}

#[test]
fn tensors_must_be_in_bounds_aligned_and_disjoint() {
    let err = build(|_, m| {
        m.singular_values = Some(TensorRef {
            offset: 4096,
            len: 1,
        })
    });
    assert_eq!(
        err,
        Err(FormatError::OutOfBounds {
            offset: 4096,
            len: 1
        })
    );
    let err = build(|_, m| m.singular_values = Some(TensorRef { offset: 4, len: 1 }));
    assert_eq!(err, Err(FormatError::UnalignedTensor { offset: 4 }));
    let err = build(|_, m| m.singular_values = Some(TensorRef { offset: 0, len: 1 }));
    assert!(
        matches!(err, Err(FormatError::TensorOverlap { .. })),
        "{err:?}"
    );
}

#[test]
fn unreferenced_weights_are_rejected_as_padding() {
    let err = build(|w, _| {
        w.tensor(&[1.0]);
    });
    assert!(
        matches!(err, Err(FormatError::NonZeroPadding { .. })),
        "{err:?}"
    );
}

#[test]
fn optional_parts_are_shape_checked() {
    let err = build(|w, m| {
        m.sampler = Some(Sampler {
            mean: w.tensor(&[0.0]),
            chol: w.tensor(&[1.0, 0.0]),
        })
    });
    assert!(matches!(
        err,
        Err(FormatError::ShapeMismatch {
            what: "sampler cholesky",
            ..
        })
    ));
    let err = build(|w, m| {
        m.params = Some(ParamTable {
            param_dim: 1,
            count: 2,
            params: w.tensor(&[0.0, 1.0]),
            coeffs: w.tensor(&[0.0]),
        })
    });
    assert!(matches!(
        err,
        Err(FormatError::ShapeMismatch {
            what: "parameter coefficients",
            ..
        })
    ));
    let err = build(|w, m| m.singular_values = Some(w.tensor(&[])));
    assert!(matches!(
        err,
        Err(FormatError::ShapeMismatch {
            what: "singular values",
            ..
        })
    ));
}
