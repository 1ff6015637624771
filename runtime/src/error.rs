//! [`Error`]: what the runtime can report.

use core::fmt;
use rrae_format::FormatError;

/// A runtime error: a rejected model file, or a caller buffer of the wrong size.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The model file is invalid (see [`FormatError`]).
    Format(FormatError),
    /// A caller buffer has the wrong length.
    BadLength {
        /// Which argument.
        what: &'static str,
        /// Length required.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// [`decode`](crate::Model::decode) got no coefficients or more than `rank`.
    BadCoefficients {
        /// The model's rank (the maximum).
        rank: usize,
        /// Coefficients given.
        got: usize,
    },
    /// The scratch buffer is shorter than [`scratch_len`](crate::Model::scratch_len).
    ScratchTooSmall {
        /// Floats required.
        needed: usize,
        /// Floats given.
        got: usize,
    },
    /// [`sample`](crate::Model::sample) on a model without a sampler.
    NoSampler,
    /// An int8 entry point ([`encode_i8`](crate::Model::encode_i8), ...) on
    /// an f32 model.
    NotQuantized,
    /// The model's kind (f32 or int8) is compiled out: its cargo feature
    /// (`feature`) is off.
    Disabled {
        /// `"f32"` or `"int8"`.
        feature: &'static str,
    },
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::Format(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Format(e) => write!(f, "invalid model file: {e}"),
            Error::BadLength {
                what,
                expected,
                got,
            } => {
                write!(f, "{what} has length {got}, expected {expected}")
            }
            Error::BadCoefficients { rank, got } => {
                write!(f, "{got} coefficients given, expected 1..={rank}")
            }
            Error::ScratchTooSmall { needed, got } => {
                write!(f, "scratch has {got} floats, needs {needed}")
            }
            Error::NoSampler => f.write_str("the model has no sampler"),
            Error::NotQuantized => f.write_str("int8 call on an f32 model"),
            Error::Disabled { feature } => write!(
                f,
                "this build has no {feature} kernels (cargo feature `{feature}` of rrae-runtime)"
            ),
        }
    }
}

impl core::error::Error for Error {}
