//! `trainer interpolate`: a path between two samples in coefficient space.
//! Rows `I` and `J` of a data file or built-in split are encoded, the
//! coefficients `α(t) = (1 − t) α_I + t α_J` are formed by
//! [`rrae_runtime::Model::interpolate`] at `T` evenly spaced `t` (ends
//! included), and decoded by the runtime.
//!
//! With `--png`, the path is drawn as curves, or as a strip of images when an
//! image shape is known (`--image-shape C,H,W`, or the data's own shape for
//! image files and `2d_gaussian_shift_scale`); a path of more than
//! [`plots::MAX_IMAGE_COLUMNS`] points is drawn as curves.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use ndarray::{Array2, ArrayView1};
use rrae_runtime::Model;

use crate::data;
use crate::metrics::LoadedModel;
use crate::plots;

use super::sample::{plot_curves, resolve_image_shape};

/// Which split of a built-in dataset to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Split {
    /// The training samples.
    Train,
    /// The test samples.
    Test,
}

/// Arguments of `trainer interpolate`.
#[derive(Debug, Clone, Args)]
pub struct InterpolateArgs {
    /// The model file.
    #[arg(long)]
    pub model: PathBuf,
    /// A data file or image directory (the formats of `fit --data`).
    #[arg(long, conflicts_with = "dataset", required_unless_present = "dataset")]
    pub data: Option<PathBuf>,
    /// A built-in dataset.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Split of the built-in dataset.
    #[arg(long, value_enum, default_value = "test", requires = "dataset")]
    pub split: Split,
    /// Row of the start sample (0-based).
    #[arg(long)]
    pub from: usize,
    /// Row of the end sample (0-based).
    #[arg(long)]
    pub to: usize,
    /// Points on the path, both ends included (at least 2).
    #[arg(long, default_value_t = 7)]
    pub steps: usize,
    /// Output matrix (.npy or .csv), one point of the path per row.
    #[arg(long)]
    pub out: PathBuf,
    /// Also plot the path to this PNG file.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Draw the path as C x H x W images in the PNG (e.g. 1,28,28); image
    /// data files and image data sets give it without this flag.
    #[arg(long, value_name = "C,H,W", value_parser = super::parse_image_shape, requires = "png")]
    pub image_shape: Option<super::ImageShape>,
}

/// Decoded points `d((1 − t) α_a + t α_b)` for `steps` evenly spaced `t` in
/// `[0, 1]` (`steps x input_dim`, original units).
pub fn path(
    loaded: &LoadedModel,
    a: ArrayView1<f32>,
    b: ArrayView1<f32>,
    steps: usize,
) -> Result<Array2<f32>> {
    if steps < 2 {
        bail!("--steps must be at least 2 (both ends are included)");
    }
    super::check_output_size(steps, loaded.model()?.input_dim(), "--steps")?;
    let (a, b) = (a.to_vec(), b.to_vec());
    let mut alpha = Array2::zeros((steps, a.len()));
    for (i, mut row) in alpha.rows_mut().into_iter().enumerate() {
        let t = i as f32 / (steps - 1) as f32;
        let out = row
            .as_slice_mut()
            .ok_or_else(|| anyhow!("non-contiguous output"))?;
        Model::interpolate(&a, &b, t, out).map_err(|e| anyhow!("interpolating: {e}"))?;
    }
    loaded.decode(alpha.view())
}

/// Runs `trainer interpolate`.
pub fn exec(args: InterpolateArgs) -> Result<()> {
    let loaded = LoadedModel::from_path(&args.model)?;
    let (x, source, data_shape) = match (&args.data, &args.dataset) {
        (Some(p), _) => {
            let s = data::files::load_samples(p, None)
                .with_context(|| format!("loading {}", p.display()))?;
            (s.x, p.display().to_string(), s.image_shape)
        }
        (None, Some(name)) => {
            let ds =
                data::synthetic::load(name).with_context(|| format!("loading dataset '{name}'"))?;
            let (x, split) = match args.split {
                Split::Train => (ds.train, "train"),
                Split::Test => (ds.test, "test"),
            };
            (x, format!("{name} ({split})"), ds.image_shape)
        }
        (None, None) => bail!("give --data FILE or --dataset NAME"),
    };
    for (flag, row) in [("--from", args.from), ("--to", args.to)] {
        if row >= x.nrows() {
            bail!(
                "{flag} {row} is out of range: {source} has {} rows",
                x.nrows()
            );
        }
    }
    let shape = match args.png {
        Some(_) => resolve_image_shape(&loaded, args.image_shape, data_shape, &args.model)?,
        None => None,
    };
    let ends = loaded.encode(x.select(ndarray::Axis(0), &[args.from, args.to]).view())?;
    let y = path(&loaded, ends.row(0), ends.row(1), args.steps)?;
    data::files::write_matrix(&args.out, y.view())?;
    if let Some(png) = &args.png {
        let title = format!("{source}: row {} to row {}", args.from, args.to);
        match shape {
            Some(s) if (s.0 == 1 || s.0 == 3) && y.nrows() <= plots::MAX_IMAGE_COLUMNS => {
                plots::image_interpolation(png, &title, y.view(), s)
                    .with_context(|| format!("plotting {}", png.display()))?;
            }
            _ => plot_curves(png, &title, &y)?,
        }
    }
    println!(
        "{} points from row {} to row {} of {source} -> {}",
        y.nrows(),
        args.from,
        args.to,
        args.out.display()
    );
    Ok(())
}
