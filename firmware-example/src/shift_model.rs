//! The firmware's `shift` model and its host results: the f32 model
//! (`model/model.rrae`, `model/expected.rs`) or, with feature `int8`, its
//! int8 copy (`model/int8/`: `host-gen quantize`, then `host-gen expected`).
//! Used by `src/bin/shift.rs` and the `minimal` flash probe.

/// Host results of [`MODEL`] (`host-gen expected`).
#[cfg(not(feature = "int8"))]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
pub mod expected {
    include!("../model/expected.rs");
}
/// Host results of [`MODEL`] (`host-gen expected`).
#[cfg(feature = "int8")]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
pub mod expected {
    include!("../model/int8/expected.rs");
}

/// The model, embedded in flash, 16-byte aligned, read in place.
#[cfg(not(feature = "int8"))]
pub static MODEL: &[u8] = rrae_runtime::include_model!("../model/model.rrae");
/// The model, embedded in flash, 16-byte aligned, read in place.
#[cfg(feature = "int8")]
pub static MODEL: &[u8] = rrae_runtime::include_model!("../model/int8/model.rrae");

/// Name of the model's `icount` rows: `shift`, or `shift8` for the int8 copy.
pub const NAME: &str = if cfg!(feature = "int8") {
    "shift8"
} else {
    "shift"
};
