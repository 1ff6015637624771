//! `im2col` / `col2im`: the sliding-window rearrangement shared by
//! [`Conv2d`](super::conv::Conv2d) and
//! [`ConvTranspose2d`](super::conv::ConvTranspose2d).
//!
//! A [`ConvWindow`] describes a kernel of size `kh x kw` sliding with stride
//! `(sh, sw)` over a zero-padded (`ph`, `pw` on each side) image of `C`
//! channels and spatial size `H x W`. Its output size is (PyTorch's formula,
//! no dilation)
//!
//! ```text
//! Ho = floor((H + 2 ph − kh) / sh) + 1,   Wo = floor((W + 2 pw − kw) / sw) + 1
//! ```
//!
//! [`im2col`] turns the image into the *column matrix* of shape
//! `(C·kh·kw) x (Ho·Wo)`: row `(c·kh + i)·kw + j`, column `oy·Wo + ox` holds
//! `x[c, oy·sh + i − ph, ox·sw + j − pw]` (zero outside the image). A
//! convolution is then one GEMM, `W (out x C·kh·kw) · col`. [`col2im`] is the
//! exact adjoint of [`im2col`]: it scatters a column matrix back onto an image,
//! summing overlapping windows and dropping the padding, so
//! `<im2col(x), c> = <x, col2im(c)>`.

use ndarray::{ArrayView2, ArrayView3, ArrayViewMut2, ArrayViewMut3, NdFloat};

use super::conv::ConvError;

/// Geometry of a kernel sliding over a padded CHW image (validated, with the
/// output size computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvWindow {
    channels: usize,
    input: (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    output: (usize, usize),
}

/// `Err(Zero)` if `v == 0`.
pub(crate) fn positive(param: &'static str, v: usize) -> Result<(), ConvError> {
    if v == 0 {
        Err(ConvError::Zero { param })
    } else {
        Ok(())
    }
}

/// Output length of one axis: `floor((n + 2p − k) / s) + 1`.
fn axis_out(
    axis: &'static str,
    n: usize,
    k: usize,
    s: usize,
    p: usize,
) -> Result<usize, ConvError> {
    let padded = p
        .checked_mul(2)
        .and_then(|pp| pp.checked_add(n))
        .ok_or(ConvError::TooLarge)?;
    match padded.checked_sub(k) {
        Some(room) => Ok(room / s + 1),
        None => Err(ConvError::EmptyOutput {
            axis,
            detail: format!("kernel {k} is larger than the padded input {n} + 2·{p} = {padded}"),
        }),
    }
}

impl ConvWindow {
    /// Validates the geometry (every size and stride positive, kernel no
    /// larger than the padded input, buffer sizes fit in `usize`) and
    /// computes the output size. Pairs are `(height, width)`.
    pub fn new(
        channels: usize,
        input: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<Self, ConvError> {
        for (param, v) in [
            ("channels", channels),
            ("input height", input.0),
            ("input width", input.1),
            ("kernel height", kernel.0),
            ("kernel width", kernel.1),
            ("stride height", stride.0),
            ("stride width", stride.1),
        ] {
            positive(param, v)?;
        }
        let output = (
            axis_out("height", input.0, kernel.0, stride.0, padding.0)?,
            axis_out("width", input.1, kernel.1, stride.1, padding.1)?,
        );
        let win = Self {
            channels,
            input,
            kernel,
            stride,
            padding,
            output,
        };
        // Every buffer length must be representable.
        let image = channels
            .checked_mul(input.0)
            .and_then(|v| v.checked_mul(input.1));
        let col = win.col_shape_checked().and_then(|(r, c)| r.checked_mul(c));
        if image.is_none() || col.is_none() {
            return Err(ConvError::TooLarge);
        }
        Ok(win)
    }

    fn col_shape_checked(&self) -> Option<(usize, usize)> {
        let rows = self
            .channels
            .checked_mul(self.kernel.0)?
            .checked_mul(self.kernel.1)?;
        let cols = self.output.0.checked_mul(self.output.1)?;
        Some((rows, cols))
    }

    /// Number of image channels `C`.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Input spatial size `(H, W)`.
    pub fn input(&self) -> (usize, usize) {
        self.input
    }

    /// Kernel size `(kh, kw)`.
    pub fn kernel(&self) -> (usize, usize) {
        self.kernel
    }

    /// Stride `(sh, sw)`.
    pub fn stride(&self) -> (usize, usize) {
        self.stride
    }

    /// Zero padding `(ph, pw)` on each side.
    pub fn padding(&self) -> (usize, usize) {
        self.padding
    }

    /// Output spatial size `(Ho, Wo)` (formula in the module docs).
    pub fn output(&self) -> (usize, usize) {
        self.output
    }

    /// Whether the column matrix is the image itself viewed as
    /// `C x H·W` (kernel 1 x 1, stride 1, no padding), so im2col and col2im
    /// can be skipped.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == (1, 1) && self.stride == (1, 1) && self.padding == (0, 0)
    }

    /// `C·H·W`, the length of one flattened image.
    pub fn image_len(&self) -> usize {
        self.channels * self.input.0 * self.input.1
    }

    /// Shape of the column matrix, `(C·kh·kw, Ho·Wo)`.
    pub fn col_shape(&self) -> (usize, usize) {
        (
            self.channels * self.kernel.0 * self.kernel.1,
            self.output.0 * self.output.1,
        )
    }

    fn check(&self, image: &[usize], col: &[usize]) -> Result<(), ConvError> {
        let (r, c) = self.col_shape();
        ConvError::check_shape("image", &[self.channels, self.input.0, self.input.1], image)?;
        ConvError::check_shape("column matrix", &[r, c], col)
    }

    /// Calls `f(c, row, col, iy, ix)` for every entry of the column matrix
    /// whose source pixel `(iy, ix)` of channel `c` lies inside the image.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (ph, pw) = self.padding;
        let (h, w) = self.input;
        let (ho, wo) = self.output;
        for c in 0..self.channels {
            for i in 0..kh {
                for j in 0..kw {
                    let row = (c * kh + i) * kw + j;
                    for oy in 0..ho {
                        let Some(iy) = (oy * sh + i).checked_sub(ph).filter(|&v| v < h) else {
                            continue;
                        };
                        for ox in 0..wo {
                            if let Some(ix) = (ox * sw + j).checked_sub(pw).filter(|&v| v < w) {
                                f(c, row, oy * wo + ox, iy, ix);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Range `lo..hi` of output positions `o` whose tap `o·s + t − p` lands
/// inside `0..n` (empty if none), clipped to `0..n_out`.
fn valid(n: usize, n_out: usize, s: usize, t: usize, p: usize) -> (usize, usize) {
    let lo = p.saturating_sub(t).div_ceil(s);
    let hi = if n + p > t {
        ((n - 1 + p - t) / s + 1).min(n_out)
    } else {
        0
    };
    (lo, hi.max(lo))
}

/// Calls `f(col_start, image_start, len)` for every run of column-matrix
/// entries that read pixels inside the image: on the row-major buffers,
/// `col[col_start + t]` reads `image[image_start + t·sw]` for `t in 0..len`.
/// (The fast path of [`im2col`] and [`col2im`]; the runs cover exactly the
/// taps of [`ConvWindow::for_each_tap`].)
fn for_each_run(win: &ConvWindow, mut f: impl FnMut(usize, usize, usize)) {
    let (kh, kw) = win.kernel;
    let (sh, sw) = win.stride;
    let (ph, pw) = win.padding;
    let (h, w) = win.input;
    let (ho, wo) = win.output;
    for c in 0..win.channels {
        for i in 0..kh {
            let (ylo, yhi) = valid(h, ho, sh, i, ph);
            for j in 0..kw {
                let (xlo, xhi) = valid(w, wo, sw, j, pw);
                if xlo >= xhi {
                    continue;
                }
                let row = (c * kh + i) * kw + j;
                for oy in ylo..yhi {
                    let iy = oy * sh + i - ph;
                    // `valid` guarantees xlo·sw + j ≥ pw.
                    let ix = xlo * sw + j - pw;
                    f((row * ho + oy) * wo + xlo, (c * h + iy) * w + ix, xhi - xlo);
                }
            }
        }
    }
}

/// Writes the column matrix of `image` (`C x H x W`) into `col`
/// (`C·kh·kw x Ho·Wo`, overwritten; padding taps are zero).
pub fn im2col<T: NdFloat>(
    win: &ConvWindow,
    image: ArrayView3<T>,
    mut col: ArrayViewMut2<T>,
) -> Result<(), ConvError> {
    win.check(image.shape(), col.shape())?;
    col.fill(T::zero());
    let sw = win.stride.1;
    if let (Some(img), Some(col)) = (image.as_slice(), col.as_slice_mut()) {
        for_each_run(win, |cs, is, n| {
            for (d, s) in col[cs..cs + n].iter_mut().zip(img[is..].iter().step_by(sw)) {
                *d = *s;
            }
        });
        return Ok(());
    }
    win.for_each_tap(|c, r, k, iy, ix| col[[r, k]] = image[[c, iy, ix]]);
    Ok(())
}

/// Adjoint of [`im2col`]: overwrites `image` (`C x H x W`) with the sum of
/// the column-matrix entries `col` (`C·kh·kw x Ho·Wo`) that read each pixel.
pub fn col2im<T: NdFloat>(
    win: &ConvWindow,
    col: ArrayView2<T>,
    mut image: ArrayViewMut3<T>,
) -> Result<(), ConvError> {
    win.check(image.shape(), col.shape())?;
    image.fill(T::zero());
    let sw = win.stride.1;
    if let (Some(col), Some(img)) = (col.as_slice(), image.as_slice_mut()) {
        for_each_run(win, |cs, is, n| {
            for (d, s) in img[is..].iter_mut().step_by(sw).zip(&col[cs..cs + n]) {
                *d += *s;
            }
        });
        return Ok(());
    }
    win.for_each_tap(|c, r, k, iy, ix| image[[c, iy, ix]] += col[[r, k]]);
    Ok(())
}
