//! The plots `trainer fit` writes next to `model.rrae` (see [`crate::plots`]):
//!
//! * [`LOSS_PNG`]: training loss over the steps (and k for adaptive runs);
//! * [`SPECTRUM_PNG`]: singular values of the training latents, chosen k marked;
//! * [`RECONSTRUCTIONS_PNG`]: a few test samples, evenly spread over the test
//!   set, against their reconstruction by the exported model: curves, or for
//!   image data (1 or 3 channels) a grid of [`RECONSTRUCTED_IMAGES`]
//!   originals above their reconstructions;
//! * [`SAMPLES_PNG`]: decoded samples from the coefficient Gaussian
//!   (`trainer fit --samples N`), as curves or as an image grid.
//!
//! Plots are a by-product: a plot that cannot be drawn (for example a
//! diverged run with non-finite outputs) is reported as a warning, never as a
//! failure of the run.

use std::path::Path;

use anyhow::{Context, Result};
use ndarray::{ArrayView2, Axis};

use crate::cli::sample;
use crate::metrics::LoadedModel;
use crate::plots;

/// Loss curve file name.
pub const LOSS_PNG: &str = "loss.png";
/// Singular spectrum file name.
pub const SPECTRUM_PNG: &str = "spectrum.png";
/// Reconstructions file name.
pub const RECONSTRUCTIONS_PNG: &str = "reconstructions.png";
/// Generated samples file name.
pub const SAMPLES_PNG: &str = "samples.png";
/// Test samples shown in [`RECONSTRUCTIONS_PNG`].
pub const RECONSTRUCTED: usize = 6;
/// Test images shown in [`RECONSTRUCTIONS_PNG`] for image data.
pub const RECONSTRUCTED_IMAGES: usize = 8;
/// Most points kept in a loss history.
pub const MAX_LOSS_POINTS: usize = 2000;

/// A `(step, loss)` record of a run, kept to at most [`MAX_LOSS_POINTS`]
/// points by recording every `stride`-th step (and the last one).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LossHistory {
    stride: usize,
    /// Recorded `(step, loss %)` pairs, in step order.
    pub points: Vec<(usize, f64)>,
}

impl LossHistory {
    /// A history for a run of `total` steps.
    pub fn new(total: usize) -> Self {
        Self {
            stride: total.div_ceil(MAX_LOSS_POINTS).max(1),
            points: Vec::new(),
        }
    }

    /// Records the loss of `step` (of `total`) if it falls on the stride.
    pub fn record(&mut self, step: usize, total: usize, loss: f64) {
        if step % self.stride == 0 || step == total {
            self.points.push((step, loss));
        }
    }
}

/// What the fit plots are drawn from.
#[derive(Clone, Copy)]
pub struct FitPlots<'a> {
    /// Training loss history.
    pub loss: &'a LossHistory,
    /// `(step, k)` changes of an adaptive run, if any.
    pub k_history: Option<&'a [(usize, usize)]>,
    /// Singular values of the training latents.
    pub singular_values: &'a [f64],
    /// The rank kept.
    pub k: usize,
    /// Test samples (original units).
    pub test: ArrayView2<'a, f32>,
    /// The exported model.
    pub model: &'a LoadedModel,
    /// `(C, H, W)` when the samples are images.
    pub image_shape: Option<(usize, usize, usize)>,
}

/// Whether `shape` is an image shape the image plots can draw (1 or 3
/// channels); other data fall back to curves.
fn drawable(shape: Option<(usize, usize, usize)>) -> Option<(usize, usize, usize)> {
    shape.filter(|s| s.0 == 1 || s.0 == 3)
}

/// Writes loss, spectrum and reconstruction plots into `dir`; returns one
/// warning per plot that could not be written.
pub fn write_fit_plots(dir: &Path, p: &FitPlots<'_>) -> Vec<String> {
    let (steps, loss): (Vec<usize>, Vec<f64>) = p.loss.points.iter().copied().unzip();
    let n = p.test.nrows();
    let image = drawable(p.image_shape);
    let m = n.min(if image.is_some() {
        RECONSTRUCTED_IMAGES
    } else {
        RECONSTRUCTED
    });
    let rows: Vec<usize> = (0..m).map(|i| i * (n - 1) / (m - 1).max(1)).collect();
    let shown = p.test.select(Axis(0), &rows);
    let shown = shown.view();
    let results = [
        (
            LOSS_PNG,
            plots::loss_curve(dir.join(LOSS_PNG), &steps, &loss, p.k_history)
                .map_err(anyhow::Error::from),
        ),
        (
            SPECTRUM_PNG,
            plots::singular_spectrum(dir.join(SPECTRUM_PNG), p.singular_values, p.k)
                .map_err(anyhow::Error::from),
        ),
        (
            RECONSTRUCTIONS_PNG,
            p.model.reconstruct(shown).and_then(|x_hat| {
                let path = dir.join(RECONSTRUCTIONS_PNG);
                match image {
                    Some(shape) => plots::image_reconstructions(path, shown, x_hat.view(), shape),
                    None => plots::reconstructions_1d(path, shown, x_hat.view(), RECONSTRUCTED),
                }
                .map_err(anyhow::Error::from)
            }),
        ),
    ];
    results
        .into_iter()
        .filter_map(|(name, r)| {
            r.err()
                .map(|e| format!("warning: {name} not written: {e:#}"))
        })
        .collect()
}

/// Writes [`SAMPLES_PNG`] into `dir`: `n` decoded samples from the model's
/// coefficient Gaussian (seed `seed`), as images when `image_shape` is given.
pub fn write_samples_plot(
    dir: &Path,
    model: &LoadedModel,
    n: usize,
    seed: u64,
    image_shape: Option<(usize, usize, usize)>,
) -> Result<()> {
    let x = sample::generate(model, n, seed).context("sampling")?;
    sample::plot_samples(
        &dir.join(SAMPLES_PNG),
        &format!("{n} samples from the coefficient Gaussian"),
        &x,
        image_shape,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_history_is_subsampled_and_keeps_the_last_step() {
        let mut h = LossHistory::new(10_000);
        for step in 1..=10_000 {
            h.record(step, 10_000, 1.0);
        }
        assert!(h.points.len() <= MAX_LOSS_POINTS);
        assert_eq!(h.points.last(), Some(&(10_000, 1.0)));
        let mut short = LossHistory::new(7);
        for step in 1..=7 {
            short.record(step, 7, 2.0);
        }
        assert_eq!(short.points.len(), 7);
    }
}
