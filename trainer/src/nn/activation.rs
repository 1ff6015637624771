//! Element-wise activations: forward, derivative, and the names the CLI
//! accepts. The activation type is the file format's [`Activation`], so what
//! the trainer learns is exactly what the runtime runs.
//!
//! In f32, the batch [`forward`] of tanh and sigmoid runs the SIMD kernels of
//! `rten-vecmath` (within 3 and 4 ULP of the exact functions; the runtime's
//! `libm` is within 1-2 ULP), because the scalar `f32::tanh` was three
//! quarters of a batch reconstruct's time on the host (python/README.md).
//! f64 (the gradient tests) and the scalar [`value`] stay exact.

use std::any::TypeId;

use ndarray::{ArrayView2, ArrayViewMut2, NdFloat, Zip};
pub use rrae_format::meta::Activation;
use rten_simd::SimdUnaryOp;

/// Names accepted by [`parse`] (and `--activation`).
pub const NAMES: &[&str] = &[
    "identity",
    "relu",
    "leaky_relu",
    "tanh",
    "sigmoid",
    "elu",
    "softplus",
];

/// Slope of `leaky_relu` when given by name.
pub const LEAKY_SLOPE: f32 = 0.01;
/// `alpha` of `elu` when given by name.
pub const ELU_ALPHA: f32 = 1.0;

/// Parses an activation name (see [`NAMES`]); `None` if unknown.
pub fn parse(name: &str) -> Option<Activation> {
    Some(match name.to_ascii_lowercase().replace('-', "_").as_str() {
        "identity" | "linear" | "none" => Activation::Identity,
        "relu" => Activation::Relu,
        "leaky_relu" | "leakyrelu" => Activation::LeakyRelu { slope: LEAKY_SLOPE },
        "tanh" => Activation::Tanh,
        "sigmoid" => Activation::Sigmoid,
        "elu" => Activation::Elu { alpha: ELU_ALPHA },
        "softplus" => Activation::Softplus,
        _ => return None,
    })
}

/// Human-readable name of an activation (with its parameter, if any).
pub fn name(act: Activation) -> String {
    match act {
        Activation::Identity => "identity".into(),
        Activation::Relu => "relu".into(),
        Activation::LeakyRelu { slope } => format!("leaky_relu({slope})"),
        Activation::Tanh => "tanh".into(),
        Activation::Sigmoid => "sigmoid".into(),
        Activation::Elu { alpha } => format!("elu({alpha})"),
        Activation::Softplus => "softplus".into(),
    }
}

fn cast<T: NdFloat>(v: f32) -> T {
    // f32 -> f32/f64 always succeeds.
    T::from(v).unwrap_or_else(T::zero)
}

/// `f(z)` for one value.
#[inline]
pub fn value<T: NdFloat>(act: Activation, z: T) -> T {
    let zero = T::zero();
    match act {
        Activation::Identity => z,
        Activation::Relu => z.max(zero),
        Activation::LeakyRelu { slope } => {
            if z > zero {
                z
            } else {
                cast::<T>(slope) * z
            }
        }
        Activation::Tanh => z.tanh(),
        Activation::Sigmoid => T::one() / (T::one() + (-z).exp()),
        Activation::Elu { alpha } => {
            if z > zero {
                z
            } else {
                cast::<T>(alpha) * z.exp_m1()
            }
        }
        // Stable: max(z, 0) + ln(1 + exp(-|z|)).
        Activation::Softplus => z.max(zero) + (-z.abs()).exp().ln_1p(),
    }
}

/// `f'(z)` for one value (ReLU-type kinks take the left derivative at 0).
#[inline]
pub fn derivative<T: NdFloat>(act: Activation, z: T) -> T {
    let zero = T::zero();
    let one = T::one();
    match act {
        Activation::Identity => one,
        Activation::Relu => {
            if z > zero {
                one
            } else {
                zero
            }
        }
        Activation::LeakyRelu { slope } => {
            if z > zero {
                one
            } else {
                cast::<T>(slope)
            }
        }
        Activation::Tanh => {
            let t = z.tanh();
            one - t * t
        }
        Activation::Sigmoid | Activation::Softplus => {
            // softplus' = sigmoid.
            let s = value(Activation::Sigmoid, z);
            if matches!(act, Activation::Sigmoid) {
                s * (one - s)
            } else {
                s
            }
        }
        Activation::Elu { alpha } => {
            if z > zero {
                one
            } else {
                cast::<T>(alpha) * z.exp()
            }
        }
    }
}

/// `out = f(z)` element-wise (shapes must match).
///
/// ```
/// use ndarray::{array, Array2};
/// use rrae_trainer::nn::activation::{forward, Activation};
///
/// let z = array![[0.0f32, 1.0], [-1.0, 20.0]];
/// let mut out = Array2::zeros((2, 2));
/// forward(Activation::Tanh, z.view(), out.view_mut());
/// assert!((out[[0, 1]] - 1f32.tanh()).abs() < 1e-6);
/// assert_eq!(out[[1, 1]], 1.0);
/// ```
pub fn forward<T: NdFloat>(act: Activation, z: ArrayView2<T>, mut out: ArrayViewMut2<T>) {
    if TypeId::of::<T>() == TypeId::of::<f32>()
        && matches!(act, Activation::Tanh | Activation::Sigmoid)
    {
        out.assign(&z);
        if let Some(values) = out.as_slice_memory_order_mut() {
            simd_in_place(act, values);
            return;
        }
    }
    Zip::from(&mut out)
        .and(&z)
        .for_each(|o, &zi| *o = value(act, zi));
}

/// Applies tanh or sigmoid in place with `rten-vecmath`, through a stack
/// buffer of f32 (for `T = f32`, the only caller, the conversions are the
/// identity and compile away).
fn simd_in_place<T: NdFloat>(act: Activation, values: &mut [T]) {
    const CHUNK: usize = 512;
    let mut buf = [0f32; CHUNK];
    for chunk in values.chunks_mut(CHUNK) {
        let buf = &mut buf[..chunk.len()];
        for (b, v) in buf.iter_mut().zip(chunk.iter()) {
            *b = v.to_f32().unwrap_or(f32::NAN);
        }
        match act {
            Activation::Sigmoid => rten_vecmath::Sigmoid {}.map_mut(buf),
            _ => rten_vecmath::Tanh {}.map_mut(buf),
        }
        for (v, &b) in chunk.iter_mut().zip(buf.iter()) {
            *v = T::from(b).unwrap_or_else(T::nan);
        }
    }
}

/// `g *= f'(z)` element-wise: turns dL/d(output) into dL/d(pre-activation).
pub fn backward_in_place<T: NdFloat>(act: Activation, z: ArrayView2<T>, mut g: ArrayViewMut2<T>) {
    if matches!(act, Activation::Identity) {
        return;
    }
    Zip::from(&mut g)
        .and(&z)
        .for_each(|gi, &zi| *gi *= derivative(act, zi));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central finite differences of `value` against `derivative`, in f64,
    /// away from the kinks.
    #[test]
    fn derivative_matches_finite_differences() {
        let h = 1e-6;
        for &n in NAMES {
            let act = parse(n).unwrap();
            for &z in &[-3.1, -1.2, -0.3, 0.2, 0.7, 2.5, 8.0] {
                let fd = (value(act, z + h) - value(act, z - h)) / (2.0 * h);
                let an: f64 = derivative(act, z);
                let rel = (fd - an).abs() / an.abs().max(1e-3);
                assert!(rel < 1e-5, "{n} at {z}: fd {fd} analytic {an}");
            }
        }
    }

    /// The SIMD f32 forward of tanh and sigmoid against the exact f64
    /// functions, over a range that covers both saturations and tiny inputs,
    /// in a non-contiguous view too (the scalar fallback).
    #[test]
    fn f32_forward_is_within_a_few_ulp_of_exact() {
        let z: Vec<f32> = (-4000..=4000)
            .map(|i| i as f32 * 0.005)
            .chain([1e-8, -3e-5, 40.0, -40.0])
            .collect();
        let z = ndarray::Array2::from_shape_vec((1, z.len()), z).unwrap();
        for act in [Activation::Tanh, Activation::Sigmoid] {
            let mut out = ndarray::Array2::<f32>::zeros(z.dim());
            forward(act, z.view(), out.view_mut());
            let mut strided = ndarray::Array2::<f32>::zeros((z.ncols(), 1));
            forward(act, z.t(), strided.view_mut());
            for ((&zi, &o), &s) in z.iter().zip(out.iter()).zip(strided.iter()) {
                let exact = value(act, zi as f64);
                let tol = 4.0 * f32::EPSILON as f64 * exact.abs() + 1e-30;
                assert!(
                    (o as f64 - exact).abs() <= tol,
                    "{act:?}({zi}) = {o}, exact {exact}"
                );
                assert!(
                    (s as f64 - exact).abs() <= tol,
                    "strided {act:?}({zi}) = {s}"
                );
            }
        }
    }

    #[test]
    fn names_round_trip_and_unknown_is_none() {
        for &n in NAMES {
            let act = parse(n).unwrap();
            assert!(name(act).starts_with(n));
        }
        assert!(parse("swish").is_none());
    }

    #[test]
    fn softplus_is_stable_for_large_inputs() {
        assert_eq!(value(Activation::Softplus, 1000.0f32), 1000.0);
        assert!(value(Activation::Softplus, -1000.0f32) >= 0.0);
        assert!(value(Activation::Sigmoid, -1000.0f32).is_finite());
    }
}
