//! `trainer import`: a TensorFlow Lite flatbuffer (`.tflite`, f32 or int8)
//! as a `.rrae` model ([`crate::tflite::import`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::tflite::{import, ImportOptions, Kind};

/// Arguments of `trainer import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The `.tflite` file.
    pub model: PathBuf,
    /// Output `.rrae` file.
    #[arg(long)]
    pub out: PathBuf,
    /// Index (from 0, among the layers listed by this command) of the code
    /// layer; default: the layer with the narrowest output.
    #[arg(long)]
    pub code_layer: Option<usize>,
    /// Model name stored in the file (default: the input's file stem).
    #[arg(long)]
    pub name: Option<String>,
}

/// Runs `trainer import`.
pub fn exec(args: ImportArgs) -> Result<()> {
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let name = args.name.clone().unwrap_or_else(|| {
        let stem = args.model.file_stem().unwrap_or_default();
        stem.to_string_lossy().into_owned()
    });
    let opts = ImportOptions {
        code_layer: args.code_layer,
        name,
    };
    let m = import(&bytes, &opts).with_context(|| format!("importing {}", args.model.display()))?;
    for (i, s) in m.layers.iter().enumerate() {
        let kind = match s.kind {
            Kind::Dense => "dense",
            Kind::Conv2d(_) => "conv2d",
            Kind::ConvTranspose2d(..) => "conv-transpose2d",
        };
        let kind = if s.params.is_int8() {
            format!("int8 {kind}")
        } else {
            kind.to_string()
        };
        let code = if i == m.code_layer { "  <- code" } else { "" };
        println!(
            "layer {i} (operator {}): {kind} {} -> {}{code}",
            s.op_index, s.in_dim, s.out_dim
        );
    }
    crate::atomic::write(&args.out, &m.bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "encoder {} layers, decoder {}, rank {} -> {} ({} bytes)",
        m.code_layer + 1,
        m.layers.len() - m.code_layer - 1,
        m.rank,
        args.out.display(),
        m.bytes.len()
    );
    Ok(())
}
