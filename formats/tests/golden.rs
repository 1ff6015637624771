//! Golden bytes: the tiny model written today must equal the checked-in file.
//!
//! After an intentional format change, regenerate the file with
//! `RRAE_BLESS=1 cargo test -p rrae-format --features std --test golden`
//! and review the diff.
#![cfg(feature = "std")]

use rrae_format::meta::{Basis, Layer};
use rrae_format::testing::tiny_model;
use rrae_format::{read, AlignedBytes};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tiny.rrae");

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
    let Layer::Dense { weight, bias, .. } = file.meta.encoder[0];
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
