//! The firmware's `shift` model and its host results: the f32 model
//! (`model/model.rrae`, `model/expected.rs`) or, with feature `int8`, its
//! int8 copy (`model/int8/`: `host-gen quantize`, then `host-gen expected`);
//! with feature `cnn8` (which wins over `int8`) the int8 CNN instead
//! (`model/int8/cnn/`: `trainer quantize model/cnn.rrae --dataset
//! 2d_gaussian_shift_scale`, then `host-gen expected` on the f32 CNN's inputs).
//! Used by `src/bin/shift.rs` and the `minimal` flash probe.

/// Host results of [`MODEL`] (`host-gen expected`).
#[cfg(not(any(feature = "int8", feature = "cnn8")))]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
pub mod expected {
    include!("../model/expected.rs");
}
/// Host results of [`MODEL`] (`host-gen expected`).
#[cfg(all(feature = "int8", not(feature = "cnn8")))]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
pub mod expected {
    include!("../model/int8/expected.rs");
}
/// Host results of [`MODEL`] (`host-gen expected`).
#[cfg(feature = "cnn8")]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
pub mod expected {
    include!("../model/int8/cnn/expected.rs");
}

/// The model, embedded in flash, 16-byte aligned, read in place.
#[cfg(not(any(feature = "int8", feature = "cnn8")))]
pub static MODEL: &[u8] = rrae_runtime::include_model!("../model/model.rrae");
/// The model, embedded in flash, 16-byte aligned, read in place.
#[cfg(all(feature = "int8", not(feature = "cnn8")))]
pub static MODEL: &[u8] = rrae_runtime::include_model!("../model/int8/model.rrae");
/// The model, embedded in flash, 16-byte aligned, read in place.
#[cfg(feature = "cnn8")]
pub static MODEL: &[u8] = rrae_runtime::include_model!("../model/int8/cnn/model.rrae");

/// Name of the model's `icount` rows: `shift`, `shift8` for the int8 copy,
/// `cnn8` for the int8 CNN.
pub const NAME: &str = if cfg!(feature = "cnn8") {
    "cnn8"
} else if cfg!(feature = "int8") {
    "shift8"
} else {
    "shift"
};
