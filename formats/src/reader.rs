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

    /// A file of no model (zero header, [`ModelMeta::empty`], no weights),
    /// to be overwritten by [`read_into`](Self::read_into).
    pub fn empty() -> ModelFile<'a> {
        ModelFile {
            header: Header::default(),
            meta: ModelMeta::empty(),
            weights: &[],
        }
    }

    /// [`read`] in place: validates `bytes` and overwrites `self` with the
    /// file, decoding the metadata straight into `self.meta` (no
    /// `ModelMeta`-sized temporary; [`read`] and the runtime's
    /// `Model::from_bytes` use it on storage they return).
    ///
    /// On an error `self` has no weights (every tensor is `&[]`) and
    /// metadata decoded up to the error: use it only to read into it again.
    ///
    /// ```
    /// use rrae_format::{FormatError, ModelFile};
    /// let mut file = ModelFile::empty();
    /// assert_eq!(file.read_into(b"RRAE"), Err(FormatError::Truncated { needed: 48, got: 4 }));
    /// assert!(file.weights().is_empty());
    /// ```
    pub fn read_into(&mut self, bytes: &'a [u8]) -> Result<(), FormatError> {
        self.weights = &[];
        if cfg!(target_endian = "big") {
            return Err(FormatError::BigEndian);
        }
        self.header = Header::parse(bytes)?;
        self.weights = read_body(bytes, &self.header, &mut self.meta)?;
        Ok(())
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
///
/// The metadata is decoded straight into the returned value
/// ([`ModelFile::read_into`]): the stack holds no other copy of it.
pub fn read(bytes: &[u8]) -> Result<ModelFile<'_>, FormatError> {
    // Built in the return value and filled there: a `ModelFile` built first
    // and then wrapped in `Ok` would be one more 4 kB copy on the stack.
    let mut out = Ok(ModelFile::empty());
    if let Ok(file) = &mut out {
        if let Err(e) = file.read_into(bytes) {
            out = Err(e);
        }
    }
    out
}

/// Everything [`read`] checks after the header: decodes the metadata into
/// `meta` and returns the validated weights section.
fn read_body<'a>(
    bytes: &'a [u8],
    header: &Header,
    meta: &mut ModelMeta<'a>,
) -> Result<&'a [f32], FormatError> {
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
    let rest = meta
        .decode_into(meta_bytes)
        .map_err(FormatError::Metadata)?;
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
    validate(meta, weight_bytes, header.weights_offset as usize)?;

    let computed = scratch_floats(meta)?;
    if computed != header.scratch {
        return Err(FormatError::ScratchMismatch {
            header: header.scratch,
            computed,
        });
    }
    Ok(weights)
}
