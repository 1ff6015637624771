//! Coordinate layer: the first layer of a coordinate decoder (`trainer fit
//! --arch coord`). It evaluates one small dense layer at every pixel of an
//! output grid, on the latent code concatenated with the pixel's
//! coordinates:
//!
//! ```text
//! z[h, p] = Σ_l W[h, l] · x[l] + Σ_d W[h, L + d] · c[p, d] + b[h]
//! ```
//!
//! for `h` in `0..channels`, `p` over the `rows x cols` grid (flattened
//! row-major, channel-major rows `h · P + p`, i.e. a `channels x rows x cols`
//! feature map), `L` the latent width and `c[p]` the pixel's coordinates in
//! `[-1, 1]` (one coordinate, the column, for a single-row grid — a 1-D
//! signal — and `(row, col)` otherwise). The 1 x 1 convolutions after it
//! then act on every pixel with shared weights, so the decoder is one small
//! network of `(code, position)` evaluated everywhere: translating a feature
//! means changing where the network fires, which a decoder that blends its
//! training outputs cannot do between training codes (docs/TRAINING.md,
//! gaussian_shift).
//!
//! The layer has `channels x (L + D)` weights whatever the grid size; at
//! export it is expanded into the equivalent [`Dense`] layer
//! ([`CoordDense::to_dense`]: `channels · P x L` weights, the coordinate
//! term folded into the biases), which the file format and the runtime
//! already run.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis, NdFloat};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::activation::{self, Activation};
use super::cnn::{MAX_CHANNELS, MAX_LAYER_FLOATS};
use super::conv::{Conv2d, Conv2dSpec, ConvError};
use super::dense::{Dense, DenseGrad};
use super::network::{Layer, Network};
use thiserror::Error;

/// Spread of the initial coordinate weights (uniform, this standard
/// deviation): each unit's pre-activation then varies by a few units across
/// the grid, so units start out responding to different positions.
pub const COORD_INIT_STD: f64 = 4.0;

/// One coordinate layer (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoordDense<T> {
    /// `channels x (latent + dims)`: latent weights, then coordinate weights.
    pub w: Array2<T>,
    /// `channels` biases.
    pub b: Array1<T>,
    /// Output grid `(rows, cols)`.
    pub grid: (usize, usize),
    /// Applied after the affine map.
    pub act: Activation,
}

impl<T: NdFloat> CoordDense<T> {
    /// A layer from the latent width to `channels x rows x cols`: latent
    /// weights and biases like [`Dense::init`], coordinate weights uniform
    /// with standard deviation [`COORD_INIT_STD`].
    pub fn init<R: Rng + ?Sized>(
        latent: usize,
        channels: usize,
        grid: (usize, usize),
        act: Activation,
        rng: &mut R,
    ) -> Self {
        let dims = coord_dims(grid);
        let bound = 1.0 / (latent.max(1) as f64).sqrt();
        let coord_bound = COORD_INIT_STD * 3f64.sqrt();
        let mut draw = |b: f64| T::from(rng.random_range(-b..b)).unwrap_or_else(T::zero);
        let w = Array2::from_shape_fn((channels, latent + dims), |(_, j)| {
            draw(if j < latent { bound } else { coord_bound })
        });
        let b = Array1::from_shape_fn(channels, |_| draw(bound));
        Self { w, b, grid, act }
    }

    /// Output channels.
    pub fn channels(&self) -> usize {
        self.w.nrows()
    }

    /// Pixels of the grid.
    pub fn pixels(&self) -> usize {
        self.grid.0 * self.grid.1
    }

    /// Input width (the latent).
    pub fn in_dim(&self) -> usize {
        self.w.ncols().saturating_sub(coord_dims(self.grid))
    }

    /// Output width, `channels · rows · cols`.
    pub fn out_dim(&self) -> usize {
        self.channels() * self.pixels()
    }

    /// Number of trainable values.
    pub fn param_count(&self) -> usize {
        self.w.len() + self.b.len()
    }

    /// Zero gradients shaped like this layer.
    pub fn zero_grad(&self) -> DenseGrad<T> {
        DenseGrad::zeros_like(&self.w, &self.b)
    }

    /// The coordinate term plus bias, `pixels x channels`:
    /// `q[p, h] = Σ_d W[h, L + d] c[p, d] + b[h]`.
    fn position_term(&self) -> Array2<T> {
        let coords = coordinates::<T>(self.grid);
        let wc = self.w.slice(ndarray::s![.., self.in_dim()..]);
        let mut q = coords.dot(&wc.t());
        q += &self.b;
        q
    }

    /// Forward: pre-activations `z` and activations `a`, both
    /// `batch x out_dim`.
    pub fn forward_into(&self, x: ArrayView2<T>, mut z: ArrayViewMut2<T>, a: ArrayViewMut2<T>) {
        let latent = self.in_dim();
        let u = x.dot(&self.w.slice(ndarray::s![.., ..latent]).t());
        let q = self.position_term();
        let p = self.pixels();
        for (mut zr, ur) in z.rows_mut().into_iter().zip(u.rows()) {
            for (h, &uh) in ur.iter().enumerate() {
                let out = zr.slice_mut(ndarray::s![h * p..(h + 1) * p]);
                ndarray::Zip::from(out)
                    .and(q.column(h))
                    .for_each(|o, &qv| *o = uh + qv);
            }
        }
        activation::forward(self.act, z.view(), a);
    }

    /// Backward. On entry `g` holds dL/da; on return dL/dz. Writes dL/dW and
    /// dL/db into `grad` and, if given, dL/dx into `dx` (`batch x latent`).
    pub fn backward(
        &self,
        x: ArrayView2<T>,
        z: ArrayView2<T>,
        mut g: ArrayViewMut2<T>,
        grad: &mut DenseGrad<T>,
        dx: Option<ArrayViewMut2<T>>,
    ) {
        activation::backward_in_place(self.act, z, g.view_mut());
        let (batch, latent, p, ch) = (g.nrows(), self.in_dim(), self.pixels(), self.channels());
        // Summed over pixels (for the latent weights) and over the batch
        // (for the coordinate weights).
        let per_sample = Array2::from_shape_fn((batch, ch), |(b, h)| {
            g.slice(ndarray::s![b, h * p..(h + 1) * p]).sum()
        });
        let column_sums = g.sum_axis(Axis(0));
        let per_pixel = Array2::from_shape_fn((ch, p), |(h, j)| column_sums[h * p + j]);
        let coords = coordinates::<T>(self.grid);
        let mut gw_latent = grad.w.slice_mut(ndarray::s![.., ..latent]);
        general_mat_mul(T::one(), &per_sample.t(), &x, T::zero(), &mut gw_latent);
        let mut gw_coord = grad.w.slice_mut(ndarray::s![.., latent..]);
        general_mat_mul(T::one(), &per_pixel, &coords, T::zero(), &mut gw_coord);
        grad.b.assign(&per_sample.sum_axis(Axis(0)));
        if let Some(mut dx) = dx {
            let wl = self.w.slice(ndarray::s![.., ..latent]);
            general_mat_mul(T::one(), &per_sample, &wl, T::zero(), &mut dx);
        }
    }

    /// Replaces the latent weights `W_l` (`channels x L`) by `W_l U`
    /// (`channels x k`) for an `L x k` basis `U`, computed in f64: the layer
    /// then takes the `k` coefficients instead of the latent.
    pub fn fold_basis(&mut self, u: ArrayView2<f64>) {
        let latent = self.in_dim();
        let to_f64 = |v: &T| v.to_f64().unwrap_or(0.0);
        let wl = self.w.slice(ndarray::s![.., ..latent]).map(to_f64);
        let folded = wl.dot(&u);
        let (ch, k) = folded.dim();
        let w = Array2::from_shape_fn((ch, k + self.w.ncols() - latent), |(h, j)| {
            if j < k {
                T::from(folded[(h, j)]).unwrap_or_else(T::zero)
            } else {
                self.w[(h, latent + j - k)]
            }
        });
        self.w = w;
    }

    /// The equivalent dense layer, `channels · P x latent`, the coordinate
    /// term folded into its biases.
    pub fn to_dense(&self) -> Dense<T> {
        let (latent, p, ch) = (self.in_dim(), self.pixels(), self.channels());
        let wl = self.w.slice(ndarray::s![.., ..latent]);
        let q = self.position_term();
        Dense {
            w: Array2::from_shape_fn((ch * p, latent), |(r, l)| wl[(r / p, l)]),
            b: Array1::from_shape_fn(ch * p, |r| q[(r % p, r / p)]),
            act: self.act,
        }
    }
}

/// Errors of a coordinate decoder's geometry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoordError {
    /// The hidden channels list is empty or too long.
    #[error("a coordinate decoder needs 1 to {max} --channels entries (got {n})")]
    Depth {
        /// Entries given.
        n: usize,
        /// The limit (one layer of the file is the output convolution).
        max: usize,
    },
    /// A channel count or grid size is out of range.
    #[error("{what} {value} must be between 1 and {max}")]
    Range {
        /// Which value.
        what: &'static str,
        /// The value given.
        value: usize,
        /// Largest allowed.
        max: usize,
    },
    /// A layer would be too large.
    #[error("the coordinate decoder's {what} would need {floats} values (at most {MAX_LAYER_FLOATS}); use fewer --channels")]
    TooLarge {
        /// Which array.
        what: &'static str,
        /// Values needed (saturated).
        floats: usize,
    },
    /// A pointwise convolution rejected its geometry.
    #[error("coordinate decoder layer {layer}: {error}")]
    Conv {
        /// Decoder layer index.
        layer: usize,
        /// The convolution's error.
        error: ConvError,
    },
}

/// Architecture of a coordinate decoder: a [`CoordDense`] layer to
/// `channels[0]` feature maps over the output grid, then 1 x 1 convolutions
/// through the other `channels` to the `out_channels` of the data (identity
/// output), the hidden activation after every layer but the last.
///
/// # Example
/// ```
/// use rand::SeedableRng;
/// use rrae_trainer::nn::{Activation, CoordSpec, Layer};
///
/// // Signals of 50 samples, decoded from 4 latent values.
/// let spec = CoordSpec { grid: (1, 50), out_channels: 1, channels: vec![8, 8] };
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let dec = spec.decoder::<f32, _>(4, Activation::Tanh, &mut rng).unwrap();
/// assert_eq!((dec.in_dim(), dec.out_dim()), (4, 50));
/// assert!(matches!(dec.layers[0], Layer::Coord(_)));
/// // What the model file gets: a dense 4 -> 8 x 50 layer.
/// let Layer::Coord(first) = &dec.layers[0] else { unreachable!() };
/// assert_eq!(first.to_dense().w.dim(), (400, 4));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoordSpec {
    /// Output grid `(rows, cols)`: `(1, n)` for signals, `(H, W)` for images.
    pub grid: (usize, usize),
    /// Channels of the data (1 for signals, `C` for `C x H x W` images).
    pub out_channels: usize,
    /// Hidden channels per pixel, first layer first.
    pub channels: Vec<usize>,
}

impl CoordSpec {
    /// Checks the spec for a latent width `latent` (the exported dense
    /// layer has `channels[0] · pixels x latent` weights).
    ///
    /// # Errors
    /// A [`CoordError`] naming the first problem.
    pub fn validate(&self, latent: usize) -> Result<(), CoordError> {
        let max = rrae_format::meta::MAX_LAYERS - 1;
        let n = self.channels.len();
        if n == 0 || n > max {
            return Err(CoordError::Depth { n, max });
        }
        let range = |what, value, max| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(CoordError::Range { what, value, max })
            }
        };
        range("output channels", self.out_channels, MAX_CHANNELS)?;
        range("grid rows", self.grid.0, 1 << 16)?;
        range("grid columns", self.grid.1, 1 << 16)?;
        for &c in &self.channels {
            range("a --channels entry", c, MAX_CHANNELS)?;
        }
        let pixels = self.grid.0 * self.grid.1;
        let widest = self.channels.iter().chain([&self.out_channels]).max();
        let sizes = [
            (
                "feature maps",
                widest.map_or(0, |&c| c.saturating_mul(pixels)),
            ),
            (
                "exported dense layer",
                self.channels[0]
                    .saturating_mul(pixels)
                    .saturating_mul(latent.max(1)),
            ),
        ];
        for (what, floats) in sizes {
            if floats > MAX_LAYER_FLOATS {
                return Err(CoordError::TooLarge { what, floats });
            }
        }
        Ok(())
    }

    /// The decoder `latent -> out_channels x rows x cols`.
    ///
    /// # Errors
    /// As [`CoordSpec::validate`].
    pub fn decoder<T: NdFloat, R: Rng + ?Sized>(
        &self,
        latent: usize,
        hidden: Activation,
        rng: &mut R,
    ) -> Result<Network<T>, CoordError> {
        self.validate(latent)?;
        let first = CoordDense::init(latent, self.channels[0], self.grid, hidden, rng);
        let mut layers = vec![Layer::Coord(first)];
        let outs = self.channels[1..].iter().chain([&self.out_channels]);
        for (i, (&ci, &co)) in self.channels.iter().zip(outs).enumerate() {
            let spec = Conv2dSpec::square((ci, co), [1, 1, 0], self.grid);
            let conv = Conv2d::init(spec, rng).map_err(|error| CoordError::Conv {
                layer: i + 1,
                error,
            })?;
            let act = if i + 1 == self.channels.len() {
                Activation::Identity
            } else {
                hidden
            };
            layers.push(Layer::Conv2d { conv, act });
        }
        Ok(Network { layers })
    }
}

/// Coordinates per pixel: 1 for a single-row grid, 2 otherwise.
pub fn coord_dims(grid: (usize, usize)) -> usize {
    if grid.0 == 1 {
        1
    } else {
        2
    }
}

/// `i` of `0..n` mapped to `[-1, 1]` (0 for `n == 1`).
fn unit<T: NdFloat>(i: usize, n: usize) -> T {
    if n <= 1 {
        return T::zero();
    }
    let v = 2.0 * i as f64 / (n - 1) as f64 - 1.0;
    T::from(v).unwrap_or_else(T::zero)
}

/// `pixels x dims` coordinates of a `rows x cols` grid, row-major pixels:
/// `(col)` for one row, `(row, col)` otherwise.
pub fn coordinates<T: NdFloat>(grid: (usize, usize)) -> Array2<T> {
    let (rows, cols) = grid;
    let dims = coord_dims(grid);
    Array2::from_shape_fn((rows * cols, dims), |(p, d)| {
        let (r, c) = (p / cols.max(1), p % cols.max(1));
        match (dims, d) {
            (2, 0) => unit(r, rows),
            _ => unit(c, cols),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::activation::{parse, NAMES};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn run(l: &CoordDense<f64>, x: &Array2<f64>) -> (Array2<f64>, Array2<f64>) {
        let mut z = Array2::zeros((x.nrows(), l.out_dim()));
        let mut a = Array2::zeros((x.nrows(), l.out_dim()));
        l.forward_into(x.view(), z.view_mut(), a.view_mut());
        (z, a)
    }

    /// L = Σ G ∘ layer(X): every weight, bias and input against central
    /// differences (f64), on a 1-D and a 2-D grid.
    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = StdRng::seed_from_u64(9);
        for grid in [(1, 7), (3, 4)] {
            for &n in NAMES {
                let layer = CoordDense::<f64>::init(3, 4, grid, parse(n).unwrap(), &mut rng);
                let x = Array2::from_shape_fn((5, 3), |_| rng.random_range(-1.0..1.0));
                let gout =
                    Array2::from_shape_fn((5, layer.out_dim()), |_| rng.random_range(-1.0..1.0));
                let loss = |l: &CoordDense<f64>, x: &Array2<f64>| (&run(l, x).1 * &gout).sum();
                let (z, _) = run(&layer, &x);
                let mut g = gout.clone();
                let mut grad = layer.zero_grad();
                let mut dx = Array2::zeros(x.raw_dim());
                layer.backward(
                    x.view(),
                    z.view(),
                    g.view_mut(),
                    &mut grad,
                    Some(dx.view_mut()),
                );
                let h = 1e-6;
                let check = |an: f64, fd: f64, what: String| {
                    let rel = (an - fd).abs() / an.abs().max(fd.abs()).max(1e-4);
                    assert!(rel < 1e-5, "{n} {grid:?} {what}: analytic {an} fd {fd}");
                };
                for idx in ndarray::indices(layer.w.dim()) {
                    let (mut p, mut m) = (layer.clone(), layer.clone());
                    p.w[idx] += h;
                    m.w[idx] -= h;
                    let fd = (loss(&p, &x) - loss(&m, &x)) / (2.0 * h);
                    check(grad.w[idx], fd, format!("dW{idx:?}"));
                }
                for i in 0..layer.b.len() {
                    let (mut p, mut m) = (layer.clone(), layer.clone());
                    p.b[i] += h;
                    m.b[i] -= h;
                    let fd = (loss(&p, &x) - loss(&m, &x)) / (2.0 * h);
                    check(grad.b[i], fd, format!("db[{i}]"));
                }
                for idx in ndarray::indices(x.dim()) {
                    let (mut xp, mut xm) = (x.clone(), x.clone());
                    xp[idx] += h;
                    xm[idx] -= h;
                    let fd = (loss(&layer, &xp) - loss(&layer, &xm)) / (2.0 * h);
                    check(dx[idx], fd, format!("dX{idx:?}"));
                }
            }
        }
    }

    #[test]
    fn expands_into_the_same_dense_layer() {
        let mut rng = StdRng::seed_from_u64(1);
        for grid in [(1, 9), (4, 3), (1, 1)] {
            let layer = CoordDense::<f64>::init(5, 3, grid, Activation::Tanh, &mut rng);
            let x = Array2::from_shape_fn((4, 5), |_| rng.random_range(-2.0..2.0));
            let dense = layer.to_dense();
            assert_eq!((dense.in_dim(), dense.out_dim()), (5, layer.out_dim()));
            let mut z = Array2::zeros((4, dense.out_dim()));
            let mut a = Array2::zeros((4, dense.out_dim()));
            dense.forward_into(x.view(), z.view_mut(), a.view_mut());
            let got = run(&layer, &x).1;
            assert!((&got - &a).iter().all(|d| d.abs() < 1e-12), "{grid:?}");
        }
    }

    #[test]
    fn coordinates_span_the_grid() {
        let c = coordinates::<f64>((1, 5));
        assert_eq!(c.column(0).to_vec(), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        let c = coordinates::<f64>((3, 2));
        assert_eq!(c.dim(), (6, 2));
        assert_eq!(c.row(0).to_vec(), vec![-1.0, -1.0]);
        assert_eq!(c.row(3).to_vec(), vec![0.0, 1.0]);
        assert_eq!(c.row(5).to_vec(), vec![1.0, 1.0]);
        assert_eq!(coordinates::<f64>((1, 1)).row(0).to_vec(), vec![0.0]);
    }
}
