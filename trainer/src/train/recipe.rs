//! Candidate recipes chosen on validation (`--recipe auto`, issue #17).
//!
//! The options a user leaves open (architecture, width) are tried as a
//! few short trials: each candidate trains the first
//! [`TrainConfig::restart_steps`] steps of its own schedule on the fit
//! samples, is scored on the validation samples through the same path as
//! the best-checkpoint selection ([`Validation::error`]), and the best one
//! continues. Which candidates exist depends on the data's shape and on
//! how far they are from linear, never on a data set's name
//! ([`candidates`]); [`select_recipe`] is the selection itself, usable by
//! any caller with resolved configurations (e.g. the adaptive search at
//! its final rank).

use anyhow::{Context, Result};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::{Progress, TrainState, Trainer, Validation};
use crate::config::{Arch, FitOptions, RecipeMode, TrainConfig};

/// The wider hidden width tried beside the default one.
pub const WIDE: usize = 128;
/// Values per channel below which a sample is not treated as a signal or
/// image (no coordinate decoder).
pub const MIN_GRID: usize = 16;
/// Validation error (%) of the rank-k linear model (PCA) above which the
/// data count as "features that move" and the coordinate decoder is a
/// candidate. Measured: shift 71 %, stairs 19 %, gaussian_shift 98 %,
/// mult_gausses 74 % (docs/TRAINING.md).
pub const MOVING_LINEAR_ERROR: f64 = 15.0;
/// The first candidate is kept without trying the others when its trial
/// validation error is at most this share of the linear model's. Measured
/// after 500 steps: `shift` 5.7 % against 71 % (0.08), `stairs` 2.4 %
/// against 19 % (0.13), `mult_gausses` 18.1 % against 71 % (0.25; its
/// coordinate-decoder trial alone costs 39 s of CPU), `gaussian_shift`
/// 98.9 % against 98.1 % (1.0: the search runs).
pub const EXCELLENT_SHARE: f64 = 0.5;
/// With fewer validation samples than this, validation only chooses the
/// recipe: the chosen recipe is then trained afresh on all training
/// samples (no checkpoint selection, no linear floor).
pub const REFIT_BELOW: usize = 5;

/// A candidate recipe: a label (`mlp-64`, `coord-64`, …) and the full
/// options it trains with (the user's, with its own fields filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Architecture and width, e.g. `mlp-128`.
    pub label: String,
    /// The options of this candidate.
    pub opts: FitOptions,
}

/// How one candidate did in its trial (`metrics.json`: `recipes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// Architecture and width.
    pub label: String,
    /// Validation error (%) at the end of the trial; `None` when it was
    /// not tried (the first candidate was already excellent).
    pub val_rel_error: Option<f64>,
    /// Steps of the trial (0 when not tried).
    pub trial_steps: usize,
    /// Whether training continued with it.
    pub chosen: bool,
}

/// What decides which candidates apply: the data's shape and how well a
/// linear model of the same rank does on the validation samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataShape {
    /// Features per sample.
    pub input_dim: usize,
    /// `(C, H, W)` for images.
    pub image_shape: Option<(usize, usize, usize)>,
    /// Validation error (%) of the rank-k linear model (`None` without
    /// validation).
    pub linear_val: Option<f64>,
}

impl DataShape {
    /// Whether the samples are signals or images whose features move: at
    /// least [`MIN_GRID`] values per channel, and a linear model of the
    /// same rank leaves more than [`MOVING_LINEAR_ERROR`] % on validation.
    pub fn features_move(&self) -> bool {
        let per_channel = self
            .image_shape
            .map_or(self.input_dim, |(c, h, w)| h * w * usize::from(c > 0));
        per_channel >= MIN_GRID && self.linear_val.is_some_and(|e| e > MOVING_LINEAR_ERROR)
    }
}

/// The candidate recipes for `opts` on data of `shape`, the default first
/// (`--recipe fixed`, or no validation: only that one).
///
/// Open choices: the architecture unless `--arch`, `--dec-depth` or a CNN
/// option pins it (the MLP, and the coordinate decoder when
/// [`DataShape::features_move`]), the width unless `--width` pins it (64
/// and [`WIDE`], for the MLP).
///
/// ```
/// use rrae_trainer::config::FitOptions;
/// use rrae_trainer::train::recipe::{candidates, DataShape};
/// let shape = DataShape { input_dim: 200, image_shape: None, linear_val: Some(70.0) };
/// let labels: Vec<String> = candidates(&FitOptions::default(), &shape)
///     .into_iter()
///     .map(|c| c.label)
///     .collect();
/// assert_eq!(labels, ["mlp-64", "mlp-128", "coord-64"]);
/// let pinned = FitOptions { width: Some(32), ..Default::default() };
/// assert_eq!(candidates(&pinned, &shape).len(), 2); // mlp-32, coord-32
/// ```
pub fn candidates(opts: &FitOptions, shape: &DataShape) -> Vec<Candidate> {
    use crate::config::defaults;
    let width = opts.width.unwrap_or(defaults::WIDTH);
    let base = Candidate {
        label: label(opts.arch.unwrap_or(Arch::Mlp), width),
        opts: opts.clone(),
    };
    if opts.recipe == Some(RecipeMode::Fixed) || shape.linear_val.is_none() {
        return vec![base];
    }
    let cnn_opts = opts.kernel.is_some() || opts.stride.is_some() || opts.padding.is_some();
    let arch_pinned = opts.arch.is_some() || opts.dec_depth.is_some() || cnn_opts;
    let mut out = vec![base];
    let arch = opts.arch.unwrap_or(Arch::Mlp);
    if opts.width.is_none() && arch != Arch::Cnn {
        out.push(Candidate {
            label: label(arch, WIDE),
            opts: FitOptions {
                width: Some(WIDE),
                ..opts.clone()
            },
        });
    }
    if !arch_pinned && opts.channels.is_none() && shape.features_move() {
        out.push(Candidate {
            label: label(Arch::Coord, width),
            opts: FitOptions {
                arch: Some(Arch::Coord),
                ..opts.clone()
            },
        });
    }
    out
}

fn label(arch: Arch, width: usize) -> String {
    match arch {
        Arch::Mlp => format!("mlp-{width}"),
        Arch::Coord => format!("coord-{width}"),
        Arch::Cnn => "cnn".into(),
    }
}

/// The outcome of [`select_recipe`].
#[derive(Debug, Clone)]
pub struct Selection {
    /// Index of the chosen configuration.
    pub chosen: usize,
    /// Its state at the end of its trial (continue it with
    /// [`super::fit_from`]).
    pub state: TrainState,
    /// Every candidate's score, in the order given.
    pub scores: Vec<CandidateScore>,
}

/// Trains each of `cfgs` (resolved for `data`, the fit samples) for the
/// first `restart_steps` steps of its own schedule from its `seed`,
/// scores it on `val`, and returns the lowest validation error with its
/// state. When the first candidate's error is at most `excellent` (%),
/// the others are not tried. Deterministic: the same inputs give the same
/// choice and state; the trials evaluate on `val` every `val.every` steps
/// like the main phase, so the winner's state continues exactly as an
/// uninterrupted run of its configuration would (same checkpoints, same
/// model). Trials report progress as
/// phase `"recipes"` (steps counted over all candidates) and are never
/// checkpointed.
///
/// # Errors
/// No configuration, or a trial that diverges or does not fit the data.
pub fn select_recipe(
    cfgs: &[TrainConfig],
    labels: &[String],
    data: ArrayView2<f32>,
    val: &Validation,
    excellent: f64,
    observe: &mut dyn FnMut(&Progress),
) -> Result<Selection> {
    let trial = |c: &TrainConfig| c.restart_steps.min(c.steps);
    let total: usize = cfgs.iter().map(trial).sum();
    let mut best: Option<(usize, f64, TrainState)> = None;
    let mut scores: Vec<CandidateScore> = labels
        .iter()
        .map(|l| CandidateScore {
            label: l.clone(),
            val_rel_error: None,
            trial_steps: 0,
            chosen: false,
        })
        .collect();
    let mut done = 0;
    for (i, cfg) in cfgs.iter().enumerate() {
        if i > 0 && best.as_ref().is_some_and(|(_, e, _)| *e <= excellent) {
            break;
        }
        let end = trial(cfg);
        let mut state = TrainState::new(cfg, data.ncols())?;
        let mut trainer = Trainer::new(cfg, data, &state);
        trainer.set_validation(Some(val));
        let mut relay = |p: &Progress| {
            observe(&Progress {
                phase: "recipes",
                step: done + p.step,
                total,
                ..*p
            })
        };
        trainer
            .run_until(&mut state, (0, cfg.steps), end, total, &mut relay)
            .with_context(|| format!("recipe trial {}", labels.get(i).map_or("?", |l| l)))?;
        done += end;
        let e = val.error(&state.encoder, &state.decoder, cfg.k)?;
        if let Some(s) = scores.get_mut(i) {
            s.val_rel_error = Some(e);
            s.trial_steps = end;
        }
        if best.as_ref().is_none_or(|(_, b, _)| e < *b) {
            best = Some((i, e, state));
        }
    }
    let (chosen, _, state) = best.context("no candidate recipe")?;
    if let Some(s) = scores.get_mut(chosen) {
        s.chosen = true;
    }
    Ok(Selection {
        chosen,
        state,
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{NormKind, Normalizer};
    use crate::train::validation;
    use ndarray::Array2;

    #[test]
    fn candidates_follow_the_data_and_the_pins() {
        let moving = DataShape {
            input_dim: 200,
            image_shape: None,
            linear_val: Some(70.0),
        };
        let labels = |o: &FitOptions, s: &DataShape| -> Vec<String> {
            candidates(o, s).into_iter().map(|c| c.label).collect()
        };
        let none = FitOptions::default();
        assert_eq!(labels(&none, &moving), ["mlp-64", "mlp-128", "coord-64"]);
        let linear = DataShape {
            linear_val: Some(3.0),
            ..moving
        };
        assert_eq!(labels(&none, &linear), ["mlp-64", "mlp-128"]);
        let no_val = DataShape {
            linear_val: None,
            ..moving
        };
        assert_eq!(labels(&none, &no_val), ["mlp-64"]);
        let tiny = DataShape {
            input_dim: 8,
            ..moving
        };
        assert_eq!(labels(&none, &tiny), ["mlp-64", "mlp-128"]);
        let fixed = FitOptions {
            recipe: Some(RecipeMode::Fixed),
            ..Default::default()
        };
        assert_eq!(labels(&fixed, &moving), ["mlp-64"]);
        let depth = FitOptions {
            dec_depth: Some(2),
            ..Default::default()
        };
        assert_eq!(labels(&depth, &moving), ["mlp-64", "mlp-128"]);
        let coord = FitOptions {
            arch: Some(Arch::Coord),
            width: Some(32),
            ..Default::default()
        };
        assert_eq!(labels(&coord, &moving), ["coord-32"]);
        let cnn = FitOptions {
            arch: Some(Arch::Cnn),
            ..Default::default()
        };
        assert_eq!(labels(&cnn, &moving), ["cnn"]);
        // Every candidate keeps the user's other options.
        let seeded = FitOptions {
            seed: Some(9),
            ..Default::default()
        };
        assert!(candidates(&seeded, &moving)
            .iter()
            .all(|c| c.opts.seed == Some(9)));
    }

    /// Bumps that move with their parameter: a coordinate decoder places
    /// them between the training samples, the default MLP cannot, and the
    /// validation samples see the difference after short trials.
    #[test]
    fn validation_chooses_the_coordinate_decoder_for_moving_bumps() {
        let (n, t) = (30, 48);
        let data = Array2::from_shape_fn((n, t), |(i, j)| {
            let centre = 8.0 + 32.0 * i as f32 / (n - 1) as f32;
            (-((j as f32 - centre) / 2.5).powi(2)).exp()
        });
        let norm = Normalizer::fit(NormKind::None, data.view()).unwrap();
        let split = validation::split(n, 0.2, 0, false).unwrap();
        let val = Validation::new(data.view(), &split, &norm, 50).unwrap();
        let fit_rows = data.select(ndarray::Axis(0), &split.fit);
        let opts = FitOptions {
            steps: Some(1600),
            restart_steps: Some(400),
            latent: Some(16),
            batch: Some(12),
            lr: Some(3e-3),
            ..Default::default()
        };
        let coord_opts = FitOptions {
            arch: Some(Arch::Coord),
            channels: Some(vec![16, 16]),
            ..opts.clone()
        };
        let cfgs: Vec<TrainConfig> = [opts, coord_opts]
            .iter()
            .map(|o| TrainConfig::resolve(o, fit_rows.nrows(), t).unwrap())
            .collect();
        let labels = ["mlp-64".to_string(), "coord-64".to_string()];
        let pick = |excellent: f64| {
            select_recipe(
                &cfgs,
                &labels,
                fit_rows.view(),
                &val,
                excellent,
                &mut |_| {},
            )
            .unwrap()
        };
        let s = pick(0.0);
        let errors: Vec<f64> = s.scores.iter().filter_map(|c| c.val_rel_error).collect();
        assert_eq!(s.chosen, 1, "{:?}", s.scores);
        assert!(errors[1] < 0.8 * errors[0], "{errors:?}");
        assert!(s.scores[1].chosen && !s.scores[0].chosen);
        assert_eq!(s.state.step, 400);
        // Deterministic, and an excellent first candidate ends the search.
        assert_eq!(pick(0.0).state, s.state);
        let early = pick(f64::INFINITY);
        assert_eq!(early.chosen, 0);
        assert_eq!(early.scores[1].val_rel_error, None);
        assert_eq!(early.scores[1].trial_steps, 0);
    }
}
