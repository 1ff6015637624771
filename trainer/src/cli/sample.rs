//! `trainer sample`: generate new samples from a model's coefficient
//! Gaussian. Standard-normal draws `z` (seeded) are mapped to coefficients
//! `α = μ + L z` by the runtime ([`rrae_runtime::Model::sample`]) and decoded
//! by the runtime; the samples are written as an `N x input_dim` matrix.
//!
//! With `--png`, samples are drawn as curves, or as an image grid when an
//! image shape is known: `--image-shape C,H,W` (a `.rrae` file of an MLP
//! stores no image shape; a model whose first layer is a convolution could
//! supply it, see [`resolve_image_shape`]).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use crate::data;
use crate::metrics::LoadedModel;
use crate::plots;

/// Arguments of `trainer sample`.
#[derive(Debug, Clone, Args)]
pub struct SampleArgs {
    /// The model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Number of samples.
    #[arg(short = 'n', long = "count", default_value_t = 16)]
    pub n: usize,
    /// Seed of the standard-normal draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output matrix (.npy or .csv), one sample per row.
    #[arg(long)]
    pub out: PathBuf,
    /// Also plot the samples to this PNG file.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Draw the samples as C x H x W images in the PNG (e.g. 1,28,28).
    #[arg(long, value_name = "C,H,W", value_parser = super::parse_image_shape, requires = "png")]
    pub image_shape: Option<super::ImageShape>,
}

/// `n x k` independent standard-normal draws from `seed`.
pub fn standard_normal(n: usize, k: usize, seed: u64) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, k), || StandardNormal.sample(&mut rng))
}

/// The runtime's coefficients `α = μ + L z` for every row of `z` (`n x k`).
pub fn coefficients(loaded: &LoadedModel, z: &Array2<f32>) -> Result<Array2<f32>> {
    let model = loaded.model()?;
    let mut alpha = Array2::zeros(z.raw_dim());
    let mut zr = vec![0.0f32; z.ncols()];
    for (src, mut dst) in z.rows().into_iter().zip(alpha.rows_mut()) {
        zr.iter_mut().zip(src).for_each(|(d, &s)| *d = s);
        let out = dst
            .as_slice_mut()
            .ok_or_else(|| anyhow!("non-contiguous output"))?;
        model
            .sample(&zr, out)
            .map_err(|e| anyhow!("sampling: {e}"))?;
    }
    Ok(alpha)
}

/// `n` decoded samples (`n x input_dim`, original units) from `seed`.
pub fn generate(loaded: &LoadedModel, n: usize, seed: u64) -> Result<Array2<f32>> {
    let z = standard_normal(n, loaded.model()?.rank(), seed);
    loaded.decode(coefficients(loaded, &z)?.view())
}

/// Plots rows of `y` as curves into `path`, with `title`.
pub fn plot_curves(path: &Path, title: &str, y: &Array2<f32>) -> Result<()> {
    plots::curves(path, title, y.view()).with_context(|| format!("plotting {}", path.display()))
}

/// The image shape to draw a model's outputs with: the `--image-shape` flag,
/// else the data's (`from_data`), else the input of the model's first
/// encoder layer if it is a convolution (CNN models), checked against the
/// model's input size.
pub fn resolve_image_shape(
    loaded: &LoadedModel,
    flag: Option<super::ImageShape>,
    from_data: Option<super::ImageShape>,
    model: &Path,
) -> Result<Option<super::ImageShape>> {
    let Some(shape) = flag.or(from_data).or(model_image_shape(loaded)?) else {
        return Ok(None);
    };
    super::check_image_shape(
        shape,
        loaded.model()?.input_dim(),
        &model.display().to_string(),
    )?;
    Ok(Some(shape))
}

/// `(C, H, W)` of a model whose first encoder layer is a convolution, or
/// whose last decoder layer is a convolution onto a grid of more than one
/// row (a coordinate decoder on images; one row is a signal).
fn model_image_shape(loaded: &LoadedModel) -> Result<Option<super::ImageShape>> {
    use rrae_format::meta::Layer;
    let model = loaded.model()?;
    let meta = model.meta();
    Ok(match (meta.encoder.first(), meta.decoder.last()) {
        (Some(Layer::Conv2d(c)), _) => Some((
            c.in_channels as usize,
            c.in_height as usize,
            c.in_width as usize,
        )),
        (_, Some(Layer::Conv2d(c))) => match c.conv2d_output()? {
            [h, w] if h > 1 => Some((c.out_channels as usize, h as usize, w as usize)),
            _ => None,
        },
        _ => None,
    })
}

/// Plots generated samples `y` into `path`: an image grid when `shape` is
/// given with 1 or 3 channels, else curves.
pub fn plot_samples(
    path: &Path,
    title: &str,
    y: &Array2<f32>,
    shape: Option<super::ImageShape>,
) -> Result<()> {
    match shape {
        Some(s) if s.0 == 1 || s.0 == 3 => {
            let cols = (y.nrows() as f64).sqrt().ceil().clamp(1.0, 12.0) as usize;
            plots::image_samples(path, title, y.view(), s, cols)
                .with_context(|| format!("plotting {}", path.display()))
        }
        _ => plot_curves(path, title, y),
    }
}

/// Runs `trainer sample`.
pub fn exec(args: SampleArgs) -> Result<()> {
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    let loaded = LoadedModel::from_path(&args.model)?;
    super::check_output_size(args.n, loaded.model()?.input_dim(), "-n")?;
    let shape = resolve_image_shape(&loaded, args.image_shape, None, &args.model)?;
    let x = generate(&loaded, args.n, args.seed)?;
    data::files::write_matrix(&args.out, x.view())?;
    if let Some(png) = &args.png {
        let title = format!("{} samples (seed {})", args.n, args.seed);
        plot_samples(png, &title, &x, shape)?;
    }
    println!(
        "{} samples of {} values -> {}",
        x.nrows(),
        x.ncols(),
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rrae_format::testing::{tiny_cnn_model, tiny_model};

    #[test]
    fn image_shape_comes_from_flag_data_or_a_first_convolution() {
        let path = Path::new("m.rrae");
        let (_, cnn) = tiny_cnn_model();
        let cnn = LoadedModel::new(&cnn).unwrap();
        let first = match cnn.model().unwrap().meta().encoder.first() {
            Some(rrae_format::meta::Layer::Conv2d(c)) => (c.in_channels, c.in_height, c.in_width),
            other => panic!("not a conv model: {other:?}"),
        };
        let (c, h, w) = (first.0 as usize, first.1 as usize, first.2 as usize);
        assert_eq!(
            resolve_image_shape(&cnn, None, None, path).unwrap(),
            Some((c, h, w))
        );
        // An explicit flag wins, and is checked against the input size.
        let n = c * h * w;
        assert_eq!(
            resolve_image_shape(&cnn, Some((1, 1, n)), None, path).unwrap(),
            Some((1, 1, n))
        );
        assert!(resolve_image_shape(&cnn, Some((1, 1, n + 1)), None, path).is_err());
        // A dense model has no shape of its own.
        let (_, dense) = tiny_model();
        let dense = LoadedModel::new(&dense).unwrap();
        assert_eq!(resolve_image_shape(&dense, None, None, path).unwrap(), None);
    }
}
