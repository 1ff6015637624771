//! The model's metadata: everything about a model except the weight bytes.
//!
//! Encoded with postcard between the header and the weights section. Every
//! type here decodes without allocation: lists are `heapless::Vec`s with fixed
//! capacities, strings borrow from the file.

use heapless::Vec;
use serde::{Deserialize, Serialize};

/// Most layers an encoder or a decoder may have.
pub const MAX_LAYERS: usize = 16;

/// A run of f32 values inside the weights section.
///
/// `offset` counts **bytes** from the start of the weights section and is a
/// multiple of 16; `len` counts **f32 elements**. The shape is implied by the
/// owner (see each field's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorRef {
    /// Byte offset from the start of the weights section (multiple of 16).
    pub offset: u32,
    /// Number of f32 elements.
    pub len: u32,
}

/// Element-wise function applied after a layer's affine map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Activation {
    /// `f(x) = x`
    Identity,
    /// `f(x) = max(x, 0)`
    Relu,
    /// `f(x) = x` if `x > 0`, else `slope * x`.
    LeakyRelu {
        /// Slope for negative inputs.
        slope: f32,
    },
    /// `f(x) = tanh(x)`
    Tanh,
    /// `f(x) = 1 / (1 + exp(-x))`
    Sigmoid,
    /// `f(x) = x` if `x > 0`, else `alpha * (exp(x) - 1)`.
    Elu {
        /// Scale of the negative branch.
        alpha: f32,
    },
    /// `f(x) = ln(1 + exp(x))`
    Softplus,
}

/// One layer of an encoder or decoder.
///
/// Every layer maps a flat vector to a flat vector; [`Layer::dims`] gives the
/// two widths, and consecutive layers chain by them. Convolution layers view
/// their flat input and output as row-major `C x H x W` images (channel, then
/// row, then column), so flattening an image for a [`Layer::Dense`] layer, or
/// reshaping a dense output into an image, costs nothing and needs no layer.
///
/// The variant order is part of the format (postcard writes the variant
/// index): new variants go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Layer {
    /// `y = act(W x + b)`; `weight` is `out_dim x in_dim`, row-major;
    /// `bias` has `out_dim` elements.
    Dense {
        /// Input width.
        in_dim: u32,
        /// Output width.
        out_dim: u32,
        /// `out_dim x in_dim` row-major.
        weight: TensorRef,
        /// `out_dim` values.
        bias: TensorRef,
        /// Applied after the affine map.
        activation: Activation,
    },
    /// 2-D convolution with PyTorch's `Conv2d` semantics (cross-correlation,
    /// zero padding on both sides, no dilation, no groups), then
    /// `activation`. Output size per axis: `floor((n + 2p - k) / s) + 1`.
    /// `weight` is `out_channels x in_channels x kh x kw`, row-major; one
    /// bias per output channel. Since format 1.1.
    Conv2d(Conv),
    /// Transposed 2-D convolution with PyTorch's `ConvTranspose2d`
    /// semantics (the adjoint of [`Layer::Conv2d`], plus a bias), then
    /// `conv.activation`. Output size per axis:
    /// `(n - 1) s - 2p + k + output_padding`. `conv.weight` is
    /// `in_channels x out_channels x kh x kw`, row-major; one bias per output
    /// channel. Since format 1.1.
    ConvTranspose2d {
        /// Geometry (of this layer's input), weights, activation.
        conv: Conv,
        /// Extra rows and columns `[h, w]` at the bottom and right of the
        /// output; each smaller than the stride along its axis.
        output_padding: [u32; 2],
    },
    /// Int8 [`Layer::Dense`]: `weight` (in `q`) is `out_dim x in_dim` `i8`,
    /// row-major. Arithmetic in [`Quant`]. Since format 1.2.
    QDense {
        /// Input width.
        in_dim: u32,
        /// Output width.
        out_dim: u32,
        /// Quantized tensors and parameters.
        q: Quant,
    },
    /// Int8 [`Layer::Conv2d`] (TFLite `CONV_2D`, per-channel): `q.weight` is
    /// `out_channels x in_channels x kh x kw` `i8`; padded pixels hold the
    /// input zero point (they add nothing). Since format 1.2.
    QConv2d {
        /// Geometry (of this layer's input).
        conv: ConvGeometry,
        /// Quantized tensors and parameters.
        q: Quant,
    },
    /// Int8 [`Layer::ConvTranspose2d`] (TFLite `TRANSPOSE_CONV`): `q.weight`
    /// is `in_channels x out_channels x kh x kw` `i8`. Since format 1.2.
    QConvTranspose2d {
        /// Geometry (of this layer's input).
        conv: ConvGeometry,
        /// As in [`Layer::ConvTranspose2d`].
        output_padding: [u32; 2],
        /// Quantized tensors and parameters.
        q: Quant,
    },
}

/// Int8 quantization parameters of a tensor (TFLite's asymmetric scheme):
/// `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QParams {
    /// Finite, `> 0`.
    pub scale: f32,
    /// In `-128..=127`.
    pub zero_point: i32,
}

/// The tensors and parameters of a quantized layer (format 1.2; arithmetic
/// bit-identical to TFLite's reference int8 kernels, see `FORMAT.md`):
///
/// ```text
/// acc[c] = bias[c] + sum (x_q - input.zero_point) * w_q            (i32)
/// v[c]   = MultiplyByQuantizedMultiplier(acc[c], multiplier[c], shift[c]) + output.zero_point
/// y[c]   = clamp(v[c], min, max)  or  table[clamp(v[c], -128, 127) + 128]
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quant {
    /// Of the layer's int8 input; equals the previous layer's output.
    pub input: QParams,
    /// `i8` weights (zero point 0, values in `-127..=127`), the f32 layer's
    /// shape and layout.
    pub weight: TensorRef,
    /// `f32` weight scales: 1 (per tensor) or one per output channel.
    pub weight_scale: TensorRef,
    /// `i32` biases, one per output channel, at scale `input.scale * weight_scale[c]`.
    pub bias: TensorRef,
    /// `i32` requantization significands (TFLite `QuantizeMultiplier`), in
    /// `2^30..=2^31 - 1`; as many as `weight_scale`.
    pub multiplier: TensorRef,
    /// `i32` requantization exponents, in `-31..=30`; as many as `weight_scale`.
    pub shift: TensorRef,
    /// Of the requantized accumulator: the layer's output for a
    /// [`QActivation::Clamp`], the table's input for a [`QActivation::Table`].
    pub output: QParams,
    /// Applied to the requantized accumulator.
    pub activation: QActivation,
}

/// The activation of a quantized layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum QActivation {
    /// `y = clamp(v, min, max)`, `min <= max`: identity is `-128..=127`, ReLU
    /// `max(zp, -128)..=127`, ReLU6 `..=min(127, round(6 / s) + zp)`.
    Clamp {
        /// Lower bound.
        min: i8,
        /// Upper bound.
        max: i8,
    },
    /// `y = table[clamp(v, -128, 127) + 128]`.
    Table {
        /// `i8`, 256 entries.
        table: TensorRef,
        /// Of `y`, the layer's output.
        output: QParams,
        /// The f32 activation the table was built from (informational; the
        /// runtime uses only the table).
        source: Activation,
    },
}

impl Quant {
    /// The quantization parameters of the layer's output (after the activation).
    pub fn output_qparams(&self) -> QParams {
        match self.activation {
            QActivation::Clamp { .. } => self.output,
            QActivation::Table { output, .. } => output,
        }
    }
}

/// Geometry and parameters shared by [`Layer::Conv2d`] and
/// [`Layer::ConvTranspose2d`]. Pairs are `[height, width]`.
///
/// The input is a flat `in_channels x in_height x in_width` image; the
/// output's spatial size follows from the geometry ([`Conv::conv2d_output`],
/// [`Conv::transposed_output`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Conv {
    /// Input channels `C`.
    pub in_channels: u32,
    /// Input height `H`.
    pub in_height: u32,
    /// Input width `W`.
    pub in_width: u32,
    /// Output channels.
    pub out_channels: u32,
    /// Kernel size `[kh, kw]`.
    pub kernel: [u32; 2],
    /// Stride `[sh, sw]`.
    pub stride: [u32; 2],
    /// Zero padding `[ph, pw]`, on both sides (for a transposed
    /// convolution: the padding of its adjoint convolution, which trims the
    /// output).
    pub padding: [u32; 2],
    /// `out_channels x in_channels x kh x kw` for [`Layer::Conv2d`],
    /// `in_channels x out_channels x kh x kw` for
    /// [`Layer::ConvTranspose2d`]; row-major either way.
    pub weight: TensorRef,
    /// `out_channels` values.
    pub bias: TensorRef,
    /// Applied after the affine map.
    pub activation: Activation,
}

/// Why a convolution's geometry is invalid (see [`Conv::conv2d_output`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Geometry {
    /// A channel count, size, kernel size or stride is zero.
    Zero,
    /// No output pixel along an axis.
    Empty,
    /// `output_padding >= stride`.
    OutputPadding {
        /// The output padding.
        output_padding: u32,
        /// The stride along the same axis.
        stride: u32,
    },
    /// A size does not fit in 32 bits.
    TooLarge,
}

impl From<Geometry> for crate::FormatError {
    fn from(g: Geometry) -> Self {
        match g {
            Geometry::Zero => crate::FormatError::ZeroDim,
            Geometry::Empty => crate::FormatError::ConvEmptyOutput,
            Geometry::OutputPadding {
                output_padding,
                stride,
            } => crate::FormatError::ConvOutputPadding {
                output_padding,
                stride,
            },
            Geometry::TooLarge => crate::FormatError::TooLarge,
        }
    }
}

/// `v` as a `u32`, or [`Geometry::TooLarge`].
fn fit(v: u64) -> Result<u32, Geometry> {
    u32::try_from(v).map_err(|_| Geometry::TooLarge)
}

impl ConvGeometry {
    /// `[in_channels, in_height, in_width]`.
    pub fn input_shape(&self) -> [u32; 3] {
        [self.in_channels, self.in_height, self.in_width]
    }

    /// Every count, size, kernel size and stride is non-zero.
    fn check_nonzero(&self) -> Result<(), Geometry> {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let all = [
            self.in_channels,
            self.in_height,
            self.in_width,
            self.out_channels,
            kh,
            kw,
            sh,
            sw,
        ];
        if all.contains(&0) {
            Err(Geometry::Zero)
        } else {
            Ok(())
        }
    }

    /// Output `[Ho, Wo]` of a [`Layer::Conv2d`] with this geometry:
    /// `floor((n + 2p - k) / s) + 1` per axis.
    ///
    /// Errors: a zero count, size, kernel or stride ([`FormatError::ZeroDim`]);
    /// a kernel larger than the padded input ([`FormatError::ConvEmptyOutput`]);
    /// a padded size `n + 2p` beyond `u32` ([`FormatError::TooLarge`]).
    ///
    /// [`FormatError::ZeroDim`]: crate::FormatError::ZeroDim
    /// [`FormatError::ConvEmptyOutput`]: crate::FormatError::ConvEmptyOutput
    /// [`FormatError::TooLarge`]: crate::FormatError::TooLarge
    pub fn conv2d_output(&self) -> Result<[u32; 2], crate::FormatError> {
        self.conv2d_geometry().map_err(Into::into)
    }

    pub(crate) fn conv2d_geometry(&self) -> Result<[u32; 2], Geometry> {
        self.check_nonzero()?;
        self.per_axis([0, 0], |n, k, s, p, _| {
            let padded = fit(u64::from(n) + 2 * u64::from(p))?;
            let room = padded.checked_sub(k).ok_or(Geometry::Empty)?;
            // `s` is non-zero (checked above); `checked_div` keeps the
            // panic branch out of the binary (panic-check/).
            Ok(room.checked_div(s).ok_or(Geometry::Zero)? + 1)
        })
    }

    /// `[axis(height), axis(width)]`, `axis` taking the input size, kernel,
    /// stride, padding and `extra` along the axis.
    fn per_axis(
        &self,
        extra: [u32; 2],
        axis: impl Fn(u32, u32, u32, u32, u32) -> Result<u32, Geometry>,
    ) -> Result<[u32; 2], Geometry> {
        Ok([
            axis(
                self.in_height,
                self.kernel[0],
                self.stride[0],
                self.padding[0],
                extra[0],
            )?,
            axis(
                self.in_width,
                self.kernel[1],
                self.stride[1],
                self.padding[1],
                extra[1],
            )?,
        ])
    }

    /// Output `[Ho, Wo]` of a [`Layer::ConvTranspose2d`] with this geometry
    /// and `output_padding`: `(n - 1) s - 2p + k + output_padding` per axis.
    ///
    /// Errors: a zero count, size, kernel or stride ([`FormatError::ZeroDim`]);
    /// `output_padding >= stride` ([`FormatError::ConvOutputPadding`]); an
    /// output of no pixel ([`FormatError::ConvEmptyOutput`]); an untrimmed
    /// size `(n - 1) s + k + output_padding` beyond `u32`
    /// ([`FormatError::TooLarge`]).
    ///
    /// [`FormatError::ZeroDim`]: crate::FormatError::ZeroDim
    /// [`FormatError::ConvOutputPadding`]: crate::FormatError::ConvOutputPadding
    /// [`FormatError::ConvEmptyOutput`]: crate::FormatError::ConvEmptyOutput
    /// [`FormatError::TooLarge`]: crate::FormatError::TooLarge
    pub fn transposed_output(
        &self,
        output_padding: [u32; 2],
    ) -> Result<[u32; 2], crate::FormatError> {
        self.transposed_geometry(output_padding).map_err(Into::into)
    }

    pub(crate) fn transposed_geometry(
        &self,
        output_padding: [u32; 2],
    ) -> Result<[u32; 2], Geometry> {
        self.check_nonzero()?;
        self.per_axis(output_padding, |n, k, s, p, op| {
            if op >= s {
                return Err(Geometry::OutputPadding {
                    output_padding: op,
                    stride: s,
                });
            }
            let full = (u64::from(n) - 1) * u64::from(s) + u64::from(k) + u64::from(op);
            let full = fit(full)?;
            match full.checked_sub(p).and_then(|v| v.checked_sub(p)) {
                Some(out) if out > 0 => Ok(out),
                _ => Err(Geometry::Empty),
            }
        })
    }

    /// Elements of the weight: `in_channels * out_channels * kh * kw`, if it
    /// fits in a `u32`.
    pub(crate) fn weight_len(&self) -> Result<u32, Geometry> {
        let n = [self.out_channels, self.kernel[0], self.kernel[1]]
            .iter()
            .try_fold(u64::from(self.in_channels), |acc, &v| {
                acc.checked_mul(u64::from(v))
            })
            .ok_or(Geometry::TooLarge)?;
        fit(n)
    }
}

/// The geometry of a convolution: [`Conv`] without its tensors and
/// activation, shared with the quantized layers ([`Layer::QConv2d`],
/// [`Layer::QConvTranspose2d`]). Its seven fields are [`Conv`]'s first seven,
/// in the same order (postcard writes both without framing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvGeometry {
    /// Input channels `C`.
    pub in_channels: u32,
    /// Input height `H`.
    pub in_height: u32,
    /// Input width `W`.
    pub in_width: u32,
    /// Output channels.
    pub out_channels: u32,
    /// Kernel size `[kh, kw]`.
    pub kernel: [u32; 2],
    /// Stride `[sh, sw]`.
    pub stride: [u32; 2],
    /// Zero padding `[ph, pw]`, on both sides (see [`Conv::padding`]).
    pub padding: [u32; 2],
}

impl Conv {
    /// A convolution of geometry `g` with its tensors and activation.
    ///
    /// ```
    /// use rrae_format::meta::{Activation, Conv, ConvGeometry, TensorRef};
    ///
    /// let g = ConvGeometry {
    ///     in_channels: 1, in_height: 4, in_width: 4, out_channels: 2,
    ///     kernel: [3, 3], stride: [1, 1], padding: [1, 1],
    /// };
    /// let t = TensorRef { offset: 0, len: 18 };
    /// let c = Conv::new(g, t, TensorRef { offset: 80, len: 2 }, Activation::Relu);
    /// assert_eq!(c.geometry(), g);
    /// ```
    pub fn new(
        g: ConvGeometry,
        weight: TensorRef,
        bias: TensorRef,
        activation: Activation,
    ) -> Conv {
        Conv {
            in_channels: g.in_channels,
            in_height: g.in_height,
            in_width: g.in_width,
            out_channels: g.out_channels,
            kernel: g.kernel,
            stride: g.stride,
            padding: g.padding,
            weight,
            bias,
            activation,
        }
    }

    /// The geometry fields.
    pub fn geometry(&self) -> ConvGeometry {
        ConvGeometry {
            in_channels: self.in_channels,
            in_height: self.in_height,
            in_width: self.in_width,
            out_channels: self.out_channels,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
        }
    }

    /// `[in_channels, in_height, in_width]`.
    pub fn input_shape(&self) -> [u32; 3] {
        self.geometry().input_shape()
    }

    /// See [`ConvGeometry::conv2d_output`].
    pub fn conv2d_output(&self) -> Result<[u32; 2], crate::FormatError> {
        self.geometry().conv2d_output()
    }

    /// See [`ConvGeometry::transposed_output`].
    pub fn transposed_output(
        &self,
        output_padding: [u32; 2],
    ) -> Result<[u32; 2], crate::FormatError> {
        self.geometry().transposed_output(output_padding)
    }
}

/// `c * h * w` as a `u32`, if it fits.
fn flat(c: u32, [h, w]: [u32; 2]) -> Result<u32, Geometry> {
    fit(u64::from(c) * u64::from(h) * u64::from(w))
}

/// How inputs are scaled before the encoder (and outputs after the decoder).
///
/// Normalized value: `(x - shift) / scale`; restored: `x_n * scale + shift`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Normalization {
    /// Inputs go to the encoder unchanged.
    None,
    /// One scalar shift and scale for every feature.
    Global {
        /// Subtracted from every feature.
        shift: f32,
        /// Divides every feature (non-zero, finite).
        scale: f32,
    },
    /// A shift and a scale per feature; each tensor has `input_dim` elements.
    PerFeature {
        /// `input_dim` shifts.
        shift: TensorRef,
        /// `input_dim` scales (non-zero, finite).
        scale: TensorRef,
    },
}

/// Where the truncated basis `U_k` sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Basis {
    /// Folded into the adjacent layers at export: the encoder outputs the k
    /// coefficients directly and the decoder takes them. `stored` optionally
    /// keeps `U_k` (`latent_dim x rank`, row-major) for latent inspection.
    Folded {
        /// `latent_dim x rank` row-major, if kept.
        stored: Option<TensorRef>,
    },
    /// Not folded: the encoder outputs `latent_dim` values `y`, the runtime
    /// computes `alpha = U_k^T y`, and `y = U_k alpha` before the decoder.
    Separate {
        /// `latent_dim x rank` row-major.
        u: TensorRef,
    },
}

/// Gaussian fit of the training coefficients, for sampling:
/// `alpha = mean + chol * z` with `z ~ N(0, I)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sampler {
    /// `rank` values.
    pub mean: TensorRef,
    /// `rank x rank` lower-triangular Cholesky factor, row-major.
    pub chol: TensorRef,
}

/// Training parameters and their coefficients, for parametric interpolation
/// (reduced-order modelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamTable {
    /// Number of parameters per sample (1 for the 1-D synthetic sets).
    pub param_dim: u32,
    /// Number of training samples stored.
    pub count: u32,
    /// `count x param_dim` row-major.
    pub params: TensorRef,
    /// `count x rank` row-major coefficients.
    pub coeffs: TensorRef,
}

/// Everything about a model except the weight bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta<'a> {
    /// Free-form model name (e.g. the dataset it was trained on).
    pub name: &'a str,
    /// Features per sample (`T`).
    pub input_dim: u32,
    /// Width of the latent space before truncation (`L`).
    pub latent_dim: u32,
    /// Number of coefficients kept (`k`), `1 <= rank <= latent_dim`.
    pub rank: u32,
    /// Input scaling.
    pub normalization: Normalization,
    /// Encoder layers, input first.
    pub encoder: Vec<Layer, MAX_LAYERS>,
    /// Decoder layers, latent (or coefficients) first.
    pub decoder: Vec<Layer, MAX_LAYERS>,
    /// The truncated basis and whether it is folded.
    pub basis: Basis,
    /// Optional Gaussian over the coefficients.
    pub sampler: Option<Sampler>,
    /// Optional parameter table.
    pub params: Option<ParamTable>,
    /// Training singular values of the latents (`rank` leading values are
    /// the kept modes). Informational.
    pub singular_values: Option<TensorRef>,
}

impl ModelMeta<'_> {
    /// The header flags this metadata implies (`FLAG_*` in [`crate::header`]).
    pub fn flags(&self) -> u32 {
        use crate::header::{FLAG_BASIS_FOLDED, FLAG_BASIS_STORED, FLAG_PARAMS, FLAG_SAMPLER};
        let bit = |on: bool, flag: u32| if on { flag } else { 0 };
        bit(self.sampler.is_some(), FLAG_SAMPLER)
            | bit(self.params.is_some(), FLAG_PARAMS)
            | bit(
                matches!(self.basis, Basis::Folded { .. }),
                FLAG_BASIS_FOLDED,
            )
            | bit(self.basis_tensor().is_some(), FLAG_BASIS_STORED)
    }

    /// The oldest minor version of format 1 that can hold this model: `2`
    /// if a layer is quantized, else `1` if a layer is a convolution, else `0`. The writer stamps files with
    /// it, so dense-only files stay readable by 1.0 readers.
    pub fn required_minor(&self) -> u16 {
        let mut layers = self.encoder.iter().chain(&self.decoder);
        if layers.clone().any(Layer::is_quantized) {
            2
        } else {
            u16::from(layers.any(Layer::is_conv))
        }
    }

    /// Whether the layers are int8 ([`Layer::is_quantized`]; a valid file
    /// never mixes kinds, so this looks at the first one).
    pub fn is_quantized(&self) -> bool {
        self.encoder.first().is_some_and(Layer::is_quantized)
    }

    /// `U_k` (`latent_dim x rank`, row-major), if the file stores it.
    pub fn basis_tensor(&self) -> Option<TensorRef> {
        match self.basis {
            Basis::Folded { stored } => stored,
            Basis::Separate { u } => Some(u),
        }
    }
}

impl Layer {
    /// Flat `(input width, output width)`: `(in_dim, out_dim)` for a dense
    /// layer, `(C * H * W, C' * H' * W')` for a convolution.
    ///
    /// For a convolution whose geometry is invalid (a file [`read`] rejects)
    /// this is `(0, 0)`; [`Layer::checked_dims`] says why.
    ///
    /// [`read`]: crate::read
    pub fn dims(&self) -> (u32, u32) {
        self.geometry().unwrap_or((0, 0))
    }

    /// [`Layer::dims`], with the reason a convolution's geometry is invalid:
    /// see [`Conv::conv2d_output`] and [`Conv::transposed_output`]; flat
    /// widths and the weight length must fit in a `u32`
    /// ([`FormatError::TooLarge`](crate::FormatError::TooLarge)). A dense
    /// layer always succeeds (its zero widths are checked when chaining).
    pub fn checked_dims(&self) -> Result<(u32, u32), crate::FormatError> {
        self.geometry().map_err(Into::into)
    }

    pub(crate) fn geometry(&self) -> Result<(u32, u32), Geometry> {
        let (conv, out) = match self {
            Layer::Dense {
                in_dim, out_dim, ..
            } => return Ok((*in_dim, *out_dim)),
            Layer::QDense {
                in_dim, out_dim, ..
            } => return Ok((*in_dim, *out_dim)),
            Layer::Conv2d(conv) => (conv.geometry(), conv.geometry().conv2d_geometry()?),
            Layer::QConv2d { conv, .. } => (*conv, conv.conv2d_geometry()?),
            Layer::ConvTranspose2d {
                conv,
                output_padding,
            } => (
                conv.geometry(),
                conv.geometry().transposed_geometry(*output_padding)?,
            ),
            Layer::QConvTranspose2d {
                conv,
                output_padding,
                ..
            } => (*conv, conv.transposed_geometry(*output_padding)?),
        };
        conv.weight_len()?;
        Ok((
            flat(conv.in_channels, [conv.in_height, conv.in_width])?,
            flat(conv.out_channels, out)?,
        ))
    }

    /// The weight tensor (shape in each variant's documentation; `i8`
    /// elements for a quantized layer).
    pub fn weight(&self) -> TensorRef {
        match self {
            Layer::Dense { weight, .. } => *weight,
            Layer::Conv2d(c) | Layer::ConvTranspose2d { conv: c, .. } => c.weight,
            Layer::QDense { q, .. }
            | Layer::QConv2d { q, .. }
            | Layer::QConvTranspose2d { q, .. } => q.weight,
        }
    }

    /// The bias tensor (`out_dim`, or one value per output channel; `i32`
    /// elements for a quantized layer).
    pub fn bias(&self) -> TensorRef {
        match self {
            Layer::Dense { bias, .. } => *bias,
            Layer::Conv2d(c) | Layer::ConvTranspose2d { conv: c, .. } => c.bias,
            Layer::QDense { q, .. }
            | Layer::QConv2d { q, .. }
            | Layer::QConvTranspose2d { q, .. } => q.bias,
        }
    }

    /// The activation applied after the affine map. For a quantized layer:
    /// a table's `source`, and [`Activation::Identity`] for a clamp (its
    /// bounds are in [`Layer::quant`]).
    pub fn activation(&self) -> Activation {
        match self {
            Layer::Dense { activation, .. } => *activation,
            Layer::Conv2d(c) | Layer::ConvTranspose2d { conv: c, .. } => c.activation,
            Layer::QDense { q, .. }
            | Layer::QConv2d { q, .. }
            | Layer::QConvTranspose2d { q, .. } => match q.activation {
                QActivation::Clamp { .. } => Activation::Identity,
                QActivation::Table { source, .. } => source,
            },
        }
    }

    /// The quantization of an int8 layer, `None` for an f32 one.
    pub fn quant(&self) -> Option<&Quant> {
        match self {
            Layer::QDense { q, .. }
            | Layer::QConv2d { q, .. }
            | Layer::QConvTranspose2d { q, .. } => Some(q),
            _ => None,
        }
    }

    /// The geometry of a convolution (either precision), `None` for a dense layer.
    pub fn conv_geometry(&self) -> Option<ConvGeometry> {
        match self {
            Layer::Conv2d(c) | Layer::ConvTranspose2d { conv: c, .. } => Some(c.geometry()),
            Layer::QConv2d { conv, .. } | Layer::QConvTranspose2d { conv, .. } => Some(*conv),
            _ => None,
        }
    }

    /// Whether this is a convolution (which needs format 1.1).
    pub fn is_conv(&self) -> bool {
        !matches!(self, Layer::Dense { .. } | Layer::QDense { .. })
    }

    /// Whether this is an int8 layer (which needs format 1.2).
    pub fn is_quantized(&self) -> bool {
        self.quant().is_some()
    }
}
