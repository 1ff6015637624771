//! 2-D convolution layers for convolutional RRAEs: [`Conv2d`] and its adjoint
//! [`ConvTranspose2d`], with PyTorch semantics (no dilation, no groups), hand
//! written forward/backward via im2col + GEMM ([`super::im2col`]).
//!
//! # Batches
//!
//! Like the dense layers, batches are 2-D arrays with one sample per row:
//! `batch x (C·H·W)`, each row a row-major `C x H x W` image (channel, then
//! row, then column). Flattening to feed a dense layer, or reshaping the
//! output of a dense layer into images, is therefore free. Each layer knows
//! its input spatial size `(H, W)` and computes its output size.
//!
//! # Output sizes (PyTorch's formulas, per axis)
//!
//! ```text
//! Conv2d:          Ho = floor((H + 2p − k) / s) + 1
//! ConvTranspose2d: Ho = (H − 1)·s − 2p + k + output_padding,   output_padding < s
//! ```
//!
//! # Weight layout (the runtime and the file format will use the same)
//!
//! * [`Conv2d::w`]: `out_channels x in_channels x kh x kw`, row-major
//!   (PyTorch's `Conv2d.weight`).
//! * [`ConvTranspose2d::w`]: `in_channels x out_channels x kh x kw`,
//!   row-major (PyTorch's `ConvTranspose2d.weight`).
//! * Biases: one per output channel.
//!
//! With these layouts a `ConvTranspose2d(in = a, out = b)` holding the *same*
//! array as a `Conv2d(in = b, out = a)` of matching geometry is its exact
//! adjoint (without bias): `<conv(x), y> = <x, convT(y)>`.
//!
//! # Computation
//!
//! With `col = im2col(x)` (`C·kh·kw x Ho·Wo`) and `Wm` the weights viewed as a
//! `rows x C·kh·kw` matrix, per sample:
//!
//! | | Conv2d | ConvTranspose2d |
//! |---|---|---|
//! | forward | `Wm · im2col(x) + b` | `col2im(Wmᵀ · x) + b` |
//! | dL/dx | `col2im(Wmᵀ · g)` | `Wm · im2col(g)` |
//! | dL/dW | `Σ g · im2col(x)ᵀ` | `Σ x · im2col(g)ᵀ` |
//!
//! so both layers share three kernels (apply, adjoint, weight gradient); the
//! transposed convolution's forward is the convolution's input gradient.
//! The column matrix lives in a reusable [`ConvWorkspace`]: after the first
//! step, forward and backward do not allocate.
//!
//! Batches in standard (row-major) layout are processed in place; other
//! layouts (e.g. transposed views) are copied to a temporary first.
//!
//! Every shape problem is reported as a [`ConvError`], never a panic.
//!
//! # Example
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use rrae_trainer::nn::conv::*;
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! // 1 x 28 x 20 images -> 8 x 14 x 10 -> back to 1 x 28 x 20.
//! let down = Conv2d::<f32>::init(
//!     Conv2dSpec { in_channels: 1, out_channels: 8, kernel: (3, 3), stride: (2, 2),
//!                  padding: (1, 1), input: (28, 20) },
//!     &mut rng,
//! )?;
//! assert_eq!(down.out_shape(), (8, 14, 10));
//! let up = ConvTranspose2d::<f32>::init(
//!     ConvTranspose2dSpec { in_channels: 8, out_channels: 1, kernel: (3, 3), stride: (2, 2),
//!                           padding: (1, 1), output_padding: (1, 1), input: (14, 10) },
//!     &mut rng,
//! )?;
//! assert_eq!(up.out_shape(), (1, 28, 20));
//!
//! let mut ws = ConvWorkspace::default();
//! let x = ndarray::Array2::<f32>::zeros((4, down.in_dim())); // 4 images, one per row
//! let z = down.forward(x.view(), &mut ws)?;
//! let y = up.forward(z.view(), &mut ws)?;
//! assert_eq!(y.dim(), x.dim());
//! # Ok::<(), ConvError>(())
//! ```

use ndarray::linalg::general_mat_mul;
use ndarray::{
    Array1, Array2, Array4, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, NdFloat,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::im2col::{col2im, im2col, positive, ConvWindow};

/// Errors of the convolution layers.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConvError {
    /// A size or stride is zero.
    #[error("{param} must be positive")]
    Zero {
        /// Which hyper-parameter.
        param: &'static str,
    },
    /// The geometry leaves no output pixel along one axis.
    #[error("no output along {axis}: {detail}")]
    EmptyOutput {
        /// `"height"` or `"width"`.
        axis: &'static str,
        /// The sizes involved.
        detail: String,
    },
    /// `output_padding >= stride` (PyTorch's rule; the output size would not
    /// determine the input size).
    #[error(
        "output_padding {output_padding} along {axis} must be smaller than the stride {stride}"
    )]
    OutputPadding {
        /// `"height"` or `"width"`.
        axis: &'static str,
        /// The requested output padding.
        output_padding: usize,
        /// The stride along that axis.
        stride: usize,
    },
    /// A buffer length overflows `usize`.
    #[error("convolution geometry too large: a buffer length overflows usize")]
    TooLarge,
    /// An array has the wrong shape.
    #[error("{what}: expected shape {expected:?}, got {got:?}")]
    Shape {
        /// Which array.
        what: &'static str,
        /// The required shape.
        expected: Vec<usize>,
        /// The shape passed.
        got: Vec<usize>,
    },
    /// An array cannot be viewed as a matrix without copying: parameters and
    /// gradients must be in standard (row-major) layout. (Batches of any
    /// layout are accepted; the `"batch row"` and `"workspace"` cases are
    /// defensive and cannot occur.)
    #[error("{what}: array must be in standard (row-major) layout")]
    Layout {
        /// Which array.
        what: &'static str,
    },
}

impl ConvError {
    /// `Err(Shape)` unless `got == expected`.
    pub(crate) fn check_shape(
        what: &'static str,
        expected: &[usize],
        got: &[usize],
    ) -> Result<(), Self> {
        if expected == got {
            Ok(())
        } else {
            Err(Self::Shape {
                what,
                expected: expected.to_vec(),
                got: got.to_vec(),
            })
        }
    }
}

/// Hyper-parameters of a [`Conv2d`]. Pairs are `(height, width)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2dSpec {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size `(kh, kw)`.
    pub kernel: (usize, usize),
    /// Stride `(sh, sw)`.
    pub stride: (usize, usize),
    /// Zero padding `(ph, pw)` added on both sides.
    pub padding: (usize, usize),
    /// Input spatial size `(H, W)`.
    pub input: (usize, usize),
}

/// Hyper-parameters of a [`ConvTranspose2d`]. Pairs are `(height, width)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvTranspose2dSpec {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size `(kh, kw)`.
    pub kernel: (usize, usize),
    /// Stride `(sh, sw)`.
    pub stride: (usize, usize),
    /// Padding `(ph, pw)` of the adjoint convolution (trims the output).
    pub padding: (usize, usize),
    /// Extra rows/columns added at the bottom/right of the output; each must
    /// be smaller than the stride along its axis.
    pub output_padding: (usize, usize),
    /// Input spatial size `(H, W)`.
    pub input: (usize, usize),
}

impl Conv2dSpec {
    /// `in_channels -> out_channels` on `input` images with a `k x k`
    /// kernel, stride `s` and padding `p` along both axes.
    pub fn square(
        (in_channels, out_channels): (usize, usize),
        [k, s, p]: [usize; 3],
        input: (usize, usize),
    ) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel: (k, k),
            stride: (s, s),
            padding: (p, p),
            input,
        }
    }
}

impl ConvTranspose2dSpec {
    /// As [`Conv2dSpec::square`], with `output_padding`.
    pub fn square(
        (in_channels, out_channels): (usize, usize),
        [k, s, p]: [usize; 3],
        output_padding: (usize, usize),
        input: (usize, usize),
    ) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel: (k, k),
            stride: (s, s),
            padding: (p, p),
            output_padding,
            input,
        }
    }
}

/// Gradients of a convolution layer (same shapes as its `w` and `b`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvGrad<T> {
    /// dL/dW, shaped like the layer's weights.
    pub w: Array4<T>,
    /// dL/db, one per output channel.
    pub b: Array1<T>,
}

impl<T: NdFloat> ConvGrad<T> {
    /// Zero gradients shaped like `w` and `b`.
    fn zeros_like(w: &Array4<T>, b: &Array1<T>) -> Self {
        Self {
            w: Array4::zeros(w.raw_dim()),
            b: Array1::zeros(b.raw_dim()),
        }
    }
}

/// Reusable scratch memory (the column matrix) for forward and backward
/// passes. One workspace can serve any number of layers; it grows to the
/// largest column matrix seen and is then reused without allocating.
#[derive(Debug, Clone)]
pub struct ConvWorkspace<T> {
    col: Vec<T>,
}

impl<T> Default for ConvWorkspace<T> {
    fn default() -> Self {
        Self { col: Vec::new() }
    }
}

impl<T: NdFloat> ConvWorkspace<T> {
    /// Number of elements currently reserved.
    pub fn capacity(&self) -> usize {
        self.col.capacity()
    }

    /// A `rows x cols` scratch matrix (contents unspecified).
    fn col(&mut self, (rows, cols): (usize, usize)) -> Result<ArrayViewMut2<'_, T>, ConvError> {
        let n = rows * cols;
        if self.col.len() < n {
            self.col.resize(n, T::zero());
        }
        ArrayViewMut2::from_shape((rows, cols), &mut self.col[..n])
            .map_err(|_| ConvError::Layout { what: "workspace" })
    }
}

/// The sliding-window pass both layers are built on: a convolution from
/// `win.channels()` image channels to `rows` channels, with weight matrix
/// `rows x C·kh·kw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pass {
    win: ConvWindow,
    rows: usize,
}

/// Which layer a [`Pass`] implements: the convolution itself, or its
/// transpose (input and output swapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Conv,
    Transposed,
}

/// `a·b·…`, or `TooLarge`.
fn product(dims: &[usize]) -> Result<usize, ConvError> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or(ConvError::TooLarge)
}

/// Views a flattened row (`len = a·b`) as an `a x b` matrix.
fn mat<T>(row: ArrayView1<'_, T>, a: usize, b: usize) -> Result<ArrayView2<'_, T>, ConvError> {
    row.into_shape_with_order((a, b))
        .map_err(|_| ConvError::Layout { what: "batch row" })
}

/// Mutable version of [`mat`].
fn mat_mut<T>(
    row: ArrayViewMut1<'_, T>,
    a: usize,
    b: usize,
) -> Result<ArrayViewMut2<'_, T>, ConvError> {
    row.into_shape_with_order((a, b))
        .map_err(|_| ConvError::Layout { what: "batch row" })
}

impl Pass {
    fn new(win: ConvWindow, rows: usize) -> Result<Self, ConvError> {
        positive("channels", rows)?;
        product(&[rows, win.output().0, win.output().1])?;
        let (kh, kw) = win.kernel();
        product(&[rows, win.channels(), kh, kw])?;
        Ok(Self { win, rows })
    }

    /// Shape of the weights: `rows x C x kh x kw`.
    fn weight_shape(&self) -> [usize; 4] {
        let (kh, kw) = self.win.kernel();
        [self.rows, self.win.channels(), kh, kw]
    }

    /// Length of one image on the output side of the convolution.
    fn out_len(&self) -> usize {
        self.rows * self.win.output().0 * self.win.output().1
    }

    fn image_shape(&self) -> (usize, usize, usize) {
        let (h, w) = self.win.input();
        (self.win.channels(), h, w)
    }

    /// `rows x C·kh·kw` view of the weights.
    fn matrix<'a, T>(&self, w: &'a Array4<T>) -> Result<ArrayView2<'a, T>, ConvError> {
        ConvError::check_shape("weights", &self.weight_shape(), w.shape())?;
        w.view()
            .into_shape_with_order((self.rows, self.win.col_shape().0))
            .map_err(|_| ConvError::Layout { what: "weights" })
    }

    /// The column matrix `im2col(image)` of a flattened CHW row: filled
    /// into `col`, or, for a pointwise window, the image itself viewed as
    /// `C x H·W` (no copy).
    fn columns<'a, T: NdFloat>(
        &self,
        image: ArrayView1<'a, T>,
        mut col: ArrayViewMut2<'a, T>,
    ) -> Result<ArrayView2<'a, T>, ConvError> {
        let (c, hw) = self.win.col_shape();
        if self.win.is_pointwise() {
            return mat(image, c, hw);
        }
        let image = image
            .into_shape_with_order(self.image_shape())
            .map_err(|_| ConvError::Layout { what: "batch row" })?;
        im2col(&self.win, image, col.view_mut())?;
        let dim = col.dim();
        let col: &'a [T] = col
            .into_slice()
            .ok_or(ConvError::Layout { what: "workspace" })?;
        ArrayView2::from_shape(dim, col).map_err(|_| ConvError::Layout { what: "workspace" })
    }

    /// `out = Wm · im2col(image)` (`out` is `rows·Ho·Wo`, overwritten).
    fn apply<T: NdFloat>(
        &self,
        wm: &ArrayView2<T>,
        image: ArrayView1<T>,
        out: ArrayViewMut1<T>,
        mut col: ArrayViewMut2<T>,
    ) -> Result<(), ConvError> {
        let mut out = mat_mut(out, self.rows, self.win.col_shape().1)?;
        let col = self.columns(image, col.view_mut())?;
        general_mat_mul(T::one(), wm, &col, T::zero(), &mut out);
        Ok(())
    }

    /// `image = col2im(Wmᵀ · src)` (`src` is `rows·Ho·Wo`; `image`
    /// overwritten).
    fn adjoint<T: NdFloat>(
        &self,
        wm: &ArrayView2<T>,
        src: ArrayView1<T>,
        image: ArrayViewMut1<T>,
        mut col: ArrayViewMut2<T>,
    ) -> Result<(), ConvError> {
        let src = mat(src, self.rows, self.win.col_shape().1)?;
        if self.win.is_pointwise() {
            let (c, hw) = self.win.col_shape();
            let mut image = mat_mut(image, c, hw)?;
            general_mat_mul(T::one(), &wm.t(), &src, T::zero(), &mut image);
            return Ok(());
        }
        general_mat_mul(T::one(), &wm.t(), &src, T::zero(), &mut col);
        let image = image
            .into_shape_with_order(self.image_shape())
            .map_err(|_| ConvError::Layout { what: "batch row" })?;
        col2im(&self.win, col.view(), image)
    }

    /// `dw += a · im2col(image)ᵀ` (`a` is `rows·Ho·Wo`, `dw` is
    /// `rows x C·kh·kw`).
    fn weight_grad<T: NdFloat>(
        &self,
        a: ArrayView1<T>,
        image: ArrayView1<T>,
        dw: &mut ArrayViewMut2<T>,
        mut col: ArrayViewMut2<T>,
    ) -> Result<(), ConvError> {
        let a = mat(a, self.rows, self.win.col_shape().1)?;
        let col = self.columns(image, col.view_mut())?;
        general_mat_mul(T::one(), &a, &col.t(), T::one(), dw);
        Ok(())
    }

    /// `(input, output)` row widths of the layer running this pass in `dir`.
    fn dims(&self, dir: Dir) -> (usize, usize) {
        match dir {
            Dir::Conv => (self.win.image_len(), self.out_len()),
            Dir::Transposed => (self.out_len(), self.win.image_len()),
        }
    }

    /// Output channels (= biases) of the layer running this pass in `dir`.
    fn bias_len(&self, dir: Dir) -> usize {
        match dir {
            Dir::Conv => self.rows,
            Dir::Transposed => self.win.channels(),
        }
    }

    /// Forward of either layer: `y = apply(x) + b` or `y = adjoint(x) + b`.
    fn forward<T: NdFloat>(
        &self,
        dir: Dir,
        w: &Array4<T>,
        b: &Array1<T>,
        x: ArrayView2<T>,
        y: ArrayViewMut2<T>,
        ws: &mut ConvWorkspace<T>,
    ) -> Result<(), ConvError> {
        let (in_dim, out_dim) = self.dims(dir);
        check_batch(x.shape(), in_dim, "output batch", y.shape(), out_dim)?;
        ConvError::check_shape("bias", &[self.bias_len(dir)], b.shape())?;
        let wm = self.matrix(w)?;
        let x = x.as_standard_layout();
        let mut col = ws.col(self.win.col_shape())?;
        in_standard_layout(y, |mut y| {
            for (xr, mut yr) in x.outer_iter().zip(y.outer_iter_mut()) {
                match dir {
                    Dir::Conv => self.apply(&wm, xr, yr.view_mut(), col.view_mut())?,
                    Dir::Transposed => self.adjoint(&wm, xr, yr.view_mut(), col.view_mut())?,
                }
                add_bias(yr, b)?;
            }
            Ok(())
        })
    }

    /// [`Pass::forward`] into a new `batch x out_dim` array.
    fn forward_new<T: NdFloat>(
        &self,
        dir: Dir,
        w: &Array4<T>,
        b: &Array1<T>,
        x: ArrayView2<T>,
        ws: &mut ConvWorkspace<T>,
    ) -> Result<Array2<T>, ConvError> {
        let mut y = Array2::zeros((x.nrows(), self.dims(dir).1));
        self.forward(dir, w, b, x, y.view_mut(), ws)?;
        Ok(y)
    }

    /// Backward of either layer (see the table in the module docs).
    #[allow(clippy::too_many_arguments)]
    fn backward<T: NdFloat>(
        &self,
        dir: Dir,
        w: &Array4<T>,
        x: ArrayView2<T>,
        g: ArrayView2<T>,
        grad: &mut ConvGrad<T>,
        dx: Option<ArrayViewMut2<T>>,
        ws: &mut ConvWorkspace<T>,
    ) -> Result<(), ConvError> {
        let (in_dim, out_dim) = self.dims(dir);
        check_batch(x.shape(), in_dim, "output gradient", g.shape(), out_dim)?;
        if let Some(dx) = &dx {
            ConvError::check_shape("input gradient", x.shape(), dx.shape())?;
        }
        let wm = self.matrix(w)?;
        let (mut dw, db) = reset_grad(self, grad, self.bias_len(dir))?;
        let (x, g) = (x.as_standard_layout(), g.as_standard_layout());
        let mut col = ws.col(self.win.col_shape())?;
        for (xr, gr) in x.outer_iter().zip(g.outer_iter()) {
            match dir {
                Dir::Conv => self.weight_grad(gr, xr, &mut dw, col.view_mut())?,
                Dir::Transposed => self.weight_grad(xr, gr, &mut dw, col.view_mut())?,
            }
            bias_grad(gr, db)?;
        }
        let Some(dx) = dx else { return Ok(()) };
        in_standard_layout(dx, |mut dx| {
            for (gr, dxr) in g.outer_iter().zip(dx.outer_iter_mut()) {
                match dir {
                    Dir::Conv => self.adjoint(&wm, gr, dxr, col.view_mut())?,
                    Dir::Transposed => self.apply(&wm, gr, dxr, col.view_mut())?,
                }
            }
            Ok(())
        })
    }
}

/// Runs `f` on `out` if it is in standard layout (every row contiguous, so
/// rows reshape to images for free), else on a temporary copied back after.
fn in_standard_layout<T: NdFloat>(
    mut out: ArrayViewMut2<T>,
    f: impl FnOnce(ArrayViewMut2<T>) -> Result<(), ConvError>,
) -> Result<(), ConvError> {
    if out.is_standard_layout() {
        return f(out);
    }
    let mut tmp = Array2::zeros(out.raw_dim());
    f(tmp.view_mut())?;
    out.assign(&tmp);
    Ok(())
}

/// Adds `b[c]` to every pixel of channel `c` of a flattened CHW row.
fn add_bias<T: NdFloat>(row: ArrayViewMut1<T>, b: &Array1<T>) -> Result<(), ConvError> {
    let len = row.len() / b.len();
    let mut m = mat_mut(row, b.len(), len)?;
    m += &b.view().insert_axis(Axis(1));
    Ok(())
}

/// `db += Σ over pixels of g[c, ·]` for a flattened CHW row.
fn bias_grad<T: NdFloat>(g: ArrayView1<T>, db: &mut Array1<T>) -> Result<(), ConvError> {
    let len = g.len() / db.len();
    *db += &mat(g, db.len(), len)?.sum_axis(Axis(1));
    Ok(())
}

/// Parameters drawn from `U(±1/√fan_in)`, `fan_in` the product of the
/// weight's dimensions after the first (PyTorch's default initialisation of
/// both layers).
fn init_params<T: NdFloat, R: Rng + ?Sized>(
    shape: [usize; 4],
    bias_len: usize,
    rng: &mut R,
) -> Result<(Array4<T>, Array1<T>), ConvError> {
    let fan_in = product(&shape[1..])?.max(1);
    let bound = 1.0 / (fan_in as f64).sqrt();
    let mut draw = |_| T::from(rng.random_range(-bound..bound)).unwrap_or_else(T::zero);
    let w = Array4::from_shape_fn(shape, |ijkl| draw(ijkl.0));
    let b = Array1::from_shape_fn(bias_len, draw);
    Ok((w, b))
}

/// Checks that `x` is `batch x in_dim` and `other` is `batch x out_dim`
/// (`batch` taken from `x`).
fn check_batch(
    x: &[usize],
    in_dim: usize,
    other_what: &'static str,
    other: &[usize],
    out_dim: usize,
) -> Result<(), ConvError> {
    let batch = x.first().copied().unwrap_or(0);
    ConvError::check_shape("input batch", &[batch, in_dim], x)?;
    ConvError::check_shape(other_what, &[batch, out_dim], other)
}

/// Checks a gradient's shapes against its layer's parameters and zeroes it.
fn reset_grad<'a, T: NdFloat>(
    pass: &Pass,
    grad: &'a mut ConvGrad<T>,
    bias_len: usize,
) -> Result<(ArrayViewMut2<'a, T>, &'a mut Array1<T>), ConvError> {
    ConvError::check_shape("weight gradient", &pass.weight_shape(), grad.w.shape())?;
    ConvError::check_shape("bias gradient", &[bias_len], grad.b.shape())?;
    grad.w.fill(T::zero());
    grad.b.fill(T::zero());
    let dw = grad
        .w
        .view_mut()
        .into_shape_with_order((pass.rows, pass.win.col_shape().0))
        .map_err(|_| ConvError::Layout {
            what: "weight gradient",
        })?;
    Ok((dw, &mut grad.b))
}

/// `v` in another float type (f32 <-> f64 always converts).
fn cast<T: NdFloat, U: NdFloat>(v: T) -> U {
    U::from(v).unwrap_or_else(U::zero)
}

/// The serialized form of a convolution layer: hyper-parameters, weights,
/// biases (the derived geometry is recomputed on load).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Parts<S, T> {
    spec: S,
    w: Array4<T>,
    b: Array1<T>,
}

/// `From` / `TryFrom` between a convolution layer and its [`Parts`]
/// (loading re-validates through the layer's `new`).
macro_rules! parts_conversions {
    ($layer:ident, $spec:ty) => {
        impl<T: NdFloat> From<$layer<T>> for Parts<$spec, T> {
            fn from(l: $layer<T>) -> Self {
                Self {
                    spec: l.spec,
                    w: l.w,
                    b: l.b,
                }
            }
        }

        impl<T: NdFloat> TryFrom<Parts<$spec, T>> for $layer<T> {
            type Error = ConvError;
            fn try_from(p: Parts<$spec, T>) -> Result<Self, ConvError> {
                Self::new(p.spec, p.w, p.b)
            }
        }
    };
}

parts_conversions!(Conv2d, Conv2dSpec);
parts_conversions!(ConvTranspose2d, ConvTranspose2dSpec);

/// The methods [`Conv2d`] and [`ConvTranspose2d`] share: sizes, gradients
/// and passes, all delegated to the layer's [`Pass`] in direction `$dir`.
macro_rules! layer_methods {
    ($dir:expr) => {
        /// Input row width `in_channels·H·W`.
        pub fn in_dim(&self) -> usize {
            self.pass.dims($dir).0
        }

        /// Output row width `out_channels·Ho·Wo`.
        pub fn out_dim(&self) -> usize {
            self.pass.dims($dir).1
        }

        /// Number of trainable values.
        pub fn param_count(&self) -> usize {
            self.w.len() + self.b.len()
        }

        /// Zero gradients shaped like this layer.
        pub fn zero_grad(&self) -> ConvGrad<T> {
            ConvGrad::zeros_like(&self.w, &self.b)
        }

        /// Forward into `y` (`batch x out_dim`, overwritten) for `x`
        /// (`batch x in_dim`).
        pub fn forward_into(
            &self,
            x: ArrayView2<T>,
            y: ArrayViewMut2<T>,
            ws: &mut ConvWorkspace<T>,
        ) -> Result<(), ConvError> {
            self.pass.forward($dir, &self.w, &self.b, x, y, ws)
        }

        /// Forward into a new `batch x out_dim` array.
        pub fn forward(
            &self,
            x: ArrayView2<T>,
            ws: &mut ConvWorkspace<T>,
        ) -> Result<Array2<T>, ConvError> {
            self.pass.forward_new($dir, &self.w, &self.b, x, ws)
        }

        /// Backward for input `x` and upstream gradient `g = dL/dy`
        /// (`batch x out_dim`). Overwrites `grad` with dL/dW, dL/db (summed over
        /// the batch) and, if given, `dx` (`batch x in_dim`) with dL/dx.
        pub fn backward(
            &self,
            x: ArrayView2<T>,
            g: ArrayView2<T>,
            grad: &mut ConvGrad<T>,
            dx: Option<ArrayViewMut2<T>>,
            ws: &mut ConvWorkspace<T>,
        ) -> Result<(), ConvError> {
            self.pass.backward($dir, &self.w, x, g, grad, dx, ws)
        }
    };
}

/// 2-D convolution, `y = W ⋆ x + b` (PyTorch's `Conv2d`, cross-correlation).
///
/// Serialized as its spec, weights and biases; deserialization re-validates
/// them through [`Conv2d::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    into = "Parts<Conv2dSpec, T>",
    try_from = "Parts<Conv2dSpec, T>",
    bound(
        serialize = "T: NdFloat + Serialize",
        deserialize = "T: NdFloat + serde::de::DeserializeOwned"
    )
)]
pub struct Conv2d<T> {
    /// `out_channels x in_channels x kh x kw` weights (row-major).
    pub w: Array4<T>,
    /// `out_channels` biases.
    pub b: Array1<T>,
    spec: Conv2dSpec,
    pass: Pass,
}

impl<T: NdFloat> Conv2d<T> {
    /// A layer with the given parameters (shapes and geometry validated).
    pub fn new(spec: Conv2dSpec, w: Array4<T>, b: Array1<T>) -> Result<Self, ConvError> {
        let win = ConvWindow::new(
            spec.in_channels,
            spec.input,
            spec.kernel,
            spec.stride,
            spec.padding,
        )?;
        let pass = Pass::new(win, spec.out_channels)?;
        ConvError::check_shape("weights", &pass.weight_shape(), w.shape())?;
        ConvError::check_shape("bias", &[spec.out_channels], b.shape())?;
        Ok(Self { w, b, spec, pass })
    }

    /// A layer with weights and biases drawn from `U(±1/√fan_in)`,
    /// `fan_in = in_channels·kh·kw` (PyTorch's default).
    pub fn init<R: Rng + ?Sized>(spec: Conv2dSpec, rng: &mut R) -> Result<Self, ConvError> {
        let (kh, kw) = spec.kernel;
        let shape = [spec.out_channels, spec.in_channels, kh, kw];
        let (w, b) = init_params(shape, spec.out_channels, rng)?;
        Self::new(spec, w, b)
    }

    /// The hyper-parameters.
    pub fn spec(&self) -> &Conv2dSpec {
        &self.spec
    }

    /// The same layer in another float type.
    pub fn cast<U: NdFloat>(&self) -> Conv2d<U> {
        Conv2d {
            w: self.w.map(|&v| cast(v)),
            b: self.b.map(|&v| cast(v)),
            spec: self.spec,
            pass: self.pass,
        }
    }

    /// Input image shape `(C, H, W)`.
    pub fn in_shape(&self) -> (usize, usize, usize) {
        self.pass.image_shape()
    }

    /// Output image shape `(out_channels, Ho, Wo)`.
    pub fn out_shape(&self) -> (usize, usize, usize) {
        let (ho, wo) = self.pass.win.output();
        (self.pass.rows, ho, wo)
    }

    layer_methods!(Dir::Conv);
}

/// Transposed 2-D convolution (PyTorch's `ConvTranspose2d`): the adjoint of
/// the [`Conv2d`] with the same weights, plus a bias per output channel.
///
/// Serialized as its spec, weights and biases; deserialization re-validates
/// them through [`ConvTranspose2d::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    into = "Parts<ConvTranspose2dSpec, T>",
    try_from = "Parts<ConvTranspose2dSpec, T>",
    bound(
        serialize = "T: NdFloat + Serialize",
        deserialize = "T: NdFloat + serde::de::DeserializeOwned"
    )
)]
pub struct ConvTranspose2d<T> {
    /// `in_channels x out_channels x kh x kw` weights (row-major).
    pub w: Array4<T>,
    /// `out_channels` biases.
    pub b: Array1<T>,
    spec: ConvTranspose2dSpec,
    /// The adjoint convolution: from this layer's output (as image) to its
    /// input (`rows = in_channels`).
    pass: Pass,
}

/// Output length of one axis of a transposed convolution,
/// `(n − 1)·s − 2p + k + op`.
fn transposed_axis(
    axis: &'static str,
    n: usize,
    k: usize,
    s: usize,
    p: usize,
    op: usize,
) -> Result<usize, ConvError> {
    if op >= s {
        return Err(ConvError::OutputPadding {
            axis,
            output_padding: op,
            stride: s,
        });
    }
    let full = n
        .checked_sub(1)
        .and_then(|m| m.checked_mul(s))
        .and_then(|v| v.checked_add(k))
        .and_then(|v| v.checked_add(op))
        .ok_or(ConvError::TooLarge)?;
    match full.checked_sub(p.checked_mul(2).ok_or(ConvError::TooLarge)?) {
        Some(out) if out > 0 => Ok(out),
        _ => Err(ConvError::EmptyOutput {
            axis,
            detail: format!("({n} − 1)·{s} − 2·{p} + {k} + {op} ≤ 0"),
        }),
    }
}

impl<T: NdFloat> ConvTranspose2d<T> {
    /// A layer with the given parameters (shapes and geometry validated).
    pub fn new(spec: ConvTranspose2dSpec, w: Array4<T>, b: Array1<T>) -> Result<Self, ConvError> {
        for (param, v) in [
            ("input height", spec.input.0),
            ("input width", spec.input.1),
            ("kernel height", spec.kernel.0),
            ("kernel width", spec.kernel.1),
            ("stride height", spec.stride.0),
            ("stride width", spec.stride.1),
        ] {
            positive(param, v)?;
        }
        let out = (
            transposed_axis(
                "height",
                spec.input.0,
                spec.kernel.0,
                spec.stride.0,
                spec.padding.0,
                spec.output_padding.0,
            )?,
            transposed_axis(
                "width",
                spec.input.1,
                spec.kernel.1,
                spec.stride.1,
                spec.padding.1,
                spec.output_padding.1,
            )?,
        );
        // Because output_padding < stride, this convolution maps the output
        // size back to exactly `spec.input`.
        let win = ConvWindow::new(
            spec.out_channels,
            out,
            spec.kernel,
            spec.stride,
            spec.padding,
        )?;
        let pass = Pass::new(win, spec.in_channels)?;
        ConvError::check_shape("weights", &pass.weight_shape(), w.shape())?;
        ConvError::check_shape("bias", &[spec.out_channels], b.shape())?;
        Ok(Self { w, b, spec, pass })
    }

    /// A layer with weights and biases drawn from `U(±1/√fan_in)`,
    /// `fan_in = out_channels·kh·kw` (PyTorch's default, which takes the fan
    /// from the weight's second dimension).
    pub fn init<R: Rng + ?Sized>(
        spec: ConvTranspose2dSpec,
        rng: &mut R,
    ) -> Result<Self, ConvError> {
        let (kh, kw) = spec.kernel;
        let shape = [spec.in_channels, spec.out_channels, kh, kw];
        let (w, b) = init_params(shape, spec.out_channels, rng)?;
        Self::new(spec, w, b)
    }

    /// The hyper-parameters.
    pub fn spec(&self) -> &ConvTranspose2dSpec {
        &self.spec
    }

    /// The same layer in another float type.
    pub fn cast<U: NdFloat>(&self) -> ConvTranspose2d<U> {
        ConvTranspose2d {
            w: self.w.map(|&v| cast(v)),
            b: self.b.map(|&v| cast(v)),
            spec: self.spec,
            pass: self.pass,
        }
    }

    /// Input image shape `(in_channels, H, W)`.
    pub fn in_shape(&self) -> (usize, usize, usize) {
        (self.pass.rows, self.spec.input.0, self.spec.input.1)
    }

    /// Output image shape `(out_channels, Ho, Wo)`.
    pub fn out_shape(&self) -> (usize, usize, usize) {
        self.pass.image_shape()
    }

    layer_methods!(Dir::Transposed);
}
