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

use super::{Progress, TrainState, Trainer};
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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Judgement {
    /// The candidate rank.
    pub k: usize,
    /// Step at which it was judged.
    pub step: usize,
    /// Its full-training-set loss (percent, normalized data) after its stage
    /// (after the fresh restart if it had one).
    pub loss: f64,
    /// The largest loss accepted (`None` for the first stage, which defines
    /// the ideal loss).
    pub threshold: Option<f64>,
    /// Whether the warm stage failed and a fresh restart was trained.
    pub restarted: bool,
    /// The verdict.
    pub accepted: bool,
}

/// Our rule: bisection over `[k_min, k_max]` with one judged training stage
/// per candidate.
///
/// The first stage runs at `k_max`; its loss is the ideal loss `ℓ*`. A later
/// candidate `k` is accepted iff its loss `ℓ_k` is finite and
/// `ℓ_k ≤ max(ℓ*·(1 + tol), ℓ* + abs_tol)`. The loss is assumed not to
/// increase with `k`, so accepting `k` discards every larger rank and
/// rejecting it every smaller one.
#[derive(Debug, Clone, PartialEq)]
pub struct StagedSearch {
    lo: usize,
    hi: usize,
    current: usize,
    ideal: Option<f64>,
    tol: f64,
    abs_tol: f64,
}

impl StagedSearch {
    /// A search over `[k_min, k_max]` (`k_min` is raised to 1 and to at most
    /// `k_max`).
    pub fn new(k_min: usize, k_max: usize, tol: f64, abs_tol: f64) -> Self {
        let k_max = k_max.max(1);
        Self {
            lo: k_min.clamp(1, k_max),
            hi: k_max,
            current: k_max,
            ideal: None,
            tol,
            abs_tol,
        }
    }

    /// The rank of the stage being trained.
    pub fn current(&self) -> usize {
        self.current
    }

    /// The ideal loss `ℓ*` (after the first judgement).
    pub fn ideal(&self) -> Option<f64> {
        self.ideal
    }

    /// The largest loss accepted (after the first judgement).
    pub fn threshold(&self) -> Option<f64> {
        self.ideal
            .map(|l| (l * (1.0 + self.tol)).max(l + self.abs_tol))
    }

    /// Whether a stage at [`current`](Self::current) ending with `loss`
    /// would be accepted (always for the first stage, which defines `ℓ*`).
    pub fn accepts(&self, loss: f64) -> bool {
        self.threshold()
            .is_none_or(|t| loss.is_finite() && loss <= t)
    }

    /// Judges the stage just trained at [`current`](Self::current), whose
    /// loss is `loss`, and picks the next candidate.
    pub fn judge(&mut self, loss: f64) -> Verdict {
        let accepted = self.accepts(loss);
        if self.ideal.is_none() {
            self.ideal = Some(loss);
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
    /// `[step, k]` at every change of rank, the first at step 0.
    pub history: Vec<[usize; 2]>,
    /// Every judged candidate in order (staged rule; empty for the
    /// reference rule, which judges implicitly every step).
    pub judgements: Vec<Judgement>,
}

/// Runs the adaptive search from `state` (at step 0) with `trainer`; leaves
/// `state` at the chosen rank's weights and returns the rank, the
/// `[step, k]` history and the judgements.
///
/// `planned` is the total reported to `observe`.
///
/// # Errors
/// Training failures (divergence, SVD errors).
pub fn search(
    trainer: &mut Trainer,
    state: &mut TrainState,
    a: &AdaptiveConfig,
    planned: usize,
    observe: &mut dyn FnMut(&Progress),
) -> Result<SearchResult> {
    let mut judgements = Vec::new();
    let mut history = vec![[state.step, a.k_max]];
    let mut set_k = |trainer: &mut Trainer, step: usize, k: usize| {
        trainer.set_k(k);
        if history.last().is_some_and(|&[_, last]| last != k) {
            history.push([step, k]);
        }
    };
    set_k(trainer, state.step, a.k_max);
    let k = match a.rule {
        AdaptiveRule::Staged => {
            let mut rule = StagedSearch::new(a.k_min, a.k_max, a.tol, a.abs_tol);
            let mut checkpoint = state.clone();
            let mut len = a.init_steps;
            loop {
                let start = state.step;
                trainer.run_segment(state, start, len, planned, observe)?;
                let mut loss = full_loss(state, trainer.data(), rule.current())?;
                let restarted = !rule.accepts(loss);
                if restarted {
                    // Second chance: a fresh initialization trained at this k
                    // alone (low ranks train slowly from a truncated warm start).
                    let step = state.step;
                    *state = TrainState::new(trainer.cfg, trainer.data.ncols())?;
                    state.step = step;
                    trainer.run_segment(state, step, a.retry_steps, planned, observe)?;
                    loss = full_loss(state, trainer.data(), rule.current())?;
                }
                let (k, threshold) = (rule.current(), rule.threshold());
                let verdict = rule.judge(loss);
                judgements.push(Judgement {
                    k,
                    step: state.step,
                    loss,
                    threshold,
                    restarted,
                    accepted: verdict.accepted,
                });
                if verdict.accepted {
                    checkpoint = state.clone();
                } else {
                    // Keep the step count: batch order continues, history stays monotone.
                    let step = state.step;
                    *state = checkpoint.clone();
                    state.step = step;
                }
                match verdict.next {
                    Next::Try(k) => set_k(trainer, state.step, k),
                    Next::Finish(k) => {
                        set_k(trainer, state.step, k);
                        break k;
                    }
                }
                len = a.stage_steps;
            }
        }
        AdaptiveRule::Reference => {
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
                set_k(trainer, state.step, rule.k());
            }
            rule.k()
        }
    };
    Ok(SearchResult {
        k,
        history,
        judgements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_staged(
        k_min: usize,
        k_max: usize,
        loss_at: impl Fn(usize) -> f64,
    ) -> (usize, Vec<usize>) {
        let mut s = StagedSearch::new(k_min, k_max, 0.5, 0.5);
        let mut tried = vec![s.current()];
        loop {
            match s.judge(loss_at(s.current())).next {
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
        let mut s = StagedSearch::new(1, 8, 0.5, 0.2);
        assert_eq!(s.judge(2.0).next, Next::Try(4));
        assert_eq!(s.threshold(), Some(3.0)); // relative wins
        assert!(s.judge(2.9).accepted);
        let mut s = StagedSearch::new(1, 8, 0.5, 0.2);
        s.judge(0.1);
        assert_eq!(s.threshold(), Some(0.30000000000000004)); // absolute wins
        assert!(!s.judge(f64::NAN).accepted);
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
        let mut s = StagedSearch::new(5, 5, 0.1, 0.1);
        assert_eq!(
            s.judge(1.0),
            Verdict {
                accepted: true,
                next: Next::Finish(5)
            }
        );
        // Out-of-range k_min is clamped.
        assert_eq!(run_staged(0, 4, |_| 1.0).0, 1);
        assert_eq!(StagedSearch::new(9, 4, 0.1, 0.1).current(), 4);
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
