//! Property tests of the reader on valid and corrupted files: round trips,
//! truncation, bit flips, overwrites, and hostile header values.
#![cfg(feature = "std")]

use proptest::prelude::*;
use rrae_format::header::{crc32, HEADER_LEN};
use rrae_format::testing::{
    random_conv_model, random_int8_model, random_model, tiny_cnn_model, tiny_int8_model, tiny_model,
};
use rrae_format::{read, AlignedBytes, FormatError, Header};

/// Reads an aligned copy of `bytes`.
fn read_copy(bytes: &[u8]) -> Result<(), FormatError> {
    read(&AlignedBytes::new(bytes)).map(|_| ())
}

/// Rewrites both CRCs so that corruption reaches the deeper checks.
fn fix_crcs(bytes: &mut [u8]) {
    let body = crc32(&bytes[HEADER_LEN..]);
    bytes[40..44].copy_from_slice(&body.to_le_bytes());
    let head = crc32(&bytes[..44]);
    bytes[44..48].copy_from_slice(&head.to_le_bytes());
}

#[test]
fn every_bit_flip_of_the_tiny_models_is_rejected() {
    for (_, bytes) in [tiny_model(), tiny_cnn_model(), tiny_int8_model()] {
        for bit in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(read_copy(&bad).is_err(), "bit {bit} accepted");
        }
    }
}

/// The random generators: dense models, convolutional ones, int8 ones.
fn random_models(seed: u64) -> [Vec<u8>; 3] {
    [
        random_model(seed).1,
        random_conv_model(seed).1,
        random_int8_model(seed).1,
    ]
}

/// With the CRCs recomputed, every single-byte change of the int8 golden
/// model's metadata and weights is rejected or leaves a file that reads
/// (then its layers still chain, and the change was a value the format
/// allows anywhere, such as a weight or a bias).
#[test]
fn crc_fixed_byte_changes_of_the_int8_model_are_checked() {
    let (_, bytes) = tiny_int8_model();
    let mut rejected = 0;
    for at in HEADER_LEN..bytes.len() {
        for v in [0x00, 0x01, 0x7f, 0x80, 0x81, 0xff] {
            let mut bad = bytes.clone();
            if bad[at] == v {
                continue;
            }
            bad[at] = v;
            fix_crcs(&mut bad);
            match read(&AlignedBytes::new(&bad)) {
                Ok(file) => assert!(file.meta.is_quantized(), "byte {at} = {v:#x}"),
                Err(_) => rejected += 1,
            }
        }
    }
    assert!(rejected > 0);
}

#[test]
fn misaligned_buffer_is_rejected() {
    let (_, bytes) = tiny_model();
    let buf = AlignedBytes::new(&[&[0u8][..], &bytes].concat());
    assert_eq!(read(&buf[1..]).err(), Some(FormatError::Misaligned));
}

#[test]
fn huge_header_values_are_rejected() {
    let (_, bytes) = tiny_model();
    for field in [20, 24, 28, 32, 36] {
        for value in [u32::MAX, u32::MAX - 3, u32::MAX - 15, 1 << 31, 0] {
            let mut bad = bytes.clone();
            bad[field..field + 4].copy_from_slice(&value.to_le_bytes());
            fix_crcs(&mut bad);
            assert!(read_copy(&bad).is_err(), "field {field} = {value} accepted");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn write_read_round_trips(seed in any::<u64>()) {
        for (meta, bytes) in [random_model(seed), random_conv_model(seed), random_int8_model(seed)] {
            let buf = AlignedBytes::new(&bytes);
            let file = read(&buf).unwrap();
            prop_assert_eq!(&file.meta, &meta);
            prop_assert_eq!(file.header.encode(), Header::parse(&bytes).unwrap().encode());
            prop_assert_eq!(&file.header.encode()[..], &bytes[..HEADER_LEN]);
            prop_assert_eq!(file.header.minor, meta.required_minor());
        }
    }

    #[test]
    fn every_truncation_is_rejected(seed in any::<u64>()) {
        for bytes in random_models(seed) {
            for len in 0..bytes.len() {
                prop_assert!(read_copy(&bytes[..len]).is_err(), "length {} accepted", len);
            }
            let longer = [&bytes[..], &[0u8]].concat();
            prop_assert!(read_copy(&longer).is_err());
        }
    }

    #[test]
    fn overwrites_are_rejected_or_harmless(
        seed in any::<u64>(),
        at in any::<prop::sample::Index>(),
        patch in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        for bytes in random_models(seed) {
            let mut bad = bytes.clone();
            let start = at.index(bytes.len());
            for (dst, src) in bad[start..].iter_mut().zip(&patch) {
                *dst = *src;
            }
            match read_copy(&bad) {
                Ok(()) => prop_assert_eq!(&bad, &bytes),
                Err(_) => prop_assert_ne!(&bad, &bytes),
            }
        }
    }

    /// With the CRCs recomputed, corruption reaches the structural checks:
    /// they must reject it or accept a file that is still fully consistent.
    #[test]
    fn crc_fixed_corruption_never_panics(
        seed in any::<u64>(),
        at in any::<prop::sample::Index>(),
        patch in prop::collection::vec(any::<u8>(), 1..4),
    ) {
        for bytes in random_models(seed) {
            let mut bad = bytes.clone();
            let start = HEADER_LEN + at.index(bytes.len() - HEADER_LEN);
            for (dst, src) in bad[start..].iter_mut().zip(&patch) {
                *dst = *src;
            }
            fix_crcs(&mut bad);
            let buf = AlignedBytes::new(&bad);
            if let Ok(file) = read(&buf) {
                let (i, _) = file.meta.encoder[0].dims();
                prop_assert_eq!(i, file.meta.input_dim);
                for layer in file.meta.encoder.iter().chain(&file.meta.decoder) {
                    prop_assert_eq!(layer.checked_dims().map(|_| ()), Ok(()));
                }
            }
        }
    }
}
