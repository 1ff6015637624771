//! Quantization parameters: activation `QParams` from a calibrated range
//! (TFLite's `ChooseQuantizationParams`, nudged so that 0.0 is exact),
//! quantize / dequantize of one value (TFLite's QUANTIZE / DEQUANTIZE, from
//! `rrae_format::quant`), and
//! per-channel symmetric weights with their int32 biases.

use super::QParams;

/// `QParams` of an int8 tensor whose values span `[min, max]`, as TFLite's
/// `ChooseQuantizationParams<int8_t>`: the range is widened to contain 0,
/// `scale = (max − min) / 255`, and the zero point is the rounded (half away
/// from zero) real zero point, taken from the end with the smaller error and
/// clamped to `[-128, 127]`, so that 0.0 is represented exactly. A range of
/// one point (all zeros) gets scale 1, zero point 0. `None` for a
/// non-finite bound.
///
/// ```
/// use rrae_trainer::quantize::params::choose_qparams;
/// let q = choose_qparams(-1.0, 1.0).unwrap();
/// assert_eq!((q.scale, q.zero_point), (2.0 / 255.0, -1)); // -0.5 rounds away from 0
/// assert_eq!(choose_qparams(0.0, 6.0).unwrap().zero_point, -128);
/// ```
pub fn choose_qparams(min: f32, max: f32) -> Option<QParams> {
    if !min.is_finite() || !max.is_finite() {
        return None;
    }
    let (rmin, rmax) = (f64::from(min.min(0.0)), f64::from(max.max(0.0)));
    let (qmin, qmax) = (-128.0f64, 127.0f64);
    let scale = (rmax - rmin) / (qmax - qmin);
    let scale32 = scale as f32;
    if !(scale32 > 0.0 && scale32.is_finite()) {
        return Some(QParams {
            scale: 1.0,
            zero_point: 0,
        });
    }
    let from_min = qmin - rmin / scale;
    let from_max = qmax - rmax / scale;
    let err_min = qmin.abs() + (rmin / scale).abs();
    let err_max = qmax.abs() + (rmax / scale).abs();
    let zp = if err_min < err_max {
        from_min
    } else {
        from_max
    };
    Some(QParams {
        scale: scale32,
        zero_point: zp.round().clamp(qmin, qmax) as i32,
    })
}

pub use rrae_format::quant::{dequantize, quantize};

/// A weight tensor quantized symmetrically per output channel.
#[derive(Debug, Clone, PartialEq)]
pub struct QWeights {
    /// The int8 weights, in `[-127, 127]`, same layout as the f32 ones.
    pub values: Vec<i8>,
    /// One scale per output channel (finite, positive).
    pub scales: Vec<f32>,
}

/// Quantizes `w` per output channel: `scale[c] = max|w_c| / 127` and
/// `q = round(w / scale[c])` (half away from zero). `channel(i)` gives the
/// output channel of flat index `i`. A channel whose weights are all zero
/// gets the layer's largest scale (or 1 when the whole layer is zero), so
/// that its requantization multiplier stays in TFLite's normal range.
/// `None` if a weight is not finite.
pub fn quantize_weights(
    w: &[f32],
    channels: usize,
    channel: impl Fn(usize) -> usize,
) -> Option<QWeights> {
    let mut max_abs = vec![0.0f32; channels];
    for (i, &v) in w.iter().enumerate() {
        if !v.is_finite() {
            return None;
        }
        let m = max_abs.get_mut(channel(i))?;
        *m = m.max(v.abs());
    }
    let layer_max = max_abs.iter().copied().fold(0.0f32, f32::max);
    let fallback = if layer_max > 0.0 {
        layer_max / 127.0
    } else {
        1.0
    };
    let scales: Vec<f32> = max_abs
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { fallback })
        .collect();
    let values = w
        .iter()
        .enumerate()
        .map(|(i, &v)| (v / scales[channel(i)]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    Some(QWeights { values, scales })
}

/// The int32 bias of channel `c`: `round(b / (input_scale · weight_scale))`
/// (in f64, half away from zero), saturated to the i32 range.
pub fn quantize_bias(b: f32, input_scale: f32, weight_scale: f32) -> i32 {
    let s = f64::from(input_scale) * f64::from(weight_scale);
    let v = (f64::from(b) / s).round();
    v.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
}

/// The requantization scale of a channel as TFLite (Micro) computes it:
/// `double(input) · double(weight) / double(output)` for per-channel
/// weights (`PopulateConvolutionQuantizationParams`), but
/// `double(float(input · weight)) / double(output)` for a fully connected
/// layer with a single weight scale (`GetQuantizedConvolutionMultipler`),
/// which is how TFLite reads a dense layer with one output.
pub fn effective_scale(input: f32, weight: f32, output: f32, fc_per_tensor: bool) -> f64 {
    if fc_per_tensor {
        f64::from(input * weight) / f64::from(output)
    } else {
        f64::from(input) * f64::from(weight) / f64::from(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_exact_and_known_params() {
        for &(lo, hi) in &[
            (-1.0f32, 1.0f32),
            (-0.3, 5.7),
            (0.0, 1.0),
            (-2.5, 0.0),
            (-1e-3, 7.0),
        ] {
            let q = choose_qparams(lo, hi).unwrap();
            assert_eq!(dequantize(quantize(0.0, q), q), 0.0, "{lo}..{hi}");
            assert!((-128..=127).contains(&q.zero_point));
        }
        // TFLite: [0, 1] -> scale 1/255, zero point -128; [-1, 0] -> 127.
        let q = choose_qparams(0.0, 1.0).unwrap();
        assert_eq!((q.scale, q.zero_point), (1.0 / 255.0, -128));
        assert_eq!(choose_qparams(-1.0, 0.0).unwrap().zero_point, 127);
        // [-0.3, 5.7]: scale 6/255, zero point round(-128 + 0.3·42.5) = -115.
        let q = choose_qparams(-0.3, 5.7).unwrap();
        assert_eq!(q.zero_point, -115);
        assert_eq!(
            choose_qparams(0.0, 0.0).unwrap(),
            QParams {
                scale: 1.0,
                zero_point: 0
            }
        );
        assert!(choose_qparams(f32::NAN, 1.0).is_none());
    }

    #[test]
    fn quantize_rounds_half_away_and_saturates() {
        let q = QParams {
            scale: 0.5,
            zero_point: 3,
        };
        assert_eq!(quantize(0.25, q), 4); // 0.5 -> 1
        assert_eq!(quantize(-0.25, q), 2); // -0.5 -> -1
        assert_eq!(quantize(1e6, q), 127);
        assert_eq!(quantize(-1e6, q), -128);
        assert_eq!(quantize(f32::NAN, q), 3);
        assert_eq!(dequantize(5, q), 1.0);
    }

    #[test]
    fn per_channel_weights() {
        // Two output channels of three weights; the second is all zero.
        let w = [0.5f32, -1.0, 0.25, 0.0, 0.0, 0.0];
        let q = quantize_weights(&w, 2, |i| i / 3).unwrap();
        assert_eq!(q.scales, vec![1.0 / 127.0, 1.0 / 127.0]);
        assert_eq!(q.values, vec![64, -127, 32, 0, 0, 0]);
        let z = quantize_weights(&[0.0; 4], 2, |i| i / 2).unwrap();
        assert_eq!(z.scales, vec![1.0, 1.0]);
        assert!(quantize_weights(&[f32::INFINITY], 1, |_| 0).is_none());
        assert!(quantize_weights(&[1.0], 1, |_| 5).is_none());
    }

    #[test]
    fn bias_at_the_product_scale() {
        assert_eq!(quantize_bias(1.0, 0.5, 0.01), 200);
        assert_eq!(quantize_bias(-0.0125, 0.5, 0.01), -3); // -2.5 -> -3
        assert_eq!(quantize_bias(1e30, 1e-3, 1e-3), i32::MAX);
    }
}
