//! `ModelMeta::decode` (hand-written, small) against
//! `postcard::take_from_bytes::<ModelMeta>` (serde): the same values, the same
//! remainder and the same errors, on valid, corrupted and arbitrary bytes.
#![cfg(feature = "std")]

use proptest::prelude::*;
use rrae_format::meta::{
    Activation, Basis, Conv, ConvGeometry, Layer, ModelMeta, Normalization, QActivation, QParams,
    Quant, TensorRef,
};
use rrae_format::testing::{
    random_conv_model, random_int8_model, random_model, tiny_cnn_model, tiny_int8_model, tiny_model,
};

fn same(bytes: &[u8]) {
    // Debug strings: NaN parameters compare equal.
    let ours = format!("{:?}", ModelMeta::decode(bytes));
    let theirs = format!("{:?}", postcard::take_from_bytes::<ModelMeta<'_>>(bytes));
    assert_eq!(ours, theirs, "input {bytes:02x?}");
}

/// Metadata with every variant and option in use.
fn encodings() -> &'static [Vec<u8>] {
    static ALL: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    ALL.get_or_init(build_encodings)
}

fn build_encodings() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for seed in 0..32 {
        let (meta, _) = random_model(seed);
        out.push(postcard::to_stdvec(&meta).unwrap());
    }
    for seed in 0..16 {
        let (meta, _) = random_conv_model(seed);
        out.push(postcard::to_stdvec(&meta).unwrap());
    }
    for seed in 0..16 {
        let (meta, _) = random_int8_model(seed);
        out.push(postcard::to_stdvec(&meta).unwrap());
    }
    for (meta, _) in [tiny_model(), tiny_cnn_model(), tiny_int8_model()] {
        out.push(postcard::to_stdvec(&meta).unwrap());
    }
    let t = |offset, len| TensorRef { offset, len };
    let acts = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.01 },
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Elu { alpha: f32::NAN },
        Activation::Softplus,
    ];
    let layers: heapless::Vec<Layer, 16> = acts
        .iter()
        .enumerate()
        .map(|(i, &activation)| Layer::Dense {
            in_dim: u32::MAX - i as u32,
            out_dim: 1 << (4 * i),
            weight: t(16 * i as u32, 300),
            bias: t(u32::MAX, 0),
            activation,
        })
        .collect();
    // Convolutions with extreme fields (varints of every length), every
    // activation, both kinds.
    let convs: heapless::Vec<Layer, 16> = acts
        .iter()
        .enumerate()
        .map(|(i, &activation)| {
            let i32_ = i as u32;
            let conv = Conv {
                in_channels: u32::MAX - i32_,
                in_height: 1 << (4 * i),
                in_width: 127 + i32_,
                out_channels: 128 << i,
                kernel: [i32_, u32::MAX],
                stride: [1 << 31, i32_ * 1000],
                padding: [16383, 16384],
                weight: t(16 * i32_, 300),
                bias: t(u32::MAX, 0),
                activation,
            };
            if i % 2 == 0 {
                Layer::Conv2d(conv)
            } else {
                Layer::ConvTranspose2d {
                    conv,
                    output_padding: [u32::MAX >> i, i32_],
                }
            }
        })
        .collect();
    // Int8 layers with extreme quantization fields (zigzag varints of every
    // length, i8 bounds, both activations).
    let qp = |i: u32| QParams {
        scale: [0.0, -1.0, f32::NAN, 1e-30][i as usize % 4],
        zero_point: [i32::MIN, i32::MAX, -1, 0, 63, -64, 64, -65][i as usize % 8],
    };
    let qlayers: heapless::Vec<Layer, 16> = (0..12u32)
        .map(|i| {
            let q = Quant {
                input: qp(i),
                weight: t(i, u32::MAX - i),
                weight_scale: t(1 << i, 1),
                bias: t(0, 0),
                multiplier: t(u32::MAX, 3),
                shift: t(7, 1 << (2 * i)),
                output: qp(i + 3),
                activation: if i % 2 == 0 {
                    QActivation::Clamp {
                        min: [i8::MIN, -1, 0, i8::MAX][(i / 2) as usize % 4],
                        max: [i8::MAX, 0, -1, i8::MIN][(i / 2) as usize % 4],
                    }
                } else {
                    QActivation::Table {
                        table: t(16 * i, 256),
                        output: qp(i + 5),
                        source: acts[i as usize % acts.len()],
                    }
                },
            };
            let g = ConvGeometry {
                in_channels: i,
                in_height: u32::MAX >> i,
                in_width: 1,
                out_channels: 200,
                kernel: [3, i],
                stride: [1, 2],
                padding: [0, 16384],
            };
            match i % 3 {
                0 => Layer::QDense {
                    in_dim: i,
                    out_dim: u32::MAX - i,
                    q,
                },
                1 => Layer::QConv2d { conv: g, q },
                _ => Layer::QConvTranspose2d {
                    conv: g,
                    output_padding: [i, 128],
                    q,
                },
            }
        })
        .collect();
    let mut mixed = layers.clone();
    mixed.extend(convs.iter().copied().take(16 - layers.len()));
    for (normalization, basis) in [
        (Normalization::None, Basis::Folded { stored: None }),
        (
            Normalization::Global {
                shift: -1.5,
                scale: f32::INFINITY,
            },
            Basis::Folded {
                stored: Some(t(32, 7)),
            },
        ),
        (
            Normalization::PerFeature {
                shift: t(0, 128),
                scale: t(1 << 28, 16384),
            },
            Basis::Separate { u: t(48, 2) },
        ),
    ] {
        let meta = ModelMeta {
            name: "ünïcode ✓ name",
            input_dim: 0,
            latent_dim: 127,
            rank: 128,
            normalization,
            encoder: layers.clone(),
            decoder: heapless::Vec::new(),
            basis,
            sampler: None,
            params: None,
            singular_values: Some(t(1, 2)),
        };
        out.push(postcard::to_stdvec(&meta).unwrap());
        let meta = ModelMeta {
            encoder: convs.clone(),
            decoder: mixed.clone(),
            ..meta
        };
        out.push(postcard::to_stdvec(&meta).unwrap());
        let meta = ModelMeta {
            encoder: qlayers.clone(),
            decoder: qlayers.iter().rev().copied().collect(),
            ..meta
        };
        out.push(postcard::to_stdvec(&meta).unwrap());
    }
    out
}

#[test]
fn valid_encodings_decode_identically() {
    for bytes in encodings() {
        same(bytes);
        // Trailing bytes are returned untouched.
        same(&[&bytes[..], &[1, 2, 3]].concat());
        // Every truncation fails the same way.
        for len in 0..bytes.len() {
            same(&bytes[..len]);
        }
    }
}

#[test]
fn every_single_byte_corruption_decodes_identically() {
    for bytes in encodings() {
        for i in 0..bytes.len() {
            for v in [0x00, 0x01, 0x02, 0x07, 0x0f, 0x10, 0x7f, 0x80, 0xc3, 0xff] {
                let mut bad = bytes.clone();
                bad[i] = v;
                same(&bad);
            }
        }
    }
}

#[test]
fn edge_cases_decode_identically() {
    // Varints: overlong, non-canonical, excess bits in the last byte.
    let name_then = |rest: &[u8]| [&[0u8][..], rest].concat();
    for dims in [
        &[0x80, 0x80, 0x80, 0x80, 0x0f][..],
        &[0x80, 0x80, 0x80, 0x80, 0x10],
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0xff, 0xff, 0xff, 0xff, 0x8f, 0x01],
        &[0x80, 0x00],
    ] {
        same(&name_then(dims));
        same(&name_then(&[dims, &[1, 1, 0, 0, 0, 0, 0, 0, 0]].concat()));
    }
    // Name lengths: huge, overlong, invalid UTF-8.
    same(&[0xff, 0xff, 0xff, 0xff, 0x0f, b'a']);
    same(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    same(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
    same(&[2, 0xc3, 0x28, 1, 1, 1, 0]);
    // More layers than a heapless::Vec holds.
    let layer = [0u8, 1, 1, 0, 1, 0, 1, 0];
    let mut many = vec![0, 1, 1, 1, 0, 17];
    for _ in 0..17 {
        many.extend_from_slice(&layer);
    }
    same(&many);
    many.truncate(many.len() - 1);
    same(&many);
    // The same with convolutions (variants 1 and 2), and unknown variants.
    let conv = [0u8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for variant in [1u8, 2, 6, 0x7f] {
        let mut many = vec![0, 1, 1, 1, 0, 17];
        for _ in 0..17 {
            many.push(variant);
            many.extend_from_slice(&conv[1..]);
            if variant == 2 {
                many.extend_from_slice(&[0, 0]);
            }
        }
        same(&many);
        many.truncate(many.len() - 1);
        same(&many);
        same(&many[..many.len() / 2]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_decode_identically(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        same(&bytes);
    }

    #[test]
    fn mutated_encodings_decode_identically(
        which in 0usize..64,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let all = encodings();
        let mut bytes = all[which % all.len()].clone();
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        same(&bytes);
    }
}
