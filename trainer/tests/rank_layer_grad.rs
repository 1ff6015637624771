//! Tests of the rank-reduction layer: finite differences (the recipe of
//! `RRAE-SPEC.md`), golden cases from the reference's autodiff, the f32 path,
//! errors, and why the fixed-basis shortcut is not used.

use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rrae_trainer::linalg::thin_svd;
use rrae_trainer::rank_layer::{truncate, truncate_backward, RankError};

fn gaussian(m: usize, n: usize, rng: &mut StdRng) -> Array2<f64> {
    Array2::from_shape_fn((m, n), |_| StandardNormal.sample(rng))
}

/// `m x r` matrix with orthonormal columns.
fn orthonormal(m: usize, r: usize, rng: &mut StdRng) -> Array2<f64> {
    thin_svd(gaussian(m, r, rng).view()).unwrap().u
}

/// The spec's test matrix, returned in the trainer's `batch x latent`
/// orientation: `Y = U0 diag(s) V0ᵀ` (latent x batch), transposed.
fn test_latents(batch: usize, latent: usize, seed: u64) -> Array2<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let p = batch.min(latent);
    let base = [5.0, 3.0, 2.0, 1.5, 1.0, 0.5];
    let s: Vec<f64> = (0..p)
        .map(|i| {
            if i < base.len() {
                base[i]
            } else {
                0.5 * 0.8f64.powi((i - 5) as i32)
            }
        })
        .collect();
    let u0 = orthonormal(latent, p, &mut rng);
    let v0 = orthonormal(batch, p, &mut rng);
    let us = &u0 * &ndarray::Array1::from(s);
    us.dot(&v0.t()).reversed_axes()
}

fn fro(a: ArrayView2<f64>) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn rel(a: ArrayView2<f64>, b: ArrayView2<f64>) -> f64 {
    fro((&a - &b).view()) / fro(b).max(1e-300)
}

fn objective(z: &Array2<f64>, g: &Array2<f64>, k: usize) -> f64 {
    let (zk, _) = truncate(z.view(), k).unwrap();
    (&zk * g).sum()
}

/// Central finite differences of `Σ G ∘ trunc_k(Z)` against the closed form.
fn fd_check(z: &Array2<f64>, k: usize, seed: u64) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let g = gaussian(z.nrows(), z.ncols(), &mut rng);
    let (_, cache) = truncate(z.view(), k).unwrap();
    let grad = truncate_backward(&cache, g.view());
    assert!(grad.iter().all(|x| x.is_finite()));
    let h = 1e-6;
    let mut fd = Array2::<f64>::zeros(z.dim());
    let mut zp = z.clone();
    for i in 0..z.nrows() {
        for j in 0..z.ncols() {
            let orig = zp[(i, j)];
            zp[(i, j)] = orig + h;
            let fp = objective(&zp, &g, k);
            zp[(i, j)] = orig - h;
            let fm = objective(&zp, &g, k);
            zp[(i, j)] = orig;
            fd[(i, j)] = (fp - fm) / (2.0 * h);
        }
    }
    let e = rel(grad.view(), fd.view());
    eprintln!(
        "FD {} x {} k={k}: relative error {e:.2e}",
        z.nrows(),
        z.ncols()
    );
    e
}

/// trunc_k(Z) == Z U_k U_kᵀ (the transpose of U_k U_kᵀ Y).
fn projection_check(z: &Array2<f64>, k: usize) {
    let (zk, cache) = truncate(z.view(), k).unwrap();
    let uk = cache.latent_basis();
    let proj = z.dot(&uk).dot(&uk.t());
    let err = (&zk - &proj).iter().fold(0.0f64, |a, x| a.max(x.abs()));
    assert!(err < 1e-12, "projection mismatch {err}");
    assert_eq!(cache.clamped_pairs(), 0);
}

#[test]
fn fd_latent_less_than_batch() {
    // latent 5 < batch 9 (spec: L < B).
    let z = test_latents(9, 5, 1);
    for k in [1, 2, 4] {
        let e = fd_check(&z, k, 10 + k as u64);
        assert!(e < 1e-6, "k={k}: rel err {e}");
        projection_check(&z, k);
    }
}

#[test]
fn fd_latent_greater_than_batch() {
    // latent 10 > batch 6 (spec: L > B).
    let z = test_latents(6, 10, 2);
    for k in [1, 3, 5] {
        let e = fd_check(&z, k, 20 + k as u64);
        assert!(e < 1e-6, "k={k}: rel err {e}");
        projection_check(&z, k);
    }
}

#[test]
fn fd_square() {
    let z = test_latents(6, 6, 3);
    for k in [1, 2, 5, 6] {
        let e = fd_check(&z, k, 30 + k as u64);
        assert!(e < 1e-6, "k={k}: rel err {e}");
        projection_check(&z, k);
    }
}

#[test]
fn rank_deficient_zero_columns_finite() {
    // Zero samples (rows here; columns of the spec's Y) and a zero latent
    // coordinate: rank 4 out of p = 5.
    let mut z = test_latents(7, 5, 4);
    z.row_mut(1).fill(0.0);
    z.row_mut(4).fill(0.0);
    z.row_mut(6).fill(0.0);
    z.column_mut(3).fill(0.0);
    let mut rng = StdRng::seed_from_u64(40);
    let g = gaussian(7, 5, &mut rng);
    for k in 1..=5 {
        let (zk, cache) = truncate(z.view(), k).unwrap();
        assert!(zk.iter().all(|x| x.is_finite()));
        let grad = truncate_backward(&cache, g.view());
        assert!(grad.iter().all(|x| x.is_finite()), "k={k}");
    }
    // Below the rank the function is smooth: FD must agree.
    for k in [1, 2] {
        let e = fd_check(&z, k, 41);
        assert!(e < 1e-6, "k={k}: rel err {e}");
    }
    // At exactly the rank: dL/dY = G − (I − U_kU_kᵀ) G (I − V_kV_kᵀ).
    let (_, cache) = truncate(z.view(), 4).unwrap();
    assert!(cache.singular_values()[4] < 1e-12);
    let grad = truncate_backward(&cache, g.view());
    let svd = thin_svd(z.t()).unwrap();
    let uk = svd.u.slice(ndarray::s![.., ..4]).to_owned();
    let vk = svd.vt.slice(ndarray::s![..4, ..]).t().to_owned();
    let gs = g.t().to_owned();
    let pu = Array2::<f64>::eye(5) - uk.dot(&uk.t());
    let pv = Array2::<f64>::eye(7) - vk.dot(&vk.t());
    let expected = (&gs - &pu.dot(&gs).dot(&pv)).reversed_axes();
    assert!(rel(grad.view(), expected.view()) < 1e-10);
}

#[test]
fn all_zero_batch_is_finite() {
    let z = Array2::<f64>::zeros((4, 3));
    let (zk, cache) = truncate(z.view(), 2).unwrap();
    assert!(zk.iter().all(|&x| x == 0.0));
    let g = Array2::<f64>::ones((4, 3));
    assert!(truncate_backward(&cache, g.view())
        .iter()
        .all(|x| x.is_finite()));
}

#[derive(serde::Deserialize)]
struct Fixtures {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
#[allow(non_snake_case)]
struct Case {
    name: String,
    m: usize,
    n: usize,
    k: usize,
    Y: Vec<f64>,
    G: Vec<f64>,
    Yk: Vec<f64>,
    dY: Vec<f64>,
    s: Vec<f64>,
}

/// Row-major `m x n` (spec orientation) to the trainer's `n x m`.
fn spec_to_batch(v: &[f64], m: usize, n: usize) -> Array2<f64> {
    Array2::from_shape_vec((m, n), v.to_vec())
        .unwrap()
        .reversed_axes()
}

#[test]
fn golden_cases_from_reference_autodiff() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/svd_vjp_cases.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let fixtures: Fixtures = serde_json::from_str(&text).unwrap();
    assert_eq!(fixtures.cases.len(), 5);
    for c in &fixtures.cases {
        let z = spec_to_batch(&c.Y, c.m, c.n);
        let g = spec_to_batch(&c.G, c.m, c.n);
        let (zk, cache) = truncate(z.view(), c.k).unwrap();
        for (a, b) in cache.singular_values().iter().zip(&c.s) {
            assert!((a - b).abs() < 1e-12 * c.s[0], "{}: s {a} vs {b}", c.name);
        }
        let e_yk = rel(zk.view(), spec_to_batch(&c.Yk, c.m, c.n).view());
        assert!(e_yk < 1e-12, "{}: Yk rel err {e_yk}", c.name);
        let grad = truncate_backward(&cache, g.view());
        let e_dy = rel(grad.view(), spec_to_batch(&c.dY, c.m, c.n).view());
        eprintln!("{}: Yk rel err {e_yk:.1e}, dY rel err {e_dy:.1e}", c.name);
        assert!(e_dy < 1e-10, "{}: dY rel err {e_dy}", c.name);
    }
}

#[test]
fn f32_path_agrees_with_f64() {
    let z = test_latents(8, 12, 5);
    let mut rng = StdRng::seed_from_u64(50);
    let g = gaussian(8, 12, &mut rng);
    let z32 = z.mapv(|x| x as f32);
    let g32 = g.mapv(|x| x as f32);
    for k in [1, 3] {
        let (zk, c64) = truncate(z32.mapv(f64::from).view(), k).unwrap();
        let grad = truncate_backward(&c64, g32.mapv(f64::from).view());
        let (zk32, c32) = truncate(z32.view(), k).unwrap();
        let grad32 = truncate_backward(&c32, g32.view());
        assert!(rel(zk32.mapv(f64::from).view(), zk.view()) < 1e-5);
        assert!(rel(grad32.mapv(f64::from).view(), grad.view()) < 1e-5);
    }
}

#[test]
fn fixed_basis_shortcut_is_wrong() {
    // The shortcut U_k U_kᵀ G (here G U_k U_kᵀ in batch orientation) ignores
    // the rotation of the basis; the true gradient differs substantially.
    let z = test_latents(10, 8, 6);
    let mut rng = StdRng::seed_from_u64(60);
    let g = gaussian(10, 8, &mut rng);
    for k in [1, 2, 4] {
        let (_, cache) = truncate(z.view(), k).unwrap();
        let grad = truncate_backward(&cache, g.view());
        let uk = cache.latent_basis();
        let shortcut = g.dot(&uk).dot(&uk.t());
        let d = rel(shortcut.view(), grad.view());
        assert!(d > 0.3, "k={k}: shortcut differs only by {d}");
    }
}

#[test]
fn rejects_bad_rank_and_non_finite() {
    let z = Array2::<f64>::ones((4, 6));
    let e = truncate(z.view(), 0).unwrap_err();
    assert!(matches!(e, RankError::InvalidRank { k: 0, max: 4, .. }));
    let e = truncate(z.view(), 5).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("k = 5") && msg.contains("4 x 6") && msg.contains("= 4"),
        "{msg}"
    );
    let mut z = z.mapv(|x| x as f32);
    z[(2, 3)] = f32::NAN;
    let e = truncate(z.view(), 1).unwrap_err();
    assert!(
        matches!(
            e,
            RankError::NonFinite {
                sample: 2,
                coord: 3,
                ..
            }
        ),
        "{e}"
    );
    z[(2, 3)] = f32::NEG_INFINITY;
    assert!(truncate(z.view(), 1).is_err());
}

#[test]
fn near_tie_across_cut_is_counted() {
    // s_1 == s_2 exactly with k = 1: the pair (1, 2) has a zero denominator.
    let mut z = Array2::<f64>::zeros((4, 3));
    z[(0, 0)] = 2.0;
    z[(1, 1)] = 2.0;
    z[(2, 2)] = 1.0;
    let (_, cache) = truncate(z.view(), 1).unwrap();
    assert_eq!(cache.clamped_pairs(), 1);
    let g = Array2::<f64>::ones((4, 3));
    assert!(truncate_backward(&cache, g.view())
        .iter()
        .all(|x| x.is_finite()));
}
