//! Tests of the convolution layers (`nn::conv`, `nn::im2col`): finite
//! differences for every backward, a naive nested-loop reference for both
//! forwards on random geometries, the adjoint identity between `Conv2d` and
//! `ConvTranspose2d`, output sizes against PyTorch, errors, layouts and the
//! allocation-free workspace.

use ndarray::{Array1, Array2, Array3, Array4, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rrae_trainer::nn::conv::{
    Conv2d, Conv2dSpec, ConvError, ConvGrad, ConvTranspose2d, ConvTranspose2dSpec, ConvWorkspace,
};
use rrae_trainer::nn::im2col::{col2im, im2col, ConvWindow};

fn uniform<D: ndarray::Dimension, Sh: ndarray::ShapeBuilder<Dim = D>>(
    shape: Sh,
    rng: &mut StdRng,
) -> ndarray::Array<f64, D> {
    ndarray::Array::from_shape_simple_fn(shape, || rng.random_range(-1.0..1.0))
}

fn dot(a: ArrayView2<f64>, b: ArrayView2<f64>) -> f64 {
    (&a * &b).sum()
}

/// Naive `Conv2d` (PyTorch definition), output size from the documented
/// formula.
fn naive_conv(s: &Conv2dSpec, w: &Array4<f64>, b: &Array1<f64>, x: &Array2<f64>) -> Array2<f64> {
    let (h, wd) = s.input;
    let (kh, kw) = s.kernel;
    let ho = (h + 2 * s.padding.0 - kh) / s.stride.0 + 1;
    let wo = (wd + 2 * s.padding.1 - kw) / s.stride.1 + 1;
    let x4 = x
        .to_shape((x.nrows(), s.in_channels, h, wd))
        .unwrap()
        .to_owned();
    let mut y = Array4::<f64>::zeros((x.nrows(), s.out_channels, ho, wo));
    for ((n, o, oy, ox), v) in y.indexed_iter_mut() {
        *v = b[o];
        for c in 0..s.in_channels {
            for i in 0..kh {
                for j in 0..kw {
                    let iy = (oy * s.stride.0 + i) as isize - s.padding.0 as isize;
                    let ix = (ox * s.stride.1 + j) as isize - s.padding.1 as isize;
                    if (0..h as isize).contains(&iy) && (0..wd as isize).contains(&ix) {
                        *v += w[[o, c, i, j]] * x4[[n, c, iy as usize, ix as usize]];
                    }
                }
            }
        }
    }
    let n = y.len() / x.nrows();
    y.into_shape_with_order((x.nrows(), n)).unwrap()
}

/// Naive `ConvTranspose2d` (PyTorch definition: every input pixel scatters
/// `x · w[c_in, c_out]` onto the stride-spaced output, minus the padding).
fn naive_conv_t(
    s: &ConvTranspose2dSpec,
    w: &Array4<f64>,
    b: &Array1<f64>,
    x: &Array2<f64>,
) -> Array2<f64> {
    let (h, wd) = s.input;
    let (kh, kw) = s.kernel;
    let ho = (h - 1) * s.stride.0 + kh + s.output_padding.0 - 2 * s.padding.0;
    let wo = (wd - 1) * s.stride.1 + kw + s.output_padding.1 - 2 * s.padding.1;
    let x4 = x
        .to_shape((x.nrows(), s.in_channels, h, wd))
        .unwrap()
        .to_owned();
    let mut y = Array4::<f64>::zeros((x.nrows(), s.out_channels, ho, wo));
    for ((_, o, _, _), v) in y.indexed_iter_mut() {
        *v = b[o];
    }
    for ((n, c, iy, ix), &xv) in x4.indexed_iter() {
        for o in 0..s.out_channels {
            for i in 0..kh {
                for j in 0..kw {
                    let oy = (iy * s.stride.0 + i) as isize - s.padding.0 as isize;
                    let ox = (ix * s.stride.1 + j) as isize - s.padding.1 as isize;
                    if (0..ho as isize).contains(&oy) && (0..wo as isize).contains(&ox) {
                        y[[n, o, oy as usize, ox as usize]] += xv * w[[c, o, i, j]];
                    }
                }
            }
        }
    }
    let n = y.len() / x.nrows();
    y.into_shape_with_order((x.nrows(), n)).unwrap()
}

fn conv_spec(
    c: (usize, usize),
    k: (usize, usize),
    s: (usize, usize),
    p: (usize, usize),
    input: (usize, usize),
) -> Conv2dSpec {
    Conv2dSpec {
        in_channels: c.0,
        out_channels: c.1,
        kernel: k,
        stride: s,
        padding: p,
        input,
    }
}

fn conv_t_spec(
    c: (usize, usize),
    k: (usize, usize),
    s: (usize, usize),
    p: (usize, usize),
    op: (usize, usize),
    input: (usize, usize),
) -> ConvTranspose2dSpec {
    ConvTranspose2dSpec {
        in_channels: c.0,
        out_channels: c.1,
        kernel: k,
        stride: s,
        padding: p,
        output_padding: op,
        input,
    }
}

/// Common view of both layers for the finite-difference driver.
trait Layer: Clone {
    fn params(&mut self) -> (&mut Array4<f64>, &mut Array1<f64>);
    fn dims(&self) -> (usize, usize);
    fn fwd(&self, x: &Array2<f64>, ws: &mut ConvWorkspace<f64>) -> Array2<f64>;
    fn bwd(&self, x: &Array2<f64>, g: &Array2<f64>, grad: &mut ConvGrad<f64>, dx: &mut Array2<f64>);
}

macro_rules! impl_layer {
    ($t:ty) => {
        impl Layer for $t {
            fn params(&mut self) -> (&mut Array4<f64>, &mut Array1<f64>) {
                (&mut self.w, &mut self.b)
            }
            fn dims(&self) -> (usize, usize) {
                (self.in_dim(), self.out_dim())
            }
            fn fwd(&self, x: &Array2<f64>, ws: &mut ConvWorkspace<f64>) -> Array2<f64> {
                self.forward(x.view(), ws).unwrap()
            }
            fn bwd(
                &self,
                x: &Array2<f64>,
                g: &Array2<f64>,
                grad: &mut ConvGrad<f64>,
                dx: &mut Array2<f64>,
            ) {
                let mut ws = ConvWorkspace::default();
                self.backward(x.view(), g.view(), grad, Some(dx.view_mut()), &mut ws)
                    .unwrap();
            }
        }
    };
}
impl_layer!(Conv2d<f64>);
impl_layer!(ConvTranspose2d<f64>);

/// Relative error of an analytic derivative against a central difference.
fn rel_err(an: f64, fd: f64) -> f64 {
    let scale = an.abs().max(fd.abs());
    if scale < 1e-9 {
        0.0
    } else {
        (an - fd).abs() / scale
    }
}

/// L = Σ G ∘ layer(X): checks every entry of dW, db and dX by central
/// differences; returns the largest relative error.
fn fd_check<L: Layer>(layer: &L, batch: usize, seed: u64) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let (din, dout) = layer.dims();
    let x = uniform((batch, din), &mut rng);
    let gout = uniform((batch, dout), &mut rng);
    let mut ws = ConvWorkspace::default();
    let loss =
        |l: &L, x: &Array2<f64>, ws: &mut ConvWorkspace<f64>| dot(l.fwd(x, ws).view(), gout.view());

    // Garbage in the outputs: backward must overwrite, not accumulate.
    let mut grad = {
        let mut l = layer.clone();
        let (w, b) = l.params();
        ConvGrad {
            w: w.mapv(|_| 7.0),
            b: b.mapv(|_| -3.0),
        }
    };
    let mut dx = Array2::from_elem((batch, din), 5.0);
    layer.bwd(&x, &gout, &mut grad, &mut dx);

    let h = 1e-4;
    let mut worst = 0.0f64;
    let nw = grad.w.len();
    for k in 0..nw + grad.b.len() {
        let (mut p, mut m) = (layer.clone(), layer.clone());
        let an = if k < nw {
            let idx = grad.w.indexed_iter().nth(k).unwrap().0;
            let idx = [idx.0, idx.1, idx.2, idx.3];
            p.params().0[idx] += h;
            m.params().0[idx] -= h;
            grad.w[idx]
        } else {
            p.params().1[k - nw] += h;
            m.params().1[k - nw] -= h;
            grad.b[k - nw]
        };
        let fd = (loss(&p, &x, &mut ws) - loss(&m, &x, &mut ws)) / (2.0 * h);
        worst = worst.max(rel_err(an, fd));
    }
    for (idx, &an) in dx.indexed_iter() {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[idx] += h;
        xm[idx] -= h;
        let fd = (loss(layer, &xp, &mut ws) - loss(layer, &xm, &mut ws)) / (2.0 * h);
        worst = worst.max(rel_err(an, fd));
    }
    worst
}

#[test]
fn conv2d_backward_matches_finite_differences() {
    let configs = [
        conv_spec((2, 3), (3, 3), (1, 1), (0, 0), (5, 6)),
        conv_spec((2, 2), (3, 3), (2, 2), (1, 1), (7, 6)),
        conv_spec((1, 2), (4, 4), (2, 2), (1, 1), (6, 8)),
        conv_spec((3, 2), (4, 3), (2, 1), (0, 1), (9, 5)),
        conv_spec((2, 2), (4, 4), (1, 1), (0, 0), (5, 7)),
        // Pointwise (1 x 1, stride 1, no padding): the im2col-free path.
        conv_spec((3, 4), (1, 1), (1, 1), (0, 0), (2, 5)),
    ];
    let mut rng = StdRng::seed_from_u64(11);
    for (i, spec) in configs.iter().enumerate() {
        let layer = Conv2d::<f64>::init(*spec, &mut rng).unwrap();
        let worst = fd_check(&layer, 2, 100 + i as u64);
        eprintln!("Conv2d {spec:?}: max relative error {worst:.1e}");
        assert!(worst < 1e-6, "{spec:?}: relative error {worst:e}");
    }
}

#[test]
fn conv_transpose2d_backward_matches_finite_differences() {
    let configs = [
        conv_t_spec((3, 2), (3, 3), (1, 1), (0, 0), (0, 0), (4, 5)),
        conv_t_spec((2, 2), (3, 3), (2, 2), (1, 1), (1, 1), (4, 3)),
        conv_t_spec((2, 1), (4, 4), (2, 2), (1, 1), (0, 0), (3, 5)),
        conv_t_spec((2, 3), (3, 4), (2, 3), (1, 0), (1, 2), (3, 4)),
        conv_t_spec((1, 2), (4, 4), (1, 1), (1, 1), (0, 0), (4, 3)),
        conv_t_spec((3, 2), (1, 1), (1, 1), (0, 0), (0, 0), (3, 4)),
    ];
    let mut rng = StdRng::seed_from_u64(12);
    for (i, spec) in configs.iter().enumerate() {
        let layer = ConvTranspose2d::<f64>::init(*spec, &mut rng).unwrap();
        let worst = fd_check(&layer, 2, 200 + i as u64);
        eprintln!("ConvTranspose2d {spec:?}: max relative error {worst:.1e}");
        assert!(worst < 1e-6, "{spec:?}: relative error {worst:e}");
    }
}

#[test]
fn forwards_match_naive_reference_on_random_geometries() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut ws = ConvWorkspace::default();
    let (mut conv_cases, mut conv_t_cases) = (0, 0);
    for _ in 0..60 {
        let c = (rng.random_range(1..=3), rng.random_range(1..=3));
        let k = (rng.random_range(1..=4), rng.random_range(1..=4));
        let s = (rng.random_range(1..=3), rng.random_range(1..=3));
        let p = (rng.random_range(0..=2), rng.random_range(0..=2));
        let batch = rng.random_range(1..=3);

        // Conv2d: any H ≥ 1 with H + 2p ≥ k.
        let min = |k: usize, p: usize| k.saturating_sub(2 * p).max(1);
        let input = (
            rng.random_range(min(k.0, p.0)..min(k.0, p.0) + 6),
            rng.random_range(min(k.1, p.1)..min(k.1, p.1) + 6),
        );
        let spec = conv_spec(c, k, s, p, input);
        let layer = Conv2d::<f64>::init(spec, &mut rng).unwrap();
        let x = uniform((batch, layer.in_dim()), &mut rng);
        let got = layer.forward(x.view(), &mut ws).unwrap();
        let want = naive_conv(&spec, &layer.w, &layer.b, &x);
        assert_eq!(got.dim(), want.dim(), "{spec:?}");
        let (_, ho, wo) = layer.out_shape();
        assert_eq!(layer.out_dim(), c.1 * ho * wo);
        assert!((&got - &want).iter().all(|d| d.abs() < 1e-12), "{spec:?}");
        conv_cases += 1;

        // ConvTranspose2d: output_padding < stride; tiny inputs with big
        // padding may leave no output, which must be an error.
        let op = (rng.random_range(0..s.0), rng.random_range(0..s.1));
        let input = (rng.random_range(1..=5), rng.random_range(1..=5));
        let spec = conv_t_spec(c, k, s, p, op, input);
        let empty =
            |n: usize, k: usize, s: usize, p: usize, op: usize| (n - 1) * s + k + op <= 2 * p;
        match ConvTranspose2d::<f64>::init(spec, &mut rng) {
            Err(e) => {
                assert!(matches!(e, ConvError::EmptyOutput { .. }), "{spec:?}: {e}");
                assert!(empty(input.0, k.0, s.0, p.0, op.0) || empty(input.1, k.1, s.1, p.1, op.1));
            }
            Ok(layer) => {
                let x = uniform((batch, layer.in_dim()), &mut rng);
                let got = layer.forward(x.view(), &mut ws).unwrap();
                let want = naive_conv_t(&spec, &layer.w, &layer.b, &x);
                assert_eq!(got.dim(), want.dim(), "{spec:?}");
                assert!((&got - &want).iter().all(|d| d.abs() < 1e-12), "{spec:?}");
                conv_t_cases += 1;
            }
        }
    }
    // Pointwise layers take the im2col-free path; random geometries
    // almost never draw one.
    for (c, input) in [((3, 2), (4, 5)), ((1, 4), (1, 9))] {
        let spec = conv_spec(c, (1, 1), (1, 1), (0, 0), input);
        let layer = Conv2d::<f64>::init(spec, &mut rng).unwrap();
        let x = uniform((2, layer.in_dim()), &mut rng);
        let got = layer.forward(x.view(), &mut ws).unwrap();
        let want = naive_conv(&spec, &layer.w, &layer.b, &x);
        assert!((&got - &want).iter().all(|d| d.abs() < 1e-12), "{spec:?}");
        let spec = conv_t_spec(c, (1, 1), (1, 1), (0, 0), (0, 0), input);
        let layer = ConvTranspose2d::<f64>::init(spec, &mut rng).unwrap();
        let x = uniform((2, layer.in_dim()), &mut rng);
        let got = layer.forward(x.view(), &mut ws).unwrap();
        let want = naive_conv_t(&spec, &layer.w, &layer.b, &x);
        assert!((&got - &want).iter().all(|d| d.abs() < 1e-12), "{spec:?}");
    }
    assert_eq!(conv_cases, 60);
    assert!(
        conv_t_cases > 40,
        "only {conv_t_cases} transposed cases ran"
    );
}

/// `<conv(x), y> = <x, convT(y)>` with the same weight array and zero biases.
#[test]
fn conv_transpose_is_the_adjoint_of_conv() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut ws = ConvWorkspace::default();
    for _ in 0..40 {
        let c = (rng.random_range(1..=3), rng.random_range(1..=3));
        let k = (rng.random_range(1..=4), rng.random_range(1..=4));
        let s = (rng.random_range(1..=3), rng.random_range(1..=3));
        let p = (rng.random_range(0..k.0), rng.random_range(0..k.1));
        let input = (
            rng.random_range(k.0..k.0 + 6),
            rng.random_range(k.1..k.1 + 6),
        );
        let spec = conv_spec(c, k, s, p, input);
        let conv = Conv2d::<f64>::init(spec, &mut rng).unwrap();
        let (_, ho, wo) = conv.out_shape();
        // The output_padding that maps (Ho, Wo) back to exactly (H, W).
        let op = (
            input.0 + 2 * p.0 - ((ho - 1) * s.0 + k.0),
            input.1 + 2 * p.1 - ((wo - 1) * s.1 + k.1),
        );
        let t_spec = conv_t_spec((c.1, c.0), k, s, p, op, (ho, wo));
        let conv_t = ConvTranspose2d::new(t_spec, conv.w.clone(), Array1::zeros(c.0)).unwrap();
        assert_eq!(conv_t.out_shape(), conv.in_shape());
        assert_eq!(conv_t.in_shape(), conv.out_shape());

        let conv = Conv2d::new(spec, conv.w.clone(), Array1::zeros(c.1)).unwrap();
        let x = uniform((2, conv.in_dim()), &mut rng);
        let y = uniform((2, conv.out_dim()), &mut rng);
        let lhs = dot(conv.forward(x.view(), &mut ws).unwrap().view(), y.view());
        let rhs = dot(x.view(), conv_t.forward(y.view(), &mut ws).unwrap().view());
        assert!(
            (lhs - rhs).abs() <= 1e-10 * lhs.abs().max(1.0),
            "{spec:?}: {lhs} vs {rhs}"
        );
    }
}

#[test]
fn im2col_and_col2im_are_adjoint() {
    let mut rng = StdRng::seed_from_u64(9);
    let win = ConvWindow::new(2, (5, 4), (3, 2), (2, 1), (1, 0)).unwrap();
    assert_eq!(win.channels(), 2);
    assert_eq!(win.input(), (5, 4));
    assert_eq!(win.kernel(), (3, 2));
    assert_eq!(win.stride(), (2, 1));
    assert_eq!(win.padding(), (1, 0));
    assert_eq!(win.output(), (3, 3));
    assert_eq!(win.image_len(), 40);
    assert_eq!(win.col_shape(), (12, 9));

    let x: Array3<f64> = uniform((2, 5, 4), &mut rng);
    let c: Array2<f64> = uniform((12, 9), &mut rng);
    let mut col = Array2::from_elem((12, 9), 9.0);
    let mut img = Array3::from_elem((2, 5, 4), 9.0);
    im2col(&win, x.view(), col.view_mut()).unwrap();
    col2im(&win, c.view(), img.view_mut()).unwrap();
    // Padding taps are zero: row (c=0, i=0, j=0), column (oy=0, ox=0) reads y = −1.
    assert_eq!(col[[0, 0]], 0.0);
    assert_eq!(col[[3, 0]], x[[0, 0, 1]]);
    let lhs = dot(col.view(), c.view());
    let rhs = (&x * &img).sum();
    assert!((lhs - rhs).abs() < 1e-12, "{lhs} vs {rhs}");

    let bad = im2col(&win, x.view(), Array2::zeros((12, 8)).view_mut());
    assert!(matches!(
        bad,
        Err(ConvError::Shape {
            what: "column matrix",
            ..
        })
    ));
    let bad = col2im(&win, c.view(), Array3::zeros((2, 4, 5)).view_mut());
    assert!(matches!(bad, Err(ConvError::Shape { what: "image", .. })));
}

/// The row-major fast paths of `im2col` / `col2im` against the generic
/// per-tap path taken for other layouts (a column-major copy of the same
/// arrays), on random geometries including padding larger than the kernel
/// and strides larger than the kernel.
#[test]
fn im2col_fast_path_matches_generic_path() {
    let mut rng = StdRng::seed_from_u64(21);
    for _ in 0..200 {
        let c = rng.random_range(1..4);
        let (h, w) = (rng.random_range(1..9), rng.random_range(1..9));
        let k = (rng.random_range(1..5), rng.random_range(1..5));
        let s = (rng.random_range(1..4), rng.random_range(1..4));
        let p = (rng.random_range(0..5), rng.random_range(0..5));
        let Ok(win) = ConvWindow::new(c, (h, w), k, s, p) else {
            continue;
        };
        let x: Array3<f64> = uniform((c, h, w), &mut rng);
        let cm: Array2<f64> = uniform(win.col_shape(), &mut rng);
        let (rows, cols) = win.col_shape();
        let mut fast_col = Array2::zeros((rows, cols));
        let mut slow_col = Array2::zeros((cols, rows)).reversed_axes();
        let mut x_f = Array3::zeros((w, h, c)).reversed_axes();
        x_f.assign(&x);
        im2col(&win, x.view(), fast_col.view_mut()).unwrap();
        im2col(&win, x_f.view(), slow_col.view_mut()).unwrap();
        assert_eq!(fast_col, slow_col, "{win:?}");

        let mut fast_img = Array3::zeros((c, h, w));
        let mut slow_img = Array3::zeros((w, h, c)).reversed_axes();
        col2im(&win, cm.view(), fast_img.view_mut()).unwrap();
        col2im(&win, cm.view(), slow_img.view_mut()).unwrap();
        let close = fast_img
            .iter()
            .zip(&slow_img)
            .all(|(a, b)| (a - b).abs() <= 1e-12 * a.abs().max(1.0));
        assert!(close, "{win:?}");
    }
}

/// Output sizes of common autoencoder stages, as PyTorch computes them.
#[test]
fn output_sizes_match_pytorch() {
    let conv = |k, s, p, input| {
        Conv2d::<f32>::init(
            conv_spec((1, 4), (k, k), (s, s), (p, p), input),
            &mut StdRng::seed_from_u64(0),
        )
        .unwrap()
        .out_shape()
    };
    assert_eq!(conv(3, 2, 1, (28, 28)), (4, 14, 14));
    assert_eq!(conv(4, 2, 1, (28, 28)), (4, 14, 14));
    assert_eq!(conv(3, 1, 1, (28, 20)), (4, 28, 20));
    assert_eq!(conv(5, 2, 0, (28, 28)), (4, 12, 12));
    assert_eq!(conv(3, 2, 0, (7, 6)), (4, 3, 2));
    let conv_t = |k, s, p, op, input| {
        ConvTranspose2d::<f32>::init(
            conv_t_spec((4, 1), (k, k), (s, s), (p, p), (op, op), input),
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap()
        .out_shape()
    };
    assert_eq!(conv_t(3, 2, 1, 1, (14, 14)), (1, 28, 28));
    assert_eq!(conv_t(4, 2, 1, 0, (14, 14)), (1, 28, 28));
    assert_eq!(conv_t(3, 2, 1, 0, (14, 10)), (1, 27, 19));
    assert_eq!(conv_t(5, 2, 0, 1, (12, 12)), (1, 28, 28));
    assert_eq!(conv_t(3, 1, 0, 0, (5, 6)), (1, 7, 8));
}

#[test]
fn accessors_init_and_f32() {
    let spec = conv_spec((2, 3), (3, 2), (2, 1), (1, 0), (6, 5));
    let a = Conv2d::<f32>::init(spec, &mut StdRng::seed_from_u64(4)).unwrap();
    let b = Conv2d::<f32>::init(spec, &mut StdRng::seed_from_u64(4)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.spec(), &spec);
    assert_eq!(a.w.shape(), &[3, 2, 3, 2]);
    assert_eq!(a.param_count(), 3 * 2 * 3 * 2 + 3);
    assert_eq!((a.in_shape(), a.in_dim()), ((2, 6, 5), 60));
    assert_eq!((a.out_shape(), a.out_dim()), ((3, 3, 4), 36));
    let bound = 1.0 / (2.0f32 * 6.0).sqrt();
    assert!(a.w.iter().chain(a.b.iter()).all(|v| v.abs() <= bound));
    let g = a.zero_grad();
    assert_eq!((g.w.dim(), g.b.len()), (a.w.dim(), 3));

    let t_spec = conv_t_spec((3, 2), (3, 2), (2, 1), (1, 0), (1, 0), (3, 4));
    let t = ConvTranspose2d::<f32>::init(t_spec, &mut StdRng::seed_from_u64(4)).unwrap();
    assert_eq!(t.spec(), &t_spec);
    assert_eq!(t.w.shape(), &[3, 2, 3, 2]);
    assert_eq!(t.param_count(), 3 * 2 * 3 * 2 + 2);
    assert_eq!((t.in_shape(), t.in_dim()), ((3, 3, 4), 36));
    assert_eq!((t.out_shape(), t.out_dim()), ((2, 6, 5), 60));
    let bound = 1.0 / (2.0f32 * 6.0).sqrt();
    assert!(t.w.iter().chain(t.b.iter()).all(|v| v.abs() <= bound));
    let g = t.zero_grad();
    assert_eq!((g.w.dim(), g.b.len()), (t.w.dim(), 2));

    // f32 agrees with f64 on the same parameters.
    let mut rng = StdRng::seed_from_u64(8);
    let x64: Array2<f64> = uniform((3, 60), &mut rng);
    let a64 = Conv2d::new(spec, a.w.mapv(f64::from), a.b.mapv(f64::from)).unwrap();
    let y64 = a64
        .forward(x64.view(), &mut ConvWorkspace::default())
        .unwrap();
    let y32 = a
        .forward(x64.mapv(|v| v as f32).view(), &mut ConvWorkspace::default())
        .unwrap();
    assert!(y64
        .iter()
        .zip(&y32)
        .all(|(p, q)| (p - f64::from(*q)).abs() < 1e-5));
}

/// Column-major (or otherwise strided) batches give the same results.
#[test]
fn non_standard_batch_layouts() {
    let mut rng = StdRng::seed_from_u64(6);
    let spec = conv_spec((2, 3), (3, 3), (2, 2), (1, 1), (5, 4));
    let conv = Conv2d::<f64>::init(spec, &mut rng).unwrap();
    let mut ws = ConvWorkspace::default();
    let x = uniform((3, conv.in_dim()), &mut rng);
    let g = uniform((3, conv.out_dim()), &mut rng);
    let x_f = x.t().to_owned();
    let x_f = x_f.t(); // same values, column-major
    let mut y_f = Array2::zeros((conv.out_dim(), 3));
    conv.forward_into(x_f, y_f.view_mut().reversed_axes(), &mut ws)
        .unwrap();
    assert_eq!(y_f.t(), conv.forward(x.view(), &mut ws).unwrap());

    let (mut g1, mut g2) = (conv.zero_grad(), conv.zero_grad());
    let mut dx1 = Array2::zeros(x.dim());
    let mut dx2 = Array2::zeros((x.ncols(), x.nrows()));
    conv.backward(x.view(), g.view(), &mut g1, Some(dx1.view_mut()), &mut ws)
        .unwrap();
    conv.backward(
        x_f,
        g.view(),
        &mut g2,
        Some(dx2.view_mut().reversed_axes()),
        &mut ws,
    )
    .unwrap();
    assert_eq!(g1, g2);
    assert_eq!(dx1, dx2.t());
}

/// After the first step, a shared workspace serves both layers without
/// growing (no allocation in the training loop).
#[test]
fn workspace_is_reused() {
    let mut rng = StdRng::seed_from_u64(2);
    let enc = Conv2d::<f64>::init(
        conv_spec((1, 4), (3, 3), (2, 2), (1, 1), (12, 10)),
        &mut rng,
    )
    .unwrap();
    let (c, h, w) = enc.out_shape();
    let dec = ConvTranspose2d::<f64>::init(
        conv_t_spec((c, 1), (3, 3), (2, 2), (1, 1), (1, 1), (h, w)),
        &mut rng,
    )
    .unwrap();
    assert_eq!(dec.out_shape(), enc.in_shape());
    let x = uniform((4, enc.in_dim()), &mut rng);
    let mut ws = ConvWorkspace::default();
    assert_eq!(ws.capacity(), 0);
    let (mut z, mut y) = (Array2::zeros((4, enc.out_dim())), Array2::zeros(x.dim()));
    let (mut ge, mut gd) = (enc.zero_grad(), dec.zero_grad());
    let (mut dz, mut dx) = (z.clone(), x.clone());
    let mut cap = None;
    for _ in 0..3 {
        enc.forward_into(x.view(), z.view_mut(), &mut ws).unwrap();
        dec.forward_into(z.view(), y.view_mut(), &mut ws).unwrap();
        let gy = &y - &x;
        dec.backward(z.view(), gy.view(), &mut gd, Some(dz.view_mut()), &mut ws)
            .unwrap();
        enc.backward(x.view(), dz.view(), &mut ge, Some(dx.view_mut()), &mut ws)
            .unwrap();
        assert_eq!(*cap.get_or_insert(ws.capacity()), ws.capacity());
    }
    assert!(ws.capacity() > 0);
}

#[test]
fn bad_geometry_and_shapes_are_errors() {
    let mut rng = StdRng::seed_from_u64(0);
    let ok = conv_spec((2, 3), (3, 3), (1, 1), (0, 0), (5, 5));
    let err = |s: Conv2dSpec| Conv2d::<f64>::init(s, &mut StdRng::seed_from_u64(0)).unwrap_err();
    assert_eq!(
        err(Conv2dSpec {
            in_channels: 0,
            ..ok
        }),
        ConvError::Zero { param: "channels" }
    );
    assert_eq!(
        err(Conv2dSpec {
            out_channels: 0,
            ..ok
        }),
        ConvError::Zero { param: "channels" }
    );
    assert_eq!(
        err(Conv2dSpec {
            stride: (1, 0),
            ..ok
        }),
        ConvError::Zero {
            param: "stride width"
        }
    );
    assert_eq!(
        err(Conv2dSpec {
            input: (0, 5),
            ..ok
        }),
        ConvError::Zero {
            param: "input height"
        }
    );
    assert!(matches!(
        err(Conv2dSpec {
            input: (5, 2),
            ..ok
        }),
        ConvError::EmptyOutput { axis: "width", .. }
    ));
    assert_eq!(
        err(Conv2dSpec {
            input: (usize::MAX, 5),
            ..ok
        }),
        ConvError::TooLarge
    );
    assert_eq!(
        err(Conv2dSpec {
            padding: (usize::MAX / 2, 0),
            ..ok
        }),
        ConvError::TooLarge
    );

    let t_ok = conv_t_spec((3, 2), (3, 3), (2, 2), (1, 1), (1, 1), (4, 4));
    let t_err = |s: ConvTranspose2dSpec| {
        ConvTranspose2d::<f64>::init(s, &mut StdRng::seed_from_u64(0)).unwrap_err()
    };
    assert_eq!(
        t_err(ConvTranspose2dSpec {
            output_padding: (2, 1),
            ..t_ok
        }),
        ConvError::OutputPadding {
            axis: "height",
            output_padding: 2,
            stride: 2
        }
    );
    assert_eq!(
        t_err(ConvTranspose2dSpec {
            in_channels: 0,
            ..t_ok
        }),
        ConvError::Zero { param: "channels" }
    );
    assert_eq!(
        t_err(ConvTranspose2dSpec {
            kernel: (3, 0),
            ..t_ok
        }),
        ConvError::Zero {
            param: "kernel width"
        }
    );
    assert!(matches!(
        t_err(ConvTranspose2dSpec {
            input: (1, 4),
            padding: (3, 1),
            ..t_ok
        }),
        ConvError::EmptyOutput { axis: "height", .. }
    ));
    assert_eq!(
        t_err(ConvTranspose2dSpec {
            input: (usize::MAX, 4),
            ..t_ok
        }),
        ConvError::TooLarge
    );
    // Messages are readable.
    assert_eq!(
        t_err(ConvTranspose2dSpec {
            output_padding: (1, 3),
            ..t_ok
        })
        .to_string(),
        "output_padding 3 along width must be smaller than the stride 2"
    );

    // Parameters of the wrong shape.
    let e = Conv2d::new(ok, Array4::<f64>::zeros((3, 2, 3, 2)), Array1::zeros(3)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "weights: expected shape [3, 2, 3, 3], got [3, 2, 3, 2]"
    );
    let e = ConvTranspose2d::new(t_ok, Array4::<f64>::zeros((3, 2, 3, 3)), Array1::zeros(3))
        .unwrap_err();
    assert!(matches!(e, ConvError::Shape { what: "bias", .. }));

    // Batches, gradients and buffers of the wrong shape.
    let conv = Conv2d::<f64>::init(ok, &mut rng).unwrap();
    let mut ws = ConvWorkspace::default();
    let x = Array2::zeros((2, conv.in_dim()));
    let g = Array2::zeros((2, conv.out_dim()));
    let shape_err = |r: Result<(), ConvError>| match r {
        Err(ConvError::Shape { what, .. }) => what,
        other => panic!("expected a shape error, got {other:?}"),
    };
    assert_eq!(
        shape_err(
            conv.forward(Array2::zeros((2, 49)).view(), &mut ws)
                .map(drop)
        ),
        "input batch"
    );
    let mut y = Array2::zeros((3, conv.out_dim()));
    assert_eq!(
        shape_err(conv.forward_into(x.view(), y.view_mut(), &mut ws)),
        "output batch"
    );
    let mut grad = conv.zero_grad();
    assert_eq!(
        shape_err(conv.backward(
            x.view(),
            g.slice(ndarray::s![..1, ..]),
            &mut grad,
            None,
            &mut ws
        )),
        "output gradient"
    );
    let mut dx = Array2::zeros((2, 49));
    assert_eq!(
        shape_err(conv.backward(x.view(), g.view(), &mut grad, Some(dx.view_mut()), &mut ws)),
        "input gradient"
    );
    let mut bad_grad = ConvGrad {
        w: Array4::zeros((3, 2, 3, 3)),
        b: Array1::zeros(2),
    };
    assert_eq!(
        shape_err(conv.backward(x.view(), g.view(), &mut bad_grad, None, &mut ws)),
        "bias gradient"
    );
    bad_grad.w = Array4::zeros((3, 2, 1, 3));
    assert_eq!(
        shape_err(conv.backward(x.view(), g.view(), &mut bad_grad, None, &mut ws)),
        "weight gradient"
    );

    // Public parameters replaced after construction are re-checked.
    let mut broken = conv.clone();
    broken.b = Array1::zeros(4);
    assert_eq!(
        shape_err(broken.forward(x.view(), &mut ws).map(drop)),
        "bias"
    );
    broken.w = Array4::zeros((3, 2, 3, 1));
    assert_eq!(
        shape_err(broken.backward(x.view(), g.view(), &mut grad, None, &mut ws)),
        "weights"
    );
    // Same shape, non-standard layout: reported, not silently misread.
    let mut permuted = conv.clone();
    permuted.w = Array4::zeros((2, 3, 3, 3)).permuted_axes([1, 0, 2, 3]);
    assert_eq!(
        permuted.forward(x.view(), &mut ws).unwrap_err(),
        ConvError::Layout { what: "weights" }
    );
    let mut permuted_grad = ConvGrad {
        w: Array4::zeros((2, 3, 3, 3)).permuted_axes([1, 0, 2, 3]),
        b: Array1::zeros(3),
    };
    assert_eq!(
        conv.backward(x.view(), g.view(), &mut permuted_grad, None, &mut ws)
            .unwrap_err(),
        ConvError::Layout {
            what: "weight gradient"
        }
    );
}
