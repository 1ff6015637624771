//! TFLite's fixed-point requantization, `MultiplyByQuantizedMultiplier` in
//! its default double-rounding form
//! (`SaturatingRoundingDoublingHighMul`, then `RoundingDivideByPOT`), as in
//! `tensorflow/lite/kernels/internal/{quantization_util.cc, common.h}` of
//! tflite-micro (built without `TFLITE_SINGLE_ROUNDING`).

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: the high 32 bits of
/// `2 a b`, rounded to nearest (ties away from zero), saturating the one
/// overflow case `a = b = i32::MIN`.
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Integer division truncating toward zero, as in C.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest,
/// ties away from zero; `exponent` in `0..=31`.
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = exponent.clamp(0, 31);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// TFLite's `MultiplyByQuantizedMultiplier(x, multiplier, shift)` (double
/// rounding): `x · 2^max(shift, 0)` (wrapping, as the C code does on
/// two's-complement targets), the doubling high multiply, then a rounding
/// right shift by `max(−shift, 0)`.
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.clamp(0, 31);
    let right = (-shift).clamp(0, 31);
    let high = saturating_rounding_doubling_high_mul(
        x.wrapping_mul(1i32.wrapping_shl(left as u32)),
        multiplier,
    );
    rounding_divide_by_pot(high, right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rrae_format::quant::quantize_multiplier;

    #[test]
    fn quantize_multiplier_known_tflite_values() {
        // Values computed by tflite::QuantizeMultiplier.
        assert_eq!(quantize_multiplier(0.75), Some((1610612736, 0)));
        assert_eq!(quantize_multiplier(0.1), Some((1717986918, -3)));
        assert_eq!(quantize_multiplier(2.0), Some((1 << 30, 2)));
        assert_eq!(quantize_multiplier(1e-3), Some((1099511628, -9)));
    }

    #[test]
    fn gemmlowp_primitives() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        // gemmlowp rounds a negative tie toward zero: -1.5 -> -1.
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
    }

    #[test]
    fn requantization_matches_the_real_product() {
        // Within one unit of round(x · m) for moderate values.
        for &m in &[0.0003, 0.02, 0.4, 0.999, 1.7, 37.0] {
            let (q, s) = quantize_multiplier(m).unwrap();
            for x in (-100_000..100_000).step_by(997) {
                let got = multiply_by_quantized_multiplier(x, q, s);
                let want = (f64::from(x) * m).round();
                assert!(
                    (f64::from(got) - want).abs() <= 1.0,
                    "{x} * {m}: {got} vs {want}"
                );
            }
        }
    }
}
