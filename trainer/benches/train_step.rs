//! One RRAE training step at latent 200, batch 64 on `shift` (default
//! widths otherwise), beside the rank layer alone (truncated SVD forward and
//! backward on the same 64 x 200 latent batch), so their ratio is visible.
//! Also prints the SVD layer's share of a step from a direct timing.
//!
//! `RRAE_PROFILE_ITERS=N` skips criterion and runs N default-width steps, N
//! width-300 steps (the benchmark network of `docs/BENCHMARKS.md`) and N rank
//! layers, each in its own `#[inline(never)]` function, for
//! `valgrind --tool=callgrind` (inclusive instruction counts per function).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array2;
use rrae_trainer::config::{FitOptions, TrainConfig};
use rrae_trainer::train::{TrainState, Trainer};
use rrae_trainer::{data, rank_layer};

fn setup() -> (data::Dataset, TrainConfig) {
    let ds = data::synthetic::load("shift").expect("shift");
    let opts = FitOptions {
        latent: Some(200),
        batch: Some(64),
        ..Default::default()
    };
    let cfg = TrainConfig::resolve(&opts, ds.train.nrows(), ds.train.ncols()).expect("config");
    (ds, cfg)
}

fn latent_batch(ds: &data::Dataset, state: &TrainState) -> Array2<f32> {
    state
        .encoder
        .predict(ds.train.slice(ndarray::s![..64, ..]))
        .expect("predict")
}

#[inline(never)]
fn rank_layer_step(y: &Array2<f32>, g: &Array2<f32>, k: usize) {
    let (yk, cache) = rank_layer::truncate(y.view(), k).expect("truncate");
    black_box(yk);
    black_box(rank_layer::truncate_backward(&cache, g.view()));
}

fn mean_seconds(iters: u32, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() / f64::from(iters)
}

#[inline(never)]
fn profile_steps_default(trainer: &mut Trainer, state: &mut TrainState, n: usize) {
    for _ in 0..n {
        black_box(trainer.step(state).expect("step"));
    }
}

#[inline(never)]
fn profile_steps_width300(trainer: &mut Trainer, state: &mut TrainState, n: usize) {
    for _ in 0..n {
        black_box(trainer.step(state).expect("step"));
    }
}

#[inline(never)]
fn profile_rank_layer(y: &Array2<f32>, g: &Array2<f32>, k: usize, n: usize) {
    for _ in 0..n {
        rank_layer_step(y, g, k);
    }
}

/// Callgrind mode (see the module documentation).
fn profile(n: usize) {
    let (ds, cfg) = setup();
    let mut state = TrainState::new(&cfg, ds.train.ncols()).expect("state");
    let y = latent_batch(&ds, &state);
    let g = y.mapv(|v| v.sin());
    let mut trainer = Trainer::new(&cfg, ds.train.view(), &state);
    profile_steps_default(&mut trainer, &mut state, n);
    profile_rank_layer(&y, &g, cfg.k, n);

    let opts = FitOptions {
        latent: Some(200),
        batch: Some(64),
        width: Some(300),
        enc_depth: Some(1),
        dec_depth: Some(6),
        ..Default::default()
    };
    let cfg300 = TrainConfig::resolve(&opts, ds.train.nrows(), ds.train.ncols()).expect("config");
    let mut state300 = TrainState::new(&cfg300, ds.train.ncols()).expect("state");
    let mut trainer300 = Trainer::new(&cfg300, ds.train.view(), &state300);
    profile_steps_width300(&mut trainer300, &mut state300, n);
    println!("profiled {n} iterations of each");
}

fn bench(c: &mut Criterion) {
    if let Some(n) = std::env::var("RRAE_PROFILE_ITERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        profile(n);
        return;
    }
    let (ds, cfg) = setup();
    let mut state = TrainState::new(&cfg, ds.train.ncols()).expect("state");
    let y = latent_batch(&ds, &state);
    let g = y.mapv(|v| v.sin());
    let mut trainer = Trainer::new(&cfg, ds.train.view(), &state);

    let mut group = c.benchmark_group("train_step");
    group.bench_function("step_latent200_batch64", |b| {
        b.iter(|| trainer.step(&mut state).expect("step"))
    });
    group.bench_function("rank_layer_fwd_bwd_64x200", |b| {
        b.iter(|| rank_layer_step(&y, &g, cfg.k))
    });
    group.finish();

    let step = mean_seconds(200, || {
        trainer.step(&mut state).expect("step");
    });
    let svd = mean_seconds(200, || rank_layer_step(&y, &g, cfg.k));
    println!(
        "train step {:.3} ms, rank layer (SVD fwd+bwd) {:.3} ms: SVD share of a step {:.1} %",
        step * 1e3,
        svd * 1e3,
        100.0 * svd / step
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
