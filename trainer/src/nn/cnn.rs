//! Convolutional encoder and decoder of a CNN RRAE (`trainer fit --arch
//! cnn`), from a [`CnnSpec`].
//!
//! ```text
//! encoder: C x H x W ─Conv2d(c₁)─► c₁ x h₁ x w₁ ─ … ─Conv2d(cₙ)─► cₙ x hₙ x wₙ ─Dense─► L
//! decoder: L ─Dense─► cₙ x hₙ x wₙ ─ConvT(cₙ₋₁)─► … ─ConvT(c₁)─► c₁ x h₁ x w₁ ─ConvT(C)─► C x H x W
//! ```
//!
//! Every convolution has the same square kernel, stride and padding; the
//! hidden activation follows every layer but the encoder's dense layer (the
//! latent, which the rank layer and the basis folding need affine) and the
//! decoder's last transposed convolution (identity output). The transposed
//! convolutions mirror the encoder: each gets the `output_padding` that makes
//! it land exactly on the spatial size its mirror convolution started from,
//! so the decoder reproduces `H x W` for any input size the encoder accepts.
//! The layers next to the latent are dense, so the global basis folds into
//! them at export exactly as for an MLP.

use ndarray::NdFloat;
use rand::Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::activation::Activation;
use super::conv::{Conv2d, Conv2dSpec, ConvError, ConvTranspose2d, ConvTranspose2dSpec};
use super::dense::Dense;
use super::im2col::ConvWindow;
use super::network::{Layer, Network};

/// Largest number of channels of one convolution.
pub const MAX_CHANNELS: usize = 4096;
/// Largest number of values in one layer's weights (2^28 floats = 1 GiB).
pub const MAX_LAYER_FLOATS: usize = 1 << 28;

/// Errors of the CNN geometry; each message names the layer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CnnError {
    /// No convolution channels were given.
    #[error("a CNN needs at least one convolution (--channels is empty)")]
    NoChannels,
    /// Too many convolutions for the file format.
    #[error(
        "{n} convolutions is too many: at most {max} (the model file holds {} layers per network)",
        rrae_format::meta::MAX_LAYERS
    )]
    TooManyLayers {
        /// Convolutions requested.
        n: usize,
        /// The limit.
        max: usize,
    },
    /// A size is zero or too large.
    #[error("{what} {value} must be between {min} and {max}")]
    Range {
        /// Which value.
        what: &'static str,
        /// The value given.
        value: usize,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
    /// A convolution's geometry is invalid (e.g. the image became too small).
    #[error("{layer}: {error}")]
    Conv {
        /// Which layer, with its input shape.
        layer: String,
        /// The convolution's error (part of this message, not a separate
        /// source, so the error chain prints it once).
        error: ConvError,
    },
    /// A transposed convolution cannot land on its target size.
    #[error(
        "decoder layer {layer}: a transposed convolution (kernel {kernel}, stride {stride}, \
         padding {padding}) cannot turn size {from} into {to} (needs output_padding in 0..{stride})"
    )]
    Mirror {
        /// Decoder layer index.
        layer: usize,
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding.
        padding: usize,
        /// Input size along the axis.
        from: usize,
        /// Required output size.
        to: usize,
    },
    /// A convolution's weights, column matrix or output would be too large.
    #[error("{layer} would need {floats} values for its {what} (at most {MAX_LAYER_FLOATS}); use fewer channels, a smaller kernel or a larger stride")]
    ConvTooLarge {
        /// Which layer.
        layer: String,
        /// `"weights"`, `"column matrix"` or `"output"`.
        what: &'static str,
        /// Values needed (saturated).
        floats: usize,
    },
    /// The dense layer next to the latent would be too large.
    #[error("the dense layer {flat} x {latent} would exceed {MAX_LAYER_FLOATS} weights; use fewer channels, a larger stride or a smaller --latent")]
    DenseTooLarge {
        /// Flattened feature-map size.
        flat: usize,
        /// Latent width.
        latent: usize,
    },
}

/// Architecture of a convolutional encoder/decoder pair (see the module
/// docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CnnSpec {
    /// Input image shape `(C, H, W)`; rows are row-major `C x H x W`.
    pub image: (usize, usize, usize),
    /// Output channels of the encoder's convolutions, input side first (the
    /// decoder mirrors them).
    pub channels: Vec<usize>,
    /// Square kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
}

/// The resolved geometry of a [`CnnSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnnPlan {
    /// Feature-map shape `(C, H, W)` before each convolution and after the
    /// last one (`channels.len() + 1` entries, the input first).
    pub shapes: Vec<(usize, usize, usize)>,
    /// `output_padding` of each transposed convolution, in decoder order.
    pub output_padding: Vec<(usize, usize)>,
}

impl CnnPlan {
    /// Length of the flattened last feature map (the dense layers' width).
    pub fn flat(&self) -> usize {
        self.shapes
            .last()
            .map_or(0, |&(c, h, w)| c.saturating_mul(h).saturating_mul(w))
    }
}

/// `output_padding` that makes a transposed convolution go from `from` to
/// `to` along one axis, if one in `0..stride` exists.
fn output_padding(from: usize, to: usize, k: usize, s: usize, p: usize) -> Option<usize> {
    let base = (from.checked_sub(1)?.checked_mul(s)?.checked_add(k)?).checked_sub(2 * p)?;
    to.checked_sub(base).filter(|&op| op < s)
}

impl CnnSpec {
    fn range(what: &'static str, value: usize, min: usize, max: usize) -> Result<(), CnnError> {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(CnnError::Range {
                what,
                value,
                min,
                max,
            })
        }
    }

    /// Validates the spec for a latent width and computes every layer's
    /// shape and output padding.
    ///
    /// # Errors
    /// A [`CnnError`] naming the first problem.
    pub fn plan(&self, latent: usize) -> Result<CnnPlan, CnnError> {
        let (c, h, w) = self.image;
        const MAX_SIDE: usize = 1 << 16;
        Self::range("image channels", c, 1, MAX_CHANNELS)?;
        Self::range("image height", h, 1, MAX_SIDE)?;
        Self::range("image width", w, 1, MAX_SIDE)?;
        Self::range("kernel", self.kernel, 1, 64)?;
        Self::range("stride", self.stride, 1, 64)?;
        Self::range("padding", self.padding, 0, 64)?;
        if self.channels.is_empty() {
            return Err(CnnError::NoChannels);
        }
        // Each network: the convolutions plus one dense layer.
        let max = rrae_format::meta::MAX_LAYERS - 1;
        if self.channels.len() > max {
            return Err(CnnError::TooManyLayers {
                n: self.channels.len(),
                max,
            });
        }
        let mut shapes = vec![self.image];
        for (i, &out) in self.channels.iter().enumerate() {
            Self::range("a --channels entry", out, 1, MAX_CHANNELS)?;
            let (ci, hi, wi) = shapes[i];
            let (k, s, p) = (self.kernel, self.stride, self.padding);
            let win = ConvWindow::new(ci, (hi, wi), (k, k), (s, s), (p, p)).map_err(|error| {
                CnnError::Conv {
                    layer: format!("encoder convolution {} on {ci} x {hi} x {wi}", i + 1),
                    error,
                }
            })?;
            let (ho, wo) = win.output();
            let (rows, cols) = win.col_shape();
            let sizes = [
                ("weights", [out, ci, k, k]),
                ("column matrix", [rows, cols, 1, 1]),
                ("output", [out, ho, wo, 1]),
            ];
            for (what, dims) in sizes {
                let floats = dims.iter().fold(1usize, |a, &d| a.saturating_mul(d));
                if floats > MAX_LAYER_FLOATS {
                    return Err(CnnError::ConvTooLarge {
                        layer: format!("encoder convolution {}", i + 1),
                        what,
                        floats,
                    });
                }
            }
            shapes.push((out, ho, wo));
        }
        let mut pads = Vec::with_capacity(self.channels.len());
        for (layer, pair) in shapes.windows(2).rev().enumerate() {
            let ((_, th, tw), (_, fh, fw)) = (pair[0], pair[1]);
            let (k, s, p) = (self.kernel, self.stride, self.padding);
            let op = |from, to| {
                output_padding(from, to, k, s, p).ok_or(CnnError::Mirror {
                    layer: layer + 1,
                    kernel: k,
                    stride: s,
                    padding: p,
                    from,
                    to,
                })
            };
            pads.push((op(fh, th)?, op(fw, tw)?));
        }
        let plan = CnnPlan {
            shapes,
            output_padding: pads,
        };
        let flat = plan.flat();
        if latent == 0
            || flat
                .checked_mul(latent)
                .is_none_or(|n| n > MAX_LAYER_FLOATS)
        {
            return Err(CnnError::DenseTooLarge { flat, latent });
        }
        Ok(plan)
    }

    /// Encoder `C x H x W -> latent` with `hidden` after every convolution
    /// and an identity dense layer to the latent.
    ///
    /// # Errors
    /// As [`CnnSpec::plan`].
    pub fn encoder<T: NdFloat, R: Rng + ?Sized>(
        &self,
        latent: usize,
        hidden: Activation,
        rng: &mut R,
    ) -> Result<Network<T>, CnnError> {
        let plan = self.plan(latent)?;
        let window = [self.kernel, self.stride, self.padding];
        let mut layers = Vec::with_capacity(self.channels.len() + 1);
        for (i, pair) in plan.shapes.windows(2).enumerate() {
            let ((ci, hi, wi), (co, _, _)) = (pair[0], pair[1]);
            let spec = Conv2dSpec::square((ci, co), window, (hi, wi));
            let conv = Conv2d::init(spec, rng).map_err(|error| CnnError::Conv {
                layer: format!("encoder convolution {}", i + 1),
                error,
            })?;
            layers.push(Layer::Conv2d { conv, act: hidden });
        }
        layers.push(Layer::Dense(Dense::init(
            plan.flat(),
            latent,
            Activation::Identity,
            rng,
        )));
        Ok(Network { layers })
    }

    /// Decoder `latent -> C x H x W`: a dense layer to the last feature map,
    /// then the transposed convolutions mirroring the encoder, `hidden`
    /// after every layer but the last (identity).
    ///
    /// # Errors
    /// As [`CnnSpec::plan`].
    pub fn decoder<T: NdFloat, R: Rng + ?Sized>(
        &self,
        latent: usize,
        hidden: Activation,
        rng: &mut R,
    ) -> Result<Network<T>, CnnError> {
        let plan = self.plan(latent)?;
        let window = [self.kernel, self.stride, self.padding];
        let mut layers = vec![Layer::Dense(Dense::init(latent, plan.flat(), hidden, rng))];
        let n = self.channels.len();
        for (j, (pair, &op)) in plan
            .shapes
            .windows(2)
            .rev()
            .zip(&plan.output_padding)
            .enumerate()
        {
            let ((co, _, _), (ci, hi, wi)) = (pair[0], pair[1]);
            let spec = ConvTranspose2dSpec::square((ci, co), window, op, (hi, wi));
            let conv = ConvTranspose2d::init(spec, rng).map_err(|error| CnnError::Conv {
                layer: format!("decoder transposed convolution {}", j + 1),
                error,
            })?;
            let act = if j + 1 == n {
                Activation::Identity
            } else {
                hidden
            };
            layers.push(Layer::ConvTranspose2d { conv, act });
        }
        Ok(Network { layers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn spec(image: (usize, usize, usize), channels: &[usize], kernel: usize) -> CnnSpec {
        CnnSpec {
            image,
            channels: channels.to_vec(),
            kernel,
            stride: 2,
            padding: 1,
        }
    }

    #[test]
    fn decoder_lands_on_the_input_size() {
        let mut rng = StdRng::seed_from_u64(0);
        for image in [(1, 28, 28), (1, 32, 32), (1, 8, 8), (3, 13, 9), (2, 5, 7)] {
            for kernel in [3, 4] {
                let sp = spec(image, &[16, 32], kernel);
                let enc = sp
                    .encoder::<f32, _>(10, Activation::Relu, &mut rng)
                    .unwrap();
                let dec = sp
                    .decoder::<f32, _>(10, Activation::Relu, &mut rng)
                    .unwrap();
                enc.check_chain().unwrap();
                dec.check_chain().unwrap();
                let dim = image.0 * image.1 * image.2;
                assert_eq!((enc.in_dim(), enc.out_dim()), (dim, 10), "{image:?}");
                assert_eq!((dec.in_dim(), dec.out_dim()), (10, dim), "{image:?}");
                assert_eq!(enc.layers[2].activation(), Activation::Identity);
                assert_eq!(dec.layers[0].activation(), Activation::Relu);
                assert_eq!(dec.layers[2].activation(), Activation::Identity);
            }
        }
        let plan = spec((1, 28, 28), &[16, 32], 3).plan(8).unwrap();
        assert_eq!(plan.shapes, vec![(1, 28, 28), (16, 14, 14), (32, 7, 7)]);
        // 7 -> 14: (7 − 1)·2 − 2 + 3 = 13, +1; 14 -> 28: 27, +1.
        assert_eq!(plan.output_padding, vec![(1, 1), (1, 1)]);
        let plan = spec((1, 28, 28), &[16, 32], 4).plan(8).unwrap();
        assert_eq!(plan.output_padding, vec![(0, 0), (0, 0)]);
        assert_eq!(plan.flat(), 32 * 49);
    }

    #[test]
    fn bad_geometry_is_a_clear_error() {
        let e = |sp: CnnSpec| sp.plan(8).unwrap_err().to_string();
        assert!(e(spec((1, 8, 8), &[], 3)).contains("at least one convolution"));
        assert!(e(spec((1, 8, 8), &[4, 0], 3)).contains("--channels"));
        assert!(e(spec((0, 8, 8), &[4], 3)).contains("image channels"));
        let mut sp = spec((1, 8, 8), &[4], 3);
        sp.stride = 0;
        assert!(e(sp).contains("stride"));
        let big_kernel = CnnSpec {
            padding: 0,
            ..spec((1, 2, 2), &[4], 5)
        };
        let msg = e(big_kernel);
        assert!(msg.contains("encoder convolution 1 on 1 x 2 x 2"), "{msg}");
        assert!(e(spec((1, 8, 8), &[1; 20], 3)).contains("too many"));
        assert!(spec((1, 8, 8), &[4], 3).plan(0).is_err());
        let huge = CnnSpec {
            stride: 1,
            padding: 64,
            ..spec((1, 64, 64), &[4096, 4096], 64)
        };
        assert!(e(huge).contains("encoder convolution 2 would need"));
        // A kernel smaller than the stride skips pixels, but the mirror
        // still lands on the input size.
        let sp = CnnSpec {
            padding: 0,
            ..spec((1, 9, 9), &[2], 1)
        };
        assert_eq!(sp.plan(3).unwrap().output_padding, vec![(0, 0)]);
        assert_eq!(output_padding(5, 20, 3, 2, 1), None);
    }
}
