//! `trainer fit`: load data, normalize, train, export `model.rrae`, evaluate
//! the exported file with the runtime, write `metrics.json`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{ArrayView2, Axis};

use super::fit_search::SearchRecord;
use super::quantize;
use crate::basis;
use crate::config::{self, FitOptions, ModelKind, NormalizeKind, TrainConfig};
use crate::data::{self, Dataset, NormKind, Normalizer};
use crate::export::{self, ExportInput};
use crate::metrics::{self, ExportedKind, LoadedModel, Metrics};
use crate::quantize::calibrate::Method;
use crate::quantize::model::Options as QOptions;
use crate::report::{self, FitPlots, LossHistory};
use crate::train::checkpoint::{self, Checkpointer, DataFingerprint};
use crate::train::validation::{self, Validation};
use crate::train::{self, recipe, LinearKind, Progress, RraeModel};

/// File name of the RRAE when the linear model is exported as `model.rrae`.
pub const RRAE_BESIDE: &str = "model-rrae.rrae";

/// Arguments of `trainer fit` (every option may also come from `--config`).
#[derive(Debug, Clone, Args)]
pub struct FitArgs {
    /// Hyperparameters and data.
    #[command(flatten)]
    pub opts: FitOptions,
    /// TOML file with the same fields (kebab-case); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// No progress bar, summary or warnings (errors only).
    #[arg(long)]
    pub quiet: bool,
    /// Keep the basis as a separate step instead of folding it into the layers.
    #[arg(long)]
    pub no_fold: bool,
    /// Also plot N samples from the coefficient Gaussian (DIR/samples.png).
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Continue from DIR/checkpoint.bin (same options and data as the
    /// interrupted run; the result is bit-identical to an uninterrupted run).
    #[arg(long)]
    pub resume: bool,
    /// Write DIR/checkpoint.bin every N steps (0: only at the end of training
    /// and on Ctrl-C).
    #[arg(long, value_name = "N", default_value_t = checkpoint::DEFAULT_EVERY)]
    pub checkpoint_every: usize,
    /// Also write DIR/model-int8.rrae, quantized after training (post-training
    /// quantization calibrated on the training data; see `trainer quantize`).
    #[arg(long, value_name = "KIND")]
    pub quantize: Option<QuantizeKind>,
    /// With --quantize: activation ranges, `minmax` or a percentile (`p99.99`).
    #[arg(long, default_value = quantize::DEFAULT_METHOD, requires = "quantize")]
    pub calibration: Method,
    /// With --quantize: one weight scale per layer instead of per channel.
    #[arg(long, requires = "quantize")]
    pub per_tensor: bool,
    /// With --quantize int8 (see `trainer quantize --help`).
    #[command(flatten)]
    pub qat: quantize::QatArgs,
}

/// The quantized model kinds `fit --quantize` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QuantizeKind {
    /// TFLite's int8 scheme (format 1.2).
    Int8,
}

/// File name of the int8 model `fit --quantize int8` writes beside `model.rrae`.
pub const INT8_FILE: &str = "model-int8.rrae";

/// Quantizes `DIR/model.rrae` of a finished run on its training data, writes
/// `DIR/model-int8.rrae`, and adds the int8 figures to `out.metrics` and
/// `metrics.json`.
///
/// # Errors
/// Quantization, evaluation or writing failures.
pub fn write_int8(opts: &FitOptions, out: &mut FitOutcome, q_opts: QOptions) -> Result<()> {
    let (ds, _) = load_data(opts)?;
    let raw = std::fs::read(&out.model_path)
        .with_context(|| format!("reading {}", out.model_path.display()))?;
    let n = quantize::DEFAULT_CALIBRATION_SAMPLES.min(ds.train.nrows());
    let eval = [ds.train.view(), ds.test.view()];
    let m = quantize::quantize_measured(
        &raw,
        ds.train.view(),
        n,
        q_opts,
        "(the training data)",
        &eval,
    )?;
    let path = out.model_path.with_file_name(INT8_FILE);
    crate::atomic::write(&path, &m.q.bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    let ptq = |i: usize| m.ptq_errors.as_ref().map(|e| e[i]);
    out.metrics.int8 = Some(metrics::Int8Metrics {
        file: INT8_FILE.into(),
        calibration: q_opts.calibration.to_string(),
        per_tensor: q_opts.per_tensor,
        calibration_samples: n,
        train_rel_error: m.errors[0],
        test_rel_error: m.errors[1],
        file_bytes: m.q.bytes.len(),
        qat_steps: q_opts.qat.map_or(0, |q| q.steps),
        ptq_train_rel_error: ptq(0),
        ptq_test_rel_error: ptq(1),
    });
    let json = serde_json::to_string_pretty(&out.metrics)?;
    crate::atomic::write(&out.metrics_path, json.as_bytes())
        .with_context(|| format!("writing {}", out.metrics_path.display()))
}

/// Checkpointing and interruption of a `fit` run (docs/RELIABILITY-TRAINER.md).
#[derive(Debug, Clone)]
pub struct RunControl {
    /// Continue from `DIR/checkpoint.bin`.
    pub resume: bool,
    /// Checkpoint period in steps (0: end of training and interrupt only).
    pub checkpoint_every: usize,
    /// Raised (by Ctrl-C) to stop at the end of the current step.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Default for RunControl {
    fn default() -> Self {
        Self {
            resume: false,
            checkpoint_every: checkpoint::DEFAULT_EVERY,
            interrupt: None,
        }
    }
}

/// A flag raised by Ctrl-C (SIGINT); a second Ctrl-C exits at once.
fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&flag);
    ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("interrupt: stopping after the current step (Ctrl-C again to quit at once)");
    })
    .context("installing the Ctrl-C handler")?;
    Ok(flag)
}

/// Where `fit` wrote its files and what it measured.
#[derive(Debug, Clone)]
pub struct FitOutcome {
    /// `DIR/model.rrae`.
    pub model_path: PathBuf,
    /// `DIR/metrics.json`.
    pub metrics_path: PathBuf,
    /// The figures written to `metrics.json`.
    pub metrics: Metrics,
    /// Training loss over the main phase (at most
    /// [`report::MAX_LOSS_POINTS`] points).
    pub loss_history: LossHistory,
    /// `(C, H, W)` of the samples when the data are images.
    pub image_shape: Option<(usize, usize, usize)>,
}

/// Runs `trainer fit`.
pub fn exec(args: FitArgs) -> Result<()> {
    let opts = match &args.config {
        Some(path) => args.opts.clone().or(FitOptions::from_toml_file(path)?),
        None => args.opts.clone(),
    };
    let run = RunControl {
        resume: args.resume,
        checkpoint_every: args.checkpoint_every,
        interrupt: Some(interrupt_flag()?),
    };
    if args.qat.qat_steps.is_some() && args.quantize.is_none() {
        return Err(anyhow!("--qat-steps needs --quantize int8"));
    }
    let mut out = fit_with(&opts, !args.no_fold, !args.quiet, &run)?;
    if args.quantize.is_some() {
        let q_opts = QOptions {
            calibration: args.calibration,
            per_tensor: args.per_tensor,
            qat: args.qat.options(opts.seed.unwrap_or(0)),
        };
        write_int8(&opts, &mut out, q_opts)?;
    }
    if !args.quiet {
        let m = &out.metrics;
        let search = m
            .search_steps
            .map_or(String::new(), |n| format!(" after a {n}-step rank search"));
        println!(
            "{}: k={} train {:.3} % test {:.3} % (linear baseline {:.2} %) in {:.1} s, {} steps{search} -> {}",
            m.dataset,
            m.k,
            m.train_rel_error,
            m.test_rel_error,
            m.linear_baseline_test_rel_error,
            m.wall_seconds,
            m.steps,
            out.model_path.display()
        );
        if let Some(e) = m.test_interp_rel_error {
            println!("test by parametric interpolation: {e:.3} %");
        }
        if let Some(line) = recipe_line(m) {
            println!("{line}");
        }
        if let Some(line) = validation_line(m) {
            println!("{line}");
        }
        println!(
            "parameters: {}, weight bytes: {}, file bytes: {}",
            m.param_count, m.weight_bytes, m.file_bytes
        );
        if let Some(q) = &m.int8 {
            println!(
                "int8 ({}): train {:.3} % test {:.3} % ({:.2}x the f32 test error), file bytes: {} -> {}",
                q.calibration,
                q.train_rel_error,
                q.test_rel_error,
                q.test_rel_error / m.test_rel_error,
                q.file_bytes,
                out.model_path.with_file_name(&q.file).display()
            );
            if let Some(e) = q.ptq_test_rel_error {
                println!("int8 before {} QAT steps: test {e:.3} %", q.qat_steps);
            }
        }
        for w in metrics::flash_warnings(m.weight_bytes) {
            eprintln!("{w}");
        }
    }
    if let (Some(n), Some(dir)) = (args.samples, out.model_path.parent()) {
        let written = LoadedModel::from_path(&out.model_path).and_then(|m| {
            report::write_samples_plot(dir, &m, n, opts.seed.unwrap_or(0), out.image_shape)
        });
        if let (Err(e), false) = (written, args.quiet) {
            eprintln!("warning: {} not written: {e:#}", report::SAMPLES_PNG);
        }
    }
    Ok(())
}

/// The one line on the recipe search, if there was one.
fn recipe_line(m: &Metrics) -> Option<String> {
    if m.recipes.is_empty() {
        return None;
    }
    let tried: Vec<String> = m
        .recipes
        .iter()
        .map(|c| match (c.val_rel_error, c.trial_steps) {
            (Some(e), _) => format!("{} {e:.2} %", c.label),
            (None, 0) => format!("{} (not tried)", c.label),
            (None, _) => format!("{} (diverged)", c.label),
        })
        .collect();
    let steps = m.recipes.iter().map(|c| c.trial_steps).max().unwrap_or(0);
    let after = match m.refit {
        true => format!(", trained afresh on all {} training samples", m.n_train),
        false => String::new(),
    };
    Some(format!(
        "recipe on validation ({} of {} samples, {steps}-step trials): {} -> {}{after}",
        m.n_val,
        m.n_train,
        tried.join(", "),
        m.recipe
    ))
}

/// The one line on validation and the model choice, if there was a
/// validation set or a linear export.
fn validation_line(m: &Metrics) -> Option<String> {
    let split = format!("{} of {} training samples", m.n_val, m.n_train);
    let errors = match (m.val_rel_error, m.linear_val_rel_error) {
        (Some(r), Some(l)) => format!("validation ({split}): RRAE {r:.3} %, linear {l:.3} %"),
        (Some(r), None) => format!("validation ({split}): RRAE {r:.3} %"),
        _ => "no validation".into(),
    };
    match m.model_kind {
        ExportedKind::Linear => Some(format!(
            "{errors}: exported the linear model ({}; the RRAE, test {:.3} %, is kept as {RRAE_BESIDE})",
            match m.linear_kind {
                Some(LinearKind::Svd) => "truncated SVD",
                _ => "PCA",
            },
            m.rrae_test_rel_error.unwrap_or(f64::NAN)
        )),
        ExportedKind::Rrae if m.n_val > 0 && !m.refit => Some(format!(
            "{errors}: exported the RRAE (best step {})",
            m.best_step.map_or("-".into(), |s| s.to_string())
        )),
        ExportedKind::Rrae => None,
    }
}

/// Loads the dataset named by `opts` (built-in, or a file with a test file or
/// a random split). Returns it and whether it is a built-in set.
pub fn load_data(opts: &FitOptions) -> Result<(Dataset, bool)> {
    let Some(path) = &opts.data else {
        if opts.limit.is_some() {
            anyhow::bail!("--limit applies to --data files only, not to built-in data sets");
        }
        let name = opts.dataset.as_deref().unwrap_or(config::defaults::DATASET);
        let ds =
            data::synthetic::load(name).with_context(|| format!("loading dataset '{name}'"))?;
        return Ok((ds, true));
    };
    if opts.limit == Some(0) {
        anyhow::bail!("--limit must be at least 1");
    }
    let load = |p: &PathBuf| {
        data::files::load_samples(p, opts.limit).with_context(|| format!("loading {}", p.display()))
    };
    let all = load(path)?;
    let image_shape = all.image_shape;
    let (train, test) = match &opts.test {
        Some(t) => {
            let test = load(t)?;
            if test.image_shape != image_shape {
                anyhow::bail!(
                    "{} holds {} but the test data ({}) holds {}",
                    path.display(),
                    describe_shape(image_shape),
                    t.display(),
                    describe_shape(test.image_shape)
                );
            }
            (all.x, test.x)
        }
        None => {
            let frac = config::check_test_fraction(
                opts.test_fraction
                    .unwrap_or(config::defaults::TEST_FRACTION),
            )?;
            data::split_test_fraction(all.x.view(), frac, opts.seed.unwrap_or(0))
                .context("splitting the data")?
        }
    };
    if train.ncols() != test.ncols() {
        anyhow::bail!(
            "{} has {} features but the test data{} has {}",
            path.display(),
            train.ncols(),
            opts.test
                .as_ref()
                .map_or(String::new(), |t| format!(" ({})", t.display())),
            test.ncols()
        );
    }
    let name = path
        .file_stem()
        .map_or_else(|| "data".into(), |s| s.to_string_lossy().into_owned());
    Ok((
        Dataset {
            name,
            train,
            test,
            train_params: None,
            test_params: None,
            k_star: None,
            image_shape,
        },
        false,
    ))
}

/// Applies a declared `--image-shape` to `ds` (checked against its width),
/// or passes the data set's own image shape on to the options.
fn with_image_shape(opts: &FitOptions, ds: &mut Dataset) -> Result<FitOptions> {
    if let Some(shape) = config::image_shape(opts, ds.train.ncols())? {
        ds.image_shape = Some(shape);
    }
    Ok(FitOptions {
        image_shape: ds.image_shape.map(|(c, h, w)| vec![c, h, w]),
        ..opts.clone()
    })
}

/// "C x H x W images" or "plain samples", for error messages.
fn describe_shape(shape: Option<(usize, usize, usize)>) -> String {
    match shape {
        Some((c, h, w)) => format!("{c} x {h} x {w} images"),
        None => "plain samples (no image shape)".into(),
    }
}

pub(super) fn progress_bar(total: usize, show: bool) -> ProgressBar {
    if !show || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    let style = ProgressStyle::with_template(
        "{prefix:>8} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The whole `fit` pipeline for resolved options; `fold` folds the basis,
/// `show_progress` draws a progress bar on a terminal.
pub fn fit(opts: &FitOptions, fold: bool, show_progress: bool) -> Result<FitOutcome> {
    fit_with(opts, fold, show_progress, &RunControl::default())
}

/// [`fit`] with checkpoints, resume and interruption as `run` says. An
/// adaptive run (staged rule) searches the rank first and then fits at that
/// rank exactly as a fixed-k run ([`super::fit_search`]).
pub fn fit_with(
    opts: &FitOptions,
    fold: bool,
    show_progress: bool,
    run: &RunControl,
) -> Result<FitOutcome> {
    if super::fit_search::applies(opts) {
        return super::fit_search::fit_adaptive(opts, fold, show_progress, run);
    }
    fit_prepared(prepare(opts)?, fold, show_progress, run, None)
}

/// A run's data, normalization, validation split and first configuration,
/// and where it writes.
pub(super) struct Prepared {
    /// The options, with the image shape of the data filled in.
    pub opts: FitOptions,
    pub ds: Dataset,
    pub normalizer: Normalizer,
    /// All training samples, normalized.
    pub train_n: ndarray::Array2<f32>,
    pub split: validation::Split,
    /// The samples the gradient steps see, normalized.
    pub fit_n: ndarray::Array2<f32>,
    pub val: Option<Validation>,
    /// The options' configuration for the fit samples.
    pub base_cfg: TrainConfig,
    pub out_dir: PathBuf,
}

impl Prepared {
    /// Fewer than [`recipe::REFIT_BELOW`] validation samples: validation
    /// only chooses the recipe, which then trains on every training sample.
    pub fn refit(&self) -> bool {
        recipe::refits(self.val.as_ref())
    }

    /// The same data with `opts` (same steps, split and output directory:
    /// only the configuration is resolved again), without reloading.
    ///
    /// # Errors
    /// Options that do not fit the data.
    pub fn with_options(self, opts: FitOptions) -> Result<Self> {
        let base_cfg = TrainConfig::resolve(&opts, self.fit_n.nrows(), self.fit_n.ncols())?;
        Ok(Self {
            opts,
            base_cfg,
            ..self
        })
    }

    /// The rows training sees and the validation it is judged on.
    pub fn training_rows(&self) -> (ArrayView2<'_, f32>, Option<&Validation>) {
        match self.refit() {
            true => (self.train_n.view(), None),
            false => (self.fit_n.view(), self.val.as_ref()),
        }
    }
}

/// Loads and normalizes the data of `opts`, splits off validation,
/// resolves the configuration and creates the output directory.
pub(super) fn prepare(opts: &FitOptions) -> Result<Prepared> {
    let (mut ds, builtin) = load_data(opts)?;
    let opts = with_image_shape(opts, &mut ds)?;
    let kind = match opts.normalize {
        Some(NormalizeKind::None) => NormKind::None,
        Some(NormalizeKind::Global) => NormKind::Global,
        Some(NormalizeKind::PerFeature) => NormKind::PerFeature,
        None if builtin => NormKind::None,
        None => NormKind::Global,
    };
    let source = opts.data.as_ref().map_or_else(
        || format!("dataset '{}'", ds.name),
        |p| p.display().to_string(),
    );
    let normalizer =
        Normalizer::fit(kind, ds.train.view()).with_context(|| format!("normalizing {source}"))?;
    let train_n = normalizer.apply(ds.train.view())?;
    let split = validation::split(
        train_n.nrows(),
        config::val_fraction(&opts),
        opts.seed.unwrap_or(0),
        opts.val_split == Some(config::ValSplit::Last),
    )?;
    let fit_n = train_n.select(Axis(0), &split.fit);
    let base_cfg =
        TrainConfig::resolve(&opts, fit_n.nrows(), fit_n.ncols()).with_context(|| {
            format!(
                "{source} ({} training samples of {} features, {} of them for validation)",
                train_n.nrows(),
                train_n.ncols(),
                split.val.len()
            )
        })?;
    let val = if split.val.is_empty() {
        None
    } else {
        Some(Validation::new(
            train_n.view(),
            &split,
            &normalizer,
            base_cfg.val_every,
        )?)
    };
    let out_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&ds.name));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    crate::atomic::remove_stale_temps(&out_dir);
    Ok(Prepared {
        opts,
        ds,
        normalizer,
        train_n,
        split,
        fit_n,
        val,
        base_cfg,
        out_dir,
    })
}

/// The fit itself on prepared data; `searched` is the adaptive search that
/// chose the rank of `prep.opts`, if any (its judgements go to the metrics).
pub(super) fn fit_prepared(
    prep: Prepared,
    fold: bool,
    show_progress: bool,
    run: &RunControl,
    searched: Option<&SearchRecord>,
) -> Result<FitOutcome> {
    let Prepared {
        opts,
        ds,
        normalizer,
        train_n,
        split,
        fit_n,
        val,
        base_cfg,
        out_dir,
    } = prep;
    let opts = &opts;
    let fit_raw = ds.train.select(Axis(0), &split.fit);
    let plan = RecipePlan::new(
        opts,
        &base_cfg,
        val.as_ref(),
        (fit_raw.view(), &normalizer),
        ds.image_shape,
        train_n.nrows(),
    )?;
    // Validation too small to select checkpoints: it only chooses the
    // recipe, which then trains on every training sample.
    let refit = plan.refit;
    let ck_path = out_dir.join(checkpoint::FILE_NAME);

    let searching = !run.resume && plan.cfgs.len() > 1;
    let recipe_steps: usize = if searching {
        plan.cfgs.iter().map(|c| c.restart_steps.min(c.steps)).sum()
    } else {
        0
    };
    let main_steps = train::planned_steps(&plan.finals[0]);
    let trials = if run.resume {
        0
    } else {
        train::discarded_restart_steps(&plan.finals[0])
    };
    let finetune = plan.finals[0].finetune_steps;
    let bar = progress_bar(recipe_steps + trials + main_steps + finetune, show_progress);
    let mut loss_history = LossHistory::new(main_steps);
    let mut observe = |p: &Progress| {
        if p.phase == "train" {
            loss_history.record(p.step, p.total, f64::from(p.loss));
        }
        if p.step % 10 == 0 || p.step == p.total {
            let done = match p.phase {
                "recipes" => p.step,
                "restarts" => recipe_steps + p.step,
                "train" => recipe_steps + trials + p.step,
                _ => recipe_steps + trials + main_steps + p.step,
            };
            bar.set_position(done as u64);
            bar.set_prefix(p.phase);
            bar.set_message(format!("k={} loss={:.3}% lr={:.0e}", p.k, p.loss, p.lr));
        }
    };
    let start = Instant::now();
    let (chosen, trial_state, recipes) = match (&val, searching) {
        (Some(v), true) => {
            let labels: Vec<String> = plan.labels.clone();
            let sel = train::recipe::select_recipe(
                &plan.cfgs,
                &labels,
                &plan.fallback,
                fit_n.view(),
                v,
                plan.early,
                &mut observe,
            )?;
            (sel.chosen, Some(sel.state), sel.scores)
        }
        _ if run.resume => {
            // The checkpoint names the recipe it was trained with.
            let written = checkpoint::Checkpoint::load(&ck_path).ok();
            let i = written
                .and_then(|ck| plan.finals.iter().position(|c| *c == ck.config))
                .unwrap_or(0);
            (i, None, Vec::new())
        }
        _ => (0, None, Vec::new()),
    };
    let cfg = plan.finals[chosen].clone();
    let label = plan.labels[chosen].clone();
    let mut saver = Checkpointer::new(
        ck_path,
        run.checkpoint_every,
        checkpoint::resumable(&cfg),
        cfg.clone(),
        DataFingerprint::of(train_n.view()),
        run.interrupt.clone(),
    );
    let resumed = saver.start(run.resume)?;
    // The winner's trial is the start of its own run: continue it (a
    // refit or --restarts starts afresh).
    let continued = trial_state.filter(|_| !refit && cfg.restarts == 1);
    let (train_rows, train_val) = if refit {
        (train_n.view(), None)
    } else {
        (fit_n.view(), val.as_ref())
    };
    let trained = train::fit_from(
        &cfg,
        train_rows,
        train_val,
        resumed.or(continued),
        &mut |s| saver.after_step(s),
        &mut observe,
    );
    let (model, summary) = trained.map_err(|e| saver.explain(e))?;
    if saver.interrupted() {
        return Err(saver.interrupted_error(summary.steps).into());
    }
    let wall_seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let base = ExportInput {
        name: &ds.name,
        model: &model,
        normalizer: &normalizer,
        train: train_n.view(),
        train_params: ds.train_params.as_ref().map(|p| p.view()),
        fold,
    };
    let rrae_bytes = export::model_bytes(&base)?;
    let rrae = LoadedModel::new(&rrae_bytes)?;
    let choice = choose_model(
        opts.model_kind.unwrap_or(ModelKind::Auto),
        &rrae,
        train_val,
        fit_raw.view(),
        &normalizer,
        summary.k,
        &|m| {
            export::model_bytes(&ExportInput {
                model: m,
                train: train_rows,
                train_params: None,
                ..base
            })
        },
    )?;
    let model_path = out_dir.join("model.rrae");
    let beside = out_dir.join(RRAE_BESIDE);
    let (bytes, singular_values, rrae_test_rel_error) = match choice.kind {
        ExportedKind::Rrae => {
            if beside.exists() {
                std::fs::remove_file(&beside)
                    .with_context(|| format!("removing the stale {}", beside.display()))?;
            }
            (rrae_bytes, model.singular_values.clone(), None)
        }
        ExportedKind::Linear => {
            crate::atomic::write(&beside, &rrae_bytes)
                .with_context(|| format!("writing {}", beside.display()))?;
            let linear = RraeModel::linear(ds.train.view(), &normalizer, summary.k, choice.linear)?;
            let rrae_test = rrae.rel_error(ds.test.view())?;
            let bytes = export::model_bytes(&ExportInput {
                model: &linear,
                ..base
            })?;
            (bytes, linear.singular_values, Some(rrae_test))
        }
    };
    crate::atomic::write(&model_path, &bytes)
        .with_context(|| format!("writing {}", model_path.display()))?;

    let loaded = LoadedModel::new(&bytes)?;
    let (param_count, weight_bytes) = metrics::model_size(loaded.model()?.meta());
    let metrics = Metrics {
        dataset: ds.name.clone(),
        k: summary.k,
        model_kind: choice.kind,
        k_history: searched.map_or_else(|| summary.k_history.clone(), |s| s.history.clone()),
        k_judgements: searched
            .map_or_else(|| summary.k_judgements.clone(), |s| s.judgements.clone()),
        restarts: summary.restarts.clone(),
        recipe: label,
        recipes,
        refit,
        latent_dim: cfg.latent,
        input_dim: train_n.ncols(),
        n_train: ds.train.nrows(),
        n_fit: train_rows.nrows(),
        n_val: split.val.len(),
        n_test: ds.test.nrows(),
        train_rel_error: loaded.rel_error(ds.train.view())?,
        test_rel_error: loaded.rel_error(ds.test.view())?,
        test_interp_rel_error: match &ds.test_params {
            Some(p) => loaded
                .interp_rel_error(p.view(), ds.test.view())
                .context("interpolating the test coefficients")?,
            None => None,
        },
        linear_baseline_test_rel_error: basis::linear_baseline(
            ds.train.view(),
            ds.test.view(),
            summary.k,
        )
        .context("computing the linear baseline")?,
        val_rel_error: choice.rrae_val,
        linear_val_rel_error: choice.linear_val,
        linear_kind: (choice.linear_val.is_some() || choice.kind == ExportedKind::Linear)
            .then_some(choice.linear),
        rrae_test_rel_error,
        best_step: summary.best_step,
        val_history: summary.val_history.clone(),
        singular_values,
        wall_seconds: wall_seconds + searched.map_or(0.0, |s| s.wall_seconds),
        steps: summary.steps,
        search_steps: searched.map(|s| s.steps),
        finetune_steps: cfg.finetune_steps,
        final_batch_loss: f64::from(summary.train_loss),
        param_count,
        weight_bytes,
        file_bytes: bytes.len(),
        folded: fold,
        int8: None,
        config: cfg,
    };
    let metrics_path = out_dir.join("metrics.json");
    let json = serde_json::to_string_pretty(&metrics)?;
    crate::atomic::write(&metrics_path, json.as_bytes())
        .with_context(|| format!("writing {}", metrics_path.display()))?;
    let k_history: Vec<(usize, usize)> = metrics.k_history.iter().map(|&[s, k]| (s, k)).collect();
    let plots = FitPlots {
        loss: &loss_history,
        k_history: Some(&k_history),
        singular_values: &metrics.singular_values,
        k: metrics.k,
        test: ds.test.view(),
        model: &loaded,
        image_shape: ds.image_shape,
    };
    let plot_warnings = report::write_fit_plots(&out_dir, &plots);
    if show_progress {
        for w in plot_warnings {
            eprintln!("{w}");
        }
    }
    Ok(FitOutcome {
        model_path,
        metrics_path,
        metrics,
        loss_history,
        image_shape: ds.image_shape,
    })
}

/// The candidate recipes of a run, resolved for the trials and for the
/// final training.
struct RecipePlan {
    /// `mlp-64`, … (the default first).
    labels: Vec<String>,
    /// Configurations of the trials (the fit samples).
    cfgs: Vec<TrainConfig>,
    /// Configurations of the final training (all training samples when
    /// `refit`; otherwise the same as `cfgs`).
    finals: Vec<TrainConfig>,
    /// Which candidates are fallbacks (tried only when the others are not
    /// good enough).
    fallback: Vec<bool>,
    /// When the trials stop.
    early: recipe::EarlyStop,
    /// Fewer than [`recipe::REFIT_BELOW`] validation samples: the chosen
    /// recipe trains afresh on every training sample.
    refit: bool,
}

impl RecipePlan {
    /// The candidates of `opts` (see [`recipe::candidates`]); `base` is the
    /// first one's resolved configuration, `fit` the fit samples in
    /// original units and the normalizer, `n_train` all training samples.
    /// Candidates other than the first that do not fit the data are left
    /// out. No search without validation or with `--adaptive`.
    fn new(
        opts: &FitOptions,
        base: &TrainConfig,
        val: Option<&Validation>,
        (fit_raw, normalizer): (ArrayView2<f32>, &Normalizer),
        image_shape: Option<(usize, usize, usize)>,
        n_train: usize,
    ) -> Result<Self> {
        let linear_val = val.filter(|_| base.adaptive.is_none()).and_then(|v| {
            let lin = RraeModel::linear(fit_raw, normalizer, base.k, LinearKind::Pca).ok()?;
            v.error(&lin.encoder, &lin.decoder, base.k).ok()
        });
        let shape = recipe::DataShape {
            input_dim: fit_raw.ncols(),
            image_shape,
            linear_val,
        };
        let refit = recipe::refits(val);
        let (d, n_fit) = (fit_raw.ncols(), fit_raw.nrows());
        let mut plan = Self {
            labels: Vec::new(),
            cfgs: Vec::new(),
            finals: Vec::new(),
            fallback: Vec::new(),
            early: linear_val.map_or(recipe::EarlyStop::NEVER, recipe::EarlyStop::relative_to),
            refit,
        };
        for (i, c) in recipe::candidates(opts, &shape).into_iter().enumerate() {
            let cfg = match i {
                0 => base.clone(),
                _ => match TrainConfig::resolve(&c.opts, n_fit, d) {
                    Ok(cfg) => cfg,
                    Err(_) => continue,
                },
            };
            let fin = match refit {
                true => TrainConfig::resolve(&c.opts, n_train, d)?,
                false => cfg.clone(),
            };
            plan.labels.push(c.label);
            plan.fallback.push(c.fallback);
            plan.cfgs.push(cfg);
            plan.finals.push(fin);
        }
        Ok(plan)
    }
}

/// Which model `fit` exports and the validation errors behind the choice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelChoice {
    /// The exported model.
    pub kind: ExportedKind,
    /// The linear variant with the lower validation error
    /// ([`LinearKind::Pca`] without validation).
    pub linear: LinearKind,
    /// The RRAE's validation error (%), through its file.
    pub rrae_val: Option<f64>,
    /// The better linear model's validation error (%), fitted on the same
    /// samples as the RRAE, through its file.
    pub linear_val: Option<f64>,
}

/// Chooses between the RRAE (`rrae`, its file) and the linear models of
/// rank `k` (both [`LinearKind`]s) fitted on `fit_raw` (the samples the RRAE
/// trained on, original units; `normalizer` is the RRAE's and `export`
/// makes a file) as `want` says: `Auto` takes the better linear model only
/// when its validation error is lower than the RRAE's. Without validation,
/// `Auto` keeps the RRAE.
///
/// # Errors
/// `Linear` when no linear model of rank `k` exists (k above the number
/// of features or samples), or a failed export.
pub fn choose_model(
    want: ModelKind,
    rrae: &LoadedModel,
    val: Option<&Validation>,
    fit_raw: ArrayView2<f32>,
    normalizer: &Normalizer,
    k: usize,
    export: &dyn Fn(&RraeModel) -> Result<Vec<u8>>,
) -> Result<ModelChoice> {
    let possible = k <= fit_raw.ncols().min(fit_raw.nrows());
    if want == ModelKind::Linear && !possible {
        anyhow::bail!(
            "--model-kind linear: no linear model of rank {k} for {} samples of {} features",
            fit_raw.nrows(),
            fit_raw.ncols()
        );
    }
    let mut linear = None;
    if let (Some(v), true) = (val, possible) {
        for kind in [LinearKind::Pca, LinearKind::Svd] {
            let model = RraeModel::linear(fit_raw, normalizer, k, kind)?;
            let e = LoadedModel::new(&export(&model)?)?.rel_error(v.raw())?;
            if linear.is_none_or(|(_, best)| e < best) {
                linear = Some((kind, e));
            }
        }
    }
    let rrae_val = val.map(|v| rrae.rel_error(v.raw())).transpose()?;
    let linear_val = linear.map(|(_, e)| e);
    let kind = match (want, rrae_val, linear_val) {
        (ModelKind::Linear, ..) => ExportedKind::Linear,
        (ModelKind::Auto, Some(r), Some(l)) if l < r || !r.is_finite() => ExportedKind::Linear,
        _ => ExportedKind::Rrae,
    };
    Ok(ModelChoice {
        kind,
        linear: linear.map_or(LinearKind::Pca, |(kind, _)| kind),
        rrae_val,
        linear_val,
    })
}
