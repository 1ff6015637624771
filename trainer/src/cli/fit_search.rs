//! `trainer fit --adaptive` (staged rule): search the rank, then fit at it.
//!
//! The search ([`train::search_rank`]) runs on the default MLP and writes
//! `DIR/search.json` when it ends; the model is then fitted at the chosen
//! rank exactly as `trainer fit --k K` would fit it (recipe selection,
//! best checkpoint, linear floor; docs/ADAPTIVE.md), so an adaptive run and
//! a fixed-k run at the same rank give the same model. `--resume` continues
//! whichever phase was interrupted: the search from its checkpoint, or, once
//! `search.json` exists, the fit.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::fit::{fit_prepared, prepare, progress_bar, FitOutcome, RunControl};
use crate::config::{AdaptiveRule, FitOptions, TrainConfig};
use crate::train::adaptive::{self, Judgement};
use crate::train::checkpoint::{self, Checkpoint, Checkpointer, DataFingerprint};
use crate::train::{self, Progress};

/// File the finished search is recorded in, beside the checkpoint.
pub const SEARCH_FILE: &str = "search.json";

/// A finished rank search (`DIR/search.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRecord {
    /// The search's configuration (a resumed run must match it).
    pub config: TrainConfig,
    /// The training data it ran on.
    pub data: DataFingerprint,
    /// The rank chosen.
    pub k: usize,
    /// `[step, k]` at every change of rank.
    pub history: Vec<[usize; 2]>,
    /// Every judged candidate.
    pub judgements: Vec<Judgement>,
    /// Optimizer steps of the search.
    pub steps: usize,
    /// Wall time of the search (s).
    pub wall_seconds: f64,
}

/// Whether `opts` ask for the two-phase adaptive run (the staged rule; the
/// reference rule trains in one phase).
pub fn applies(opts: &FitOptions) -> bool {
    opts.adaptive == Some(true)
        && opts.adaptive_rule.unwrap_or(AdaptiveRule::Staged) == AdaptiveRule::Staged
}

/// Searches the rank of `opts` (resuming it as `run` says), then fits at
/// that rank with the fixed-k pipeline.
///
/// # Errors
/// As [`super::fit::fit_with`]; an interrupted search is an error that says
/// how to resume.
pub fn fit_adaptive(
    opts: &FitOptions,
    fold: bool,
    show_progress: bool,
    run: &RunControl,
) -> Result<FitOutcome> {
    let prep = prepare(opts)?;
    let record_path = prep.out_dir.join(SEARCH_FILE);
    let ck_path = prep.out_dir.join(checkpoint::FILE_NAME);
    let (rows, val) = prep.training_rows();
    // Resolved for the rows it trains on (all of them when validation is
    // too small to judge with: batch size and k_max follow).
    let cfg = match prep.refit() {
        true => TrainConfig::resolve(&prep.opts, rows.nrows(), rows.ncols())?,
        false => prep.base_cfg.clone(),
    };
    let data = DataFingerprint::of(prep.train_n.view());
    let finished = match run.resume {
        true => read_record(&record_path).filter(|r| r.config == cfg && r.data == data),
        false => {
            remove_if_present(&record_path)?;
            None
        }
    };
    let (record, fit_resumes) = match finished {
        // The fit resumes only from its own checkpoint (the file may still
        // hold the search's last one).
        Some(r) => (
            r,
            Checkpoint::load(&ck_path).is_ok_and(|ck| ck.config.adaptive.is_none()),
        ),
        None => {
            let start = Instant::now();
            let mut saver = Checkpointer::new(
                ck_path,
                run.checkpoint_every,
                checkpoint::resumable(&cfg),
                cfg.clone(),
                data,
                run.interrupt.clone(),
            );
            let resumed = saver.start(run.resume)?;
            let planned = cfg
                .adaptive
                .as_ref()
                .map_or(0, |a| adaptive::planned_search_steps(&cfg, a));
            let bar = progress_bar(planned, show_progress);
            let mut observe = |p: &Progress| {
                if p.step % 10 == 0 {
                    bar.set_position(p.step as u64);
                    bar.set_prefix("search");
                    bar.set_message(format!("k={} loss={:.3}% lr={:.0e}", p.k, p.loss, p.lr));
                }
            };
            let found = train::search_rank(
                &cfg,
                rows,
                val,
                resumed,
                &mut |s| saver.after_step(s),
                &mut observe,
            );
            let found = found.map_err(|e| saver.explain(e))?;
            if saver.interrupted() {
                return Err(saver.interrupted_error(found.start).into());
            }
            bar.finish_and_clear();
            let record = SearchRecord {
                config: cfg.clone(),
                data,
                k: found.k,
                history: found.history,
                judgements: found.judgements,
                steps: found.start,
                wall_seconds: start.elapsed().as_secs_f64(),
            };
            let json = serde_json::to_string_pretty(&record)?;
            crate::atomic::write(&record_path, json.as_bytes())
                .with_context(|| format!("writing {}", record_path.display()))?;
            (record, false)
        }
    };
    let fixed = FitOptions {
        adaptive: Some(false),
        k: Some(record.k),
        ..prep.opts.clone()
    };
    let fit_run = RunControl {
        resume: fit_resumes,
        ..run.clone()
    };
    fit_prepared(
        prep.with_options(fixed)?,
        fold,
        show_progress,
        &fit_run,
        Some(&record),
    )
}

/// The record at `path`, if it is there and readable.
fn read_record(path: &Path) -> Option<SearchRecord> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the stale {}", path.display()))
        }
        _ => Ok(()),
    }
}
