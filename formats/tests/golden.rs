//! Golden bytes: the tiny models written today must equal the checked-in
//! files (`tiny.rrae`, dense, format 1.0; `tiny-cnn.rrae`, convolutions,
//! format 1.1).
//!
//! After an intentional format change, regenerate the files with
//! `RRAE_BLESS=1 cargo test -p rrae-format --features std --test golden`
//! and review the diff.
#![cfg(feature = "std")]

use rrae_format::meta::{Basis, Layer};
use rrae_format::testing::{tiny_cnn_model, tiny_model};
use rrae_format::{read, AlignedBytes};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tiny.rrae");
const GOLDEN_CNN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tiny-cnn.rrae");

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
