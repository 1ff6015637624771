//! `host-gen ad01`: expected device results for the MLPerf Tiny AD01
//! autoencoder (`trainer import tests/data/ad01/ad01_fp32.tflite`, or
//! `ad01_int8.tflite`) on the real log-mel input of `tests/data/ad01/`,
//! computed by rrae-runtime on the host, for
//! `firmware-example/src/bin/ad01.rs`. For an int8 model it also writes the
//! quantized checked windows (`XQ`) and their int8 reconstructions
//! (`QX_HAT`, `reconstruct_i8`: bit-identical with TFLite Micro, see
//! `trainer/tests/tflite_import.rs`).
//!
//! The input is 200 frames x 128 mel bins (f32 little-endian, frame-major);
//! window `i` is floats `[128 i, 128 i + 640)` (196 windows). The anomaly
//! score is the mean over all windows of the mean squared reconstruction
//! error, summed in f32 in index order ([`anomaly_score`]; the device sums
//! in the same order, so the two are bit-identical).

use std::fmt::Write as _;
use std::path::Path;

use rrae_format::quant::quantize;
use rrae_format::AlignedBytes;
use rrae_runtime::Model;

use crate::{mat_lit, vec_lit, Res};

/// Mel bins per frame.
const MELS: usize = 128;
/// Frames per window.
const FRAMES: usize = 5;

/// Every window of the raw input: `[128 i, 128 i + 640)` for i = 0..=n-5.
fn windows(raw: &[u8]) -> Res<Vec<Vec<f32>>> {
    if !raw.len().is_multiple_of(4) || raw.len() / 4 < MELS * FRAMES {
        return Err(format!(
            "input: {} bytes is not a whole number of >= 5 frames of 128 f32",
            raw.len()
        ));
    }
    let flat: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let n = flat.len() / MELS - FRAMES + 1;
    Ok((0..n)
        .map(|i| flat[MELS * i..MELS * i + MELS * FRAMES].to_vec())
        .collect())
}

/// Mean over windows of the mean squared error, in f32, index order
/// (`firmware-example/src/bin/ad01.rs` sums the same way).
fn anomaly_score(sq_errs: &[f32]) -> f32 {
    sq_errs.iter().fold(0.0f32, |s, e| s + e) / sq_errs.len() as f32
}

/// Mean squared error of one window, summed in index order.
fn mse(x: &[f32], x_hat: &[f32]) -> f32 {
    x.iter()
        .zip(x_hat)
        .fold(0.0f32, |s, (a, b)| s + (a - b) * (a - b))
        / x.len() as f32
}

/// Rows of i8 as a Rust array literal.
fn i8_mat_lit(rows: &[Vec<i8>]) -> String {
    let inner: Vec<String> = rows.iter().map(|r| format!("{r:?}")).collect();
    format!("[\n    {},\n]", inner.join(",\n    "))
}

/// `host-gen ad01 <ad01.rrae> <input.bin> <out.rs> [--windows I,J,..]`.
pub fn ad01(args: &[String]) -> Res<()> {
    let [model_path, input_path, out_path, rest @ ..] = args else {
        return Err(crate::USAGE.into());
    };
    let mut picked = vec![0usize, 97, 195];
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--windows", Some(v)) => {
                picked = v
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|e| format!("--windows {v}: {e}")))
                    .collect::<Res<_>>()?
            }
            _ => {
                return Err(format!(
                    "unknown or incomplete option {a}\n{}",
                    crate::USAGE
                ))
            }
        }
    }
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
    let raw = read(model_path)?;
    let bytes = AlignedBytes::new(&raw);
    let model = Model::from_bytes(&bytes).map_err(|e| format!("Model::from_bytes: {e:?}"))?;
    let header = rrae_format::read(&bytes)
        .map_err(|e| format!("read: {e:?}"))?
        .header;
    let all = windows(&read(input_path)?)?;
    let (dim, rank) = (model.input_dim(), model.rank());
    if dim != MELS * FRAMES {
        return Err(format!(
            "model input_dim {dim}, AD01 windows have {}",
            MELS * FRAMES
        ));
    }
    if let Some(bad) = picked.iter().find(|&&i| i >= all.len()) {
        return Err(format!(
            "--windows: {bad} is out of range (the input has {} windows)",
            all.len()
        ));
    }
    let mut scratch = vec![0.0f32; header.scratch as usize];
    let mut sq_errs = Vec::with_capacity(all.len());
    let mut x_hat = vec![0.0f32; dim];
    for x in &all {
        model
            .reconstruct(x, &mut x_hat, &mut scratch)
            .map_err(|e| format!("reconstruct: {e:?}"))?;
        sq_errs.push(mse(x, &x_hat));
    }
    let (mut alphas, mut x_hats) = (Vec::new(), Vec::new());
    for &i in &picked {
        let mut alpha = vec![0.0f32; rank];
        model
            .encode(&all[i], &mut alpha, &mut scratch)
            .map_err(|e| format!("encode: {e:?}"))?;
        model
            .decode(&alpha, &mut x_hat, &mut scratch)
            .map_err(|e| format!("decode: {e:?}"))?;
        alphas.push(alpha);
        x_hats.push(x_hat.clone());
    }
    let score = anomaly_score(&sq_errs);
    // Int8 models: the quantized windows and their int8 reconstructions.
    let (mut xq, mut qx_hat) = (Vec::new(), Vec::new());
    if let Some(p) = model.input_qparams() {
        for &i in &picked {
            let x: Vec<i8> = all[i].iter().map(|&v| quantize(v, p)).collect();
            let mut y = vec![0i8; dim];
            model
                .reconstruct_i8(&x, &mut y, &mut scratch)
                .map_err(|e| format!("reconstruct_i8: {e:?}"))?;
            xq.push(x);
            qx_hat.push(y);
        }
    }

    let mut s = String::new();
    let w = &mut s;
    let name = Path::new(model_path)
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    let _ = writeln!(w, "// @generated by firmware-example/host-gen `ad01` (`scripts/firmware.sh --regen`). Do not edit.");
    let source = if model.is_quantized() {
        "ad01_int8"
    } else {
        "ad01_fp32"
    };
    let _ = writeln!(
        w,
        "// Model: {name} ({} bytes, `trainer import tests/data/ad01/{source}.tflite`).",
        raw.len()
    );
    let _ = writeln!(w, "// Every value is rrae-runtime's result on the host for the windows of tests/data/ad01's input.\n");
    let _ = writeln!(w, "/// Length of the model in bytes (guards against a model/expected mismatch).\npub const MODEL_LEN: usize = {};", raw.len());
    let _ = writeln!(
        w,
        "/// CRC-32 of the model body, from its header.\npub const MODEL_BODY_CRC: u32 = {:#010x};",
        header.body_crc
    );
    let _ = writeln!(w, "/// Floats of scratch the runtime needs (the model header's value).\npub const SCRATCH_FLOATS: usize = {};", header.scratch);
    let _ = writeln!(
        w,
        "/// Floats per window (5 frames x 128 mel bins).\npub const INPUT_DIM: usize = {dim};"
    );
    let _ = writeln!(
        w,
        "/// Code width (the narrowest layer).\npub const RANK: usize = {rank};"
    );
    let _ = writeln!(
        w,
        "/// Windows in the input.\npub const N_WINDOWS: usize = {};",
        all.len()
    );
    let _ = writeln!(w, "/// Windows whose results are checked value by value.\npub static WINDOWS: [usize; {}] = {picked:?};", picked.len());
    let _ = writeln!(
        w,
        "/// Host `encode` of each checked window.\npub static ALPHA: [[f32; RANK]; {}] = {};",
        picked.len(),
        mat_lit(&alphas)?
    );
    let _ = writeln!(
        w,
        "/// Host `decode(ALPHA[i])`.\npub static X_HAT: [[f32; INPUT_DIM]; {}] = {};",
        picked.len(),
        mat_lit(&x_hats)?
    );
    let _ = writeln!(w, "/// Host anomaly score: mean over all windows of the mean squared reconstruction error.\npub const SCORE: f32 = {};", vec_lit(&[score])?.trim_matches(['[', ']']));
    if !xq.is_empty() {
        let _ = writeln!(
            w,
            "/// Each checked window quantized with the model's input parameters (TFLite's QUANTIZE).\npub static XQ: [[i8; INPUT_DIM]; {}] = {};",
            picked.len(),
            i8_mat_lit(&xq)
        );
        let _ = writeln!(
            w,
            "/// Host `reconstruct_i8(XQ[i])`.\npub static QX_HAT: [[i8; INPUT_DIM]; {}] = {};",
            picked.len(),
            i8_mat_lit(&qx_hat)
        );
    }
    std::fs::write(out_path, s).map_err(|e| format!("{out_path}: {e}"))?;
    eprintln!(
        "host-gen: {out_path} ({} windows, score {score:?}, scratch {} floats)",
        all.len(),
        header.scratch
    );
    Ok(())
}
