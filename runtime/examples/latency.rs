//! Host latency benchmark of the runtime's `encode` / `decode` (issue #7).
//!
//! Builds dense RRAE models in-process with `rrae_format::ModelWriter`
//! (random weights, U(±1/√fan_in) like the reference's init, fixed seed),
//! times one `encode` and one `decode` per call, and prints one JSON object
//! per model on stdout. A third model, `cnn16`, is a small convolutional
//! RRAE on `1 x 16 x 16` images (Conv2d 1 -> 8, 3x3, stride 2, ReLU -> Dense
//! 512 -> 8; Dense 8 -> 512, ReLU -> ConvTranspose2d 8 -> 1, 3x3, stride 2,
//! output padding 1); it is timed and printed (`"kind":"cnn"`) but not
//! written by `--out` (the TFLM comparison builds dense networks only).
//!
//! ```text
//! cargo run --release -p rrae-runtime --example latency -- [--seconds S] [--reps R] [--out DIR]
//! cargo run --release -p rrae-runtime --example latency -- --calls NAME OP N   # for callgrind
//! ```
//!
//! * `--out DIR` also writes, per model, `DIR/NAME.rrae`, `DIR/NAME.f32` (the
//!   raw little-endian weights: enc W0, b0, W1, b1, dec W0, b0, W1, b1, each
//!   W `out x in` row-major), `DIR/NAME.io.f32` (a test input `x`, our
//!   `alpha = encode(x)` and our `decode(alpha)`) and `DIR/NAME.json` (dims),
//!   so that `bench/tflm_bench.py` can build the same network for TFLite Micro
//!   and check that its outputs match ours.
//! * `--calls NAME OP N` builds model NAME (`small` | `large`), then runs OP
//!   (`encode` | `decode`) exactly N times and exits: run it under
//!   `valgrind --tool=callgrind` with N = 0 and N = 1000; the difference of
//!   the instruction totals / 1000 is the cost of one call.

use rrae_format::meta::{Activation, Conv, Layer};
use rrae_format::testing::{conv3x3_s2, dense, folded_meta, Rng};
use rrae_format::{AlignedBytes, ModelWriter};
use rrae_runtime::Model;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// input - hidden - k - hidden - output
const SIZES: [(&str, usize, usize, usize); 2] = [("small", 64, 32, 8), ("large", 256, 128, 32)];

struct Built {
    name: &'static str,
    /// `"dense"` or `"cnn"`.
    kind: &'static str,
    dims: (usize, usize, usize),
    bytes: Vec<u8>,
    /// enc W0, b0, W1, b1, dec W0, b0, W1, b1.
    weights: Vec<Vec<f32>>,
}

/// Random weights, U(±1/√fan_in), also kept (in file order) for `--out`.
struct Init {
    rng: Rng,
    /// enc W0, b0, W1, b1, dec W0, b0, W1, b1.
    weights: Vec<Vec<f32>>,
}

impl Init {
    fn new(seed: u64) -> Self {
        Init {
            rng: Rng::new(seed),
            weights: Vec::new(),
        }
    }

    /// `n` weights and `out` biases of a layer with `fan_in` inputs.
    fn draw(&mut self, n: usize, out: usize, fan_in: usize) -> (Vec<f32>, Vec<f32>) {
        let a = 1.0 / (fan_in as f32).sqrt();
        let wt: Vec<f32> = (0..n).map(|_| self.rng.uniform(a)).collect();
        let b: Vec<f32> = (0..out).map(|_| self.rng.uniform(a)).collect();
        self.weights.push(wt.clone());
        self.weights.push(b.clone());
        (wt, b)
    }

    /// A Dense layer `i -> o`.
    fn dense(&mut self, w: &mut ModelWriter, i: usize, o: usize, act: Activation) -> Layer {
        let (wt, b) = self.draw(o * i, o, i);
        dense(w, i as u32, o as u32, &wt, &b, act)
    }

    /// A 3x3, stride 2, padding 1 convolution `ci -> co` on `side x side`
    /// images.
    fn conv(
        &mut self,
        w: &mut ModelWriter,
        (ci, side, co): (u32, u32, u32),
        fan_in: u32,
        act: Activation,
    ) -> Conv {
        let (wt, b) = self.draw((ci * co * 9) as usize, co as usize, fan_in as usize);
        conv3x3_s2(w, ci, side, co, &wt, &b, act)
    }
}

fn build(name: &'static str, t: usize, h: usize, k: usize, seed: u64) -> Built {
    let mut init = Init::new(seed);
    let mut w = ModelWriter::new();
    let e0 = init.dense(&mut w, t, h, Activation::Relu);
    let e1 = init.dense(&mut w, h, k, Activation::Identity);
    let d0 = init.dense(&mut w, k, h, Activation::Relu);
    let d1 = init.dense(&mut w, h, t, Activation::Identity);
    let meta = folded_meta(name, t as u32, k as u32, &[e0, e1], &[d0, d1]);
    let bytes = w.finish(&meta).expect("valid model");
    Built {
        name,
        kind: "dense",
        dims: (t, h, k),
        bytes,
        weights: init.weights,
    }
}

/// The `cnn16` model (see the module docs); `dims` = (input, hidden, k).
fn build_cnn(seed: u64) -> Built {
    const SIDE: u32 = 16;
    const CH: u32 = 8;
    const K: u32 = 8;
    let mut init = Init::new(seed);
    let mut w = ModelWriter::new();
    let half = SIDE / 2;
    let hidden = CH * half * half;
    let down = Layer::Conv2d(init.conv(&mut w, (1, SIDE, CH), 9, Activation::Relu));
    let up = Layer::ConvTranspose2d {
        conv: init.conv(&mut w, (CH, half, 1), CH * 9, Activation::Identity),
        output_padding: [1, 1],
    };
    let enc = init.dense(&mut w, hidden as usize, K as usize, Activation::Identity);
    let dec = init.dense(&mut w, K as usize, hidden as usize, Activation::Relu);
    let meta = folded_meta("cnn16", SIDE * SIDE, K, &[down, enc], &[dec, up]);
    let bytes = w.finish(&meta).expect("valid model");
    Built {
        name: "cnn16",
        kind: "cnn",
        dims: ((SIDE * SIDE) as usize, hidden as usize, K as usize),
        bytes,
        weights: init.weights,
    }
}

/// Median and minimum nanoseconds per call of `f`, over `reps` repetitions
/// of a call count calibrated so that the whole measurement takes ~`budget`.
fn time_it(mut f: impl FnMut(), budget: Duration, reps: usize) -> (f64, f64, Vec<f64>) {
    for _ in 0..100 {
        f();
    }
    let mut n = 1u64;
    loop {
        let t0 = Instant::now();
        for _ in 0..n {
            f();
        }
        if t0.elapsed() > Duration::from_millis(20) || n > 1 << 30 {
            break;
        }
        n *= 2;
    }
    let per_call = {
        let t0 = Instant::now();
        for _ in 0..n {
            f();
        }
        t0.elapsed().as_secs_f64() / n as f64
    };
    let per_rep = budget.as_secs_f64() / reps as f64;
    let iters = ((per_rep / per_call) as u64).max(10);
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..iters {
                f();
            }
            t0.elapsed().as_secs_f64() * 1e9 / iters as f64
        })
        .collect();
    let all = v.clone();
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], all)
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seconds = 2.0f64;
    let mut reps = 7usize;
    let mut out: Option<String> = None;
    let mut calls: Option<(String, String, u64)> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--seconds" => {
                seconds = args[i + 1].parse().expect("--seconds S");
                i += 1;
            }
            "--reps" => {
                reps = args[i + 1].parse().expect("--reps R");
                i += 1;
            }
            "--out" => {
                out = Some(args[i + 1].clone());
                i += 1;
            }
            "--calls" => {
                calls = Some((
                    args[i + 1].clone(),
                    args[i + 2].clone(),
                    args[i + 3].parse().expect("N"),
                ));
                i += 3;
            }
            "--bench" => {} // passed by `cargo bench`
            a => panic!("unknown argument {a}"),
        }
        i += 1;
    }

    let mut models: Vec<Built> = SIZES
        .iter()
        .enumerate()
        .map(|(j, &(name, t, h, k))| build(name, t, h, k, 7 + j as u64))
        .collect();
    models.push(build_cnn(11));

    if let Some((name, op, n)) = calls {
        let m = models
            .iter()
            .find(|m| m.name == name)
            .expect("model name: small | large | cnn16");
        let aligned = AlignedBytes::new(&m.bytes);
        let model = Model::from_bytes(&aligned).expect("model loads");
        let (t, _, k) = m.dims;
        let x: Vec<f32> = (0..t).map(|i| (i as f32 * 0.1).sin()).collect();
        let mut alpha = vec![0.5f32; k];
        let mut xh = vec![0f32; t];
        let mut scratch = vec![0f32; model.scratch_len()];
        for _ in 0..n {
            match op.as_str() {
                "encode" => model
                    .encode(black_box(&x), &mut alpha, &mut scratch)
                    .expect("encode"),
                "decode" => model
                    .decode(black_box(&alpha), &mut xh, &mut scratch)
                    .expect("decode"),
                "reconstruct" => model
                    .reconstruct(black_box(&x), &mut xh, &mut scratch)
                    .expect("reconstruct"),
                _ => panic!("op: encode | decode"),
            }
            black_box((&alpha, &xh));
        }
        return;
    }

    let budget = Duration::from_secs_f64(seconds);
    for m in &models {
        let aligned = AlignedBytes::new(&m.bytes);
        let model = Model::from_bytes(&aligned).expect("model loads");
        let (t, h, k) = m.dims;
        let mut rng = Rng::new(99);
        let x: Vec<f32> = (0..t).map(|_| rng.uniform(1.0)).collect();
        let mut alpha = vec![0f32; k];
        let mut xh = vec![0f32; t];
        let mut scratch = vec![0f32; model.scratch_len()];
        model.encode(&x, &mut alpha, &mut scratch).expect("encode");
        model.decode(&alpha, &mut xh, &mut scratch).expect("decode");
        if let (Some(dir), "dense") = (&out, m.kind) {
            std::fs::create_dir_all(dir).expect("create --out dir");
            let p = |ext: &str| format!("{dir}/{}.{ext}", m.name);
            std::fs::write(p("rrae"), &m.bytes).expect("write .rrae");
            let blob: Vec<u8> = m.weights.iter().flat_map(|w| f32_bytes(w)).collect();
            std::fs::write(p("f32"), blob).expect("write weights");
            let io: Vec<u8> = [&x[..], &alpha[..], &xh[..]]
                .iter()
                .flat_map(|v| f32_bytes(v))
                .collect();
            std::fs::write(p("io.f32"), io).expect("write io");
            std::fs::write(
                p("json"),
                format!(
                    "{{\"name\":\"{}\",\"input\":{t},\"hidden\":{h},\"k\":{k}}}\n",
                    m.name
                ),
            )
            .expect("write json");
        }
        let (enc_med, enc_min, enc_all) = time_it(
            || {
                model
                    .encode(black_box(&x), &mut alpha, &mut scratch)
                    .expect("encode")
            },
            budget / 2,
            reps,
        );
        let alpha2 = alpha.clone();
        let (dec_med, dec_min, dec_all) = time_it(
            || {
                model
                    .decode(black_box(&alpha2), &mut xh, &mut scratch)
                    .expect("decode")
            },
            budget / 2,
            reps,
        );
        let (rec_med, rec_min, _) = time_it(
            || {
                model
                    .reconstruct(black_box(&x), &mut xh, &mut scratch)
                    .expect("reconstruct")
            },
            budget / 2,
            reps,
        );
        let params: usize = m.weights.iter().map(Vec::len).sum();
        println!(
            "{{\"name\":\"{}\",\"kind\":\"{}\",\"input\":{t},\"hidden\":{h},\"k\":{k},\"params\":{params},\
             \"file_bytes\":{},\"weight_bytes\":{},\"scratch_floats\":{},\"scratch_bytes\":{},\
             \"encode_ns_median\":{enc_med:.1},\"encode_ns_min\":{enc_min:.1},\
             \"decode_ns_median\":{dec_med:.1},\"decode_ns_min\":{dec_min:.1},\
             \"reconstruct_ns_median\":{rec_med:.1},\"reconstruct_ns_min\":{rec_min:.1},\
             \"encode_ns_all\":{enc_all:?},\"decode_ns_all\":{dec_all:?},\"reps\":{reps}}}",
            m.name,
            m.kind,
            m.bytes.len(),
            params * 4,
            model.scratch_len(),
            model.scratch_len() * 4,
        );
    }
}
