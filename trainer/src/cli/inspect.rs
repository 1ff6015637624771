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
        for (
            i,
            Layer::Dense {
                in_dim,
                out_dim,
                activation: act,
                ..
            },
        ) in layers.iter().enumerate()
        {
            println!(
                "  {i}: dense {in_dim} -> {out_dim}, {}",
                activation::name(*act)
            );
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

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
