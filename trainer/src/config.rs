//! Training hyperparameters: the options shared by `trainer fit` flags and
//! `--config FILE.toml` (same field names, flags override the file), their
//! documented defaults, and validation in one place.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::nn::activation::{self, Activation};
use crate::nn::{CnnSpec, CoordSpec, Network};
use crate::optim::OptimizerKind;

/// How inputs are scaled before the encoder (stored in the model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NormalizeKind {
    /// Unchanged (the default for the built-in synthetic sets, like the reference).
    None,
    /// One mean/std pair over the whole training array (the default for user data).
    Global,
    /// A mean/std pair per feature.
    PerFeature,
}

/// Network architecture of the encoder and decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Dense layers (--width, --enc-depth, --dec-depth).
    Mlp,
    /// Convolutions for image data (--channels, --kernel, --stride, --padding;
    /// needs an image shape).
    Cnn,
    /// MLP encoder (--width, --enc-depth) and a coordinate decoder: one small
    /// network of (code, pixel position) evaluated at every pixel
    /// (--channels: its hidden widths). For signals and images whose
    /// features move with the parameters (docs/TRAINING.md).
    Coord,
}

/// How `--adaptive` picks the rank (docs/ADAPTIVE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AdaptiveRule {
    /// Ours: bisection on k, each candidate judged after its own stage with
    /// learning-rate decay, on the whole training set, against the ideal loss.
    Staged,
    /// The reference `RRAE_gen_Tracker` on the batch loss (with working defaults).
    Reference,
}

/// Which training samples `--val-fraction` holds out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ValSplit {
    /// A seeded random share.
    #[default]
    Random,
    /// The last rows (samples in time order).
    Last,
}

/// Whether `trainer fit` chooses among candidate recipes (docs/TRAINING.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RecipeMode {
    /// Short trials of the candidate recipes, scored on the validation
    /// samples; the best continues.
    #[default]
    Auto,
    /// The options as given (the default MLP where they say nothing).
    Fixed,
}

/// Which model `trainer fit` exports as `model.rrae` (docs/TRAINING.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// The RRAE, unless the linear model (truncated SVD at the same k) has
    /// the lower validation error.
    Auto,
    /// Always the RRAE.
    Rrae,
    /// Always the linear model.
    Linear,
}

/// Every `fit` option that may also come from a TOML file. `None` means
/// "not given here"; [`FitOptions::or`] merges two sources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FitOptions {
    /// Built-in synthetic dataset: shift, gaussian_shift, stairs, mult_freqs,
    /// mult_gausses, 2d_gaussian_shift_scale.
    #[arg(long, conflicts_with = "data")]
    pub dataset: Option<String>,
    /// User data: .npy or .csv matrix (one sample per row), .npy image stack
    /// (N x H x W or N x C x H x W), IDX file (*-ubyte[.gz], MNIST-style) or a
    /// directory of .png files.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Separate test file for --data (otherwise --test-fraction of the rows).
    #[arg(long, requires = "data")]
    pub test: Option<PathBuf>,
    /// Share of --data rows held out for testing [default: 0.2].
    #[arg(long)]
    pub test_fraction: Option<f64>,
    /// Share of the training samples held out for validation: no gradient
    /// step sees them; they choose the best checkpoint, the --restarts
    /// candidate and RRAE vs linear model. At least 3 samples, and none
    /// when fewer than 5 would be left to train on; 0 turns validation off
    /// [default: 0.2].
    #[arg(long, value_name = "F")]
    pub val_fraction: Option<f64>,
    /// Recipe: auto (short trials of the candidate initializations and
    /// architectures that the options leave open, scored on the validation
    /// samples; the best continues) or fixed (the options as given, the
    /// default MLP where they say nothing) [default: auto].
    #[arg(long, value_enum)]
    pub recipe: Option<RecipeMode>,
    /// Which training samples validate: random (a seeded share) or last
    /// (the last rows of the file, for samples in time order whose test
    /// data come later) [default: random].
    #[arg(long, value_enum)]
    pub val_split: Option<ValSplit>,
    /// Model exported as model.rrae: auto (the RRAE unless the linear model,
    /// the truncated SVD at the same k, validates better; the other one is
    /// kept as model-rrae.rrae), rrae or linear [default: auto].
    #[arg(long, value_enum)]
    pub model_kind: Option<ModelKind>,
    /// Keep only the first N samples of --data and of --test (quick runs on
    /// large files such as Fashion-MNIST's 60,000 images) [default: all].
    #[arg(long, value_name = "N", requires = "data")]
    pub limit: Option<usize>,
    /// Input normalization [default: none for --dataset, global for --data].
    #[arg(long, value_enum)]
    pub normalize: Option<NormalizeKind>,
    /// Rank kept by the truncated SVD [default: 1].
    #[arg(long)]
    pub k: Option<usize>,
    /// Latent width L before truncation [default: 64].
    #[arg(long)]
    pub latent: Option<usize>,
    /// Network architecture: mlp, cnn for images, or coord (coordinate
    /// decoder) [default: chosen on validation by --recipe auto among mlp
    /// and, for signals and images far from linear, coord; otherwise mlp].
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// Declares every data row to be a C x H x W image (row-major); needed by
    /// --arch cnn for flat .npy/.csv data.
    #[arg(long, value_name = "C,H,W", value_delimiter = ',')]
    pub image_shape: Option<Vec<usize>>,
    /// CNN: output channels of the encoder's convolutions, the decoder mirrors
    /// them with transposed convolutions [default: 16,32]. Coord: hidden
    /// widths of the per-pixel decoder network [default: 32,32].
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<usize>>,
    /// CNN: square kernel size of every convolution [default: 3].
    #[arg(long)]
    pub kernel: Option<usize>,
    /// CNN: stride of every convolution [default: 2].
    #[arg(long)]
    pub stride: Option<usize>,
    /// CNN: zero padding of every convolution [default: 1].
    #[arg(long)]
    pub padding: Option<usize>,
    /// Hidden-layer width (MLP; the encoder of coord) [default: 64].
    #[arg(long)]
    pub width: Option<usize>,
    /// Hidden layers in the encoder (MLP) [default: 1].
    #[arg(long)]
    pub enc_depth: Option<usize>,
    /// Hidden layers in the decoder (MLP) [default: 4].
    #[arg(long)]
    pub dec_depth: Option<usize>,
    /// Hidden activation: identity, relu, leaky_relu, tanh, sigmoid, elu, softplus [default: elu].
    #[arg(long)]
    pub activation: Option<String>,
    /// Training epochs (alternative to --steps).
    #[arg(long, conflicts_with = "steps")]
    pub epochs: Option<usize>,
    /// Optimizer steps [default: 6000].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Minibatch size [default: min(64, training samples)].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Learning rate of the first stage [default: 1e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate stages, each 10x smaller, equal step shares [default: 3].
    #[arg(long)]
    pub lr_stages: Option<usize>,
    /// Update rule [default: adam].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Decoder fine-tuning steps with the global basis fixed [default: 300].
    #[arg(long)]
    pub finetune_steps: Option<usize>,
    /// Learning rate of the fine-tuning [default: 1e-4].
    #[arg(long)]
    pub finetune_lr: Option<f64>,
    /// Candidate initializations (seeds seed, seed+1, …) trained for
    /// --restart-steps each; training continues from the one with the lowest
    /// loss [default: with --recipe auto, 4 MLP seeds are candidate recipes;
    /// otherwise 1].
    #[arg(long)]
    pub restarts: Option<usize>,
    /// Steps of each --restarts candidate and of each --recipe auto trial
    /// [default: min(500, steps/4)].
    #[arg(long)]
    pub restart_steps: Option<usize>,
    /// Random seed (initialization and batch order) [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output directory [default: runs/NAME, NAME the dataset or the data file stem].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Adaptive rank (aRRAE; conflicts with --k). Staged rule: bisection on
    /// [--k-min, --k-max]; after its own training stage, rank k is accepted
    /// iff its training-set loss is <= max(l*(1 + tol), l* + abs-tol) and,
    /// with validation, the validation error of the better of the RRAE and
    /// the linear model at k is <= max(v*(1 + tol), v* + abs-tol) (or
    /// <= --tolerance), l* and v* the RRAE's at --k-max; then a fresh fit
    /// at the smallest accepted k, as --k would run it (docs/ADAPTIVE.md).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", conflicts_with = "k")]
    pub adaptive: Option<bool>,
    /// Adaptive rule [default: staged].
    #[arg(long, value_enum)]
    pub adaptive_rule: Option<AdaptiveRule>,
    /// Largest (initial) adaptive rank [default: min(latent, batch)].
    #[arg(long)]
    pub k_max: Option<usize>,
    /// Smallest adaptive rank [default: 1].
    #[arg(long)]
    pub k_min: Option<usize>,
    /// Staged rule: steps of the k_max stage that sets the ideal loss [default: 1500].
    #[arg(long)]
    pub init_steps: Option<usize>,
    /// Staged rule: steps of each candidate's stage [default: 1000].
    #[arg(long)]
    pub stage_steps: Option<usize>,
    /// Staged rule: steps of the fresh restart of a candidate that failed its stage; 4
    /// initializations train its first sixth, the best continues [default: 3000].
    #[arg(long)]
    pub retry_steps: Option<usize>,
    /// Staged rule: relative tolerance on the ideal losses (training and validation) [default: 0.2].
    #[arg(long)]
    pub tol: Option<f64>,
    /// Staged rule: absolute tolerance on the ideal losses, percent points [default: 5].
    #[arg(long)]
    pub abs_tol: Option<f64>,
    /// Staged rule: accept a rank whose validation error (the better of the
    /// RRAE and the linear model at that rank) is at most this many percent,
    /// instead of within --tol / --abs-tol of the one at --k-max (needs validation).
    #[arg(long)]
    pub tolerance: Option<f64>,
    /// Reference rule: stagnation threshold of phases 0 and 2, percent [default: 5].
    #[arg(long)]
    pub eps_perc: Option<f64>,
    /// Reference rule: stagnation threshold of phase 1, percent [default: 1].
    #[arg(long)]
    pub eps_0: Option<f64>,
    /// Reference rule: window of the running mean loss [default: 20].
    #[arg(long)]
    pub window: Option<usize>,
    /// Reference rule: stagnating steps that end phase 0 [default: 200].
    #[arg(long)]
    pub patience_init: Option<usize>,
    /// Reference rule: bad steps before stepping back up [default: 500].
    #[arg(long)]
    pub patience_not_right: Option<usize>,
}

macro_rules! merge_fields {
    ($a:ident, $b:ident; $($f:ident),*) => {
        FitOptions { $($f: $a.$f.or($b.$f)),* }
    };
}

impl FitOptions {
    /// Field-wise `self` if given, else `fallback` (flags over file).
    pub fn or(self, fallback: FitOptions) -> FitOptions {
        merge_fields!(self, fallback; dataset, data, test, test_fraction, val_fraction, recipe, val_split, model_kind, limit, normalize, k, latent,
            arch, image_shape, channels, kernel, stride, padding, width, enc_depth, dec_depth, activation, epochs, steps, batch, lr, lr_stages,
            optimizer, finetune_steps, finetune_lr, restarts, restart_steps, seed, out, adaptive, adaptive_rule, k_max,
            k_min, init_steps, stage_steps, retry_steps, tol, abs_tol, tolerance, eps_perc, eps_0, window, patience_init,
            patience_not_right)
    }

    /// Reads a TOML file with the same (kebab-case) field names.
    pub fn from_toml_file(path: &Path) -> Result<FitOptions> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))
    }
}

/// Default architecture and schedule (see docs/TRAINING.md for the figures
/// they reach). Sized so that the folded `shift` model is ~100 kB of weights.
pub mod defaults {
    /// Dataset trained when neither --dataset nor --data is given.
    pub const DATASET: &str = "shift";
    /// Rank.
    pub const K: usize = 1;
    /// Latent width L.
    pub const LATENT: usize = 64;
    /// Hidden width.
    pub const WIDTH: usize = 64;
    /// Encoder hidden layers.
    pub const ENC_DEPTH: usize = 1;
    /// Decoder hidden layers.
    pub const DEC_DEPTH: usize = 4;
    /// Hidden activation (ELU: smooth, measured more reliable than ReLU on
    /// `shift` across seeds, see docs/TRAINING.md).
    pub const ACTIVATION: crate::nn::Activation = crate::nn::Activation::Elu {
        alpha: crate::nn::activation::ELU_ALPHA,
    };
    /// Optimizer steps.
    pub const STEPS: usize = 6000;
    /// Largest default minibatch.
    pub const BATCH: usize = 64;
    /// First-stage learning rate.
    pub const LR: f64 = 1e-3;
    /// Learning-rate stages (each 10x smaller).
    pub const LR_STAGES: usize = 3;
    /// Decoder fine-tuning steps.
    pub const FINETUNE_STEPS: usize = 300;
    /// Decoder fine-tuning learning rate.
    pub const FINETUNE_LR: f64 = 1e-4;
    /// Steps of each `--restarts` candidate (at most a quarter of the run).
    pub const RESTART_STEPS: usize = 500;
    /// Test share of a single user data file.
    pub const TEST_FRACTION: f64 = 0.2;
    /// Validation share of the training samples.
    pub const VAL_FRACTION: f64 = 0.2;
    /// Validation evaluations over a run (every `steps / VAL_EVALS` steps).
    pub const VAL_EVALS: usize = 60;
    /// CNN: encoder convolution channels (the decoder mirrors them).
    pub const CHANNELS: [usize; 2] = [16, 32];
    /// Coord: hidden widths of the per-pixel decoder network.
    pub const COORD_CHANNELS: [usize; 2] = [32, 32];
    /// CNN: square kernel size.
    pub const KERNEL: usize = 3;
    /// CNN: stride.
    pub const STRIDE: usize = 2;
    /// CNN: zero padding.
    pub const PADDING: usize = 1;
}

/// Resolved options of the adaptive rank (defaults: [`AdaptiveConfig::default`],
/// the reference's where they work; `k_max` defaults to `min(latent, batch)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveConfig {
    /// Rule.
    pub rule: AdaptiveRule,
    /// Initial (largest) rank.
    pub k_max: usize,
    /// Smallest rank.
    pub k_min: usize,
    /// Staged: steps at `k_max` before the ideal loss is measured.
    pub init_steps: usize,
    /// Staged: steps of each candidate's stage (with the learning-rate decay).
    pub stage_steps: usize,
    /// Staged: steps of the fresh restart of a candidate that failed its stage.
    pub retry_steps: usize,
    /// Staged: relative tolerance (accept `ℓ ≤ max(ℓ*·(1 + tol), ℓ* + abs_tol)`).
    pub tol: f64,
    /// Staged: absolute tolerance (percent points).
    pub abs_tol: f64,
    /// Staged: the largest validation error accepted (percent), instead of
    /// the tolerances around the `k_max` one.
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// Reference: stagnation threshold of phase 0 (percent).
    pub eps_perc: f64,
    /// Reference: stagnation threshold of phase 1 (percent).
    pub eps_0: f64,
    /// Reference: running-mean window (steps).
    pub window: usize,
    /// Reference: stagnating steps that end phase 0 (the reference's `None`
    /// never ends it).
    pub patience_init: usize,
    /// Reference: bad steps before stepping back up.
    pub patience_not_right: usize,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self {
            rule: AdaptiveRule::Staged,
            k_max: defaults::LATENT.min(defaults::BATCH),
            k_min: 1,
            init_steps: 1500,
            stage_steps: 1000,
            retry_steps: 3000,
            tol: 0.2,
            abs_tol: 5.0,
            tolerance: None,
            eps_perc: 5.0,
            eps_0: 1.0,
            window: 20,
            patience_init: 200,
            patience_not_right: 500,
        }
    }
}

impl AdaptiveConfig {
    /// Defaults overridden by `opts`; `p = min(latent, batch)`.
    fn resolve(opts: &FitOptions, p: usize) -> Self {
        let d = Self::default();
        Self {
            rule: opts.adaptive_rule.unwrap_or(d.rule),
            k_max: opts.k_max.unwrap_or(p),
            k_min: opts.k_min.unwrap_or(d.k_min),
            init_steps: opts.init_steps.unwrap_or(d.init_steps),
            stage_steps: opts.stage_steps.unwrap_or(d.stage_steps),
            retry_steps: opts.retry_steps.unwrap_or(d.retry_steps),
            tol: opts.tol.unwrap_or(d.tol),
            abs_tol: opts.abs_tol.unwrap_or(d.abs_tol),
            tolerance: opts.tolerance.or(d.tolerance),
            eps_perc: opts.eps_perc.unwrap_or(d.eps_perc),
            eps_0: opts.eps_0.unwrap_or(d.eps_0),
            window: opts.window.unwrap_or(d.window),
            patience_init: opts.patience_init.unwrap_or(d.patience_init),
            patience_not_right: opts.patience_not_right.unwrap_or(d.patience_not_right),
        }
    }

    fn validate(&self, p: usize) -> Result<()> {
        if self.k_min == 0 || self.k_min > self.k_max || self.k_max > p {
            bail!(
                "--k-min {} and --k-max {} must satisfy 1 <= k-min <= k-max <= min(latent, batch) = {p}",
                self.k_min,
                self.k_max
            );
        }
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !non_negative(self.tol) || !non_negative(self.abs_tol) {
            bail!("--tol and --abs-tol must be finite and non-negative");
        }
        if self.tolerance.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            bail!("--tolerance must be a positive percentage");
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.eps_perc) || !positive(self.eps_0) {
            bail!("--eps-perc and --eps-0 must be positive and finite");
        }
        if [
            self.init_steps,
            self.stage_steps,
            self.retry_steps,
            self.window,
            self.patience_init,
            self.patience_not_right,
        ]
        .contains(&0)
        {
            bail!(
                "--init-steps, --stage-steps, --retry-steps, --window, --patience-init and \
                 --patience-not-right must be positive"
            );
        }
        Ok(())
    }
}

/// Resolved, validated training hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Rank kept.
    pub k: usize,
    /// Latent width L.
    pub latent: usize,
    /// Hidden width.
    pub width: usize,
    /// Encoder hidden layers.
    pub enc_depth: usize,
    /// Decoder hidden layers.
    pub dec_depth: usize,
    /// Hidden activation.
    pub activation: Activation,
    /// Total optimizer steps.
    pub steps: usize,
    /// Minibatch size.
    pub batch: usize,
    /// First-stage learning rate.
    pub lr: f64,
    /// Number of learning-rate stages (each 10x smaller, fresh optimizer state).
    pub lr_stages: usize,
    /// Update rule.
    pub optimizer: OptimizerKind,
    /// Decoder fine-tuning steps.
    pub finetune_steps: usize,
    /// Fine-tuning learning rate.
    pub finetune_lr: f64,
    /// Candidate initializations tried before training (1: none).
    #[serde(default = "one")]
    pub restarts: usize,
    /// Steps of each candidate.
    #[serde(default)]
    pub restart_steps: usize,
    /// Seed.
    pub seed: u64,
    /// Adaptive rank (`k` is then the initial rank `k_max`).
    #[serde(default)]
    pub adaptive: Option<AdaptiveConfig>,
    /// Convolutional architecture (`--arch cnn`); `None` for the MLP
    /// (`width`, `enc_depth` and `dec_depth` apply to the MLP only).
    #[serde(default)]
    pub cnn: Option<CnnSpec>,
    /// Coordinate decoder (`--arch coord`; the encoder is the MLP).
    #[serde(default)]
    pub coord: Option<CoordSpec>,
    /// Share of the training samples held out for validation (0: none).
    #[serde(default)]
    pub val_fraction: f64,
    /// Steps between validation evaluations.
    #[serde(default = "one")]
    pub val_every: usize,
    /// Which samples validate.
    #[serde(default)]
    pub val_split: ValSplit,
}

impl TrainConfig {
    /// Applies defaults to `opts` and validates against the data:
    /// `n_train` training samples of `input_dim` features.
    pub fn resolve(opts: &FitOptions, n_train: usize, input_dim: usize) -> Result<TrainConfig> {
        use defaults as d;
        let activation = match &opts.activation {
            None => d::ACTIVATION,
            Some(name) => activation::parse(name).with_context(|| {
                format!(
                    "unknown activation '{name}' (expected one of {})",
                    activation::NAMES.join(", ")
                )
            })?,
        };
        let batch = opts.batch.unwrap_or(d::BATCH.min(n_train));
        let steps = match (opts.steps, opts.epochs) {
            (Some(s), _) => s,
            (None, Some(e)) => e.saturating_mul(n_train / batch.max(1)),
            (None, None) => d::STEPS,
        };
        let latent = opts.latent.unwrap_or(d::LATENT);
        let adaptive = opts
            .adaptive
            .unwrap_or(false)
            .then(|| AdaptiveConfig::resolve(opts, latent.min(batch)));
        if adaptive.is_some() && opts.k.is_some() {
            bail!("--k and --adaptive exclude each other (use --k-max / --k-min)");
        }
        let cfg = TrainConfig {
            k: adaptive
                .as_ref()
                .map_or(opts.k.unwrap_or(d::K), |a| a.k_max),
            latent,
            width: opts.width.unwrap_or(d::WIDTH),
            enc_depth: opts.enc_depth.unwrap_or(d::ENC_DEPTH),
            dec_depth: opts.dec_depth.unwrap_or(d::DEC_DEPTH),
            activation,
            steps,
            batch,
            lr: opts.lr.unwrap_or(d::LR),
            lr_stages: opts.lr_stages.unwrap_or(d::LR_STAGES),
            optimizer: opts.optimizer.unwrap_or(OptimizerKind::Adam),
            finetune_steps: opts.finetune_steps.unwrap_or(d::FINETUNE_STEPS),
            finetune_lr: opts.finetune_lr.unwrap_or(d::FINETUNE_LR),
            restarts: opts.restarts.unwrap_or(1),
            restart_steps: opts
                .restart_steps
                .unwrap_or(d::RESTART_STEPS.min(steps / 4).max(1)),
            seed: opts.seed.unwrap_or(0),
            adaptive,
            cnn: resolve_cnn(opts, input_dim)?,
            coord: resolve_coord(opts, input_dim)?,
            val_fraction: val_fraction(opts),
            val_every: (steps / d::VAL_EVALS).max(1),
            val_split: opts.val_split.unwrap_or_default(),
        };
        cfg.validate(n_train, input_dim)?;
        Ok(cfg)
    }

    /// Freshly initialized encoder and decoder (in this order from `rng`).
    ///
    /// # Errors
    /// An invalid CNN geometry (caught by [`TrainConfig::validate`] first).
    pub fn networks<R: rand::Rng + ?Sized>(
        &self,
        input_dim: usize,
        rng: &mut R,
    ) -> Result<(Network<f32>, Network<f32>)> {
        Ok(match (&self.cnn, &self.coord) {
            (Some(spec), _) => (
                spec.encoder(self.latent, self.activation, rng)?,
                spec.decoder(self.latent, self.activation, rng)?,
            ),
            (None, coord) => {
                let enc = Network::mlp(&self.encoder_dims(input_dim), self.activation, rng);
                let dec = match coord {
                    Some(spec) => spec.decoder(self.latent, self.activation, rng)?,
                    None => Network::mlp(&self.decoder_dims(input_dim), self.activation, rng),
                };
                (enc, dec)
            }
        })
    }

    /// Every constraint on the hyperparameters, checked once.
    pub fn validate(&self, n_train: usize, input_dim: usize) -> Result<()> {
        const MAX_WIDTH: usize = 1 << 16;
        if input_dim == 0 || n_train == 0 {
            bail!("the training data is empty ({n_train} samples of {input_dim} features)");
        }
        if self.batch == 0 || self.batch > n_train {
            bail!(
                "--batch {} must be between 1 and the number of training samples ({n_train})",
                self.batch
            );
        }
        if self.latent == 0 || self.width == 0 || self.latent > MAX_WIDTH || self.width > MAX_WIDTH
        {
            bail!("--latent and --width must be between 1 and {MAX_WIDTH}");
        }
        let p = self.latent.min(self.batch);
        if let Some(a) = &self.adaptive {
            a.validate(p)?;
        }
        if self.k == 0 || self.k > p {
            bail!(
                "--k {} must satisfy 1 <= k <= min(latent, batch) = {p} (latent {}, batch {})",
                self.k,
                self.latent,
                self.batch
            );
        }
        // The file format holds at most MAX_LAYERS layers per network.
        let max_depth = rrae_format::meta::MAX_LAYERS - 1;
        if self.enc_depth > max_depth || self.dec_depth > max_depth {
            bail!("--enc-depth and --dec-depth must be at most {max_depth}");
        }
        const MAX_STEPS: usize = 1 << 40;
        if self.steps == 0 || self.steps > MAX_STEPS {
            bail!("the number of training steps must be between 1 and {MAX_STEPS}");
        }
        // Largest weight matrix (rows x cols floats) must fit in memory: 2^28 floats = 1 GiB.
        const MAX_LAYER_FLOATS: usize = crate::nn::cnn::MAX_LAYER_FLOATS;
        let widest = input_dim.max(self.width).max(self.latent);
        let second = self.width.max(self.latent);
        if let Some(spec) = &self.cnn {
            let (c, h, w) = spec.image;
            if crate::data::image_len((c, h, w)) != Some(input_dim) {
                bail!(
                    "the image shape {c} x {h} x {w} does not match the data's {input_dim} features"
                );
            }
            spec.plan(self.latent).context("--arch cnn")?;
        } else if let Some(spec) = &self.coord {
            let (rows, cols) = spec.grid;
            if crate::data::image_len((spec.out_channels, rows, cols)) != Some(input_dim) {
                bail!(
                    "the coordinate decoder's output {} x {rows} x {cols} does not match the data's {input_dim} features",
                    spec.out_channels
                );
            }
            spec.validate(self.latent).context("--arch coord")?;
        }
        if self.cnn.is_none()
            && widest
                .checked_mul(second)
                .is_none_or(|n| n > MAX_LAYER_FLOATS)
        {
            bail!(
                "a {widest} x {second} layer would exceed {MAX_LAYER_FLOATS} weights; use a smaller --width or --latent"
            );
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.lr) || !positive(self.finetune_lr) {
            bail!("learning rates must be positive and finite");
        }
        if !(self.val_fraction.is_finite() && (0.0..1.0).contains(&self.val_fraction)) {
            bail!(
                "--val-fraction {} must be at least 0 and below 1",
                self.val_fraction
            );
        }
        if self.restarts == 0 || self.restarts > 64 {
            bail!("--restarts {} must be between 1 and 64", self.restarts);
        }
        if self.restarts > 1 {
            if self.adaptive.is_some() {
                bail!(
                    "--restarts applies to a fixed --k (the adaptive search restarts on its own)"
                );
            }
            if self.restart_steps == 0 || self.restart_steps > self.steps {
                bail!(
                    "--restart-steps {} must be between 1 and the number of steps ({})",
                    self.restart_steps,
                    self.steps
                );
            }
        }
        if self.lr_stages == 0 || self.lr_stages > self.steps {
            bail!(
                "--lr-stages {} must be between 1 and the number of steps ({})",
                self.lr_stages,
                self.steps
            );
        }
        Ok(())
    }

    /// Learning rate and first step of stage `i` (of `lr_stages`).
    pub fn stage(&self, i: usize) -> (f64, usize) {
        (
            self.lr * 0.1f64.powi(i as i32),
            i * self.steps / self.lr_stages,
        )
    }

    /// Learning-rate stage of step `offset` of a segment of `len` steps
    /// split like the main schedule (equal shares, each 10x smaller).
    pub fn stage_at(&self, offset: usize, len: usize) -> usize {
        (0..self.lr_stages)
            .rev()
            .find(|&i| i * len / self.lr_stages <= offset)
            .unwrap_or(0)
    }

    /// Layer widths of the encoder, input first.
    pub fn encoder_dims(&self, input_dim: usize) -> Vec<usize> {
        dims(input_dim, self.width, self.enc_depth, self.latent)
    }

    /// Layer widths of the decoder, latent first.
    pub fn decoder_dims(&self, input_dim: usize) -> Vec<usize> {
        dims(self.latent, self.width, self.dec_depth, input_dim)
    }
}

fn dims(first: usize, width: usize, hidden: usize, last: usize) -> Vec<usize> {
    let mut d = vec![first];
    d.extend(std::iter::repeat_n(width, hidden));
    d.push(last);
    d
}

/// The declared image shape `C,H,W` of `opts`, checked against the data's
/// `input_dim` features.
///
/// # Errors
/// Not three positive entries, or `C·H·W != input_dim`.
pub fn image_shape(opts: &FitOptions, input_dim: usize) -> Result<Option<(usize, usize, usize)>> {
    let Some(v) = &opts.image_shape else {
        return Ok(None);
    };
    let &[c, h, w] = v.as_slice() else {
        bail!("--image-shape needs three values C,H,W (got {})", v.len());
    };
    if crate::data::image_len((c, h, w)) != Some(input_dim) || input_dim == 0 {
        bail!(
            "--image-shape {c},{h},{w} does not match the data's {input_dim} features per sample"
        );
    }
    Ok(Some((c, h, w)))
}

/// The CNN spec of `opts` (`None` for `--arch mlp`), defaults applied.
fn resolve_cnn(opts: &FitOptions, input_dim: usize) -> Result<Option<CnnSpec>> {
    use defaults as d;
    let image = image_shape(opts, input_dim)?;
    let cnn_opts = opts.channels.is_some()
        || opts.kernel.is_some()
        || opts.stride.is_some()
        || opts.padding.is_some();
    let mlp_opts = opts.width.is_some() || opts.enc_depth.is_some() || opts.dec_depth.is_some();
    match opts.arch.unwrap_or(Arch::Mlp) {
        Arch::Mlp if cnn_opts => {
            bail!("--channels, --kernel, --stride and --padding need --arch cnn")
        }
        Arch::Mlp | Arch::Coord => Ok(None),
        Arch::Cnn if mlp_opts => {
            bail!("--width, --enc-depth and --dec-depth apply to --arch mlp only")
        }
        Arch::Cnn => {
            let image = image.context(
                "--arch cnn needs image data: declare the row layout with --image-shape C,H,W",
            )?;
            Ok(Some(CnnSpec {
                image,
                channels: opts.channels.clone().unwrap_or(d::CHANNELS.to_vec()),
                kernel: opts.kernel.unwrap_or(d::KERNEL),
                stride: opts.stride.unwrap_or(d::STRIDE),
                padding: opts.padding.unwrap_or(d::PADDING),
            }))
        }
    }
}

/// The coordinate decoder of `opts` (`None` unless `--arch coord`),
/// defaults applied: the output grid is the image of `--image-shape` or a
/// single row of `input_dim` values.
fn resolve_coord(opts: &FitOptions, input_dim: usize) -> Result<Option<CoordSpec>> {
    if opts.arch != Some(Arch::Coord) {
        return Ok(None);
    }
    if opts.kernel.is_some() || opts.stride.is_some() || opts.padding.is_some() {
        bail!("--kernel, --stride and --padding need --arch cnn (--arch coord takes --channels)");
    }
    if opts.dec_depth.is_some() {
        bail!("--dec-depth applies to --arch mlp (--arch coord takes --channels)");
    }
    let (out_channels, rows, cols) = image_shape(opts, input_dim)?.unwrap_or((1, 1, input_dim));
    Ok(Some(CoordSpec {
        grid: (rows, cols),
        out_channels,
        channels: opts
            .channels
            .clone()
            .unwrap_or(defaults::COORD_CHANNELS.to_vec()),
    }))
}

/// The validation share `opts` ask for: `--val-fraction`, else
/// [`defaults::VAL_FRACTION`] (fixed rank and `--adaptive` alike: the rank
/// search judges on validation, docs/ADAPTIVE.md).
pub fn val_fraction(opts: &FitOptions) -> f64 {
    opts.val_fraction.unwrap_or(defaults::VAL_FRACTION)
}

fn one() -> usize {
    1
}

/// Validates a test fraction in (0, 1).
pub fn check_test_fraction(f: f64) -> Result<f64> {
    if f.is_finite() && f > 0.0 && f < 1.0 {
        Ok(f)
    } else {
        bail!("--test-fraction {f} must be strictly between 0 and 1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_resolve_and_flags_override_file() {
        let file: FitOptions =
            toml::from_str("k = 2\nwidth = 32\nactivation = \"tanh\"\nenc-depth = 2").unwrap();
        let cli = FitOptions {
            k: Some(1),
            ..Default::default()
        };
        let cfg = TrainConfig::resolve(&cli.or(file), 199, 200).unwrap();
        assert_eq!((cfg.k, cfg.width, cfg.batch, cfg.enc_depth), (1, 32, 64, 2));
        assert_eq!(cfg.activation, Activation::Tanh);
        assert_eq!(cfg.encoder_dims(200), vec![200, 32, 32, cfg.latent]);
        assert_eq!(cfg.decoder_dims(200), vec![cfg.latent, 32, 32, 32, 32, 200]);
        // Small data sets get a smaller default batch.
        assert_eq!(
            TrainConfig::resolve(&FitOptions::default(), 20, 500)
                .unwrap()
                .batch,
            20
        );
    }

    #[test]
    fn rejects_bad_hyperparameters() {
        let bad = [
            FitOptions {
                k: Some(0),
                ..Default::default()
            },
            FitOptions {
                k: Some(65),
                ..Default::default()
            },
            FitOptions {
                batch: Some(500),
                ..Default::default()
            },
            FitOptions {
                lr: Some(-1.0),
                ..Default::default()
            },
            FitOptions {
                activation: Some("swish".into()),
                ..Default::default()
            },
            FitOptions {
                dec_depth: Some(40),
                ..Default::default()
            },
            FitOptions {
                steps: Some(0),
                ..Default::default()
            },
        ];
        for opts in bad {
            assert!(TrainConfig::resolve(&opts, 199, 200).is_err(), "{opts:?}");
        }
        assert!(toml::from_str::<FitOptions>("kk = 1").is_err());
        assert!(check_test_fraction(1.0).is_err());
    }

    #[test]
    fn coord_arch_resolves_and_rejects_other_flags() {
        let coord = |extra: FitOptions| {
            let opts = FitOptions {
                arch: Some(Arch::Coord),
                ..extra
            };
            TrainConfig::resolve(&opts, 20, 500)
        };
        let cfg = coord(FitOptions::default()).unwrap();
        let spec = cfg.coord.clone().unwrap();
        assert_eq!((spec.grid, spec.out_channels), ((1, 500), 1));
        assert_eq!(spec.channels, defaults::COORD_CHANNELS.to_vec());
        assert!(cfg.cnn.is_none());
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
        let (enc, dec) = cfg.networks(500, &mut rng).unwrap();
        assert_eq!((enc.in_dim(), dec.out_dim()), (500, 500));
        // An image grid from --image-shape.
        let img = coord(FitOptions {
            image_shape: Some(vec![2, 10, 25]),
            channels: Some(vec![8]),
            ..Default::default()
        })
        .unwrap();
        let spec = img.coord.unwrap();
        assert_eq!(
            (spec.grid, spec.out_channels, spec.channels),
            ((10, 25), 2, vec![8])
        );
        let err = |o: FitOptions| format!("{:#}", coord(o).unwrap_err());
        assert!(err(FitOptions {
            kernel: Some(3),
            ..Default::default()
        })
        .contains("--arch cnn"));
        assert!(err(FitOptions {
            dec_depth: Some(2),
            ..Default::default()
        })
        .contains("--dec-depth"));
        assert!(err(FitOptions {
            channels: Some(vec![]),
            ..Default::default()
        })
        .contains("--channels"));
        assert!(err(FitOptions {
            channels: Some(vec![4096, 4096]),
            latent: Some(1024),
            ..Default::default()
        })
        .contains("exported dense layer"));
    }

    #[test]
    fn restarts_are_validated() {
        let cfg = TrainConfig::resolve(&FitOptions::default(), 20, 500).unwrap();
        assert_eq!((cfg.restarts, cfg.restart_steps), (1, 500));
        let short = FitOptions {
            steps: Some(100),
            restarts: Some(2),
            ..Default::default()
        };
        let cfg = TrainConfig::resolve(&short, 20, 500).unwrap();
        assert_eq!((cfg.restarts, cfg.restart_steps), (2, 25));
        for bad in [
            FitOptions {
                restarts: Some(0),
                ..Default::default()
            },
            FitOptions {
                restarts: Some(2),
                restart_steps: Some(7000),
                ..Default::default()
            },
            FitOptions {
                restarts: Some(2),
                adaptive: Some(true),
                ..Default::default()
            },
        ] {
            assert!(TrainConfig::resolve(&bad, 20, 500).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stages_split_steps_and_divide_lr() {
        let cfg = TrainConfig::resolve(
            &FitOptions {
                steps: Some(300),
                ..Default::default()
            },
            199,
            200,
        )
        .unwrap();
        assert_eq!(cfg.stage(0), (1e-3, 0));
        let (lr, start) = cfg.stage(2);
        assert!((lr - 1e-5).abs() < 1e-15);
        assert_eq!(start, 200);
    }
}
