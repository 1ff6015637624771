//! Each semantic rule of the reader, triggered through the writer (which
//! re-reads what it writes) on a minimal model with one defect.
#![cfg(feature = "std")]

use rrae_format::header::{crc32, MINOR};
use rrae_format::meta::*;
use rrae_format::testing::{conv3x3_s2, dense, folded_meta};
use rrae_format::{read, AlignedBytes, FormatError, ModelWriter};

/// A valid folded model 2 -> 1 -> 2 (rank 1), modified by `edit`.
fn build(edit: impl FnOnce(&mut ModelWriter, &mut ModelMeta<'static>)) -> Result<(), FormatError> {
    let mut w = ModelWriter::new();
    let enc = dense(&mut w, 2, 1, &[0.5, 0.5], &[0.0], Activation::Identity);
    let dec = dense(&mut w, 1, 2, &[1.0, 1.0], &[0.0, 0.0], Activation::Relu);
    let mut meta = folded_meta("m", 2, 1, &[enc], &[dec]);
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
    } = &mut layers[0]
    else {
        panic!("dense layer expected")
    };
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

// ------------------------------------------------------------ convolutions

/// A valid folded CNN, modified by `edit`: `1 x 4 x 4` -> Conv2d(1 -> 2, k 3,
/// s 2, p 1) -> `2 x 2 x 2` -> Dense 8 -> 1; Dense 1 -> 8 ->
/// ConvTranspose2d(2 -> 1, k 3, s 2, p 1, output_padding 1) -> `1 x 4 x 4`.
fn build_conv_bytes(
    edit: impl FnOnce(&mut ModelWriter, &mut ModelMeta<'static>),
) -> Result<Vec<u8>, FormatError> {
    let mut w = ModelWriter::new();
    let geometry = |w: &mut ModelWriter, c, hw, o| {
        conv3x3_s2(
            w,
            c,
            hw,
            o,
            &[0.25; 18],
            &vec![0.0; o as usize],
            Activation::Tanh,
        )
    };
    let conv = Layer::Conv2d(geometry(&mut w, 1, 4, 2));
    let enc = dense(&mut w, 8, 1, &[0.5; 8], &[0.0], Activation::Identity);
    let dec = dense(&mut w, 1, 8, &[1.0; 8], &[0.0; 8], Activation::Relu);
    let up = Layer::ConvTranspose2d {
        conv: geometry(&mut w, 2, 2, 1),
        output_padding: [1, 1],
    };
    let mut meta = folded_meta("cnn", 16, 1, &[conv, enc], &[dec, up]);
    edit(&mut w, &mut meta);
    w.finish(&meta)
}

fn build_conv(
    edit: impl FnOnce(&mut ModelWriter, &mut ModelMeta<'static>),
) -> Result<(), FormatError> {
    build_conv_bytes(edit).map(|_| ())
}

/// The encoder's Conv2d.
fn enc_conv<'m>(m: &'m mut ModelMeta<'static>) -> &'m mut Conv {
    match &mut m.encoder[0] {
        Layer::Conv2d(c) => c,
        _ => panic!("conv expected"),
    }
}

/// The decoder's ConvTranspose2d and its output padding.
fn dec_conv<'m>(m: &'m mut ModelMeta<'static>) -> (&'m mut Conv, &'m mut [u32; 2]) {
    match &mut m.decoder[1] {
        Layer::ConvTranspose2d {
            conv,
            output_padding,
        } => (conv, output_padding),
        _ => panic!("transposed conv expected"),
    }
}

#[test]
fn conv_baseline_is_valid_and_versioned_1_1() {
    let bytes = build_conv_bytes(|_, _| {}).unwrap();
    assert_eq!(bytes[4..8], [1, 0, 1, 0]); // version 1.1
    let aligned = AlignedBytes::new(&bytes);
    let file = read(&aligned).unwrap();
    assert_eq!(file.header.minor, 1);
    assert_eq!(file.meta.encoder[0].dims(), (16, 8));
    assert_eq!(file.meta.decoder[1].dims(), (8, 16));
    // Dense-only files keep version 1.0 (see also the golden file).
    let mut w = ModelWriter::new();
    let enc = dense(&mut w, 1, 1, &[1.0], &[0.0], Activation::Identity);
    let dec = dense(&mut w, 1, 1, &[1.0], &[0.0], Activation::Identity);
    let meta = folded_meta("", 1, 1, &[enc], &[dec]);
    assert_eq!(w.finish(&meta).unwrap()[4..8], [1, 0, 0, 0]);
}

/// `bytes` with the header's minor version set to `minor` (header CRC fixed).
fn with_minor(bytes: &[u8], minor: u16) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[6..8].copy_from_slice(&minor.to_le_bytes());
    let crc = crc32(&b[..44]);
    b[44..48].copy_from_slice(&crc.to_le_bytes());
    b
}

#[test]
fn conv_layers_need_minor_version_1() {
    let bytes = build_conv_bytes(|_, _| {}).unwrap();
    assert_eq!(
        read(&AlignedBytes::new(&with_minor(&bytes, 0))).err(),
        Some(FormatError::MinorVersionTooOld {
            minor: 0,
            required: 1
        })
    );
    assert_eq!(
        read(&AlignedBytes::new(&with_minor(&bytes, MINOR + 1))).err(),
        Some(FormatError::UnsupportedVersion {
            major: 1,
            minor: MINOR + 1
        })
    );
    // A dense-only file stamped 1.1 (by a writer that always writes its own
    // minor) is read as well.
    let (_, tiny) = rrae_format::testing::tiny_model();
    assert!(read(&AlignedBytes::new(&with_minor(&tiny, 1))).is_ok());
}

#[test]
fn conv_sizes_must_be_nonzero() {
    for edit in [
        |c: &mut Conv| c.in_channels = 0,
        |c: &mut Conv| c.in_height = 0,
        |c: &mut Conv| c.in_width = 0,
        |c: &mut Conv| c.out_channels = 0,
        |c: &mut Conv| c.kernel[0] = 0,
        |c: &mut Conv| c.kernel[1] = 0,
        |c: &mut Conv| c.stride[0] = 0,
        |c: &mut Conv| c.stride[1] = 0,
    ] {
        assert_eq!(
            build_conv(|_, m| edit(enc_conv(m))),
            Err(FormatError::ZeroDim)
        );
        assert_eq!(
            build_conv(|_, m| edit(dec_conv(m).0)),
            Err(FormatError::ZeroDim)
        );
    }
}

#[test]
fn conv_geometry_must_leave_an_output() {
    // Kernel taller than the padded input (4 + 2).
    let err = build_conv(|_, m| enc_conv(m).kernel = [7, 3]);
    assert_eq!(err, Err(FormatError::ConvEmptyOutput));
    let err = build_conv(|_, m| enc_conv(m).kernel = [3, 7]);
    assert_eq!(err, Err(FormatError::ConvEmptyOutput));
    // Transposed: (2 - 1) 2 - 2 * 3 + 3 + 1 = 0 rows.
    let err = build_conv(|_, m| dec_conv(m).0.padding = [3, 1]);
    assert_eq!(err, Err(FormatError::ConvEmptyOutput));
    // A kernel exactly as large as the padded input leaves one pixel: valid
    // geometry (then the chain no longer matches).
    let err = build_conv(|_, m| enc_conv(m).kernel = [6, 6]);
    assert_eq!(
        err,
        Err(FormatError::LayerChain {
            expected: 2,
            got: 8
        })
    );
}

#[test]
fn conv_output_padding_must_be_below_stride() {
    let err = build_conv(|_, m| *dec_conv(m).1 = [1, 2]);
    assert_eq!(
        err,
        Err(FormatError::ConvOutputPadding {
            output_padding: 2,
            stride: 2
        })
    );
    let err = build_conv(|_, m| {
        let (c, op) = dec_conv(m);
        c.stride = [1, 1];
        *op = [1, 0];
    });
    assert_eq!(
        err,
        Err(FormatError::ConvOutputPadding {
            output_padding: 1,
            stride: 1
        })
    );
}

#[test]
fn padding_at_least_the_kernel_is_legal() {
    // PyTorch and the trainer accept it (border outputs see only padding):
    // k 1, s 2, p 1 on 4 x 4 gives 3 x 3.
    let conv = |c: &mut Conv| {
        c.kernel = [1, 1];
        c.padding = [1, 1];
    };
    let mut m = build_conv_meta();
    conv(enc_conv(&mut m));
    assert_eq!(m.encoder[0].checked_dims(), Ok((16, 18)));
    let (c, op) = dec_conv(&mut m);
    c.kernel = [2, 2];
    c.padding = [2, 2];
    *op = [0, 0];
    // (2 - 1) 2 - 4 + 2 + 0 = 0: nothing left.
    assert_eq!(
        m.decoder[1].checked_dims(),
        Err(FormatError::ConvEmptyOutput)
    );
    let (c, _) = dec_conv(&mut m);
    c.in_height = 3;
    c.in_width = 3;
    // (3 - 1) 2 - 4 + 2 = 2.
    assert_eq!(m.decoder[1].checked_dims(), Ok((18, 4)));
}

/// The metadata `build_conv` starts from.
fn build_conv_meta() -> ModelMeta<'static> {
    let mut out = None;
    build_conv(|_, m| out = Some(m.clone())).unwrap();
    out.unwrap()
}

#[test]
fn conv_sizes_must_fit_32_bits() {
    // Padded input beyond u32.
    let err = build_conv(|_, m| {
        let c = enc_conv(m);
        c.in_height = u32::MAX;
        c.padding = [u32::MAX, 1];
    });
    assert_eq!(err, Err(FormatError::TooLarge));
    // Flat width C * H * W beyond u32.
    let err = build_conv(|_, m| {
        let c = enc_conv(m);
        c.in_channels = 1 << 16;
        c.in_height = 1 << 16;
    });
    assert_eq!(err, Err(FormatError::TooLarge));
    // Weight length beyond u32 with small flat widths: 2^16 x 2^16 x 1 x 1.
    let err = build_conv(|_, m| {
        let c = enc_conv(m);
        (c.in_channels, c.in_height, c.in_width) = (1 << 16, 1, 1);
        c.out_channels = 1 << 16;
        (c.kernel, c.padding) = ([1, 1], [0, 0]);
    });
    assert_eq!(err, Err(FormatError::TooLarge));
    // Transposed: untrimmed output (n - 1) s + k + op beyond u32.
    let err = build_conv(|_, m| {
        let (c, _) = dec_conv(m);
        c.kernel = [u32::MAX, 3];
    });
    assert_eq!(err, Err(FormatError::TooLarge));
    // Hostile values everywhere: an error, never an overflow.
    for v in [u32::MAX, u32::MAX - 1, 1 << 31, 1 << 16] {
        for field in 0..11 {
            let set = |c: &mut Conv| match field {
                0 => c.in_channels = v,
                1 => c.in_height = v,
                2 => c.in_width = v,
                3 => c.out_channels = v,
                4 => c.kernel = [v, v],
                5 => c.stride = [v, v],
                6 => c.padding = [v, v],
                7 => c.kernel[0] = v,
                8 => c.stride[1] = v,
                9 => c.padding[0] = v,
                _ => (c.in_height, c.in_width) = (v, v),
            };
            assert!(build_conv(|_, m| set(enc_conv(m))).is_err());
            assert!(build_conv(|_, m| set(dec_conv(m).0)).is_err());
            assert!(build_conv(|_, m| *dec_conv(m).1 = [v, 0]).is_err());
        }
    }
}

#[test]
fn conv_layers_must_chain() {
    // Two input channels: 2 * 4 * 4 = 32 != 16.
    let err = build_conv(|_, m| enc_conv(m).in_channels = 2);
    assert_eq!(
        err,
        Err(FormatError::LayerChain {
            expected: 16,
            got: 32
        })
    );
    // Three output channels: 3 * 2 * 2 = 12 into a Dense layer of 8.
    let err = build_conv(|w, m| {
        let c = enc_conv(m);
        c.out_channels = 3;
        c.weight = w.tensor(&[0.0; 27]);
        c.bias = w.tensor(&[0.0; 3]);
    });
    assert_eq!(
        err,
        Err(FormatError::LayerChain {
            expected: 12,
            got: 8
        })
    );
    // The transposed output (1 x 3 x 3 without output padding) must be the input.
    let err = build_conv(|_, m| *dec_conv(m).1 = [0, 0]);
    assert_eq!(
        err,
        Err(FormatError::LayerChain {
            expected: 16,
            got: 9
        })
    );
}

#[test]
fn conv_tensors_are_shape_checked_and_finite() {
    let err = build_conv(|w, m| enc_conv(m).weight = w.tensor(&[0.0; 17]));
    assert_eq!(
        err,
        Err(FormatError::ShapeMismatch {
            what: "conv weight",
            expected: 18,
            got: 17
        })
    );
    let err = build_conv(|w, m| dec_conv(m).0.bias = w.tensor(&[0.0; 2]));
    assert_eq!(
        err,
        Err(FormatError::ShapeMismatch {
            what: "conv bias",
            expected: 1,
            got: 2
        })
    );
    let err = build_conv(|w, m| {
        let mut v = vec![0.0; 18];
        v[17] = f32::NEG_INFINITY;
        dec_conv(m).0.weight = w.tensor(&v);
    });
    assert_eq!(
        err,
        Err(FormatError::NonFinite {
            what: "conv weight"
        })
    );
    let err = build_conv(|_, m| enc_conv(m).activation = Activation::Elu { alpha: f32::NAN });
    assert_eq!(err, Err(FormatError::BadActivation));
}
