//! Encoder and decoder networks: a chain of [`Dense`], [`Conv2d`] and
//! [`ConvTranspose2d`] layers, each followed by its activation (identity on
//! the last layer), plus the preallocated buffers that make a training step
//! allocation-free.
//!
//! Every layer maps a batch of rows (`batch x in_dim`) to a batch of rows
//! (`batch x out_dim`); convolution layers read and write each row as a
//! row-major `C x H x W` image (see [`super::conv`]), so going from a
//! convolution to a dense layer (flatten) or back (reshape) costs nothing.
//! A multilayer perceptron ([`Network::mlp`]) is the all-dense special case;
//! [`super::cnn`] builds the convolutional encoder and decoder.
//!
//! Shape problems (an input of the wrong width, gradients of another
//! network, a broken layer chain) are reported as [`NetError`], never as a
//! panic.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, NdFloat};
use rand::Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::activation::{self, Activation};
use super::conv::{Conv2d, ConvError, ConvGrad, ConvTranspose2d, ConvWorkspace};
use super::coord::CoordDense;
use super::dense::{Dense, DenseGrad};

/// Errors of a network's forward or backward pass.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NetError {
    /// The network has no layers.
    #[error("the network has no layers")]
    Empty,
    /// A layer got a batch of the wrong width.
    #[error("layer {layer}: input rows have {got} values, the layer expects {expected}")]
    Width {
        /// Layer index (input first).
        layer: usize,
        /// Width the layer expects.
        expected: usize,
        /// Width passed.
        got: usize,
    },
    /// The output gradient has the wrong shape.
    #[error("output gradient is {got:?}, expected {expected:?}")]
    OutputGradient {
        /// `(batch, out_dim)`.
        expected: (usize, usize),
        /// Shape passed.
        got: (usize, usize),
    },
    /// The gradients were made for another network.
    #[error("the gradients do not match the network (layer {layer})")]
    Grads {
        /// First mismatching layer.
        layer: usize,
    },
    /// A convolution layer rejected its arrays.
    #[error("layer {layer}: {error}")]
    Conv {
        /// Layer index.
        layer: usize,
        /// The convolution's error (part of this message).
        error: ConvError,
    },
}

/// One layer of a [`Network`] with its activation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "T: NdFloat + Serialize",
    deserialize = "T: NdFloat + serde::de::DeserializeOwned"
))]
pub enum Layer<T> {
    /// Fully connected (carries its own activation).
    Dense(Dense<T>),
    /// 2-D convolution followed by `act`.
    Conv2d {
        /// The convolution.
        conv: Conv2d<T>,
        /// Applied after it.
        act: Activation,
    },
    /// Transposed 2-D convolution followed by `act`.
    ConvTranspose2d {
        /// The transposed convolution.
        conv: ConvTranspose2d<T>,
        /// Applied after it.
        act: Activation,
    },
    /// Coordinate layer of a coordinate decoder (carries its own
    /// activation; exported as a dense layer).
    Coord(CoordDense<T>),
}

/// Gradients of one [`Layer`] (same shapes as its parameters).
#[derive(Debug, Clone, PartialEq)]
pub enum LayerGrad<T> {
    /// Of a dense layer.
    Dense(DenseGrad<T>),
    /// Of a convolution or transposed convolution.
    Conv(ConvGrad<T>),
}

impl<T: NdFloat> LayerGrad<T> {
    /// Weights then biases as flat slices.
    fn tensors(&self) -> [&[T]; 2] {
        let (w, b) = match self {
            LayerGrad::Dense(g) => (g.w.as_slice(), g.b.as_slice()),
            LayerGrad::Conv(g) => (g.w.as_slice(), g.b.as_slice()),
        };
        [w.unwrap_or(&[]), b.unwrap_or(&[])]
    }
}

impl<T: NdFloat> Layer<T> {
    /// Input row width.
    pub fn in_dim(&self) -> usize {
        match self {
            Layer::Dense(d) => d.in_dim(),
            Layer::Coord(c) => c.in_dim(),
            Layer::Conv2d { conv, .. } => conv.in_dim(),
            Layer::ConvTranspose2d { conv, .. } => conv.in_dim(),
        }
    }

    /// Output row width.
    pub fn out_dim(&self) -> usize {
        match self {
            Layer::Dense(d) => d.out_dim(),
            Layer::Coord(c) => c.out_dim(),
            Layer::Conv2d { conv, .. } => conv.out_dim(),
            Layer::ConvTranspose2d { conv, .. } => conv.out_dim(),
        }
    }

    /// The activation after the layer.
    pub fn activation(&self) -> Activation {
        match self {
            Layer::Dense(d) => d.act,
            Layer::Coord(c) => c.act,
            Layer::Conv2d { act, .. } | Layer::ConvTranspose2d { act, .. } => *act,
        }
    }

    /// Sets the activation after the layer.
    pub fn set_activation(&mut self, a: Activation) {
        match self {
            Layer::Dense(d) => d.act = a,
            Layer::Coord(c) => c.act = a,
            Layer::Conv2d { act, .. } | Layer::ConvTranspose2d { act, .. } => *act = a,
        }
    }

    /// Number of trainable values.
    pub fn param_count(&self) -> usize {
        match self {
            Layer::Dense(d) => d.param_count(),
            Layer::Coord(c) => c.param_count(),
            Layer::Conv2d { conv, .. } => conv.param_count(),
            Layer::ConvTranspose2d { conv, .. } => conv.param_count(),
        }
    }

    /// Zero gradients shaped like this layer.
    pub fn zero_grad(&self) -> LayerGrad<T> {
        match self {
            Layer::Dense(d) => LayerGrad::Dense(d.zero_grad()),
            Layer::Coord(c) => LayerGrad::Dense(c.zero_grad()),
            Layer::Conv2d { conv, .. } => LayerGrad::Conv(conv.zero_grad()),
            Layer::ConvTranspose2d { conv, .. } => LayerGrad::Conv(conv.zero_grad()),
        }
    }

    /// Weights then biases as flat slices.
    pub fn tensors(&self) -> [&[T]; 2] {
        let (w, b) = match self {
            Layer::Dense(d) => (d.w.as_slice(), d.b.as_slice()),
            Layer::Coord(c) => (c.w.as_slice(), c.b.as_slice()),
            Layer::Conv2d { conv, .. } => (conv.w.as_slice(), conv.b.as_slice()),
            Layer::ConvTranspose2d { conv, .. } => (conv.w.as_slice(), conv.b.as_slice()),
        };
        [w.unwrap_or(&[]), b.unwrap_or(&[])]
    }

    /// Weights then biases as flat mutable slices.
    pub fn tensors_mut(&mut self) -> [&mut [T]; 2] {
        let (w, b) = match self {
            Layer::Dense(d) => (d.w.as_slice_mut(), d.b.as_slice_mut()),
            Layer::Coord(c) => (c.w.as_slice_mut(), c.b.as_slice_mut()),
            Layer::Conv2d { conv, .. } => (conv.w.as_slice_mut(), conv.b.as_slice_mut()),
            Layer::ConvTranspose2d { conv, .. } => (conv.w.as_slice_mut(), conv.b.as_slice_mut()),
        };
        [w.unwrap_or(&mut []), b.unwrap_or(&mut [])]
    }

    /// The same layer in another float type.
    pub fn cast<U: NdFloat>(&self) -> Layer<U> {
        let c = |v: &T| U::from(*v).unwrap_or_else(U::zero);
        match self {
            Layer::Dense(d) => Layer::Dense(Dense {
                w: d.w.map(c),
                b: d.b.map(c),
                act: d.act,
            }),
            Layer::Coord(l) => Layer::Coord(CoordDense {
                w: l.w.map(c),
                b: l.b.map(c),
                grid: l.grid,
                act: l.act,
            }),
            Layer::Conv2d { conv, act } => Layer::Conv2d {
                conv: conv.cast(),
                act: *act,
            },
            Layer::ConvTranspose2d { conv, act } => Layer::ConvTranspose2d {
                conv: conv.cast(),
                act: *act,
            },
        }
    }

    /// Whether `other` has the same kind, geometry and parameter shapes.
    pub fn same_shape(&self, other: &Layer<T>) -> bool {
        match (self, other) {
            (Layer::Dense(a), Layer::Dense(b)) => a.w.dim() == b.w.dim() && a.b.dim() == b.b.dim(),
            (Layer::Coord(a), Layer::Coord(b)) => {
                a.w.dim() == b.w.dim() && a.b.dim() == b.b.dim() && a.grid == b.grid
            }
            (Layer::Conv2d { conv: a, .. }, Layer::Conv2d { conv: b, .. }) => a.spec() == b.spec(),
            (Layer::ConvTranspose2d { conv: a, .. }, Layer::ConvTranspose2d { conv: b, .. }) => {
                a.spec() == b.spec()
            }
            _ => false,
        }
    }

    /// `z = layer(x)` (pre-activation) and `a = act(z)`, into `batch x out`
    /// buffers.
    fn forward_into(
        &self,
        x: ArrayView2<T>,
        mut z: ArrayViewMut2<T>,
        a: ArrayViewMut2<T>,
        ws: &mut ConvWorkspace<T>,
    ) -> Result<(), ConvError> {
        match self {
            Layer::Dense(d) => {
                d.forward_into(x, z, a);
                return Ok(());
            }
            Layer::Coord(c) => {
                c.forward_into(x, z, a);
                return Ok(());
            }
            Layer::Conv2d { conv, .. } => conv.forward_into(x, z.view_mut(), ws)?,
            Layer::ConvTranspose2d { conv, .. } => conv.forward_into(x, z.view_mut(), ws)?,
        }
        activation::forward(self.activation(), z.view(), a);
        Ok(())
    }

    /// On entry `g` holds dL/da; on return dL/dz. Writes the parameter
    /// gradients into `grad` and, if given, dL/dx into `dx`.
    fn backward(
        &self,
        x: ArrayView2<T>,
        z: ArrayView2<T>,
        mut g: ArrayViewMut2<T>,
        grad: &mut LayerGrad<T>,
        dx: Option<ArrayViewMut2<T>>,
        ws: &mut ConvWorkspace<T>,
    ) -> Result<(), NetError> {
        let mismatch = NetError::Grads { layer: 0 };
        match (self, grad) {
            (Layer::Dense(d), LayerGrad::Dense(gr))
                if gr.w.dim() == d.w.dim() && gr.b.len() == d.b.len() =>
            {
                d.backward(x, z, g, gr, dx);
                Ok(())
            }
            (Layer::Coord(c), LayerGrad::Dense(gr))
                if gr.w.dim() == c.w.dim() && gr.b.len() == c.b.len() =>
            {
                c.backward(x, z, g, gr, dx);
                Ok(())
            }
            (Layer::Conv2d { conv, act }, LayerGrad::Conv(gr)) => {
                activation::backward_in_place(*act, z, g.view_mut());
                conv.backward(x, g.view(), gr, dx, ws)
                    .map_err(|error| NetError::Conv { layer: 0, error })
            }
            (Layer::ConvTranspose2d { conv, act }, LayerGrad::Conv(gr)) => {
                activation::backward_in_place(*act, z, g.view_mut());
                conv.backward(x, g.view(), gr, dx, ws)
                    .map_err(|error| NetError::Conv { layer: 0, error })
            }
            _ => Err(mismatch),
        }
    }
}

/// Encoder or decoder network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "T: NdFloat + Serialize",
    deserialize = "T: NdFloat + serde::de::DeserializeOwned"
))]
pub struct Network<T> {
    /// Layers, input first; each layer's `in_dim` must equal the previous
    /// layer's `out_dim` (checked by every pass).
    pub layers: Vec<Layer<T>>,
}

/// Per-layer activations of one forward pass, reused across steps: after
/// the first step of a given batch size, forward and backward passes do not
/// allocate.
#[derive(Debug, Clone)]
pub struct Workspace<T> {
    /// Pre-activations, `batch x out_i`.
    z: Vec<Array2<T>>,
    /// Post-activations, `batch x out_i` (the last is the network output).
    a: Vec<Array2<T>>,
    /// dL/dz of each layer during backward.
    g: Vec<Array2<T>>,
    /// dL/d(input), `batch x in_0`.
    dx: Array2<T>,
    /// Column matrices of the convolution layers.
    conv: ConvWorkspace<T>,
}

impl<T> Workspace<T> {
    /// Pre-activations and post-activations (`batch x out_i`) of every
    /// layer after a [`Network::forward`] (empty before the first one).
    pub fn layer_values(&self) -> (&[Array2<T>], &[Array2<T>]) {
        (&self.z, &self.a)
    }
}

impl<T: NdFloat> Default for Workspace<T> {
    fn default() -> Self {
        Self {
            z: Vec::new(),
            a: Vec::new(),
            g: Vec::new(),
            dx: Array2::zeros((0, 0)),
            conv: ConvWorkspace::default(),
        }
    }
}

/// Gradients of every layer, shaped like the network.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads<T> {
    /// One entry per layer.
    pub layers: Vec<LayerGrad<T>>,
}

impl<T: NdFloat> Grads<T> {
    /// Every gradient tensor as a flat slice, in the order of
    /// [`Network::tensors_mut`].
    pub fn tensors(&self) -> impl Iterator<Item = &[T]> {
        self.layers.iter().flat_map(LayerGrad::tensors)
    }
}

impl<T: NdFloat> Network<T> {
    /// A network of the given layers (the chain of widths is checked).
    ///
    /// # Errors
    /// [`NetError::Empty`] or [`NetError::Width`] at the first layer whose
    /// input width differs from the previous layer's output width.
    pub fn new(layers: Vec<Layer<T>>) -> Result<Self, NetError> {
        let net = Self { layers };
        net.check_chain()?;
        Ok(net)
    }

    /// Multilayer perceptron of widths `dims[0] -> dims[1] -> … -> dims[n]`:
    /// `hidden` after every layer but the last, identity output. `dims` needs
    /// two or more entries.
    pub fn mlp<R: Rng + ?Sized>(dims: &[usize], hidden: Activation, rng: &mut R) -> Self {
        let n = dims.len().saturating_sub(1);
        let layers = (0..n)
            .map(|i| {
                let act = if i + 1 == n {
                    Activation::Identity
                } else {
                    hidden
                };
                Layer::Dense(Dense::init(dims[i], dims[i + 1], act, rng))
            })
            .collect();
        Self { layers }
    }

    /// `Err` unless the layers chain (each input width equals the previous
    /// output width) and there is at least one.
    pub fn check_chain(&self) -> Result<(), NetError> {
        if self.layers.is_empty() {
            return Err(NetError::Empty);
        }
        for (i, pair) in self.layers.windows(2).enumerate() {
            if pair[0].out_dim() != pair[1].in_dim() {
                return Err(NetError::Width {
                    layer: i + 1,
                    expected: pair[1].in_dim(),
                    got: pair[0].out_dim(),
                });
            }
        }
        Ok(())
    }

    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.layers.first().map_or(0, Layer::in_dim)
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.layers.last().map_or(0, Layer::out_dim)
    }

    /// Number of trainable values.
    pub fn param_count(&self) -> usize {
        self.layers.iter().map(Layer::param_count).sum()
    }

    /// Zero gradients shaped like the network.
    pub fn zero_grads(&self) -> Grads<T> {
        Grads {
            layers: self.layers.iter().map(Layer::zero_grad).collect(),
        }
    }

    /// Every parameter tensor as a flat slice (W then b per layer).
    pub fn tensors(&self) -> impl Iterator<Item = &[T]> {
        self.layers.iter().flat_map(Layer::tensors)
    }

    /// Every parameter tensor as a flat mutable slice (W then b per layer).
    pub fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
        self.layers.iter_mut().flat_map(Layer::tensors_mut)
    }

    /// Whether every parameter is finite.
    pub fn is_finite(&self) -> bool {
        self.tensors().flatten().all(|v| v.is_finite())
    }

    /// Whether `other` has the same layer kinds, geometry and shapes.
    pub fn same_shape(&self, other: &Network<T>) -> bool {
        self.layers.len() == other.layers.len()
            && self
                .layers
                .iter()
                .zip(&other.layers)
                .all(|(a, b)| a.same_shape(b))
    }

    fn ensure(&self, ws: &mut Workspace<T>, batch: usize) {
        let fits = ws.a.len() == self.layers.len()
            && ws.dx.dim() == (batch, self.in_dim())
            && ws
                .a
                .iter()
                .zip(&self.layers)
                .all(|(a, l)| a.dim() == (batch, l.out_dim()));
        if !fits {
            let shape = |l: &Layer<T>| Array2::zeros((batch, l.out_dim()));
            ws.z = self.layers.iter().map(shape).collect();
            ws.a = self.layers.iter().map(shape).collect();
            ws.g = self.layers.iter().map(shape).collect();
            ws.dx = Array2::zeros((batch, self.in_dim()));
        }
    }

    /// Forward pass of a `batch x in` matrix; the output (`batch x out`)
    /// lives in the workspace, which is (re)sized on first use.
    ///
    /// # Errors
    /// A broken layer chain or an input of the wrong width.
    pub fn forward<'w>(
        &self,
        x: ArrayView2<T>,
        ws: &'w mut Workspace<T>,
    ) -> Result<ArrayView2<'w, T>, NetError> {
        self.check_chain()?;
        if x.ncols() != self.in_dim() {
            return Err(NetError::Width {
                layer: 0,
                expected: self.in_dim(),
                got: x.ncols(),
            });
        }
        self.ensure(ws, x.nrows());
        for (i, layer) in self.layers.iter().enumerate() {
            let (before, rest) = ws.a.split_at_mut(i);
            let input = if i == 0 {
                x.view()
            } else {
                before[i - 1].view()
            };
            layer
                .forward_into(input, ws.z[i].view_mut(), rest[0].view_mut(), &mut ws.conv)
                .map_err(|error| NetError::Conv { layer: i, error })?;
        }
        ws.a.last().map(|a| a.view()).ok_or(NetError::Empty)
    }

    /// Backward pass after [`Network::forward`] on the same `x`: `dy` is
    /// dL/d(output). Fills `grads`; returns dL/dx if `want_dx`.
    ///
    /// # Errors
    /// Shapes that do not match the forward pass or the network.
    pub fn backward<'w>(
        &self,
        x: ArrayView2<T>,
        ws: &'w mut Workspace<T>,
        dy: ArrayView2<T>,
        grads: &mut Grads<T>,
        want_dx: bool,
    ) -> Result<Option<ArrayView2<'w, T>>, NetError> {
        let n = self.layers.len();
        if grads.layers.len() != n {
            return Err(NetError::Grads {
                layer: n.min(grads.layers.len()),
            });
        }
        let last = ws.g.last_mut().ok_or(NetError::Empty)?;
        if last.dim() != dy.dim() || ws.dx.dim() != x.dim() {
            return Err(NetError::OutputGradient {
                expected: last.dim(),
                got: dy.dim(),
            });
        }
        last.assign(&dy);
        for i in (0..n).rev() {
            let layer = &self.layers[i];
            let input = if i == 0 { x.view() } else { ws.a[i - 1].view() };
            let (lower, upper) = ws.g.split_at_mut(i);
            let dx = match i {
                0 if want_dx => Some(ws.dx.view_mut()),
                0 => None,
                _ => Some(lower[i - 1].view_mut()),
            };
            layer
                .backward(
                    input,
                    ws.z[i].view(),
                    upper[0].view_mut(),
                    &mut grads.layers[i],
                    dx,
                    &mut ws.conv,
                )
                .map_err(|e| match e {
                    NetError::Grads { .. } => NetError::Grads { layer: i },
                    NetError::Conv { error, .. } => NetError::Conv { layer: i, error },
                    e => e,
                })?;
        }
        Ok(want_dx.then(|| ws.dx.view()))
    }

    /// Forward pass of any number of rows (allocates; not for the hot loop).
    ///
    /// # Errors
    /// As [`Network::forward`].
    pub fn predict(&self, x: ArrayView2<T>) -> Result<Array2<T>, NetError> {
        const CHUNK: usize = 256;
        let mut out = Array2::zeros((x.nrows(), self.out_dim()));
        let mut ws = Workspace::default();
        for (xc, mut oc) in x
            .axis_chunks_iter(Axis(0), CHUNK)
            .zip(out.axis_chunks_iter_mut(Axis(0), CHUNK))
        {
            oc.assign(&self.forward(xc, &mut ws)?);
        }
        if x.nrows() == 0 {
            self.check_chain()?;
        }
        Ok(out)
    }

    /// The same network in another float type (e.g. f32 -> f64 for checks).
    pub fn cast<U: NdFloat>(&self) -> Network<U> {
        Network {
            layers: self.layers.iter().map(Layer::cast).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::activation::{parse, NAMES};
    use crate::nn::conv::{Conv2dSpec, ConvTranspose2dSpec};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Whole-network gradient (every parameter tensor and the input) against
    /// central differences of L = Σ G ∘ net(X), in f64.
    fn check_gradient(net: &Network<f64>, batch: usize, h: f64, rng: &mut StdRng, what: &str) {
        let x = Array2::from_shape_fn((batch, net.in_dim()), |_| rng.random_range(-1.0..1.0));
        let gout = Array2::from_shape_fn((batch, net.out_dim()), |_| rng.random_range(-1.0..1.0));
        let loss =
            |m: &Network<f64>, x: &Array2<f64>| (&m.predict(x.view()).unwrap() * &gout).sum();

        let mut ws = Workspace::default();
        let mut grads = net.zero_grads();
        net.forward(x.view(), &mut ws).unwrap();
        let dx = net
            .backward(x.view(), &mut ws, gout.view(), &mut grads, true)
            .unwrap()
            .unwrap()
            .to_owned();

        let check = |an: f64, fd: f64, at: String| {
            let rel = (an - fd).abs() / an.abs().max(fd.abs()).max(1e-4);
            assert!(rel < 1e-5, "{what} {at}: analytic {an} fd {fd}");
        };
        let flat: Vec<Vec<f64>> = grads.tensors().map(<[f64]>::to_vec).collect();
        assert_eq!(flat.len(), 2 * net.layers.len());
        for (t, g) in flat.iter().enumerate() {
            for j in (0..g.len()).step_by(3) {
                let (mut p, mut m) = (net.clone(), net.clone());
                p.tensors_mut().nth(t).unwrap()[j] += h;
                m.tensors_mut().nth(t).unwrap()[j] -= h;
                check(
                    g[j],
                    (loss(&p, &x) - loss(&m, &x)) / (2.0 * h),
                    format!("tensor {t}[{j}]"),
                );
            }
        }
        for j in (0..x.len()).step_by(5) {
            let idx = (j / x.ncols(), j % x.ncols());
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[idx] += h;
            xm[idx] -= h;
            check(
                dx[idx],
                (loss(net, &xp) - loss(net, &xm)) / (2.0 * h),
                format!("dX{idx:?}"),
            );
        }
    }

    #[test]
    fn mlp_backward_matches_finite_differences() {
        let mut rng = StdRng::seed_from_u64(3);
        for &n in NAMES {
            let act = parse(n).unwrap();
            let net = Network::<f64>::mlp(&[4, 6, 5, 3], act, &mut rng);
            check_gradient(&net, 5, 1e-6, &mut rng, n);
        }
    }

    /// conv -> conv -> dense -> dense -> convT -> convT: covers the
    /// conv -> dense (flatten) and dense -> convT (reshape) transitions.
    fn composite(act: Activation, rng: &mut StdRng) -> Network<f64> {
        let conv = |c, window, input, rng: &mut StdRng| {
            Conv2d::init(Conv2dSpec::square(c, window, input), rng).unwrap()
        };
        let conv_t = |c, window, op, input, rng: &mut StdRng| {
            ConvTranspose2d::init(ConvTranspose2dSpec::square(c, window, op, input), rng).unwrap()
        };
        let c1 = conv((2, 3), [3, 2, 1], (7, 6), rng);
        assert_eq!(c1.out_shape(), (3, 4, 3));
        let c2 = conv((3, 2), [2, 1, 0], (4, 3), rng);
        assert_eq!(c2.out_shape(), (2, 3, 2));
        let t1 = conv_t((2, 3), [2, 1, 0], (0, 0), (3, 2), rng);
        let t2 = conv_t((3, 2), [3, 2, 1], (0, 1), (4, 3), rng);
        assert_eq!(t2.out_shape(), (2, 7, 6));
        Network::new(vec![
            Layer::Conv2d { conv: c1, act },
            Layer::Conv2d { conv: c2, act },
            Layer::Dense(Dense::init(12, 4, act, rng)),
            Layer::Dense(Dense::init(4, 12, act, rng)),
            Layer::ConvTranspose2d { conv: t1, act },
            Layer::ConvTranspose2d {
                conv: t2,
                act: Activation::Identity,
            },
        ])
        .unwrap()
    }

    #[test]
    fn composite_conv_dense_backward_matches_finite_differences() {
        let mut rng = StdRng::seed_from_u64(11);
        for &n in NAMES {
            let net = composite(parse(n).unwrap(), &mut rng);
            // A larger step: the loss sums ~250 outputs, so h = 1e-6 leaves
            // ~1e-9 of rounding noise on gradients of ~1e-6.
            check_gradient(&net, 3, 1e-5, &mut rng, n);
        }
    }

    /// Coordinate layer -> 1 x 1 convolutions on a 2-D grid, as `--arch
    /// coord` builds it.
    #[test]
    fn coordinate_decoder_backward_matches_finite_differences() {
        let mut rng = StdRng::seed_from_u64(12);
        let spec = crate::nn::CoordSpec {
            grid: (3, 4),
            out_channels: 2,
            channels: vec![4, 3],
        };
        for &n in NAMES {
            let net = spec
                .decoder::<f64, _>(5, parse(n).unwrap(), &mut rng)
                .unwrap();
            assert_eq!((net.in_dim(), net.out_dim()), (5, 24));
            check_gradient(&net, 3, 1e-6, &mut rng, n);
        }
    }

    #[test]
    fn workspace_is_reused_and_serde_round_trips() {
        let mut rng = StdRng::seed_from_u64(2);
        let net = composite(Activation::Tanh, &mut rng).cast::<f32>();
        let x = Array2::from_shape_fn((4, net.in_dim()), |(i, j)| ((i * 7 + j) as f32).sin());
        let mut ws = Workspace::default();
        let mut grads = net.zero_grads();
        let y0 = net.forward(x.view(), &mut ws).unwrap().to_owned();
        let dy = y0.clone();
        net.backward(x.view(), &mut ws, dy.view(), &mut grads, true)
            .unwrap();
        let ptrs = |ws: &Workspace<f32>| {
            let mut p: Vec<*const f32> =
                ws.a.iter()
                    .chain(&ws.z)
                    .chain(&ws.g)
                    .map(|a| a.as_ptr())
                    .collect();
            p.push(ws.dx.as_ptr());
            (p, ws.conv.capacity())
        };
        let before = ptrs(&ws);
        for _ in 0..3 {
            net.forward(x.view(), &mut ws).unwrap();
            net.backward(x.view(), &mut ws, dy.view(), &mut grads, true)
                .unwrap();
        }
        assert_eq!(ptrs(&ws), before);

        let json = serde_json::to_string(&net).unwrap();
        let back: Network<f32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, net);
        let bytes = postcard::to_stdvec(&net).unwrap();
        let back: Network<f32> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.predict(x.view()).unwrap(), y0);
        assert!(net.same_shape(&back) && back.is_finite());
        // A layer whose biases do not match its weights is another shape.
        let mut odd = net.clone();
        if let Layer::Dense(d) = &mut odd.layers[2] {
            d.b = ndarray::Array1::zeros(d.b.len() + 1);
        }
        assert!(!net.same_shape(&odd));
    }

    #[test]
    fn shape_errors_are_errors() {
        let mut rng = StdRng::seed_from_u64(4);
        let net = composite(Activation::Relu, &mut rng);
        let mut ws = Workspace::default();
        let bad = Array2::<f64>::zeros((2, net.in_dim() + 1));
        assert!(matches!(
            net.forward(bad.view(), &mut ws),
            Err(NetError::Width { layer: 0, .. })
        ));
        let x = Array2::<f64>::zeros((2, net.in_dim()));
        net.forward(x.view(), &mut ws).unwrap();
        let other = Network::<f64>::mlp(&[3, 2], Activation::Relu, &mut rng);
        let mut grads = other.zero_grads();
        let dy = Array2::zeros((2, net.out_dim()));
        assert!(net
            .backward(x.view(), &mut ws, dy.view(), &mut grads, false)
            .is_err());
        let mut broken = net.clone();
        broken.layers.remove(2);
        assert!(matches!(
            broken.predict(x.view()),
            Err(NetError::Width { layer: 2, .. })
        ));
        assert_eq!(Network::<f64>::new(vec![]), Err(NetError::Empty));
    }

    #[test]
    fn output_layer_is_identity_and_predict_matches_forward() {
        let mut rng = StdRng::seed_from_u64(5);
        let net = Network::<f32>::mlp(&[3, 8, 2], Activation::Relu, &mut rng);
        assert_eq!(net.layers[0].activation(), Activation::Relu);
        assert_eq!(net.layers[1].activation(), Activation::Identity);
        let x = Array2::from_shape_fn((300, 3), |(i, j)| (i as f32 * 0.01) - j as f32);
        let mut ws = Workspace::default();
        let full = net.forward(x.view(), &mut ws).unwrap().to_owned();
        assert_eq!(full, net.predict(x.view()).unwrap());
        assert_eq!(net.param_count(), 3 * 8 + 8 + 8 * 2 + 2);
    }
}
