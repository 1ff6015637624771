//! Cross-crate tests for rrae-rs live in `tests/tests/`; this library holds
//! helpers they share.

use ndarray::{Array2, ArrayView2};
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

/// Small versions of the built-in `2d_gaussian_shift_scale` images
/// (`side x side`, `grid x grid` training centres, `n_test` seeded test
/// centres); intrinsic dimension 2.
pub use rrae_trainer::data::synthetic::gaussian_blobs;

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
