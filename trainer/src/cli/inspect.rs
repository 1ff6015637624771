//! `trainer inspect`: a model file's header, dimensions, layers and sizes,
//! and whether it passes the reader's validation (CRCs included).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rrae_format::meta::{Basis, Layer, Normalization, QActivation, QParams, Quant};
use rrae_format::{read, AlignedBytes, Header, ModelFile};
use serde_json::{json, Value};

use crate::metrics::model_size;
use crate::nn::activation;

/// Arguments of `trainer inspect`.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// The model file.
    pub file: PathBuf,
    /// Print the layers as JSON instead, with every quantized layer's
    /// tensors (int8 weights, scales, biases, multipliers, shifts, tables):
    /// what `bench/int8_tflm.py` writes into a `.tflite`.
    #[arg(long)]
    pub json: bool,
}

/// Runs `trainer inspect`.
pub fn exec(args: InspectArgs) -> Result<()> {
    let raw =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let bytes = AlignedBytes::new(&raw);
    if !args.json {
        println!("file: {} ({} bytes)", args.file.display(), raw.len());
    }
    let file = match read(&bytes) {
        Ok(f) => f,
        Err(e) => {
            if let Ok(h) = Header::parse(&bytes) {
                println!("format version: {}.{}", h.major, h.minor);
            }
            println!("validation: FAILED");
            return Err(anyhow::anyhow!("{e}"))
                .with_context(|| format!("{} is not a valid model", args.file.display()));
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&model_json(&file))?);
        return Ok(());
    }
    let (h, m) = (&file.header, &file.meta);
    println!("format version: {}.{}", h.major, h.minor);
    println!("name: {}", m.name);
    println!(
        "input_dim: {}, latent_dim: {}, rank k: {}",
        m.input_dim, m.latent_dim, m.rank
    );
    let norm = match m.normalization {
        Normalization::None => "none".to_string(),
        Normalization::Global { shift, scale } => format!("global (shift {shift}, scale {scale})"),
        Normalization::PerFeature { .. } => "per-feature".to_string(),
    };
    println!("normalization: {norm}");
    let basis = match m.basis {
        Basis::Folded { stored: Some(_) } => "folded (U_k stored)",
        Basis::Folded { stored: None } => "folded",
        Basis::Separate { .. } => "separate",
    };
    println!("basis: {basis}");
    for (what, layers) in [("encoder", &m.encoder), ("decoder", &m.decoder)] {
        println!("{what}:");
        for (i, layer) in layers.iter().enumerate() {
            println!("  {i}: {}", describe(layer));
            if let Some(q) = layer.quant() {
                println!("     {}", describe_quant(&file, q));
            }
        }
    }
    let (params, weight_bytes) = model_size(m);
    println!("parameters: {params}, weight bytes: {weight_bytes}");
    println!(
        "sampler: {}, parameter table: {}",
        yes(m.sampler.is_some()),
        yes(m.params.is_some())
    );
    let unit = if m.is_quantized() { "words" } else { "floats" };
    println!("scratch {unit}: {}", h.scratch);
    println!("CRC: ok (header and body)");
    Ok(())
}

/// One line per layer: kind, widths (image shapes for convolutions),
/// geometry, activation.
fn describe(layer: &Layer) -> String {
    let pair = |[h, w]: [u32; 2]| format!("{h}x{w}");
    let (kind, conv, out, extra) = match *layer {
        Layer::Dense {
            in_dim,
            out_dim,
            activation,
            ..
        } => {
            return format!(
                "dense {in_dim} -> {out_dim}, {}",
                activation::name(activation)
            )
        }
        Layer::QDense {
            in_dim, out_dim, ..
        } => {
            return format!(
                "int8 dense {in_dim} -> {out_dim}, {}",
                activation::name(layer.activation())
            )
        }
        Layer::Conv2d(c) => ("conv2d", c.geometry(), c.conv2d_output(), String::new()),
        Layer::QConv2d { conv, .. } => ("int8 conv2d", conv, conv.conv2d_output(), String::new()),
        Layer::QConvTranspose2d {
            conv,
            output_padding,
            ..
        } => (
            "int8 conv-transpose2d",
            conv,
            conv.transposed_output(output_padding),
            format!(", output padding {}", pair(output_padding)),
        ),
        Layer::ConvTranspose2d {
            conv,
            output_padding,
        } => (
            "conv-transpose2d",
            conv.geometry(),
            conv.transposed_output(output_padding),
            format!(", output padding {}", pair(output_padding)),
        ),
    };
    // The file was validated, so the geometry is valid.
    let [ho, wo] = out.unwrap_or([0, 0]);
    format!(
        "{kind} {}x{}x{} -> {}x{ho}x{wo} (kernel {}, stride {}, padding {}{extra}), {}",
        conv.in_channels,
        conv.in_height,
        conv.in_width,
        conv.out_channels,
        pair(conv.kernel),
        pair(conv.stride),
        pair(conv.padding),
        activation::name(layer.activation())
    )
}

/// `scale s, zero point z`.
fn qp(p: QParams) -> String {
    format!("scale {:e}, zero point {}", p.scale, p.zero_point)
}

/// The second line of a quantized layer: input/output parameters, weight
/// scales, activation.
fn describe_quant(file: &ModelFile<'_>, q: &Quant) -> String {
    let scales = file.tensor(q.weight_scale);
    let (lo, hi) = scales
        .iter()
        .fold((f32::INFINITY, 0.0f32), |(l, h), &v| (l.min(v), h.max(v)));
    let act = match q.activation {
        QActivation::Clamp { min, max } => format!("clamp {min}..{max}"),
        QActivation::Table { output, source, .. } => {
            format!("{} table -> {}", activation::name(source), qp(output))
        }
    };
    format!(
        "int8: input {}; weight scales {} ({lo:e}..{hi:e}); requantized {}; {act}",
        qp(q.input),
        scales.len(),
        qp(q.output)
    )
}

/// The JSON of `qp`.
fn qp_json(p: QParams) -> Value {
    json!({ "scale": p.scale, "zero_point": p.zero_point })
}

/// One layer as JSON: kind, widths, geometry, activation and, for a
/// quantized layer, all of its tensors.
fn layer_json(file: &ModelFile<'_>, layer: &Layer) -> Value {
    let (in_dim, out_dim) = layer.dims();
    let kind = match layer {
        Layer::Dense { .. } | Layer::QDense { .. } => "dense",
        Layer::Conv2d(_) | Layer::QConv2d { .. } => "conv2d",
        _ => "conv_transpose2d",
    };
    let mut v = json!({
        "kind": kind,
        "in_dim": in_dim,
        "out_dim": out_dim,
        "activation_name": activation::name(layer.activation()),
    });
    if let Some(g) = layer.conv_geometry() {
        v["conv"] = json!({
            "in_channels": g.in_channels, "in_height": g.in_height, "in_width": g.in_width,
            "out_channels": g.out_channels, "kernel": g.kernel, "stride": g.stride,
            "padding": g.padding,
        });
    }
    if let Layer::ConvTranspose2d { output_padding, .. }
    | Layer::QConvTranspose2d { output_padding, .. } = layer
    {
        v["output_padding"] = json!(output_padding);
    }
    if let Some(q) = layer.quant() {
        v["input"] = qp_json(q.input);
        v["output"] = qp_json(q.output);
        v["weight"] = json!(file.tensor_i8(q.weight));
        v["weight_scale"] = json!(file.tensor(q.weight_scale));
        v["bias"] = json!(file.tensor_i32(q.bias));
        v["multiplier"] = json!(file.tensor_i32(q.multiplier));
        v["shift"] = json!(file.tensor_i32(q.shift));
        v["activation"] = match q.activation {
            QActivation::Clamp { min, max } => json!({ "clamp": [min, max] }),
            QActivation::Table {
                table,
                output,
                source,
            } => json!({ "table": {
                "values": file.tensor_i8(table),
                "output": qp_json(output),
                "source": activation::name(source),
            }}),
        };
    }
    v
}

/// The model's dimensions and layers as JSON.
fn model_json(file: &ModelFile<'_>) -> Value {
    let m = &file.meta;
    let layers = |ls: &[Layer]| ls.iter().map(|l| layer_json(file, l)).collect::<Vec<_>>();
    json!({
        "format_version": [file.header.major, file.header.minor],
        "name": m.name,
        "input_dim": m.input_dim,
        "rank": m.rank,
        "normalization": match m.normalization {
            Normalization::None => "none",
            Normalization::Global { .. } => "global",
            Normalization::PerFeature { .. } => "per-feature",
        },
        "encoder": layers(&m.encoder),
        "decoder": layers(&m.decoder),
    })
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
