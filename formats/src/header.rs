//! The fixed 48-byte header: parsing (with magic, version, flag and CRC
//! checks) and encoding. Section bounds are checked by the reader.

use crate::error::FormatError;

/// `b"RRAE"`.
pub const MAGIC: [u8; 4] = *b"RRAE";
/// Major format version this crate reads and writes.
pub const MAJOR: u16 = 1;
/// Newest minor format version this crate reads. The writer stamps each
/// file with the oldest minor that holds it
/// ([`ModelMeta::required_minor`](crate::ModelMeta::required_minor)): `0` for
/// dense-only models, `1` for models with convolution layers, `2` for int8
/// models.
pub const MINOR: u16 = 2;
/// Size of the header in bytes; the metadata starts right after it.
pub const HEADER_LEN: usize = 48;
/// Alignment of the weights section and of every tensor in it, in bytes.
pub const ALIGN: usize = 16;

/// Header flag: the metadata has a [`Sampler`](crate::meta::Sampler).
pub const FLAG_SAMPLER: u32 = 1 << 0;
/// Header flag: the metadata has a [`ParamTable`](crate::meta::ParamTable).
pub const FLAG_PARAMS: u32 = 1 << 1;
/// Header flag: the basis is folded into the adjacent layers.
pub const FLAG_BASIS_FOLDED: u32 = 1 << 2;
/// Header flag: `U_k` is stored in the file (always for a separate basis).
pub const FLAG_BASIS_STORED: u32 = 1 << 3;
const KNOWN_FLAGS: u32 = FLAG_SAMPLER | FLAG_PARAMS | FLAG_BASIS_FOLDED | FLAG_BASIS_STORED;

/// CRC-32/ISO-HDLC (the zlib / PNG CRC) of `bytes`.
///
/// By default four bits at a time with a 16-entry (64-byte) table: ~1 kB less
/// flash than the usual 256-entry table and about half its speed (the body of
/// a 156 kB model in ~35 ms on a 64 MHz Cortex-M4, docs/FOOTPRINT.md). Feature
/// `crc-table` uses the `crc` crate's 1 kB table instead.
pub fn crc32(bytes: &[u8]) -> u32 {
    #[cfg(feature = "crc-table")]
    {
        const CRC32: crc::Crc<u32, crc::Table<1>> =
            crc::Crc::<u32, crc::Table<1>>::new(&crc::CRC_32_ISO_HDLC);
        CRC32.checksum(bytes)
    }
    #[cfg(not(feature = "crc-table"))]
    {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            crc = (crc >> 4) ^ CRC_NIBBLES[(crc & 0xF) as usize];
            crc = (crc >> 4) ^ CRC_NIBBLES[(crc & 0xF) as usize];
        }
        !crc
    }
}

/// The reflected CRC-32 polynomial (`0x04C11DB7` bit-reversed).
#[cfg(not(feature = "crc-table"))]
const POLY: u32 = 0xEDB8_8320;

/// `CRC_NIBBLES[n]`: the CRC register after shifting the low nibble `n` out.
#[cfg(not(feature = "crc-table"))]
static CRC_NIBBLES: [u32; 16] = {
    let mut table = [0u32; 16];
    let mut n = 0;
    while n < 16 {
        let mut c = n as u32;
        let mut bit = 0;
        while bit < 4 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            bit += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// The decoded header. Field meanings and offsets are in `FORMAT.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Major format version.
    pub major: u16,
    /// Minor format version.
    pub minor: u16,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Metadata offset (always [`HEADER_LEN`]).
    pub meta_offset: u32,
    /// Metadata length in bytes.
    pub meta_len: u32,
    /// Weights section offset (multiple of 16).
    pub weights_offset: u32,
    /// Weights section length in bytes (multiple of 4).
    pub weights_len: u32,
    /// Total file length in bytes.
    pub file_len: u32,
    /// Scratch the runtime needs, in 4-byte words (floats for an f32 model),
    /// see [`scratch_floats`](crate::scratch_floats).
    pub scratch: u32,
    /// CRC-32 of bytes `[48, file_len)`.
    pub body_crc: u32,
}

fn u16_at(b: &[u8; HEADER_LEN], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8; HEADER_LEN], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Header {
    /// Parses and checks the first 48 bytes of `bytes`: length, magic,
    /// version, header CRC, header length, metadata offset and unknown flags.
    ///
    /// ```
    /// # use rrae_format::{Header, FormatError};
    /// assert_eq!(Header::parse(b"RRAE"), Err(FormatError::Truncated { needed: 48, got: 4 }));
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Header, FormatError> {
        let b: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(FormatError::Truncated {
                needed: HEADER_LEN as u64,
                got: bytes.len(),
            })?;
        if b[..4] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let (major, minor) = (u16_at(b, 4), u16_at(b, 6));
        if major != MAJOR || minor > MINOR {
            return Err(FormatError::UnsupportedVersion { major, minor });
        }
        if crc32(&b[..44]) != u32_at(b, 44) {
            return Err(FormatError::HeaderCrc);
        }
        let flags = u32_at(b, 8);
        if flags & !KNOWN_FLAGS != 0 {
            return Err(FormatError::UnknownFlags(flags));
        }
        let header = Header {
            major,
            minor,
            flags,
            meta_offset: u32_at(b, 16),
            meta_len: u32_at(b, 20),
            weights_offset: u32_at(b, 24),
            weights_len: u32_at(b, 28),
            file_len: u32_at(b, 32),
            scratch: u32_at(b, 36),
            body_crc: u32_at(b, 40),
        };
        if u32_at(b, 12) as usize != HEADER_LEN || header.meta_offset as usize != HEADER_LEN {
            return Err(FormatError::BadSection);
        }
        Ok(header)
    }

    /// Encodes the header, computing the header CRC.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&self.major.to_le_bytes());
        b[6..8].copy_from_slice(&self.minor.to_le_bytes());
        let words = [
            self.flags,
            HEADER_LEN as u32,
            self.meta_offset,
            self.meta_len,
            self.weights_offset,
            self.weights_len,
            self.file_len,
            self.scratch,
            self.body_crc,
        ];
        for (dst, w) in b[8..44].chunks_exact_mut(4).zip(words) {
            dst.copy_from_slice(&w.to_le_bytes());
        }
        let crc = crc32(&b[..44]);
        b[44..].copy_from_slice(&crc.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            major: MAJOR,
            minor: MINOR,
            flags: FLAG_SAMPLER,
            meta_offset: 48,
            meta_len: 10,
            weights_offset: 64,
            weights_len: 32,
            file_len: 96,
            scratch: 8,
            body_crc: 0xdead_beef,
        }
    }

    #[test]
    fn encode_parse_round_trip() {
        let h = sample();
        assert_eq!(Header::parse(&h.encode()), Ok(h));
    }

    #[test]
    fn crc_is_zlib_crc32() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        // Against the `crc` crate's table-driven CRC-32/ISO-HDLC.
        let reference = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
        let mut bytes = [0u8; 1024];
        let mut x = 0x1234_5678u32;
        for b in bytes.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        for len in [1, 2, 3, 15, 16, 17, 255, 256, 1000, 1024] {
            assert_eq!(crc32(&bytes[..len]), reference.checksum(&bytes[..len]));
        }
    }

    #[test]
    fn rejects_newer_versions_before_crc() {
        for (major, minor) in [(2, 0), (0, 0), (1, MINOR + 1), (1, u16::MAX)] {
            let mut b = sample().encode();
            b[4..6].copy_from_slice(&u16::to_le_bytes(major));
            b[6..8].copy_from_slice(&u16::to_le_bytes(minor));
            assert_eq!(
                Header::parse(&b),
                Err(FormatError::UnsupportedVersion { major, minor })
            );
        }
    }

    #[test]
    fn reads_every_minor_up_to_its_own() {
        for minor in 0..=MINOR {
            let h = Header { minor, ..sample() };
            assert_eq!(Header::parse(&h.encode()), Ok(h));
        }
    }

    #[test]
    fn rejects_unknown_flags() {
        let h = Header {
            flags: 1 << 7,
            ..sample()
        };
        assert_eq!(
            Header::parse(&h.encode()),
            Err(FormatError::UnknownFlags(1 << 7))
        );
    }
}
