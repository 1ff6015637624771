//! Int8 kernels (format 1.2): dense, 2-D convolution and transposed 2-D
//! convolution with i32 accumulation and TFLite's requantization
//! (`MultiplyByQuantizedMultiplier`: gemmlowp's
//! `SaturatingRoundingDoublingHighMul` then `RoundingDivideByPOT`, plus the
//! output zero point, then a clamp or a 256-entry table), bit-identical to
//! TFLite's reference kernels `reference_integer_ops::FullyConnected`,
//! `ConvPerChannel` and `TransposeConv`. Sums wrap modulo `2^32` like the
//! reference's `int32_t` arithmetic on every TFLite target.
//!
//! **SMLAD.** The dense inner loop is a plain i8 x i8 multiply-accumulate.
//! Checked on `thumbv7em-none-eabihf` (Debian rustc 1.96, LLVM's
//! ARMParallelDSP pass; `cargo rustc --release -- --emit asm` of a probe
//! crate with the candidate loops): i8 operands never give SMLAD (each MAC
//! is `ldrsb, ldrsb, smlabb`: the pass only pairs 16-bit loads); i16
//! operands in pairs give SMLAD at `opt-level = 3` (two word loads and one
//! `smlad` per two MACs) but not at `"s"` (`ldrsh, ldrsh, smlabb` per MAC).
//! Getting SMLAD from i8 weights needs `SXTB16` (CMSIS-NN's
//! `read_and_pad`), which stable Rust offers only through unstable
//! intrinsics or `asm!`; i16 weights would double the weights' flash. So
//! the loop stays i8, blocked over three rows ([`dot3`]): per column one
//! input load and zero-point subtraction for three weight loads and three
//! `mla` (11 instructions per 3 MACs in the AD01 firmware at `"s"`,
//! `arm-none-eabi-objdump -d`; four rows run out of registers and spill
//! the row offsets: 19 per 4).
//!
//! Both convolutions are gathers, one output pixel at a time, so they need no
//! buffer besides their input and output (TFLite's transposed convolution
//! scatters into an i32 scratch; the sums are the same). The tests compare
//! every kernel with a scalar transcription of TFLite's reference loops.

use rrae_format::meta::{ConvGeometry, Layer, QActivation, QParams, Quant};
use rrae_format::ModelFile;

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `round(a * b / 2^31)`,
/// ties away from zero, saturating the single overflow `MIN * MIN`.
#[inline(always)]
pub(crate) fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // `/` truncates toward zero like C++; the quotient fits in an i32.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest,
/// ties away from zero; `exponent` in `0..=31`.
#[inline(always)]
pub(crate) fn rdbpot(x: i32, exponent: u32) -> i32 {
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// TFLite's `MultiplyByQuantizedMultiplier(x, multiplier, shift)` (double
/// rounding; `shift` in `-31..=30`, checked by the reader).
#[inline(always)]
pub(crate) fn requantize(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.clamp(0, 31) as u32;
    let right = (-shift).clamp(0, 31) as u32;
    rdbpot(srdhm(x.wrapping_shl(left), multiplier), right)
}

/// TFLite's `QUANTIZE`: `clamp(round(x / scale) + zero_point, -128, 127)`,
/// rounding half away from zero; NaN gives the zero point.
#[inline]
pub(crate) fn quantize(x: f32, p: QParams) -> i8 {
    let q = libm::roundf(x / p.scale);
    // `as` saturates (and maps NaN to 0).
    (q as i32).saturating_add(p.zero_point).clamp(-128, 127) as i8
}

/// `scale * (q - zero_point)`.
#[inline]
pub(crate) fn dequantize(q: i8, p: QParams) -> f32 {
    p.scale * (i32::from(q) - p.zero_point) as f32
}

/// A quantized layer's tensors, borrowed from the file.
pub(crate) struct QLayer<'a> {
    weight: &'a [i8],
    bias: &'a [i32],
    multiplier: &'a [i32],
    shift: &'a [i32],
    input_zp: i32,
    output_zp: i32,
    /// `Clamp` bounds, or `-128..=127` before a table.
    min: i32,
    max: i32,
    /// `Some` for a `Table` activation.
    table: Option<&'a [i8]>,
}

impl<'a> QLayer<'a> {
    pub(crate) fn new(file: &ModelFile<'a>, q: &Quant) -> Self {
        let (min, max, table) = match q.activation {
            QActivation::Clamp { min, max } => (i32::from(min), i32::from(max), None),
            QActivation::Table { table, .. } => (-128, 127, Some(file.tensor_i8(table))),
        };
        QLayer {
            weight: file.tensor_i8(q.weight),
            bias: file.tensor_i32(q.bias),
            multiplier: file.tensor_i32(q.multiplier),
            shift: file.tensor_i32(q.shift),
            input_zp: q.input.zero_point,
            output_zp: q.output.zero_point,
            min,
            max,
            table,
        }
    }

    /// The output of channel `c` for the accumulator `acc` (without bias):
    /// bias, requantization, zero point, clamp or table.
    #[inline(always)]
    fn finish(&self, c: usize, acc: i32) -> i8 {
        // Per tensor: one multiplier for every channel.
        let i = if self.multiplier.len() == 1 { 0 } else { c };
        let (m, s) = (
            self.multiplier.get(i).copied().unwrap_or(0),
            self.shift.get(i).copied().unwrap_or(0),
        );
        let acc = acc.wrapping_add(self.bias.get(c).copied().unwrap_or(0));
        // Wraps like TFLite's `int32_t` addition (overflow is reachable
        // with large shifts; compiled TFLite wraps).
        let v = requantize(acc, m, s).wrapping_add(self.output_zp);
        let v = v.clamp(self.min, self.max.max(self.min));
        match self.table {
            Some(t) => t.get((v + 128) as usize).copied().unwrap_or(0),
            None => v as i8,
        }
    }
}

/// `sum (x - zp) * w` over one row (wrapping like TFLite's `int32_t`).
#[inline(always)]
fn dot(w: &[i8], x: &[i8], zp: i32) -> i32 {
    w.iter().zip(x).fold(0i32, |acc, (&w, &x)| {
        acc.wrapping_add(i32::from(w) * (i32::from(x) - zp))
    })
}

/// [`dot`] of three rows at once (register blocking): each input is loaded
/// and offset by the zero point once for three multiply-accumulates.
#[inline(always)]
fn dot3(w: [&[i8]; 3], x: &[i8], zp: i32) -> [i32; 3] {
    let (mut s0, mut s1, mut s2) = (0i32, 0i32, 0i32);
    let rows = w[0].iter().zip(w[1]).zip(w[2]);
    for (((&a, &b), &c), &x) in rows.zip(x) {
        let x = i32::from(x) - zp;
        s0 = s0.wrapping_add(i32::from(a) * x);
        s1 = s1.wrapping_add(i32::from(b) * x);
        s2 = s2.wrapping_add(i32::from(c) * x);
    }
    [s0, s1, s2]
}

/// Int8 dense layer: `y[o] = finish(o, sum_i (x[i] - zp) * w[o, i])`,
/// `w` being `y.len() x x.len()` row-major; three rows at a time
/// ([`dot3`]), the last `y.len() % 3` one by one.
pub(crate) fn dense(l: &QLayer<'_>, x: &[i8], y: &mut [i8]) {
    let cols = x.len();
    if cols == 0 {
        return;
    }
    let zp = l.input_zp;
    let mut rows = l.weight.chunks_exact(cols);
    let mut o = 0;
    let mut blocks = y.chunks_exact_mut(3);
    for yb in &mut blocks {
        let (Some(a), Some(b), Some(c)) = (rows.next(), rows.next(), rows.next()) else {
            return;
        };
        let acc = dot3([a, b, c], x, zp);
        for (k, (yo, acc)) in yb.iter_mut().zip(acc).enumerate() {
            *yo = l.finish(o + k, acc);
        }
        o += 3;
    }
    for (k, (yo, row)) in blocks.into_remainder().iter_mut().zip(rows).enumerate() {
        *yo = l.finish(o + k, dot(row, x, zp));
    }
}

/// The taps of one output coordinate `o` along an axis of input size `n`,
/// kernel `k`, stride `s`, padding `p`: `[first kernel index j, its input
/// index i, count]`. Conv2d: input `o s + j - p`, then `j + 1` reads `i + 1`.
/// Transposed: the inputs `i` with `i s - p + j = o`, then `j + s` reads
/// `i - 1`.
#[inline(always)]
fn taps(o: usize, n: usize, k: usize, s: usize, p: usize, transposed: bool) -> [usize; 3] {
    if transposed {
        // j = o + p - i s, for the inputs i with 0 <= j < k, i < n.
        let t = o + p;
        // Smallest j: (t mod s), then every s; i = (t - j) / s decreasing.
        let j0 = t % s.max(1);
        if j0 >= k {
            return [0; 3];
        }
        let i0 = (t - j0) / s.max(1);
        // i must stay < n: skip the first taps whose input is beyond it.
        let skip = (i0 + 1).saturating_sub(n);
        let j = j0 + skip * s;
        let count = if j < k && skip <= i0 {
            ((k - 1 - j) / s.max(1) + 1).min(i0 - skip + 1)
        } else {
            0
        };
        [j, i0 - skip, count]
    } else {
        // i = o s + j - p, 0 <= i < n.
        let base = o * s;
        let j = p.saturating_sub(base);
        let i = (base + j).saturating_sub(p);
        let end = (n + p).saturating_sub(base).min(k);
        [j, i, end.saturating_sub(j)]
    }
}

/// Int8 convolution (`transposed`: TFLite `TRANSPOSE_CONV`; else `CONV_2D`
/// per channel) of `x` (`ci x ih x iw`) into `y` (`co x oh x ow`).
#[inline(never)]
pub(crate) fn conv(
    l: &QLayer<'_>,
    g: &ConvGeometry,
    transposed: bool,
    [oh, ow]: [usize; 2],
    x: &[i8],
    y: &mut [i8],
) {
    let u = |v: u32| v as usize;
    let (ci, ih, iw, co) = (
        u(g.in_channels),
        u(g.in_height),
        u(g.in_width),
        u(g.out_channels),
    );
    let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel.map(u), g.stride.map(u), g.padding.map(u));
    let zp = l.input_zp;
    let mut out = y.iter_mut();
    for o in 0..co {
        for oy in 0..oh {
            let [ky0, iy0, ny] = taps(oy, ih, kh, sh, ph, transposed);
            for ox in 0..ow {
                let [kx0, ix0, nx] = taps(ox, iw, kw, sw, pw, transposed);
                let mut acc = 0i32;
                for c in 0..ci {
                    for t in 0..ny {
                        let (ky, iy) = if transposed {
                            (ky0 + t * sh, iy0.wrapping_sub(t))
                        } else {
                            (ky0 + t, iy0 + t)
                        };
                        let w_row = if transposed {
                            ((c * co + o) * kh + ky) * kw
                        } else {
                            ((o * ci + c) * kh + ky) * kw
                        };
                        let x_row = (c * ih + iy) * iw;
                        for s in 0..nx {
                            let (kx, ix) = if transposed {
                                (kx0 + s * sw, ix0.wrapping_sub(s))
                            } else {
                                (kx0 + s, ix0 + s)
                            };
                            let w = l.weight.get(w_row + kx).copied().unwrap_or(0);
                            let xv = x.get(x_row + ix).copied().unwrap_or(0);
                            acc = acc.wrapping_add(i32::from(w) * (i32::from(xv) - zp));
                        }
                    }
                }
                if let Some(y) = out.next() {
                    *y = l.finish(o, acc);
                }
            }
        }
    }
}

/// One int8 layer from `x` into the head of `y`; returns its output width.
pub(crate) fn layer(file: &ModelFile<'_>, layer: &Layer, x: &[i8], y: &mut [i8]) -> usize {
    let out_dim = layer.dims().1 as usize;
    let n = out_dim.min(y.len());
    let (Some(y), Some(q)) = (y.get_mut(..n), layer.quant()) else {
        return 0;
    };
    let l = QLayer::new(file, q);
    match *layer {
        Layer::QDense { .. } => dense(&l, x, y),
        Layer::QConv2d { conv: g, .. } => {
            let hw = g.conv2d_output().unwrap_or([0, 0]);
            conv(&l, &g, false, hw.map(|v| v as usize), x, y);
        }
        Layer::QConvTranspose2d {
            conv: g,
            output_padding,
            ..
        } => {
            let hw = g.transposed_output(output_padding).unwrap_or([0, 0]);
            conv(&l, &g, true, hw.map(|v| v as usize), x, y);
        }
        _ => {}
    }
    out_dim
}

#[cfg(test)]
mod tests {
    //! Each kernel against a scalar transcription of TFLite's reference
    //! kernels (`tensorflow/lite/kernels/internal/reference/integer_ops/`
    //! `fully_connected.h`, `conv.h`, `transpose_conv.h`, and `common.h`'s
    //! `MultiplyByQuantizedMultiplier`), adapted from NHWC to this format's
    //! CHW layout; bit-exact equality on random problems with extreme values.
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// gemmlowp `SaturatingRoundingDoublingHighMul`, as written there.
    fn ref_srdhm(a: i32, b: i32) -> i32 {
        let overflow = a == b && a == i32::MIN;
        let ab_64 = i64::from(a) * i64::from(b);
        let nudge: i32 = if ab_64 >= 0 { 1 << 30 } else { 1 - (1 << 30) };
        let ab_x2_high32 = ((ab_64 + i64::from(nudge)) / (1i64 << 31)) as i32;
        if overflow {
            i32::MAX
        } else {
            ab_x2_high32
        }
    }

    /// gemmlowp `RoundingDivideByPOT`, by its meaning: `x / 2^e` rounded to
    /// nearest, ties away from zero (exact, in i64).
    fn ref_rdbpot(x: i32, e: i32) -> i32 {
        if e == 0 {
            return x;
        }
        let (mag, half) = (i64::from(x).abs(), 1i64 << (e - 1));
        let q = (mag + half) >> e;
        (if x < 0 { -q } else { q }) as i32
    }

    /// TFLite `MultiplyByQuantizedMultiplier` (double rounding).
    fn ref_mbqm(x: i32, quantized_multiplier: i32, shift: i32) -> i32 {
        let left_shift = if shift > 0 { shift } else { 0 };
        let right_shift = if shift > 0 { 0 } else { -shift };
        ref_rdbpot(
            ref_srdhm(
                x.wrapping_mul(1i32.wrapping_shl(left_shift as u32)),
                quantized_multiplier,
            ),
            right_shift,
        )
    }

    /// The parameters of a reference layer.
    #[derive(Debug, Clone)]
    struct Params {
        input_offset: i32,
        output_offset: i32,
        bias: Vec<i32>,
        multiplier: Vec<i32>,
        shift: Vec<i32>,
        min: i32,
        max: i32,
        table: Option<Vec<i8>>,
    }

    impl Params {
        fn layer<'a>(&'a self, weight: &'a [i8]) -> QLayer<'a> {
            QLayer {
                weight,
                bias: &self.bias,
                multiplier: &self.multiplier,
                shift: &self.shift,
                input_zp: -self.input_offset,
                output_zp: self.output_offset,
                min: self.min,
                max: self.max,
                table: self.table.as_deref(),
            }
        }

        /// Requantization and activation of channel `c` as TFLite writes it.
        fn out(&self, c: usize, acc: i32) -> i8 {
            let i = if self.multiplier.len() == 1 { 0 } else { c };
            let acc = acc.wrapping_add(self.bias[c]);
            let mut acc = ref_mbqm(acc, self.multiplier[i], self.shift[i]);
            acc = acc.wrapping_add(self.output_offset);
            acc = acc.max(self.min);
            acc = acc.min(self.max);
            match &self.table {
                Some(t) => t[(acc + 128) as usize],
                None => acc as i8,
            }
        }
    }

    /// `reference_integer_ops::FullyConnected` (per channel when
    /// `multiplier` has one entry per row).
    fn ref_fully_connected(p: &Params, x: &[i8], w: &[i8], out: usize) -> Vec<i8> {
        let accum_depth = x.len();
        (0..out)
            .map(|out_c| {
                let mut acc: i32 = 0;
                for d in 0..accum_depth {
                    let input_val = i32::from(x[d]);
                    let filter_val = i32::from(w[out_c * accum_depth + d]);
                    acc = acc.wrapping_add(filter_val * (input_val + p.input_offset));
                }
                p.out(out_c, acc)
            })
            .collect()
    }

    /// `reference_integer_ops::ConvPerChannel` (CHW, OIHW weights).
    fn ref_conv(p: &Params, g: &ConvGeometry, x: &[i8], w: &[i8]) -> Vec<i8> {
        let u = |v: u32| v as i64;
        let [oh, ow] = g.conv2d_output().unwrap();
        let (ci, ih, iw, co) = (
            u(g.in_channels),
            u(g.in_height),
            u(g.in_width),
            u(g.out_channels),
        );
        let mut y = vec![0i8; (co * u(oh) * u(ow)) as usize];
        for out_y in 0..u(oh) {
            let in_y_origin = out_y * u(g.stride[0]) - u(g.padding[0]);
            for out_x in 0..u(ow) {
                let in_x_origin = out_x * u(g.stride[1]) - u(g.padding[1]);
                for out_channel in 0..co {
                    let mut acc: i32 = 0;
                    for filter_y in 0..u(g.kernel[0]) {
                        let in_y = in_y_origin + filter_y;
                        for filter_x in 0..u(g.kernel[1]) {
                            let in_x = in_x_origin + filter_x;
                            let inside = in_x >= 0 && in_x < iw && in_y >= 0 && in_y < ih;
                            if !inside {
                                continue;
                            }
                            for in_channel in 0..ci {
                                let input_val =
                                    i32::from(x[((in_channel * ih + in_y) * iw + in_x) as usize]);
                                let wi = ((out_channel * ci + in_channel) * u(g.kernel[0])
                                    + filter_y)
                                    * u(g.kernel[1])
                                    + filter_x;
                                let filter_val = i32::from(w[wi as usize]);
                                acc = acc.wrapping_add(filter_val * (input_val + p.input_offset));
                            }
                        }
                    }
                    y[((out_channel * u(oh) + out_y) * u(ow) + out_x) as usize] =
                        p.out(out_channel as usize, acc);
                }
            }
        }
        y
    }

    /// `reference_integer_ops::TransposeConv` (CHW, IOHW weights as
    /// PyTorch): scatter into an i32 scratch buffer, then requantize.
    fn ref_transpose_conv(
        p: &Params,
        g: &ConvGeometry,
        output_padding: [u32; 2],
        x: &[i8],
        w: &[i8],
    ) -> Vec<i8> {
        let u = |v: u32| v as i64;
        let [oh, ow] = g.transposed_output(output_padding).unwrap();
        let (ci, ih, iw, co) = (
            u(g.in_channels),
            u(g.in_height),
            u(g.in_width),
            u(g.out_channels),
        );
        let (oh, ow) = (u(oh), u(ow));
        let mut scratch = vec![0i32; (co * oh * ow) as usize];
        for in_y in 0..ih {
            for in_x in 0..iw {
                for in_channel in 0..ci {
                    let out_x_origin = in_x * u(g.stride[1]) - u(g.padding[1]);
                    let out_y_origin = in_y * u(g.stride[0]) - u(g.padding[0]);
                    for filter_y in 0..u(g.kernel[0]) {
                        for filter_x in 0..u(g.kernel[1]) {
                            let out_x = out_x_origin + filter_x;
                            let out_y = out_y_origin + filter_y;
                            if out_x >= 0 && out_x < ow && out_y >= 0 && out_y < oh {
                                for out_channel in 0..co {
                                    let input_value = i32::from(
                                        x[((in_channel * ih + in_y) * iw + in_x) as usize],
                                    );
                                    let wi = ((in_channel * co + out_channel) * u(g.kernel[0])
                                        + filter_y)
                                        * u(g.kernel[1])
                                        + filter_x;
                                    let filter_value = i32::from(w[wi as usize]);
                                    let o = ((out_channel * oh + out_y) * ow + out_x) as usize;
                                    scratch[o] = scratch[o].wrapping_add(
                                        (input_value + p.input_offset) * filter_value,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        scratch
            .iter()
            .enumerate()
            .map(|(i, &acc)| p.out(i / (oh * ow) as usize, acc))
            .collect()
    }

    /// Random parameters for `channels` outputs, extremes included.
    fn params(channels: usize) -> impl Strategy<Value = Params> {
        let shift = prop_oneof![Just(-31), Just(30), Just(0), -31..=30i32];
        let mult = prop_oneof![Just(1 << 30), Just(i32::MAX), (1 << 30)..=i32::MAX];
        let bias = prop_oneof![Just(i32::MIN), Just(i32::MAX), any::<i32>(), -1000..1000i32];
        let zp = prop_oneof![Just(-128), Just(127), -128..=127i32];
        let per_channel = any::<bool>();
        (
            per_channel,
            zp.clone(),
            zp,
            prop::collection::vec(bias, channels),
            prop::collection::vec((mult, shift), channels),
            any::<(i8, i8)>(),
            prop::option::weighted(0.3, prop::collection::vec(any::<i8>(), 256)),
        )
            .prop_map(|(per_channel, zi, zo, bias, ms, (a, b), table)| {
                let n = if per_channel { ms.len() } else { 1 };
                let (min, max) = if table.is_some() {
                    (-128, 127)
                } else {
                    (i32::from(a.min(b)), i32::from(a.max(b)))
                };
                Params {
                    input_offset: -zi,
                    output_offset: zo,
                    bias,
                    multiplier: ms[..n].iter().map(|m| m.0).collect(),
                    shift: ms[..n].iter().map(|m| m.1).collect(),
                    min,
                    max,
                    table,
                }
            })
    }

    /// i8 data mostly from the full range, sometimes all at one extreme.
    fn data(n: usize) -> impl Strategy<Value = Vec<i8>> {
        prop_oneof![
            3 => prop::collection::vec(any::<i8>(), n),
            1 => prop::collection::vec(prop_oneof![Just(-128i8), Just(127i8)], n),
        ]
    }

    /// Weights: symmetric, often at the extremes.
    fn weights(n: usize) -> impl Strategy<Value = Vec<i8>> {
        prop::collection::vec(prop_oneof![Just(-127i8), Just(127i8), -127..=127i8], n)
    }

    fn geometry() -> impl Strategy<Value = (ConvGeometry, [u32; 2])> {
        (
            1..=3u32,
            1..=6u32,
            1..=6u32,
            1..=3u32,
            [1..=3u32, 1..=3u32],
            [1..=3u32, 1..=3u32],
            [0..=3u32, 0..=3u32],
            [0..=2u32, 0..=2u32],
        )
            .prop_map(|(ci, ih, iw, co, kernel, stride, padding, op)| {
                let g = ConvGeometry {
                    in_channels: ci,
                    in_height: ih,
                    in_width: iw,
                    out_channels: co,
                    kernel,
                    stride,
                    padding,
                };
                (g, [op[0] % stride[0], op[1] % stride[1]])
            })
    }

    /// A convolution problem: parameters, geometry, output padding, input
    /// and weights (for either kind).
    #[allow(clippy::type_complexity)]
    fn conv_problem() -> impl Strategy<Value = (Params, ConvGeometry, [u32; 2], Vec<i8>, Vec<i8>)> {
        geometry().prop_flat_map(|(g, op)| {
            let n_in = (g.in_channels * g.in_height * g.in_width) as usize;
            let n_w = (g.in_channels * g.out_channels * g.kernel[0] * g.kernel[1]) as usize;
            (
                params(g.out_channels as usize),
                Just(g),
                Just(op),
                data(n_in),
                weights(n_w),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn requantization_matches_tflite(
            x in prop_oneof![Just(i32::MIN), Just(i32::MAX), Just(0), Just(-1), any::<i32>()],
            m in prop_oneof![Just(1 << 30), Just(i32::MAX), (1 << 30)..=i32::MAX, Just(i32::MIN)],
            shift in -31..=30i32,
        ) {
            prop_assert_eq!(srdhm(x, m), ref_srdhm(x, m));
            prop_assert_eq!(rdbpot(x, (-shift).max(0) as u32), ref_rdbpot(x, (-shift).max(0)));
            prop_assert_eq!(requantize(x, m, shift), ref_mbqm(x, m, shift));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn dense_matches_tflite(
            (p, x, w, out) in (1..=40usize, 1..=9usize).prop_flat_map(|(n, out)| {
                (params(out), data(n), weights(n * out), Just(out))
            })
        ) {
            let mut y = vec![0i8; out];
            dense(&p.layer(&w), &x, &mut y);
            prop_assert_eq!(y, ref_fully_connected(&p, &x, &w, out));
        }

        #[test]
        fn conv_matches_tflite((p, g, _, x, w) in conv_problem()) {
            let Ok(hw) = g.conv2d_output() else { return Ok(()) };
            let mut y = vec![0i8; (g.out_channels * hw[0] * hw[1]) as usize];
            conv(&p.layer(&w), &g, false, hw.map(|v| v as usize), &x, &mut y);
            prop_assert_eq!(y, ref_conv(&p, &g, &x, &w));
        }

        #[test]
        fn transposed_conv_matches_tflite((p, g, op, x, w) in conv_problem()) {
            let Ok(hw) = g.transposed_output(op) else { return Ok(()) };
            let mut y = vec![0i8; (g.out_channels * hw[0] * hw[1]) as usize];
            conv(&p.layer(&w), &g, true, hw.map(|v| v as usize), &x, &mut y);
            prop_assert_eq!(y, ref_transpose_conv(&p, &g, op, &x, &w));
        }
    }

    #[test]
    fn quantize_rounds_half_away_and_saturates() {
        let p = QParams {
            scale: 0.5,
            zero_point: -1,
        };
        let got = [0.25, -0.25, 0.75, 1e9, -1e9, f32::NAN].map(|x| quantize(x, p));
        assert_eq!(got, [0, -2, 1, 127, -128, -1]);
        assert_eq!(dequantize(-128, p), -63.5);
    }
}
