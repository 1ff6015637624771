//! `trainer import`: the vendored MLPerf Tiny AD01 models (f32 and int8)
//! and small fixtures (written by `bench/ad01_parity.py --fixtures`) give
//! TFLite Micro's outputs through our runtime (int8: bit for bit); bad files give one-line errors naming the
//! problem, never a panic.

mod common;

use std::path::PathBuf;

use ndarray::{Array2, ArrayView1};
use ndarray_npy::read_npy;
use rrae_format::{quant::quantize, AlignedBytes};
use rrae_runtime::Model;
use rrae_trainer::tflite::{import, ImportError, ImportOptions, Kind};

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(data(rel)).unwrap()
}

fn npy(rel: &str) -> Array2<f32> {
    read_npy(data(rel)).unwrap()
}

/// AD01's window `i`: frames i..i+4 of the 200 x 128 log-mel input.
fn ad01_window(i: usize) -> Vec<f32> {
    let raw = read("ad01/normal_id_01_00000000_hist_librosa.bin");
    raw[512 * i..512 * i + 4 * 640]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Reconstructs `x` with the imported model through the runtime.
fn reconstruct(rrae: &[u8], x: &[f32]) -> Vec<f32> {
    let bytes = AlignedBytes::new(rrae);
    let m = Model::from_bytes(&bytes).unwrap();
    let mut scratch = vec![0.0; m.scratch_len()];
    let mut y = vec![0.0; m.input_dim()];
    m.reconstruct(x, &mut y, &mut scratch).unwrap();
    y
}

/// max|a - b| / max|b|.
fn rel_err(a: &[f32], b: ArrayView1<f32>) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

fn import_err(bytes: &[u8]) -> ImportError {
    import(bytes, &ImportOptions::default()).unwrap_err()
}

#[test]
fn ad01_f32_matches_tflm() {
    let m = import(&read("ad01/ad01_fp32.tflite"), &ImportOptions::default()).unwrap();
    // 640 -> 128 x 4 -> 8 -> 128 x 4 -> 640: the 8-wide layer is the code.
    assert_eq!(m.layers.len(), 10);
    assert_eq!((m.code_layer, m.rank), (4, 8));
    assert!(m.layers.iter().all(|s| s.kind == Kind::Dense));
    let expected = npy("ad01/expected_tflm.npy");
    for (row, window) in [0, 97, 195].into_iter().enumerate() {
        let y = reconstruct(&m.bytes, &ad01_window(window));
        let e = rel_err(&y, expected.row(row));
        assert!(e <= 1e-5, "window {window}: relative error {e}");
    }
}

#[test]
fn code_layer_override_moves_the_split() {
    let bytes = read("ad01/ad01_fp32.tflite");
    let opts = |c| ImportOptions {
        code_layer: Some(c),
        name: "ad01".into(),
    };
    let m = import(&bytes, &opts(2)).unwrap();
    assert_eq!((m.code_layer, m.rank), (2, 128));
    // The split does not change the function.
    let x = ad01_window(5);
    let base = import(&bytes, &ImportOptions::default()).unwrap();
    assert_eq!(reconstruct(&m.bytes, &x), reconstruct(&base.bytes, &x));
    let e = import(&bytes, &opts(9)).unwrap_err().to_string();
    assert!(e.contains("--code-layer 9 is out of range"), "{e}");
}

#[test]
fn bench_and_conv_fixtures_match_tflm() {
    for name in ["bench-ae", "conv"] {
        let m = import(
            &read(&format!("tflite/{name}.tflite")),
            &ImportOptions::default(),
        )
        .unwrap();
        let (x, want) = (
            npy(&format!("tflite/{name}.x.npy")),
            npy(&format!("tflite/{name}.tflm.npy")),
        );
        for (xi, wi) in x.rows().into_iter().zip(want.rows()) {
            let y = reconstruct(&m.bytes, xi.as_slice().unwrap());
            let e = rel_err(&y, wi);
            assert!(e <= 1e-5, "{name}: relative error {e}");
        }
    }
}

/// AD01 int8: TFLite's QUANTIZE of window `i` with the model's input
/// parameters, our int8 reconstruction of it.
fn reconstruct_int8(m: &Model<'_>, x: &[f32]) -> Vec<i8> {
    let p = m.input_qparams().unwrap();
    let xq: Vec<i8> = x.iter().map(|&v| quantize(v, p)).collect();
    let mut scratch = vec![0.0; m.scratch_len()];
    let mut y = vec![0i8; m.input_dim()];
    m.reconstruct_i8(&xq, &mut y, &mut scratch).unwrap();
    y
}

#[test]
fn ad01_int8_is_bit_identical_with_tflm() {
    let m = import(&read("ad01/ad01_int8.tflite"), &ImportOptions::default()).unwrap();
    assert_eq!((m.layers.len(), m.code_layer, m.rank), (10, 4, 8));
    assert!(m.layers.iter().all(|s| s.params.is_int8()));
    let bytes = AlignedBytes::new(&m.bytes);
    let model = Model::from_bytes(&bytes).unwrap();
    assert!(model.is_quantized());
    // TFLM's int8 outputs (bench/ad01_parity.py --fixtures) for windows 0, 97, 195.
    let expected: Array2<i8> = read_npy(data("ad01/expected_tflm_int8.npy")).unwrap();
    for (row, window) in [0, 97, 195].into_iter().enumerate() {
        let y = reconstruct_int8(&model, &ad01_window(window));
        assert_eq!(y, expected.row(row).to_vec(), "window {window}");
    }
    // The anomaly score over all 196 windows, through the f32 API (quantize,
    // int8 layers, dequantize), equals TFLM's up to the order of the sums.
    let meta: serde_json::Value = serde_json::from_slice(&read("ad01/expected_tflm.json")).unwrap();
    let want = meta["tflm_int8_anomaly_score_all_windows"]
        .as_f64()
        .unwrap();
    let score = (0..196)
        .map(|w| {
            let x = ad01_window(w);
            let y = reconstruct(&m.bytes, &x);
            let se: f64 = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                .sum();
            se / x.len() as f64
        })
        .sum::<f64>()
        / 196.0;
    assert!(
        (score - want).abs() <= 1e-12 * want,
        "{score} vs TFLM {want}"
    );
}

#[test]
fn int8_convolutions_match_tflm() {
    // QUANTIZE, int8 CONV_2D (per-channel, RELU6), FC (RELU), FC,
    // TRANSPOSE_CONV (per-channel), DEQUANTIZE: equal to TFLM's f32 outputs
    // (both dequantize the same int8 values).
    let m = import(&read("tflite/conv-int8.tflite"), &ImportOptions::default()).unwrap();
    assert!(m.layers.iter().all(|s| s.params.is_int8()));
    let kinds: Vec<_> = m.layers.iter().map(|s| s.kind).collect();
    assert!(matches!(
        kinds[..],
        [
            Kind::Conv2d(_),
            Kind::Dense,
            Kind::Dense,
            Kind::ConvTranspose2d(..)
        ]
    ));
    let (x, want) = (
        npy("tflite/conv-int8.x.npy"),
        npy("tflite/conv-int8.tflm.npy"),
    );
    for (xi, wi) in x.rows().into_iter().zip(want.rows()) {
        let y = reconstruct(&m.bytes, xi.as_slice().unwrap());
        assert_eq!(y, wi.to_vec());
    }
}

#[test]
fn int8_errors_name_the_operator() {
    let e = import_err(&read("tflite/int8-tanh.tflite")).to_string();
    assert!(
        e.starts_with(
            "operator 1 (CONV_2D): fused activation TANH on an int8 layer is not supported"
        ),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn unsupported_op_names_it_and_its_index() {
    let e = import_err(&read("tflite/unsupported-op.tflite")).to_string();
    assert!(e.starts_with("operator 1 (SOFTMAX): not supported"), "{e}");
}

#[test]
fn truncated_or_corrupt_buffers_are_errors() {
    let bytes = read("tflite/bench-ae.tflite");
    for len in [0, 3, 8, 64, bytes.len() / 2, bytes.len() - 1] {
        let e = import_err(&bytes[..len]);
        assert!(!e.to_string().contains('\n'), "{e}");
    }
    // Every single-byte corruption: an error or a valid import, never a
    // panic (an f32 model and an int8 one).
    for bytes in [bytes, read("tflite/conv-int8.tflite")] {
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xA5;
            let _ = import(&b, &ImportOptions::default());
        }
    }
}

#[test]
fn cli_import_then_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ad01.rrae");
    let model = data("ad01/ad01_fp32.tflite");
    let stdout = common::ok(&["import", common::s(&model), "--out", common::s(&out)]);
    assert!(
        stdout.contains("layer 4 (operator 4): dense 128 -> 8  <- code"),
        "{stdout}"
    );
    let info = common::ok(&["inspect", common::s(&out)]);
    assert!(
        info.contains("input_dim: 640, latent_dim: 8, rank k: 8"),
        "{info}"
    );
    let int8 = data("ad01/ad01_int8.tflite");
    let stdout = common::ok(&["import", common::s(&int8), "--out", common::s(&out)]);
    assert!(
        stdout.contains("layer 4 (operator 4): int8 dense 128 -> 8  <- code"),
        "{stdout}"
    );
    let info = common::ok(&["inspect", common::s(&out)]);
    assert!(info.contains("format version: 1.2"), "{info}");
    let tanh = data("tflite/int8-tanh.tflite");
    common::fails(
        &["import", common::s(&tanh), "--out", common::s(&out)],
        "operator 1 (CONV_2D): fused activation TANH",
    );
}
