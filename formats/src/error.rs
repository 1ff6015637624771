//! [`FormatError`]: every way a `.rrae` file can be rejected, one variant each.

use core::fmt;

/// Why a model file was rejected (or could not be written).
///
/// Each failure has its own variant so that a caller (or a test) can tell a
/// corrupted file from a newer one from a malformed one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The first four bytes are not `b"RRAE"`.
    BadMagic,
    /// The file's version is newer than (or incompatible with) this reader.
    UnsupportedVersion {
        /// Major version in the file.
        major: u16,
        /// Minor version in the file.
        minor: u16,
    },
    /// Flag bits this reader does not know are set.
    UnknownFlags(u32),
    /// The header flags disagree with the metadata.
    FlagMismatch {
        /// Flags stored in the header.
        header: u32,
        /// Flags implied by the metadata.
        meta: u32,
    },
    /// The header checksum does not match.
    HeaderCrc,
    /// The body checksum does not match.
    BodyCrc,
    /// The buffer is shorter than the file claims to be.
    Truncated {
        /// Bytes the file needs.
        needed: u64,
        /// Bytes available.
        got: usize,
    },
    /// The buffer is longer than the file claims to be.
    TrailingBytes {
        /// Bytes the file needs.
        needed: u32,
        /// Bytes available.
        got: usize,
    },
    /// A header length or offset is inconsistent (bad header length, sections
    /// out of order, overlapping or not ending at the file end, ...).
    BadSection,
    /// A tensor reaches outside the weights section.
    OutOfBounds {
        /// Tensor byte offset within the weights section.
        offset: u32,
        /// Tensor length in elements.
        len: u32,
    },
    /// A tensor offset is not a multiple of 16.
    UnalignedTensor {
        /// The offending byte offset.
        offset: u32,
    },
    /// Two tensors share bytes.
    TensorOverlap {
        /// Byte offset of the second tensor.
        offset: u32,
    },
    /// The buffer is not aligned for `f32` access (place it with
    /// [`Aligned`](crate::Aligned)).
    Misaligned,
    /// The target is big-endian; weights are stored little-endian and are
    /// borrowed in place.
    BigEndian,
    /// The metadata did not decode.
    Metadata(postcard::Error),
    /// The metadata decoded but did not use all of its declared length.
    MetadataTrailingBytes {
        /// Bytes left over.
        extra: usize,
    },
    /// A tensor's length differs from the one its shape implies.
    ShapeMismatch {
        /// Which tensor.
        what: &'static str,
        /// Elements the shape implies (a minimum for singular values).
        expected: u64,
        /// Elements stored.
        got: u32,
    },
    /// Consecutive widths do not match (layer input vs. previous output,
    /// first input or last output vs. the model dimensions).
    LayerChain {
        /// Width required here.
        expected: u32,
        /// Width found.
        got: u32,
    },
    /// The encoder or the decoder has no layers.
    EmptyNetwork,
    /// A dimension is zero.
    ZeroDim,
    /// `rank` is zero or larger than `latent_dim`.
    BadRank {
        /// The rank.
        rank: u32,
        /// The latent width.
        latent_dim: u32,
    },
    /// A weight is NaN or infinite.
    NonFinite {
        /// Which tensor.
        what: &'static str,
    },
    /// An activation parameter is NaN or infinite.
    BadActivation,
    /// A normalization shift is not finite, or a scale is zero or not finite.
    BadNormalization,
    /// A padding byte is not zero.
    NonZeroPadding {
        /// Absolute byte offset in the file.
        at: usize,
    },
    /// The header's scratch size differs from the one the metadata implies.
    ScratchMismatch {
        /// Value stored in the header.
        header: u32,
        /// Value computed from the metadata.
        computed: u32,
    },
    /// A size does not fit the format's 32-bit fields (or the target's `usize`).
    TooLarge,
    /// A convolution's geometry leaves no output pixel along an axis (kernel
    /// larger than the padded input, or a transposed convolution trimmed to
    /// nothing by its padding).
    ConvEmptyOutput,
    /// A transposed convolution's `output_padding` is not smaller than its
    /// stride along the same axis (PyTorch's rule).
    ConvOutputPadding {
        /// The output padding.
        output_padding: u32,
        /// The stride along that axis.
        stride: u32,
    },
    /// The header's minor version is older than the features the metadata
    /// uses (for example a convolution layer in a 1.0 file).
    MinorVersionTooOld {
        /// Minor version in the header.
        minor: u16,
        /// Oldest minor version that has every feature used.
        required: u16,
    },
    /// A model mixes f32 and int8 layers (a model is all one or the other).
    MixedLayerKinds,
    /// An int8 model with a [`Basis::Separate`](crate::meta::Basis::Separate)
    /// basis (int8 models fold it into the layers).
    QuantizedSeparateBasis,
    /// A quantized layer's input parameters differ from the previous
    /// layer's output parameters.
    QuantChain,
    /// A quantization scale is zero, negative or not finite.
    BadScale {
        /// `"activation"` (a [`QParams`](crate::meta::QParams)) or `"weight"`.
        what: &'static str,
    },
    /// A zero point is outside `-128..=127`.
    BadZeroPoint {
        /// The zero point.
        zero_point: i32,
    },
    /// An int8 weight is `-128` (weights are symmetric, `-127..=127`).
    BadWeight {
        /// The weight.
        value: i8,
    },
    /// A requantization multiplier is outside `2^30..=2^31 - 1`.
    BadMultiplier {
        /// The multiplier.
        multiplier: i32,
    },
    /// A requantization shift is outside `-31..=30`.
    BadShift {
        /// The shift.
        shift: i32,
    },
    /// An activation lookup table does not have 256 entries.
    BadTableLength {
        /// Entries stored.
        got: u32,
    },
    /// A clamp activation's `min` is greater than its `max`.
    BadClamp {
        /// Lower bound.
        min: i8,
        /// Upper bound.
        max: i8,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FormatError::*;
        match self {
            BadMagic => f.write_str("not an .rrae file (bad magic)"),
            UnsupportedVersion { major, minor } => write!(
                f,
                "unsupported format version {major}.{minor} (this reader knows {}.{})",
                crate::header::MAJOR,
                crate::header::MINOR
            ),
            UnknownFlags(bits) => write!(f, "unknown header flags {bits:#x}"),
            FlagMismatch { header, meta } => {
                write!(
                    f,
                    "header flags {header:#x} disagree with metadata ({meta:#x})"
                )
            }
            HeaderCrc => f.write_str("header checksum mismatch"),
            BodyCrc => f.write_str("body checksum mismatch"),
            Truncated { needed, got } => write!(f, "truncated: need {needed} bytes, got {got}"),
            TrailingBytes { needed, got } => {
                write!(f, "file is {needed} bytes but the buffer has {got}")
            }
            BadSection => f.write_str("inconsistent section lengths or offsets"),
            OutOfBounds { offset, len } => write!(
                f,
                "tensor at {offset} with {len} elements is outside the weights section"
            ),
            UnalignedTensor { offset } => write!(f, "tensor offset {offset} is not 16-aligned"),
            TensorOverlap { offset } => write!(f, "tensor at {offset} overlaps another"),
            Misaligned => f.write_str("buffer is not 4-byte aligned (use rrae_format::Aligned)"),
            BigEndian => f.write_str("big-endian targets are not supported"),
            Metadata(e) => write!(f, "metadata does not decode: {e}"),
            MetadataTrailingBytes { extra } => {
                write!(f, "{extra} unused bytes after the metadata")
            }
            ShapeMismatch {
                what,
                expected,
                got,
            } => {
                write!(f, "{what}: shape implies {expected} elements, found {got}")
            }
            LayerChain { expected, got } => {
                write!(
                    f,
                    "layer widths do not chain: expected {expected}, got {got}"
                )
            }
            EmptyNetwork => f.write_str("encoder and decoder need at least one layer"),
            ZeroDim => f.write_str("a dimension is zero"),
            BadRank { rank, latent_dim } => {
                write!(f, "rank {rank} not in 1..={latent_dim} (latent_dim)")
            }
            NonFinite { what } => write!(f, "{what} contains NaN or infinity"),
            BadActivation => f.write_str("activation parameter is not finite"),
            BadNormalization => f.write_str("normalization scale is zero or not finite"),
            NonZeroPadding { at } => write!(f, "padding byte at {at} is not zero"),
            ScratchMismatch { header, computed } => write!(
                f,
                "header scratch size {header} differs from the computed {computed}"
            ),
            TooLarge => f.write_str("size does not fit in 32 bits"),
            ConvEmptyOutput => f.write_str("convolution geometry leaves no output pixel"),
            ConvOutputPadding {
                output_padding,
                stride,
            } => write!(
                f,
                "transposed convolution output_padding {output_padding} is not smaller than its stride {stride}"
            ),
            MinorVersionTooOld { minor, required } => write!(
                f,
                "file says format 1.{minor} but uses features of 1.{required}"
            ),
            MixedLayerKinds => f.write_str("the model mixes f32 and int8 layers"),
            QuantizedSeparateBasis => {
                f.write_str("an int8 model needs a folded basis, not a separate one")
            }
            QuantChain => f.write_str(
                "a quantized layer's input parameters differ from the previous layer's output",
            ),
            BadScale { what } => write!(f, "{what} scale is zero, negative or not finite"),
            BadZeroPoint { zero_point } => {
                write!(f, "zero point {zero_point} is outside -128..=127")
            }
            BadWeight { value } => write!(f, "int8 weight {value} is outside -127..=127"),
            BadMultiplier { multiplier } => write!(
                f,
                "requantization multiplier {multiplier} is outside 2^30..=2^31-1"
            ),
            BadShift { shift } => write!(f, "requantization shift {shift} is outside -31..=30"),
            BadTableLength { got } => {
                write!(f, "activation table has {got} entries, expected 256")
            }
            BadClamp { min, max } => write!(f, "clamp bounds {min}..={max} are reversed"),
        }
    }
}

impl core::error::Error for FormatError {}
