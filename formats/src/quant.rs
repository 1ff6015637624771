//! TFLite's int8 quantization arithmetic for writers (std only):
//! [`quantize_multiplier`] (the `multiplier` / `shift` of a quantized layer)
//! and [`quantize`] (f32 to int8). Readers only check ranges; the runtime
//! has its own `no_std` twin of [`quantize`].

use crate::meta::QParams;

/// TFLite's `QuantizeMultiplier`: `real = multiplier * 2^(shift - 31)` with
/// the significand `multiplier` in `2^30..=2^31 - 1` (Q31 of `frexp`'s
/// `[0.5, 1)` mantissa, rounded half away from zero, a carry to `2^31`
/// halved with `shift + 1`).
///
/// `None` if `real` is not finite and positive or the shift falls outside
/// the format's `-31..=30` (TFLite would flush such a tiny multiplier to 0).
///
/// ```
/// use rrae_format::quant::quantize_multiplier;
/// assert_eq!(quantize_multiplier(0.5), Some((1 << 30, 0)));
/// assert_eq!(quantize_multiplier(1.0), Some((1 << 30, 1)));
/// assert_eq!(quantize_multiplier(0.75), Some((3 << 29, 0)));
/// ```
pub fn quantize_multiplier(real: f64) -> Option<(i32, i32)> {
    if !(real.is_finite() && real > 0.0) {
        return None;
    }
    let (mantissa, mut shift) = frexp(real);
    let mut q = (mantissa * (1u64 << 31) as f64).round() as i64;
    if q == 1 << 31 {
        q /= 2;
        shift += 1;
    }
    ((-31..=30).contains(&shift)).then_some((q as i32, shift))
}

/// `(m, e)` with `x = m * 2^e`, `m` in `[0.5, 1)`, for finite positive `x`.
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * f64::from(1u32 << 31) * f64::from(1u32 << 23));
        return (m, e - 54);
    }
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, exp - 1022)
}

/// TFLite's `QUANTIZE` (f32 to int8): `clamp(round(x / scale) + zero_point,
/// -128, 127)`, the division in f32, rounding half away from zero. NaN maps
/// to the zero point.
///
/// ```
/// use rrae_format::{meta::QParams, quant::quantize};
/// let p = QParams { scale: 0.5, zero_point: -1 };
/// assert_eq!([quantize(0.25, p), quantize(-0.25, p), quantize(1e9, p)], [0, -2, 127]);
/// ```
pub fn quantize(x: f32, p: QParams) -> i8 {
    let q = (x / p.scale).round();
    let q = if q.is_nan() { 0 } else { q as i32 }; // `as` saturates
    q.saturating_add(p.zero_point).clamp(-128, 127) as i8
}

/// `scale * (q - zero_point)`.
pub fn dequantize(q: i8, p: QParams) -> f32 {
    p.scale * (i32::from(q) - p.zero_point) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_matches_definition() {
        for x in [1.0, 0.5, 0.75, 3.0, 1e-30, 1e30, f64::MIN_POSITIVE / 8.0] {
            let (m, e) = frexp(x);
            assert!((0.5..1.0).contains(&m), "{x}");
            // Scaled by 2^100 so that 2^e stays a normal number.
            assert_eq!(m * 2f64.powi(e + 100), x * 2f64.powi(100));
        }
    }

    #[test]
    fn multiplier_round_trips_and_carries() {
        for real in [1e-9, 0.001, 0.0123, 0.3, 0.999_999_999_9, 1.0, 7.5, 1e9] {
            let (m, s) = quantize_multiplier(real).unwrap();
            assert!(m >= 1 << 30, "{real}");
            let back = f64::from(m) * 2f64.powi(s - 31);
            assert!((back / real - 1.0).abs() < 1e-9, "{real}");
        }
        // Mantissa rounding up to 2^31 carries into the shift.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), Some((1 << 30, 1)));
        assert_eq!(quantize_multiplier(2f64.powi(-40)), None);
        assert_eq!(quantize_multiplier(2f64.powi(40)), None);
        assert_eq!(quantize_multiplier(0.0), None);
        assert_eq!(quantize_multiplier(f64::NAN), None);
    }
}
