//! Synthetic data sets: shapes, determinism, and the linear baselines of
//! `RRAE-SPEC.md` (truncated SVD of the uncentred training data applied to
//! the test data).

use rrae_trainer::basis::linear_baseline;
use rrae_trainer::data::synthetic::{gaussian_2d, list, load, GAUSSIAN_2D_SIZE};
use rrae_trainer::data::DataError;

#[test]
fn shapes_params_and_k_star() {
    // (name, train rows, test rows, features, parameters, k*)
    let expected = [
        ("shift", 199, 498, 200, 1, 1),
        ("gaussian_shift", 20, 498, 500, 1, 1),
        ("stairs", 40, 300, 501, 1, 1),
        ("mult_freqs", 225, 1000, 1571, 2, 2),
        ("mult_gausses", 100, 1000, 1200, 2, 2),
        ("2d_gaussian_shift_scale", 400, 1000, 32 * 32, 2, 2),
    ];
    assert_eq!(list().len(), expected.len());
    for (name, n_train, n_test, t, n_p, k) in expected {
        assert!(list().iter().any(|(n, _)| *n == name));
        let d = load(name).unwrap();
        assert_eq!(d.name, name);
        assert_eq!(d.train.dim(), (n_train, t), "{name} train");
        assert_eq!(d.test.dim(), (n_test, t), "{name} test");
        assert_eq!(d.train_params.as_ref().unwrap().dim(), (n_train, n_p));
        assert_eq!(d.test_params.as_ref().unwrap().dim(), (n_test, n_p));
        assert_eq!(d.k_star, Some(k));
        assert!(d.train.iter().chain(d.test.iter()).all(|v| v.is_finite()));
        // Test parameters lie inside the training range (interpolation).
        let (tr, te) = (d.train_params.unwrap(), d.test_params.unwrap());
        for j in 0..n_p {
            let lo = tr.column(j).iter().copied().fold(f64::INFINITY, f64::min);
            let hi = tr
                .column(j)
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            assert!(
                te.column(j).iter().all(|&p| p > lo && p < hi),
                "{name} p{j}"
            );
        }
    }
}

#[test]
fn deterministic_and_no_duplicates() {
    let a = load("mult_gausses").unwrap();
    let b = load("mult_gausses").unwrap();
    assert_eq!(a, b);
    let p = a.train_params.unwrap();
    let mut pairs: Vec<(u64, u64)> = p
        .rows()
        .into_iter()
        .map(|r| (r[0].to_bits(), r[1].to_bits()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    assert_eq!(pairs.len(), 100);
}

#[test]
fn stairs_is_globally_standardized() {
    let d = load("stairs").unwrap();
    let n = d.train.len() as f64;
    let mean = d.train.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = d
        .train
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(mean.abs() < 1e-5 && (var.sqrt() - 1.0).abs() < 1e-5);
}

#[test]
fn unknown_name_lists_valid_names() {
    let e = load("spiral").unwrap_err();
    assert!(matches!(e, DataError::UnknownDataset { .. }));
    let msg = e.to_string();
    for (name, _) in list() {
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn linear_baselines_match_spec() {
    let shift = load("shift").unwrap();
    let gs = load("gaussian_shift").unwrap();
    let cases = [
        (&shift, 1, 66.5),
        (&gs, 1, 93.5),
        (&gs, 5, 66.5),
        (&gs, 10, 36.8),
        (&gs, 20, 7.0),
    ];
    for (d, k, want) in cases {
        let got = linear_baseline(d.train.view(), d.test.view(), k).unwrap();
        eprintln!("{} k={k}: {got:.2} % (spec {want} %)", d.name);
        assert!(
            (got - want).abs() < 1.0,
            "{} k={k}: {got} vs {want}",
            d.name
        );
    }
    // The shifted sine has linear rank 2: exact at k = 2.
    let got = linear_baseline(shift.train.view(), shift.test.view(), 2).unwrap();
    assert!(got < 1e-3, "shift k=2: {got}");
}

#[test]
fn gaussian_2d_images_peak_at_their_centres() {
    let d = load("2d_gaussian_shift_scale").unwrap();
    let s = GAUSSIAN_2D_SIZE;
    assert_eq!(d.image_shape, Some((1, s, s)));
    assert_eq!(d, load("2d_gaussian_shift_scale").unwrap());
    // Curves keep no image shape.
    assert_eq!(load("shift").unwrap().image_shape, None);
    let step = 2.0 / (s - 1) as f64;
    for (x, p) in [
        (&d.train, d.train_params.as_ref().unwrap()),
        (&d.test, d.test_params.as_ref().unwrap()),
    ] {
        for (img, centre) in x.rows().into_iter().zip(p.rows()) {
            let (arg, &max) = img
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap();
            let (px, py) = (
                -1.0 + (arg % s) as f64 * step,
                -1.0 + (arg / s) as f64 * step,
            );
            assert!(
                (px - centre[0]).abs() <= step / 2.0 + 1e-9,
                "x {px} vs {}",
                centre[0]
            );
            assert!(
                (py - centre[1]).abs() <= step / 2.0 + 1e-9,
                "y {py} vs {}",
                centre[1]
            );
            assert!(max > 0.9 && max <= 1.0, "{max}");
            assert!(img.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
    }
    // Training centres: a regular 20 x 20 grid over [-0.5, 0.5]^2.
    let tp = d.train_params.as_ref().unwrap();
    assert_eq!((tp[[0, 0]], tp[[0, 1]]), (-0.5, -0.5));
    assert_eq!((tp[[399, 0]], tp[[399, 1]]), (0.5, 0.5));
    // Test centres: x0 and y0 independent (not x0 = y0 as in the reference).
    let te = d.test_params.as_ref().unwrap();
    assert!(te.rows().into_iter().filter(|r| r[0] == r[1]).count() == 0);
    // Another size.
    let big = gaussian_2d(8);
    assert_eq!(big.image_shape, Some((1, 8, 8)));
    assert_eq!(big.train.dim(), (400, 64));
}

#[test]
fn gaussian_2d_linear_baselines() {
    // A translated blob is far from a low-rank linear family: the linear
    // baseline at k = 2 (the intrinsic dimension) is poor, and improves with k.
    let d = load("2d_gaussian_shift_scale").unwrap();
    let errs: Vec<f64> = [1, 2, 4, 8, 16]
        .iter()
        .map(|&k| {
            let e = linear_baseline(d.train.view(), d.test.view(), k).unwrap();
            eprintln!("2d_gaussian_shift_scale k={k}: {e:.2} %");
            e
        })
        .collect();
    assert!(errs.windows(2).all(|w| w[1] < w[0]), "{errs:?}");
    assert!(errs[1] > 20.0, "{errs:?}");
}
