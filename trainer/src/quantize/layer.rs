//! One int8 layer as the trainer builds it ([`QLayer`]: TFLite's int8
//! scheme, the contents of a format 1.2 quantized layer) and its scalar
//! reference forward pass, written for clarity: the oracle that calibration
//! choices, the runtime's kernels and the TFLite Micro side-by-side check
//! are compared with.

use rrae_format::meta::Activation;

use super::fixed_point::multiply_by_quantized_multiplier;
use super::QParams;
use crate::nn::conv::{Conv2dSpec, ConvTranspose2dSpec};

/// `((in_channels, out_channels), (H, W), [kernel, stride, padding])`.
pub type ConvParts = ((usize, usize), (usize, usize), [(usize, usize); 3]);

/// The linear map of a quantized layer (geometry only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QKind {
    /// `out x in` weights, row-major.
    Dense {
        /// Input width.
        in_dim: usize,
        /// Output width.
        out_dim: usize,
    },
    /// Convolution; weights `out x in x kh x kw`.
    Conv2d(Conv2dSpec),
    /// Transposed convolution; weights `in x out x kh x kw`.
    ConvTranspose2d(ConvTranspose2dSpec),
}

impl QKind {
    /// Output channels (one weight scale, bias, multiplier each).
    pub fn channels(&self) -> usize {
        match *self {
            QKind::Dense { out_dim, .. } => out_dim,
            QKind::Conv2d(s) => s.out_channels,
            QKind::ConvTranspose2d(s) => s.out_channels,
        }
    }

    /// Output channel of flat weight index `i`.
    pub fn weight_channel(&self, i: usize) -> usize {
        match *self {
            QKind::Dense { in_dim, .. } => i / in_dim.max(1),
            QKind::Conv2d(s) => i / (s.in_channels * s.kernel.0 * s.kernel.1).max(1),
            QKind::ConvTranspose2d(s) => {
                (i / (s.kernel.0 * s.kernel.1).max(1)) % s.out_channels.max(1)
            }
        }
    }

    /// Channels in and out, input `(H, W)`, and kernel, stride and padding
    /// `(height, width)` of a convolution of either kind; `None` for dense.
    pub fn conv_geometry(&self) -> Option<ConvParts> {
        match *self {
            QKind::Dense { .. } => None,
            QKind::Conv2d(s) => Some((
                (s.in_channels, s.out_channels),
                s.input,
                [s.kernel, s.stride, s.padding],
            )),
            QKind::ConvTranspose2d(s) => Some((
                (s.in_channels, s.out_channels),
                s.input,
                [s.kernel, s.stride, s.padding],
            )),
        }
    }

    /// Output spatial size `(H, W)` (1 x 1 for dense).
    pub fn out_hw(&self) -> (usize, usize) {
        match *self {
            QKind::Dense { .. } => (1, 1),
            QKind::Conv2d(s) => {
                let axis = |n: usize, k: usize, st: usize, p: usize| (n + 2 * p - k) / st + 1;
                (
                    axis(s.input.0, s.kernel.0, s.stride.0, s.padding.0),
                    axis(s.input.1, s.kernel.1, s.stride.1, s.padding.1),
                )
            }
            QKind::ConvTranspose2d(s) => {
                let axis = |n: usize, k: usize, st: usize, p: usize, op: usize| {
                    (n - 1) * st + k + op - 2 * p
                };
                (
                    axis(
                        s.input.0,
                        s.kernel.0,
                        s.stride.0,
                        s.padding.0,
                        s.output_padding.0,
                    ),
                    axis(
                        s.input.1,
                        s.kernel.1,
                        s.stride.1,
                        s.padding.1,
                        s.output_padding.1,
                    ),
                )
            }
        }
    }

    /// Input and output widths.
    pub fn dims(&self) -> (usize, usize) {
        let (ho, wo) = self.out_hw();
        match *self {
            QKind::Dense { in_dim, out_dim } => (in_dim, out_dim),
            QKind::Conv2d(s) => (
                s.in_channels * s.input.0 * s.input.1,
                s.out_channels * ho * wo,
            ),
            QKind::ConvTranspose2d(s) => (
                s.in_channels * s.input.0 * s.input.1,
                s.out_channels * ho * wo,
            ),
        }
    }
}

/// The activation of a quantized layer.
#[derive(Debug, Clone, PartialEq)]
pub enum QAct {
    /// `q = clamp(v, min, max)` (identity, ReLU).
    Clamp {
        /// Lower bound.
        min: i8,
        /// Upper bound.
        max: i8,
    },
    /// `y = table[clamp(v, -128, 127) + 128]`.
    Table {
        /// 256 entries.
        table: Vec<i8>,
        /// Parameters of `y`.
        output: QParams,
        /// The f32 activation the table was built from.
        source: Activation,
    },
}

/// One int8 layer: TFLite's per-channel int8 scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct QLayer {
    /// Geometry.
    pub kind: QKind,
    /// Parameters of the int8 input.
    pub input: QParams,
    /// Symmetric int8 weights, same layout as the f32 ones.
    pub weight: Vec<i8>,
    /// One scale per output channel, or one for all.
    pub weight_scale: Vec<f32>,
    /// int32 biases at scale `input.scale · weight_scale[c]`.
    pub bias: Vec<i32>,
    /// `QuantizeMultiplier` significands, as many as `weight_scale`.
    pub multiplier: Vec<i32>,
    /// `QuantizeMultiplier` shifts, as many as `weight_scale`.
    pub shift: Vec<i32>,
    /// Parameters of the requantized accumulator.
    pub output: QParams,
    /// Clamp or table.
    pub act: QAct,
}

impl QLayer {
    /// Parameters of the layer's final int8 output.
    pub fn out_qparams(&self) -> QParams {
        match &self.act {
            QAct::Clamp { .. } => self.output,
            QAct::Table { output, .. } => *output,
        }
    }

    /// Requantizes accumulator `acc` of channel `c` and applies the
    /// activation.
    fn finish(&self, acc: i32, c: usize) -> i8 {
        let c = c.min(self.multiplier.len().saturating_sub(1));
        let v = multiply_by_quantized_multiplier(acc, self.multiplier[c], self.shift[c])
            .saturating_add(self.output.zero_point);
        match &self.act {
            QAct::Clamp { min, max } => v.clamp(i32::from(*min), i32::from(*max)) as i8,
            QAct::Table { table, .. } => table[(v.clamp(-128, 127) + 128) as usize],
        }
    }

    /// The reference forward pass of one sample (`x.len()` = input width).
    /// Accumulators wrap on i32 overflow, as TFLite's do.
    pub fn forward(&self, x: &[i8]) -> Vec<i8> {
        let zp = self.input.zero_point;
        let xin = |i: usize| i32::from(x[i]) - zp;
        let (_, out_len) = self.kind.dims();
        let mut acc: Vec<i32> = vec![0; out_len];
        let per_channel = out_len / self.kind.channels().max(1);
        match self.kind {
            QKind::Dense { in_dim, .. } => {
                for (a, row) in acc.iter_mut().zip(self.weight.chunks(in_dim.max(1))) {
                    *a = row.iter().enumerate().fold(0i32, |a, (i, &w)| {
                        a.wrapping_add(xin(i).wrapping_mul(i32::from(w)))
                    });
                }
            }
            QKind::Conv2d(s) => {
                let (ho, wo) = self.kind.out_hw();
                let (h, w) = s.input;
                let (kh, kw) = s.kernel;
                for co in 0..s.out_channels {
                    for oy in 0..ho {
                        for ox in 0..wo {
                            let mut a = 0i32;
                            for ci in 0..s.in_channels {
                                for ky in 0..kh {
                                    let Some(iy) = tap(oy, s.stride.0, ky, s.padding.0, h) else {
                                        continue;
                                    };
                                    for kx in 0..kw {
                                        let Some(ix) = tap(ox, s.stride.1, kx, s.padding.1, w)
                                        else {
                                            continue;
                                        };
                                        let xi = (ci * h + iy) * w + ix;
                                        let wi = ((co * s.in_channels + ci) * kh + ky) * kw + kx;
                                        a = a.wrapping_add(
                                            xin(xi).wrapping_mul(i32::from(self.weight[wi])),
                                        );
                                    }
                                }
                            }
                            acc[(co * ho + oy) * wo + ox] = a;
                        }
                    }
                }
            }
            QKind::ConvTranspose2d(s) => {
                let (ho, wo) = self.kind.out_hw();
                let (h, w) = s.input;
                let (kh, kw) = s.kernel;
                for ci in 0..s.in_channels {
                    for iy in 0..h {
                        for ix in 0..w {
                            let v = xin((ci * h + iy) * w + ix);
                            for co in 0..s.out_channels {
                                for ky in 0..kh {
                                    let Some(oy) = tap(iy, s.stride.0, ky, s.padding.0, ho) else {
                                        continue;
                                    };
                                    for kx in 0..kw {
                                        let Some(ox) = tap(ix, s.stride.1, kx, s.padding.1, wo)
                                        else {
                                            continue;
                                        };
                                        let wi = ((ci * s.out_channels + co) * kh + ky) * kw + kx;
                                        let oi = (co * ho + oy) * wo + ox;
                                        acc[oi] = acc[oi].wrapping_add(
                                            v.wrapping_mul(i32::from(self.weight[wi])),
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        acc.iter()
            .enumerate()
            .map(|(i, &a)| {
                let c = i / per_channel.max(1);
                self.finish(a.wrapping_add(self.bias[c]), c)
            })
            .collect()
    }
}

/// The pixel `a · stride + k − pad` along one axis, if it lies in
/// `0..limit`: the input pixel of a convolution's output `a` and tap `k`, or
/// the output pixel of a transposed convolution's input `a` and tap `k`.
fn tap(a: usize, stride: usize, k: usize, pad: usize, limit: usize) -> Option<usize> {
    (a * stride + k).checked_sub(pad).filter(|&v| v < limit)
}

/// Runs `layers` in order on one int8 sample.
pub fn forward_chain(layers: &[QLayer], x: &[i8]) -> Vec<i8> {
    layers.iter().fold(x.to_vec(), |h, l| l.forward(&h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit() -> QParams {
        QParams {
            scale: 1.0,
            zero_point: 0,
        }
    }

    fn layer(kind: QKind, weight: Vec<i8>, input_zp: i32) -> QLayer {
        let c = kind.channels();
        QLayer {
            kind,
            input: QParams {
                scale: 1.0,
                zero_point: input_zp,
            },
            weight,
            weight_scale: vec![1.0; c],
            bias: vec![1; c],
            // multiplier 2^30, shift 1: exactly x 1.
            multiplier: vec![1 << 30; c],
            shift: vec![1; c],
            output: unit(),
            act: QAct::Clamp {
                min: -128,
                max: 127,
            },
        }
    }

    #[test]
    fn dense_by_hand() {
        let l = layer(
            QKind::Dense {
                in_dim: 2,
                out_dim: 2,
            },
            vec![1, 2, -3, 4],
            1,
        );
        // x - zp = [2, -1]: [2 - 2 + 1, -6 - 4 + 1]
        assert_eq!(l.forward(&[3, 0]), vec![1, -9]);
    }

    #[test]
    fn conv_pads_with_the_zero_point() {
        // 1 x 2 x 2 input, 1 output channel, 3 x 3 kernel of ones, padding 1.
        let spec = Conv2dSpec::square((1, 1), [3, 1, 1], (2, 2));
        let l = layer(QKind::Conv2d(spec), vec![1; 9], 5);
        // Every output sees all four inputs; padded taps add nothing.
        assert_eq!(l.forward(&[6, 7, 8, 9]), vec![1 + 1 + 2 + 3 + 4; 4]);
    }

    #[test]
    fn transposed_conv_scatters() {
        // 1 x 1 x 2 input, stride 2, kernel 2, one channel: out 1 x 2 x 4.
        let spec = ConvTranspose2dSpec::square((1, 1), [2, 2, 0], (0, 0), (1, 2));
        let l = layer(QKind::ConvTranspose2d(spec), vec![1, 2, 3, 4], 0);
        assert_eq!(l.kind.dims(), (2, 8));
        assert_eq!(l.forward(&[1, 2]), vec![2, 3, 3, 5, 4, 5, 7, 9]);
    }

    #[test]
    fn tables_and_clamps() {
        let mut l = layer(
            QKind::Dense {
                in_dim: 1,
                out_dim: 1,
            },
            vec![100],
            0,
        );
        l.act = QAct::Clamp { min: 0, max: 50 };
        assert_eq!(l.forward(&[1]), vec![50]);
        assert_eq!(l.forward(&[-1]), vec![0]);
        let table: Vec<i8> = (0..256).map(|i| (255 - i - 128) as i8).collect();
        l.act = QAct::Table {
            table,
            output: unit(),
            source: Activation::Tanh,
        };
        // v = 101 -> table[229] = 255 - 229 - 128 = -102
        assert_eq!(l.forward(&[1]), vec![-102]);
    }
}
