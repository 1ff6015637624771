//! The RRAE training loss: relative Frobenius error in percent,
//! `100 · ‖X̂ − X‖_F / ‖X‖_F` over the whole batch, and its gradient.

use ndarray::{ArrayView2, ArrayViewMut2, NdFloat, Zip};

/// Loss of `x_hat` against `x` (same shapes); writes dLoss/dX̂ =
/// `100 (X̂ − X) / (‖X̂ − X‖_F ‖X‖_F)` into `grad`. A zero `X` or a perfect
/// reconstruction gives a zero gradient instead of NaN.
pub fn relative_loss<T: NdFloat>(
    x_hat: ArrayView2<T>,
    x: ArrayView2<T>,
    mut grad: ArrayViewMut2<T>,
) -> T {
    let hundred = T::from(100.0).unwrap_or_else(T::one);
    Zip::from(&mut grad)
        .and(&x_hat)
        .and(&x)
        .for_each(|g, &p, &t| *g = p - t);
    let err = grad.iter().fold(T::zero(), |acc, &d| acc + d * d).sqrt();
    let norm = x.iter().fold(T::zero(), |acc, &v| acc + v * v).sqrt();
    let denom = err * norm;
    if denom > T::zero() {
        let scale = hundred / denom;
        grad.mapv_inplace(|d| d * scale);
        hundred * err / norm
    } else {
        grad.fill(T::zero());
        if norm > T::zero() {
            T::zero()
        } else {
            T::infinity()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn gradient_matches_finite_differences() {
        let x = Array2::from_shape_fn((4, 3), |(i, j)| ((i * 3 + j) as f64 * 0.7).sin() + 0.1);
        let x_hat = Array2::from_shape_fn((4, 3), |(i, j)| ((i * 3 + j) as f64 * 0.5).cos());
        let mut g = Array2::zeros((4, 3));
        let l = relative_loss(x_hat.view(), x.view(), g.view_mut());
        let direct =
            100.0 * (&x_hat - &x).mapv(|v| v * v).sum().sqrt() / x.mapv(|v| v * v).sum().sqrt();
        assert!((l - direct).abs() < 1e-12);
        let h = 1e-6;
        let mut scratch = Array2::zeros((4, 3));
        for idx in [(0, 0), (1, 2), (3, 1), (2, 0)] {
            let (mut p, mut m) = (x_hat.clone(), x_hat.clone());
            p[idx] += h;
            m[idx] -= h;
            let fd = (relative_loss(p.view(), x.view(), scratch.view_mut())
                - relative_loss(m.view(), x.view(), scratch.view_mut()))
                / (2.0 * h);
            assert!(
                (fd - g[idx]).abs() / g[idx].abs().max(1e-4) < 1e-5,
                "{idx:?}: {fd} vs {}",
                g[idx]
            );
        }
    }

    #[test]
    fn perfect_fit_gives_zero_loss_and_gradient() {
        let x = Array2::from_elem((2, 2), 1.5f32);
        let mut g = Array2::from_elem((2, 2), 9.0f32);
        assert_eq!(relative_loss(x.view(), x.view(), g.view_mut()), 0.0);
        assert!(g.iter().all(|&v| v == 0.0));
    }
}
