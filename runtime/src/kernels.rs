//! Numerical kernels on plain slices: dot product, matrix-vector products,
//! activations. Safe code only; written so that the compiler can drop bounds
//! checks and vectorize (fixed-size chunks, zipped iterators, eight
//! independent partial sums).

use rrae_format::meta::Activation;

/// Independent accumulators in [`dot`]; breaks the add dependency chain.
const LANES: usize = 8;

/// `sum(a[i] * b[i])` over the common length of `a` and `b`.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (a.split_at(n).0, b.split_at(n).0);
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0f32; LANES];
    for (x, y) in ac.zip(bc) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
    ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)) + tail
}

/// `y = W[:, ..x.len()] x` for row-major `W` with `cols` columns: each row
/// uses only its first `x.len()` entries (progressive decoding), and `y`
/// takes as many rows as it has room for.
pub(crate) fn matvec(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    for (yi, row) in y.iter_mut().zip(w.chunks_exact(cols.max(1))) {
        *yi = dot(row, x);
    }
}

/// `y = W^T x` for row-major `W` with `y.len()` columns (`x.len()` rows).
pub(crate) fn matvec_t(w: &[f32], x: &[f32], y: &mut [f32]) {
    y.fill(0.0);
    for (xi, row) in x.iter().zip(w.chunks_exact(y.len().max(1))) {
        for (yj, wij) in y.iter_mut().zip(row) {
            *yj += xi * wij;
        }
    }
}

/// `y = act(W[:, ..x.len()] x + b)`: one Dense layer.
pub(crate) fn dense(w: &[f32], cols: usize, b: &[f32], x: &[f32], y: &mut [f32], act: Activation) {
    matvec(w, cols, x, y);
    for (yi, bi) in y.iter_mut().zip(b) {
        *yi += bi;
    }
    activate(act, y);
}

/// Applies `act` element-wise in place (one `match`, then a tight loop).
pub(crate) fn activate(act: Activation, y: &mut [f32]) {
    match act {
        Activation::Identity => {}
        Activation::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::LeakyRelu { slope } => y
            .iter_mut()
            .for_each(|v| *v = if *v > 0.0 { *v } else { slope * *v }),
        Activation::Tanh => map(y, libm::tanhf),
        Activation::Sigmoid => map(y, |v| 1.0 / (1.0 + libm::expf(-v))),
        Activation::Elu { alpha } => map(y, |v| if v > 0.0 { v } else { alpha * libm::expm1f(v) }),
        // ln(1 + e^v) = max(v, 0) + ln(1 + e^-|v|), without overflow.
        Activation::Softplus => map(y, |v| v.max(0.0) + libm::log1pf(libm::expf(-v.abs()))),
    }
}

/// `v = f(v)` for every element.
fn map(y: &mut [f32], f: impl Fn(f32) -> f32) {
    y.iter_mut().for_each(|v| *v = f(*v));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rrae_format::testing::activate_f64;
    use std::vec::Vec;

    fn activation() -> impl Strategy<Value = Activation> {
        prop_oneof![
            Just(Activation::Identity),
            Just(Activation::Relu),
            (-1.0f32..1.0).prop_map(|slope| Activation::LeakyRelu { slope }),
            Just(Activation::Tanh),
            Just(Activation::Sigmoid),
            (0.1f32..2.0).prop_map(|alpha| Activation::Elu { alpha }),
            Just(Activation::Softplus),
        ]
    }

    /// Random `rows x cols` matrix, `cols` vector, `rows` bias.
    fn problem() -> impl Strategy<Value = (usize, usize, Vec<f32>, Vec<f32>, Vec<f32>)> {
        (1usize..12, 1usize..40).prop_flat_map(|(rows, cols)| {
            let v = |n| prop::collection::vec(-2.0f32..2.0, n);
            (Just(rows), Just(cols), v(rows * cols), v(cols), v(rows))
        })
    }

    fn ref_dot(a: &[f32], b: &[f32]) -> (f64, f64) {
        let terms = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y));
        terms.fold((0.0, 0.0), |(s, m), t| (s + t, m + t.abs()))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn activations_match_reference(act in activation(), v in -30.0f32..30.0) {
            let mut y = [v];
            activate(act, &mut y);
            let r = activate_f64(act, f64::from(v));
            prop_assert!((f64::from(y[0]) - r).abs() <= 1e-6 * (1.0 + r.abs()), "{act:?}({v}) = {} vs {r}", y[0]);
        }

        #[test]
        fn dense_matches_reference((rows, cols, w, x, b) in problem(), act in activation(), used in 0usize..40) {
            let used = used.min(cols);
            let mut y = std::vec![0.0; rows];
            dense(&w, cols, &b, &x[..used], &mut y, act);
            for (r, yi) in y.iter().enumerate() {
                let (s, mag) = ref_dot(&w[r * cols..r * cols + used], &x[..used]);
                let pre = s + f64::from(b[r]);
                let expected = activate_f64(act, pre);
                let tol = 1e-6 * (1.0 + mag + f64::from(b[r]).abs()) * 4.0;
                prop_assert!((f64::from(*yi) - expected).abs() <= tol, "row {r}: {yi} vs {expected}");
            }
        }

        #[test]
        fn matvec_t_matches_reference((rows, cols, w, _x, y0) in problem()) {
            let mut y = std::vec![0.0; cols];
            matvec_t(&w, &y0, &mut y);
            for (c, yc) in y.iter().enumerate() {
                let col: Vec<f32> = (0..rows).map(|r| w[r * cols + c]).collect();
                let (s, mag) = ref_dot(&col, &y0);
                prop_assert!((f64::from(*yc) - s).abs() <= 1e-6 * (1.0 + mag) * 4.0);
            }
        }
    }

    #[test]
    fn softplus_does_not_overflow() {
        let mut y = [100.0, -100.0];
        activate(Activation::Softplus, &mut y);
        assert_eq!(y[0], 100.0);
        assert!(y[1] > 0.0 && y[1] < 1e-40);
    }
}
