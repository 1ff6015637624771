//! Each int8 rule of the reader (format 1.2), triggered through the writer
//! (which re-reads what it writes) on a minimal int8 model with one defect.
#![cfg(feature = "std")]

use rrae_format::header::{crc32, HEADER_LEN};
use rrae_format::meta::*;
use rrae_format::testing::{dense, folded_meta, quant_layer};
use rrae_format::{read, AlignedBytes, FormatError, ModelWriter};

const P_IN: QParams = QParams {
    scale: 0.5,
    zero_point: -3,
};
const P_CODE: QParams = QParams {
    scale: 0.25,
    zero_point: 7,
};
const P_OUT: QParams = QParams {
    scale: 0.125,
    zero_point: 0,
};

/// A valid int8 model 2 -> 1 -> 2 (rank 1, folded): a per-tensor dense
/// encoder with a tanh table, a per-channel dense decoder with a ReLU clamp;
/// modified by `edit`, written and re-read.
fn build_bytes(
    edit: impl FnOnce(&mut ModelWriter, &mut ModelMeta<'static>),
) -> Result<Vec<u8>, FormatError> {
    let mut w = ModelWriter::new();
    let enc = quant_layer(
        &mut w,
        P_IN,
        &[0.5, -0.25],
        |_| 0,
        &[0.125],
        false,
        (P_OUT, P_CODE),
        Activation::Tanh,
    );
    let dec = quant_layer(
        &mut w,
        P_CODE,
        &[1.0, -0.5],
        |i| i,
        &[0.0, 0.25],
        true,
        (P_OUT, P_OUT),
        Activation::Relu,
    );
    let enc = Layer::QDense {
        in_dim: 2,
        out_dim: 1,
        q: enc,
    };
    let dec = Layer::QDense {
        in_dim: 1,
        out_dim: 2,
        q: dec,
    };
    let mut meta = folded_meta("q", 2, 1, &[enc], &[dec]);
    edit(&mut w, &mut meta);
    w.finish(&meta)
}

/// The baseline file with the bytes of the decoder tensor `pick(q)` replaced
/// by `data` (same length), CRCs fixed, read back.
fn patched(pick: fn(&Quant) -> TensorRef, data: &[u8]) -> Result<(), FormatError> {
    let mut bytes = build_bytes(|_, _| {}).unwrap();
    let aligned = AlignedBytes::new(&bytes);
    let file = read(&aligned).unwrap();
    let t = pick(file.meta.decoder[0].quant().unwrap());
    let at = file.header.weights_offset as usize + t.offset as usize;
    bytes[at..at + data.len()].copy_from_slice(data);
    let body = crc32(&bytes[HEADER_LEN..]);
    bytes[40..44].copy_from_slice(&body.to_le_bytes());
    let head = crc32(&bytes[..44]);
    bytes[44..48].copy_from_slice(&head.to_le_bytes());
    read(&AlignedBytes::new(&bytes)).map(|_| ())
}

/// Little-endian bytes of `values`.
fn le(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn build(edit: impl FnOnce(&mut ModelWriter, &mut ModelMeta<'static>)) -> Result<(), FormatError> {
    build_bytes(edit).map(|_| ())
}

/// The quantization of the encoder (0) or the decoder (1) layer.
fn q<'m>(meta: &'m mut ModelMeta<'static>, side: usize) -> &'m mut Quant {
    let layer = if side == 0 {
        &mut meta.encoder[0]
    } else {
        &mut meta.decoder[0]
    };
    let Layer::QDense { q, .. } = layer else {
        panic!("int8 dense layer")
    };
    q
}

#[test]
fn baseline_is_valid_version_1_2_with_word_scratch() {
    let bytes = build_bytes(|_, _| {}).unwrap();
    assert_eq!(bytes[4..8], [1, 0, 2, 0]);
    let aligned = AlignedBytes::new(&bytes);
    let file = read(&aligned).unwrap();
    assert_eq!(file.header.scratch, 2); // 2 x ceil(max(2, 1) bytes / 4)
    let q = file.meta.decoder[0].quant().unwrap();
    assert_eq!(file.tensor_i8(q.weight), [127, -127]); // one scale per channel
    assert_eq!(file.tensor_i32(q.bias), [0, 254]); // 0.25 / (0.25 * 0.5 / 127)
    assert_eq!(file.tensor(q.weight_scale).len(), 2);
    assert_eq!(file.meta.encoder[0].activation(), Activation::Tanh);
    assert_eq!(file.meta.decoder[0].activation(), Activation::Identity);
}

#[test]
fn int8_layers_need_minor_version_2() {
    let mut b = build_bytes(|_, _| {}).unwrap();
    b[6..8].copy_from_slice(&1u16.to_le_bytes());
    let crc = crc32(&b[..44]);
    b[44..48].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        read(&AlignedBytes::new(&b)).err(),
        Some(FormatError::MinorVersionTooOld {
            minor: 1,
            required: 2
        })
    );
}

#[test]
fn activation_scales_must_be_finite_and_positive() {
    for scale in [0.0, -0.5, f32::NAN, f32::INFINITY, -0.0] {
        let bad = |side, output| {
            build(|_, m| {
                let q = q(m, side);
                let p = if output { &mut q.output } else { &mut q.input };
                p.scale = scale;
            })
        };
        let err = Err(FormatError::BadScale { what: "activation" });
        assert_eq!(bad(0, false), err, "input {scale}");
        assert_eq!(bad(0, true), err, "output {scale}");
    }
    let table_output = build(|_, m| {
        if let QActivation::Table { output, .. } = &mut q(m, 0).activation {
            output.scale = 0.0;
        }
    });
    assert_eq!(
        table_output,
        Err(FormatError::BadScale { what: "activation" })
    );
}

#[test]
fn weight_scales_must_be_positive_and_finite() {
    let bad = |v: f32| build(|w, m| q(m, 1).weight_scale = w.tensor(&[0.01, v]));
    assert_eq!(bad(0.0), Err(FormatError::BadScale { what: "weight" }));
    assert_eq!(bad(-1.0), Err(FormatError::BadScale { what: "weight" }));
    assert_eq!(
        bad(f32::NAN),
        Err(FormatError::NonFinite {
            what: "weight scale"
        })
    );
}

#[test]
fn zero_points_must_fit_int8() {
    for zp in [128, -129, i32::MAX, i32::MIN] {
        let err = Err(FormatError::BadZeroPoint { zero_point: zp });
        assert_eq!(build(|_, m| q(m, 0).input.zero_point = zp), err);
        // The decoder's input must chain, so change both sides of the code.
        assert_eq!(
            build(|_, m| {
                q(m, 0).activation = QActivation::Clamp {
                    min: -128,
                    max: 127,
                };
                q(m, 0).output.zero_point = zp;
                q(m, 1).input.zero_point = zp;
            }),
            err
        );
    }
    for zp in [127, -128] {
        assert_eq!(build(|_, m| q(m, 0).input.zero_point = zp), Ok(()));
    }
}

#[test]
fn multipliers_and_shifts_must_be_in_range() {
    for m_ in [(1 << 30) - 1, 0, -1, i32::MIN] {
        assert_eq!(
            build(|w, m| q(m, 1).multiplier = w.tensor_i32(&[1 << 30, m_])),
            Err(FormatError::BadMultiplier { multiplier: m_ })
        );
    }
    assert_eq!(patched(|q| q.multiplier, &le(&[1 << 30, i32::MAX])), Ok(()));
    assert_eq!(
        patched(|q| q.multiplier, &le(&[i32::MAX, (1 << 30) - 1])),
        Err(FormatError::BadMultiplier {
            multiplier: (1 << 30) - 1
        })
    );
    for s in [31, -32, i32::MAX, i32::MIN] {
        assert_eq!(
            build(|w, m| q(m, 1).shift = w.tensor_i32(&[0, s])),
            Err(FormatError::BadShift { shift: s })
        );
    }
    assert_eq!(patched(|q| q.shift, &le(&[30, -31])), Ok(()));
    assert_eq!(
        patched(|q| q.shift, &le(&[30, -32])),
        Err(FormatError::BadShift { shift: -32 })
    );
}

#[test]
fn weights_must_be_symmetric() {
    assert_eq!(
        build(|w, m| q(m, 1).weight = w.tensor_i8(&[-128, 1])),
        Err(FormatError::BadWeight { value: -128 })
    );
    assert_eq!(patched(|q| q.weight, &[0x81, 0x7f]), Ok(())); // -127, 127
    assert_eq!(
        patched(|q| q.weight, &[0x7f, 0x80]),
        Err(FormatError::BadWeight { value: -128 })
    );
}

#[test]
fn tables_have_256_entries() {
    for len in [0, 255, 257] {
        let got = build(|w, m| {
            if let QActivation::Table { table, .. } = &mut q(m, 0).activation {
                *table = w.tensor_i8(&vec![0; len]);
            }
        });
        assert_eq!(got, Err(FormatError::BadTableLength { got: len as u32 }));
    }
}

#[test]
fn clamp_bounds_must_be_ordered() {
    assert_eq!(
        build(|_, m| q(m, 1).activation = QActivation::Clamp { min: 5, max: 4 }),
        Err(FormatError::BadClamp { min: 5, max: 4 })
    );
    assert_eq!(
        build(|_, m| q(m, 1).activation = QActivation::Clamp { min: 4, max: 4 }),
        Ok(())
    ); // no tensor replaced: nothing left over
}

#[test]
fn tensor_lengths_count_elements_of_their_type() {
    let shape = |what, expected, got| {
        Err(FormatError::ShapeMismatch {
            what,
            expected,
            got,
        })
    };
    assert_eq!(
        build(|w, m| q(m, 1).weight = w.tensor_i8(&[1, 2, 3])),
        shape("int8 weight", 2, 3)
    );
    assert_eq!(
        build(|w, m| q(m, 1).bias = w.tensor_i32(&[1])),
        shape("int32 bias", 2, 1)
    );
    assert_eq!(
        build(|w, m| q(m, 1).weight_scale = w.tensor(&[0.1, 0.1, 0.1])),
        shape("weight scale", 2, 3)
    );
    // Multiplier and shift follow the weight scales (1 here: per tensor).
    assert_eq!(
        build(|w, m| q(m, 0).multiplier = w.tensor_i32(&[1 << 30, 1 << 30])),
        shape("multiplier", 1, 2)
    );
    assert_eq!(
        build(|w, m| q(m, 0).shift = w.tensor_i32(&[])),
        shape("shift", 1, 0)
    );
    // An i8 tensor reaching past the section by one byte.
    assert!(matches!(
        build(|_, m| {
            let t = &mut q(m, 1).weight;
            t.offset = 1 << 20;
        }),
        Err(FormatError::OutOfBounds { .. })
    ));
}

#[test]
fn bytes_after_an_int8_tensor_must_be_zero() {
    let bytes = build_bytes(|_, _| {}).unwrap();
    let aligned = AlignedBytes::new(&bytes);
    let file = read(&aligned).unwrap();
    let weights = file.header.weights_offset as usize;
    // The encoder's table (256 bytes) then its 2 weight bytes: byte 2 of the
    // weight's 16-byte slot is padding.
    let q = *file.meta.encoder[0].quant().unwrap();
    let at = weights + q.weight.offset as usize + 2;
    let mut bad = bytes.clone();
    bad[at] = 1;
    let body = crc32(&bad[HEADER_LEN..]);
    bad[40..44].copy_from_slice(&body.to_le_bytes());
    let head = crc32(&bad[..44]);
    bad[44..48].copy_from_slice(&head.to_le_bytes());
    assert_eq!(
        read(&AlignedBytes::new(&bad)).err(),
        Some(FormatError::NonZeroPadding { at })
    );
}

#[test]
fn models_are_all_f32_or_all_int8() {
    let got = build(|w, m| {
        m.decoder[0] = dense(w, 1, 2, &[1.0, 1.0], &[0.0, 0.0], Activation::Identity);
    });
    assert_eq!(got, Err(FormatError::MixedLayerKinds));
}

#[test]
fn int8_models_fold_the_basis() {
    let got = build(|w, m| {
        m.basis = Basis::Separate {
            u: w.tensor(&[1.0]),
        }
    });
    assert_eq!(got, Err(FormatError::QuantizedSeparateBasis));
}

#[test]
fn quantization_chains_across_the_code() {
    assert_eq!(
        build(|_, m| q(m, 1).input.zero_point += 1),
        Err(FormatError::QuantChain)
    );
    assert_eq!(
        build(|_, m| q(m, 1).input.scale *= 1.000_001),
        Err(FormatError::QuantChain)
    );
    // A table layer chains by its table's output parameters, not `output`.
    assert_eq!(
        build(|_, m| q(m, 1).input = P_OUT),
        Err(FormatError::QuantChain)
    );
}
