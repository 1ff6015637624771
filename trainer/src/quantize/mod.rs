//! Post-training int8 quantization in TFLite's scheme (issue #14): symmetric
//! per-channel int8 weights, int32 biases at `s_in · s_w`, asymmetric int8
//! activations, requantization by a Q31 multiplier and a shift, ReLU and
//! identity as clamps and every other activation as a 256-entry table.
//!
//! - [`fixed_point`]: `QuantizeMultiplier` and `MultiplyByQuantizedMultiplier`,
//!   bit-exact with TFLite;
//! - [`params`]: activation parameters from a range, weights, biases;
//! - [`lut`]: clamps and tables;
//! - [`calibrate`]: activation ranges from sample data (min/max or percentile);
//! - [`layer`]: a quantized layer and its scalar reference forward pass;
//! - [`model`]: a whole model, from an f32 `.rrae` file to quantized networks.

pub mod calibrate;
pub mod fixed_point;
pub mod layer;
pub mod lut;
pub mod model;
pub mod params;

/// Parameters of an int8 tensor: `real = scale · (q − zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    /// Finite, positive.
    pub scale: f32,
    /// In `[-128, 127]`.
    pub zero_point: i32,
}
