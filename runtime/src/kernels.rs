//! Numerical kernels on plain slices: matrix-vector products, direct 2-D
//! convolutions, activations. Safe code only; written so that the compiler
//! can drop bounds checks and keep accumulators in registers at every
//! opt-level, "s" included (fixed-size chunks, zipped iterators, sixteen
//! named partial sums: four rows by four lanes), and so that no panic is
//! reachable (`get`, `split_at_checked`, `chunks_exact` of non-zero sizes,
//! iterators). `docs/BENCHMARKS.md` has the instruction counts on a
//! Cortex-M4F and the disassembly of the inner loop.

use rrae_format::meta::{Activation, Conv, Layer};

/// Rows of `W` computed together by [`matvec`]: each loaded `x` value
/// feeds this many accumulators.
const ROWS: usize = 4;
/// Independent partial sums per row (columns `j` with `j % LANES == l` go
/// to lane `l`); breaks the add dependency chain and lets x86 vectorize.
const LANES: usize = 4;

/// `acc[l] += w[l] * x[l]` for every lane, written out so that the lanes
/// stay in registers at every opt-level (a loop over the lanes is not
/// unrolled at "s", and the array then lives on the stack).
#[inline(always)]
fn mac(acc: &mut [f32; LANES], w: &[f32; LANES], x: &[f32; LANES]) {
    acc[0] += w[0] * x[0];
    acc[1] += w[1] * x[1];
    acc[2] += w[2] * x[2];
    acc[3] += w[3] * x[3];
}

/// `s` as whole `N`-element chunks, and the rest: `<[f32]>::as_chunks`,
/// which is stable only since Rust 1.88 (this crate's MSRV is 1.85).
#[inline(always)]
fn chunks<const N: usize>(s: &[f32]) -> (&[[f32; N]], &[f32])
where
    [f32; N]: bytemuck::Pod,
{
    let (head, rest) = s.split_at_checked(s.len() / N * N).unwrap_or((&[], s));
    (bytemuck::try_cast_slice(head).unwrap_or_default(), rest)
}

/// The whole `N`-element chunks of `s`, mutable (see [`chunks`]).
#[inline(always)]
fn chunks_mut<const N: usize>(s: &mut [f32]) -> &mut [[f32; N]]
where
    [f32; N]: bytemuck::Pod,
{
    let whole = s.len() / N * N;
    let head = s.get_mut(..whole).unwrap_or_default();
    bytemuck::try_cast_slice_mut(head).unwrap_or_default()
}

/// Two lane chunks: one trip of [`dot_rows`]'s main loop.
const STEP: usize = 2 * LANES;

/// The first and second half of an 8-column step.
#[inline(always)]
fn halves(v: &[f32; STEP]) -> (&[f32; LANES], &[f32; LANES]) {
    const NONE: &[f32; LANES] = &[0.0; LANES]; // never taken: `v` has 8 entries
    (
        v.first_chunk().unwrap_or(NONE),
        v.last_chunk().unwrap_or(NONE),
    )
}

/// `[dot(w[r], x) for r in 0..ROWS]` over the 8-column steps of `x`, by
/// one pass over `x` (register blocking: every `x` value is loaded once for
/// four rows). Lane `l` of a row sums the products of its columns
/// `l, l + 4, l + 8, ...` in order; the result is `(l0 + l1) + (l2 + l3)`.
#[inline(always)]
fn dot_rows([w0, w1, w2, w3]: [&[f32]; ROWS], x: &[[f32; STEP]]) -> [f32; ROWS] {
    let (c0, c1, c2, c3) = (
        chunks::<STEP>(w0).0,
        chunks::<STEP>(w1).0,
        chunks::<STEP>(w2).0,
        chunks::<STEP>(w3).0,
    );
    let [mut a0, mut a1, mut a2, mut a3] = [[0.0f32; LANES]; ROWS];
    for ((((xv, v0), v1), v2), v3) in x.iter().zip(c0).zip(c1).zip(c2).zip(c3) {
        let (xl, xh) = halves(xv);
        let ((l0, h0), (l1, h1)) = (halves(v0), halves(v1));
        let ((l2, h2), (l3, h3)) = (halves(v2), halves(v3));
        mac(&mut a0, l0, xl);
        mac(&mut a1, l1, xl);
        mac(&mut a2, l2, xl);
        mac(&mut a3, l3, xl);
        mac(&mut a0, h0, xh);
        mac(&mut a1, h1, xh);
        mac(&mut a2, h2, xh);
        mac(&mut a3, h3, xh);
    }
    let sum = |[l0, l1, l2, l3]: [f32; LANES]| (l0 + l1) + (l2 + l3);
    [sum(a0), sum(a1), sum(a2), sum(a3)]
}

/// `y = W[:, ..x.len()] x + b` for row-major `W` with `cols` columns: each
/// row uses only its first `x.len()` entries (progressive decoding), `y`
/// takes as many rows as it has room for, and rows past the end of `b` get
/// no bias (pass `&[]` for none).
///
/// Summation order of every row (what `tests::matvec_reference` spells
/// out): the columns of the whole 8-column steps of `x` through four lanes
/// ([`dot_rows`]), then the `x.len() % 8` remaining columns one by one, then
/// the bias. Whole blocks of four rows go through [`dot_rows`] together;
/// a second pass does the rows left over (one at a time, same order), the
/// remaining columns, and any bias not added with a block's results.
pub(crate) fn matvec(w: &[f32], cols: usize, x: &[f32], b: &[f32], y: &mut [f32]) {
    let cols = cols.max(1);
    let x = x.get(..cols).unwrap_or(x);
    let (xs, xt) = chunks::<STEP>(x);
    // Without remaining columns, whole chunks of bias go in with the blocks.
    let bias = match xt.is_empty() {
        true => chunks::<ROWS>(b).0,
        false => &[],
    };
    let mut blocked = 0;
    if !xs.is_empty() {
        let mut rest = w;
        for (k, yb) in chunks_mut::<ROWS>(y).iter_mut().enumerate() {
            let Some((r0, t)) = rest.split_at_checked(cols) else {
                break;
            };
            let Some((r1, t)) = t.split_at_checked(cols) else {
                break;
            };
            let Some((r2, t)) = t.split_at_checked(cols) else {
                break;
            };
            let Some((r3, t)) = t.split_at_checked(cols) else {
                break;
            };
            rest = t;
            let mut s = dot_rows([r0, r1, r2, r3], xs);
            if let Some(bb) = bias.get(k) {
                s = [s[0] + bb[0], s[1] + bb[1], s[2] + bb[2], s[3] + bb[3]];
            }
            *yb = s;
            blocked += ROWS;
        }
    }
    // The second pass, over the rows it concerns (none for a layer whose
    // width is a multiple of 8 and whose bias covers whole blocks).
    let from = if xt.is_empty() {
        blocked.min(bias.len() * ROWS)
    } else {
        0
    };
    let done = xs.len() * STEP;
    let rows = w.chunks_exact(cols).zip(y.iter_mut()).enumerate();
    for (i, (row, yi)) in rows.skip(from) {
        let s = match (i < blocked, xs.is_empty()) {
            (true, _) => *yi,
            (false, true) => 0.0,
            (false, false) => dot_rows([row; ROWS], xs)[0],
        };
        let tail = row.get(done..).unwrap_or_default();
        let s = tail.iter().zip(xt).fold(s, |s, (w, x)| s + w * x);
        *yi = match b.get(i) {
            Some(bi) => s + bi,
            None => s,
        };
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
    matvec(w, cols, x, b, y);
    activate(act, y);
}

/// The geometry of one convolution layer (either kind) in `usize`, from
/// validated fields: channels and sizes of the layer's input and output,
/// kernel, stride, padding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvShape {
    /// Input channels of the layer.
    ci: usize,
    /// Output channels of the layer.
    co: usize,
    /// Input height and width of the layer.
    ih: usize,
    iw: usize,
    /// Output height and width of the layer.
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
}

impl ConvShape {
    /// The layer `conv` with output size `[oh, ow]` (from the format's
    /// geometry functions; the fields are validated, so every product of
    /// them used below fits in 32 bits).
    pub(crate) fn new(conv: &Conv, [oh, ow]: [u32; 2]) -> Self {
        let u = |v: u32| v as usize;
        ConvShape {
            ci: u(conv.in_channels),
            co: u(conv.out_channels),
            ih: u(conv.in_height),
            iw: u(conv.in_width),
            oh: u(oh),
            ow: u(ow),
            kh: u(conv.kernel[0]),
            kw: u(conv.kernel[1]),
            sh: u(conv.stride[0]),
            sw: u(conv.stride[1]),
            ph: u(conv.padding[0]),
            pw: u(conv.padding[1]),
        }
    }
}

/// Along one axis, the indices `i < n_idx` for which `j = i s + k - p` is a
/// valid index `j < n_str`: returns `(first i, count, first j)`; consecutive
/// `i` step `j` by `s`. For a convolution, `i` is the output position and `j`
/// the input position read through kernel tap `k`; for a transposed
/// convolution, `i` is the input and `j` the output written.
///
/// For validated geometry nothing here overflows: `n_str + p` is at most the
/// padded (convolution) or untrimmed (transposed) size, which fits in `u32`.
fn span(n_idx: usize, n_str: usize, k: usize, s: usize, p: usize) -> (usize, usize, usize) {
    let s = s.max(1);
    // i s + k >= p
    let lo = p.saturating_sub(k).div_ceil(s);
    // i s + k - p <= n_str - 1, i.e. i s <= n_str + p - k - 1
    let hi = match (n_str + p).checked_sub(k) {
        Some(room) if room > 0 => ((room - 1) / s + 1).min(n_idx),
        _ => 0,
    };
    if lo >= hi {
        return (0, 0, 0);
    }
    (lo, hi - lo, lo * s + k - p)
}

/// `out[t] += w * src[t * step]` for `t < n` (as far as both slices reach).
#[inline(always)]
fn axpy_strided_src(w: f32, src: &[f32], step: usize, out: &mut [f32], n: usize) {
    let out = out.iter_mut().take(n);
    if step == 1 {
        out.zip(src).for_each(|(o, x)| *o += w * x);
    } else {
        out.zip(src.iter().step_by(step.max(1)))
            .for_each(|(o, x)| *o += w * x);
    }
}

/// `out[t * step] += w * src[t]` for `t < n` (as far as both slices reach).
#[inline(always)]
fn axpy_strided_dst(w: f32, src: &[f32], out: &mut [f32], step: usize, n: usize) {
    let src = src.iter().take(n);
    if step == 1 {
        out.iter_mut().zip(src).for_each(|(o, x)| *o += w * x);
    } else {
        out.iter_mut()
            .step_by(step.max(1))
            .zip(src)
            .for_each(|(o, x)| *o += w * x);
    }
}

/// One f32 convolution layer (either kind; another `layer` does nothing) from
/// `x` into `y` with its weights `w` and biases `b`.
///
/// Not inlined: inlined into the layer dispatch, the convolution's locals
/// (and a copy of the larger `Conv` variant) would enlarge its stack frame
/// for dense-only models too (measured on the Cortex-M4 with the firmware's
/// dense model: peak stack of decode 568 B inlined, 384 B like this, 400 B
/// before convolutions existed).
#[inline(never)]
pub(crate) fn conv(layer: &Layer, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
    // The geometry is valid (checked by `read`), so `unwrap_or` never takes
    // its default.
    let (c, hw, transposed) = match layer {
        Layer::Conv2d(c) => (c, c.conv2d_output(), false),
        Layer::ConvTranspose2d {
            conv: c,
            output_padding,
        } => (c, c.transposed_output(*output_padding), true),
        _ => return,
    };
    let g = ConvShape::new(c, hw.unwrap_or([0, 0]));
    convolve(&g, transposed, w, b, x, y);
    activate(c.activation, y);
}

/// The `i`-th run of `n` elements of `s` (empty if out of range).
///
/// Used instead of zipping `chunks_exact` iterators: `Zip` of two of them is
/// not always inlined at opt-level "s", and its out-of-line `size_hint`
/// divides by the chunk size, a panic branch panic-check/ rejects.
fn chunk(s: &[f32], i: usize, n: usize) -> &[f32] {
    s.get(i * n..(i + 1) * n).unwrap_or_default()
}

/// Mutable [`chunk`].
fn chunk_mut(s: &mut [f32], i: usize, n: usize) -> &mut [f32] {
    s.get_mut(i * n..(i + 1) * n).unwrap_or_default()
}

/// `y = conv(x) + b`, PyTorch's `Conv2d`, or, if `transposed`,
/// `y = conv_transpose(x) + b`, PyTorch's `ConvTranspose2d` (the adjoint of
/// the convolution with the same weights, plus a bias); zero padding, no
/// dilation, no groups, no activation. `x` is `ci x ih x iw`, `y` is
/// `co x oh x ow`, `w` is `co x ci x kh x kw` (convolution) or
/// `ci x co x kh x kw` (transposed), all row-major.
///
/// Evaluated directly, without an im2col matrix: for each output channel,
/// input channel and kernel tap, [`span`] gives (once per tap, not per
/// pixel) the rows and the contiguous run of columns on the *index side*
/// (the output of a convolution, the input of a transposed one) whose
/// partner on the strided side is inside the image; each such row pair gets
/// `y_row += w * x_row` with the stride on the strided side (a gather for
/// the convolution, a scatter for the transposed one). One loop nest serves
/// both layers (half the flash of two specialized kernels).
fn convolve(g: &ConvShape, transposed: bool, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
    let (in_plane, out_plane, taps) = (g.ih * g.iw, g.oh * g.ow, g.kh * g.kw);
    // (index side, strided side) sizes per axis.
    let ((nh_idx, nh_str), (nw_idx, nw_str)) = if transposed {
        ((g.ih, g.oh), (g.iw, g.ow))
    } else {
        ((g.oh, g.ih), (g.ow, g.iw))
    };
    for (o, bo) in b.iter().enumerate().take(g.co) {
        let yo = chunk_mut(y, o, out_plane);
        yo.fill(*bo);
        for c in 0..g.ci {
            let xc = chunk(x, c, in_plane);
            let wc = match transposed {
                false => chunk(w, o * g.ci + c, taps),
                true => chunk(w, c * g.co + o, taps),
            };
            for ky in 0..g.kh {
                let (row0, rows, srow0) = span(nh_idx, nh_str, ky, g.sh, g.ph);
                for (kx, &wv) in chunk(wc, ky, g.kw).iter().enumerate() {
                    let (col0, cols, scol0) = span(nw_idx, nw_str, kx, g.sw, g.pw);
                    for r in 0..rows {
                        let (row, srow) = (row0 + r, srow0 + r * g.sh);
                        if transposed {
                            // Input `row`, columns col0.. contiguous; output
                            // `srow`, columns scol0.. with stride sw.
                            let src = xc.get(row * g.iw + col0..).unwrap_or_default();
                            let out = yo.get_mut(srow * g.ow + scol0..).unwrap_or_default();
                            axpy_strided_dst(wv, src, out, g.sw, cols);
                        } else {
                            // Output `row`, columns col0.. contiguous; input
                            // `srow`, columns scol0.. with stride sw.
                            let out = yo.get_mut(row * g.ow + col0..).unwrap_or_default();
                            let src = xc.get(srow * g.iw + scol0..).unwrap_or_default();
                            axpy_strided_src(wv, src, g.sw, out, cols);
                        }
                    }
                }
            }
        }
    }
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
    use rrae_format::meta::TensorRef;
    use rrae_format::testing::{activate_f64, layer_f64};
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

    /// Scalar reference for [`matvec`] with its exact summation order, one
    /// row at a time: lane `j % 4` of the whole 8-column steps, the lanes
    /// as `(l0 + l1) + (l2 + l3)`, then the remaining columns, then the bias.
    fn matvec_reference(w: &[f32], cols: usize, x: &[f32], b: &[f32], rows: usize) -> Vec<f32> {
        let x = &x[..x.len().min(cols)];
        let steps = x.len() / STEP * STEP;
        (0..rows)
            .map(|i| {
                let row = &w[i * cols..(i + 1) * cols];
                let mut lanes = [0.0f32; LANES];
                for j in 0..steps {
                    lanes[j % LANES] += row[j] * x[j];
                }
                let [l0, l1, l2, l3] = lanes;
                let mut s = (l0 + l1) + (l2 + l3);
                for j in steps..x.len() {
                    s += row[j] * x[j];
                }
                b.get(i).map_or(s, |bi| s + bi)
            })
            .collect()
    }

    /// Random `W` (`rows x cols`, up to 41 columns: several 8-column steps
    /// and every remainder), the columns used (progressive decoding), a
    /// bias of any length up to `rows` (none, partial, full), and the
    /// length of `y` (at most `rows`).
    fn matvec_problem() -> impl Strategy<Value = (usize, Vec<f32>, Vec<f32>, Vec<f32>, usize)> {
        (1usize..14, 1usize..42).prop_flat_map(|(rows, cols)| {
            let v = |n| prop::collection::vec(-2.0f32..2.0, n);
            (
                Just(cols),
                v(rows * cols),
                (0..=cols).prop_flat_map(v),
                (0..=rows).prop_flat_map(v),
                1..=rows,
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// The register-blocked kernel equals its scalar reference bit for
        /// bit, whatever a row's place (in a block of four or left over),
        /// the width used, the bias length and the number of rows of `y`.
        #[test]
        fn matvec_equals_scalar_reference((cols, w, x, b, n) in matvec_problem()) {
            let mut y = std::vec![f32::NAN; n];
            matvec(&w, cols, &x, &b, &mut y);
            let want = matvec_reference(&w, cols, &x, &b, n);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&y), bits(&want), "cols {} x {} b {}", cols, x.len(), b.len());
        }
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

    /// A random convolution layer (either kind) of small geometry with its
    /// weights, bias and input, or `None` if the geometry leaves no output.
    /// A layer with its weights, bias and input.
    type ConvCase = (Layer, Vec<f32>, Vec<f32>, Vec<f32>);

    fn conv_problem() -> impl Strategy<Value = Option<ConvCase>> {
        let pair = |lo: u32, hi: u32| (lo..=hi, lo..=hi).prop_map(|(a, b)| [a, b]);
        (
            (1u32..=3, 1u32..=3, pair(1, 9)),
            (pair(1, 4), pair(1, 3), pair(0, 4), pair(0, 2)),
            any::<bool>(),
            activation(),
        )
            .prop_flat_map(
                |((ci, co, [h, w]), (kernel, stride, padding, op), transposed, act)| {
                    let conv = Conv {
                        in_channels: ci,
                        in_height: h,
                        in_width: w,
                        out_channels: co,
                        kernel,
                        stride,
                        padding,
                        weight: TensorRef { offset: 0, len: 0 },
                        bias: TensorRef { offset: 0, len: 0 },
                        activation: act,
                    };
                    let output_padding = [op[0] % stride[0], op[1] % stride[1]];
                    let layer = if transposed {
                        Layer::ConvTranspose2d {
                            conv,
                            output_padding,
                        }
                    } else {
                        Layer::Conv2d(conv)
                    };
                    let dims = layer.checked_dims().ok();
                    let v = |n: u32| prop::collection::vec(-2.0f32..2.0, n as usize);
                    let (n_in, n_out) = dims.unwrap_or((0, 0));
                    (
                        Just(dims.map(|_| layer)),
                        v(ci * co * kernel[0] * kernel[1]),
                        v(co),
                        v(n_in),
                        Just(n_out),
                    )
                        .prop_map(|(layer, w, b, x, _)| layer.map(|l| (l, w, b, x)))
                },
            )
    }

    /// Runs `layer` with the runtime kernels into a NaN-filled output.
    fn run_conv(layer: &Layer, w: &[f32], b: &[f32], x: &[f32]) -> Vec<f32> {
        let mut y = std::vec![f32::NAN; layer.dims().1 as usize];
        conv(layer, w, b, x, &mut y);
        y
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// Both convolution kernels against the f64 reference (a direct
        /// per-pixel definition; the transposed one a gather, not a
        /// scatter): relative error at most 1e-5.
        #[test]
        fn convolutions_match_reference(problem in conv_problem()) {
            let Some((layer, w, b, x)) = problem else { return Ok(()) };
            let y = run_conv(&layer, &w, &b, &x);
            let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            // Pre-activation magnitudes bound the rounding error.
            let mut plain = layer;
            match &mut plain {
                Layer::Conv2d(c) | Layer::ConvTranspose2d { conv: c, .. } => c.activation = Activation::Identity,
                _ => unreachable!(),
            }
            let absw: Vec<f32> = w.iter().map(|v| v.abs()).collect();
            let absb: Vec<f32> = b.iter().map(|v| v.abs()).collect();
            let absx: Vec<f64> = x64.iter().map(|v| v.abs()).collect();
            let mag = layer_f64(&plain, &absw, &absb, &absx);
            let expected = layer_f64(&layer, &w, &b, &x64);
            prop_assert_eq!(y.len(), expected.len());
            for (i, ((got, want), m)) in y.iter().zip(&expected).zip(&mag).enumerate() {
                let err = (f64::from(*got) - want).abs();
                prop_assert!(err <= 1e-5 * (want.abs().max(1.0)) || err <= 1e-6 * m,
                    "{layer:?} pixel {i}: {got} vs {want}");
            }
        }
    }

    /// `<conv(x), y> = <x, conv_transpose(y)>`: the two runtime kernels are
    /// adjoint, as the trainer's layers are.
    #[test]
    fn runtime_convolutions_are_adjoint() {
        let g = Conv {
            in_channels: 2,
            in_height: 7,
            in_width: 6,
            out_channels: 3,
            kernel: [3, 2],
            stride: [2, 3],
            padding: [1, 1],
            weight: TensorRef { offset: 0, len: 0 },
            bias: TensorRef { offset: 0, len: 0 },
            activation: Activation::Identity,
        };
        let fwd = Layer::Conv2d(g);
        let [ho, wo] = g.conv2d_output().unwrap();
        assert_eq!([ho, wo], [4, 3]);
        let back = Layer::ConvTranspose2d {
            conv: Conv {
                in_channels: 3,
                in_height: ho,
                in_width: wo,
                out_channels: 2,
                ..g
            },
            output_padding: [0, 0],
        };
        assert_eq!(back.dims(), (36, 84));
        let f = |n: usize, k: f32| -> Vec<f32> { (0..n).map(|i| (i as f32 * k).sin()).collect() };
        let w = f(36, 1.3);
        let (x, yv) = (f(84, 0.7), f(36, 2.1));
        let cx = run_conv(&fwd, &w, &[0.0; 3], &x);
        let ty = run_conv(&back, &w, &[0.0; 2], &yv);
        let dot = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum::<f64>()
        };
        let (l, r) = (dot(&cx, &yv), dot(&x, &ty));
        assert!((l - r).abs() < 1e-4, "{l} vs {r}");
    }

    #[test]
    fn span_covers_exactly_the_valid_taps() {
        for n_idx in 1usize..6 {
            for n_str in 1usize..6 {
                for k in 0usize..4 {
                    for s in 1usize..4 {
                        for p in 0usize..5 {
                            let valid: Vec<usize> = (0..n_idx)
                                .filter(|i| (i * s + k).checked_sub(p).is_some_and(|j| j < n_str))
                                .collect();
                            let (lo, n, j0) = span(n_idx, n_str, k, s, p);
                            let got: Vec<usize> = (lo..lo + n).collect();
                            assert_eq!(got, valid, "{n_idx} {n_str} {k} {s} {p}");
                            if n > 0 {
                                assert_eq!(j0, lo * s + k - p);
                            }
                        }
                    }
                }
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
