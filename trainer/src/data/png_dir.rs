//! Reading a directory of PNG files as a set of images, one sample per file.
//!
//! * Files whose extension is `.png` (case-insensitive) are read in the order
//!   of their file names (byte-wise); other entries are ignored.
//! * Grey-scale images (with or without alpha) give one channel, RGB and RGBA
//!   images three (alpha is dropped); palette and low-bit-depth images are
//!   expanded to 8 bits. 8-bit values are scaled by `1/255`, 16-bit values by
//!   `1/65535`, so every value is in `[0, 1]`.
//! * Every image must have the channel count, height and width of the first
//!   one; the error names the odd file.
//!
//! Each file's header is checked (by the `png` decoder's memory limit and by
//! [`MAX_TOTAL_VALUES`] over the whole directory) before its pixels are
//! allocated.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::files::{io_error, Samples};
use super::{DataError, ImageShape};

/// Most values (samples x channels x height x width) read from one
/// directory: 2^30 (4 GiB of `f32`).
pub const MAX_TOTAL_VALUES: usize = 1 << 30;

/// The `.png` files of `dir`, sorted by file name.
///
/// # Errors
/// [`DataError::NotFound`] / [`DataError::Io`] if the directory cannot be
/// listed, [`DataError::Png`] if it holds no `.png` file.
pub fn png_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        let is_png = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if is_png && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(png_error(dir, "the directory holds no .png file"));
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Reads the first `limit` (all if `None`) PNG files of `dir` (by name) into
/// a `samples x (C·H·W)` matrix with image shape `(C, H, W)` (see the module
/// docs).
///
/// # Errors
/// Those of [`png_files`], [`DataError::Png`] for a file that is not a valid
/// PNG (naming it), [`DataError::ImageShape`] for an image whose shape
/// differs from the first one's (naming both files), or
/// [`DataError::TooLarge`] beyond [`MAX_TOTAL_VALUES`].
pub fn read_png_dir(dir: &Path, limit: Option<usize>) -> Result<Samples, DataError> {
    let mut files = png_files(dir)?;
    if let Some(l) = limit {
        files.truncate(l.max(1));
    }
    let mut values: Vec<f32> = Vec::new();
    let mut first: Option<(ImageShape, &PathBuf)> = None;
    for file in &files {
        let (shape, pixels) = read_png(file, |shape| {
            if let Some((want, first_file)) = first {
                if shape != want {
                    return Err(DataError::ImageShape {
                        path: file.clone(),
                        found: shape,
                        expected: want,
                        first: first_file.clone(),
                    });
                }
            }
            let (c, h, w) = shape;
            let total = c
                .checked_mul(h)
                .and_then(|v| v.checked_mul(w))
                .and_then(|v| v.checked_mul(files.len()));
            match total {
                Some(t) if t <= MAX_TOTAL_VALUES => Ok(()),
                _ => Err(DataError::TooLarge {
                    path: dir.to_path_buf(),
                    message: format!(
                        "{} images of {c} x {h} x {w} exceed {MAX_TOTAL_VALUES} values",
                        files.len()
                    ),
                }),
            }
        })?;
        if first.is_none() {
            first = Some((shape, file));
            values.reserve_exact(pixels.len() * files.len());
        }
        values.extend_from_slice(&pixels);
    }
    let Some(((c, h, w), _)) = first else {
        return Err(png_error(dir, "the directory holds no .png file"));
    };
    let x = Array2::from_shape_vec((files.len(), c * h * w), values)
        .map_err(|e| png_error(dir, e.to_string()))?;
    Ok(Samples {
        x,
        image_shape: Some((c, h, w)),
    })
}

fn png_error(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Png {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Decodes one PNG file into `(C, H, W)` and planar `C x H x W` values in
/// `[0, 1]`; `check` sees the shape before the pixels are decoded.
fn read_png(
    path: &Path,
    check: impl FnOnce(ImageShape) -> Result<(), DataError>,
) -> Result<(ImageShape, Vec<f32>), DataError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    let bad = |e: png::DecodingError| png_error(path, e.to_string());
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(bad)?;
    let (color, depth) = reader.output_color_type();
    let (in_channels, keep) = match color {
        png::ColorType::Grayscale => (1, 1),
        png::ColorType::GrayscaleAlpha => (2, 1),
        png::ColorType::Rgb => (3, 3),
        png::ColorType::Rgba => (4, 3),
        png::ColorType::Indexed => {
            return Err(png_error(path, "palette image was not expanded"));
        }
    };
    let bytes_per_value = match depth {
        png::BitDepth::Eight => 1,
        png::BitDepth::Sixteen => 2,
        other => {
            return Err(png_error(
                path,
                format!("unsupported bit depth {other:?} after expansion"),
            ))
        }
    };
    let (w, h) = {
        let info = reader.info();
        (info.width as usize, info.height as usize)
    };
    check((keep, h, w))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| png_error(path, format!("image of {w} x {h} pixels is too large")))?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(bad)?;
    let line = frame.line_size;
    let mut out = vec![0f32; keep * h * w];
    let max = if bytes_per_value == 1 { 255.0 } else { 65535.0 };
    for y in 0..h {
        let row = buf
            .get(y * line..(y + 1) * line)
            .ok_or_else(|| png_error(path, "decoded image is shorter than its header says"))?;
        for x in 0..w {
            for c in 0..keep {
                let at = (x * in_channels + c) * bytes_per_value;
                let v = if bytes_per_value == 1 {
                    row.get(at).map(|&b| f32::from(b))
                } else {
                    row.get(at..at + 2)
                        .map(|b| f32::from(u16::from_be_bytes([b[0], b[1]])))
                };
                let v = v.ok_or_else(|| png_error(path, "decoded row is too short"))?;
                out[(c * h + y) * w + x] = v / max;
            }
        }
    }
    Ok(((keep, h, w), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a PNG of `color`/`depth` with raw bytes `data` to `dir/name`.
    fn write_png(
        dir: &Path,
        name: &str,
        (w, h): (u32, u32),
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
    ) -> PathBuf {
        let p = dir.join(name);
        let mut bytes = Vec::new();
        {
            let mut e = png::Encoder::new(&mut bytes, w, h);
            e.set_color(color);
            e.set_depth(depth);
            let mut wr = e.write_header().unwrap();
            wr.write_image_data(data).unwrap();
        }
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn grey_sorted_by_name_with_limit() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        use png::{BitDepth::Eight, ColorType::Grayscale};
        write_png(d, "b.png", (3, 2), Grayscale, Eight, &[255, 0, 0, 0, 0, 0]);
        write_png(d, "a.PNG", (3, 2), Grayscale, Eight, &[0, 0, 0, 0, 0, 51]);
        std::fs::write(d.join("notes.txt"), "ignored").unwrap();
        let s = read_png_dir(d, None).unwrap();
        assert_eq!(s.image_shape, Some((1, 2, 3)));
        assert_eq!(s.x.dim(), (2, 6));
        assert_eq!(s.x[[0, 5]], 0.2); // a.PNG first
        assert_eq!(s.x[[1, 0]], 1.0);
        assert_eq!(read_png_dir(d, Some(1)).unwrap().x.dim(), (1, 6));
    }

    #[test]
    fn rgb_rgba_and_16_bit() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        use png::BitDepth::{Eight, Sixteen};
        use png::ColorType::{GrayscaleAlpha, Rgb, Rgba};
        // 2 x 1 RGBA: red opaque, blue transparent -> planar R, G, B.
        write_png(
            d,
            "0.png",
            (2, 1),
            Rgba,
            Eight,
            &[255, 0, 0, 255, 0, 0, 255, 0],
        );
        write_png(d, "1.png", (2, 1), Rgb, Eight, &[0, 255, 0, 0, 0, 0]);
        let s = read_png_dir(d, None).unwrap();
        assert_eq!(s.image_shape, Some((3, 1, 2)));
        assert_eq!(s.x.row(0).to_vec(), vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(s.x.row(1).to_vec(), vec![0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);

        let d16 = tempfile::tempdir().unwrap();
        // 16-bit grey with alpha: values 0xffff and 0x8000, alpha dropped.
        write_png(
            d16.path(),
            "x.png",
            (2, 1),
            GrayscaleAlpha,
            Sixteen,
            &[0xff, 0xff, 0, 0, 0x80, 0x00, 0xff, 0xff],
        );
        let s = read_png_dir(d16.path(), None).unwrap();
        assert_eq!(s.image_shape, Some((1, 1, 2)));
        assert_eq!(s.x[[0, 0]], 1.0);
        assert!((s.x[[0, 1]] - 32768.0 / 65535.0).abs() < 1e-7);
    }

    #[test]
    fn errors_name_the_odd_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        use png::{BitDepth::Eight, ColorType::Grayscale, ColorType::Rgb};
        write_png(d, "a.png", (2, 2), Grayscale, Eight, &[0; 4]);
        write_png(d, "b.png", (3, 2), Grayscale, Eight, &[0; 6]);
        let e = read_png_dir(d, None).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::ImageShape { .. }), "{msg}");
        assert!(msg.contains("b.png") && msg.contains("a.png"), "{msg}");
        // Same size, other channel count.
        std::fs::remove_file(d.join("b.png")).unwrap();
        write_png(d, "c.png", (2, 2), Rgb, Eight, &[0; 12]);
        let msg = read_png_dir(d, None).unwrap_err().to_string();
        assert!(msg.contains("c.png") && msg.contains("3 x 2 x 2"), "{msg}");
        // Corrupt and truncated files.
        std::fs::remove_file(d.join("c.png")).unwrap();
        std::fs::write(d.join("d.png"), b"not a png").unwrap();
        let e = read_png_dir(d, None).unwrap_err();
        assert!(matches!(e, DataError::Png { .. }) && e.to_string().contains("d.png"));
        let good = std::fs::read(d.join("a.png")).unwrap();
        std::fs::write(d.join("d.png"), &good[..good.len() - 20]).unwrap();
        let e = read_png_dir(d, None).unwrap_err();
        assert!(e.to_string().contains("d.png"), "{e}");
        // No PNG at all, and a missing directory.
        let empty = tempfile::tempdir().unwrap();
        let e = read_png_dir(empty.path(), None).unwrap_err();
        assert!(e.to_string().contains("no .png file"), "{e}");
        assert!(matches!(
            read_png_dir(&d.join("missing"), None),
            Err(DataError::NotFound { .. })
        ));
    }
}
