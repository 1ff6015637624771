//! Reading IDX files, the format of MNIST and Fashion-MNIST
//! (`train-images-idx3-ubyte`, gzipped or not).
//!
//! An IDX file is a 4-byte magic number `0x00 0x00 TYPE NDIM`, `NDIM`
//! big-endian `u32` dimensions, then the values in row-major order. This
//! reader accepts unsigned bytes (`TYPE = 0x08`) with
//!
//! * 3 dimensions `N x H x W`: `N` grey-scale images, scaled to `[0, 1]`
//!   (`v / 255`), image shape `(1, H, W)`;
//! * 2 dimensions `N x F`: a plain matrix of `N` samples, also scaled to
//!   `[0, 1]`, no image shape.
//!
//! A gzipped file (detected by its magic bytes `1f 8b`, whatever its name) is
//! decompressed while reading. Label files (1 dimension) and other element
//! types are rejected with a clear error. The data are read incrementally, so
//! a header claiming more data than the file holds is an error
//! ([`DataError::Idx`], "truncated"), never an allocation of the claimed size.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use ndarray::Array2;

use super::files::{io_error, Samples};
use super::DataError;

/// IDX type byte of unsigned 8-bit values.
const TYPE_U8: u8 = 0x08;

/// Whether `path` names an IDX file: its name ends in `-ubyte` or `.idx`,
/// optionally followed by `.gz` (case-insensitive).
pub fn is_idx_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.ends_with("-ubyte") || name.ends_with(".idx")
}

/// Reads the first `limit` samples (all if `None`) of an IDX file of
/// unsigned bytes, gzipped or not (see the module docs).
///
/// # Errors
/// [`DataError::NotFound`] / [`DataError::Io`] when the file cannot be read,
/// [`DataError::Idx`] for a bad magic number, an unsupported element type or
/// number of dimensions, a zero dimension, or a truncated file (each naming
/// the file).
pub fn read_idx(path: &Path, limit: Option<usize>) -> Result<Samples, DataError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut raw = BufReader::new(file);
    let mut magic = [0u8; 4];
    read_exact(path, &mut raw, &mut magic, "the magic number")?;
    if magic[..2] == [0x1f, 0x8b] {
        let gz = MultiGzDecoder::new(std::io::Cursor::new(magic).chain(raw));
        read_body(path, BufReader::new(gz), limit)
    } else {
        read_body(path, std::io::Cursor::new(magic).chain(raw), limit)
    }
}

fn idx_error(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Idx {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Fills `buf`, turning an early end of file into a "truncated" error.
fn read_exact(path: &Path, r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), DataError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            idx_error(path, format!("truncated: the file ends inside {what}"))
        }
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            idx_error(path, format!("corrupt gzip data: {e}"))
        }
        _ => io_error(path, e),
    })
}

fn read_body(path: &Path, mut r: impl Read, limit: Option<usize>) -> Result<Samples, DataError> {
    let mut magic = [0u8; 4];
    read_exact(path, &mut r, &mut magic, "the magic number")?;
    let [z0, z1, kind, ndim] = magic;
    if z0 != 0 || z1 != 0 {
        return Err(idx_error(
            path,
            format!("bad magic number {magic:02x?} (an IDX file starts with 00 00)"),
        ));
    }
    if kind != TYPE_U8 {
        return Err(idx_error(
            path,
            format!("unsupported element type 0x{kind:02x} (only unsigned bytes, 0x08, are read)"),
        ));
    }
    if ndim != 2 && ndim != 3 {
        let hint = if ndim == 1 {
            " (a label file? give the images file)"
        } else {
            ""
        };
        return Err(idx_error(
            path,
            format!("{ndim} dimension(s){hint}; expected N x H x W images or an N x F matrix"),
        ));
    }
    let mut dims = Vec::with_capacity(usize::from(ndim));
    for i in 0..ndim {
        let mut d = [0u8; 4];
        read_exact(path, &mut r, &mut d, "the dimensions")?;
        let d = u32::from_be_bytes(d) as usize;
        if d == 0 {
            return Err(idx_error(path, format!("dimension {i} is 0")));
        }
        dims.push(d);
    }
    let n = limit.map_or(dims[0], |l| l.min(dims[0]));
    let features = dims[1..]
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let needed = features.and_then(|f| f.checked_mul(n));
    let (Some(features), Some(needed)) = (features, needed) else {
        return Err(idx_error(path, format!("shape {dims:?} is too large")));
    };
    // Read incrementally: memory grows with the data really present.
    let mut bytes = Vec::new();
    r.by_ref()
        .take(needed as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                idx_error(path, format!("corrupt gzip data: {e}"))
            }
            _ => io_error(path, e),
        })?;
    if bytes.len() < needed {
        return Err(idx_error(
            path,
            format!(
                "truncated: header claims shape {dims:?} ({needed} bytes for {n} sample(s)) but only {} bytes follow",
                bytes.len()
            ),
        ));
    }
    let x = Array2::from_shape_vec((n, features), bytes)
        .map_err(|e| idx_error(path, e.to_string()))?
        .mapv(|v| f32::from(v) / 255.0);
    let image_shape = (dims.len() == 3).then(|| (1, dims[1], dims[2]));
    Ok(Samples { x, image_shape })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    /// An IDX file of unsigned bytes with the given dimensions and values.
    fn idx_bytes(dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, TYPE_U8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(values);
        b
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn names() {
        for yes in [
            "train-images-idx3-ubyte",
            "t10k-images-idx3-ubyte.gz",
            "X.IDX",
            "a.idx.gz",
        ] {
            assert!(is_idx_name(Path::new(yes)), "{yes}");
        }
        for no in ["a.npy", "ubyte.txt", "a.gz", "dir/"] {
            assert!(!is_idx_name(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn reads_plain_and_gzipped_images_with_limit() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<u8> = (0..3 * 2 * 4).map(|v| (v * 10) as u8).collect();
        let bytes = idx_bytes(&[3, 2, 4], &values);
        let plain = dir.path().join("x-idx3-ubyte");
        std::fs::write(&plain, &bytes).unwrap();
        let gz = dir.path().join("x-idx3-ubyte.gz");
        std::fs::write(&gz, gzip(&bytes)).unwrap();
        for p in [&plain, &gz] {
            let s = read_idx(p, None).unwrap();
            assert_eq!(s.x.dim(), (3, 8));
            assert_eq!(s.image_shape, Some((1, 2, 4)));
            assert_eq!(s.x[[0, 1]], 10.0 / 255.0);
            assert_eq!(s.x[[2, 7]], 230.0 / 255.0);
            let s = read_idx(p, Some(2)).unwrap();
            assert_eq!(s.x.dim(), (2, 8));
            assert_eq!(read_idx(p, Some(99)).unwrap().x.nrows(), 3);
        }
        // A 2-D file is a plain matrix.
        let m = dir.path().join("m.idx");
        std::fs::write(&m, idx_bytes(&[2, 3], &[0, 255, 0, 255, 0, 255])).unwrap();
        let s = read_idx(&m, None).unwrap();
        assert_eq!((s.x.dim(), s.image_shape), ((2, 3), None));
        assert_eq!(s.x[[0, 1]], 1.0);
    }

    #[test]
    fn corrupt_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let check = |name: &str, bytes: &[u8], want: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let e = read_idx(&p, None).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, DataError::Idx { .. }), "{name}: {msg}");
            assert!(msg.contains(name) && msg.contains(want), "{name}: {msg}");
        };
        let good = idx_bytes(&[2, 2, 2], &[1; 8]);
        check("empty-ubyte", &[], "truncated");
        check("short-ubyte", &good[..6], "truncated");
        check("data-ubyte", &good[..good.len() - 1], "truncated");
        check("gz-ubyte.gz", &gzip(&good[..good.len() - 3]), "truncated");
        let mut bad_gz = gzip(&good);
        let mid = bad_gz.len() / 2;
        bad_gz[mid..].iter_mut().for_each(|b| *b ^= 0x5a);
        let p = dir.path().join("badgz-ubyte.gz");
        std::fs::write(&p, &bad_gz).unwrap();
        assert!(read_idx(&p, None).is_err());
        check("magic-ubyte", b"\x01\x02\x08\x03aaaaaaaaaaaa", "magic");
        check("labels-ubyte", &[0, 0, 8, 1, 0, 0, 0, 2, 3, 4], "label");
        check("float-ubyte", &[0, 0, 0x0d, 3, 0, 0, 0, 1], "element type");
        check(
            "zero-ubyte",
            &idx_bytes(&[0, 2, 2], &[]),
            "dimension 0 is 0",
        );
        // A header claiming ~2^96 bytes: an error, not an allocation.
        check(
            "huge-ubyte",
            &idx_bytes(&[u32::MAX, u32::MAX, u32::MAX], &[0; 16]),
            "too large",
        );
        check(
            "big-ubyte",
            &idx_bytes(&[1 << 30, 1 << 10, 1], &[0; 16]),
            "truncated",
        );
        let missing = dir.path().join("missing-ubyte");
        assert!(matches!(
            read_idx(&missing, None),
            Err(DataError::NotFound { .. })
        ));
    }
}
