//! Cross-crate tests for rrae-rs live in `tests/tests/`; this library holds
//! helpers they share.

use ndarray::{Array2, ArrayView2};
use rrae_format::testing::Rng;
use rrae_trainer::config::{FitOptions, TrainConfig};
use rrae_trainer::data::{self, NormKind, Normalizer};
use rrae_trainer::export::{model_bytes, ExportInput};
use rrae_trainer::train::{self, RraeModel};

/// `max |a|` (0 for an empty array).
pub fn max_abs(a: ArrayView2<f32>) -> f32 {
    a.iter().map(|v| v.abs()).fold(0.0, f32::max)
}

/// `max |a − b|` over paired entries.
pub fn max_abs_diff(a: ArrayView2<f32>, b: ArrayView2<f32>) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A small model trained on a normalized synthetic data set.
pub struct Trained {
    /// The data set (raw, not normalized).
    pub ds: data::Dataset,
    /// The normalizer fitted on `ds.train`.
    pub normalizer: Normalizer,
    /// The normalized training rows the model was fitted on.
    pub train_n: Array2<f32>,
    /// The trained model.
    pub model: RraeModel,
}

/// Trains a small rank-`k` model (ELU, latent 16, width 24, 200 + 20 steps)
/// on the synthetic data set `name`, normalized with `kind`.
pub fn train_small(name: &str, kind: NormKind, k: usize) -> Trained {
    let opts = FitOptions {
        k: Some(k),
        latent: Some(16),
        width: Some(24),
        dec_depth: Some(2),
        steps: Some(200),
        finetune_steps: Some(20),
        activation: Some("elu".into()),
        ..Default::default()
    };
    train_on(data::synthetic::load(name).unwrap(), kind, &opts)
}

/// Trains with `opts` on `ds` normalized with `kind` (the data set's image
/// shape, if any, is passed on as `--image-shape`).
pub fn train_on(ds: data::Dataset, kind: NormKind, opts: &FitOptions) -> Trained {
    let normalizer = Normalizer::fit(kind, ds.train.view()).unwrap();
    let train_n = normalizer.apply(ds.train.view()).unwrap();
    let opts = FitOptions {
        image_shape: ds.image_shape.map(|(c, h, w)| vec![c, h, w]),
        ..opts.clone()
    };
    let cfg = TrainConfig::resolve(&opts, train_n.nrows(), train_n.ncols()).unwrap();
    let (model, _) = train::fit(&cfg, train_n.view(), &mut |_| {}).unwrap();
    Trained {
        ds,
        normalizer,
        train_n,
        model,
    }
}

/// Gaussian blobs on a `side x side` grid over `[-1, 1]²`,
/// `exp(−((x − x₀)² + (y − y₀)²) / (2·0.2²))` (row = y, column = x), one
/// `1 x side x side` image per row. Training centres: a `grid x grid` grid
/// over `[-0.5, 0.5]²`; test centres: `n_test` uniform draws in the same
/// square (seeded). Parameters are `(x₀, y₀)`; intrinsic dimension 2.
pub fn gaussian_blobs(side: usize, grid: usize, n_test: usize, seed: u64) -> data::Dataset {
    let coord = |i: usize, n: usize| -1.0 + 2.0 * i as f64 / (n.max(2) - 1) as f64;
    let image = |x0: f64, y0: f64| {
        (0..side * side).map(move |p| {
            let (y, x) = (coord(p / side, side), coord(p % side, side));
            (-((x - x0).powi(2) + (y - y0).powi(2)) / (2.0 * 0.2 * 0.2)).exp() as f32
        })
    };
    let centre = |i: usize| -0.5 + i as f64 / (grid.max(2) - 1) as f64;
    let train_params: Vec<[f64; 2]> = (0..grid * grid)
        .map(|i| [centre(i % grid), centre(i / grid)])
        .collect();
    let mut rng = Rng::new(seed);
    let test_params: Vec<[f64; 2]> = (0..n_test)
        .map(|_| [f64::from(rng.uniform(0.5)), f64::from(rng.uniform(0.5))])
        .collect();
    let images = |ps: &[[f64; 2]]| {
        let v: Vec<f32> = ps.iter().flat_map(|&[x0, y0]| image(x0, y0)).collect();
        Array2::from_shape_vec((ps.len(), side * side), v).unwrap()
    };
    let params = |ps: &[[f64; 2]]| Array2::from_shape_fn((ps.len(), 2), |(i, j)| ps[i][j]);
    data::Dataset {
        name: format!("blobs{side}"),
        train: images(&train_params),
        test: images(&test_params),
        train_params: Some(params(&train_params)),
        test_params: Some(params(&test_params)),
        k_star: Some(2),
        image_shape: Some((1, side, side)),
    }
}

/// The `.rrae` bytes of `t`, with the normalization folded into the
/// networks or not.
pub fn export(t: &Trained, fold: bool) -> Vec<u8> {
    model_bytes(&ExportInput {
        name: &t.ds.name,
        model: &t.model,
        normalizer: &t.normalizer,
        train: t.train_n.view(),
        train_params: t.ds.train_params.as_ref().map(|p| p.view()),
        fold,
    })
    .unwrap()
}
