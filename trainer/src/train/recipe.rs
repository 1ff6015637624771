//! Candidate recipes chosen on validation (`--recipe auto`, issue #17).
//!
//! The options a user leaves open (the initialization, the architecture)
//! are tried as a few short trials: each candidate trains the first
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

/// MLP initializations tried (seeds `seed`, `seed + 1`, …) unless
/// `--restarts` sets them. Measured on `mult_gausses` at k = 2: one 500-step
/// trial in four to eight ends below 25 % validation error and continues
/// to 4-9 %, the others stay at 30-70 % (a latent ordering the decoder
/// cannot undo; docs/TRAINING.md).
pub const SEEDS: u64 = 4;
/// Values per channel below which a sample is not treated as a signal or
/// image (no coordinate decoder).
pub const MIN_GRID: usize = 16;
/// Validation error (%) of the rank-k linear model (PCA) above which the
/// data count as "features that move" and the coordinate decoder is a
/// candidate. Measured: shift 71 %, stairs 19 %, gaussian_shift 98 %,
/// mult_gausses 74 % (docs/TRAINING.md).
pub const MOVING_LINEAR_ERROR: f64 = 15.0;
/// No further candidate is tried once the best trial's validation error is
/// at most this share of the linear model's. Measured after 500 steps:
/// `shift` 5.7 % against 71 % (0.08), `stairs` 2.4 % against 19 % (0.13),
/// `mult_gausses` seed 0 18.1 % against 71 % (0.25); on `mult_gausses`
/// the trials that went on to fail were at 0.43-0.98 and those that went
/// on to succeed at 0.19-0.34.
pub const STOP_SHARE: f64 = 0.3;
/// The costly fallback candidates (the coordinate decoder: its trial alone
/// costs 39 s of CPU on `mult_gausses`) are tried only when the best trial
/// so far is above this share of the linear model's validation error
/// (`gaussian_shift`: the MLP trials end at 98.9 % against 98.1 %, 1.0).
pub const FALLBACK_SHARE: f64 = 0.5;
/// With fewer validation samples than this, validation only chooses the
/// recipe: the chosen recipe is then trained afresh on all training
/// samples (no checkpoint selection, no linear floor).
pub const REFIT_BELOW: usize = 5;

/// Whether validation only chooses the recipe (fewer than
/// [`REFIT_BELOW`] samples): the chosen recipe then trains on every
/// training sample, without checkpoint selection or linear floor.
pub fn refits(val: Option<&Validation>) -> bool {
    val.is_some_and(|v| v.len() < REFIT_BELOW)
}

/// A candidate recipe: a label (`mlp-64`, `coord-64`, …) and the full
/// options it trains with (the user's, with its own fields filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Architecture, width and seed, e.g. `mlp-64 seed 2`.
    pub label: String,
    /// The options of this candidate.
    pub opts: FitOptions,
    /// Tried only when the cheaper candidates before it are not good
    /// enough ([`FALLBACK_SHARE`]).
    pub fallback: bool,
}

/// How one candidate did in its trial (`metrics.json`: `recipes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// Architecture and width.
    pub label: String,
    /// Validation error (%) at the end of the trial; `None` when it was
    /// not tried (an earlier candidate was already good enough) or failed
    /// (`trial_steps` > 0: it diverged).
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
/// Open choices: the MLP's initialization unless `--restarts` sets it
/// ([`SEEDS`] seeds from `--seed`), and the architecture unless `--arch`,
/// `--dec-depth` or a CNN option pins it (the MLP, and, as a fallback, the
/// coordinate decoder when [`DataShape::features_move`]).
///
/// ```
/// use rrae_trainer::config::FitOptions;
/// use rrae_trainer::train::recipe::{candidates, DataShape};
/// let shape = DataShape { input_dim: 200, image_shape: None, linear_val: Some(70.0) };
/// let labels: Vec<String> = candidates(&FitOptions::default(), &shape)
///     .into_iter()
///     .map(|c| c.label)
///     .collect();
/// assert_eq!(labels, ["mlp-64", "mlp-64 seed 1", "mlp-64 seed 2", "mlp-64 seed 3", "coord-64"]);
/// let pinned = FitOptions { restarts: Some(1), width: Some(32), ..Default::default() };
/// assert_eq!(candidates(&pinned, &shape).len(), 2); // mlp-32, coord-32
/// ```
pub fn candidates(opts: &FitOptions, shape: &DataShape) -> Vec<Candidate> {
    use crate::config::defaults;
    let width = opts.width.unwrap_or(defaults::WIDTH);
    let arch = opts.arch.unwrap_or(Arch::Mlp);
    let base = Candidate {
        label: label(arch, width),
        opts: opts.clone(),
        fallback: false,
    };
    if opts.recipe == Some(RecipeMode::Fixed) || shape.linear_val.is_none() {
        return vec![base];
    }
    let cnn_opts = opts.kernel.is_some() || opts.stride.is_some() || opts.padding.is_some();
    let arch_pinned = opts.arch.is_some() || opts.dec_depth.is_some() || cnn_opts;
    let seed = opts.seed.unwrap_or(0);
    let mut out = vec![base];
    if opts.restarts.is_none() && arch == Arch::Mlp {
        out.extend((1..SEEDS).map(|i| Candidate {
            label: format!("{} seed {}", label(arch, width), seed.wrapping_add(i)),
            opts: FitOptions {
                seed: Some(seed.wrapping_add(i)),
                ..opts.clone()
            },
            fallback: false,
        }));
    }
    if !arch_pinned && opts.channels.is_none() && shape.features_move() {
        out.push(Candidate {
            label: label(Arch::Coord, width),
            opts: FitOptions {
                arch: Some(Arch::Coord),
                ..opts.clone()
            },
            fallback: true,
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

/// When [`select_recipe`] stops trying candidates (validation errors, %).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyStop {
    /// No further candidate once the best trial is at most this.
    pub stop: f64,
    /// No fallback candidate once the best trial is at most this.
    pub fallback: f64,
}

impl EarlyStop {
    /// The thresholds for a linear model that validates at `linear` %
    /// ([`STOP_SHARE`], [`FALLBACK_SHARE`]).
    pub fn relative_to(linear: f64) -> Self {
        Self {
            stop: STOP_SHARE * linear,
            fallback: FALLBACK_SHARE * linear,
        }
    }

    /// Never stop early: every candidate is tried.
    pub const NEVER: Self = Self {
        stop: f64::NEG_INFINITY,
        fallback: f64::NEG_INFINITY,
    };
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
/// state. Candidates are tried in order until the best error so far is at
/// most `early.stop` (%); those marked in `fallback` are skipped once it is
/// at most `early.fallback`. Deterministic: the same inputs give the same
/// choice and state; the trials evaluate on `val` every `val.every` steps
/// like the main phase, so the winner's state continues exactly as an
/// uninterrupted run of its configuration would (same checkpoints, same
/// model). A trial that fails (diverges) loses, with no validation error.
/// Trials report progress as phase `"recipes"` (steps counted over all
/// candidates) and are never checkpointed.
///
/// # Errors
/// No configuration, or every trial failed (the first failure).
pub fn select_recipe(
    cfgs: &[TrainConfig],
    labels: &[String],
    fallback: &[bool],
    data: ArrayView2<f32>,
    val: &Validation,
    early: EarlyStop,
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
    let mut first_error = None;
    for (i, cfg) in cfgs.iter().enumerate() {
        if let Some((_, best_error, _)) = &best {
            if *best_error <= early.stop {
                break;
            }
            if fallback.get(i).copied().unwrap_or(false) && *best_error <= early.fallback {
                continue;
            }
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
        let trained = trainer
            .run_until(&mut state, (0, cfg.steps), end, total, &mut relay)
            .with_context(|| format!("recipe trial {}", labels.get(i).map_or("?", |l| l)));
        done += end;
        if let Some(s) = scores.get_mut(i) {
            s.trial_steps = end;
        }
        // A trial that fails (diverges) loses; the run fails only when all do.
        let e = match trained.and_then(|()| val.error(&state.encoder, &state.decoder, cfg.k)) {
            Ok(e) => e,
            Err(err) => {
                first_error.get_or_insert(err);
                continue;
            }
        };
        if let Some(s) = scores.get_mut(i) {
            s.val_rel_error = Some(e);
        }
        if best.as_ref().is_none_or(|(_, b, _)| e < *b) {
            best = Some((i, e, state));
        }
    }
    if best.is_none() {
        if let Some(err) = first_error {
            return Err(err);
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
        let seeds = ["mlp-64", "mlp-64 seed 1", "mlp-64 seed 2", "mlp-64 seed 3"];
        assert_eq!(labels(&none, &moving), [&seeds[..], &["coord-64"]].concat());
        let c = candidates(&none, &moving);
        assert_eq!(c[2].opts.seed, Some(2));
        assert_eq!(c.iter().filter(|c| c.fallback).count(), 1);
        assert!(c[4].fallback && c[4].opts.seed.is_none());
        let linear = DataShape {
            linear_val: Some(3.0),
            ..moving
        };
        assert_eq!(labels(&none, &linear), seeds);
        let no_val = DataShape {
            linear_val: None,
            ..moving
        };
        assert_eq!(labels(&none, &no_val), ["mlp-64"]);
        let tiny = DataShape {
            input_dim: 8,
            ..moving
        };
        assert_eq!(labels(&none, &tiny), seeds);
        let restarts = FitOptions {
            restarts: Some(3),
            seed: Some(7),
            ..Default::default()
        };
        assert_eq!(labels(&restarts, &moving), ["mlp-64", "coord-64"]);
        let seeded = FitOptions {
            seed: Some(7),
            width: Some(32),
            ..Default::default()
        };
        assert_eq!(
            labels(&seeded, &linear)[1..],
            ["mlp-32 seed 8", "mlp-32 seed 9", "mlp-32 seed 10"]
        );
        let fixed = FitOptions {
            recipe: Some(RecipeMode::Fixed),
            ..Default::default()
        };
        assert_eq!(labels(&fixed, &moving), ["mlp-64"]);
        let depth = FitOptions {
            dec_depth: Some(2),
            ..Default::default()
        };
        assert_eq!(labels(&depth, &moving), seeds);
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
        let named = FitOptions {
            steps: Some(900),
            ..Default::default()
        };
        assert!(candidates(&named, &moving)
            .iter()
            .all(|c| c.opts.steps == Some(900)));
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
        let pick = |fallback: &[bool], early: EarlyStop| {
            select_recipe(
                &cfgs,
                &labels,
                fallback,
                fit_rows.view(),
                &val,
                early,
                &mut |_| {},
            )
            .unwrap()
        };
        let s = pick(&[false, true], EarlyStop::NEVER);
        let errors: Vec<f64> = s.scores.iter().filter_map(|c| c.val_rel_error).collect();
        assert_eq!(s.chosen, 1, "{:?}", s.scores);
        assert!(errors[1] < 0.8 * errors[0], "{errors:?}");
        assert!(s.scores[1].chosen && !s.scores[0].chosen);
        assert_eq!(s.state.step, 400);
        // Deterministic, and an excellent first candidate ends the search
        // (or skips the fallback).
        assert_eq!(pick(&[false, true], EarlyStop::NEVER).state, s.state);
        let stop = EarlyStop {
            stop: f64::INFINITY,
            fallback: f64::NEG_INFINITY,
        };
        let skip = EarlyStop {
            stop: f64::NEG_INFINITY,
            fallback: f64::INFINITY,
        };
        for (fallback, early) in [([false, false], stop), ([false, true], skip)] {
            let e = pick(&fallback, early);
            assert_eq!(e.chosen, 0);
            assert_eq!(e.scores[1].val_rel_error, None);
            assert_eq!(e.scores[1].trial_steps, 0);
        }
        // Not a fallback: tried whatever the first one scored.
        assert_eq!(pick(&[false, false], skip).chosen, 1);
    }
}
