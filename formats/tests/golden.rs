//! Golden bytes: the tiny models written today must equal the checked-in
//! files (`tiny.rrae`, dense, format 1.0; `tiny-cnn.rrae`, convolutions,
//! format 1.1; `tiny-int8.rrae`, int8 layers of all three kinds, format 1.2).
//! The 1.0 and 1.1 files were written before format 1.2 and must never change.
//!
//! After an intentional format change, regenerate the files with
//! `RRAE_BLESS=1 cargo test -p rrae-format --features std --test golden`
//! and review the diff.
#![cfg(feature = "std")]

use rrae_format::meta::{Basis, Layer, QActivation, QParams};
use rrae_format::testing::{tiny_cnn_model, tiny_int8_model, tiny_model};
use rrae_format::{read, AlignedBytes};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tiny.rrae");
const GOLDEN_CNN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tiny-cnn.rrae");
const GOLDEN_INT8: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tiny-int8.rrae");

#[test]
fn tiny_model_matches_golden_file() {
    let (meta, bytes) = tiny_model();
    if std::env::var_os("RRAE_BLESS").is_some() {
        std::fs::write(GOLDEN, &bytes).expect("write golden file");
    }
    let golden = std::fs::read(GOLDEN).expect("golden file missing: run with RRAE_BLESS=1");
    assert_eq!(bytes, golden, "format changed: bless only if intended");

    let golden = AlignedBytes::new(&golden);
    let file = read(&golden).expect("golden file reads");
    assert_eq!(file.meta, meta);
    assert_eq!(file.meta.name, "tiny");
    let Layer::Dense { weight, bias, .. } = file.meta.encoder[0] else {
        panic!("dense layer")
    };
    assert_eq!(file.tensor(weight)[..3], [-0.75, -0.625, -0.5]);
    assert_eq!(file.tensor(bias), [0.0, 0.125, 0.25]);
    let Basis::Separate { u } = file.meta.basis else {
        panic!("separate basis")
    };
    assert_eq!(file.tensor(u), [1.0, 0.0, 0.0, 0.5, 0.0, 0.5]);
    let sampler = file.meta.sampler.expect("sampler");
    assert_eq!(file.tensor(sampler.chol), [1.0, 0.0, 0.5, 2.0]);
}

#[test]
fn golden_header_layout() {
    let (_, bytes) = tiny_model();
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(&bytes[..4], b"RRAE");
    assert_eq!(bytes[4..8], [1, 0, 0, 0]); // version 1.0
    assert_eq!(u32_at(8), 0b1001); // has_sampler | basis_stored
    assert_eq!(u32_at(12), 48);
    assert_eq!(u32_at(16), 48);
    assert_eq!(u32_at(24) % 16, 0);
    assert!(u32_at(24) >= 48 + u32_at(20));
    assert_eq!(u32_at(24) + u32_at(28), u32_at(32));
    assert_eq!(u32_at(32) as usize, bytes.len());
    assert_eq!(u32_at(36), 8); // 2 x max(4, 3, 3)
}

#[test]
fn tiny_cnn_model_matches_golden_file() {
    let (meta, bytes) = tiny_cnn_model();
    if std::env::var_os("RRAE_BLESS").is_some() {
        std::fs::write(GOLDEN_CNN, &bytes).expect("write golden file");
    }
    let golden = std::fs::read(GOLDEN_CNN).expect("golden file missing: run with RRAE_BLESS=1");
    assert_eq!(bytes, golden, "format changed: bless only if intended");
    assert_eq!(bytes[4..8], [1, 0, 1, 0]); // version 1.1: convolutions

    let golden = AlignedBytes::new(&golden);
    let file = read(&golden).expect("golden file reads");
    assert_eq!(file.meta, meta);
    let Layer::Conv2d(conv) = file.meta.encoder[0] else {
        panic!("conv layer")
    };
    assert_eq!(
        (conv.kernel, conv.stride, conv.padding),
        ([3, 3], [2, 2], [1, 1])
    );
    assert_eq!(file.tensor(conv.weight)[..3], [-0.5, -0.4375, -0.375]);
    assert_eq!(file.tensor(conv.bias), [0.125, -0.125]);
    assert_eq!(file.meta.encoder[0].dims(), (16, 8));
    let Layer::ConvTranspose2d {
        conv,
        output_padding,
    } = file.meta.decoder[1]
    else {
        panic!("transposed conv layer")
    };
    assert_eq!(output_padding, [1, 1]);
    assert_eq!(file.tensor(conv.bias), [0.5]);
    assert_eq!(file.meta.decoder[1].dims(), (8, 16));
    assert_eq!(file.header.scratch, 16); // 2 x 8 (the conv output / transposed input)
}

#[test]
fn tiny_int8_model_matches_golden_file() {
    let (meta, bytes) = tiny_int8_model();
    if std::env::var_os("RRAE_BLESS").is_some() {
        std::fs::write(GOLDEN_INT8, &bytes).expect("write golden file");
    }
    let golden = std::fs::read(GOLDEN_INT8).expect("golden file missing: run with RRAE_BLESS=1");
    assert_eq!(bytes, golden, "format changed: bless only if intended");
    assert_eq!(bytes[4..8], [1, 0, 2, 0]); // version 1.2: int8 layers

    let golden = AlignedBytes::new(&golden);
    let file = read(&golden).expect("golden file reads");
    assert_eq!(file.meta, meta);
    assert!(file.meta.is_quantized());
    let Layer::QConv2d { conv, q } = file.meta.encoder[0] else {
        panic!("int8 conv layer")
    };
    assert_eq!((conv.kernel, conv.stride), ([3, 3], [2, 2]));
    let input = QParams {
        scale: 0.0625,
        zero_point: -8,
    };
    assert_eq!(q.input, input);
    // Per channel: 2 scales; weights symmetric in -127..=127.
    assert_eq!(file.tensor(q.weight_scale), [0.5 / 127.0, 0.5625 / 127.0]);
    assert_eq!(file.tensor_i8(q.weight)[..3], [-127, -111, -95]);
    assert_eq!(file.tensor_i32(q.multiplier).len(), 2);
    let QActivation::Table { table, .. } = q.activation else {
        panic!("tanh table")
    };
    assert_eq!(file.tensor_i8(table).len(), 256);
    let Layer::QDense { q, .. } = file.meta.decoder[0] else {
        panic!("int8 dense layer")
    };
    assert_eq!(file.tensor(q.weight_scale).len(), 1); // per tensor
    assert!(matches!(
        q.activation,
        QActivation::Clamp {
            min: -128,
            max: 127
        }
    ));
    // 2 x ceil(16 / 4): two int8 buffers as wide as the input.
    assert_eq!(file.header.scratch, 8);
}
