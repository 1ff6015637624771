//! Reading image stacks from `.npy` files: arrays of shape `N x H x W`
//! (image shape `(1, H, W)`) or `N x C x H x W` (image shape `(C, H, W)`),
//! flattened to `N x (C·H·W)` rows in C order.
//!
//! Element types: `u8` (scaled to `[0, 1]` by `1/255`), `f32` and `f64`
//! (taken as they are; every value must be finite and fit in `f32`). C and
//! Fortran order, either byte order. The header's claimed size is checked
//! against the file before anything is allocated.

use std::io::Cursor;
use std::path::Path;

use ndarray::{Array2, ArrayD};
use ndarray_npy::{ReadNpyError, ReadNpyExt};

use super::files::{npy_error, Samples};
use super::DataError;

/// Parses an `N x H x W` or `N x C x H x W` `.npy` array held in `bytes`
/// (read from `path`, named in errors).
///
/// # Errors
/// [`DataError::Npy`] for a malformed file, a header claiming more data than
/// the file holds, another number of dimensions or an unsupported element
/// type; [`DataError::NonFinite`] for NaN or infinity; [`DataError::Empty`]
/// for a zero dimension.
pub fn parse_npy_images(path: &Path, bytes: &[u8]) -> Result<Samples, DataError> {
    super::files::check_npy_size(path, bytes)?;
    let as_f32: ArrayD<f32> = match ArrayD::<f32>::read_npy(Cursor::new(bytes)) {
        Ok(a) => a,
        Err(ReadNpyError::WrongDescriptor(_)) => {
            match ArrayD::<f64>::read_npy(Cursor::new(bytes)) {
                Ok(a) => {
                    if let Some((i, &v)) = a
                        .iter()
                        .enumerate()
                        .find(|(_, v)| !(v.is_finite() && (**v as f32).is_finite()))
                    {
                        return Err(DataError::NonFinite {
                            path: path.to_path_buf(),
                            position: format!("flat index {i} (0-based, C order)"),
                            value: v,
                        });
                    }
                    a.mapv(|v| v as f32)
                }
                Err(ReadNpyError::WrongDescriptor(_)) => {
                    match ArrayD::<u8>::read_npy(Cursor::new(bytes)) {
                        Ok(a) => a.mapv(|v| f32::from(v) / 255.0),
                        Err(ReadNpyError::WrongDescriptor(d)) => {
                            return Err(DataError::Npy {
                                path: path.to_path_buf(),
                                message: format!(
                                "unsupported element type {d} for images (expected u8, f32 or f64)"
                            ),
                            })
                        }
                        Err(e) => return Err(npy_error(path, e)),
                    }
                }
                Err(e) => return Err(npy_error(path, e)),
            }
        }
        Err(e) => return Err(npy_error(path, e)),
    };
    if let Some((i, &v)) = as_f32.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(DataError::NonFinite {
            path: path.to_path_buf(),
            position: format!("flat index {i} (0-based, C order)"),
            value: f64::from(v),
        });
    }
    let shape = as_f32.shape().to_vec();
    let (n, image_shape) = match shape[..] {
        [n, h, w] => (n, (1, h, w)),
        [n, c, h, w] => (n, (c, h, w)),
        _ => {
            return Err(DataError::Npy {
                path: path.to_path_buf(),
                message: format!(
                    "expected N x H x W or N x C x H x W images, found shape {shape:?}"
                ),
            })
        }
    };
    let (c, h, w) = image_shape;
    let features = c * h * w;
    if n == 0 || features == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            rows: n,
            cols: features,
        });
    }
    let flat: Vec<f32> = as_f32.as_standard_layout().iter().copied().collect();
    let x = Array2::from_shape_vec((n, features), flat).map_err(|e| DataError::Npy {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(Samples {
        x,
        image_shape: Some(image_shape),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, Array4, ShapeBuilder};
    use ndarray_npy::WriteNpyExt;

    fn npy<T: WriteNpyExt>(a: &T) -> Vec<u8> {
        let mut b = Vec::new();
        a.write_npy(&mut b).unwrap();
        b
    }

    #[test]
    fn three_and_four_dimensions() {
        let p = Path::new("x.npy");
        let a = Array3::from_shape_fn((2, 3, 4), |(n, y, x)| (n * 100 + y * 10 + x) as f32);
        let s = parse_npy_images(p, &npy(&a)).unwrap();
        assert_eq!(s.image_shape, Some((1, 3, 4)));
        assert_eq!(s.x.dim(), (2, 12));
        assert_eq!(s.x[[1, 4 + 3]], 113.0); // row 1, column 3 of image 1
                                            // Fortran order and f64 give the same rows.
        let mut f = Array3::<f64>::zeros((2, 3, 4).f());
        f.assign(&a.mapv(f64::from));
        assert_eq!(parse_npy_images(p, &npy(&f)).unwrap().x, s.x);
        // u8, N x C x H x W.
        let u = Array4::from_shape_fn((2, 3, 1, 2), |(n, c, _, x)| (n * 6 + c * 2 + x) as u8 * 5);
        let s = parse_npy_images(p, &npy(&u)).unwrap();
        assert_eq!(s.image_shape, Some((3, 1, 2)));
        assert_eq!(s.x[[1, 5]], 55.0 / 255.0);
    }

    #[test]
    fn bad_arrays_are_errors() {
        let p = Path::new("bad.npy");
        let msg = |bytes: &[u8]| parse_npy_images(p, bytes).unwrap_err().to_string();
        assert!(msg(&npy(&Array3::<i32>::zeros((1, 2, 2)))).contains("element type"));
        assert!(msg(&npy(&ndarray::Array1::<f32>::zeros(3))).contains("found shape [3]"));
        let mut nan = Array3::<f32>::zeros((1, 2, 2));
        nan[[0, 1, 1]] = f32::NAN;
        assert!(msg(&npy(&nan)).contains("flat index 3"));
        let mut inf = Array3::<f64>::zeros((1, 2, 2));
        inf[[0, 0, 1]] = 1e300;
        assert!(msg(&npy(&inf)).contains("flat index 1"));
        assert!(msg(&npy(&Array3::<u8>::zeros((0, 2, 2)))).contains("empty"));
        let good = npy(&Array3::<u8>::zeros((4, 8, 8)));
        assert!(msg(&good[..good.len() - 10]).contains("header claims shape"));
        assert!(msg(&good[..20]).contains("bad.npy"));
    }
}
