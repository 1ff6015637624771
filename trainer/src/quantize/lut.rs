//! Activations of an int8 layer: ReLU / identity as clamps on the
//! requantized value, every other activation as a 256-entry int8 table
//! indexed by it.

use rrae_format::meta::Activation;

use super::params::{dequantize, quantize};
use super::QParams;
use crate::nn::activation;

/// `(min, max)` of the clamp that implements `act` on values quantized with
/// `out`, as TFLite's `CalculateActivationRangeQuantized`; `None` for an
/// activation that needs a table.
pub fn clamp_range(act: Activation, out: QParams) -> Option<(i8, i8)> {
    match act {
        Activation::Identity => Some((-128, 127)),
        Activation::Relu => Some((out.zero_point.clamp(-128, 127) as i8, 127)),
        _ => None,
    }
}

/// The part of a calibrated pre-activation range `[min, max]` that a table
/// needs: where a saturating activation (ELU's and softplus's lower end,
/// both ends of tanh and sigmoid) is within half an output step
/// (`out_scale / 2`) of its asymptote, every further input gives the same
/// table entry, so the range stops there and its scale gets finer.
pub fn table_input_range(act: Activation, min: f32, max: f32, out_scale: f32) -> (f32, f32) {
    let half = f64::from(out_scale) / 2.0;
    let (lo, hi) = match act {
        Activation::Elu { alpha } if alpha > 0.0 => ((half / f64::from(alpha)).ln(), f64::INFINITY),
        Activation::Softplus => (half.ln(), f64::INFINITY),
        // 1 - tanh(x) < 2 exp(-2x); 1 - sigmoid(x) < exp(-x).
        Activation::Tanh => {
            let x = (2.0 / half).ln() / 2.0;
            (-x, x)
        }
        Activation::Sigmoid => {
            let x = (1.0 / half).ln();
            (-x, x)
        }
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    };
    let lo = if lo.is_finite() {
        (lo as f32).min(0.0)
    } else {
        f32::NEG_INFINITY
    };
    let hi = if hi.is_finite() {
        (hi as f32).max(0.0)
    } else {
        f32::INFINITY
    };
    (min.max(lo), max.min(hi))
}

/// The table of `act`: entry `q + 128` is `act(x)` quantized with `output`,
/// where `x` is `q` dequantized with `input` (the requantized
/// pre-activation's parameters).
pub fn table(act: Activation, input: QParams, output: QParams) -> [i8; 256] {
    let mut t = [0i8; 256];
    for (i, e) in t.iter_mut().enumerate() {
        let x = dequantize((i as i32 - 128) as i8, input);
        *e = quantize(activation::value(act, x), output);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_clamps_at_the_zero_point() {
        let out = QParams {
            scale: 0.1,
            zero_point: -20,
        };
        assert_eq!(clamp_range(Activation::Relu, out), Some((-20, 127)));
        assert_eq!(clamp_range(Activation::Identity, out), Some((-128, 127)));
        assert_eq!(clamp_range(Activation::Tanh, out), None);
    }

    #[test]
    fn saturating_ends_are_clipped() {
        // exp(x) < 0.05 below ln(0.05) = -3.0.
        let (lo, hi) = table_input_range(Activation::Elu { alpha: 1.0 }, -40.0, 7.0, 0.1);
        assert!((lo - 0.05f32.ln()).abs() < 1e-6 && hi == 7.0, "{lo} {hi}");
        let (lo, hi) = table_input_range(Activation::Tanh, -40.0, 1.0, 1.0 / 128.0);
        assert!(lo > -4.0 && lo < -3.0 && hi == 1.0, "{lo} {hi}");
        assert_eq!(
            table_input_range(Activation::Relu, -4.0, 4.0, 0.1),
            (-4.0, 4.0)
        );
        assert_eq!(
            table_input_range(Activation::Softplus, -1.0, 9.0, 0.1),
            (-1.0, 9.0)
        );
    }

    #[test]
    fn tanh_table_is_monotone_and_exact_at_zero() {
        let input = QParams {
            scale: 4.0 / 128.0,
            zero_point: 0,
        };
        let output = QParams {
            scale: 1.0 / 128.0,
            zero_point: 0,
        };
        let t = table(Activation::Tanh, input, output);
        assert_eq!(t[128], 0);
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(t[0], -128); // tanh(-4) · 128 = -127.9
    }
}
