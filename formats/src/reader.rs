//! The validating, zero-copy, allocation-free reader: [`read`] and [`ModelFile`].

use crate::error::FormatError;
use crate::header::{crc32, Header, ALIGN, HEADER_LEN};
use crate::meta::{ModelMeta, TensorRef};
use crate::scratch::scratch_floats;
use crate::validate::{check_zero, tensor_slice, validate};

/// A validated model file borrowing from the bytes it was read from.
///
/// Built only by [`read`], so every [`TensorRef`] in `meta` is known to be in
/// bounds, aligned and of the right length.
#[derive(Debug, Clone)]
pub struct ModelFile<'a> {
    /// The decoded header.
    pub header: Header,
    /// The decoded metadata (strings borrow from the file).
    pub meta: ModelMeta<'a>,
    weights: &'a [f32],
}

impl<'a> ModelFile<'a> {
    /// The elements of an f32 tensor `t`, borrowed from the file. Never
    /// panics: a reference that is not in bounds (impossible for the file's
    /// own tensors) gives `&[]`.
    pub fn tensor(&self, t: TensorRef) -> &'a [f32] {
        tensor_slice(self.weights, t).unwrap_or(&[])
    }

    /// The elements of an `i8` tensor `t` (int8 weights, activation tables),
    /// borrowed in place; `&[]` if out of bounds, like [`tensor`](Self::tensor).
    pub fn tensor_i8(&self, t: TensorRef) -> &'a [i8] {
        tensor_slice(bytemuck::cast_slice(self.weights), t).unwrap_or(&[])
    }

    /// The elements of an `i32` tensor `t` (biases, multipliers, shifts),
    /// borrowed in place; `&[]` if out of bounds, like [`tensor`](Self::tensor).
    pub fn tensor_i32(&self, t: TensorRef) -> &'a [i32] {
        tensor_slice(bytemuck::cast_slice(self.weights), t).unwrap_or(&[])
    }

    /// The whole weights section as floats.
    pub fn weights(&self) -> &'a [f32] {
        self.weights
    }
}

/// `bytes[start..end]` for section bounds that may not fit the buffer.
fn section(bytes: &[u8], start: u64, end: u64) -> Result<&[u8], FormatError> {
    let start = usize::try_from(start).map_err(|_| FormatError::TooLarge)?;
    let end = usize::try_from(end).map_err(|_| FormatError::TooLarge)?;
    bytes.get(start..end).ok_or(FormatError::BadSection)
}

/// Reads and validates a whole `.rrae` file in place.
///
/// Every rule of `FORMAT.md` is checked here, once: magic, version, flags,
/// both CRCs, section bounds, metadata decoding, tensor shapes, bounds and
/// alignment, layer chaining, finiteness, zero padding and the scratch size.
/// No allocation, no panic, checked arithmetic throughout.
///
/// `bytes` must be exactly the file and 4-byte aligned (see
/// [`Aligned`](crate::Aligned)); otherwise [`FormatError::Misaligned`].
pub fn read(bytes: &[u8]) -> Result<ModelFile<'_>, FormatError> {
    if cfg!(target_endian = "big") {
        return Err(FormatError::BigEndian);
    }
    let header = Header::parse(bytes)?;
    let file_len = u64::from(header.file_len);
    if (bytes.len() as u64) < file_len {
        return Err(FormatError::Truncated {
            needed: file_len,
            got: bytes.len(),
        });
    }
    if bytes.len() as u64 > file_len {
        return Err(FormatError::TrailingBytes {
            needed: header.file_len,
            got: bytes.len(),
        });
    }
    let meta_end = HEADER_LEN as u64 + u64::from(header.meta_len);
    let weights_start = u64::from(header.weights_offset);
    let weights_end = weights_start + u64::from(header.weights_len);
    if weights_start % ALIGN as u64 != 0
        || u64::from(header.weights_len) % 4 != 0
        || weights_start < meta_end
        || weights_end != file_len
    {
        return Err(FormatError::BadSection);
    }
    if crc32(section(bytes, HEADER_LEN as u64, file_len)?) != header.body_crc {
        return Err(FormatError::BodyCrc);
    }

    let meta_bytes = section(bytes, HEADER_LEN as u64, meta_end)?;
    let (meta, rest) = ModelMeta::decode(meta_bytes).map_err(FormatError::Metadata)?;
    if !rest.is_empty() {
        return Err(FormatError::MetadataTrailingBytes { extra: rest.len() });
    }
    check_zero(
        section(bytes, meta_end, weights_start)?,
        HEADER_LEN + meta_bytes.len(),
    )?;
    let required = meta.required_minor();
    if header.minor < required {
        return Err(FormatError::MinorVersionTooOld {
            minor: header.minor,
            required,
        });
    }
    if meta.flags() != header.flags {
        return Err(FormatError::FlagMismatch {
            header: header.flags,
            meta: meta.flags(),
        });
    }

    let weight_bytes = section(bytes, weights_start, weights_end)?;
    let weights: &[f32] =
        bytemuck::try_cast_slice(weight_bytes).map_err(|_| FormatError::Misaligned)?;
    validate(&meta, weight_bytes, header.weights_offset as usize)?;

    let computed = scratch_floats(&meta)?;
    if computed != header.scratch {
        return Err(FormatError::ScratchMismatch {
            header: header.scratch,
            computed,
        });
    }
    Ok(ModelFile {
        header,
        meta,
        weights,
    })
}
