//! Layers and activations as Python values: parsed from the layer dicts that
//! `rrae.write` takes, and described as dicts in `Model.meta`.
//!
//! An activation is a name (`"identity"`, `"relu"`, `"tanh"`, `"sigmoid"`,
//! `"softplus"`) or a `(name, parameter)` pair (`("leaky_relu", slope)`,
//! `("elu", alpha)`). A layer is a dict with `"kind"` (`"dense"`,
//! `"conv2d"`, `"conv_transpose2d"`), `"weight"`, `"bias"` and
//! `"activation"`; convolutions add `"input_shape"` `(C, H, W)`, `"stride"`,
//! `"padding"` (an int or an `(h, w)` pair, default 1 and 0) and, transposed,
//! `"output_padding"` (default 0).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rrae_format::meta::{Activation, Conv, Layer, QActivation, QParams};
use rrae_format::ModelWriter;

use crate::array::tensor;

/// Parses an activation (see the module doc); `at` names the layer in errors.
pub fn parse_activation(value: &Bound<'_, PyAny>, at: &str) -> PyResult<Activation> {
    let (name, param): (String, Option<f32>) = match value.extract::<String>() {
        Ok(name) => (name, None),
        Err(_) => value
            .extract::<(String, f32)>()
            .map(|(n, p)| (n, Some(p)))
            .map_err(|_| {
                PyValueError::new_err(format!(
                    "{at}: activation must be a name or a (name, parameter) pair, got {value}"
                ))
            })?,
    };
    let act = match (name.as_str(), param) {
        ("identity", None) => Activation::Identity,
        ("relu", None) => Activation::Relu,
        ("tanh", None) => Activation::Tanh,
        ("sigmoid", None) => Activation::Sigmoid,
        ("softplus", None) => Activation::Softplus,
        ("leaky_relu", Some(slope)) => Activation::LeakyRelu { slope },
        ("elu", Some(alpha)) => Activation::Elu { alpha },
        ("leaky_relu" | "elu", None) => {
            return Err(PyValueError::new_err(format!(
                "{at}: activation {name:?} needs a parameter: ({name:?}, value)"
            )))
        }
        _ => {
            return Err(PyValueError::new_err(format!(
                "{at}: unknown activation {value} (identity, relu, tanh, sigmoid, softplus, \
                 (leaky_relu, slope), (elu, alpha))"
            )))
        }
    };
    Ok(act)
}

/// The Python value of an activation: a name, or `(name, parameter)`.
pub fn describe_activation<'py>(py: Python<'py>, a: Activation) -> PyResult<Bound<'py, PyAny>> {
    let name = |s: &str| -> PyResult<Bound<'py, PyAny>> { Ok(s.into_pyobject(py)?.into_any()) };
    match a {
        Activation::Identity => name("identity"),
        Activation::Relu => name("relu"),
        Activation::Tanh => name("tanh"),
        Activation::Sigmoid => name("sigmoid"),
        Activation::Softplus => name("softplus"),
        Activation::LeakyRelu { slope } => Ok(PyTuple::new(
            py,
            [name("leaky_relu")?, slope.into_pyobject(py)?.into_any()],
        )?
        .into_any()),
        Activation::Elu { alpha } => {
            Ok(PyTuple::new(py, [name("elu")?, alpha.into_pyobject(py)?.into_any()])?.into_any())
        }
    }
}

/// `dict[key]`, or a `ValueError` naming where (`at`) and the key.
pub fn required<'py>(d: &Bound<'py, PyDict>, key: &str, at: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?
        .ok_or_else(|| PyValueError::new_err(format!("{at}: missing key {key:?}")))
}

/// An `[h, w]` pair from an int or a 2-tuple (`default` if absent).
fn pair(d: &Bound<'_, PyDict>, key: &str, default: u32, at: &str) -> PyResult<[u32; 2]> {
    let Some(v) = d.get_item(key)? else {
        return Ok([default, default]);
    };
    if let Ok(n) = v.extract::<u32>() {
        return Ok([n, n]);
    }
    v.extract::<(u32, u32)>().map(|(h, w)| [h, w]).map_err(|_| {
        PyValueError::new_err(format!(
            "{at}: {key} must be a non-negative int or an (h, w) pair, got {v}"
        ))
    })
}

/// Errors unless `shape == expected` (`what` of layer `at`).
fn check_shape(shape: &[usize], expected: &[usize], what: &str, at: &str) -> PyResult<()> {
    if shape == expected {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "{at}: {what} has shape {shape:?}, expected {expected:?}"
        )))
    }
}

/// `v` as a `u32`, or a `ValueError` naming it.
fn dim(v: usize, what: &str, at: &str) -> PyResult<u32> {
    u32::try_from(v).map_err(|_| PyValueError::new_err(format!("{at}: {what} {v} is too large")))
}

/// Parses one layer dict (see the module doc), appending its tensors to `w`.
/// `at` names the layer in errors (e.g. `encoder_layers[2]`).
pub fn parse_layer(value: &Bound<'_, PyAny>, w: &mut ModelWriter, at: &str) -> PyResult<Layer> {
    let d = value
        .cast::<PyDict>()
        .map_err(|_| PyValueError::new_err(format!("{at}: a layer must be a dict, got {value}")))?;
    let kind: String = required(d, "kind", at)?.extract()?;
    let (weight, wshape) = tensor(&required(d, "weight", at)?, &format!("{at}.weight"))?;
    let (bias, bshape) = tensor(&required(d, "bias", at)?, &format!("{at}.bias"))?;
    let activation = match d.get_item("activation")? {
        Some(a) => parse_activation(&a, at)?,
        None => Activation::Identity,
    };
    if kind == "dense" {
        let [out_dim, in_dim] = wshape[..] else {
            return Err(PyValueError::new_err(format!(
                "{at}: weight must be 2-D (out, in), got shape {wshape:?}"
            )));
        };
        check_shape(&bshape, &[out_dim], "bias", at)?;
        return Ok(Layer::Dense {
            in_dim: dim(in_dim, "in_dim", at)?,
            out_dim: dim(out_dim, "out_dim", at)?,
            weight: w.tensor(&weight),
            bias: w.tensor(&bias),
            activation,
        });
    }
    let transposed = match kind.as_str() {
        "conv2d" => false,
        "conv_transpose2d" => true,
        _ => {
            return Err(PyValueError::new_err(format!(
                "{at}: unknown layer kind {kind:?} (dense, conv2d, conv_transpose2d)"
            )))
        }
    };
    let [a, b, kh, kw] = wshape[..] else {
        return Err(PyValueError::new_err(format!(
            "{at}: weight must be 4-D, got shape {wshape:?}"
        )));
    };
    // Conv2d weights are out x in x kh x kw, transposed ones in x out x kh x kw.
    let (in_channels, out_channels) = if transposed { (a, b) } else { (b, a) };
    let (c, h, wd): (u32, u32, u32) = required(d, "input_shape", at)?
        .extract()
        .map_err(|_| PyValueError::new_err(format!("{at}: input_shape must be (C, H, W)")))?;
    if c as usize != in_channels {
        return Err(PyValueError::new_err(format!(
            "{at}: input_shape has {c} channels, the weight has {in_channels}"
        )));
    }
    check_shape(&bshape, &[out_channels], "bias", at)?;
    let conv = Conv {
        in_channels: c,
        in_height: h,
        in_width: wd,
        out_channels: dim(out_channels, "out_channels", at)?,
        kernel: [dim(kh, "kernel height", at)?, dim(kw, "kernel width", at)?],
        stride: pair(d, "stride", 1, at)?,
        padding: pair(d, "padding", 0, at)?,
        weight: w.tensor(&weight),
        bias: w.tensor(&bias),
        activation,
    };
    Ok(if transposed {
        Layer::ConvTranspose2d {
            conv,
            output_padding: pair(d, "output_padding", 0, at)?,
        }
    } else {
        Layer::Conv2d(conv)
    })
}

/// A layer's description for `Model.meta`: kind (`q`-prefixed for int8
/// layers), flat widths, activation, for convolutions the geometry (without
/// the weights) and for int8 layers their input and output quantization.
pub fn describe_layer<'py>(py: Python<'py>, layer: &Layer) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let (in_dim, out_dim) = layer.dims();
    let kind = match layer {
        Layer::Dense { .. } => "dense",
        Layer::Conv2d(_) => "conv2d",
        Layer::ConvTranspose2d { .. } => "conv_transpose2d",
        Layer::QDense { .. } => "qdense",
        Layer::QConv2d { .. } => "qconv2d",
        Layer::QConvTranspose2d { .. } => "qconv_transpose2d",
    };
    d.set_item("kind", kind)?;
    if let Layer::ConvTranspose2d { output_padding, .. }
    | Layer::QConvTranspose2d { output_padding, .. } = layer
    {
        d.set_item("output_padding", (output_padding[0], output_padding[1]))?;
    }
    d.set_item("in_dim", in_dim)?;
    d.set_item("out_dim", out_dim)?;
    d.set_item("activation", describe_activation(py, layer.activation())?)?;
    if let Some(c) = layer.conv_geometry() {
        d.set_item("input_shape", (c.in_channels, c.in_height, c.in_width))?;
        d.set_item("out_channels", c.out_channels)?;
        d.set_item("kernel", (c.kernel[0], c.kernel[1]))?;
        d.set_item("stride", (c.stride[0], c.stride[1]))?;
        d.set_item("padding", (c.padding[0], c.padding[1]))?;
    }
    if let Some(q) = layer.quant() {
        let qp = |p: QParams| (p.scale, p.zero_point);
        d.set_item("input_qparams", qp(q.input))?;
        d.set_item("output_qparams", qp(q.output_qparams()))?;
        if let QActivation::Clamp { min, max } = q.activation {
            d.set_item("clamp", (min, max))?;
        }
    }
    Ok(d)
}
