//! Neural-network building blocks, hand-written on ndarray and generic over
//! the float type (training runs in f32; gradient checks run in f64).

pub mod activation;
pub mod cnn;
pub mod conv;
pub mod coord;
pub mod dense;
pub mod from_file;
pub mod im2col;
pub mod loss;
pub mod network;

pub use activation::Activation;
pub use cnn::{CnnError, CnnSpec};
pub use coord::{CoordError, CoordSpec};
pub use dense::{Dense, DenseGrad};
pub use loss::relative_loss;
pub use network::{Grads, Layer, LayerGrad, NetError, Network, Workspace};
