//! The synthetic data sets of the paper (`RRAE-SPEC.md`, reference
//! `rraes.utilities.get_data`), generated in `f64` and stored as `f32`.
//!
//! Rows are samples (for the image set `2d_gaussian_shift_scale`, flattened
//! row-major images, see [`gaussian_2d`]). Grids and training parameters follow the reference
//! exactly; random test parameters come from a fixed-seed [`StdRng`] (so the
//! data are deterministic, but not the reference's JAX draws). Deviations from
//! the reference's quirks are documented on each generator.

use std::f64::consts::PI;

use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{DataError, Dataset};

/// Names and one-line descriptions of the built-in synthetic data sets.
const DATASETS: &[(&str, &str)] = &[
    (
        "shift",
        "shifted sine sin(t - p*pi), 200 points, 199 train / 498 test, k* = 1",
    ),
    (
        "gaussian_shift",
        "shifted narrow Gaussian exp(-(t - p)^2 / 0.1), 500 points, 20 train / 498 test, k* = 1",
    ),
    (
        "stairs",
        "cumulated thresholded sine bursts (stairs), 501 points, 40 train / 300 test, k* = 1",
    ),
    (
        "mult_freqs",
        "sum of two sines sin(p1 t) + sin(p2 t), 1571 points, 225 train / 1000 test, k* = 2",
    ),
    (
        "mult_gausses",
        "positive and negative Gaussian bumps at p1 and p2, 1200 points, 100 train / 1000 test, k* = 2",
    ),
    (
        "2d_gaussian_shift_scale",
        "32 x 32 images of a Gaussian blob centred at (x0, y0), 400 train (20 x 20 grid) / 1000 test, k* = 2",
    ),
];

/// The built-in synthetic data sets: `(name, one-line description)`.
pub fn list() -> &'static [(&'static str, &'static str)] {
    DATASETS
}

/// Generates the synthetic data set `name` (see [`list`]).
///
/// # Errors
/// [`DataError::UnknownDataset`] (listing the valid names) for any other name.
pub fn load(name: &str) -> Result<Dataset, DataError> {
    match name {
        "shift" => Ok(shift()),
        "gaussian_shift" => Ok(gaussian_shift()),
        "stairs" => Ok(stairs()),
        "mult_freqs" => Ok(mult_freqs()),
        "mult_gausses" => Ok(mult_gausses()),
        "2d_gaussian_shift_scale" => Ok(gaussian_2d(GAUSSIAN_2D_SIZE)),
        _ => Err(DataError::UnknownDataset {
            name: name.to_string(),
            valid: DATASETS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// numpy's `linspace(a, b, n)` (endpoint included).
fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![a],
        _ => {
            let step = (b - a) / (n - 1) as f64;
            (0..n)
                .map(|i| if i == n - 1 { b } else { a + step * i as f64 })
                .collect()
        }
    }
}

/// `n` points `i * step`, i.e. numpy's `arange(0, n * step, step)`.
fn arange(n: usize, step: f64) -> Vec<f64> {
    (0..n).map(|i| i as f64 * step).collect()
}

/// Samples `f(p)` on the grid `t` for every parameter row; rows are samples.
fn sample<P, F: Fn(&P, f64) -> f64>(params: &[P], t: &[f64], f: F) -> Array2<f64> {
    Array2::from_shape_fn((params.len(), t.len()), |(i, j)| f(&params[i], t[j]))
}

fn params_1d(p: &[f64]) -> Array2<f64> {
    Array2::from_shape_fn((p.len(), 1), |(i, _)| p[i])
}

fn params_2d(p: &[[f64; 2]]) -> Array2<f64> {
    Array2::from_shape_fn((p.len(), 2), |(i, j)| p[i][j])
}

fn to_f32(a: &Array2<f64>) -> Array2<f32> {
    a.mapv(|v| v as f32)
}

/// `sin(t − pπ)` on `t = linspace(0, 2π, 200)`; train `p = linspace(0, 1.8,
/// 200)[:-1]` (199), test `p = linspace(0, max train p, 500)[1:-1]` (498).
fn shift() -> Dataset {
    let t = linspace(0.0, 2.0 * PI, 200);
    let mut p_train = linspace(0.0, 1.8, 200);
    p_train.pop();
    let p_max = p_train[p_train.len() - 1];
    let p_test = linspace(0.0, p_max, 500)[1..499].to_vec();
    let f = |p: &f64, t: f64| (t - p * PI).sin();
    Dataset {
        name: "shift".into(),
        train: to_f32(&sample(&p_train, &t, f)),
        test: to_f32(&sample(&p_test, &t, f)),
        train_params: Some(params_1d(&p_train)),
        test_params: Some(params_1d(&p_test)),
        k_star: Some(1),
        image_shape: None,
    }
}

/// `exp(−(t − p)²/0.1)` on `t = linspace(0, 2π + 2, 500)`; train `p =
/// linspace(1, 2π + 1, 20)`, test `p = linspace(1, 2π + 1, 500)[1:-1]` (498).
fn gaussian_shift() -> Dataset {
    let t = linspace(0.0, 2.0 * PI + 2.0, 500);
    let p_train = linspace(1.0, 2.0 * PI + 1.0, 20);
    let p_test = linspace(1.0, 2.0 * PI + 1.0, 500)[1..499].to_vec();
    let f = |p: &f64, t: f64| (-(t - p).powi(2) / 0.1).exp();
    Dataset {
        name: "gaussian_shift".into(),
        train: to_f32(&sample(&p_train, &t, f)),
        test: to_f32(&sample(&p_test, &t, f)),
        train_params: Some(params_1d(&p_train)),
        test_params: Some(params_1d(&p_test)),
        k_star: Some(1),
        image_shape: None,
    }
}

/// Seed of the stairs test parameters.
const STAIRS_SEED: u64 = 0;
/// Seed of the mult_freqs test parameters.
const MULT_FREQS_SEED: u64 = 140;
/// Seed of the mult_gausses test parameters.
const MULT_GAUSSES_SEED: u64 = 1000;

/// Stairs: `g = p√t·sin(2π(t − φ(p))) − 2.3`, `x = cumsum(((|g| + g)/2)⁵)` on
/// `t = linspace(0, 3.5, 501)`, with `φ(p) = 0.875 + (p − 1)/0.1 · 1.75/99`
/// (the reference's phase, linear in `p` over a 100-value grid). Train `p =
/// arange(1, 5, 0.1)` (40), test 300 uniform `p` in `(1·1.00001, 4.9·0.99999)`.
/// Both sets are normalized by the mean and standard deviation of the whole
/// training array, as in the reference (the normalization is part of the
/// data set, not of the model).
fn stairs() -> Dataset {
    let t = linspace(0.0, 3.5, 501);
    let p_train: Vec<f64> = (0..40).map(|i| 1.0 + 0.1 * i as f64).collect();
    let mut rng = StdRng::seed_from_u64(STAIRS_SEED);
    let (lo, hi) = (1.0 * 1.00001, 4.9 * 0.99999);
    let p_test: Vec<f64> = (0..300).map(|_| rng.random_range(lo..hi)).collect();
    let phase_step = (2.625 - 0.875) / 99.0;
    let curve = |p: f64| -> Vec<f64> {
        let phi = 0.875 + (p - 1.0) / 0.1 * phase_step;
        let mut acc = 0.0;
        t.iter()
            .map(|&ti| {
                let g = p * ti.sqrt() * (2.0 * PI * (ti - phi)).sin() - 2.3;
                acc += ((g.abs() + g) / 2.0).powi(5);
                acc
            })
            .collect()
    };
    let build = |ps: &[f64]| {
        let rows: Vec<Vec<f64>> = ps.iter().map(|&p| curve(p)).collect();
        Array2::from_shape_fn((ps.len(), t.len()), |(i, j)| rows[i][j])
    };
    let train = build(&p_train);
    let test = build(&p_test);
    let n = train.len() as f64;
    let mean = train.sum() / n;
    let std = (train.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let norm = |a: Array2<f64>| a.mapv(|v| ((v - mean) / std) as f32);
    Dataset {
        name: "stairs".into(),
        train: norm(train),
        test: norm(test),
        train_params: Some(params_1d(&p_train)),
        test_params: Some(params_1d(&p_test)),
        k_star: Some(1),
        image_shape: None,
    }
}

/// Draws `n` parameter pairs uniform in `(lo·1.001, hi·0.999)` per coordinate
/// (the reference's margins), from one seeded generator.
fn uniform_pairs(n: usize, range0: (f64, f64), range1: (f64, f64), seed: u64) -> Vec<[f64; 2]> {
    let mut rng = StdRng::seed_from_u64(seed);
    let r0 = range0.0 * 1.001..range0.1 * 0.999;
    let r1 = range1.0 * 1.001..range1.1 * 0.999;
    (0..n)
        .map(|_| {
            let a = rng.random_range(r0.clone());
            [a, rng.random_range(r1.clone())]
        })
        .collect()
}

/// Training grid: `p₁` is the outer (slow) index, `p₂` the inner one, like
/// the reference's `repeat` / `tile`.
fn grid_pairs(p1: &[f64], p2: &[f64]) -> Vec<[f64; 2]> {
    p1.iter()
        .flat_map(|&a| p2.iter().map(move |&b| [a, b]))
        .collect()
}

/// `sin(p₁t) + sin(p₂t)` on `t = arange(0, 5π, 0.01)` (1571 points); train on
/// the 15 x 15 grid `p₁ ∈ linspace(π/2, π, 15)`, `p₂ ∈ linspace(0.3π, 0.8π,
/// 15)`; test 1000 uniform pairs inside the grid (one seeded generator for
/// both coordinates, where the reference uses two JAX keys).
fn mult_freqs() -> Dataset {
    let n_t = (5.0 * PI / 0.01).ceil() as usize;
    let t = arange(n_t, 0.01);
    let g1 = linspace(0.5 * PI, PI, 15);
    let g2 = linspace(0.3 * PI, 0.8 * PI, 15);
    let p_train = grid_pairs(&g1, &g2);
    let p_test = uniform_pairs(1000, (g1[0], g1[14]), (g2[0], g2[14]), MULT_FREQS_SEED);
    let f = |p: &[f64; 2], t: f64| (p[0] * t).sin() + (p[1] * t).sin();
    Dataset {
        name: "mult_freqs".into(),
        train: to_f32(&sample(&p_train, &t, f)),
        test: to_f32(&sample(&p_test, &t, f)),
        train_params: Some(params_2d(&p_train)),
        test_params: Some(params_2d(&p_test)),
        k_star: Some(2),
        image_shape: None,
    }
}

/// `1.3·exp(−(t − p₁)²/0.08) − 1.3·exp(−(t − p₂)²/0.08)` on `t = arange(0, 6,
/// 0.005)` (1200 points); train on the 10 x 10 grid `p₁ ∈ linspace(1, 3, 10)`,
/// `p₂ ∈ linspace(4, 6, 10)` — **100 distinct samples**, where the reference
/// repeats each grid pair 10 times (1000 rows, same information); test 1000
/// uniform pairs inside the grid.
fn mult_gausses() -> Dataset {
    let t = arange(1200, 0.005);
    let g1 = linspace(1.0, 3.0, 10);
    let g2 = linspace(4.0, 6.0, 10);
    let p_train = grid_pairs(&g1, &g2);
    let p_test = uniform_pairs(1000, (1.0, 3.0), (4.0, 6.0), MULT_GAUSSES_SEED);
    let f = |p: &[f64; 2], t: f64| {
        1.3 * (-(t - p[0]).powi(2) / 0.08).exp() - 1.3 * (-(t - p[1]).powi(2) / 0.08).exp()
    };
    Dataset {
        name: "mult_gausses".into(),
        train: to_f32(&sample(&p_train, &t, f)),
        test: to_f32(&sample(&p_test, &t, f)),
        train_params: Some(params_2d(&p_train)),
        test_params: Some(params_2d(&p_test)),
        k_star: Some(2),
        image_shape: None,
    }
}

/// Side `S` of the `2d_gaussian_shift_scale` images: 32 here, where the
/// paper uses 64 (4096 features); 32 x 32 images (1024 features) train in
/// minutes on two CPU cores. [`gaussian_2d`] builds any other size.
pub const GAUSSIAN_2D_SIZE: usize = 32;
/// Training centres per axis of `2d_gaussian_shift_scale` (a 20 x 20 grid).
pub const GAUSSIAN_2D_GRID: usize = 20;
/// Test samples of `2d_gaussian_shift_scale`.
pub const GAUSSIAN_2D_TEST: usize = 1000;
/// Seed of the `2d_gaussian_shift_scale` test centres.
const GAUSSIAN_2D_SEED: u64 = 2;

/// The `2d_gaussian_shift_scale` data set with `size x size` images
/// (`size >= 2`; the built-in name uses [`GAUSSIAN_2D_SIZE`]).
///
/// Pixel `(i, j)` of a sample with centre `(x₀, y₀)` holds
/// `exp(−((x_j − x₀)² + (y_i − y₀)²)/(2·0.2²))` with `x = y =
/// linspace(−1, 1, size)`: columns run along x, rows along y (row 0 at
/// y = −1, the top of a picture). Samples are flattened row-major (`1 x size
/// x size`, `image_shape = (1, size, size)`).
///
/// Training centres: the [`GAUSSIAN_2D_GRID`]² grid `x₀, y₀ ∈
/// linspace(−0.5, 0.5, 20)` (400 samples, x₀ the outer index). Test centres:
/// [`GAUSSIAN_2D_TEST`] pairs uniform in `[−0.5, 0.5)²`, x₀ and y₀ drawn
/// independently from one seeded generator (the reference reuses one random
/// key, so its test set has x₀ = y₀). Parameters `(x₀, y₀)` are stored as
/// train/test params; `k* = 2`.
pub fn gaussian_2d(size: usize) -> Dataset {
    gaussian_blobs(size, GAUSSIAN_2D_GRID, GAUSSIAN_2D_TEST, GAUSSIAN_2D_SEED)
}

/// [`gaussian_2d`] with any training grid (`grid x grid` centres over
/// `[−0.5, 0.5]²`), number of test samples and test seed: small versions of
/// the set for tests.
pub fn gaussian_blobs(size: usize, grid: usize, n_test: usize, seed: u64) -> Dataset {
    let pixels = linspace(-1.0, 1.0, size);
    let centres = linspace(-0.5, 0.5, grid);
    let p_train = grid_pairs(&centres, &centres);
    let mut rng = StdRng::seed_from_u64(seed);
    let p_test: Vec<[f64; 2]> = (0..n_test)
        .map(|_| {
            let x0 = rng.random_range(-0.5..0.5);
            [x0, rng.random_range(-0.5..0.5)]
        })
        .collect();
    let two_var = 2.0 * 0.2f64.powi(2);
    let n = pixels.len();
    let images = |ps: &[[f64; 2]]| {
        Array2::from_shape_fn((ps.len(), n * n), |(s, p)| {
            let (x, y) = (pixels[p % n], pixels[p / n]);
            let [x0, y0] = ps[s];
            (-((x - x0).powi(2) + (y - y0).powi(2)) / two_var).exp() as f32
        })
    };
    Dataset {
        name: "2d_gaussian_shift_scale".into(),
        train: images(&p_train),
        test: images(&p_test),
        train_params: Some(params_2d(&p_train)),
        test_params: Some(params_2d(&p_test)),
        k_star: Some(2),
        image_shape: Some((1, n, n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_matches_numpy() {
        assert_eq!(linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(linspace(2.0, 3.0, 1), vec![2.0]);
        assert!(linspace(0.0, 1.0, 0).is_empty());
    }
}
