//! The training loop: minibatch Adam/AdaBelief on encoder → rank-k
//! truncation → decoder with staged learning rates, then the global basis
//! and a decoder fine-tuning with that basis fixed.
//!
//! Everything a run needs to continue lives in [`TrainState`] (parameters,
//! optimizer moments, step, stage); batch order is a pure function of
//! `(seed, epoch)`, so a serialized state resumes bit-identically.

pub mod adaptive;
pub mod checkpoint;
mod model;
pub mod recipe;
pub mod validation;

use anyhow::{bail, Context, Result};
use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

pub use model::{LinearKind, RraeModel};
pub use validation::Validation;

use crate::config::TrainConfig;
use crate::nn::{relative_loss, Grads, Network, Workspace};
use crate::optim::Optimizer;
use crate::{basis, rank_layer};

/// Everything that evolves during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Encoder parameters.
    pub encoder: Network<f32>,
    /// Decoder parameters.
    pub decoder: Network<f32>,
    /// Optimizer moments and learning rate.
    pub optimizer: Optimizer<f32>,
    /// Steps taken.
    pub step: usize,
    /// Current learning-rate stage.
    pub stage: usize,
    /// Loss of the last step (percent).
    pub last_loss: f32,
    /// Validation errors so far and the best parameters (empty without
    /// validation).
    pub val: validation::Track,
    /// The adaptive rank search's progress (adaptive runs only).
    pub search: Option<Box<adaptive::SearchState>>,
}

impl TrainState {
    /// Freshly initialized networks (seeded by `cfg.seed`).
    ///
    /// # Errors
    /// An invalid architecture (see [`TrainConfig::networks`]).
    pub fn new(cfg: &TrainConfig, input_dim: usize) -> Result<Self> {
        Self::seeded(cfg, input_dim, cfg.seed)
    }

    /// Freshly initialized networks from `seed` (a `--restarts` candidate).
    ///
    /// # Errors
    /// As [`TrainState::new`].
    pub fn seeded(cfg: &TrainConfig, input_dim: usize, seed: u64) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let (encoder, decoder) = cfg.networks(input_dim, &mut rng)?;
        Ok(Self {
            encoder,
            decoder,
            optimizer: Optimizer::new(cfg.optimizer, cfg.lr),
            step: 0,
            stage: 0,
            last_loss: f32::NAN,
            val: validation::Track::default(),
            search: None,
        })
    }
}

/// What an observer (e.g. a progress bar) is told after each step.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// `"recipes"` (recipe trials), `"restarts"` (`--restarts`
    /// candidates), `"search"` (the trials of an adaptive fresh restart,
    /// reported at the step they start from), `"train"` or `"finetune"`.
    pub phase: &'static str,
    /// Steps done in this phase.
    pub step: usize,
    /// Steps planned in this phase.
    pub total: usize,
    /// Rank.
    pub k: usize,
    /// Batch loss (percent).
    pub loss: f32,
    /// Learning rate in use.
    pub lr: f64,
}

/// Minibatch order: a fresh permutation per epoch drawn from `(seed, epoch)`;
/// the trailing partial batch is dropped.
#[derive(Debug, Clone)]
pub struct Batches {
    seed: u64,
    batch: usize,
    perm: Vec<usize>,
    epoch: Option<usize>,
}

impl Batches {
    /// Batches of `batch` rows out of `n` (requires `1 <= batch <= n`).
    pub fn new(seed: u64, n: usize, batch: usize) -> Self {
        Self {
            seed,
            batch,
            perm: (0..n).collect(),
            epoch: None,
        }
    }

    /// Row indices of step `step` (counting from 0 over all epochs).
    pub fn indices(&mut self, step: usize) -> &[usize] {
        let per_epoch = (self.perm.len() / self.batch).max(1);
        let (epoch, pos) = (step / per_epoch, step % per_epoch);
        if self.epoch != Some(epoch) {
            let mix = (epoch as u64)
                .wrapping_add(1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut rng = StdRng::seed_from_u64(self.seed ^ mix);
            self.perm.sort_unstable();
            self.perm.shuffle(&mut rng);
            self.epoch = Some(epoch);
        }
        &self.perm[pos * self.batch..(pos + 1) * self.batch]
    }
}

fn gather(data: ArrayView2<f32>, rows: &[usize], out: &mut Array2<f32>) {
    for (mut dst, &r) in out.rows_mut().into_iter().zip(rows) {
        dst.assign(&data.row(r));
    }
}

/// Reusable buffers of the training step.
pub struct Trainer<'a> {
    cfg: &'a TrainConfig,
    k: usize,
    data: ArrayView2<'a, f32>,
    batches: Batches,
    xb: Array2<f32>,
    grad_out: Array2<f32>,
    enc_ws: Workspace<f32>,
    dec_ws: Workspace<f32>,
    enc_grads: Grads<f32>,
    dec_grads: Grads<f32>,
    val: Option<&'a Validation>,
    after_step: Option<&'a mut AfterStep<'a>>,
}

/// A hook called with the state after every successful optimizer step of
/// the main phase (e.g. [`checkpoint::Checkpointer::after_step`]); an error
/// stops the run.
pub type AfterStep<'h> = dyn FnMut(&TrainState) -> Result<()> + 'h;

impl<'a> Trainer<'a> {
    /// Buffers for training `state`'s networks on `data` (normalized,
    /// `n x input`); `cfg` must have been validated for this data.
    pub fn new(cfg: &'a TrainConfig, data: ArrayView2<'a, f32>, state: &TrainState) -> Self {
        let (b, t) = (cfg.batch, data.ncols());
        Self {
            cfg,
            k: cfg.k,
            data,
            batches: Batches::new(cfg.seed, data.nrows(), b),
            xb: Array2::zeros((b, t)),
            grad_out: Array2::zeros((b, t)),
            enc_ws: Workspace::default(),
            dec_ws: Workspace::default(),
            enc_grads: state.encoder.zero_grads(),
            dec_grads: state.decoder.zero_grads(),
            val: None,
            after_step: None,
        }
    }

    /// Evaluates on `val` every `val.every` steps from now on, recording in
    /// [`TrainState::val`] (before the after-step hook, so checkpoints hold
    /// the evaluation of their own step).
    pub fn set_validation(&mut self, val: Option<&'a Validation>) {
        self.val = val;
    }

    /// Evaluates `state` on the validation set (if any) and records it.
    ///
    /// # Errors
    /// Networks that do not fit the data.
    pub fn validate(&self, state: &mut TrainState) -> Result<()> {
        if let Some(v) = self.val {
            let e = v.error(&state.encoder, &state.decoder, self.k)?;
            state
                .val
                .record(state.step, e, &state.encoder, &state.decoder);
        }
        Ok(())
    }

    /// Calls `hook` after every successful step.
    pub fn with_after_step(mut self, hook: &'a mut AfterStep<'a>) -> Self {
        self.after_step = Some(hook);
        self
    }

    /// Rank of the truncation (starts at `cfg.k`).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Changes the rank of the truncation (the adaptive rank).
    pub fn set_k(&mut self, k: usize) {
        self.k = k;
    }

    /// The training data.
    pub fn data(&self) -> ArrayView2<'a, f32> {
        self.data
    }

    /// One optimizer step; returns the batch loss (percent).
    pub fn step(&mut self, state: &mut TrainState) -> Result<f32> {
        let rows = self.batches.indices(state.step);
        gather(self.data, rows, &mut self.xb);
        let y = state.encoder.forward(self.xb.view(), &mut self.enc_ws)?;
        let (yk, cache) = match rank_layer::truncate(y, self.k) {
            Ok(t) => t,
            Err(e @ rank_layer::RankError::NonFinite { .. }) => bail!(
                "training diverged at step {} ({e}); try a smaller --lr",
                state.step
            ),
            Err(e) => return Err(e).context(format!("step {}", state.step)),
        };
        let x_hat = state.decoder.forward(yk.view(), &mut self.dec_ws)?;
        let loss = relative_loss(x_hat, self.xb.view(), self.grad_out.view_mut());
        if !loss.is_finite() {
            bail!(
                "training diverged at step {} (loss {loss}); try a smaller --lr",
                state.step
            );
        }
        let dyk = state
            .decoder
            .backward(
                yk.view(),
                &mut self.dec_ws,
                self.grad_out.view(),
                &mut self.dec_grads,
                true,
            )?
            .context("decoder has no layers")?;
        let dy = rank_layer::truncate_backward(&cache, dyk);
        state.encoder.backward(
            self.xb.view(),
            &mut self.enc_ws,
            dy.view(),
            &mut self.enc_grads,
            false,
        )?;
        let params = state
            .encoder
            .tensors_mut()
            .chain(state.decoder.tensors_mut());
        state.optimizer.step(
            params,
            self.enc_grads.tensors().chain(self.dec_grads.tensors()),
        );
        state.step += 1;
        state.last_loss = loss;
        if self.val.is_some_and(|v| state.step % v.every == 0) {
            self.validate(state)?;
        }
        if let Some(hook) = self.after_step.as_mut() {
            hook(state)?;
        }
        Ok(loss)
    }

    /// Runs from `state.step` to `start + len` with the staged learning rates
    /// spread over `[start, start + len)`; a segment entered at its `start`
    /// begins with a fresh optimizer. `total` is reported to `observe`.
    pub fn run_segment(
        &mut self,
        state: &mut TrainState,
        start: usize,
        len: usize,
        total: usize,
        observe: &mut dyn FnMut(&Progress),
    ) -> Result<()> {
        self.run_until(state, (start, len), start + len, total, observe)
    }

    /// [`Trainer::run_segment`] of the segment `(start, len)` that stops at
    /// step `end`.
    fn run_until(
        &mut self,
        state: &mut TrainState,
        (start, len): (usize, usize),
        end: usize,
        total: usize,
        observe: &mut dyn FnMut(&Progress),
    ) -> Result<()> {
        if state.step == start && start > 0 {
            state.stage = 0;
            state.optimizer.reset(self.cfg.lr);
        }
        while state.step < end.min(start + len) {
            let stage = self.cfg.stage_at(state.step - start, len);
            if stage != state.stage {
                state.stage = stage;
                state.optimizer.reset(self.cfg.stage(stage).0);
            }
            let loss = self.step(state)?;
            self.report(state, total, loss, observe);
        }
        Ok(())
    }

    /// Tells `observe` about the step just taken.
    fn report(
        &self,
        state: &TrainState,
        total: usize,
        loss: f32,
        observe: &mut dyn FnMut(&Progress),
    ) {
        observe(&Progress {
            phase: "train",
            step: state.step,
            total,
            k: self.k,
            loss,
            lr: state.optimizer.lr,
        });
    }
}

/// Decoder fine-tuning with `U_k` fixed and the encoder frozen, on
/// `d(U_k U_kᵀ e(x))`; returns the last batch loss (NaN if no steps).
pub fn finetune_decoder(
    model: &mut RraeModel,
    data: ArrayView2<f32>,
    cfg: &TrainConfig,
    observe: &mut dyn FnMut(&Progress),
) -> Result<f32> {
    let projected = model.encode(data)?.dot(&model.u_k.t());
    let (b, t) = (cfg.batch, data.ncols());
    let mut batches = Batches::new(cfg.seed.wrapping_add(1), data.nrows(), b);
    let (mut zb, mut xb, mut grad_out) = (
        Array2::zeros((b, projected.ncols())),
        Array2::zeros((b, t)),
        Array2::zeros((b, t)),
    );
    let mut ws = Workspace::default();
    let mut grads = model.decoder.zero_grads();
    let mut opt = Optimizer::new(cfg.optimizer, cfg.finetune_lr);
    let mut loss = f32::NAN;
    for step in 0..cfg.finetune_steps {
        let rows = batches.indices(step);
        gather(projected.view(), rows, &mut zb);
        gather(data, rows, &mut xb);
        let x_hat = model.decoder.forward(zb.view(), &mut ws)?;
        loss = relative_loss(x_hat, xb.view(), grad_out.view_mut());
        if !loss.is_finite() {
            bail!("decoder fine-tuning diverged at step {step} (loss {loss})");
        }
        model
            .decoder
            .backward(zb.view(), &mut ws, grad_out.view(), &mut grads, false)?;
        opt.step(model.decoder.tensors_mut(), grads.tensors());
        observe(&Progress {
            phase: "finetune",
            step: step + 1,
            total: cfg.finetune_steps,
            k: cfg.k,
            loss,
            lr: opt.lr,
        });
    }
    Ok(loss)
}

/// What [`fit`] returns besides the model.
#[derive(Debug, Clone, PartialEq)]
pub struct FitSummary {
    /// Steps of the main phase (adaptive search included).
    pub steps: usize,
    /// Final rank.
    pub k: usize,
    /// `[step, k]` at every change of rank (adaptive runs; empty otherwise).
    pub k_history: Vec<[usize; 2]>,
    /// The adaptive search's judged candidates (staged rule; empty otherwise).
    pub k_judgements: Vec<adaptive::Judgement>,
    /// The `--restarts` candidates (empty without restarts or on resume).
    pub restarts: Vec<Restart>,
    /// Last batch loss of the main phase (percent, normalized data).
    pub train_loss: f32,
    /// Last batch loss of the fine-tuning (NaN if none).
    pub finetune_loss: f32,
    /// `(step, error %)` of every validation evaluation (empty without
    /// validation).
    pub val_history: Vec<(usize, f64)>,
    /// The step whose parameters the model keeps (the best on validation;
    /// `None` without validation: the last step's).
    pub best_step: Option<usize>,
}

/// One `--restarts` candidate: its seed, its mean batch loss (percent)
/// over the last steps of its trial and its validation error (percent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Restart {
    /// Initialization seed.
    pub seed: u64,
    /// Mean batch loss of the trial's last [`RESTART_WINDOW`] steps.
    pub loss: f32,
    /// Validation error at the end of the trial (the score when there is a
    /// validation set; the loss is the score otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_rel_error: Option<f64>,
    /// Whether training continued from it.
    pub chosen: bool,
}

/// Batch losses averaged to judge a restart candidate.
pub const RESTART_WINDOW: usize = 50;

/// Steps of the candidates that are thrown away (`(restarts − 1) ·
/// restart_steps`).
pub fn discarded_restart_steps(cfg: &TrainConfig) -> usize {
    if cfg.restarts > 1 {
        (cfg.restarts - 1).saturating_mul(cfg.restart_steps)
    } else {
        0
    }
}

/// `--restarts`: trains `cfg.restarts` initializations (seeds `cfg.seed`,
/// `cfg.seed + 1`, …) for `cfg.restart_steps` steps of the main schedule
/// each and returns the one with the lowest validation error (with `val`;
/// otherwise the lowest mean batch loss over its last [`RESTART_WINDOW`]
/// steps), ready to continue, with every candidate's score. An RRAE with a small k can settle in a poor local minimum (a
/// latent ordering the decoder cannot undo, docs/TRAINING.md); the loss
/// after a few hundred steps tells those runs apart. Candidates report
/// progress as phase `"restarts"` (steps counted over all candidates) and
/// are never checkpointed.
fn best_restart(
    cfg: &TrainConfig,
    data: ArrayView2<f32>,
    val: Option<&Validation>,
    observe: &mut dyn FnMut(&Progress),
) -> Result<(TrainState, Vec<Restart>)> {
    let end = cfg.restart_steps.min(cfg.steps);
    let total = cfg.restarts.saturating_mul(end);
    let mut best: Option<(usize, f64, TrainState)> = None;
    let mut scores = Vec::with_capacity(cfg.restarts);
    for r in 0..cfg.restarts {
        let seed = cfg.seed.wrapping_add(r as u64);
        let mut state = TrainState::seeded(cfg, data.ncols(), seed)?;
        let mut trainer = Trainer::new(cfg, data, &state);
        let mut recent = std::collections::VecDeque::with_capacity(RESTART_WINDOW);
        let mut relay = |p: &Progress| {
            if recent.len() == RESTART_WINDOW {
                recent.pop_front();
            }
            recent.push_back(p.loss);
            observe(&Progress {
                phase: "restarts",
                step: r * end + p.step,
                total,
                ..*p
            });
        };
        trainer
            .run_until(&mut state, (0, cfg.steps), end, total, &mut relay)
            .with_context(|| format!("restart candidate seed {seed}"))?;
        let loss = recent.iter().sum::<f32>() / recent.len().max(1) as f32;
        let val_rel_error = match val {
            Some(v) => Some(v.error(&state.encoder, &state.decoder, cfg.k)?),
            None => None,
        };
        scores.push(Restart {
            seed,
            loss,
            val_rel_error,
            chosen: false,
        });
        let score = val_rel_error.unwrap_or(f64::from(loss));
        if best.as_ref().is_none_or(|(_, b, _)| score < *b) {
            best = Some((r, score, state));
        }
    }
    let (chosen, _, state) = best.context("--restarts is 0")?;
    scores[chosen].chosen = true;
    Ok((state, scores))
}

/// Optimizer steps of the main phase: `cfg.steps`, plus an upper bound on
/// the adaptive search if any.
pub fn planned_steps(cfg: &TrainConfig) -> usize {
    cfg.steps
        + cfg
            .adaptive
            .as_ref()
            .map_or(0, |a| adaptive::planned_search_steps(cfg, a))
}

/// The adaptive rank search alone (`cfg.adaptive` must be set), from
/// `start` (a checkpointed state of this search) or a fresh state, calling
/// `after_step` after every step that continues the search (checkpoints),
/// and judging candidates on `val` (samples outside `data`).
///
/// # Errors
/// No adaptive configuration, the reference rule (not resumable, run by
/// [`fit_from`]), or training failures.
pub fn search_rank<'a>(
    cfg: &'a TrainConfig,
    data: ArrayView2<'a, f32>,
    val: Option<&'a Validation>,
    start: Option<TrainState>,
    after_step: &'a mut AfterStep<'a>,
    observe: &mut dyn FnMut(&Progress),
) -> Result<adaptive::SearchResult> {
    cfg.validate(data.nrows(), data.ncols())?;
    let a = cfg
        .adaptive
        .as_ref()
        .context("the rank search needs an adaptive configuration")?;
    if a.rule != crate::config::AdaptiveRule::Staged {
        bail!("the rank search alone runs the staged rule only");
    }
    let mut state = match start {
        Some(s) => s,
        None => TrainState::new(cfg, data.ncols())?,
    };
    let mut trainer = Trainer::new(cfg, data, &state).with_after_step(after_step);
    let planned = adaptive::planned_search_steps(cfg, a);
    adaptive::search(&mut trainer, &mut state, a, val, planned, observe)
}

/// The whole recipe on normalized training data (`n x input`): train (after
/// the adaptive rank search if `cfg.adaptive`), global basis from all
/// training latents, decoder fine-tuning, all at the final rank.
pub fn fit(
    cfg: &TrainConfig,
    data: ArrayView2<f32>,
    observe: &mut dyn FnMut(&Progress),
) -> Result<(RraeModel, FitSummary)> {
    fit_from(cfg, data, None, None, &mut |_| Ok(()), observe)
}

/// [`fit`] continuing from `start` (a checkpointed state of this `cfg` and
/// `data`) if given, calling `after_step` after every main-phase step.
/// With `val` (samples outside `data`), restarts are chosen on it, the
/// main phase (at the final rank) is evaluated on it every `val.every`
/// steps and at its end, and the model keeps the parameters of the best
/// evaluation.
pub fn fit_from<'a>(
    cfg: &'a TrainConfig,
    data: ArrayView2<'a, f32>,
    val: Option<&'a Validation>,
    start: Option<TrainState>,
    after_step: &'a mut AfterStep<'a>,
    observe: &mut dyn FnMut(&Progress),
) -> Result<(RraeModel, FitSummary)> {
    cfg.validate(data.nrows(), data.ncols())?;
    let (mut state, restarts) = match start {
        Some(s) => (s, Vec::new()),
        None if cfg.restarts > 1 => best_restart(cfg, data, val, observe)?,
        None => (TrainState::new(cfg, data.ncols())?, Vec::new()),
    };
    let mut trainer = Trainer::new(cfg, data, &state).with_after_step(after_step);
    let planned = planned_steps(cfg);
    // The adaptive search picks the rank; the main schedule then runs at it
    // exactly as for a fixed k (from step 0 for a fixed k).
    let search = match &cfg.adaptive {
        None => adaptive::SearchResult::default(),
        Some(a) => adaptive::search(&mut trainer, &mut state, a, val, planned, observe)?,
    };
    trainer.set_validation(val);
    trainer.run_segment(&mut state, search.start, cfg.steps, planned, observe)?;
    if state.val.last_step() != Some(state.step) {
        trainer.validate(&mut state)?;
    }
    let cfg = &TrainConfig {
        k: trainer.k(),
        ..cfg.clone()
    };
    let (encoder, decoder, best_step) = match state.val.best.take() {
        Some(b) => (b.encoder, b.decoder, Some(b.step)),
        None => (state.encoder, state.decoder, None),
    };
    let latents = encoder.predict(data)?;
    let gb = basis::global_basis(latents.view(), cfg.k).context("computing the global basis")?;
    let mut model = RraeModel {
        encoder,
        decoder,
        u_k: gb.u_k.mapv(|v| v as f32),
        singular_values: gb.singular_values,
    };
    let finetune_loss = finetune_decoder(&mut model, data, cfg, observe)?;
    Ok((
        model,
        FitSummary {
            steps: state.step,
            k: cfg.k,
            k_history: search.history,
            k_judgements: search.judgements,
            restarts,
            train_loss: state.last_loss,
            finetune_loss,
            val_history: state.val.history,
            best_step,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_continue_the_best_candidate_reproducibly() {
        use crate::config::FitOptions;
        let data = Array2::from_shape_fn((12, 10), |(i, j)| ((i * 3 + j) as f32 * 0.37).sin());
        let opts = FitOptions {
            steps: Some(30),
            restarts: Some(3),
            restart_steps: Some(10),
            finetune_steps: Some(2),
            latent: Some(6),
            width: Some(8),
            seed: Some(5),
            ..Default::default()
        };
        let cfg = TrainConfig::resolve(&opts, 12, 10).unwrap();
        let mut seen = 0;
        let (model, summary) = fit(&cfg, data.view(), &mut |p| {
            seen += usize::from(p.phase == "restarts");
        })
        .unwrap();
        assert_eq!(seen, 30);
        assert_eq!(summary.steps, 30);
        let seeds: Vec<u64> = summary.restarts.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, vec![5, 6, 7]);
        let chosen: Vec<&Restart> = summary.restarts.iter().filter(|r| r.chosen).collect();
        assert_eq!(chosen.len(), 1);
        let best = summary
            .restarts
            .iter()
            .map(|r| r.loss)
            .fold(f32::INFINITY, f32::min);
        assert_eq!(chosen[0].loss, best);
        let (again, _) = fit(&cfg, data.view(), &mut |_| {}).unwrap();
        assert_eq!(again.decoder, model.decoder);
        // Resuming from a mid-run state of the chosen candidate (what a
        // checkpoint holds) ends in the same model.
        let mut saved = None;
        let mut keep = |st: &TrainState| {
            if st.step == 20 {
                saved = Some(st.clone());
            }
            Ok(())
        };
        fit_from(&cfg, data.view(), None, None, &mut keep, &mut |_| {}).unwrap();
        let saved = saved.expect("a state at step 20");
        let (resumed, summary) = fit_from(
            &cfg,
            data.view(),
            None,
            Some(saved),
            &mut |_| Ok(()),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(resumed.decoder, model.decoder);
        assert_eq!(resumed.encoder, model.encoder);
        assert!(summary.restarts.is_empty());
        // Without --restarts there are no candidates.
        let plain = TrainConfig { restarts: 1, ..cfg };
        assert!(fit(&plain, data.view(), &mut |_| {})
            .unwrap()
            .1
            .restarts
            .is_empty());
    }

    #[test]
    fn batches_are_permutations_and_reproducible() {
        let mut a = Batches::new(3, 10, 3);
        let mut b = Batches::new(3, 10, 3);
        let mut seen: Vec<usize> = (0..3).flat_map(|s| a.indices(s).to_vec()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 9); // one epoch, trailing row dropped
        assert_eq!(a.indices(4).to_vec(), b.indices(4).to_vec());
        assert_ne!(a.indices(0).to_vec(), a.indices(3).to_vec());
    }
}
