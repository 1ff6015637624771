//! Reads a verified `.tflite` flatbuffer into a chain of f32 or int8 layers
//! in the `.rrae` layouts ([`Spec`]): one subgraph, one input, one output,
//! every layer reading the previous one's output.
//!
//! Int8 layers ([`QSpec`]) keep TFLite's numbers: int8 weights (per tensor
//! or per output channel), int32 biases, the input and output `(scale, zero
//! point)`, a fused NONE / RELU / RELU6 / RELU_N1_TO_1 as a clamp, and the
//! requantization multiplier and shift computed from the scales as TFLite
//! Micro computes them, so the runtime's outputs are TFLite's bit for bit.
//!
//! TFLite images are `H x W x C` (NHWC), `.rrae` ones `C x H x W`: kernels
//! are transposed into the `.rrae` layouts, and a dense layer next to a
//! convolution with more than one channel gets its columns (or rows)
//! permuted so that the flattened vector means the same thing. A
//! convolutional first or last layer takes or gives `C x H x W` vectors.

use flatbuffers::{Follow, ForwardsUOffset, Vector, VerifierOptions};
use rrae_format::meta::{Activation, QParams};
use rrae_format::quant::quantize_multiplier;

use crate::quantize::params::effective_scale;

use super::schema_generated::tflite as fb;
use super::ImportError;

/// Largest flatbuffer read (TFLite's own limit is 2 GiB).
const MAX_BYTES: usize = 1 << 31;
/// Largest element count of one tensor shape.
const MAX_ELEMS: usize = 1 << 30;

/// Verifier limits: a hostile buffer fails verification instead of making
/// the reader walk deep or wide structures.
const VERIFIER: VerifierOptions = VerifierOptions {
    max_depth: 64,
    max_tables: 1 << 20,
    max_apparent_size: MAX_BYTES,
    ignore_missing_null_terminator: false,
};

/// Convolution geometry in TFLite terms: shapes `[H, W, C]`, pairs
/// `[height, width]`, padding on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geom {
    /// Input image `[H, W, C]`.
    pub in_shape: [usize; 3],
    /// Output image `[H, W, C]`.
    pub out_shape: [usize; 3],
    /// Kernel size.
    pub kernel: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Zero padding (a transposed convolution: its adjoint's padding).
    pub padding: [usize; 2],
}

/// What a layer computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// FULLY_CONNECTED.
    Dense,
    /// CONV_2D.
    Conv2d(Geom),
    /// TRANSPOSE_CONV, with its output padding `[h, w]`.
    ConvTranspose2d(Geom, [usize; 2]),
}

impl Kind {
    /// Input and output images, for convolutions.
    fn images(&self) -> Option<([usize; 3], [usize; 3])> {
        match self {
            Kind::Dense => None,
            Kind::Conv2d(g) | Kind::ConvTranspose2d(g, _) => Some((g.in_shape, g.out_shape)),
        }
    }
}

/// One imported layer, weights already in the `.rrae` layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Index of its operator in the subgraph.
    pub op_index: usize,
    /// Dense or convolution (with geometry).
    pub kind: Kind,
    /// Flat input width.
    pub in_dim: usize,
    /// Flat output width.
    pub out_dim: usize,
    /// Weights, biases and activation, f32 or int8.
    pub params: Params,
}

/// A layer's tensors and activation.
#[derive(Debug, Clone, PartialEq)]
pub enum Params {
    /// An f32 layer.
    F32 {
        /// Weights (`.rrae` layout: see `formats/FORMAT.md`).
        weight: Vec<f32>,
        /// One bias per output (channel).
        bias: Vec<f32>,
        /// The fused activation.
        activation: Activation,
    },
    /// An int8 layer (format 1.2).
    Int8(QSpec),
}

/// An int8 layer's tensors in TFLite's scheme (`formats/FORMAT.md`, format
/// 1.2): `y = clamp(requantize(bias + sum (x - input.zp) w) + output.zp)`.
#[derive(Debug, Clone, PartialEq)]
pub struct QSpec {
    /// Of the layer's input.
    pub input: QParams,
    /// Of the layer's output.
    pub output: QParams,
    /// Symmetric int8 weights (`-127..=127`), `.rrae` layout.
    pub weight: Vec<i8>,
    /// One scale (per tensor) or one per output channel.
    pub weight_scale: Vec<f32>,
    /// One int32 bias per output (channel), at scale `input.scale * weight_scale`.
    pub bias: Vec<i32>,
    /// TFLite's `QuantizeMultiplier` of each effective scale.
    pub multiplier: Vec<i32>,
    /// Its exponent, as many as `multiplier`.
    pub shift: Vec<i32>,
    /// The fused activation as `[min, max]` (TFLite's
    /// `CalculateActivationRangeQuantized`).
    pub clamp: [i8; 2],
}

impl Params {
    /// Whether the layer is int8.
    pub fn is_int8(&self) -> bool {
        matches!(self, Params::Int8(_))
    }

    /// Reorders the weight matrix (`rows x cols`, row-major): column `j`
    /// becomes the old column `from(j)`.
    fn gather_cols(&mut self, rows: usize, cols: usize, from: impl Fn(usize) -> usize) {
        fn go<T: Copy>(w: &mut [T], rows: usize, cols: usize, from: impl Fn(usize) -> usize) {
            let old = w.to_vec();
            for r in 0..rows {
                for j in 0..cols {
                    w[r * cols + j] = old[r * cols + from(j)];
                }
            }
        }
        match self {
            Params::F32 { weight, .. } => go(weight, rows, cols, from),
            Params::Int8(q) => go(&mut q.weight, rows, cols, from),
        }
    }

    /// Reorders the output rows (weights `rows x cols` and biases): row `r`
    /// becomes the old row `from(r)`. Per-channel scales, multipliers and
    /// shifts follow.
    fn gather_rows(&mut self, rows: usize, cols: usize, from: impl Fn(usize) -> usize) {
        fn go<T: Copy>(v: &mut [T], rows: usize, cols: usize, from: &dyn Fn(usize) -> usize) {
            let old = v.to_vec();
            for r in 0..rows {
                let src = from(r);
                v[r * cols..(r + 1) * cols].copy_from_slice(&old[src * cols..(src + 1) * cols]);
            }
        }
        match self {
            Params::F32 { weight, bias, .. } => {
                go(weight, rows, cols, &from);
                go(bias, rows, 1, &from);
            }
            Params::Int8(q) => {
                go(&mut q.weight, rows, cols, &from);
                go(&mut q.bias, rows, 1, &from);
                if q.multiplier.len() == rows {
                    go(&mut q.weight_scale, rows, 1, &from);
                    go(&mut q.multiplier, rows, 1, &from);
                    go(&mut q.shift, rows, 1, &from);
                }
            }
        }
    }
}

/// The operator names this importer knows, for error messages.
const SUPPORTED: &str =
    "supported: FULLY_CONNECTED, CONV_2D, TRANSPOSE_CONV, RESHAPE, QUANTIZE/DEQUANTIZE at the ends";

/// Reads the layer chain of `bytes` (see the module doc).
///
/// # Errors
///
/// [`ImportError`] for anything that is not a verified single-chain f32
/// model of the supported operators.
pub fn read(bytes: &[u8]) -> Result<Vec<Spec>, ImportError> {
    if bytes.len() >= MAX_BYTES {
        return Err(ImportError::Model(format!(
            "the file has {} bytes, more than the 2 GiB a flatbuffer can address",
            bytes.len()
        )));
    }
    let model = fb::root_as_model_with_opts(&VERIFIER, bytes)
        .map_err(|e| ImportError::Flatbuffer(one_line(&e.to_string())))?;
    let model_err = ImportError::Model;
    if model.version() != 3 {
        return Err(model_err(format!(
            "TFLite schema version {} (only version 3 is supported)",
            model.version()
        )));
    }
    let subgraphs = model.subgraphs().map_or(0, |s| s.len());
    if subgraphs != 1 {
        return Err(model_err(format!(
            "the model has {subgraphs} subgraphs; only single-subgraph models are supported"
        )));
    }
    let sg = at(model.subgraphs(), 0).ok_or_else(|| model_err("no subgraph".into()))?;
    let g = Graph {
        tensors: sg.tensors(),
        buffers: model.buffers(),
    };
    let single = |v: Option<Vector<'_, i32>>, what: &str| match v {
        Some(v) if v.len() == 1 => Ok(v.get(0)),
        v => Err(model_err(format!(
            "the subgraph has {} {what}s; only models with one {what} are supported",
            v.map_or(0, |v| v.len())
        ))),
    };
    let input = single(sg.inputs(), "input")?;
    let output = single(sg.outputs(), "output")?;
    let ops = sg
        .operators()
        .ok_or_else(|| model_err("the subgraph has no operators".into()))?;
    let mut cur = input;
    let mut layers = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        let name = op_name(&model, &op);
        let err = |msg: String| ImportError::Operator {
            index,
            op: name.clone(),
            msg,
        };
        let code = builtin(&model, &op).map_err(&err)?;
        let ins: Vec<i32> = op.inputs().map(|v| v.iter().collect()).unwrap_or_default();
        let out = match op.outputs() {
            Some(v) if v.len() == 1 => v.get(0),
            v => {
                return Err(err(format!(
                    "{} outputs (one expected)",
                    v.map_or(0, |v| v.len())
                )))
            }
        };
        let data_input = if code == fb::BuiltinOperator::TRANSPOSE_CONV {
            2
        } else {
            0
        };
        if ins.get(data_input) != Some(&cur) {
            return Err(err(format!(
                "does not read the previous operator's output (tensor {cur}); only a single chain of layers is supported"
            )));
        }
        let ctx = OpCtx {
            g: &g,
            op: &op,
            ins: &ins,
            out,
        };
        match code {
            fb::BuiltinOperator::FULLY_CONNECTED => layers.push(ctx.dense(index).map_err(&err)?),
            fb::BuiltinOperator::CONV_2D => layers.push(ctx.conv2d(index).map_err(&err)?),
            fb::BuiltinOperator::TRANSPOSE_CONV => {
                layers.push(ctx.transpose_conv(index).map_err(&err)?)
            }
            fb::BuiltinOperator::RESHAPE => {
                let (a, b) = (g.elems(cur).map_err(&err)?, g.elems(out).map_err(&err)?);
                if a != b {
                    return Err(err(format!("reshapes {a} values into {b}")));
                }
            }
            fb::BuiltinOperator::QUANTIZE | fb::BuiltinOperator::DEQUANTIZE => {
                if index != 0 && index + 1 != ops.len() {
                    return Err(err(
                        "only supported as the first or last operator (at the model's input or output)"
                            .into(),
                    ));
                }
                // f32 -> int8 at the input, int8 -> f32 at the output: the
                // runtime's f32 API quantizes and dequantizes the same way.
                let (from, to) = match code {
                    fb::BuiltinOperator::QUANTIZE => (Dtype::F32, Dtype::I8),
                    _ => (Dtype::I8, Dtype::F32),
                };
                let (a, b) = (
                    g.dtype(cur, "input").map_err(&err)?,
                    g.dtype(out, "output").map_err(&err)?,
                );
                if (a, b) != (from, to) {
                    return Err(err(format!(
                        "converts {} to {}; only {} to {} is supported here",
                        a.name(),
                        b.name(),
                        from.name(),
                        to.name()
                    )));
                }
            }
            _ => return Err(err(format!("not supported ({SUPPORTED})"))),
        }
        cur = out;
    }
    if cur != output {
        return Err(model_err(format!(
            "the last operator writes tensor {cur}, not the subgraph's output {output}"
        )));
    }
    if let (Some(first), Some(other)) = (
        layers.first(),
        layers
            .iter()
            .find(|l| l.params.is_int8() != layers[0].params.is_int8()),
    ) {
        return Err(model_err(format!(
            "operators {} and {} differ in type (f32 and int8); a model is all f32 or all int8",
            first.op_index, other.op_index
        )));
    }
    fix_layouts(&mut layers)?;
    Ok(layers)
}

/// The tensors and buffers of the model's subgraph.
struct Graph<'a> {
    tensors: Option<Vector<'a, ForwardsUOffset<fb::Tensor<'a>>>>,
    buffers: Option<Vector<'a, ForwardsUOffset<fb::Buffer<'a>>>>,
}

impl<'a> Graph<'a> {
    /// Tensor `idx`, if it exists.
    fn tensor(&self, idx: i32) -> Result<fb::Tensor<'a>, String> {
        at(self.tensors, i64::from(idx)).ok_or_else(|| format!("tensor index {idx} out of range"))
    }

    /// Tensor `idx`'s shape (every dimension at least 1, bounded product).
    fn shape(&self, idx: i32) -> Result<Vec<usize>, String> {
        let t = self.tensor(idx)?;
        let name = t.name().unwrap_or("");
        let dims: Vec<i32> = t.shape().map(|v| v.iter().collect()).unwrap_or_default();
        let mut n = 1usize;
        let mut out = Vec::with_capacity(dims.len());
        for &d in &dims {
            let d = usize::try_from(d).ok().filter(|&d| d >= 1).ok_or_else(|| {
                format!("tensor {idx} '{name}' has shape {dims:?} (dimensions must be >= 1)")
            })?;
            n = n
                .checked_mul(d)
                .filter(|&n| n <= MAX_ELEMS)
                .ok_or_else(|| format!("tensor {idx} '{name}' has too many elements ({dims:?})"))?;
            out.push(d);
        }
        Ok(out)
    }

    /// Element count of tensor `idx`.
    fn elems(&self, idx: i32) -> Result<usize, String> {
        Ok(self.shape(idx)?.iter().product())
    }

    /// The element type of tensor `idx` (dense, FLOAT32 or INT8).
    fn dtype(&self, idx: i32, what: &str) -> Result<Dtype, String> {
        let t = self.tensor(idx)?;
        if t.sparsity().is_some() {
            return Err(format!("{what} tensor {idx} is sparse (not supported)"));
        }
        match t.type_() {
            fb::TensorType::FLOAT32 => Ok(Dtype::F32),
            fb::TensorType::INT8 => Ok(Dtype::I8),
            ty => Err(format!(
                "{what} tensor {idx} has type {} (only FLOAT32 and INT8 are supported)",
                type_name(ty)
            )),
        }
    }

    /// Errors unless tensor `idx` has type `want`.
    fn check_type(&self, idx: i32, what: &str, want: fb::TensorType) -> Result<(), String> {
        let ty = self.tensor(idx)?.type_();
        if ty != want {
            return Err(format!(
                "{what} tensor {idx} has type {}, expected {}",
                type_name(ty),
                type_name(want)
            ));
        }
        Ok(())
    }

    /// The constant data of tensor `idx`: its buffer holds exactly its
    /// shape's elements of `size` bytes.
    fn constant_bytes(&self, idx: i32, what: &str, size: usize) -> Result<&'a [u8], String> {
        let n = self.elems(idx)?;
        let t = self.tensor(idx)?;
        let b = at(self.buffers, i64::from(t.buffer()))
            .ok_or_else(|| format!("{what} tensor {idx}: buffer {} out of range", t.buffer()))?;
        if b.offset() > 1 {
            return Err(format!(
                "{what} tensor {idx}: data outside the flatbuffer (offset {}) is not supported",
                b.offset()
            ));
        }
        let data = b.data().map(|d| d.bytes()).unwrap_or_default();
        if data.len() != n * size {
            return Err(format!(
                "{what} tensor {idx} has {} bytes of constant data; its shape needs {} (is it an input rather than a constant?)",
                data.len(),
                n * size
            ));
        }
        Ok(data)
    }

    /// The constant f32 data of tensor `idx` (FLOAT32, all finite).
    fn constant(&self, idx: i32, what: &str) -> Result<Vec<f32>, String> {
        self.check_type(idx, what, fb::TensorType::FLOAT32)?;
        let v: Vec<f32> = self
            .constant_bytes(idx, what, 4)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(format!("{what} tensor {idx} has non-finite values"));
        }
        Ok(v)
    }

    /// The constant int8 weights of tensor `idx` (INT8, symmetric: no -128).
    fn constant_i8(&self, idx: i32, what: &str) -> Result<Vec<i8>, String> {
        self.check_type(idx, what, fb::TensorType::INT8)?;
        let v: Vec<i8> = self
            .constant_bytes(idx, what, 1)?
            .iter()
            .map(|&b| b as i8)
            .collect();
        if v.contains(&i8::MIN) {
            return Err(format!(
                "{what} tensor {idx} holds -128 (int8 weights must be symmetric, in -127..=127)"
            ));
        }
        Ok(v)
    }

    /// The constant int32 data of tensor `idx` (INT32).
    fn constant_i32(&self, idx: i32, what: &str) -> Result<Vec<i32>, String> {
        self.check_type(idx, what, fb::TensorType::INT32)?;
        Ok(self
            .constant_bytes(idx, what, 4)?
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Tensor `idx`'s quantization: scales (finite, positive), zero points
    /// (as many) and the quantized dimension.
    fn quantization(&self, idx: i32, what: &str) -> Result<(Vec<f32>, Vec<i64>, i32), String> {
        let q = self
            .tensor(idx)?
            .quantization()
            .ok_or_else(|| format!("{what} tensor {idx} has no quantization parameters"))?;
        if q.details().is_some() {
            return Err(format!(
                "{what} tensor {idx}: custom quantization details are not supported"
            ));
        }
        let scales: Vec<f32> = q.scale().map(|v| v.iter().collect()).unwrap_or_default();
        let zps: Vec<i64> = q
            .zero_point()
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        if scales.is_empty() || zps.len() != scales.len() {
            return Err(format!(
                "{what} tensor {idx} has {} scales and {} zero points (one or more of each, as many)",
                scales.len(),
                zps.len()
            ));
        }
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!(
                "{what} tensor {idx} has scale {s} (must be finite and > 0)"
            ));
        }
        Ok((scales, zps, q.quantized_dimension()))
    }

    /// The per-tensor `(scale, zero point)` of int8 activation tensor `idx`.
    fn qparams(&self, idx: i32, what: &str) -> Result<QParams, String> {
        let (scales, zps, _) = self.quantization(idx, what)?;
        match (&scales[..], &zps[..]) {
            (&[scale], &[zp]) if (-128..=127).contains(&zp) => Ok(QParams {
                scale,
                zero_point: zp as i32,
            }),
            (&[_], &[zp]) => Err(format!(
                "{what} tensor {idx} has zero point {zp} (int8: -128..=127)"
            )),
            _ => Err(format!(
                "{what} tensor {idx} has {} scales (activations are quantized per tensor)",
                scales.len()
            )),
        }
    }

    /// The scales of int8 weight tensor `idx`: one, or one per output
    /// channel (`channels`, along dimension 0); zero points 0.
    fn weight_scales(&self, idx: i32, channels: usize) -> Result<Vec<f32>, String> {
        let (scales, zps, dim) = self.quantization(idx, "weights")?;
        if zps.iter().any(|&z| z != 0) {
            return Err(format!(
                "weights tensor {idx} has a non-zero zero point (int8 weights must be symmetric)"
            ));
        }
        if scales.len() != 1 && (scales.len() != channels || dim != 0) {
            return Err(format!(
                "weights tensor {idx} has {} scales along dimension {dim}; expected 1 or {channels} along dimension 0",
                scales.len()
            ));
        }
        Ok(scales)
    }
}

/// The element type of a layer's activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F32,
    I8,
}

impl Dtype {
    /// TFLite's name of the type.
    fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "FLOAT32",
            Dtype::I8 => "INT8",
        }
    }
}

/// One operator being read: its graph, inputs and output tensor.
struct OpCtx<'g, 'a> {
    g: &'g Graph<'a>,
    op: &'g fb::Operator<'a>,
    ins: &'g [i32],
    out: i32,
}

impl OpCtx<'_, '_> {
    /// Input `i`, or an error naming it.
    fn input(&self, i: usize, what: &str) -> Result<i32, String> {
        self.ins
            .get(i)
            .copied()
            .filter(|&t| t >= 0)
            .ok_or_else(|| format!("missing {what} input (input {i})"))
    }

    /// The optional input `i` (bias): `None` when absent.
    fn optional(&self, i: usize) -> Option<i32> {
        self.ins.get(i).copied().filter(|&t| t >= 0)
    }

    /// The element type of data input `x` and the output (equal).
    fn io_type(&self, x: i32) -> Result<Dtype, String> {
        let (a, b) = (self.g.dtype(x, "input")?, self.g.dtype(self.out, "output")?);
        if a != b {
            return Err(format!(
                "input tensor {x} and output tensor {} have different types",
                self.out
            ));
        }
        Ok(a)
    }

    /// A layer's [`Params`]: data input `x`, weights tensor `wt` (TFLite
    /// layout, element `i` moved to `layout[i]` when given), optional bias
    /// input `bias` of `channels` outputs, fused activation `act`; `dense`
    /// picks TFLite's per-tensor FULLY_CONNECTED multiplier arithmetic.
    #[allow(clippy::too_many_arguments)]
    fn params(
        &self,
        x: i32,
        wt: i32,
        bias: usize,
        channels: usize,
        act: fb::ActivationFunctionType,
        layout: Option<&[usize]>,
        dense: bool,
    ) -> Result<Params, String> {
        let check_len = |n: usize| {
            if n == channels {
                Ok(())
            } else {
                Err(format!("bias has {n} values, expected {channels}"))
            }
        };
        match self.io_type(x)? {
            Dtype::F32 => {
                let bias = match self.optional(bias) {
                    None => vec![0.0; channels],
                    Some(t) => self.g.constant(t, "bias")?,
                };
                check_len(bias.len())?;
                if self.g.tensor(wt)?.type_() == fb::TensorType::INT8 {
                    return Err(
                        "int8 weights with FLOAT32 activations (dynamic-range quantization) are not supported"
                            .into(),
                    );
                }
                Ok(Params::F32 {
                    weight: arrange(self.g.constant(wt, "weights")?, layout),
                    bias,
                    activation: activation(act)?,
                })
            }
            Dtype::I8 => {
                let bias = match self.optional(bias) {
                    None => vec![0; channels],
                    Some(t) => self.g.constant_i32(t, "bias")?,
                };
                check_len(bias.len())?;
                let input = self.g.qparams(x, "input")?;
                let output = self.g.qparams(self.out, "output")?;
                let weight_scale = self.g.weight_scales(wt, channels)?;
                let per_tensor = dense && weight_scale.len() == 1;
                let (mut multiplier, mut shift) = (vec![], vec![]);
                for &ws in &weight_scale {
                    let m = effective_scale(input.scale, ws, output.scale, per_tensor);
                    let (q, e) = quantize_multiplier(m).ok_or_else(|| {
                        format!("requantization scale {m:e} is outside TFLite's range")
                    })?;
                    multiplier.push(q);
                    shift.push(e);
                }
                Ok(Params::Int8(QSpec {
                    input,
                    output,
                    weight: arrange(self.g.constant_i8(wt, "weights")?, layout),
                    weight_scale,
                    bias,
                    multiplier,
                    shift,
                    clamp: clamp(act, output)?,
                }))
            }
        }
    }

    /// FULLY_CONNECTED: `weights` `[out, in]` is already the `.rrae` layout.
    fn dense(&self, op_index: usize) -> Result<Spec, String> {
        let x = self.input(0, "data")?;
        let wt = self.input(1, "weights")?;
        let (act, format) = match self.op.builtin_options_as_fully_connected_options() {
            Some(o) => (o.fused_activation_function(), o.weights_format()),
            None => (
                fb::ActivationFunctionType::NONE,
                fb::FullyConnectedOptionsWeightsFormat::DEFAULT,
            ),
        };
        if format != fb::FullyConnectedOptionsWeightsFormat::DEFAULT {
            return Err(format!(
                "weights format {} is not supported (only DEFAULT)",
                format.variant_name().unwrap_or("unknown")
            ));
        }
        let (out_dim, in_dim) = match self.g.shape(wt)?[..] {
            [o, i] => (o, i),
            ref s => return Err(format!("weights have shape {s:?} (expected [out, in])")),
        };
        let (xn, yn) = (self.g.elems(x)?, self.g.elems(self.out)?);
        if xn != in_dim || yn != out_dim {
            return Err(format!(
                "maps {xn} values to {yn} with weights [{out_dim}, {in_dim}] (batch size 1 only)"
            ));
        }
        Ok(Spec {
            op_index,
            kind: Kind::Dense,
            in_dim,
            out_dim,
            params: self.params(x, wt, 2, out_dim, act, None, true)?,
        })
    }

    /// `[1, H, W, C]` image shape of tensor `t`.
    fn image(&self, t: i32, what: &str) -> Result<[usize; 3], String> {
        match self.g.shape(t)?[..] {
            [1, h, w, c] => Ok([h, w, c]),
            ref s => Err(format!("{what} has shape {s:?} (expected [1, H, W, C])")),
        }
    }

    /// The images and filter of a convolution whose data is input `data`
    /// and filter input 1 (`[O, KH, KW, I]`, channels matching).
    fn conv_parts(&self, data: usize) -> Result<ConvParts, String> {
        let x = self.input(data, "data")?;
        let (inp, out) = (self.image(x, "input")?, self.image(self.out, "output")?);
        let f = self.input(1, "filter")?;
        let [oc, kh, kw, ic] = match self.g.shape(f)?[..] {
            [o, kh, kw, c] => [o, kh, kw, c],
            ref s => return Err(format!("filter has shape {s:?} (expected [O, KH, KW, I])")),
        };
        if ic != inp[2] || oc != out[2] {
            return Err(format!(
                "filter [{oc}, {kh}, {kw}, {ic}] does not match {} -> {} channels (grouped convolutions are not supported)",
                inp[2], out[2]
            ));
        }
        Ok(ConvParts {
            x,
            inp,
            out,
            filter: [oc, kh, kw, ic],
            f,
        })
    }

    /// The [`Spec`] of a convolution: `kind` made from its geometry,
    /// filter element `[o, u, v, c]` moved to `to([o, u, v, c])` in the
    /// `.rrae` layout, bias input `bias`.
    #[allow(clippy::too_many_arguments)]
    fn conv_spec(
        &self,
        op_index: usize,
        p: &ConvParts,
        (stride, padding): ([usize; 2], [usize; 2]),
        kind: impl FnOnce(Geom) -> Kind,
        to: impl Fn([usize; 4]) -> usize,
        bias: usize,
        act: fb::ActivationFunctionType,
    ) -> Result<Spec, String> {
        let geom = Geom {
            in_shape: p.inp,
            out_shape: p.out,
            kernel: [p.filter[1], p.filter[2]],
            stride,
            padding,
        };
        let layout = index_map(p.filter, to);
        let params = self.params(p.x, p.f, bias, p.filter[0], act, Some(&layout), false)?;
        Ok(Spec {
            op_index,
            kind: kind(geom),
            in_dim: p.inp.iter().product(),
            out_dim: p.out.iter().product(),
            params,
        })
    }

    /// CONV_2D (no dilation, no groups).
    fn conv2d(&self, op_index: usize) -> Result<Spec, String> {
        let o = self
            .op
            .builtin_options_as_conv_2_doptions()
            .ok_or("missing Conv2DOptions")?;
        if o.dilation_h_factor() != 1 || o.dilation_w_factor() != 1 {
            return Err("dilation is not supported".into());
        }
        let p = self.conv_parts(0)?;
        let ([_, kh, kw, ic], (inp, out)) = (p.filter, (p.inp, p.out));
        let stride = strides(o.stride_h(), o.stride_w())?;
        let padding = [
            conv_padding(o.padding(), inp[0], kh, stride[0], out[0])?,
            conv_padding(o.padding(), inp[1], kw, stride[1], out[1])?,
        ];
        // TFLite [O, KH, KW, I] -> .rrae [O, I, KH, KW].
        let to = |[o, u, v, c]: [usize; 4]| ((o * ic + c) * kh + u) * kw + v;
        let act = o.fused_activation_function();
        self.conv_spec(op_index, &p, (stride, padding), Kind::Conv2d, to, 2, act)
    }

    /// TRANSPOSE_CONV (inputs: output shape, filter, data, optional bias).
    fn transpose_conv(&self, op_index: usize) -> Result<Spec, String> {
        let o = self
            .op
            .builtin_options_as_transpose_conv_options()
            .ok_or("missing TransposeConvOptions")?;
        let p = self.conv_parts(2)?;
        let ([oc, kh, kw, _], (inp, out)) = (p.filter, (p.inp, p.out));
        let stride = strides(o.stride_h(), o.stride_w())?;
        let (ph, oph) = transpose_padding(o.padding(), inp[0], kh, stride[0], out[0])?;
        let (pw, opw) = transpose_padding(o.padding(), inp[1], kw, stride[1], out[1])?;
        // TFLite [O, KH, KW, I] -> .rrae [I, O, KH, KW].
        let to = |[o, u, v, c]: [usize; 4]| ((c * oc + o) * kh + u) * kw + v;
        let act = o.fused_activation_function();
        let kind = |g| Kind::ConvTranspose2d(g, [oph, opw]);
        self.conv_spec(op_index, &p, (stride, [ph, pw]), kind, to, 3, act)
    }
}

/// What [`OpCtx::conv_parts`] reads: the data and filter tensors, images
/// `[H, W, C]` and the filter's shape.
struct ConvParts {
    /// The data input tensor.
    x: i32,
    inp: [usize; 3],
    out: [usize; 3],
    /// `[O, KH, KW, I]`.
    filter: [usize; 4],
    /// The filter tensor.
    f: i32,
}

/// Element `i` of an optional vector, `None` when absent or out of range
/// (a flatbuffers `Vector::get` out of range would panic).
fn at<'a, T: Follow<'a> + 'a>(v: Option<Vector<'a, T>>, i: i64) -> Option<T::Inner> {
    let v = v?;
    let i = usize::try_from(i).ok().filter(|&i| i < v.len())?;
    Some(v.get(i))
}

/// The operator's builtin code (the larger of the two code fields, as
/// TFLite reads it).
fn builtin(model: &fb::Model<'_>, op: &fb::Operator<'_>) -> Result<fb::BuiltinOperator, String> {
    let idx = op.opcode_index();
    let code = at(model.operator_codes(), i64::from(idx))
        .ok_or_else(|| format!("operator code index {idx} out of range"))?;
    let deprecated = i32::from(code.deprecated_builtin_code());
    Ok(fb::BuiltinOperator(code.builtin_code().0.max(deprecated)))
}

/// The operator's name for messages (`CUSTOM 'name'` for custom ones).
fn op_name(model: &fb::Model<'_>, op: &fb::Operator<'_>) -> String {
    match builtin(model, op) {
        Ok(fb::BuiltinOperator::CUSTOM) => {
            let idx = i64::from(op.opcode_index());
            let custom = at(model.operator_codes(), idx).and_then(|c| c.custom_code());
            format!("CUSTOM '{}'", custom.unwrap_or(""))
        }
        Ok(code) => code
            .variant_name()
            .map_or_else(|| format!("builtin operator {}", code.0), str::to_string),
        Err(_) => "unknown operator".to_string(),
    }
}

/// A tensor type's schema name.
fn type_name(t: fb::TensorType) -> String {
    t.variant_name()
        .map_or_else(|| format!("type {}", t.0), str::to_string)
}

/// The `.rrae` activation of a fused TFLite activation.
fn activation(a: fb::ActivationFunctionType) -> Result<Activation, String> {
    match a {
        fb::ActivationFunctionType::NONE => Ok(Activation::Identity),
        fb::ActivationFunctionType::RELU => Ok(Activation::Relu),
        fb::ActivationFunctionType::TANH => Ok(Activation::Tanh),
        fb::ActivationFunctionType::RELU6 => Err(
            "fused activation RELU6 is not supported (the .rrae format has no ReLU6 activation)"
                .into(),
        ),
        a => Err(format!(
            "fused activation {} is not supported (NONE, RELU, TANH are)",
            a.variant_name().unwrap_or("unknown")
        )),
    }
}

/// The `[min, max]` clamp of a fused activation on an int8 output with
/// parameters `out`: TFLite's `CalculateActivationRangeQuantized`
/// (`zero_point + round(f / scale)`, the division in f32, rounded half away
/// from zero, within `-128..=127`).
fn clamp(a: fb::ActivationFunctionType, out: QParams) -> Result<[i8; 2], String> {
    let q = |f: f32| {
        let v = i64::from(out.zero_point) + (f / out.scale).round() as i64;
        v.clamp(-128, 127) as i8
    };
    match a {
        fb::ActivationFunctionType::NONE => Ok([-128, 127]),
        fb::ActivationFunctionType::RELU => Ok([q(0.0), 127]),
        fb::ActivationFunctionType::RELU6 => Ok([q(0.0), q(6.0)]),
        fb::ActivationFunctionType::RELU_N1_TO_1 => Ok([q(-1.0), q(1.0)]),
        a => Err(format!(
            "fused activation {} on an int8 layer is not supported (NONE, RELU, RELU6, RELU_N1_TO_1 are)",
            a.variant_name().unwrap_or("unknown")
        )),
    }
}

/// `[stride_h, stride_w]`, each at least 1.
fn strides(h: i32, w: i32) -> Result<[usize; 2], String> {
    match (usize::try_from(h), usize::try_from(w)) {
        (Ok(h @ 1..), Ok(w @ 1..)) => Ok([h, w]),
        _ => Err(format!("stride {h} x {w} (must be >= 1)")),
    }
}

/// The `.rrae` (symmetric) padding of a convolution along one axis with
/// input `n`, kernel `k`, stride `s` whose TFLite output is `out`.
fn conv_padding(p: fb::Padding, n: usize, k: usize, s: usize, out: usize) -> Result<usize, String> {
    let pad = match p {
        fb::Padding::VALID => 0,
        fb::Padding::SAME => (out.saturating_sub(1) * s + k).saturating_sub(n) / 2,
        p => {
            return Err(format!(
                "padding {} is not supported",
                p.variant_name().unwrap_or("unknown")
            ))
        }
    };
    let ours = (n + 2 * pad).checked_sub(k).map(|d| d / s + 1);
    if ours != Some(out) {
        return Err(format!(
            "{} padding of {n} with kernel {k}, stride {s} gives {out} outputs, which symmetric padding cannot reproduce",
            p.variant_name().unwrap_or("unknown")
        ));
    }
    Ok(pad)
}

/// `(padding, output_padding)` of a transposed convolution along one axis
/// (input `n`, kernel `k`, stride `s`, TFLite output `out`), from TFLite's
/// rule: the padding of the forward convolution from `out` back to `n`.
fn transpose_padding(
    p: fb::Padding,
    n: usize,
    k: usize,
    s: usize,
    out: usize,
) -> Result<(usize, usize), String> {
    let fwd = match p {
        fb::Padding::SAME => out.div_ceil(s),
        fb::Padding::VALID => (out + s).saturating_sub(k) / s,
        p => {
            return Err(format!(
                "padding {} is not supported",
                p.variant_name().unwrap_or("unknown")
            ))
        }
    };
    let pad = (fwd.saturating_sub(1) * s + k).saturating_sub(out) / 2;
    let untrimmed = (n - 1) * s + k;
    match (out + 2 * pad).checked_sub(untrimmed) {
        Some(op) if op < s => Ok((pad, op)),
        _ => Err(format!(
            "output size {out} from {n} with kernel {k}, stride {s} is not reproducible (output padding must be < stride)"
        )),
    }
}

/// Where each element of a row-major `dims` tensor goes: element `[a, b,
/// c, d]` (flat index `i`) lands at `to([a, b, c, d])`.
fn index_map(dims: [usize; 4], to: impl Fn([usize; 4]) -> usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(dims.iter().product());
    for a in 0..dims[0] {
        for b in 0..dims[1] {
            for c in 0..dims[2] {
                for d in 0..dims[3] {
                    out.push(to([a, b, c, d]));
                }
            }
        }
    }
    out
}

/// `v` with element `i` moved to `layout[i]` (a permutation of its
/// indices), or `v` itself without a layout.
fn arrange<T: Copy + Default>(v: Vec<T>, layout: Option<&[usize]>) -> Vec<T> {
    let Some(to) = layout else { return v };
    let mut out = vec![T::default(); v.len()];
    for (&x, &j) in v.iter().zip(to) {
        out[j] = x;
    }
    out
}

/// Index in an `H x W x C` vector of the element at `j` in the `C x H x W`
/// vector of the same image.
fn hwc_of_chw([h, w, c]: [usize; 3], j: usize) -> usize {
    let (ch, rest) = (j / (h * w), j % (h * w));
    rest * c + ch
}

/// Makes flattened vectors agree between dense layers (TFLite `H x W x C`
/// order) and convolutions (`.rrae` `C x H x W`): permutes the dense
/// layer's columns after a convolution, its rows before one.
fn fix_layouts(layers: &mut [Spec]) -> Result<(), ImportError> {
    for i in 1..layers.len() {
        let (left, right) = layers.split_at_mut(i);
        let (a, b) = (&mut left[i - 1], &mut right[0]);
        match (a.kind.images(), b.kind.images()) {
            (Some((_, img)), None) if img[2] > 1 => {
                let (rows, cols) = (b.out_dim, b.in_dim);
                b.params.gather_cols(rows, cols, |j| hwc_of_chw(img, j));
            }
            (None, Some((img, _))) if img[2] > 1 => {
                let (rows, cols) = (a.out_dim, a.in_dim);
                a.params.gather_rows(rows, cols, |r| hwc_of_chw(img, r));
            }
            (Some((_, from)), Some((to, _))) if from != to && (from[2] > 1 || to[2] > 1) => {
                return Err(ImportError::Operator {
                    index: b.op_index,
                    op: "RESHAPE".into(),
                    msg: format!(
                        "reshapes a {from:?} image into {to:?} between convolutions (H x W x C order), not supported"
                    ),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// `s` on one line (the verifier's error trace spans several).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwc_chw_index() {
        // 2 x 1 x 3 image: CHW index of (c, y, x) = c*2 + y; HWC = y*3 + c.
        let img = [2, 1, 3];
        for c in 0..3 {
            for y in 0..2 {
                assert_eq!(hwc_of_chw(img, c * 2 + y), y * 3 + c);
            }
        }
    }

    #[test]
    fn int8_clamps_are_tflite_activation_ranges() {
        use fb::ActivationFunctionType as A;
        let p = |scale, zero_point| QParams { scale, zero_point };
        assert_eq!(clamp(A::NONE, p(0.1, 3)), Ok([-128, 127]));
        assert_eq!(clamp(A::RELU, p(0.1, -128)), Ok([-128, 127]));
        assert_eq!(clamp(A::RELU, p(0.1, 3)), Ok([3, 127]));
        // RELU6: 6 / 0.05 = 120 (+ zp -100 = 20); beyond 127 saturates.
        assert_eq!(clamp(A::RELU6, p(0.05, -100)), Ok([-100, 20]));
        assert_eq!(clamp(A::RELU6, p(0.01, 0)), Ok([0, 127]));
        // RELU_N1_TO_1: round(1 / 0.4) = round(2.5) = 3 (half away from zero).
        assert_eq!(clamp(A::RELU_N1_TO_1, p(0.4, 1)), Ok([-2, 4]));
        let e = clamp(A::TANH, p(0.1, 0)).unwrap_err();
        assert!(e.contains("fused activation TANH on an int8 layer"), "{e}");
    }

    #[test]
    fn arrange_and_gathers_permute_both_types() {
        assert_eq!(arrange(vec![1i8, 2, 3], Some(&[2, 0, 1])), vec![2, 3, 1]);
        assert_eq!(arrange(vec![1.0f32, 2.0], None), vec![1.0, 2.0]);
        let q = QParams {
            scale: 1.0,
            zero_point: 0,
        };
        let mut p = Params::Int8(QSpec {
            input: q,
            output: q,
            weight: vec![1, 2, 3, 4, 5, 6],
            weight_scale: vec![0.1, 0.2],
            bias: vec![10, 20],
            multiplier: vec![1 << 30, 1 << 30],
            shift: vec![-1, -2],
            clamp: [-128, 127],
        });
        p.gather_rows(2, 3, |r| 1 - r);
        p.gather_cols(2, 3, |j| 2 - j);
        let Params::Int8(q) = p else { unreachable!() };
        assert_eq!(q.weight, vec![6, 5, 4, 3, 2, 1]);
        assert_eq!(
            (q.bias, q.weight_scale, q.shift),
            (vec![20, 10], vec![0.2, 0.1], vec![-2, -1])
        );
    }

    #[test]
    fn paddings() {
        const SAME: fb::Padding = fb::Padding::SAME;
        const VALID: fb::Padding = fb::Padding::VALID;
        assert_eq!(conv_padding(SAME, 5, 3, 2, 3), Ok(1));
        assert_eq!(conv_padding(SAME, 5, 3, 1, 5), Ok(1));
        // SAME, 4 -> 2 with kernel 3, stride 2: TFLite pads 0 before, 1 after.
        assert!(conv_padding(SAME, 4, 3, 2, 2).is_err());
        assert_eq!(conv_padding(VALID, 5, 3, 2, 2), Ok(0));
        // SAME, 4 -> 4 with kernel 2: TFLite pads 0 before, 1 after.
        assert!(conv_padding(SAME, 4, 2, 1, 4).is_err());
        // Transposed: SAME 2 -> 4 with kernel 4, stride 2: pad 1.
        assert_eq!(transpose_padding(SAME, 2, 4, 2, 4), Ok((1, 0)));
        // ... with kernel 3 TFLite trims one column at the end only.
        assert!(transpose_padding(SAME, 2, 3, 2, 4).is_err());
        assert_eq!(transpose_padding(VALID, 2, 3, 2, 5), Ok((0, 0)));
        assert_eq!(transpose_padding(SAME, 3, 3, 1, 3), Ok((1, 0)));
    }
}
