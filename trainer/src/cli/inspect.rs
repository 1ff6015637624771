//! `trainer inspect`: a model file's header, dimensions, layers and sizes,
//! and whether it passes the reader's validation (CRCs included).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rrae_format::meta::{Basis, Layer, Normalization};
use rrae_format::{read, AlignedBytes, Header};

use crate::metrics::model_size;
use crate::nn::activation;

/// Arguments of `trainer inspect`.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// The model file.
    pub file: PathBuf,
}

/// Runs `trainer inspect`.
pub fn exec(args: InspectArgs) -> Result<()> {
    let raw =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let bytes = AlignedBytes::new(&raw);
    println!("file: {} ({} bytes)", args.file.display(), raw.len());
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
        }
    }
    let (params, weight_bytes) = model_size(m);
    println!("parameters: {params}, weight bytes: {weight_bytes}");
    println!(
        "sampler: {}, parameter table: {}",
        yes(m.sampler.is_some()),
        yes(m.params.is_some())
    );
    println!("scratch floats: {}", h.scratch);
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
        Layer::Conv2d(c) => ("conv2d", c, c.conv2d_output(), String::new()),
        Layer::ConvTranspose2d {
            conv,
            output_padding,
        } => (
            "conv-transpose2d",
            conv,
            conv.transposed_output(output_padding),
            format!(", output padding {}", pair(output_padding)),
        ),
        // Int8 layers (format 1.2): widths only, until inspect describes them.
        _ => {
            let (i, o) = layer.dims();
            return format!("int8 {i} -> {o}, {}", activation::name(layer.activation()));
        }
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
        activation::name(conv.activation)
    )
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
