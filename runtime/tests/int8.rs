//! `Model` on int8 models (format 1.2): the int8 entry points against a plain
//! whole-model reference (exact sums in f64, requantization by its
//! definition in i128, so independent of the kernels' code), the f32 API
//! (quantize in, dequantize out) against it, the float model with
//! dequantized weights (bounded error), progressive decoding and errors.

use proptest::prelude::*;
use rrae_format::meta::{Layer, Normalization, QActivation, QParams};
use rrae_format::testing::{
    activate_f64, layer_f64, random_int8_model, tiny_int8_model, tiny_model,
};
use rrae_format::{read, AlignedBytes, ModelFile};
use rrae_runtime::{Error, Model};

/// `v / 2^e` rounded half away from zero (exact).
fn round_pot(v: i128, e: u32) -> i128 {
    if e == 0 {
        return v;
    }
    let q = (v.abs() + (1 << (e - 1))) >> e;
    if v < 0 {
        -q
    } else {
        q
    }
}

/// TFLite's double-rounding requantization by its definition.
fn requant(acc: i32, m: i32, shift: i32) -> i32 {
    if acc == i32::MIN && m == i32::MIN {
        return i32::MAX;
    }
    let left = acc.wrapping_shl(shift.max(0) as u32);
    let high = round_pot(i128::from(left) * i128::from(m), 31);
    round_pot(high, (-shift).max(0) as u32) as i32
}

/// One int8 layer by definition: exact sums of `(x - zp) * w` (f64 holds
/// them exactly at these sizes), bias, requantization, clamp or table.
fn ref_layer(file: &ModelFile<'_>, layer: &Layer, x: &[i8]) -> Vec<i8> {
    let q = layer.quant().unwrap();
    let w: Vec<f32> = file
        .tensor_i8(q.weight)
        .iter()
        .map(|&v| f32::from(v))
        .collect();
    let (_, out_dim) = layer.dims();
    let channels = file.tensor_i32(q.bias).len();
    let xs: Vec<f64> = x
        .iter()
        .map(|&v| f64::from(i32::from(v) - q.input.zero_point))
        .collect();
    // Identity activation and zero bias: the raw sums, per output element.
    let mut plain = *layer;
    if let Layer::QDense { q, .. } | Layer::QConv2d { q, .. } | Layer::QConvTranspose2d { q, .. } =
        &mut plain
    {
        q.activation = QActivation::Clamp {
            min: -128,
            max: 127,
        };
    }
    let sums = layer_f64(&plain, &w, &vec![0.0; channels], &xs);
    let (mult, shift, bias) = (
        file.tensor_i32(q.multiplier),
        file.tensor_i32(q.shift),
        file.tensor_i32(q.bias),
    );
    let per = out_dim as usize / channels;
    sums.iter()
        .enumerate()
        .map(|(i, &s)| {
            let c = i / per;
            let k = if mult.len() == 1 { 0 } else { c };
            let acc = (s as i64 as i32).wrapping_add(bias[c]);
            let v = requant(acc, mult[k], shift[k]).wrapping_add(q.output.zero_point);
            match q.activation {
                QActivation::Clamp { min, max } => v.clamp(i32::from(min), i32::from(max)) as i8,
                QActivation::Table { table, .. } => {
                    file.tensor_i8(table)[(v.clamp(-128, 127) + 128) as usize]
                }
            }
        })
        .collect()
}

fn ref_layers(file: &ModelFile<'_>, layers: &[Layer], x: Vec<i8>) -> Vec<i8> {
    layers.iter().fold(x, |x, l| ref_layer(file, l, &x))
}

fn quantize(x: f32, p: QParams) -> i8 {
    rrae_format::quant::quantize(x, p)
}

fn dequantize(q: i8, p: QParams) -> f32 {
    rrae_format::quant::dequantize(q, p)
}

/// `(shift, scale)` of feature `i`.
fn norm(file: &ModelFile<'_>, i: usize) -> (f32, f32) {
    match file.meta.normalization {
        Normalization::None => (0.0, 1.0),
        Normalization::Global { shift, scale } => (shift, scale),
        Normalization::PerFeature { shift, scale } => {
            (file.tensor(shift)[i], file.tensor(scale)[i])
        }
    }
}

/// Deterministic f32 inputs around the model's input range.
fn inputs(n: usize, seed: u64) -> Vec<f32> {
    let mut r = rrae_format::testing::Rng::new(seed);
    (0..n).map(|_| r.uniform(6.0)).collect()
}

/// Checks every entry point of `bytes`' model against the reference.
fn check_model(bytes: &[u8], seed: u64) -> Result<(), TestCaseError> {
    let bytes = AlignedBytes::new(bytes);
    let file = read(&bytes).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let (n, k) = (model.input_dim(), model.rank());
    let mut scratch = vec![f32::NAN; model.scratch_len()];
    let (pi, pc, po) = (
        model.input_qparams().unwrap(),
        model.code_qparams().unwrap(),
        model.output_qparams().unwrap(),
    );
    // Int8 entry points: exact.
    let xq: Vec<i8> = inputs(n, seed).iter().map(|&v| quantize(v, pi)).collect();
    let code_ref = ref_layers(&file, &file.meta.encoder, xq.clone());
    let out_ref = ref_layers(&file, &file.meta.decoder, code_ref.clone());
    let mut code = vec![0i8; k];
    model.encode_i8(&xq, &mut code, &mut scratch).unwrap();
    prop_assert_eq!(&code, &code_ref);
    let mut out = vec![0i8; n];
    model.decode_i8(&code, &mut out, &mut scratch).unwrap();
    prop_assert_eq!(&out, &out_ref);
    model.reconstruct_i8(&xq, &mut out, &mut scratch).unwrap();
    prop_assert_eq!(&out, &out_ref);
    // Progressive: missing coefficients are the code's zero point.
    let mut padded = code_ref[..1].to_vec();
    padded.resize(k, pc.zero_point as i8);
    let progressive_ref = ref_layers(&file, &file.meta.decoder, padded);
    model.decode_i8(&code[..1], &mut out, &mut scratch).unwrap();
    prop_assert_eq!(&out, &progressive_ref);

    // The f32 API: normalize and quantize in, dequantize and restore out.
    let x = inputs(n, seed);
    let xq: Vec<i8> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (sh, sc) = norm(&file, i);
            quantize((v - sh) / sc, pi)
        })
        .collect();
    let code_ref = ref_layers(&file, &file.meta.encoder, xq);
    let out_ref: Vec<f32> = ref_layers(&file, &file.meta.decoder, code_ref.clone())
        .iter()
        .enumerate()
        .map(|(i, &q)| {
            let (sh, sc) = norm(&file, i);
            dequantize(q, po) * sc + sh
        })
        .collect();
    let mut alpha = vec![0.0; k];
    model.encode(&x, &mut alpha, &mut scratch).unwrap();
    let alpha_ref: Vec<f32> = code_ref.iter().map(|&q| dequantize(q, pc)).collect();
    prop_assert_eq!(&alpha, &alpha_ref);
    let mut x_hat = vec![0.0; n];
    model.decode(&alpha, &mut x_hat, &mut scratch).unwrap();
    prop_assert_eq!(&x_hat, &out_ref);
    model.reconstruct(&x, &mut x_hat, &mut scratch).unwrap();
    prop_assert_eq!(&x_hat, &out_ref);
    // Exactly `scratch_len` floats suffice; one fewer is an error.
    let short = model.scratch_len() - 1;
    prop_assert_eq!(
        model.reconstruct(&x, &mut x_hat, &mut scratch[..short]),
        Err(Error::ScratchTooSmall {
            needed: short + 1,
            got: short
        })
    );
    Ok(())
}

#[test]
fn tiny_int8_model_matches_the_reference() {
    let (_, bytes) = tiny_int8_model();
    for seed in 0..64 {
        check_model(&bytes, seed).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_int8_models_match_the_reference(seed in any::<u64>()) {
        check_model(&random_int8_model(seed).1, seed)?;
    }
}

/// The int8 golden model against the float model it quantizes (the same
/// layers with dequantized weights and biases, f64, normalization in f32):
/// the reconstruction differs by less than one output step.
#[test]
fn tiny_int8_model_tracks_its_dequantized_float_model() {
    let (_, bytes) = tiny_int8_model();
    let bytes = AlignedBytes::new(&bytes);
    let file = read(&bytes).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let n = model.input_dim();
    let mut scratch = vec![0.0; model.scratch_len()];
    let mut worst = 0.0f64;
    for seed in 0..200 {
        let x = inputs(n, seed);
        let mut v: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let (sh, sc) = norm(&file, i);
                f64::from((v - sh) / sc)
            })
            .collect();
        // Float layers: dequantized weights and biases.
        for layer in file.meta.encoder.iter().chain(&file.meta.decoder) {
            let q = layer.quant().unwrap();
            let ws = file.tensor(q.weight_scale);
            let (w_q, b_q) = (file.tensor_i8(q.weight), file.tensor_i32(q.bias));
            let per = w_q.len() / b_q.len();
            let c_of = |i: usize| -> usize {
                match layer {
                    Layer::QConvTranspose2d { conv, .. } => {
                        (i / (conv.kernel[0] * conv.kernel[1]) as usize)
                            % conv.out_channels as usize
                    }
                    _ => i / per,
                }
            };
            let s = |c: usize| ws[if ws.len() == 1 { 0 } else { c }];
            let w: Vec<f32> = w_q
                .iter()
                .enumerate()
                .map(|(i, &v)| f32::from(v) * s(c_of(i)))
                .collect();
            let b: Vec<f32> = b_q
                .iter()
                .enumerate()
                .map(|(c, &v)| (f64::from(v) * f64::from(q.input.scale) * f64::from(s(c))) as f32)
                .collect();
            // The layer without activation, then the clamps every int8
            // tensor implies: the activation (or the table's input) range,
            // the f32 activation, the table's output range.
            let range = |p: QParams, lo: i8, hi: i8| {
                (f64::from(dequantize(lo, p)), f64::from(dequantize(hi, p)))
            };
            let mut plain = *layer;
            if let Layer::QDense { q, .. }
            | Layer::QConv2d { q, .. }
            | Layer::QConvTranspose2d { q, .. } = &mut plain
            {
                q.activation = QActivation::Clamp {
                    min: -128,
                    max: 127,
                };
            }
            v = layer_f64(&plain, &w, &b, &v);
            let (lo, hi) = match q.activation {
                QActivation::Clamp { min, max } => range(q.output, min, max),
                QActivation::Table { source, output, .. } => {
                    let (lo, hi) = range(q.output, -128, 127);
                    v.iter_mut()
                        .for_each(|t| *t = activate_f64(source, t.clamp(lo, hi)));
                    range(output, -128, 127)
                }
            };
            v.iter_mut().for_each(|t| *t = t.clamp(lo, hi));
        }
        let mut x_hat = vec![0.0; n];
        model.reconstruct(&x, &mut x_hat, &mut scratch).unwrap();
        let po = model.output_qparams().unwrap();
        for (i, (&got, &want)) in x_hat.iter().zip(&v).enumerate() {
            let (sh, sc) = norm(&file, i);
            let want = want * f64::from(sc) + f64::from(sh);
            worst = worst.max((f64::from(got) - want).abs() / f64::from(po.scale * sc));
        }
    }
    // Measured 0.59 output steps (rounding of the int8 weights, biases and
    // intermediate activations): at most one step.
    assert!(worst <= 1.0, "worst error {worst} output steps");
}

#[test]
fn int8_calls_on_an_f32_model_are_errors() {
    let (_, bytes) = tiny_model();
    let bytes = AlignedBytes::new(&bytes);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut scratch = vec![0.0; model.scratch_len()];
    let (mut code, mut out) = (vec![0i8; 2], vec![0i8; 4]);
    assert_eq!(model.input_qparams(), None);
    assert_eq!(model.code_qparams(), None);
    assert_eq!(model.output_qparams(), None);
    assert!(!model.is_quantized());
    assert_eq!(
        model.encode_i8(&[0; 4], &mut code, &mut scratch),
        Err(Error::NotQuantized)
    );
    assert_eq!(
        model.decode_i8(&code, &mut out, &mut scratch),
        Err(Error::NotQuantized)
    );
    assert_eq!(
        model.reconstruct_i8(&[0; 4], &mut out, &mut scratch),
        Err(Error::NotQuantized)
    );
}

#[test]
fn int8_buffer_mistakes_are_errors() {
    let (_, bytes) = tiny_int8_model();
    let bytes = AlignedBytes::new(&bytes);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut scratch = vec![0.0; model.scratch_len()];
    let (mut code, mut out) = (vec![0i8; 2], vec![0i8; 16]);
    assert!(matches!(
        model.encode_i8(&[0; 15], &mut code, &mut scratch),
        Err(Error::BadLength { what: "x", .. })
    ));
    assert!(matches!(
        model.encode_i8(&[0; 16], &mut code[..1], &mut scratch),
        Err(Error::BadLength { what: "code", .. })
    ));
    assert_eq!(
        model.decode_i8(&[0; 3], &mut out, &mut scratch),
        Err(Error::BadCoefficients { rank: 2, got: 3 })
    );
    assert_eq!(
        model.decode_i8(&[], &mut out, &mut scratch),
        Err(Error::BadCoefficients { rank: 2, got: 0 })
    );
    assert!(matches!(
        model.reconstruct_i8(&[0; 16], &mut out[..15], &mut scratch),
        Err(Error::BadLength { what: "x_hat", .. })
    ));
}
