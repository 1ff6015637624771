//! Adaptive rank (aRRAE): find the smallest rank `k` that still reaches the
//! loss of a wide bottleneck, then train at that `k` (docs/ADAPTIVE.md).
//!
//! Two rules, both deterministic under the seed:
//!
//! - [`StagedSearch`] (ours, the default): every candidate `k` gets its own
//!   training stage with learning-rate decay, starting from the last accepted
//!   weights, and is judged by the loss on the *whole* training set through
//!   the rank-`k` truncation against the ideal loss `ℓ*` measured at `k_max`.
//!   Accepted candidates are checkpointed (a [`TrainState`] clone in memory);
//!   rejected ones are rolled back. Candidates are chosen by bisection on
//!   `[k_min, k_max]`, so the search costs `⌈log₂(k_max − k_min + 1)⌉`
//!   stages.
//! - [`ReferenceTracker`]: the reference's `RRAE_gen_Tracker` on the batch
//!   loss, step by step, with working defaults (kept for comparison).
//!
//! Both controllers are pure state machines (no training inside), unit-tested
//! on synthetic loss sequences; [`search`] drives them with a [`Trainer`].

use std::collections::VecDeque;

use anyhow::{Context, Result};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::{recipe, Progress, TrainState, Trainer, Validation};
use crate::basis::relative_error_percent;
use crate::config::{AdaptiveConfig, AdaptiveRule, TrainConfig};
use crate::rank_layer;

/// What [`StagedSearch::judge`] decides after a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the judged `k` is accepted (checkpoint it) or rejected (roll
    /// back to the last accepted checkpoint).
    pub accepted: bool,
    /// What to do next.
    pub next: Next,
}

/// The step after a judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Train a stage at this candidate rank, then judge it.
    Try(usize),
    /// The search is over: train to convergence at this (accepted) rank.
    Finish(usize),
}

/// One judged candidate of the staged search (reported in `metrics.json`
/// as `k_judgements`, so a user can see why a rank was kept or dropped).
/// Every field is always written (checkpoints store judgements with
/// `postcard`, which cannot skip fields).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Judgement {
    /// The candidate rank.
    pub k: usize,
    /// Step at which it was judged.
    pub step: usize,
    /// Its full-training-set loss (percent, normalized data) after its stage
    /// (after the fresh restart if it had one).
    pub loss: f64,
    /// Its validation error (percent, original units; without validation:
    /// none).
    pub val_error: Option<f64>,
    /// The linear baseline's validation error at the same rank.
    pub linear_val_error: Option<f64>,
    /// The largest training loss accepted (`None` for the first stage,
    /// which defines the ideal loss).
    pub threshold: Option<f64>,
    /// The largest validation error accepted (`None` without validation and
    /// for the first stage).
    pub val_threshold: Option<f64>,
    /// Whether the warm stage failed and a fresh restart was trained.
    pub restarted: bool,
    /// The verdict.
    pub accepted: bool,
}

/// The figures a candidate rank is judged on (percent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Relative error of the training samples through the rank-`k`
    /// truncation ([`full_loss`]).
    pub train: f64,
    /// Validation error of the RRAE at rank `k` (with validation).
    pub val: Option<f64>,
    /// Validation error of the linear baseline at rank `k` (with validation).
    pub linear_val: Option<f64>,
}

impl Score {
    /// The validation error a user gets at this rank: the better of the
    /// RRAE and the linear model (`fit` exports the linear model when it
    /// validates better).
    pub fn delivered(&self) -> Option<f64> {
        let v = self.val?;
        Some(
            self.linear_val
                .map_or(v, |l| if v.is_finite() { v.min(l) } else { l }),
        )
    }
}

/// Our rule: bisection over `[k_min, k_max]` with one judged training stage
/// per candidate.
///
/// The first stage runs at `k_max`; its [`Score`] is the ideal `ℓ*`. A later
/// candidate `k` is accepted iff
/// - its training loss `ℓ_k ≤ max(ℓ*·(1 + tol), ℓ* + abs_tol)` (the rank can
///   represent the data about as well as `k_max`), and
/// - with validation, its delivered validation error `d_k = min(v_k, λ_k)`
///   (`v_k` the RRAE's, `λ_k` the linear baseline's at `k`: the model `fit`
///   exports) satisfies `d_k ≤ max(v*·(1 + tol), v* + abs_tol)`, `v*` the
///   RRAE's validation error at `k_max`; with `tolerance` set,
///   `d_k ≤ tolerance` instead (without validation, `tolerance` replaces
///   the training band).
///
/// Both conditions hold for every rank above an accepted one (up to
/// training noise), so bisection applies: accepting `k` discards every
/// larger rank and rejecting it every smaller one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedSearch {
    lo: usize,
    hi: usize,
    current: usize,
    ideal: Option<Score>,
    tol: f64,
    abs_tol: f64,
    tolerance: Option<f64>,
}

impl StagedSearch {
    /// A search over `[a.k_min, a.k_max]` (`k_min` is raised to 1 and to at
    /// most `k_max`) with `a`'s tolerances.
    pub fn new(a: &AdaptiveConfig) -> Self {
        let k_max = a.k_max.max(1);
        Self {
            lo: a.k_min.clamp(1, k_max),
            hi: k_max,
            current: k_max,
            ideal: None,
            tol: a.tol,
            abs_tol: a.abs_tol,
            tolerance: a.tolerance,
        }
    }

    /// The rank of the stage being trained.
    pub fn current(&self) -> usize {
        self.current
    }

    /// The ideal score `ℓ*` (after the first judgement).
    pub fn ideal(&self) -> Option<Score> {
        self.ideal
    }

    fn band(&self, ideal: f64) -> f64 {
        (ideal * (1.0 + self.tol)).max(ideal + self.abs_tol)
    }

    /// The largest training loss accepted (after the first judgement):
    /// the band around `ℓ*`, or `tolerance` when there is no validation.
    pub fn threshold(&self) -> Option<f64> {
        let i = self.ideal?;
        Some(match (i.val, self.tolerance) {
            (None, Some(t)) => t,
            _ => self.band(i.train),
        })
    }

    /// The largest delivered validation error accepted (after the first
    /// judgement, with validation): `tolerance` if set, else the band
    /// around the RRAE's validation error at `k_max`.
    pub fn val_threshold(&self) -> Option<f64> {
        let ideal = self.ideal?.val?;
        Some(self.tolerance.unwrap_or_else(|| self.band(ideal)))
    }

    /// Whether a stage at [`current`](Self::current) ending with `score`
    /// would be accepted (always for the first stage, which defines `ℓ*`).
    pub fn accepts(&self, score: &Score) -> bool {
        let within = |v: f64, t: f64| v.is_finite() && v <= t;
        self.threshold().is_none_or(|t| within(score.train, t))
            && self
                .val_threshold()
                .is_none_or(|t| score.delivered().is_some_and(|d| within(d, t)))
    }

    /// Judges the stage just trained at [`current`](Self::current), whose
    /// score is `score`, and picks the next candidate.
    pub fn judge(&mut self, score: &Score) -> Verdict {
        let accepted = self.accepts(score);
        if self.ideal.is_none() {
            self.ideal = Some(*score);
        }
        if accepted {
            self.hi = self.current;
        } else {
            self.lo = self.current + 1;
        }
        let next = if self.lo >= self.hi {
            Next::Finish(self.hi)
        } else {
            self.current = self.lo + (self.hi - self.lo) / 2;
            Next::Try(self.current)
        };
        Verdict { accepted, next }
    }
}

/// What [`ReferenceTracker::observe`] asks of the training loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefAction {
    /// Keep training at the current rank.
    Continue,
    /// Checkpoint the weights (trained at rank `from`), continue at `from − 1`.
    Reduce {
        /// The rank just left.
        from: usize,
    },
    /// Restore the checkpoint of rank `to` with a fresh optimizer; converged.
    StepBack {
        /// The rank restored.
        to: usize,
    },
    /// Converged at the current rank without stepping back.
    Converged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefPhase {
    Init,
    Shrink,
    Converged,
}

/// The reference `RRAE_gen_Tracker` (phases 0 and 1; its phase 2 is replaced
/// by the ordinary staged schedule at the final rank).
///
/// Per batch loss `ℓ`: `avg` is the mean of the last `window` losses (+∞
/// until more than `window` have been seen). Phase 0 counts steps with
/// `|ℓ − avg|/avg < eps_perc %`; after `patience_init` of them `ℓ* := avg`.
/// Phase 1: `ℓ < ℓ*` → `k −= 1` (the counter resets); otherwise a step that
/// stagnates (`< eps_0 %`) or is worse than `avg` counts, and after
/// `patience_not_right` of them `k += 1` from the checkpoint. Reaching
/// `k_min` means converged (as in the reference), and a rank that was never
/// left cannot be stepped back to (so `k ≤ k_max` always).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceTracker {
    k: usize,
    k_max: usize,
    k_min: usize,
    eps_perc: f64,
    eps_0: f64,
    window: usize,
    patience_init: usize,
    patience_not_right: usize,
    phase: RefPhase,
    recent: VecDeque<f64>,
    seen: usize,
    count: usize,
    ideal: f64,
}

impl ReferenceTracker {
    /// A tracker starting at `cfg.k_max`.
    pub fn new(cfg: &AdaptiveConfig) -> Self {
        Self {
            k: cfg.k_max,
            k_max: cfg.k_max,
            k_min: cfg.k_min,
            eps_perc: cfg.eps_perc,
            eps_0: cfg.eps_0,
            window: cfg.window.max(1),
            patience_init: cfg.patience_init,
            patience_not_right: cfg.patience_not_right,
            phase: RefPhase::Init,
            recent: VecDeque::with_capacity(cfg.window),
            seen: 0,
            count: 0,
            ideal: f64::NAN,
        }
    }

    /// The current rank.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The ideal loss (NaN during phase 0).
    pub fn ideal(&self) -> f64 {
        self.ideal
    }

    /// Whether the rank is final.
    pub fn converged(&self) -> bool {
        self.phase == RefPhase::Converged
    }

    /// Feeds the batch loss of one step.
    pub fn observe(&mut self, loss: f64) -> RefAction {
        if self.recent.len() == self.window {
            self.recent.pop_front();
        }
        self.recent.push_back(loss);
        self.seen += 1;
        let avg = if self.seen > self.window {
            self.recent.iter().sum::<f64>() / self.window as f64
        } else {
            f64::INFINITY
        };
        // NaN (and so `false` below) while avg is infinite.
        let rel_change = 100.0 * (loss - avg).abs() / avg.abs();
        match self.phase {
            RefPhase::Init => {
                if rel_change < self.eps_perc {
                    self.count += 1;
                    if self.count >= self.patience_init {
                        self.count = 0;
                        self.ideal = avg;
                        self.phase = RefPhase::Shrink;
                    }
                }
                RefAction::Continue
            }
            RefPhase::Shrink if self.k <= self.k_min => {
                self.phase = RefPhase::Converged;
                RefAction::Converged
            }
            RefPhase::Shrink if loss < self.ideal => {
                self.count = 0;
                self.k -= 1;
                RefAction::Reduce { from: self.k + 1 }
            }
            RefPhase::Shrink => {
                if rel_change < self.eps_0 || loss > avg {
                    self.count += 1;
                    if self.count >= self.patience_not_right {
                        self.count = 0;
                        self.phase = RefPhase::Converged;
                        if self.k < self.k_max {
                            self.k += 1;
                            return RefAction::StepBack { to: self.k };
                        }
                        return RefAction::Converged;
                    }
                }
                RefAction::Continue
            }
            RefPhase::Converged => RefAction::Converged,
        }
    }
}

/// Relative error (%) of the whole of `data` through the rank-`k`
/// truncation of its latents (the global-basis inference path).
///
/// # Errors
/// Invalid `k` or a non-finite latent.
pub fn full_loss(state: &TrainState, data: ArrayView2<f32>, k: usize) -> Result<f64> {
    let latents = state.encoder.predict(data)?;
    let (yk, _) = rank_layer::truncate(latents.view(), k)
        .with_context(|| format!("evaluating rank {k} on the training set"))?;
    Ok(relative_error_percent(
        data,
        state.decoder.predict(yk.view())?.view(),
    ))
}

/// The figures a candidate is judged on (see [`Score`]).
///
/// # Errors
/// As [`full_loss`] and [`Validation::error`].
pub fn score(
    state: &TrainState,
    data: ArrayView2<f32>,
    val: Option<&Validation>,
    k: usize,
) -> Result<Score> {
    let train = full_loss(state, data, k)?;
    let (val, linear_val) = match val {
        Some(v) => (
            Some(v.error(&state.encoder, &state.decoder, k)?),
            Some(v.linear_error(k)?),
        ),
        None => (None, None),
    };
    Ok(Score {
        train,
        val,
        linear_val,
    })
}

/// An upper bound on the optimizer steps of the adaptive search (before the
/// final schedule at the chosen rank).
pub fn planned_search_steps(cfg: &TrainConfig, a: &AdaptiveConfig) -> usize {
    match a.rule {
        AdaptiveRule::Staged => {
            let candidates = a.k_max.saturating_sub(a.k_min) + 1;
            // ⌈log₂(candidates)⌉ bisection stages after the k_max stage, each
            // possibly followed by a fresh restart.
            let stages = usize::BITS - (candidates.saturating_sub(1)).leading_zeros();
            a.init_steps + stages as usize * (a.stage_steps + a.retry_steps)
        }
        AdaptiveRule::Reference => cfg.steps,
    }
}

/// What [`search`] found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchResult {
    /// The chosen rank.
    pub k: usize,
    /// The step at which the search ended (the final schedule starts here).
    pub start: usize,
    /// `[step, k]` at every change of rank, the first at step 0.
    pub history: Vec<[usize; 2]>,
    /// Every judged candidate in order (staged rule; empty for the
    /// reference rule, which judges implicitly every step).
    pub judgements: Vec<Judgement>,
}

/// Where a staged search stands. It lives in [`TrainState::search`] while
/// the search runs (and, once over, in the final schedule's states), so a
/// checkpoint holds it and `--resume` continues the search exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchState {
    rule: StagedSearch,
    phase: Phase,
    judgements: Vec<Judgement>,
    history: Vec<[usize; 2]>,
    /// The last accepted candidate's state (what a rejection rolls back to;
    /// dropped once the search is over).
    accepted: Option<Box<TrainState>>,
}

/// The part of the staged search being trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Phase {
    /// The stage of the current candidate, steps `[start, start + len)`;
    /// `restarted`: the fresh restart after a failed warm stage.
    Stage {
        start: usize,
        len: usize,
        restarted: bool,
    },
    /// The search chose `k` at step `start`.
    Done { k: usize, start: usize },
}

impl SearchState {
    fn new(a: &AdaptiveConfig, step: usize) -> Self {
        Self {
            rule: StagedSearch::new(a),
            phase: Phase::Stage {
                start: step,
                len: a.init_steps,
                restarted: false,
            },
            judgements: Vec::new(),
            history: vec![[step, a.k_max]],
            accepted: None,
        }
    }

    fn set_k(&mut self, step: usize, k: usize) {
        if self.history.last().is_some_and(|&[_, last]| last != k) {
            self.history.push([step, k]);
        }
    }

    fn result(&self, k: usize, start: usize) -> SearchResult {
        SearchResult {
            k,
            start,
            history: self.history.clone(),
            judgements: self.judgements.clone(),
        }
    }
}

/// Runs the adaptive search from `state` (at step 0, or a checkpointed
/// state of a search in progress: then it continues where it stopped) with
/// `trainer`; leaves `state` at the chosen rank's weights and `trainer` at
/// that rank, and returns the rank, the step the search ended at, the
/// `[step, k]` history and the judgements. With `val`, candidates are
/// judged on it (see [`Score`]).
///
/// `planned` is the total reported to `observe`.
///
/// # Errors
/// Training failures (divergence, SVD errors).
pub fn search(
    trainer: &mut Trainer,
    state: &mut TrainState,
    a: &AdaptiveConfig,
    val: Option<&Validation>,
    planned: usize,
    observe: &mut dyn FnMut(&Progress),
) -> Result<SearchResult> {
    if a.rule == AdaptiveRule::Reference {
        return reference_search(trainer, state, a, planned, observe);
    }
    let mut s = match state.search.take() {
        Some(s) => *s,
        None => SearchState::new(a, state.step),
    };
    loop {
        let (start, len, restarted) = match s.phase {
            Phase::Done { k, start } => {
                trainer.set_k(k);
                let result = s.result(k, start);
                state.search = Some(Box::new(s));
                return Ok(result);
            }
            Phase::Stage {
                start,
                len,
                restarted,
            } => (start, len, restarted),
        };
        let k = s.rule.current();
        trainer.set_k(k);
        state.search = Some(Box::new(s));
        trainer.run_segment(state, start, len, planned, observe)?;
        s = *state
            .search
            .take()
            .context("the search state went missing")?;
        let score = score(state, trainer.data(), val, k)?;
        let step = state.step;
        if !restarted && !s.rule.accepts(&score) {
            // Second chance: a fresh initialization trained at this k alone
            // (low ranks train slowly from a truncated warm start), the best
            // of a few short trials.
            *state = best_fresh_start(trainer, (step, a.retry_steps), val, planned, observe)?;
            s.phase = Phase::Stage {
                start: step,
                len: a.retry_steps,
                restarted: true,
            };
            continue;
        }
        let (threshold, val_threshold) = (s.rule.threshold(), s.rule.val_threshold());
        let verdict = s.rule.judge(&score);
        s.judgements.push(Judgement {
            k,
            step,
            loss: score.train,
            val_error: score.val,
            linear_val_error: score.linear_val,
            threshold,
            val_threshold,
            restarted,
            accepted: verdict.accepted,
        });
        if verdict.accepted {
            s.accepted = Some(Box::new(state.clone()));
        } else {
            // Keep the step count: batch order continues, history stays monotone.
            *state = s
                .accepted
                .as_deref()
                .context("no accepted candidate to roll back to")?
                .clone();
            state.step = step;
        }
        s.phase = match verdict.next {
            Next::Try(k) => {
                s.set_k(step, k);
                Phase::Stage {
                    start: step,
                    len: a.stage_steps,
                    restarted: false,
                }
            }
            Next::Finish(k) => {
                s.set_k(step, k);
                s.accepted = None;
                Phase::Done { k, start: step }
            }
        };
    }
}

/// Initializations tried for the fresh restart of a candidate that failed
/// its warm stage: the same count as the MLP seeds of the recipe search.
pub const RESTART_INITS: u64 = recipe::SEEDS;

/// Share of `--retry-steps` each initialization of a fresh restart trains
/// before the best continues (500 of the default 3000 steps, like a recipe
/// trial).
pub const RESTART_TRIAL_DIVISOR: usize = 6;

/// The fresh restart of the candidate at `trainer`'s rank: a segment of
/// `len` steps from `step`. [`RESTART_INITS`] initializations (seeds
/// `cfg.seed`, `cfg.seed + 1`, …) each train its first
/// `len / RESTART_TRIAL_DIVISOR` steps (at least one); the one with the
/// lowest validation error (without validation: training loss through the
/// truncation) is returned, ready to continue the segment. The trials are
/// deterministic and never checkpointed (an interrupted run repeats them on
/// resume), and report progress as phase `"search"` at `step`.
///
/// # Errors
/// Training failures.
fn best_fresh_start(
    trainer: &Trainer,
    (step, len): (usize, usize),
    val: Option<&Validation>,
    planned: usize,
    observe: &mut dyn FnMut(&Progress),
) -> Result<TrainState> {
    let (cfg, data, k) = (trainer.cfg, trainer.data, trainer.k());
    let end = step + (len / RESTART_TRIAL_DIVISOR).clamp(1, len.max(1));
    let mut best: Option<(f64, TrainState)> = None;
    for r in 0..RESTART_INITS {
        let mut fresh = TrainState::seeded(cfg, data.ncols(), cfg.seed.wrapping_add(r))?;
        fresh.step = step;
        let mut trial = Trainer::new(cfg, data, &fresh);
        trial.set_k(k);
        let mut relay = |p: &Progress| {
            observe(&Progress {
                phase: "search",
                step,
                ..*p
            })
        };
        trial
            .run_until(&mut fresh, (step, len), end, planned, &mut relay)
            .with_context(|| format!("fresh restart at rank {k}, initialization {r}"))?;
        let sc = score(&fresh, data, val, k)?;
        let key = sc.val.unwrap_or(sc.train);
        if best.as_ref().is_none_or(|(b, _)| key < *b) {
            best = Some((key, fresh));
        }
    }
    best.map(|(_, s)| s).context("no fresh initialization")
}

/// The reference rule's search (not resumable: its tracker is not
/// checkpointed).
fn reference_search(
    trainer: &mut Trainer,
    state: &mut TrainState,
    a: &AdaptiveConfig,
    planned: usize,
    observe: &mut dyn FnMut(&Progress),
) -> Result<SearchResult> {
    let mut history = vec![[state.step, a.k_max]];
    trainer.set_k(a.k_max);
    let mut rule = ReferenceTracker::new(a);
    let mut checkpoint = state.clone();
    state.optimizer.reset(trainer.cfg.lr);
    while state.step < planned_search_steps(trainer.cfg, a) && !rule.converged() {
        let loss = trainer.step(state)?;
        trainer.report(state, planned, loss, observe);
        match rule.observe(f64::from(loss)) {
            RefAction::Continue | RefAction::Converged => {}
            RefAction::Reduce { .. } => checkpoint = state.clone(),
            RefAction::StepBack { .. } => {
                let step = state.step;
                *state = checkpoint.clone();
                state.step = step;
            }
        }
        if rule.k() != trainer.k() {
            trainer.set_k(rule.k());
            history.push([state.step, rule.k()]);
        }
    }
    Ok(SearchResult {
        k: rule.k(),
        start: state.step,
        history,
        judgements: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(k_min: usize, k_max: usize, tol: f64, abs_tol: f64) -> StagedSearch {
        StagedSearch::new(&AdaptiveConfig {
            k_min,
            k_max,
            tol,
            abs_tol,
            ..AdaptiveConfig::default()
        })
    }

    /// A score without validation.
    fn train(loss: f64) -> Score {
        Score {
            train: loss,
            val: None,
            linear_val: None,
        }
    }

    fn run_staged(
        k_min: usize,
        k_max: usize,
        loss_at: impl Fn(usize) -> f64,
    ) -> (usize, Vec<usize>) {
        let mut s = staged(k_min, k_max, 0.5, 0.5);
        let mut tried = vec![s.current()];
        loop {
            match s.judge(&train(loss_at(s.current()))).next {
                Next::Try(k) => tried.push(k),
                Next::Finish(k) => return (k, tried),
            }
        }
    }

    #[test]
    fn staged_finds_the_smallest_acceptable_rank() {
        for k_star in 1..=12 {
            let (k, tried) = run_staged(1, 64, |k| if k >= k_star { 1.0 } else { 30.0 });
            assert_eq!(k, k_star);
            assert!(tried.len() <= 7, "{tried:?}"); // 1 + ⌈log₂ 64⌉
            assert!(tried.iter().all(|&t| (1..=64).contains(&t)));
        }
    }

    #[test]
    fn staged_tolerance_is_relative_or_absolute() {
        let mut s = staged(1, 8, 0.5, 0.2);
        assert_eq!(s.judge(&train(2.0)).next, Next::Try(4));
        assert_eq!(s.threshold(), Some(3.0)); // relative wins
        assert!(s.judge(&train(2.9)).accepted);
        let mut s = staged(1, 8, 0.5, 0.2);
        s.judge(&train(0.1));
        assert_eq!(s.threshold(), Some(0.30000000000000004)); // absolute wins
        assert!(!s.judge(&train(f64::NAN)).accepted);
    }

    #[test]
    fn staged_judges_the_delivered_validation_error() {
        let sc = |train, val, linear| Score {
            train,
            val: Some(val),
            linear_val: Some(linear),
        };
        let mut s = staged(1, 8, 0.2, 5.0);
        // v* is the RRAE's own validation error at k_max, even where the
        // linear model is exact there.
        s.judge(&sc(1.0, 50.0, 0.0));
        assert_eq!((s.threshold(), s.val_threshold()), (Some(6.0), Some(60.0)));
        assert!(s.accepts(&sc(1.0, 59.0, 80.0))); // the RRAE is within the band
        assert!(s.accepts(&sc(1.0, 90.0, 55.0))); // the linear model is
        assert!(!s.accepts(&sc(1.0, 64.0, 70.0))); // neither
        assert!(!s.accepts(&sc(9.0, 10.0, 10.0))); // the training band fails
        assert!(!s.accepts(&sc(1.0, f64::NAN, 70.0)));
        assert!(s.accepts(&sc(1.0, f64::INFINITY, 50.0)));
        // --tolerance replaces the validation band ...
        let mut s = StagedSearch::new(&AdaptiveConfig {
            k_max: 8,
            tolerance: Some(30.0),
            ..AdaptiveConfig::default()
        });
        s.judge(&sc(1.0, 50.0, 0.0));
        assert_eq!((s.threshold(), s.val_threshold()), (Some(6.0), Some(30.0)));
        assert!(!s.accepts(&sc(1.0, 40.0, 45.0)));
        assert!(s.accepts(&sc(1.0, 29.0, 45.0)));
        // ... and, without validation, the training band.
        let mut s = StagedSearch::new(&AdaptiveConfig {
            k_max: 8,
            tolerance: Some(3.0),
            ..AdaptiveConfig::default()
        });
        s.judge(&train(1.0));
        assert_eq!((s.threshold(), s.val_threshold()), (Some(3.0), None));
    }

    #[test]
    fn staged_respects_bounds_and_rolls_back() {
        // Nothing below k_max is good enough: finish at k_max.
        assert_eq!(run_staged(1, 10, |k| if k == 10 { 1.0 } else { 9.0 }).0, 10);
        // Everything is good: never below k_min.
        let (k, tried) = run_staged(3, 10, |_| 1.0);
        assert_eq!(k, 3);
        assert!(tried.iter().all(|&t| (3..=10).contains(&t)));
        // k_min == k_max: the single stage decides.
        let mut s = staged(5, 5, 0.1, 0.1);
        assert_eq!(
            s.judge(&train(1.0)),
            Verdict {
                accepted: true,
                next: Next::Finish(5)
            }
        );
        // Out-of-range k_min is clamped.
        assert_eq!(run_staged(0, 4, |_| 1.0).0, 1);
        assert_eq!(staged(9, 4, 0.1, 0.1).current(), 4);
    }

    #[test]
    fn staged_is_deterministic() {
        let f = |k: usize| 10.0 / k as f64;
        assert_eq!(run_staged(1, 20, f), run_staged(1, 20, f));
    }

    fn reference(patience_init: usize, k_max: usize, k_min: usize) -> ReferenceTracker {
        ReferenceTracker::new(&AdaptiveConfig {
            k_max,
            k_min,
            patience_init,
            window: 4,
            patience_not_right: 5,
            ..AdaptiveConfig::default()
        })
    }

    #[test]
    fn reference_phase_transitions() {
        let mut t = reference(3, 6, 1);
        // Phase 0: avg is infinite for the first `window` steps, then 3 flat steps.
        for _ in 0..4 {
            assert_eq!(t.observe(1.0), RefAction::Continue);
        }
        assert!(t.ideal().is_nan());
        for _ in 0..3 {
            assert_eq!(t.observe(1.0), RefAction::Continue);
        }
        assert_eq!(t.ideal(), 1.0);
        // Phase 1: below ℓ* shrinks by one per step.
        assert_eq!(t.observe(0.5), RefAction::Reduce { from: 6 });
        assert_eq!(t.observe(0.5), RefAction::Reduce { from: 5 });
        assert_eq!(t.k(), 4);
        // Worse than avg for `patience_not_right` steps: one step back up.
        for _ in 0..4 {
            assert_eq!(t.observe(5.0), RefAction::Continue);
        }
        assert_eq!(t.observe(5.0), RefAction::StepBack { to: 5 });
        assert!(t.converged());
        assert_eq!(t.observe(0.1), RefAction::Converged);
        assert_eq!(t.k(), 5);
    }

    #[test]
    fn reference_bounds_and_the_stuck_phase_zero() {
        // Reaching k_min converges there, never below.
        let mut t = reference(1, 3, 2);
        let actions: Vec<_> = (0..20)
            .map(|i| t.observe(1.0 - 1e-3 * f64::from(i)))
            .collect();
        assert!(actions.contains(&RefAction::Reduce { from: 3 }));
        assert_eq!((t.k(), t.converged()), (2, true));
        // Never left k_max: no step above it.
        let mut t = reference(1, 3, 1);
        for _ in 0..6 {
            t.observe(1.0);
        }
        let last = (0..20).map(|_| t.observe(2.0)).last();
        assert_eq!((last, t.k()), (Some(RefAction::Converged), 3));
        // A patience that is never reached (the reference default `None`)
        // keeps phase 0 forever.
        let mut t = reference(usize::MAX, 3, 1);
        for i in 0..1000 {
            t.observe(1.0 + 1e-3 * f64::from(i % 2));
        }
        assert!(t.ideal().is_nan());
        assert_eq!(t.k(), 3);
    }
}
