//! Behaviour of `Model` on hand-built models: exactness, folded vs. separate
//! basis, progressive decoding, sampling, and caller mistakes.

use proptest::prelude::*;
use rrae_format::heapless;
use rrae_format::meta::*;
use rrae_format::testing::{
    dense, random_conv_model, random_model, reference_f64, tiny_cnn_model, tiny_model,
};
use rrae_format::{read, AlignedBytes, FormatError, ModelWriter};
use rrae_runtime::{Error, Model};

fn layers(l: &[Layer]) -> heapless::Vec<Layer, MAX_LAYERS> {
    heapless::Vec::from_slice(l).unwrap()
}

fn meta(
    input: u32,
    latent: u32,
    rank: u32,
    enc: &[Layer],
    dec: &[Layer],
    basis: Basis,
) -> ModelMeta<'static> {
    ModelMeta {
        name: "test",
        input_dim: input,
        latent_dim: latent,
        rank,
        normalization: Normalization::None,
        encoder: layers(enc),
        decoder: layers(dec),
        basis,
        sampler: None,
        params: None,
        singular_values: None,
    }
}

fn eye(n: usize) -> Vec<f32> {
    (0..n * n)
        .map(|i| if i % (n + 1) == 0 { 1.0 } else { 0.0 })
        .collect()
}

/// Row-major `a (n x m) * b (m x p)`.
fn matmul(a: &[f32], b: &[f32], n: usize, m: usize, p: usize) -> Vec<f32> {
    (0..n * p)
        .map(|ij| (0..m).map(|k| a[ij / p * m + k] * b[k * p + ij % p]).sum())
        .collect()
}

fn transpose(a: &[f32], n: usize, m: usize) -> Vec<f32> {
    (0..n * m).map(|ji| a[ji % n * m + ji / n]).collect()
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
}

#[test]
fn identity_layers_reproduce_x_exactly() {
    let n = 5;
    let mut w = ModelWriter::new();
    let id = |w: &mut ModelWriter| dense(w, 5, 5, &eye(n), &[0.0; 5], Activation::Identity);
    let (e1, e2, d1) = (id(&mut w), id(&mut w), id(&mut w));
    let u = w.tensor(&eye(n));
    let bytes = AlignedBytes::new(
        &w.finish(&meta(5, 5, 5, &[e1, e2], &[d1], Basis::Separate { u }))
            .unwrap(),
    );
    let model = Model::from_bytes(&bytes).unwrap();
    let x = [0.1, -3.7, 1e-7, 42.0, -0.0];
    let (mut x_hat, mut alpha) = ([9.0; 5], [0.0; 5]);
    let mut scratch = vec![0.0; model.scratch_len()];
    model.reconstruct(&x, &mut x_hat, &mut scratch).unwrap();
    assert_eq!(x_hat, x);
    model.encode(&x, &mut alpha, &mut scratch).unwrap();
    assert_eq!(alpha, x);
}

/// The same network with a separate basis and with `U_k` folded into the
/// adjacent layers (done here as the trainer's export would).
fn folded_and_separate(seed: u64) -> (AlignedBytes, AlignedBytes) {
    let (input, hidden, latent, rank) = (6usize, 5usize, 4usize, 3usize);
    let mut s = seed | 1;
    let mut rnd = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    };
    let (e1w, e1b, e2w, e2b) = (
        rnd(hidden * input),
        rnd(hidden),
        rnd(latent * hidden),
        rnd(latent),
    );
    let (d1w, d1b, d2w, d2b) = (
        rnd(hidden * latent),
        rnd(hidden),
        rnd(input * hidden),
        rnd(input),
    );
    let u = rnd(latent * rank);
    let (h, l, r, i) = (hidden as u32, latent as u32, rank as u32, input as u32);

    let mut w = ModelWriter::new();
    let enc = [
        dense(&mut w, i, h, &e1w, &e1b, Activation::Tanh),
        dense(&mut w, h, l, &e2w, &e2b, Activation::Identity),
    ];
    let dec = [
        dense(&mut w, l, h, &d1w, &d1b, Activation::Elu { alpha: 1.0 }),
        dense(&mut w, h, i, &d2w, &d2b, Activation::Identity),
    ];
    let basis = Basis::Separate { u: w.tensor(&u) };
    let separate = w.finish(&meta(i, l, r, &enc, &dec, basis)).unwrap();

    let ut = transpose(&u, latent, rank);
    let mut w = ModelWriter::new();
    let enc = [
        dense(&mut w, i, h, &e1w, &e1b, Activation::Tanh),
        dense(
            &mut w,
            h,
            r,
            &matmul(&ut, &e2w, rank, latent, hidden),
            &matmul(&ut, &e2b, rank, latent, 1),
            Activation::Identity,
        ),
    ];
    let dec = [
        dense(
            &mut w,
            r,
            h,
            &matmul(&d1w, &u, hidden, latent, rank),
            &d1b,
            Activation::Elu { alpha: 1.0 },
        ),
        dense(&mut w, h, i, &d2w, &d2b, Activation::Identity),
    ];
    let basis = Basis::Folded {
        stored: Some(w.tensor(&u)),
    };
    let folded = w.finish(&meta(i, l, r, &enc, &dec, basis)).unwrap();
    (AlignedBytes::new(&folded), AlignedBytes::new(&separate))
}

/// Encoder `input -> rank` and decoder `rank -> input`, one Dense layer each:
/// without normalization the scratch is two rank-wide buffers (x and x_hat
/// stay in the caller's slices); with one it holds the normalized x too.
#[test]
fn one_layer_networks_need_only_rank_wide_scratch() {
    let (n, r) = (6u32, 2u32);
    let ramp =
        |len: u32, step: f32| -> Vec<f32> { (0..len).map(|i| step * i as f32 - 0.5).collect() };
    for (norm, expected) in [(0, 2 * r), (1, 2 * n), (2, 2 * n)] {
        let mut w = ModelWriter::new();
        let normalization = match norm {
            0 => Normalization::None,
            1 => Normalization::Global {
                shift: 0.5,
                scale: 2.0,
            },
            _ => Normalization::PerFeature {
                shift: w.tensor(&ramp(n, 0.25)),
                scale: w.tensor(&[1.5; 6]),
            },
        };
        let enc = dense(
            &mut w,
            n,
            r,
            &ramp(n * r, 0.125),
            &ramp(r, 0.5),
            Activation::Tanh,
        );
        let dec = dense(
            &mut w,
            r,
            n,
            &ramp(n * r, 0.0625),
            &ramp(n, 0.25),
            Activation::Identity,
        );
        let mut m = meta(n, r, r, &[enc], &[dec], Basis::Folded { stored: None });
        m.normalization = normalization;
        let bytes = AlignedBytes::new(&w.finish(&m).unwrap());
        let file = read(&bytes).unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        assert_eq!(
            model.scratch_len(),
            expected as usize,
            "normalization {norm}"
        );
        let x = ramp(n, 0.375);
        let mut scratch = vec![f32::NAN; model.scratch_len()];
        let (mut alpha, mut x_hat) = ([0.0; 2], [0.0; 6]);
        model.encode(&x, &mut alpha, &mut scratch).unwrap();
        let (ra, rx) = reference_f64(&file, &x, 2);
        assert!(close(&alpha, &ra, 1e-5), "{alpha:?} vs {ra:?}");
        model.decode(&alpha, &mut x_hat, &mut scratch).unwrap();
        assert!(close(&x_hat, &rx, 1e-5), "{x_hat:?} vs {rx:?}");
        model.reconstruct(&x, &mut x_hat, &mut scratch).unwrap();
        assert!(close(&x_hat, &rx, 1e-5), "{x_hat:?} vs {rx:?}");
        model.decode(&alpha[..1], &mut x_hat, &mut scratch).unwrap();
        let (_, r1) = reference_f64(&file, &x, 1);
        assert!(close(&x_hat, &r1, 1e-5), "{x_hat:?} vs {r1:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn folded_and_separate_basis_agree(seed in any::<u64>(), x in prop::collection::vec(-1.0f32..1.0, 6), k in 1usize..=3) {
        let (folded, separate) = folded_and_separate(seed);
        let (f, s) = (Model::from_bytes(&folded).unwrap(), Model::from_bytes(&separate).unwrap());
        prop_assert!(f.scratch_len() <= s.scratch_len());
        prop_assert_eq!(f.basis(), s.basis());
        let mut scratch = vec![0.0; s.scratch_len()];
        let (mut af, mut as_) = ([0.0; 3], [0.0; 3]);
        f.encode(&x, &mut af, &mut scratch).unwrap();
        s.encode(&x, &mut as_, &mut scratch).unwrap();
        prop_assert!(close(&af, &as_, 1e-5), "{:?} vs {:?}", af, as_);
        let (mut xf, mut xs) = ([0.0; 6], [0.0; 6]);
        f.decode(&as_[..k], &mut xf, &mut scratch).unwrap();
        s.decode(&as_[..k], &mut xs, &mut scratch).unwrap();
        prop_assert!(close(&xf, &xs, 1e-5), "{:?} vs {:?}", xf, xs);
        f.reconstruct(&x, &mut xf, &mut scratch).unwrap();
        s.reconstruct(&x, &mut xs, &mut scratch).unwrap();
        prop_assert!(close(&xf, &xs, 1e-5), "{:?} vs {:?}", xf, xs);
    }

    /// Random valid models: every operation works with exactly
    /// `scratch_len()` floats, and progressive decoding pads with zeros.
    #[test]
    fn random_models_run(seed in any::<u64>(), extra in 0usize..3) {
        let (_, bytes) = random_model(seed);
        let bytes = AlignedBytes::new(&bytes);
        let m = Model::from_bytes(&bytes).unwrap();
        let mut scratch = vec![f32::NAN; m.scratch_len() + extra];
        let x: Vec<f32> = (0..m.input_dim()).map(|i| i as f32 * 0.25 - 0.5).collect();
        let (mut alpha, mut x_hat, mut full) = (vec![0.0; m.rank()], vec![0.0; m.input_dim()], vec![0.0; m.input_dim()]);
        m.encode(&x, &mut alpha, &mut scratch).unwrap();
        m.decode(&alpha, &mut full, &mut scratch).unwrap();
        m.reconstruct(&x, &mut x_hat, &mut scratch).unwrap();
        prop_assert!(x_hat.iter().all(|v| v.is_finite()));
        prop_assert_eq!(&x_hat, &full);
        let k = 1 + seed as usize % m.rank();
        let mut padded = alpha.clone();
        padded[k..].fill(0.0);
        m.decode(&alpha[..k], &mut x_hat, &mut scratch).unwrap();
        m.decode(&padded, &mut full, &mut scratch).unwrap();
        prop_assert!(close(&x_hat, &full, 1e-6));
    }

    /// Random valid models (normalization none, global and per-feature; one
    /// to three layers a side; folded or separate basis) with exactly
    /// `scratch_len()` floats match a scratch-free f64 reference.
    #[test]
    fn random_models_match_reference(seed in any::<u64>(), x in prop::collection::vec(-1.0f32..1.0, 6)) {
        let (meta, bytes) = random_model(seed);
        let bytes = AlignedBytes::new(&bytes);
        let (file, m) = (read(&bytes).unwrap(), Model::from_bytes(&bytes).unwrap());
        let x = &x[..m.input_dim()];
        let mut widest = m.rank().max(if matches!(meta.basis, Basis::Separate { .. }) { m.latent_dim() } else { 0 });
        if !matches!(meta.normalization, Normalization::None) {
            widest = widest.max(m.input_dim());
        }
        for l in &meta.encoder { widest = widest.max(l.dims().1 as usize); }
        for l in &meta.decoder { widest = widest.max(l.dims().0 as usize); }
        prop_assert_eq!(m.scratch_len(), 2 * widest);
        let mut scratch = vec![f32::NAN; m.scratch_len()];
        let (mut alpha, mut x_hat) = (vec![0.0; m.rank()], vec![0.0; m.input_dim()]);
        let k = 1 + seed as usize % m.rank();
        let (ra, rx) = reference_f64(&file, x, m.rank());
        m.encode(x, &mut alpha, &mut scratch).unwrap();
        prop_assert!(close(&alpha, &ra, 1e-4), "{:?} vs {:?}", alpha, ra);
        m.reconstruct(x, &mut x_hat, &mut scratch).unwrap();
        prop_assert!(close(&x_hat, &rx, 1e-4), "{:?} vs {:?}", x_hat, rx);
        let (_, rk) = reference_f64(&file, x, k);
        m.decode(&alpha[..k], &mut x_hat, &mut scratch).unwrap();
        prop_assert!(close(&x_hat, &rk, 1e-4), "{:?} vs {:?}", x_hat, rk);
    }
}

#[test]
fn sample_maps_through_mean_and_cholesky() {
    let bytes = AlignedBytes::new(&tiny_model().1);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut alpha = [0.0; 2];
    model.sample(&[1.0, 1.0], &mut alpha).unwrap();
    assert_eq!(alpha, [1.25, 2.25]); // [0.25, -0.25] + [[1, 0], [0.5, 2]] [1, 1]
    let (f, _) = folded_and_separate(1);
    assert_eq!(
        Model::from_bytes(&f)
            .unwrap()
            .sample(&[0.0; 3], &mut [0.0; 3]),
        Err(Error::NoSampler)
    );
}

#[test]
fn wrong_buffer_lengths_are_errors() {
    let bytes = AlignedBytes::new(&tiny_model().1);
    let m = Model::from_bytes(&bytes).unwrap();
    let (x, mut alpha, mut x_hat) = ([0.0; 4], [0.0; 2], [0.0; 4]);
    let mut scratch = [0.0; 8];
    let bad = |what, expected, got| {
        Err(Error::BadLength {
            what,
            expected,
            got,
        })
    };
    assert_eq!(m.encode(&x[..3], &mut alpha, &mut scratch), bad("x", 4, 3));
    assert_eq!(
        m.encode(&x, &mut [0.0; 3], &mut scratch),
        bad("alpha", 2, 3)
    );
    assert_eq!(
        m.encode(&x, &mut alpha, &mut scratch[..7]),
        Err(Error::ScratchTooSmall { needed: 8, got: 7 })
    );
    assert_eq!(
        m.decode(&[], &mut x_hat, &mut scratch),
        Err(Error::BadCoefficients { rank: 2, got: 0 })
    );
    assert_eq!(
        m.decode(&[0.0; 3], &mut x_hat, &mut scratch),
        Err(Error::BadCoefficients { rank: 2, got: 3 })
    );
    assert_eq!(
        m.decode(&alpha, &mut [0.0; 5], &mut scratch),
        bad("x_hat", 4, 5)
    );
    assert_eq!(
        m.reconstruct(&x, &mut x_hat, &mut []),
        Err(Error::ScratchTooSmall { needed: 8, got: 0 })
    );
    assert_eq!(
        m.reconstruct(&x, &mut x_hat[..1], &mut scratch),
        bad("x_hat", 4, 1)
    );
    assert_eq!(m.sample(&[0.0], &mut alpha), bad("z", 2, 1));
    assert_eq!(
        Model::interpolate(&[0.0; 2], &[0.0; 3], 0.5, &mut alpha),
        bad("b", 2, 3)
    );
    assert_eq!(
        Model::interpolate(&[0.0; 2], &[0.0; 2], 0.5, &mut [0.0; 1]),
        bad("out", 2, 1)
    );
}

#[test]
fn corrupt_truncated_and_misaligned_files_are_rejected() {
    let (_, bytes) = tiny_model();
    let read = |b: &[u8]| Model::from_bytes(&AlignedBytes::new(b)).map(|m| m.rank());
    assert_eq!(read(&bytes), Ok(2));
    for at in 0..bytes.len() {
        for delta in [1u8, 0x80, 0xFF] {
            let mut bad = bytes.clone();
            bad[at] = bad[at].wrapping_add(delta);
            assert!(
                matches!(read(&bad), Err(Error::Format(_))),
                "byte {at} + {delta} accepted"
            );
        }
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[at] ^= 1 << bit;
            assert!(read(&bad).is_err(), "bit {bit} of byte {at} accepted");
        }
        assert!(read(&bytes[..at]).is_err(), "truncation at {at} accepted");
    }
    let shifted = AlignedBytes::new(&[&[0u8][..], &bytes].concat());
    assert_eq!(
        Model::from_bytes(&shifted[1..]).err(),
        Some(Error::Format(FormatError::Misaligned))
    );
}

// ------------------------------------------------------------ convolutions

/// Largest relative error `|a - r| / max(|r|, 1)` of `got` against `want`.
fn rel_error(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(&a, &r)| (f64::from(a) - f64::from(r)).abs() / f64::from(r.abs()).max(1.0))
        .fold(0.0, f64::max)
}

/// Runs encode, decode (all and the first `k` coefficients) and reconstruct
/// with exactly `scratch_len()` floats of NaN-filled scratch; returns the
/// largest relative error against the f64 reference.
fn conv_model_error(bytes: &[u8], x: &[f32], k: usize) -> f64 {
    let bytes = AlignedBytes::new(bytes);
    let (file, m) = (read(&bytes).unwrap(), Model::from_bytes(&bytes).unwrap());
    let mut scratch = vec![f32::NAN; m.scratch_len()];
    let (mut alpha, mut x_hat, mut rec) = (
        vec![0.0; m.rank()],
        vec![0.0; m.input_dim()],
        vec![0.0; m.input_dim()],
    );
    let (ra, rx) = reference_f64(&file, x, m.rank());
    m.encode(x, &mut alpha, &mut scratch).unwrap();
    m.reconstruct(x, &mut rec, &mut scratch).unwrap();
    m.decode(&alpha, &mut x_hat, &mut scratch).unwrap();
    assert_eq!(rec, x_hat, "reconstruct == decode(encode(x))");
    let mut err = rel_error(&alpha, &ra).max(rel_error(&rec, &rx));
    let k = k.clamp(1, m.rank());
    let (_, rk) = reference_f64(&file, x, k);
    m.decode(&alpha[..k], &mut x_hat, &mut scratch).unwrap();
    err = err.max(rel_error(&x_hat, &rk));
    assert!(x_hat.iter().all(|v| v.is_finite()));
    err
}

/// The golden CNN (Conv2d + Dense encoder, Dense + ConvTranspose2d decoder).
#[test]
fn tiny_cnn_matches_reference() {
    let (_, bytes) = tiny_cnn_model();
    let x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
    for k in 1..=2 {
        let err = conv_model_error(&bytes, &x, k);
        assert!(err <= 1e-5, "relative error {err:e}");
    }
    let model_bytes = AlignedBytes::new(&bytes);
    let m = Model::from_bytes(&model_bytes).unwrap();
    assert_eq!(m.scratch_len(), 16); // 2 x 8: conv output / transposed input
}

/// A conv encoder and a transposed-conv decoder that invert each other:
/// `Conv2d(1 -> 4, k 2, s 2)` with one-hot kernels is space-to-depth, and
/// the `ConvTranspose2d(4 -> 1, k 2, s 2)` with the same weights is
/// depth-to-space, so `decode(encode(x)) = x` exactly (rank 16 = input).
#[test]
fn conv_encoder_and_transposed_decoder_round_trip_exactly() {
    let one_hot: Vec<f32> = (0..16)
        .map(|i| if i % 5 == 0 { 1.0 } else { 0.0 })
        .collect();
    let mut w = ModelWriter::new();
    let geometry = |w: &mut ModelWriter, ci, hw, co| Conv {
        in_channels: ci,
        in_height: hw,
        in_width: hw,
        out_channels: co,
        kernel: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
        weight: w.tensor(&one_hot),
        bias: w.tensor(&vec![0.0; co as usize]),
        activation: Activation::Identity,
    };
    let down = Layer::Conv2d(geometry(&mut w, 1, 4, 4));
    let up = Layer::ConvTranspose2d {
        conv: geometry(&mut w, 4, 2, 1),
        output_padding: [0, 0],
    };
    let bytes = w
        .finish(&meta(
            16,
            16,
            16,
            &[down],
            &[up],
            Basis::Folded { stored: None },
        ))
        .unwrap();
    let bytes = AlignedBytes::new(&bytes);
    let m = Model::from_bytes(&bytes).unwrap();
    let x: Vec<f32> = (0..16).map(|i| i as f32 - 7.5).collect();
    let (mut alpha, mut x_hat) = ([0.0; 16], [0.0; 16]);
    let mut scratch = vec![f32::NAN; m.scratch_len()];
    m.encode(&x, &mut alpha, &mut scratch).unwrap();
    // Channel c holds pixel (c / 2, c % 2) of every 2 x 2 block.
    assert_eq!(alpha[..4], [x[0], x[2], x[8], x[10]]);
    assert_eq!(alpha[4..8], [x[1], x[3], x[9], x[11]]);
    m.decode(&alpha, &mut x_hat, &mut scratch).unwrap();
    assert_eq!(x_hat[..], x[..]);
    m.reconstruct(&x, &mut x_hat, &mut scratch).unwrap();
    assert_eq!(x_hat[..], x[..]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random convolutional models (both kinds on both sides, every
    /// activation, padding up to the kernel, any normalization and basis)
    /// match the f64 reference within a relative error of 1e-5.
    #[test]
    fn random_conv_models_match_reference(seed in any::<u64>(), xs in prop::collection::vec(-1.0f32..1.0, 98)) {
        let (meta, bytes) = random_conv_model(seed);
        let x = &xs[..meta.input_dim as usize];
        let err = conv_model_error(&bytes, x, 1 + seed as usize % meta.rank as usize);
        prop_assert!(err <= 1e-5, "seed {}: relative error {:e}", seed, err);
    }
}
