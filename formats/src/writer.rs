//! [`ModelWriter`]: lays out, checksums and validates a model file (std only).

use std::vec::Vec;

use crate::aligned::AlignedBytes;
use crate::error::FormatError;
use crate::header::{crc32, Header, ALIGN, HEADER_LEN, MAJOR};
use crate::meta::{ModelMeta, TensorRef};
use crate::reader::read;
use crate::scratch::scratch_floats;

/// Builds a `.rrae` file: append tensors, then [`finish`](Self::finish) with
/// the metadata that references them.
///
/// ```
/// use rrae_format::{ModelWriter, read};
/// let mut w = ModelWriter::new();
/// let t = w.tensor(&[1.0, 2.0, 3.0]);
/// assert_eq!((t.offset, t.len), (0, 3));
/// assert_eq!(w.tensor(&[4.0]).offset, 16); // each tensor starts 16-aligned
/// ```
#[derive(Debug, Default, Clone)]
pub struct ModelWriter {
    weights: Vec<u8>,
}

fn pad_to_align(bytes: &mut Vec<u8>) {
    bytes.resize(bytes.len().next_multiple_of(ALIGN), 0);
}

fn to_u32(n: usize) -> Result<u32, FormatError> {
    u32::try_from(n).map_err(|_| FormatError::TooLarge)
}

impl ModelWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `data` (little-endian) at the next 16-byte boundary of the
    /// weights section and returns its reference. A section beyond 4 GiB
    /// yields a reference that [`finish`](Self::finish) rejects.
    pub fn tensor(&mut self, data: &[f32]) -> TensorRef {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.append(&bytes, data.len())
    }

    /// Appends `i8` data (int8 weights, activation tables) like
    /// [`tensor`](Self::tensor); `len` counts bytes.
    ///
    /// ```
    /// let mut w = rrae_format::ModelWriter::new();
    /// assert_eq!(w.tensor_i8(&[1, -2, 3]).len, 3);
    /// assert_eq!(w.tensor_i32(&[7]).offset, 16);
    /// ```
    pub fn tensor_i8(&mut self, data: &[i8]) -> TensorRef {
        self.append(bytemuck::cast_slice(data), data.len())
    }

    /// Appends `i32` data (biases, multipliers, shifts, little-endian) like
    /// [`tensor`](Self::tensor).
    pub fn tensor_i32(&mut self, data: &[i32]) -> TensorRef {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.append(&bytes, data.len())
    }

    /// Appends `bytes` holding `len` elements at the next 16-byte boundary.
    fn append(&mut self, bytes: &[u8], len: usize) -> TensorRef {
        pad_to_align(&mut self.weights);
        let offset = u32::try_from(self.weights.len()).unwrap_or(u32::MAX);
        self.weights.extend_from_slice(bytes);
        TensorRef {
            offset,
            len: u32::try_from(len).unwrap_or(u32::MAX),
        }
    }

    /// Encodes `meta`, lays out header, metadata and weights, fills in the
    /// version (1.0 for dense-only models, 1.1 with convolution layers, 1.2 for int8 models: see
    /// [`ModelMeta::required_minor`]), the scratch size and both CRCs, then re-reads the result with [`read`] so
    /// that an invalid model is rejected here rather than on the device.
    pub fn finish(mut self, meta: &ModelMeta<'_>) -> Result<Vec<u8>, FormatError> {
        pad_to_align(&mut self.weights);
        let meta_bytes = postcard::to_stdvec(meta).map_err(FormatError::Metadata)?;
        let weights_offset = (HEADER_LEN + meta_bytes.len()).next_multiple_of(ALIGN);
        let file_len = weights_offset + self.weights.len();

        let mut out = std::vec![0u8; file_len];
        out[HEADER_LEN..HEADER_LEN + meta_bytes.len()].copy_from_slice(&meta_bytes);
        out[weights_offset..].copy_from_slice(&self.weights);
        let header = Header {
            major: MAJOR,
            minor: meta.required_minor(),
            flags: meta.flags(),
            meta_offset: HEADER_LEN as u32,
            meta_len: to_u32(meta_bytes.len())?,
            weights_offset: to_u32(weights_offset)?,
            weights_len: to_u32(self.weights.len())?,
            file_len: to_u32(file_len)?,
            scratch: scratch_floats(meta)?,
            body_crc: crc32(&out[HEADER_LEN..]),
        };
        out[..HEADER_LEN].copy_from_slice(&header.encode());
        read(&AlignedBytes::new(&out))?;
        Ok(out)
    }
}
