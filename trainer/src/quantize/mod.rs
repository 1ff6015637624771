//! Post-training int8 quantization in TFLite's scheme (issue #14): symmetric
//! per-channel int8 weights, int32 biases at `s_in · s_w`, asymmetric int8
//! activations, requantization by a Q31 multiplier and a shift, ReLU and
//! identity as clamps and every other activation as a 256-entry table.
//!
//! - [`fixed_point`]: TFLite's `MultiplyByQuantizedMultiplier` (the
//!   multiplier itself is `rrae_format::quant::quantize_multiplier`);
//! - [`params`]: activation parameters from a range, weights, biases;
//! - [`lut`]: clamps and tables;
//! - [`calibrate`]: activation ranges from sample data (min/max or percentile);
//! - [`layer`]: a quantized layer and its scalar reference forward pass;
//! - [`model`]: a whole model, from an f32 `.rrae` file to quantized networks;
//! - [`qat`]: quantization-aware fine-tuning (fake-quantized forward pass,
//!   straight-through estimator);
//! - [`write`](mod@write): the format 1.2 file.

pub mod calibrate;
pub mod fixed_point;
pub mod layer;
pub mod lut;
pub mod model;
pub mod params;
pub mod qat;
pub mod write;

pub use rrae_format::meta::QParams;
