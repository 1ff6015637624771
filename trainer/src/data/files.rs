//! Loading a user data matrix (rows are samples) from a `.npy` or `.csv`
//! file.
//!
//! - `.npy`: a 2-D array of `f32` or `f64` (either byte order), C or Fortran
//!   order; converted to `f32`.
//! - `.csv`: comma-separated numbers, one sample per line, surrounding
//!   whitespace ignored. The first line is taken as a header (and skipped)
//!   when none of its cells is a number.
//!
//! Every value must be finite (and fit in `f32`). Errors name the file and
//! the position of the problem.
//!
//! [`write_matrix`] writes the same two formats (atomically), so every output
//! of the trainer can be read back by [`load_matrix`].
//!
//! [`load_samples`] is the entry point of `--data` / `--test`: it accepts
//! everything [`load_matrix`] does and also images, which keep their
//! `(C, H, W)` shape:
//!
//! - a `.npy` array `N x H x W` or `N x C x H x W` ([`super::npy_images`]);
//! - an IDX file (`*-ubyte`, `*.idx`, optionally `.gz`), as MNIST and
//!   Fashion-MNIST ship ([`super::idx`]);
//! - a directory of `.png` files ([`super::png_dir`]).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};

use super::DataError;

/// Samples read from a file: a `samples x features` matrix and, for images,
/// their `(channels, height, width)` shape (samples are flattened row-major
/// `C x H x W`).
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// One sample per row.
    pub x: Array2<f32>,
    /// `(C, H, W)` of each sample if the file holds images.
    pub image_shape: Option<(usize, usize, usize)>,
}

/// Loads samples from `path` (see the module docs for the formats), keeping
/// only the first `limit` samples when given (`Some(0)` is taken as 1).
///
/// Chosen by what `path` is: a directory (not named like a data file:
/// `*.npy`, `*.csv`, IDX) → PNG files; a name ending in
/// `-ubyte` or `.idx` (optionally `.gz`) → IDX; `.npy` → a 2-D matrix or a
/// 3-D / 4-D image stack; `.csv` → a matrix.
///
/// # Errors
/// Those of [`load_matrix`], [`super::npy_images::parse_npy_images`],
/// [`super::idx::read_idx`] and [`super::png_dir::read_png_dir`], each naming
/// the file.
pub fn load_samples(path: impl AsRef<Path>, limit: Option<usize>) -> Result<Samples, DataError> {
    let path = path.as_ref();
    let limit = limit.map(|l| l.max(1));
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let file_name = ext == "npy" || ext == "csv" || super::idx::is_idx_name(path);
    let mut samples = if path.is_dir() && !file_name {
        super::png_dir::read_png_dir(path, limit)?
    } else if super::idx::is_idx_name(path) {
        super::idx::read_idx(path, limit)?
    } else if ext == "npy" {
        let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
        match npy_claim(&bytes) {
            Some((dims, _, _)) if dims.len() == 3 || dims.len() == 4 => {
                super::npy_images::parse_npy_images(path, &bytes)?
            }
            _ => {
                let x = parse_npy(path, &bytes).map_err(|e| match e {
                    DataError::WrongNdim { path, ndim } => DataError::Npy {
                        path,
                        message: format!(
                            "expected a 2-D array (samples x features) or N x H x W / N x C x H x W images, found {ndim} dimension(s)"
                        ),
                    },
                    other => other,
                })?;
                Samples {
                    x: checked_matrix(path, x)?,
                    image_shape: None,
                }
            }
        }
    } else {
        Samples {
            x: load_matrix(path)?,
            image_shape: None,
        }
    };
    if let Some(l) = limit {
        if samples.x.nrows() > l {
            samples.x = samples.x.slice(ndarray::s![..l, ..]).to_owned();
        }
    }
    Ok(samples)
}

/// Loads a `samples x features` matrix from a `.npy` or `.csv` file (chosen
/// by the extension, case-insensitive).
///
/// # Errors
/// [`DataError::NotFound`], [`DataError::Io`], [`DataError::UnknownExtension`],
/// [`DataError::Npy`], [`DataError::WrongNdim`], [`DataError::Ragged`],
/// [`DataError::NonNumeric`], [`DataError::NonFinite`], [`DataError::Csv`] or
/// [`DataError::Empty`], each naming the file.
pub fn load_matrix(path: impl AsRef<Path>) -> Result<Array2<f32>, DataError> {
    let path = path.as_ref();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ext != "npy" && ext != "csv" {
        return Err(DataError::UnknownExtension {
            path: path.to_path_buf(),
            ext,
        });
    }
    let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
    let matrix = if ext == "npy" {
        parse_npy(path, &bytes)?
    } else {
        parse_csv(path, &bytes)?
    };
    checked_matrix(path, matrix)
}

/// Rejects a matrix without rows or columns.
fn checked_matrix(path: &Path, matrix: Array2<f32>) -> Result<Array2<f32>, DataError> {
    let (rows, cols) = matrix.dim();
    if rows == 0 || cols == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            rows,
            cols,
        });
    }
    Ok(matrix)
}

/// [`DataError::NotFound`] for a missing file, else [`DataError::Io`].
pub(super) fn io_error(path: &Path, source: std::io::Error) -> DataError {
    if source.kind() == std::io::ErrorKind::NotFound {
        DataError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// [`DataError::Npy`] with the npy reader's message.
pub(super) fn npy_error(path: &Path, err: ReadNpyError) -> DataError {
    DataError::Npy {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

/// Converts to `f32`, rejecting non-finite values (and values beyond `f32`).
fn finite_f32(path: &Path, a: Array2<f64>) -> Result<Array2<f32>, DataError> {
    if let Some(((row, col), &value)) = a
        .indexed_iter()
        .find(|(_, v)| !(v.is_finite() && (**v as f32).is_finite()))
    {
        return Err(DataError::NonFinite {
            path: path.to_path_buf(),
            position: format!("row {row}, column {col} (0-based)"),
            value,
        });
    }
    Ok(a.mapv(|v| v as f32))
}

/// Shape and element size claimed by an `.npy` header, and where the data
/// starts; `None` if the header cannot be read (the npy reader then reports
/// the format error).
fn npy_claim(bytes: &[u8]) -> Option<(Vec<u64>, u64, usize)> {
    let major = *bytes.get(6)?;
    let (len, start): (usize, usize) = if major == 1 {
        (
            u16::from_le_bytes([*bytes.get(8)?, *bytes.get(9)?]) as usize,
            10,
        )
    } else {
        let b = bytes.get(8..12)?;
        (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
    };
    let header = std::str::from_utf8(bytes.get(start..start.checked_add(len)?)?).ok()?;
    let shape = header.split("'shape'").nth(1)?;
    let tuple = shape.get(shape.find('(')? + 1..shape.find(')')?)?;
    let dims = tuple
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    // Element size: the digits ending the 'descr' value ('<f4', '|u1', ...);
    // 1 when unreadable (the smallest claim, so never a false rejection).
    let elem = header
        .split("'descr'")
        .nth(1)
        .and_then(|d| d.split('\'').nth(1))
        .and_then(|d| {
            let digits: String = d.chars().filter(char::is_ascii_digit).collect();
            digits.parse::<u64>().ok()
        })
        .unwrap_or(1);
    Some((dims, elem, start + len))
}

/// Rejects a header whose shape needs more data than the file holds, before
/// the npy reader allocates what the header claims.
pub(super) fn check_npy_size(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let Some((dims, elem, data_start)) = npy_claim(bytes) else {
        return Ok(());
    };
    let available = bytes.len().saturating_sub(data_start) as u64;
    let needed = dims.iter().try_fold(elem, |acc, &d| acc.checked_mul(d));
    match needed {
        Some(n) if n <= available => Ok(()),
        _ => Err(DataError::Npy {
            path: path.to_path_buf(),
            message: format!(
                "header claims shape {dims:?} but the file holds only {available} bytes of data"
            ),
        }),
    }
}

fn parse_npy(path: &Path, bytes: &[u8]) -> Result<Array2<f32>, DataError> {
    check_npy_size(path, bytes)?;
    let as_f64 = match Array2::<f32>::read_npy(Cursor::new(bytes)) {
        Ok(a) => a.mapv(f64::from),
        Err(ReadNpyError::WrongDescriptor(_)) => {
            match Array2::<f64>::read_npy(Cursor::new(bytes)) {
                Ok(a) => a,
                Err(ReadNpyError::WrongDescriptor(d)) => {
                    return Err(DataError::Npy {
                        path: path.to_path_buf(),
                        message: format!("unsupported element type {d} (expected f32 or f64)"),
                    })
                }
                Err(ReadNpyError::WrongNdim(_, ndim)) => {
                    return Err(DataError::WrongNdim {
                        path: path.to_path_buf(),
                        ndim,
                    })
                }
                Err(e) => return Err(npy_error(path, e)),
            }
        }
        Err(ReadNpyError::WrongNdim(_, ndim)) => {
            return Err(DataError::WrongNdim {
                path: path.to_path_buf(),
                ndim,
            })
        }
        Err(e) => return Err(npy_error(path, e)),
    };
    finite_f32(path, as_f64)
}

fn parse_csv(path: &Path, bytes: &[u8]) -> Result<Array2<f32>, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let file = || PathBuf::from(path);
    let mut values: Vec<f64> = Vec::new();
    let mut width: Option<usize> = None;
    let mut rows = 0usize;
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(DataError::Csv {
                    path: file(),
                    message: e.to_string(),
                })
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        let is_first = std::mem::replace(&mut first, false);
        // Skip blank lines (a single empty cell).
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        if is_first && record.iter().all(|c| c.parse::<f64>().is_err()) {
            continue; // header
        }
        let expected = *width.get_or_insert(record.len());
        if record.len() != expected {
            return Err(DataError::Ragged {
                path: file(),
                line,
                expected,
                found: record.len(),
            });
        }
        for (j, cell) in record.iter().enumerate() {
            let v: f64 = cell.parse().map_err(|_| DataError::NonNumeric {
                path: file(),
                line,
                column: j + 1,
                cell: cell.to_string(),
            })?;
            if !(v.is_finite() && (v as f32).is_finite()) {
                return Err(DataError::NonFinite {
                    path: file(),
                    position: format!("line {line}, column {}", j + 1),
                    value: v,
                });
            }
            values.push(v);
        }
        rows += 1;
    }
    let cols = width.unwrap_or(0);
    Array2::from_shape_vec((rows, cols), values.into_iter().map(|v| v as f32).collect()).map_err(
        |e| DataError::Csv {
            path: file(),
            message: e.to_string(),
        },
    )
}

/// Writes a `rows x cols` matrix to `path` with [`crate::atomic::write`]:
/// `.npy` (f32, C order) or `.csv` (one row per line, no header), chosen by
/// the extension (case-insensitive).
///
/// # Errors
/// [`DataError::UnknownExtension`], [`DataError::Npy`] (encoding) or
/// [`DataError::Io`].
pub fn write_matrix(path: impl AsRef<Path>, a: ArrayView2<f32>) -> Result<(), DataError> {
    let path = path.as_ref();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let mut bytes = Vec::new();
    match ext.as_str() {
        "npy" => a
            .as_standard_layout()
            .write_npy(&mut bytes)
            .map_err(|e| DataError::Npy {
                path: path.into(),
                message: e.to_string(),
            })?,
        "csv" => {
            for row in a.rows() {
                let cells: Vec<String> = row.iter().map(f32::to_string).collect();
                bytes.extend_from_slice(cells.join(",").as_bytes());
                bytes.push(b'\n');
            }
        }
        _ => {
            return Err(DataError::UnknownExtension {
                path: path.into(),
                ext,
            })
        }
    }
    crate::atomic::write(path, &bytes).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3, ShapeBuilder};
    use ndarray_npy::WriteNpyExt;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        p
    }

    fn write_npy<T: WriteNpyExt>(dir: &tempfile::TempDir, name: &str, a: &T) -> PathBuf {
        let p = dir.path().join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        a.write_npy(&mut f).unwrap();
        p
    }

    #[test]
    fn csv_with_and_without_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "a.csv", "x,y,z\n1,2,3\n 4 , 5.5 ,-6e-1\n\n");
        assert_eq!(
            load_matrix(&p).unwrap(),
            array![[1.0, 2.0, 3.0], [4.0, 5.5, -0.6]]
        );
        let p = write(&dir, "b.CSV", "1,2\n3,4");
        assert_eq!(load_matrix(&p).unwrap(), array![[1.0, 2.0], [3.0, 4.0]]);
    }

    #[test]
    fn csv_errors_name_file_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "r.csv", "1,2,3\n4,5,6\n7,8\n");
        let e = load_matrix(&p).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Ragged {
                    line: 3,
                    expected: 3,
                    found: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("r.csv") && e.to_string().contains("line 3"));

        let p = write(&dir, "n.csv", "1,2\n3,abc\n");
        let e = load_matrix(&p).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::NonNumeric {
                    line: 2,
                    column: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("\"abc\""));

        let p = write(&dir, "f.csv", "1,2\n3,NaN\n");
        let e = load_matrix(&p).unwrap_err();
        assert!(matches!(e, DataError::NonFinite { .. }), "{e}");
        assert!(e.to_string().contains("line 2, column 2"), "{e}");
        let p = write(&dir, "big.csv", "1e300,2\n");
        assert!(matches!(
            load_matrix(&p).unwrap_err(),
            DataError::NonFinite { .. }
        ));

        let p = write(&dir, "e.csv", "a,b\n");
        assert!(matches!(
            load_matrix(&p).unwrap_err(),
            DataError::Empty { .. }
        ));
        let p = write(&dir, "e2.csv", "");
        assert!(matches!(
            load_matrix(&p).unwrap_err(),
            DataError::Empty { .. }
        ));
    }

    #[test]
    fn file_and_extension_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.csv");
        let e = load_matrix(&missing).unwrap_err();
        assert!(matches!(e, DataError::NotFound { .. }));
        assert!(e.to_string().contains("missing.csv"));
        let p = write(&dir, "data.txt", "1,2\n");
        let e = load_matrix(&p).unwrap_err();
        assert!(
            matches!(e, DataError::UnknownExtension { ref ext, .. } if ext == "txt"),
            "{e}"
        );
        let p = write(&dir, "noext", "1,2\n");
        assert!(matches!(
            load_matrix(&p).unwrap_err(),
            DataError::UnknownExtension { .. }
        ));
    }

    #[test]
    fn npy_f32_f64_c_and_fortran() {
        let dir = tempfile::tempdir().unwrap();
        let a = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let p = write_npy(&dir, "a.npy", &a);
        assert_eq!(load_matrix(&p).unwrap(), a);
        let b = a.mapv(f64::from);
        let p = write_npy(&dir, "b.npy", &b);
        assert_eq!(load_matrix(&p).unwrap(), a);
        let mut f = Array2::<f64>::zeros((2, 3).f());
        f.assign(&b);
        let p = write_npy(&dir, "f.npy", &f);
        assert_eq!(load_matrix(&p).unwrap(), a);
    }

    #[test]
    fn npy_errors() {
        let dir = tempfile::tempdir().unwrap();
        let a3 = Array3::<f32>::zeros((2, 2, 2));
        let p = write_npy(&dir, "a3.npy", &a3);
        let e = load_matrix(&p).unwrap_err();
        assert!(matches!(e, DataError::WrongNdim { ndim: 3, .. }), "{e}");
        let b3 = Array3::<f64>::zeros((2, 2, 2));
        let p = write_npy(&dir, "b3.npy", &b3);
        assert!(matches!(
            load_matrix(&p).unwrap_err(),
            DataError::WrongNdim { ndim: 3, .. }
        ));

        let ints = array![[1i32, 2], [3, 4]];
        let p = write_npy(&dir, "i.npy", &ints);
        let e = load_matrix(&p).unwrap_err();
        assert!(matches!(e, DataError::Npy { .. }), "{e}");

        let mut n = array![[1.0f64, 2.0], [3.0, 4.0]];
        n[(1, 0)] = f64::INFINITY;
        let p = write_npy(&dir, "n.npy", &n);
        let e = load_matrix(&p).unwrap_err();
        assert!(e.to_string().contains("row 1, column 0"), "{e}");

        let z = Array2::<f32>::zeros((0, 4));
        let p = write_npy(&dir, "z.npy", &z);
        assert!(matches!(
            load_matrix(&p).unwrap_err(),
            DataError::Empty {
                rows: 0,
                cols: 4,
                ..
            }
        ));

        let p = write(&dir, "junk.npy", "not an npy file");
        let e = load_matrix(&p).unwrap_err();
        assert!(matches!(e, DataError::Npy { .. }), "{e}");

        // A header claiming terabytes must be an error, not an allocation.
        let mut huge = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1), }";
        let padded = format!("{header:<117}\n");
        huge.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        huge.extend_from_slice(padded.as_bytes());
        huge.extend_from_slice(&[0u8; 16]);
        let p = dir.path().join("huge.npy");
        std::fs::write(&p, &huge).unwrap();
        let e = load_matrix(&p).unwrap_err();
        assert!(e.to_string().contains("header claims shape"), "{e}");
    }

    #[test]
    fn write_matrix_round_trips_npy_and_csv() {
        let dir = tempfile::tempdir().unwrap();
        let a = ndarray::array![[1.5f32, -2.0, 0.25], [3.0, 4.0, 1e-3]];
        for name in ["m.npy", "m.CSV"] {
            let p = dir.path().join(name);
            write_matrix(&p, a.view()).unwrap();
            assert_eq!(load_matrix(&p).unwrap(), a);
        }
        assert!(matches!(
            write_matrix(dir.path().join("m.txt"), a.view()),
            Err(DataError::UnknownExtension { .. })
        ));
    }
}
