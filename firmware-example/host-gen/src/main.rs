//! Host-side generator for `firmware-example/`.
//!
//! ```text
//! host-gen placeholder-model <out.rrae>
//!     Writes a deterministic small random MLP (rank 3) with rrae-format's
//!     ModelWriter. Only a stand-in for when no trained model is at hand.
//! host-gen cnn-model <out-dir> [--from <trained.rrae>] [--source TEXT]
//!     Writes <out-dir>/cnn.rrae: the trained CNN `--from` names (first layer a
//!     Conv2d on 1 x S x S images; `scripts/firmware.sh --regen` trains one on
//!     `2d_gaussian_shift_scale`), else a deterministic small random CNN on
//!     1x16x16 images (Conv2d stride 2 -> Dense -> rank 2 -> Dense ->
//!     ConvTranspose2d stride 2); and <out-dir>/cnn_expected.rs: Gaussian-blob
//!     test images and the f64 reference's coefficients and reconstructions
//!     (rrae_format::testing::reference_f64), which the firmware must match.
//! host-gen expected <model.rrae> <out-dir> [--inputs <rows.npy|rows.csv> | --dataset NAME]
//!                   [--cases N] [--source TEXT]
//!     Copies the model to <out-dir>/model.rrae and runs rrae-runtime on the
//!     host for N inputs (evenly spaced rows of the given file or of the test
//!     split of a trainer built-in data set (only `shift`), else
//!     deterministic shifted bumps), writing every result the firmware checks
//!     to <out-dir>/expected.rs.
//! host-gen ad01 <ad01.rrae> <input.bin> <out.rs> [--windows I,J,..]
//!     Expected results of the MLPerf Tiny AD01 model on its real input
//!     (see the `ad01` module) for `src/bin/ad01.rs`.
//! host-gen quantize <f32.rrae> <out-int8.rrae>
//!     A hand-quantized int8 copy of the f32 `shift` MLP (see the `quantize`
//!     module), for `src/bin/shift.rs --features int8`.
//! ```
//!
//! The firmware runs the same rrae-runtime source on the Cortex-M4F and must
//! reproduce these values (see `firmware-example/src/main.rs` for the
//! tolerance).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rrae_format::meta::{Activation, Basis, Conv, Layer, ModelMeta, Normalization, Sampler};
use rrae_format::testing::{conv3x3_s2, reference_f64, Rng};
use rrae_format::{AlignedBytes, ModelWriter};
use rrae_runtime::Model;

mod ad01;
mod quantize;

type Res<T> = Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("placeholder-model") if args.len() == 2 => placeholder_model(Path::new(&args[1])),
        Some("cnn-model") if args.len() >= 2 => cnn_model(Path::new(&args[1]), &args[2..]),
        Some("expected") if args.len() >= 3 => expected(&args[1..]),
        Some("ad01") => ad01::ad01(&args[1..]),
        Some("quantize") => quantize::quantize(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("host-gen: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage:\n  host-gen placeholder-model <out.rrae>\n  host-gen cnn-model <out-dir> [--from <trained.rrae> --source TEXT]\n  \
    host-gen expected <model.rrae> <out-dir> [--inputs <rows.npy|rows.csv> | --dataset NAME] [--cases N] [--source TEXT]\n  \
    host-gen ad01 <ad01.rrae> <input.bin> <out.rs> [--windows I,J,..]\n  \
    host-gen quantize <f32.rrae> <out-int8.rrae>";

// ---------------------------------------------------------------- placeholder

fn dense(w: &mut ModelWriter, rng: &mut Rng, i: usize, o: usize, activation: Activation) -> Layer {
    let scale = (3.0 / i as f32).sqrt(); // variance-preserving uniform init
    let weight: Vec<f32> = (0..i * o).map(|_| rng.uniform(scale)).collect();
    let bias: Vec<f32> = (0..o).map(|_| rng.uniform(0.1)).collect();
    Layer::Dense {
        in_dim: i as u32,
        out_dim: o as u32,
        weight: w.tensor(&weight),
        bias: w.tensor(&bias),
        activation,
    }
}

fn placeholder_model(out: &Path) -> Res<()> {
    const T: usize = 64;
    const H: usize = 32;
    const K: usize = 3;
    let mut rng = Rng::new(0x5252_4145); // "RRAE"
    let mut w = ModelWriter::new();
    let enc = [
        dense(&mut w, &mut rng, T, H, Activation::Tanh),
        dense(&mut w, &mut rng, H, K, Activation::Identity),
    ];
    let dec = [
        dense(&mut w, &mut rng, K, H, Activation::Tanh),
        dense(&mut w, &mut rng, H, T, Activation::Identity),
    ];
    let mean = w.tensor(&[0.1, -0.2, 0.05]);
    let chol = w.tensor(&[1.0, 0.0, 0.0, 0.3, 0.8, 0.0, -0.1, 0.2, 0.5]);
    let meta = ModelMeta {
        name: "placeholder-random-mlp",
        input_dim: T as u32,
        latent_dim: K as u32,
        rank: K as u32,
        normalization: Normalization::Global {
            shift: 0.5,
            scale: 0.25,
        },
        encoder: heapless::Vec::from_slice(&enc).map_err(|_| "too many layers")?,
        decoder: heapless::Vec::from_slice(&dec).map_err(|_| "too many layers")?,
        basis: Basis::Folded { stored: None },
        sampler: Some(Sampler { mean, chol }),
        params: None,
        singular_values: None,
    };
    let bytes = w
        .finish(&meta)
        .map_err(|e| format!("ModelWriter::finish: {e:?}"))?;
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("host-gen: wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}

// ---------------------------------------------------------------------- cnn

/// Image side of the CNN example (1 channel).
const CNN_SIDE: u32 = 16;
/// Channels after the stride-2 convolution (8 x 8 each).
const CNN_CHANNELS: u32 = 4;
/// Coefficients of the CNN example.
const CNN_RANK: u32 = 2;
/// Test images of the CNN example.
const CNN_CASES: usize = 3;

/// A 3x3, stride 2, padding 1 convolution geometry (either kind) with
/// random weights of `fan_in` and biases.
#[allow(clippy::too_many_arguments)]
fn cnn_conv(
    w: &mut ModelWriter,
    rng: &mut Rng,
    in_channels: u32,
    side: u32,
    out_channels: u32,
    fan_in: u32,
    activation: Activation,
) -> Conv {
    let n = in_channels * out_channels * 9;
    let scale = (3.0 / fan_in as f32).sqrt();
    let weight: Vec<f32> = (0..n).map(|_| rng.uniform(scale)).collect();
    let bias: Vec<f32> = (0..out_channels).map(|_| rng.uniform(0.1)).collect();
    conv3x3_s2(
        w,
        in_channels,
        side,
        out_channels,
        &weight,
        &bias,
        activation,
    )
}

/// The CNN example: 1x16x16 -> Conv2d(1->4, 3x3, s2, p1, relu) -> 4x8x8 ->
/// Dense 256 -> 2; Dense 2 -> 256 (relu) -> 4x8x8 ->
/// ConvTranspose2d(4->1, 3x3, s2, p1, output_padding 1) -> 1x16x16.
fn cnn_meta(w: &mut ModelWriter) -> Res<ModelMeta<'static>> {
    let mut rng = Rng::new(0x0043_4E4E); // "CNN"
    let half = CNN_SIDE / 2;
    let hidden = (CNN_CHANNELS * half * half) as usize;
    let down = Layer::Conv2d(cnn_conv(
        w,
        &mut rng,
        1,
        CNN_SIDE,
        CNN_CHANNELS,
        9,
        Activation::Relu,
    ));
    let enc = dense(w, &mut rng, hidden, CNN_RANK as usize, Activation::Identity);
    let dec = dense(w, &mut rng, CNN_RANK as usize, hidden, Activation::Relu);
    let up = Layer::ConvTranspose2d {
        conv: cnn_conv(
            w,
            &mut rng,
            CNN_CHANNELS,
            half,
            1,
            CNN_CHANNELS * 9,
            Activation::Identity,
        ),
        output_padding: [1, 1],
    };
    Ok(ModelMeta {
        name: "placeholder-random-cnn",
        input_dim: CNN_SIDE * CNN_SIDE,
        latent_dim: CNN_RANK,
        rank: CNN_RANK,
        normalization: Normalization::Global {
            shift: 0.25,
            scale: 0.5,
        },
        encoder: heapless::Vec::from_slice(&[down, enc]).map_err(|_| "too many layers")?,
        decoder: heapless::Vec::from_slice(&[dec, up]).map_err(|_| "too many layers")?,
        basis: Basis::Folded { stored: None },
        sampler: None,
        params: None,
        singular_values: None,
    })
}

/// Deterministic test images, as the trainer's `2d_gaussian_shift_scale`
/// draws them: `exp(-((x - x0)^2 + (y - y0)^2) / (2 * 0.2^2))` on a
/// `side x side` grid over `[-1, 1]^2` (rows along y), one centre per case
/// spread over `[-0.45, 0.45]^2`.
fn blobs(side: usize, cases: usize) -> Vec<Vec<f32>> {
    let coord = |i: usize| -1.0 + 2.0 * i as f32 / (side - 1).max(1) as f32;
    (0..cases)
        .map(|c| {
            let t = c as f32 / (cases - 1).max(1) as f32;
            let (y0, x0) = (-0.45 + 0.9 * t, 0.3 - 0.6 * t);
            (0..side * side)
                .map(|i| {
                    let (y, x) = (coord(i / side), coord(i % side));
                    (-((y - y0).powi(2) + (x - x0).powi(2)) / (2.0 * 0.2 * 0.2)).exp()
                })
                .collect()
        })
        .collect()
}

/// The CNN model's bytes and a line on where they come from: the file
/// `--from` names (a trained model), else the deterministic random one.
fn cnn_source(args: &[String]) -> Res<(Vec<u8>, String)> {
    let (mut from, mut source) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--from" => from = Some(PathBuf::from(val()?)),
            "--source" => source = Some(val()?),
            _ => return Err(format!("unknown option {a}\n{USAGE}")),
        }
    }
    match from {
        Some(path) => {
            let raw = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let source = source.unwrap_or_else(|| format!("trained model {}", path.display()));
            Ok((raw, source))
        }
        None => {
            let mut w = ModelWriter::new();
            let meta = cnn_meta(&mut w)?;
            let raw = w
                .finish(&meta)
                .map_err(|e| format!("ModelWriter::finish: {e:?}"))?;
            Ok((
                raw,
                "deterministic random weights (host-gen, not trained)".into(),
            ))
        }
    }
}

/// Side of the square one-channel images a CNN model takes (from its first
/// convolution).
fn cnn_side(meta: &ModelMeta<'_>) -> Res<usize> {
    match meta.encoder.first() {
        Some(Layer::Conv2d(c)) if c.in_channels == 1 && c.in_height == c.in_width => {
            Ok(c.in_height as usize)
        }
        _ => Err(
            "the CNN example needs a model whose first layer is a Conv2d on 1 x S x S images"
                .into(),
        ),
    }
}

fn cnn_model(out_dir: &Path, args: &[String]) -> Res<()> {
    let (raw, source) = cnn_source(args)?;
    let bytes = AlignedBytes::new(&raw);
    let file = rrae_format::read(&bytes).map_err(|e| format!("read: {e:?}"))?;
    let meta = &file.meta;
    let side = cnn_side(meta)?;
    let (dim, rank) = (meta.input_dim as usize, meta.rank as usize);
    let inputs = blobs(side, CNN_CASES);
    let mut alphas = Vec::new();
    let mut x_hats = Vec::new();
    let mut x_hats_k1 = Vec::new();
    for x in &inputs {
        let (alpha, x_hat) = reference_f64(&file, x, rank);
        // Progressive decoding: the reference decodes the first coefficient only.
        let (_, x_hat_k1) = reference_f64(&file, x, 1);
        alphas.push(alpha);
        x_hats.push(x_hat);
        x_hats_k1.push(x_hat_k1);
    }
    // The host runtime must agree with the reference too (before the device does).
    let model = Model::from_bytes(&bytes).map_err(|e| format!("Model::from_bytes: {e:?}"))?;
    let mut scratch = vec![0.0f32; model.scratch_len()];
    for (x, (ra, rx)) in inputs.iter().zip(alphas.iter().zip(&x_hats)) {
        let (mut a, mut xh) = (vec![0.0; rank], vec![0.0; dim]);
        model
            .encode(x, &mut a, &mut scratch)
            .and_then(|()| model.decode(&a, &mut xh, &mut scratch))
            .map_err(|e| format!("host runtime: {e:?}"))?;
        let diff = |d: &[f32], r: &[f32]| {
            let scale = r.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            d.iter()
                .zip(r)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
                / scale
        };
        let worst = diff(&a, ra).max(diff(&xh, rx));
        if worst > 1e-5 {
            return Err(format!(
                "host runtime differs from the f64 reference by {worst:e}"
            ));
        }
    }

    let mut s = String::new();
    let w = &mut s;
    writeln!(
        w,
        "// @generated by firmware-example/host-gen (`host-gen cnn-model`, `scripts/firmware.sh --regen`). Do not edit."
    )
    .unwrap();
    writeln!(
        w,
        "// Model: {} ({} bytes), {source}.",
        meta.name,
        raw.len()
    )
    .unwrap();
    writeln!(
        w,
        "// Inputs: {CNN_CASES} Gaussian blobs on {side}x{side}. Expected values: the f64 reference \
         (rrae_format::testing::reference_f64), rounded to f32."
    )
    .unwrap();
    writeln!(w).unwrap();
    let header = file.header;
    writeln!(
        w,
        "/// Name stored in the CNN model.\npub const CNN_NAME: &str = {:?};",
        meta.name
    )
    .unwrap();
    writeln!(
        w,
        "/// Length of `cnn.rrae` in bytes.\npub const CNN_LEN: usize = {};",
        raw.len()
    )
    .unwrap();
    writeln!(w, "/// CRC-32 of the CNN model body, from its header.\npub const CNN_BODY_CRC: u32 = {:#010x};", header.body_crc).unwrap();
    writeln!(w, "/// Floats of scratch the CNN needs (its header's value).\npub const CNN_SCRATCH_FLOATS: usize = {};", header.scratch).unwrap();
    writeln!(w, "/// Image side (1 x S x S images).\npub const CNN_SIDE: usize = {side};\n/// Pixels per image.\npub const CNN_INPUT_DIM: usize = {dim};\n/// Where the model comes from.\npub const CNN_SOURCE: &str = {source:?};").unwrap();
    writeln!(
        w,
        "/// Coefficients per image.\npub const CNN_RANK: usize = {rank};"
    )
    .unwrap();
    writeln!(
        w,
        "/// Number of test images.\npub const CNN_CASES: usize = {CNN_CASES};"
    )
    .unwrap();
    writeln!(
        w,
        "/// Test images.\npub static CNN_INPUTS: [[f32; CNN_INPUT_DIM]; CNN_CASES] = {};",
        mat_lit(&inputs)?
    )
    .unwrap();
    writeln!(w, "/// Reference coefficients of each image.\npub static CNN_ALPHA: [[f32; CNN_RANK]; CNN_CASES] = {};", mat_lit(&alphas)?).unwrap();
    writeln!(w, "/// Reference reconstruction from all coefficients.\npub static CNN_X_HAT: [[f32; CNN_INPUT_DIM]; CNN_CASES] = {};", mat_lit(&x_hats)?).unwrap();
    writeln!(w, "/// Reference reconstruction from the first coefficient only.\npub static CNN_X_HAT_K1: [[f32; CNN_INPUT_DIM]; CNN_CASES] = {};", mat_lit(&x_hats_k1)?).unwrap();

    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let model_out = out_dir.join("cnn.rrae");
    std::fs::write(&model_out, &raw).map_err(|e| format!("{}: {e}", model_out.display()))?;
    let exp_out = out_dir.join("cnn_expected.rs");
    std::fs::write(&exp_out, s).map_err(|e| format!("{}: {e}", exp_out.display()))?;
    eprintln!(
        "host-gen: wrote {} ({} bytes, scratch {} floats) and {}",
        model_out.display(),
        raw.len(),
        header.scratch,
        exp_out.display()
    );
    Ok(())
}

// ------------------------------------------------------------------- inputs

/// Rows of a 2-D `.npy` (`<f4`/`<f8`, C order) or `.csv` (numbers, optional header line).
fn load_rows(path: &Path) -> Res<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "npy") {
        load_npy(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    } else {
        let text = String::from_utf8(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut rows = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let row: Result<Vec<f32>, _> =
                line.split(',').map(|c| c.trim().parse::<f32>()).collect();
            match row {
                Ok(r) => rows.push(r),
                Err(_) if n == 0 => continue, // header line
                Err(e) => return Err(format!("{}:{}: {e}", path.display(), n + 1)),
            }
        }
        Ok(rows)
    }
}

fn load_npy(b: &[u8]) -> Res<Vec<Vec<f32>>> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        _ => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
    };
    let header = std::str::from_utf8(b.get(start..start + hlen).ok_or("truncated header")?)
        .map_err(|e| e.to_string())?;
    let descr = if header.contains("'<f4'") {
        4
    } else if header.contains("'<f8'") {
        8
    } else {
        return Err(format!("unsupported dtype in {header}"));
    };
    if header.contains("'fortran_order': True") {
        return Err("fortran order not supported".into());
    }
    let shape = header.split("'shape':").nth(1).ok_or("no shape")?;
    let shape =
        &shape[shape.find('(').ok_or("bad shape")? + 1..shape.find(')').ok_or("bad shape")?];
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|e| format!("shape: {e}")))
        .collect::<Res<_>>()?;
    let [n, t] = dims[..] else {
        return Err(format!("need a 2-D array, shape {dims:?}"));
    };
    let data = &b[start + hlen..];
    if data.len() < n * t * descr {
        return Err("truncated data".into());
    }
    let val = |i: usize| -> f32 {
        let c = &data[i * descr..(i + 1) * descr];
        if descr == 4 {
            f32::from_le_bytes(c.try_into().unwrap())
        } else {
            f64::from_le_bytes(c.try_into().unwrap()) as f32
        }
    };
    Ok((0..n)
        .map(|r| (0..t).map(|c| val(r * t + c)).collect())
        .collect())
}

/// Deterministic inputs when no data file is given: Gaussian bumps at
/// different positions on a regular grid (shaped like the `shift` data set).
fn bumps(dim: usize, cases: usize) -> Vec<Vec<f32>> {
    (0..cases)
        .map(|c| {
            let p = 0.3 + 0.4 * (c as f32 + 0.5) / cases as f32;
            (0..dim)
                .map(|i| {
                    let t = i as f32 / (dim.max(2) - 1) as f32;
                    (-((t - p) / 0.1).powi(2)).exp()
                })
                .collect()
        })
        .collect()
}

/// Test split of a trainer built-in data set, recomputed here so that
/// host-gen does not have to build the whole trainer. Must follow
/// `trainer/src/data/synthetic.rs` (only `shift` is replicated):
/// `sin(t - p*pi)` on `t = linspace(0, 2*pi, 200)`, test
/// `p = linspace(0, p_max, 500)[1..499]` with `p_max = linspace(0, 1.8, 200)[198]`.
fn dataset_test_rows(name: &str) -> Res<Vec<Vec<f32>>> {
    fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
        let step = (b - a) / (n - 1) as f64; // n >= 2 here; endpoint exact, as numpy
        (0..n)
            .map(|i| if i == n - 1 { b } else { a + step * i as f64 })
            .collect()
    }
    match name {
        "shift" => {
            let t = linspace(0.0, 2.0 * std::f64::consts::PI, 200);
            let p_max = linspace(0.0, 1.8, 200)[198];
            let p_test = &linspace(0.0, p_max, 500)[1..499];
            Ok(p_test
                .iter()
                .map(|p| {
                    t.iter()
                        .map(|t| (t - p * std::f64::consts::PI).sin() as f32)
                        .collect()
                })
                .collect())
        }
        _ => Err(format!(
            "data set {name} is not replicated in host-gen (use --inputs FILE)"
        )),
    }
}

// ----------------------------------------------------------------- expected

fn lit(v: f32) -> Res<String> {
    if !v.is_finite() {
        return Err(format!("non-finite value {v}"));
    }
    // Debug prints the shortest representation that round-trips exactly.
    Ok(format!("{v:?}"))
}

fn vec_lit(v: &[f32]) -> Res<String> {
    Ok(format!(
        "[{}]",
        v.iter()
            .map(|&x| lit(x))
            .collect::<Res<Vec<_>>>()?
            .join(", ")
    ))
}

fn mat_lit(rows: &[Vec<f32>]) -> Res<String> {
    let inner: Vec<String> = rows.iter().map(|r| vec_lit(r)).collect::<Res<_>>()?;
    Ok(format!("[\n    {},\n]", inner.join(",\n    ")))
}

fn rel_err(x: &[f32], x_hat: &[f32]) -> f32 {
    let num: f32 = x.iter().zip(x_hat).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f32 = x.iter().map(|a| a * a).sum();
    (num / den).sqrt()
}

fn expected(args: &[String]) -> Res<()> {
    let model_path = PathBuf::from(&args[0]);
    let out_dir = PathBuf::from(&args[1]);
    let mut inputs_path = None;
    let mut dataset: Option<String> = None;
    let mut cases = 4usize;
    let mut source = String::from("unspecified");
    let mut it = args[2..].iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--inputs" => inputs_path = Some(PathBuf::from(val()?)),
            "--dataset" => dataset = Some(val()?.clone()),
            "--cases" => cases = val()?.parse().map_err(|e| format!("--cases: {e}"))?,
            "--source" => source = val()?.clone(),
            _ => return Err(format!("unknown option {a}\n{USAGE}")),
        }
    }
    if cases < 2 {
        return Err("--cases must be at least 2 (interpolation uses two)".into());
    }

    let raw = std::fs::read(&model_path).map_err(|e| format!("{}: {e}", model_path.display()))?;
    let bytes = AlignedBytes::new(&raw);
    let model = Model::from_bytes(&bytes).map_err(|e| format!("Model::from_bytes: {e:?}"))?;
    let file = rrae_format::read(&bytes).map_err(|e| format!("read: {e:?}"))?;
    let header = file.header;
    let (dim, rank) = (model.input_dim(), model.rank());
    if model.scratch_len() > header.scratch as usize {
        return Err(format!(
            "scratch_len {} > header {}",
            model.scratch_len(),
            header.scratch
        ));
    }

    let rows = match (&inputs_path, &dataset) {
        (Some(p), None) => Some(load_rows(p)?),
        (None, Some(name)) => Some(dataset_test_rows(name)?),
        (None, None) => None,
        (Some(_), Some(_)) => return Err("give --inputs or --dataset, not both".into()),
    };
    let inputs: Vec<Vec<f32>> = match rows {
        Some(rows) => {
            if rows.len() < cases {
                return Err(format!("{} rows, need {cases}", rows.len()));
            }
            // evenly spaced rows, deterministic
            (0..cases)
                .map(|c| rows[c * (rows.len() - 1) / (cases - 1)].clone())
                .collect()
        }
        None => bumps(dim, cases),
    };
    if let Some(bad) = inputs.iter().find(|r| r.len() != dim) {
        return Err(format!(
            "input rows have {} values, model input_dim is {dim}",
            bad.len()
        ));
    }

    let mut scratch = vec![0.0f32; header.scratch as usize];
    let e = |what: &str, err: rrae_runtime::Error| format!("{what}: {err:?}");
    let mut alphas = Vec::new();
    let mut x_hats = Vec::new();
    let mut errs = Vec::new();
    for x in &inputs {
        let mut a = vec![0.0; rank];
        model
            .encode(x, &mut a, &mut scratch)
            .map_err(|err| e("encode", err))?;
        let mut xh = vec![0.0; dim];
        model
            .decode(&a, &mut xh, &mut scratch)
            .map_err(|err| e("decode", err))?;
        errs.push(rel_err(x, &xh));
        alphas.push(a);
        x_hats.push(xh);
    }
    // Progressive decoding of case 0 with the first 1..=rank coefficients.
    let mut progressive = Vec::new();
    let mut progressive_err = Vec::new();
    for j in 1..=rank {
        let mut xh = vec![0.0; dim];
        model
            .decode(&alphas[0][..j], &mut xh, &mut scratch)
            .map_err(|err| e("decode", err))?;
        progressive_err.push(rel_err(&inputs[0], &xh));
        progressive.push(xh);
    }
    // Sampling: fixed standard-normal draws z (the device has no RNG here).
    let z: Vec<f32> = [0.5f32, -1.0, 0.25, 1.5, -0.75, 0.1, -0.3, 0.9]
        .iter()
        .copied()
        .cycle()
        .take(rank)
        .collect();
    let has_sampler = file.meta.sampler.is_some();
    let mut sample_alpha = vec![0.0; rank];
    let mut sample_x_hat = vec![0.0; dim];
    if has_sampler {
        model
            .sample(&z, &mut sample_alpha)
            .map_err(|err| e("sample", err))?;
        model
            .decode(&sample_alpha, &mut sample_x_hat, &mut scratch)
            .map_err(|err| e("decode", err))?;
    }
    // Interpolation halfway between the first two cases.
    let mut interp_alpha = vec![0.0; rank];
    Model::interpolate(&alphas[0], &alphas[1], 0.5, &mut interp_alpha)
        .map_err(|err| e("interpolate", err))?;
    let mut interp_x_hat = vec![0.0; dim];
    model
        .decode(&interp_alpha, &mut interp_x_hat, &mut scratch)
        .map_err(|err| e("decode", err))?;

    let mut s = String::new();
    let w = &mut s;
    let inputs_desc = match (&inputs_path, &dataset) {
        (Some(p), _) => format!(
            "{cases} evenly spaced rows of {}",
            p.file_name().unwrap_or_default().to_string_lossy()
        ),
        (_, Some(d)) => format!("{cases} evenly spaced rows of the test split of data set `{d}`"),
        _ => format!("{cases} deterministic Gaussian bumps"),
    };
    writeln!(
        w,
        "// @generated by firmware-example/host-gen (`scripts/firmware.sh --regen`). Do not edit."
    )
    .unwrap();
    writeln!(
        w,
        "// Model: {} ({} bytes), source: {source}",
        model.name(),
        raw.len()
    )
    .unwrap();
    writeln!(
        w,
        "// Inputs: {inputs_desc}. Every other value is rrae-runtime's result on the host."
    )
    .unwrap();
    writeln!(w).unwrap();
    writeln!(
        w,
        "/// Name stored in the model.\npub const MODEL_NAME: &str = {:?};",
        model.name()
    )
    .unwrap();
    writeln!(w, "/// Length of `model.rrae` in bytes (guards against a model/expected mismatch).\npub const MODEL_LEN: usize = {};", raw.len()).unwrap();
    writeln!(
        w,
        "/// CRC-32 of the model body, from its header.\npub const MODEL_BODY_CRC: u32 = {:#010x};",
        header.body_crc
    )
    .unwrap();
    writeln!(w, "/// Floats of scratch the runtime needs (the model header's value).\npub const SCRATCH_FLOATS: usize = {};", header.scratch).unwrap();
    writeln!(
        w,
        "/// Features per sample.\npub const INPUT_DIM: usize = {dim};"
    )
    .unwrap();
    writeln!(
        w,
        "/// Coefficients per sample (k).\npub const RANK: usize = {rank};"
    )
    .unwrap();
    writeln!(
        w,
        "/// Number of test inputs.\npub const N_CASES: usize = {cases};"
    )
    .unwrap();
    writeln!(w, "/// Whether the model stores a sampler (else SAMPLE_* are zeros and unchecked).\npub const HAS_SAMPLER: bool = {has_sampler};").unwrap();
    writeln!(
        w,
        "/// Test inputs.\npub static INPUTS: [[f32; INPUT_DIM]; N_CASES] = {};",
        mat_lit(&inputs)?
    )
    .unwrap();
    writeln!(
        w,
        "/// Host `encode` of each input.\npub static ALPHA: [[f32; RANK]; N_CASES] = {};",
        mat_lit(&alphas)?
    )
    .unwrap();
    writeln!(
        w,
        "/// Host `decode(ALPHA[i])`.\npub static X_HAT: [[f32; INPUT_DIM]; N_CASES] = {};",
        mat_lit(&x_hats)?
    )
    .unwrap();
    writeln!(w, "/// Host relative L2 error `|x - x_hat| / |x|` of each case.\npub static REL_ERR: [f32; N_CASES] = {};", vec_lit(&errs)?).unwrap();
    writeln!(w, "/// Host `decode(&ALPHA[0][..j + 1])` (progressive decoding).\npub static PROGRESSIVE: [[f32; INPUT_DIM]; RANK] = {};", mat_lit(&progressive)?).unwrap();
    writeln!(w, "/// Relative error of each PROGRESSIVE row against INPUTS[0].\npub static PROGRESSIVE_ERR: [f32; RANK] = {};", vec_lit(&progressive_err)?).unwrap();
    writeln!(
        w,
        "/// Fixed standard-normal draws for `sample`.\npub static Z: [f32; RANK] = {};",
        vec_lit(&z)?
    )
    .unwrap();
    writeln!(
        w,
        "/// Host `sample(Z)`.\npub static SAMPLE_ALPHA: [f32; RANK] = {};",
        vec_lit(&sample_alpha)?
    )
    .unwrap();
    writeln!(
        w,
        "/// Host `decode(SAMPLE_ALPHA)`.\npub static SAMPLE_X_HAT: [f32; INPUT_DIM] = {};",
        vec_lit(&sample_x_hat)?
    )
    .unwrap();
    writeln!(w, "/// Host `interpolate(ALPHA[0], ALPHA[1], 0.5)`.\npub static INTERP_ALPHA: [f32; RANK] = {};", vec_lit(&interp_alpha)?).unwrap();
    writeln!(
        w,
        "/// Host `decode(INTERP_ALPHA)`.\npub static INTERP_X_HAT: [f32; INPUT_DIM] = {};",
        vec_lit(&interp_x_hat)?
    )
    .unwrap();

    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let model_out = out_dir.join("model.rrae");
    if std::fs::canonicalize(&model_path).ok() != std::fs::canonicalize(&model_out).ok() {
        std::fs::write(&model_out, &raw).map_err(|e| format!("{}: {e}", model_out.display()))?;
    }
    let exp_out = out_dir.join("expected.rs");
    std::fs::write(&exp_out, s).map_err(|e| format!("{}: {e}", exp_out.display()))?;
    eprintln!(
        "host-gen: {} (k = {rank}, input_dim = {dim}, scratch = {} floats), host rel. errors {errs:?}",
        exp_out.display(),
        header.scratch
    );
    Ok(())
}
