//! `rrae-trainer`: train Rank Reduction Autoencoders (fixed or adaptive rank)
//! and export them to `.rrae` files.
//!
//! Batches are row-major `batch x features` (rows are samples); the latent
//! matrix of a batch is `batch x latent`, the transpose of the `L x B`
//! orientation used in `RRAE-SPEC.md`.

pub mod atomic;
pub mod basis;
pub mod cli;
pub mod config;
pub mod data;
pub mod export;
pub mod interp;
pub mod linalg;
pub mod metrics;
pub mod nn;
pub mod optim;
pub mod plots;
pub mod quantize;
pub mod rank_layer;
pub mod report;
pub mod tflite;
pub mod train;
