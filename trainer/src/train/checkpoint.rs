//! Training checkpoints: `DIR/checkpoint.bin` holds the [`TrainState`] of a
//! run together with the resolved [`TrainConfig`] and a fingerprint of the
//! (normalized) training data, so that `trainer fit --resume` continues
//! exactly where the run stopped and refuses a different configuration or
//! different data.
//!
//! # File layout (little-endian)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"RRAECKPT"` |
//! | 8 | 4 | checkpoint format version ([`VERSION`]) |
//! | 12 | 8 | payload length in bytes |
//! | 20 | 4 | CRC-32 (ISO-HDLC) of the payload |
//! | 24 | … | payload: [`Checkpoint`] encoded with `postcard` |
//!
//! Floats are stored bit-exactly, so a resumed run is bit-identical to an
//! uninterrupted one (batch order is a pure function of `(seed, epoch)`).
//! Files are written with [`crate::atomic::write`].
//!
//! [`Checkpointer`] is the training-loop hook of `trainer fit`: it saves every
//! `every` steps, at the end of the main phase, and when the interrupt flag
//! (set by Ctrl-C) is raised, in which case it stops the run with
//! [`Interrupted`]. It never saves a state with non-finite parameters, so
//! after a divergence the file still holds the last good state.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;
use ndarray::ArrayView2;
use rrae_format::header::crc32;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::TrainState;
use crate::config::TrainConfig;

/// File name of the checkpoint inside the output directory.
pub const FILE_NAME: &str = "checkpoint.bin";
/// Checkpoint format version written and read (2: networks are layer
/// lists that may hold convolutions, and the configuration has `cnn`;
/// 3: the state holds the validation history and best parameters, the
/// configuration `val_fraction` and `val_every`; 4: the state holds the
/// adaptive rank search's progress, the configuration `tolerance`).
pub const VERSION: u32 = 4;
/// Default of `--checkpoint-every` (steps).
pub const DEFAULT_EVERY: usize = 500;

const MAGIC: &[u8; 8] = b"RRAECKPT";
const HEADER_LEN: usize = 24;

/// Shape and CRC-32 of a data matrix (row-major `f32` little-endian bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFingerprint {
    /// Rows (samples).
    pub rows: u64,
    /// Columns (features).
    pub cols: u64,
    /// CRC-32 of the values in row-major order.
    pub crc32: u32,
}

impl DataFingerprint {
    /// Fingerprint of `data`.
    pub fn of(data: ArrayView2<f32>) -> Self {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self {
            rows: data.nrows() as u64,
            cols: data.ncols() as u64,
            crc32: crc32(&bytes),
        }
    }
}

/// What a checkpoint file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The resolved configuration of the run.
    pub config: TrainConfig,
    /// Fingerprint of the normalized training data.
    pub data: DataFingerprint,
    /// The training state after `state.step` steps.
    pub state: TrainState,
}

/// Errors of reading, writing or matching a checkpoint; each names the file.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// There is no checkpoint to resume from.
    #[error("{}: no checkpoint to resume from (run without --resume to start afresh)", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid checkpoint (truncated, corrupt, foreign).
    #[error("{}: not a valid checkpoint: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint was written by another (newer) format version.
    #[error("{}: checkpoint format version {found} is not supported (this trainer reads version {VERSION})", path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// Version found.
        found: u32,
    },
    /// The run's configuration differs from the checkpoint's.
    #[error("{}: the checkpoint was written with a different configuration ({fields}); resume with the original options or start afresh without --resume", path.display())]
    ConfigMismatch {
        /// The file.
        path: PathBuf,
        /// The differing fields, `name: checkpoint -> now`.
        fields: String,
    },
    /// The run's training data differs from the checkpoint's.
    #[error("{}: the checkpoint was written for different training data ({found}); resume with the original data or start afresh without --resume", path.display())]
    DataMismatch {
        /// The file.
        path: PathBuf,
        /// What differs.
        found: String,
    },
}

impl Checkpoint {
    /// The file contents (header and payload).
    ///
    /// # Errors
    /// The encoder's error (not expected for these plain structs).
    pub fn to_bytes(&self) -> Result<Vec<u8>, postcard::Error> {
        let payload = postcard::to_stdvec(self)?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Decodes file contents; `path` names the file in errors.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] or [`CheckpointError::Version`].
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, CheckpointError> {
        let bad = |reason: &str| CheckpointError::Malformed {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let (header, payload) = bytes
            .split_at_checked(HEADER_LEN)
            .ok_or_else(|| bad("shorter than its header"))?;
        let field = |at: usize, len: usize| header.get(at..at + len).unwrap_or_default();
        if field(0, 8) != MAGIC {
            return Err(bad("wrong magic bytes"));
        }
        let version = u32::from_le_bytes(field(8, 4).try_into().unwrap_or_default());
        if version != VERSION {
            return Err(CheckpointError::Version {
                path: path.to_path_buf(),
                found: version,
            });
        }
        let len = u64::from_le_bytes(field(12, 8).try_into().unwrap_or_default());
        if len != payload.len() as u64 {
            return Err(bad(&format!(
                "payload is {} bytes, header says {len} (truncated?)",
                payload.len()
            )));
        }
        let crc = u32::from_le_bytes(field(20, 4).try_into().unwrap_or_default());
        if crc != crc32(payload) {
            return Err(bad("CRC mismatch (corrupt file)"));
        }
        postcard::from_bytes(payload).map_err(|e| bad(&format!("cannot decode: {e}")))
    }

    /// Writes `path` atomically.
    ///
    /// # Errors
    /// [`CheckpointError::Io`].
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        self.to_bytes()
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::atomic::write(path, &bytes))
            .map_err(|source| CheckpointError::Io {
                path: path.to_path_buf(),
                source,
            })
    }

    /// Reads and decodes `path`.
    ///
    /// # Errors
    /// [`CheckpointError::NotFound`], [`CheckpointError::Io`] or the errors of
    /// [`Checkpoint::from_bytes`].
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                CheckpointError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                CheckpointError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// Checks that this checkpoint belongs to a run of `config` on data with
    /// fingerprint `data`, and that its networks have that run's shapes.
    ///
    /// # Errors
    /// [`CheckpointError::ConfigMismatch`], [`CheckpointError::DataMismatch`]
    /// or [`CheckpointError::Malformed`] (shapes).
    pub fn check_matches(
        &self,
        config: &TrainConfig,
        data: DataFingerprint,
        path: &Path,
    ) -> Result<(), CheckpointError> {
        if self.config != *config {
            return Err(CheckpointError::ConfigMismatch {
                path: path.to_path_buf(),
                fields: config_diff(&self.config, config),
            });
        }
        if self.data != data {
            let d = &self.data;
            return Err(CheckpointError::DataMismatch {
                path: path.to_path_buf(),
                found: format!(
                    "checkpoint {}x{} crc {:08x}, now {}x{} crc {:08x}",
                    d.rows, d.cols, d.crc32, data.rows, data.cols, data.crc32
                ),
            });
        }
        let fresh = TrainState::new(config, data.cols as usize);
        let fits = fresh.is_ok_and(|f| {
            f.encoder.same_shape(&self.state.encoder) && f.decoder.same_shape(&self.state.decoder)
        });
        if !fits || self.state.step > super::planned_steps(config) {
            return Err(CheckpointError::Malformed {
                path: path.to_path_buf(),
                reason: "its networks or step do not fit its configuration".into(),
            });
        }
        Ok(())
    }
}

/// `name: old -> new` for every top-level field that differs.
fn config_diff(old: &TrainConfig, new: &TrainConfig) -> String {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return "unknown fields".into();
    };
    let diffs: Vec<String> = a
        .iter()
        .filter_map(|(k, va)| {
            let vb = b.get(k).unwrap_or(&serde_json::Value::Null);
            (va != vb).then(|| format!("{k}: {va} -> {vb}"))
        })
        .collect();
    if diffs.is_empty() {
        "unknown fields".into()
    } else {
        diffs.join(", ")
    }
}

/// The run was stopped by an interrupt (Ctrl-C).
#[derive(Debug, Error)]
#[error("interrupted at step {step}; {saved}")]
pub struct Interrupted {
    /// Steps done.
    pub step: usize,
    /// Where the state went, and how to go on.
    saved: String,
}

/// The checkpointing hook of a training run (see the module docs).
#[derive(Debug)]
pub struct Checkpointer {
    path: PathBuf,
    every: usize,
    enabled: bool,
    config: TrainConfig,
    data: DataFingerprint,
    interrupt: Option<Arc<AtomicBool>>,
    last_saved: Option<usize>,
}

impl Checkpointer {
    /// Saves to `path` every `every` steps (0: only at the end of the main
    /// phase and on interrupt) when `enabled`; stops the run when
    /// `interrupt` is raised.
    pub fn new(
        path: PathBuf,
        every: usize,
        enabled: bool,
        config: TrainConfig,
        data: DataFingerprint,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Self {
        Self {
            path,
            every,
            enabled,
            config,
            data,
            interrupt,
            last_saved: None,
        }
    }

    /// The state to start from: `None` for a fresh run, the checkpoint's
    /// state for `resume` (checked against this run's config and data).
    ///
    /// # Errors
    /// `resume` of a run that does not checkpoint ([`resumable`]), or the
    /// errors of [`Checkpoint::load`] and [`Checkpoint::check_matches`].
    pub fn start(&self, resume: bool) -> Result<Option<TrainState>> {
        if !resume {
            return Ok(None);
        }
        if !self.enabled {
            anyhow::bail!("--resume is not supported for --adaptive-rule reference (its rank tracker is not checkpointed)");
        }
        let ck = Checkpoint::load(&self.path)?;
        ck.check_matches(&self.config, self.data, &self.path)?;
        Ok(Some(ck.state))
    }

    /// Whether the interrupt flag is raised.
    pub fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Step of the last checkpoint this run wrote.
    pub fn last_saved(&self) -> Option<usize> {
        self.last_saved
    }

    /// Called after every optimizer step of the main phase.
    ///
    /// # Errors
    /// A failed save, or [`Interrupted`] when the interrupt flag is raised
    /// (after saving).
    pub fn after_step(&mut self, state: &TrainState) -> Result<()> {
        let interrupted = self.interrupted();
        let due = interrupted
            || state.step == self.config.steps
            || (self.every > 0 && state.step % self.every == 0);
        if self.enabled && due && finite(state) {
            Checkpoint {
                config: self.config.clone(),
                data: self.data,
                state: state.clone(),
            }
            .save(&self.path)?;
            self.last_saved = Some(state.step);
        }
        if interrupted {
            return Err(self.interrupted_error(state.step).into());
        }
        Ok(())
    }

    /// The [`Interrupted`] error for a stop after `step` steps.
    pub fn interrupted_error(&self, step: usize) -> Interrupted {
        let saved = match self.last_saved {
            Some(s) => format!(
                "checkpoint of step {s} saved to {}; to continue, run the same command with --resume",
                self.path.display()
            ),
            None if !self.enabled => {
                "no checkpoint was saved (--adaptive-rule reference runs cannot resume)".into()
            }
            None => "no checkpoint was saved (the parameters are not finite)".into(),
        };
        Interrupted { step, saved }
    }

    /// Adds the last good checkpoint (if any) to a training error.
    pub fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        match self.last_saved {
            Some(s) if !e.is::<Interrupted>() => e.context(format!(
                "training stopped (last good checkpoint: {}, after {s} steps)",
                self.path.display()
            )),
            _ => e,
        }
    }
}

/// Whether runs of `cfg` checkpoint and resume: fixed-rank runs and the
/// staged adaptive rule (whose search state is part of [`TrainState`]),
/// not `--adaptive-rule reference`.
pub fn resumable(cfg: &TrainConfig) -> bool {
    cfg.adaptive
        .as_ref()
        .is_none_or(|a| a.rule == crate::config::AdaptiveRule::Staged)
}

/// Whether every parameter of both networks is finite.
fn finite(state: &TrainState) -> bool {
    state.encoder.is_finite() && state.decoder.is_finite()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FitOptions;

    fn sample() -> (Checkpoint, PathBuf) {
        let opts = FitOptions {
            latent: Some(4),
            width: Some(3),
            steps: Some(10),
            ..Default::default()
        };
        let config = TrainConfig::resolve(&opts, 8, 5).unwrap();
        let data = ndarray::Array2::<f32>::ones((8, 5));
        let state = TrainState::new(&config, 5).unwrap();
        let ck = Checkpoint {
            config,
            data: DataFingerprint::of(data.view()),
            state,
        };
        (ck, PathBuf::from("ck.bin"))
    }

    #[test]
    fn round_trip_is_exact_nan_included() {
        let (ck, p) = sample();
        assert!(ck.state.last_loss.is_nan());
        let back = Checkpoint::from_bytes(&ck.to_bytes().unwrap(), &p).unwrap();
        assert_eq!(back.config, ck.config);
        assert_eq!(back.state.encoder, ck.state.encoder);
        assert_eq!(back.to_bytes().unwrap(), ck.to_bytes().unwrap());
        back.check_matches(&ck.config, ck.data, &p).unwrap();
    }

    /// A CNN state (convolution layers in both networks) round-trips
    /// exactly, and a state whose layers do not fit the configuration is
    /// refused.
    #[test]
    fn cnn_state_round_trips_and_shapes_are_checked() {
        let opts = FitOptions {
            arch: Some(crate::config::Arch::Cnn),
            image_shape: Some(vec![1, 6, 6]),
            channels: Some(vec![2, 3]),
            latent: Some(4),
            steps: Some(10),
            ..Default::default()
        };
        let config = TrainConfig::resolve(&opts, 8, 36).unwrap();
        let data = DataFingerprint::of(ndarray::Array2::<f32>::ones((8, 36)).view());
        let state = TrainState::new(&config, 36).unwrap();
        assert_eq!(state.encoder.layers.len(), 3);
        let ck = Checkpoint {
            config: config.clone(),
            data,
            state,
        };
        let p = PathBuf::from("ck.bin");
        let back = Checkpoint::from_bytes(&ck.to_bytes().unwrap(), &p).unwrap();
        // (`last_loss` is NaN before the first step, so compare the parts.)
        assert_eq!(back.state.encoder, ck.state.encoder);
        assert_eq!(back.state.decoder, ck.state.decoder);
        assert_eq!(back.to_bytes().unwrap(), ck.to_bytes().unwrap());
        back.check_matches(&config, data, &p).unwrap();

        let mut other = back.clone();
        other.state.decoder.layers.pop();
        assert!(matches!(
            other.check_matches(&config, data, &p),
            Err(CheckpointError::Malformed { .. })
        ));
    }

    #[test]
    fn corrupt_truncated_and_newer_files_are_rejected() {
        let (ck, p) = sample();
        let bytes = ck.to_bytes().unwrap();
        let err = |b: &[u8]| Checkpoint::from_bytes(b, &p).unwrap_err();
        assert!(matches!(
            err(&bytes[..10]),
            CheckpointError::Malformed { .. }
        ));
        assert!(matches!(
            err(&bytes[..bytes.len() - 1]),
            CheckpointError::Malformed { .. }
        ));
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(err(&flipped).to_string().contains("CRC mismatch"));
        let mut newer = bytes.clone();
        newer[8] = VERSION as u8 + 1;
        assert!(matches!(
            err(&newer),
            CheckpointError::Version { found, .. } if found == VERSION + 1
        ));
        assert!(matches!(
            err(b"RRAE0000 not a checkpoint at all"),
            CheckpointError::Malformed { .. }
        ));
    }

    #[test]
    fn other_config_or_data_is_refused() {
        let (ck, p) = sample();
        let other = TrainConfig {
            steps: 20,
            ..ck.config.clone()
        };
        let e = ck.check_matches(&other, ck.data, &p).unwrap_err();
        assert!(e.to_string().contains("steps: 10 -> 20"), "{e}");
        let data = DataFingerprint::of(ndarray::Array2::<f32>::zeros((8, 5)).view());
        assert!(matches!(
            ck.check_matches(&ck.config, data, &p),
            Err(CheckpointError::DataMismatch { .. })
        ));
    }

    #[test]
    fn interrupt_saves_then_stops_and_bad_states_are_not_saved() {
        let dir = tempfile::tempdir().unwrap();
        let (ck, _) = sample();
        let path = dir.path().join(FILE_NAME);
        let flag = Arc::new(AtomicBool::new(false));
        let mut hook = Checkpointer::new(
            path.clone(),
            0,
            true,
            ck.config.clone(),
            ck.data,
            Some(flag.clone()),
        );
        let mut state = ck.state.clone();
        state.step = 3;
        hook.after_step(&state).unwrap();
        assert!(!path.exists());
        flag.store(true, Ordering::SeqCst);
        let e = hook.after_step(&state).unwrap_err();
        assert!(e.to_string().contains("--resume"), "{e}");
        assert_eq!(Checkpoint::load(&path).unwrap().state.step, 3);
        flag.store(false, Ordering::SeqCst);
        state.step = ck.config.steps;
        state.encoder.tensors_mut().next().unwrap()[0] = f32::NAN;
        hook.after_step(&state).unwrap();
        assert_eq!(hook.last_saved(), Some(3));
        assert_eq!(Checkpoint::load(&path).unwrap().state.step, 3);
    }
}
