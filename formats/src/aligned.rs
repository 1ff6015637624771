//! [`Aligned`]: a 16-byte aligned wrapper for embedding model files.

/// Forces 16-byte alignment on its content, so that a model embedded with
/// `include_bytes!` can be read in place (the reader needs at least 4).
///
/// ```
/// use rrae_format::Aligned;
/// static BYTES: &Aligned<[u8]> = &Aligned(*b"RRAE....");
/// assert_eq!(BYTES.0.as_ptr() as usize % 16, 0);
/// ```
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Aligned<B: ?Sized>(pub B);

/// A heap copy of some bytes whose start is 16-byte aligned, for reading a
/// file loaded at run time (a `Vec<u8>` guarantees no alignment).
///
/// ```
/// let bytes = rrae_format::AlignedBytes::new(&[1, 2, 3]);
/// assert_eq!(&*bytes, &[1, 2, 3]);
/// assert_eq!(bytes.as_ptr() as usize % 16, 0);
/// ```
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlignedBytes {
    words: std::vec::Vec<u128>,
    len: usize,
}

#[cfg(feature = "std")]
impl AlignedBytes {
    /// Copies `bytes` into a fresh aligned allocation.
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = std::vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self {
            words,
            len: bytes.len(),
        }
    }
}

#[cfg(feature = "std")]
impl core::ops::Deref for AlignedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }
}

#[cfg(feature = "std")]
impl core::ops::DerefMut for AlignedBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.words)[..self.len]
    }
}
