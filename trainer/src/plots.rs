//! PNG plots of training runs and model outputs.
//!
//! Every function takes plain data (slices or `ndarray` views) and an output
//! path, draws one chart with a title, labelled axes and (where there is more
//! than one series) a legend, and writes a PNG file:
//!
//! * [`loss_curve`]: training loss (log y) and, optionally, the rank k over
//!   the steps on a secondary axis;
//! * [`singular_spectrum`]: normalised singular values of the training
//!   latents (log y) with the chosen k marked;
//! * [`reconstructions_1d`]: originals (solid) vs reconstructions (dashed) of
//!   1-D samples, one small panel per sample;
//! * [`curves`]: a family of 1-D curves (samples, interpolation paths) in a
//!   colour gradient;
//! * [`image_grid`]: a grey-scale grid of flattened images (reconstructions in
//!   alternate rows, interpolation strips in one row);
//! * [`image_reconstructions`], [`image_samples`], [`image_interpolation`]:
//!   the trainer's image figures (grey scale for one channel, RGB for three),
//!   originals above reconstructions, a grid of samples, an interpolation
//!   strip; each states its intensity scaling (a shared min/max, then
//!   clamping to [0, 1]) in a note at the bottom.
//!
//! # Rendering
//!
//! Charts are drawn with `plotters` into an in-memory RGB buffer (bitmap
//! backend only) and encoded with `png`. Text uses the Noto Sans Regular font
//! embedded in the binary (crate `ttf-noto-sans`, SIL Open Font Licence),
//! registered once with `plotters`' `ab_glyph` text backend as `"sans-serif"`,
//! so plots render identically on a machine without any installed font or
//! fontconfig.
//!
//! # Files
//!
//! The PNG is written atomically: to a hidden temporary file in the target's
//! directory, synced, then renamed over the target. A reader never sees a
//! half-written plot, and on error no temporary file is left behind. The
//! target's directory must exist.
//!
//! # Bad input
//!
//! No function panics on bad input; each returns a [`PlotError`]:
//!
//! * empty data, mismatched lengths or shapes and out-of-range arguments
//!   (k = 0 or k > number of singular values, zero columns, ...) are errors;
//! * non-finite values (NaN, ±∞) are errors, **except** in [`loss_curve`],
//!   where non-finite and non-positive losses (which a log axis cannot show)
//!   are skipped so that a diverged run still gets a plot; it is an error only
//!   if no loss is left to draw;
//! * in [`singular_spectrum`], exact zeros (rank-deficient latents) cannot be
//!   shown on a log axis and are left out; the x axis still spans all indices.

use std::error::Error as StdError;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ndarray::ArrayView2;
use plotters::chart::SeriesLabelStyle;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::ComposedElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Errors of the plotting functions.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The named input has nothing to plot.
    #[error("{0}: no data to plot")]
    Empty(&'static str),
    /// Two inputs that must agree in length or shape do not.
    #[error("mismatched inputs: {0}")]
    Mismatch(String),
    /// The named input holds a NaN or an infinity (or, for the loss, no
    /// finite positive value at all).
    #[error("non-finite value in {0}")]
    NonFinite(&'static str),
    /// An argument is out of its valid range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The embedded font could not be registered.
    #[error("font: {0}")]
    Font(String),
    /// `plotters` failed to draw.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Encode(String),
    /// Writing the file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The plot's target path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Font family name under which the embedded font is registered.
const FONT: &str = "sans-serif";
/// Largest width or height of a plot, in pixels.
const MAX_SIDE: usize = 16_384;
/// Largest number of pixels of a plot.
const MAX_PIXELS: usize = 64 << 20;
/// Most panels drawn by [`reconstructions_1d`].
pub const MAX_PANELS: usize = 12;

/// Categorical palette (Tableau 10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Anchors of the viridis colour map, evenly spaced on [0, 1].
const VIRIDIS: [(f64, f64, f64); 5] = [
    (68.0, 1.0, 84.0),
    (59.0, 82.0, 139.0),
    (33.0, 145.0, 140.0),
    (94.0, 201.0, 98.0),
    (253.0, 231.0, 37.0),
];

/// Plots the training loss over the steps on a log y axis and, when
/// `k_history` is given, the rank k over the steps as a step line on a
/// secondary (right) axis.
///
/// `steps[i]` is the step of `loss[i]`. `k_history` holds `(step, k)` pairs,
/// each k holding from its step until the next pair's (the last until the
/// end of the x axis); it need not be sorted. `Some(&[])` is the same as
/// `None`. Non-finite and non-positive losses are skipped.
///
/// # Errors
///
/// [`PlotError::Empty`] for no steps, [`PlotError::Mismatch`] if `steps` and
/// `loss` differ in length, [`PlotError::NonFinite`] if no loss is finite and
/// positive, and drawing or I/O errors.
pub fn loss_curve(
    path: impl AsRef<Path>,
    steps: &[usize],
    loss: &[f64],
    k_history: Option<&[(usize, usize)]>,
) -> Result<(), PlotError> {
    if steps.is_empty() {
        return Err(PlotError::Empty("steps"));
    }
    if steps.len() != loss.len() {
        return Err(PlotError::Mismatch(format!(
            "{} steps vs {} losses",
            steps.len(),
            loss.len()
        )));
    }
    let points: Vec<(usize, f64)> = steps
        .iter()
        .zip(loss)
        .filter(|(_, l)| l.is_finite() && **l > 0.0)
        .map(|(&s, &l)| (s, l.log10()))
        .collect();
    let (lo, hi) = min_max(points.iter().map(|p| p.1)).ok_or(PlotError::NonFinite("loss"))?;
    let axis = LogAxis::new(lo, hi);

    let mut k_hist = k_history.unwrap_or(&[]).to_vec();
    k_hist.sort_by_key(|&(s, _)| s);
    let all_steps = steps.iter().chain(k_hist.iter().map(|(s, _)| s));
    let x_min = all_steps.clone().copied().min().unwrap_or(0);
    let x_max = all_steps.copied().max().unwrap_or(0).max(x_min + 1);
    let k_max = k_hist.iter().map(|&(_, k)| k).max().unwrap_or(1);
    let k_top = k_max + (k_max / 10).max(1);

    render(path.as_ref(), (1000, 600), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Training loss", (FONT, 28))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .right_y_label_area_size(if k_hist.is_empty() { 0 } else { 70 })
            .build_cartesian_2d(x_min..x_max, axis)
            .map_err(draw_err)?
            .set_secondary_coord(x_min..x_max, 0..k_top);
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("loss (log scale)")
            .y_label_formatter(&log_label)
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 15))
            .draw()
            .map_err(draw_err)?;

        let loss_color = PALETTE[0];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                loss_color.stroke_width(2),
            ))
            .map_err(draw_err)?
            .label("loss")
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], loss_color.stroke_width(2))
            });
        if points.len() == 1 {
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&p| Circle::new(p, 4, loss_color.filled())),
                )
                .map_err(draw_err)?;
        }

        if !k_hist.is_empty() {
            chart
                .configure_secondary_axes()
                .y_desc("rank k")
                .axis_desc_style((FONT, 20))
                .label_style((FONT, 15))
                .draw()
                .map_err(draw_err)?;
            let mut stairs = Vec::with_capacity(2 * k_hist.len() + 1);
            let mut prev = None;
            for &(s, k) in &k_hist {
                if let Some(pk) = prev {
                    stairs.push((s, pk));
                }
                stairs.push((s, k));
                prev = Some(k);
            }
            if let Some(pk) = prev {
                stairs.push((x_max, pk));
            }
            let k_color = PALETTE[1];
            chart
                .draw_secondary_series(LineSeries::new(stairs, k_color.stroke_width(2)))
                .map_err(draw_err)?
                .label("rank k (right axis)")
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], k_color.stroke_width(2))
                });
            standard_legend(chart.configure_series_labels())?;
        }
        Ok(())
    })
}

/// Plots the singular values `s` of the training latents, normalised by
/// `s[0]`, on a log y axis against their 1-based index, with the chosen rank
/// `k` marked by a dashed vertical line between σ_k and σ_(k+1); kept and
/// discarded values are coloured differently.
///
/// Exact zeros are left out (a log axis cannot show them).
///
/// # Errors
///
/// [`PlotError::Empty`] for no values, [`PlotError::NonFinite`] for a
/// non-finite value, [`PlotError::InvalidArgument`] for a negative value,
/// `s[0] == 0`, or `k` outside `1..=s.len()`, and drawing or I/O errors.
pub fn singular_spectrum(path: impl AsRef<Path>, s: &[f64], k: usize) -> Result<(), PlotError> {
    let Some(&s0) = s.first() else {
        return Err(PlotError::Empty("singular values"));
    };
    if s.iter().any(|v| !v.is_finite()) {
        return Err(PlotError::NonFinite("singular values"));
    }
    if s.iter().any(|&v| v < 0.0) {
        return Err(PlotError::InvalidArgument(
            "singular values must be non-negative".into(),
        ));
    }
    if s0 <= 0.0 {
        return Err(PlotError::InvalidArgument(
            "s[0] must be positive (it normalises the spectrum)".into(),
        ));
    }
    if k == 0 || k > s.len() {
        return Err(PlotError::InvalidArgument(format!(
            "k = {k} is not in 1..={}",
            s.len()
        )));
    }
    let points: Vec<(f64, f64)> = s
        .iter()
        .enumerate()
        .filter(|&(_, &v)| v > 0.0)
        .map(|(i, &v)| ((i + 1) as f64, (v / s0).log10()))
        .collect();
    let (lo, hi) =
        min_max(points.iter().map(|p| p.1)).ok_or(PlotError::Empty("singular values"))?;
    let axis = LogAxis::new(lo, hi);
    let (lo, hi) = (axis.lo, axis.hi);
    let n = s.len();
    let k_x = k as f64 + 0.5;

    render(path.as_ref(), (1000, 600), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Singular values of the training latents", (FONT, 28))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(0.5..n as f64 + 0.5, axis)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("index i")
            .y_desc("σ_i / σ_1 (log scale)")
            .x_labels(n.clamp(2, 20))
            .x_label_formatter(&integer_label)
            .y_label_formatter(&log_label)
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 15))
            .draw()
            .map_err(draw_err)?;

        let line = RGBColor(170, 170, 170);
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                line.stroke_width(1),
            ))
            .map_err(draw_err)?;
        let kept = PALETTE[0];
        let dropped = PALETTE[3];
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.0 <= k as f64)
                    .map(|&p| Circle::new(p, 4, kept.filled())),
            )
            .map_err(draw_err)?
            .label("kept (i ≤ k)")
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, kept.filled()));
        if points.iter().any(|p| p.0 > k as f64) {
            chart
                .draw_series(
                    points
                        .iter()
                        .filter(|p| p.0 > k as f64)
                        .map(|&p| Circle::new(p, 4, dropped.filled())),
                )
                .map_err(draw_err)?
                .label("discarded (i > k)")
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, dropped.filled()));
        }
        let mark = BLACK;
        chart
            .draw_series(DashedLineSeries::new(
                [(k_x, lo), (k_x, hi)],
                8,
                5,
                mark.stroke_width(2),
            ))
            .map_err(draw_err)?
            .label(format!("chosen rank k = {k}"))
            .legend(move |(x, y)| dashed_legend(x, y, mark));
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((k_x, hi))
                    + Text::new(format!("k = {k}"), (6, 6), (FONT, 18).into_font()),
            ))
            .map_err(draw_err)?;
        standard_legend(chart.configure_series_labels())?;
        Ok(())
    })
}

/// Plots originals `x` (solid) against reconstructions `x_hat` (dashed, same
/// colour) for the first `min(max_curves, rows, MAX_PANELS)` samples (rows),
/// one small panel per sample in a grid of up to 3 columns; each panel's
/// caption gives the sample's relative L2 error.
///
/// # Errors
///
/// [`PlotError::Mismatch`] if the shapes differ, [`PlotError::Empty`] for no
/// rows or columns, [`PlotError::InvalidArgument`] for `max_curves == 0`,
/// [`PlotError::NonFinite`] for a non-finite value among the plotted rows,
/// and drawing or I/O errors.
pub fn reconstructions_1d(
    path: impl AsRef<Path>,
    x: ArrayView2<f32>,
    x_hat: ArrayView2<f32>,
    max_curves: usize,
) -> Result<(), PlotError> {
    if x.dim() != x_hat.dim() {
        return Err(PlotError::Mismatch(format!(
            "x is {:?}, x_hat is {:?}",
            x.dim(),
            x_hat.dim()
        )));
    }
    check_2d("x", x)?;
    if max_curves == 0 {
        return Err(PlotError::InvalidArgument(
            "max_curves must be positive".into(),
        ));
    }
    let n = x.nrows().min(max_curves).min(MAX_PANELS);
    let (x, x_hat) = (
        x.slice(ndarray::s![..n, ..]),
        x_hat.slice(ndarray::s![..n, ..]),
    );
    if x.iter().any(|v| !v.is_finite()) {
        return Err(PlotError::NonFinite("x"));
    }
    if x_hat.iter().any(|v| !v.is_finite()) {
        return Err(PlotError::NonFinite("x_hat"));
    }
    let grid_cols = n.min(3);
    let grid_rows = n.div_ceil(grid_cols);
    let width = (420 * grid_cols).max(700) as u32;
    let height = (70 + 320 * grid_rows) as u32;
    let features = x.ncols();
    let x_range = if features > 1 {
        0.0..(features - 1) as f64
    } else {
        -0.5..0.5
    };

    render(path.as_ref(), (width, height), |root| {
        let area = root
            .titled(
                "Reconstructions: original (solid) vs reconstruction (dashed)",
                (FONT, 26),
            )
            .map_err(draw_err)?;
        for (i, panel) in area
            .split_evenly((grid_rows, grid_cols))
            .iter()
            .take(n)
            .enumerate()
        {
            let (orig, rec) = (x.row(i), x_hat.row(i));
            let (lo, hi) = min_max(orig.iter().chain(rec.iter()).map(|&v| f64::from(v)))
                .ok_or(PlotError::Empty("x"))?;
            let (lo, hi) = lin_pad(lo, hi, 0.35);
            let norm = orig
                .iter()
                .map(|&v| f64::from(v).powi(2))
                .sum::<f64>()
                .sqrt();
            let err = orig
                .iter()
                .zip(rec)
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                .sum::<f64>()
                .sqrt();
            let caption = if norm > 0.0 {
                format!("sample {i} (rel. error {:.2}%)", 100.0 * err / norm)
            } else {
                format!("sample {i} (abs. error {err:.3e})")
            };
            let color = PALETTE[i % PALETTE.len()];
            let mut chart = ChartBuilder::on(panel)
                .caption(caption, (FONT, 17))
                .margin(8)
                .x_label_area_size(38)
                .y_label_area_size(55)
                .build_cartesian_2d(x_range.clone(), lo..hi)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc("feature index")
                .y_desc("value")
                .x_label_formatter(&integer_label)
                .x_labels(6)
                .y_labels(6)
                .axis_desc_style((FONT, 14))
                .label_style((FONT, 12))
                .draw()
                .map_err(draw_err)?;
            let orig_pts: Vec<(f64, f64)> = orig
                .iter()
                .enumerate()
                .map(|(j, &v)| (j as f64, f64::from(v)))
                .collect();
            let rec_pts: Vec<(f64, f64)> = rec
                .iter()
                .enumerate()
                .map(|(j, &v)| (j as f64, f64::from(v)))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    orig_pts.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(draw_err)?
                .label("original")
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(DashedLineSeries::new(
                    rec_pts.iter().copied(),
                    7,
                    4,
                    color.stroke_width(2),
                ))
                .map_err(draw_err)?
                .label("reconstruction")
                .legend(move |(x, y)| dashed_legend(x, y, color));
            if features == 1 {
                chart
                    .draw_series(
                        orig_pts
                            .iter()
                            .map(|&p| Circle::new(p, 4, color.filled()))
                            .chain(
                                rec_pts
                                    .iter()
                                    .map(|&p| Circle::new(p, 6, color.stroke_width(2))),
                            ),
                    )
                    .map_err(draw_err)?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font((FONT, 12))
                .margin(4)
                .legend_area_size(26)
                .background_style(WHITE.mix(0.8))
                .border_style(RGBColor(160, 160, 160))
                .draw()
                .map_err(draw_err)?;
        }
        Ok(())
    })
}

/// Plots each row of `y` as a curve against the column index, coloured
/// along a viridis gradient from the first row (dark purple) to the last
/// (yellow); suited to generated samples or interpolation paths of 1-D data.
/// With more than one row, the legend names the first and the last curve.
///
/// # Errors
///
/// [`PlotError::Empty`] for no rows or columns, [`PlotError::NonFinite`] for
/// a non-finite value, and drawing or I/O errors.
pub fn curves(path: impl AsRef<Path>, title: &str, y: ArrayView2<f32>) -> Result<(), PlotError> {
    check_2d("y", y)?;
    if y.iter().any(|v| !v.is_finite()) {
        return Err(PlotError::NonFinite("y"));
    }
    let (lo, hi) = min_max(y.iter().map(|&v| f64::from(v))).ok_or(PlotError::Empty("y"))?;
    let (rows, features) = y.dim();
    let (lo, hi) = lin_pad(lo, hi, if rows > 1 { 0.2 } else { 0.05 });
    let x_range = if features > 1 {
        0.0..(features - 1) as f64
    } else {
        -0.5..0.5
    };
    let stroke = if rows > 50 { 1 } else { 2 };

    render(path.as_ref(), (1000, 600), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 28))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range, lo..hi)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("feature index")
            .y_desc("value")
            .x_label_formatter(&integer_label)
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 15))
            .draw()
            .map_err(draw_err)?;
        for (i, row) in y.outer_iter().enumerate() {
            let t = if rows > 1 {
                i as f64 / (rows - 1) as f64
            } else {
                0.0
            };
            let color = viridis(t);
            let pts: Vec<(f64, f64)> = row
                .iter()
                .enumerate()
                .map(|(j, &v)| (j as f64, f64::from(v)))
                .collect();
            let anno = chart
                .draw_series(LineSeries::new(
                    pts.iter().copied(),
                    color.stroke_width(stroke),
                ))
                .map_err(draw_err)?;
            if rows > 1 && (i == 0 || i == rows - 1) {
                let which = if i == 0 { "first" } else { "last" };
                anno.label(format!("row {i} ({which})"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3))
                    });
            }
            if features == 1 {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(draw_err)?;
            }
        }
        if rows > 1 {
            standard_legend(chart.configure_series_labels())?;
        }
        Ok(())
    })
}

/// Draws the rows of `images` (each a row-major flattened `h x w` image, so
/// `images.ncols() == h * w`) as a grey-scale grid of `cols` columns (fewer
/// if there are fewer images), row by row, under `title`.
///
/// Values are min-max scaled over the whole grid (black = minimum, white =
/// maximum; a constant grid is mid-grey), so the images of one grid are
/// comparable. Images are upscaled by an integer factor so that their larger
/// side is at least about 112 pixels (28 x 28 images are drawn 4x).
/// `row_labels`, when given, needs one label per grid row, drawn left of it
/// (e.g. `["original", "reconstruction", ...]` for originals and
/// reconstructions in alternate rows; a single row for an interpolation
/// strip). [`image_reconstructions`], [`image_samples`] and
/// [`image_interpolation`] draw the trainer's image figures (also RGB) on
/// the same layout.
///
/// # Errors
///
/// [`PlotError::Empty`] for no images or `h * w == 0`,
/// [`PlotError::Mismatch`] if `h * w != images.ncols()` or the number of
/// labels differs from the number of grid rows,
/// [`PlotError::InvalidArgument`] for `cols == 0` or a grid larger than
/// 16384 pixels a side, [`PlotError::NonFinite`] for a non-finite value, and
/// drawing or I/O errors.
pub fn image_grid(
    path: impl AsRef<Path>,
    title: &str,
    images: ArrayView2<f32>,
    shape: (usize, usize),
    cols: usize,
    row_labels: Option<&[&str]>,
) -> Result<(), PlotError> {
    let (h, w) = shape;
    check_images(images, (1, h, w))?;
    draw_images(
        path.as_ref(),
        &Grid {
            title,
            images,
            shape: (1, h, w),
            cols,
            row_labels,
            col_labels: None,
            range: RangeFrom::All,
            note: false,
        },
    )
}

/// Plots test images (first row) above their reconstructions (second row),
/// each column one sample captioned with its relative L2 error, for the
/// first `min(rows, MAX_IMAGE_COLUMNS)` rows. `shape` is `(C, H, W)` with
/// `C = 1` (grey scale) or `C = 3` (RGB, planar `C x H x W` rows).
///
/// Intensities are `(v − lo)/(hi − lo)` clamped to `[0, 1]`, with `lo` and
/// `hi` the minimum and maximum over the *originals* (so an overshooting
/// reconstruction saturates instead of washing out the originals); the
/// figure states `lo` and `hi` in a note at the bottom.
///
/// # Errors
///
/// [`PlotError::Mismatch`] if the two matrices differ in shape or
/// `C·H·W != ncols`, [`PlotError::Empty`] for no rows or a zero dimension,
/// [`PlotError::InvalidArgument`] for `C` other than 1 or 3 or a too large
/// figure, [`PlotError::NonFinite`] for a non-finite value, and drawing or
/// I/O errors.
pub fn image_reconstructions(
    path: impl AsRef<Path>,
    originals: ArrayView2<f32>,
    reconstructions: ArrayView2<f32>,
    shape: (usize, usize, usize),
) -> Result<(), PlotError> {
    if originals.dim() != reconstructions.dim() {
        return Err(PlotError::Mismatch(format!(
            "originals {:?} vs reconstructions {:?}",
            originals.dim(),
            reconstructions.dim()
        )));
    }
    check_images(originals, shape)?;
    check_images(reconstructions, shape)?;
    let n = originals.nrows().min(MAX_IMAGE_COLUMNS);
    let (x, x_hat) = (
        originals.slice(ndarray::s![..n, ..]),
        reconstructions.slice(ndarray::s![..n, ..]),
    );
    let stacked = ndarray::concatenate(ndarray::Axis(0), &[x, x_hat])
        .map_err(|e| PlotError::Mismatch(e.to_string()))?;
    let errors: Vec<String> = x
        .outer_iter()
        .zip(x_hat.outer_iter())
        .map(|(a, b)| {
            let (mut num, mut den) = (0.0f64, 0.0f64);
            for (&u, &v) in a.iter().zip(b) {
                num += (f64::from(u) - f64::from(v)).powi(2);
                den += f64::from(u).powi(2);
            }
            if den > 0.0 {
                format!("{:.1} %", 100.0 * (num / den).sqrt())
            } else {
                "–".into()
            }
        })
        .collect();
    draw_images(
        path.as_ref(),
        &Grid {
            title: &format!("Test reconstructions ({n} samples, relative error below)"),
            images: stacked.view(),
            shape,
            cols: n,
            row_labels: Some(&["original", "reconstruction"]),
            col_labels: Some(&errors),
            range: RangeFrom::FirstRows(n),
            note: true,
        },
    )
}

/// Plots generated images as a grid of up to `cols` columns under `title`
/// (at most [`MAX_GRID_IMAGES`] images). `shape` is `(C, H, W)` with `C = 1`
/// or `C = 3`. Intensities are `(v − lo)/(hi − lo)` over the minimum and
/// maximum of all images shown (stated in a note at the bottom).
///
/// # Errors
///
/// As [`image_reconstructions`], and [`PlotError::InvalidArgument`] for
/// `cols == 0`.
pub fn image_samples(
    path: impl AsRef<Path>,
    title: &str,
    images: ArrayView2<f32>,
    shape: (usize, usize, usize),
    cols: usize,
) -> Result<(), PlotError> {
    check_images(images, shape)?;
    let n = images.nrows().min(MAX_GRID_IMAGES);
    draw_images(
        path.as_ref(),
        &Grid {
            title,
            images: images.slice(ndarray::s![..n, ..]),
            shape,
            cols,
            row_labels: None,
            col_labels: None,
            range: RangeFrom::All,
            note: true,
        },
    )
}

/// Plots an interpolation path as one strip of frames under `title`, frame
/// `i` captioned `t = i/(n − 1)` (at most [`MAX_IMAGE_COLUMNS`] frames).
/// `shape` is `(C, H, W)` with `C = 1` or `C = 3`; intensities are scaled
/// over the minimum and maximum of all frames (stated in a note).
///
/// # Errors
///
/// As [`image_reconstructions`].
pub fn image_interpolation(
    path: impl AsRef<Path>,
    title: &str,
    frames: ArrayView2<f32>,
    shape: (usize, usize, usize),
) -> Result<(), PlotError> {
    check_images(frames, shape)?;
    let n = frames.nrows();
    if n > MAX_IMAGE_COLUMNS {
        return Err(PlotError::InvalidArgument(format!(
            "{n} frames; an interpolation strip shows at most {MAX_IMAGE_COLUMNS}"
        )));
    }
    let labels: Vec<String> = (0..n)
        .map(|i| format!("t = {:.2}", i as f64 / (n.max(2) - 1) as f64))
        .collect();
    draw_images(
        path.as_ref(),
        &Grid {
            title,
            images: frames,
            shape,
            cols: n,
            row_labels: None,
            col_labels: Some(&labels),
            range: RangeFrom::All,
            note: true,
        },
    )
}

/// Most columns of [`image_reconstructions`] and [`image_interpolation`].
pub const MAX_IMAGE_COLUMNS: usize = 16;
/// Most images drawn by [`image_samples`].
pub const MAX_GRID_IMAGES: usize = 256;

/// Checks that `images` are non-empty, finite, `C·H·W` wide, with `C` 1 or 3.
fn check_images(
    images: ArrayView2<f32>,
    (c, h, w): (usize, usize, usize),
) -> Result<(), PlotError> {
    if images.nrows() == 0 {
        return Err(PlotError::Empty("images"));
    }
    if c == 0 || h == 0 || w == 0 {
        return Err(PlotError::Empty("image shape"));
    }
    if c != 1 && c != 3 {
        return Err(PlotError::InvalidArgument(format!(
            "{c} channels: images are drawn with 1 (grey scale) or 3 (RGB)"
        )));
    }
    if crate::data::image_len((c, h, w)) != Some(images.ncols()) {
        let shape = if c == 1 {
            format!("{h} x {w}")
        } else {
            format!("{c} x {h} x {w}")
        };
        return Err(PlotError::Mismatch(format!(
            "image shape {shape} vs {} values per image",
            images.ncols()
        )));
    }
    if images.iter().any(|v| !v.is_finite()) {
        return Err(PlotError::NonFinite("images"));
    }
    Ok(())
}

/// Which images set the intensity range of a grid.
#[derive(Clone, Copy)]
enum RangeFrom {
    /// All images.
    All,
    /// The first `n` images (the originals of a reconstruction figure).
    FirstRows(usize),
}

/// One image figure: `images` (checked by [`check_images`]) in a grid of
/// `cols` columns, optional labels left of each grid row and below each
/// column of the last row.
struct Grid<'a> {
    title: &'a str,
    images: ArrayView2<'a, f32>,
    shape: (usize, usize, usize),
    cols: usize,
    row_labels: Option<&'a [&'a str]>,
    col_labels: Option<&'a [String]>,
    range: RangeFrom,
    /// State the intensity scaling in a note at the bottom.
    note: bool,
}

/// Draws a [`Grid`]: cells upscaled by an integer factor (larger side at
/// least about 112 pixels), row labels on the left, column labels below the
/// last row, the optional scaling note at the bottom.
fn draw_images(path: &Path, g: &Grid<'_>) -> Result<(), PlotError> {
    let (c, h, w) = g.shape;
    let images = g.images;
    if g.cols == 0 {
        return Err(PlotError::InvalidArgument("cols must be positive".into()));
    }
    let n = images.nrows();
    let cols = g.cols.min(n);
    let grid_rows = n.div_ceil(cols);
    if let Some(labels) = g.row_labels {
        if labels.len() != grid_rows {
            return Err(PlotError::Mismatch(format!(
                "{} row labels for {grid_rows} grid rows",
                labels.len()
            )));
        }
    }
    if let Some(labels) = g.col_labels {
        if labels.len() != cols {
            return Err(PlotError::Mismatch(format!(
                "{} column labels for {cols} columns",
                labels.len()
            )));
        }
    }
    let range_rows = match g.range {
        RangeFrom::All => n,
        RangeFrom::FirstRows(k) => k.clamp(1, n),
    };
    let (lo, hi) = min_max(
        images
            .slice(ndarray::s![..range_rows, ..])
            .iter()
            .map(|&v| f64::from(v)),
    )
    .ok_or(PlotError::Empty("images"))?;
    let whose = match g.range {
        RangeFrom::All => "all images shown",
        RangeFrom::FirstRows(_) => "the originals",
    };
    let note = g.note.then(|| {
        format!(
            "intensity = (v − lo)/(hi − lo) clamped to [0, 1]; lo = {lo:.3}, hi = {hi:.3} (min/max of {whose})"
        )
    });
    ensure_font()?;

    let scale = (112 / h.max(w)).max(1);
    let (cell_h, cell_w) = (h * scale, w * scale);
    const GAP: usize = 6;
    const MARGIN: usize = 12;
    const TITLE_H: usize = 50;
    const CAPTION_H: usize = 24;
    let label_font = (FONT, 18).into_font();
    let title_font = (FONT, 26).into_font();
    let caption_font = (FONT, 15).into_font();
    let label_w = match g.row_labels {
        Some(labels) => {
            let mut widest = 0;
            for label in labels {
                widest = widest.max(label_font.box_size(label).map_err(draw_err_font)?.0);
            }
            widest as usize + 2 * GAP
        }
        None => 0,
    };
    let title_w = title_font.box_size(g.title).map_err(draw_err_font)?.0 as usize;
    let note_w = match &note {
        Some(t) => caption_font.box_size(t).map_err(draw_err_font)?.0 as usize,
        None => 0,
    };
    let mut col_w = cell_w;
    for label in g.col_labels.unwrap_or_default() {
        col_w = col_w.max(caption_font.box_size(label).map_err(draw_err_font)?.0 as usize + 4);
    }
    let extra_h =
        usize::from(g.col_labels.is_some()) * CAPTION_H + usize::from(note.is_some()) * CAPTION_H;
    let grid_w = cols
        .checked_mul(col_w + GAP)
        .and_then(|v| v.checked_add(label_w + 2 * MARGIN));
    let grid_h = grid_rows
        .checked_mul(cell_h + GAP)
        .and_then(|v| v.checked_add(TITLE_H + 2 * MARGIN + extra_h));
    let (Some(width), Some(height)) = (grid_w, grid_h) else {
        return Err(PlotError::InvalidArgument("image grid too large".into()));
    };
    let width = width.max(title_w + 2 * MARGIN).max(note_w + 2 * MARGIN);
    if width > MAX_SIDE || height > MAX_SIDE || width * height > MAX_PIXELS {
        return Err(PlotError::InvalidArgument(format!(
            "image grid of {width} x {height} pixels is too large (at most {MAX_SIDE} a side)"
        )));
    }
    // Left edge of the grid, centred when the title is wider than the grid.
    let grid_span = label_w + cols * (col_w + GAP) - GAP;
    let x0 = (width - grid_span) / 2;
    let cell_x = |c: usize| x0 + label_w + c * (col_w + GAP) + (col_w - cell_w) / 2;
    let cell_y = |r: usize| TITLE_H + MARGIN + r * (cell_h + GAP);

    let mut buf = vec![255u8; width * height * 3];
    {
        let root =
            BitMapBackend::with_buffer(&mut buf, (width as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        root.draw_text(
            g.title,
            &title_font
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Center)),
            (width as i32 / 2, (TITLE_H / 2 + MARGIN / 2) as i32),
        )
        .map_err(draw_err)?;
        if let Some(labels) = g.row_labels {
            for (r, label) in labels.iter().enumerate() {
                root.draw_text(
                    label,
                    &label_font
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Right, VPos::Center)),
                    ((x0 + label_w - GAP) as i32, (cell_y(r) + cell_h / 2) as i32),
                )
                .map_err(draw_err)?;
            }
        }
        let below = cell_y(grid_rows) - GAP;
        if let Some(labels) = g.col_labels {
            for (col, label) in labels.iter().enumerate() {
                root.draw_text(
                    label,
                    &caption_font
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                    (
                        (cell_x(col) + cell_w / 2) as i32,
                        (below + CAPTION_H / 2) as i32,
                    ),
                )
                .map_err(draw_err)?;
            }
        }
        if let Some(text) = &note {
            let y = below + usize::from(g.col_labels.is_some()) * CAPTION_H + CAPTION_H / 2;
            root.draw_text(
                text,
                &caption_font
                    .color(&RGBColor(90, 90, 90))
                    .pos(Pos::new(HPos::Center, VPos::Center)),
                (width as i32 / 2, y as i32),
            )
            .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }

    let range = hi - lo;
    let plane = h * w;
    for (idx, img) in images.outer_iter().enumerate() {
        let (gx, gy) = (cell_x(idx % cols), cell_y(idx / cols));
        let level = |v: f32| -> u8 {
            let t = if range > 0.0 {
                (f64::from(v) - lo) / range
            } else {
                0.5
            };
            (t.clamp(0.0, 1.0) * 255.0).round() as u8
        };
        for p in 0..plane {
            let rgb = if c == 1 {
                let g = level(img[p]);
                [g, g, g]
            } else {
                [
                    level(img[p]),
                    level(img[plane + p]),
                    level(img[2 * plane + p]),
                ]
            };
            let (py, px) = (p / w, p % w);
            for dy in 0..scale {
                let row_start = ((gy + py * scale + dy) * width + gx + px * scale) * 3;
                for chunk in buf[row_start..row_start + 3 * scale].chunks_exact_mut(3) {
                    chunk.copy_from_slice(&rgb);
                }
            }
        }
    }
    write_png(path, &buf, (width as u32, height as u32))
}

/// Registers the embedded font once per process.
fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FONT, FontStyle::Normal, ttf_noto_sans::REGULAR)
                .map_err(|_| "the embedded Noto Sans font is not a valid font".to_string())
        })
        .clone()
        .map_err(PlotError::Font)
}

/// Draws with `draw` on a white `size` canvas and writes it as a PNG.
fn render<F>(path: &Path, size: (u32, u32), draw: F) -> Result<(), PlotError>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
{
    ensure_font()?;
    let mut buf = vec![255u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    write_png(path, &buf, size)
}

/// Encodes an RGB8 buffer as PNG and writes it atomically to `path`.
fn write_png(path: &Path, rgb: &[u8], (width, height): (u32, u32)) -> Result<(), PlotError> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let encode_err = |e: png::EncodingError| PlotError::Encode(e.to_string());
        let mut writer = encoder.write_header().map_err(encode_err)?;
        writer.write_image_data(rgb).map_err(encode_err)?;
        writer.finish().map_err(encode_err)?;
    }
    atomic_write(path, &bytes)
}

/// Writes `bytes` with the shared [`crate::atomic::write`] (temporary file,
/// sync, rename; no temporary file left on failure).
fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    crate::atomic::write(path, bytes).map_err(|source| {
        if source.kind() == io::ErrorKind::InvalidInput {
            PlotError::InvalidArgument(format!("{} is not a file path", path.display()))
        } else {
            PlotError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// The legend style shared by the single-panel charts: upper right, white
/// translucent box with a black border.
fn standard_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    mut style: SeriesLabelStyle<'a, '_, DB, CT>,
) -> Result<(), PlotError> {
    style
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)
}

fn draw_err<E: StdError + Send + Sync>(e: DrawingAreaErrorKind<E>) -> PlotError {
    PlotError::Draw(e.to_string())
}

fn draw_err_font(e: plotters::style::FontError) -> PlotError {
    PlotError::Font(e.to_string())
}

/// Minimum and maximum of the values, `None` if there are none.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A log10 y axis, drawn as a linear axis over log10 values with our own
/// ticks (plotters' log scale leaves ranges without a whole decade inside
/// unlabelled): labels at whole decades, also at 2x and 5x a decade when the
/// range spans at most three decades, at every 1x..9x within one decade;
/// a light grid at 1x..9x each decade up to eight decades.
struct LogAxis {
    /// Bottom, in log10 units.
    lo: f64,
    /// Top, in log10 units.
    hi: f64,
    /// Labelled ticks, in log10 units.
    ticks: Vec<f64>,
    /// Light grid lines, in log10 units.
    light: Vec<f64>,
}

impl LogAxis {
    /// The axis around data spanning `lo..=hi` (log10 units, finite).
    fn new(lo: f64, hi: f64) -> Self {
        let span = (hi - lo).max(0.3);
        let mid = 0.5 * (lo + hi);
        let (lo, hi) = (mid - 0.55 * span, mid + 0.55 * span);
        let multipliers: &[f64] = if span <= 1.2 {
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
        } else if span <= 3.0 {
            &[1.0, 2.0, 5.0]
        } else {
            &[1.0]
        };
        let stride = (span / 15.0).ceil().max(1.0) as i64;
        let (first, last) = (lo.floor() as i64, hi.ceil() as i64);
        let mut ticks = Vec::new();
        let mut light = Vec::new();
        for e in first..=last {
            for (j, &m) in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0f64]
                .iter()
                .enumerate()
            {
                let v = e as f64 + m.log10();
                if v < lo || v > hi {
                    continue;
                }
                if multipliers.contains(&m) && (j > 0 || e.rem_euclid(stride) == 0) {
                    ticks.push(v);
                } else if span <= 8.0 || j == 0 {
                    light.push(v);
                }
            }
        }
        Self {
            lo,
            hi,
            ticks,
            light,
        }
    }
}

impl Ranged for LogAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.lo..self.hi).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Tick label of a [`LogAxis`]: the value 10^v, e.g. `2e-3`.
fn log_label(v: &f64) -> String {
    format!("{:.0e}", 10f64.powf(*v))
}

/// A linear-axis range around `lo..=hi` with 5 % headroom below and `top`
/// (a fraction of the span) above, room for a legend.
fn lin_pad(lo: f64, hi: f64, top: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 {
        (lo - 0.05 * span, hi + top * span)
    } else {
        let d = if lo != 0.0 { 0.1 * lo.abs() } else { 1.0 };
        (lo - d, hi + d)
    }
}

/// Tick label of an integer-valued axis: fractional ticks stay unlabelled.
fn integer_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        String::new()
    }
}

/// The viridis colour at `t` in [0, 1].
fn viridis(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (VIRIDIS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A legend glyph drawn from two path pieces.
type TwoPaths<DB> =
    ComposedElement<(i32, i32), DB, PathElement<(i32, i32)>, PathElement<(i32, i32)>>;

/// Legend glyph of a dashed line: two short dashes (backend pixels).
fn dashed_legend<DB: DrawingBackend>(x: i32, y: i32, color: RGBColor) -> TwoPaths<DB> {
    let style = color.stroke_width(2);
    EmptyElement::at((x, y))
        + PathElement::new([(0, 0), (8, 0)], style)
        + PathElement::new([(12, 0), (20, 0)], style)
}

/// Checks that a 2-D input has at least one row and one column.
fn check_2d(what: &'static str, a: ArrayView2<f32>) -> Result<(), PlotError> {
    if a.nrows() == 0 || a.ncols() == 0 {
        return Err(PlotError::Empty(what));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use std::fs;

    /// Output directory: a fresh temporary directory, or `$RRAE_PLOTS_OUT`
    /// when set (to look at the pictures).
    fn out_dir() -> (Option<tempfile::TempDir>, PathBuf) {
        match std::env::var_os("RRAE_PLOTS_OUT") {
            Some(dir) => {
                fs::create_dir_all(&dir).unwrap();
                (None, PathBuf::from(dir))
            }
            None => {
                let tmp = tempfile::tempdir().unwrap();
                let path = tmp.path().to_path_buf();
                (Some(tmp), path)
            }
        }
    }

    /// Checks the file is a PNG of more than 1 kB and returns its size.
    fn png_dims(path: &Path) -> (u32, u32) {
        let bytes = fs::read(path).unwrap();
        assert!(
            bytes.len() > 1024,
            "{} is only {} bytes",
            path.display(),
            bytes.len()
        );
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let reader = png::Decoder::new(io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let info = reader.info();
        (info.width, info.height)
    }

    /// No temporary file is left next to the plots.
    fn assert_no_tmp(dir: &Path) {
        for entry in fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name();
            assert!(
                !name
                    .to_string_lossy()
                    .starts_with(crate::atomic::TEMP_PREFIX),
                "left over {name:?}"
            );
        }
    }

    fn wave(rows: usize, cols: usize, phase: f32) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            let t = j as f32 / cols as f32 * std::f32::consts::TAU;
            (t + phase * i as f32).sin() * (1.0 + 0.2 * i as f32)
        })
    }

    #[test]
    fn embedded_font_lays_out_text() {
        ensure_font().unwrap();
        let (w, h) = (FONT, 20).into_font().box_size("Training loss").unwrap();
        assert!(w > 50 && h > 5, "{w} x {h}");
    }

    #[test]
    fn loss_curve_with_and_without_rank() {
        let (_keep, dir) = out_dir();
        let steps: Vec<usize> = (0..500).map(|i| i * 10).collect();
        let loss: Vec<f64> = steps
            .iter()
            .map(|&s| {
                0.5 * (-(s as f64) / 1500.0).exp() + 1e-3 * (1.0 + (s as f64 / 70.0).sin().abs())
            })
            .collect();
        let k = [(0, 16), (1000, 12), (2000, 8), (2500, 6), (3000, 5)];
        let path = dir.join("loss_k.png");
        loss_curve(&path, &steps, &loss, Some(&k)).unwrap();
        assert_eq!(png_dims(&path), (1000, 600));
        let path = dir.join("loss.png");
        loss_curve(&path, &steps, &loss, None).unwrap();
        assert_eq!(png_dims(&path), (1000, 600));
        // A single point and an empty rank history are fine.
        loss_curve(dir.join("loss_one.png"), &[3], &[0.1], Some(&[])).unwrap();
        assert_no_tmp(&dir);
    }

    #[test]
    fn loss_curve_skips_non_finite_and_rejects_bad_input() {
        let (_keep, dir) = out_dir();
        let path = dir.join("loss_nan.png");
        loss_curve(
            &path,
            &[0, 1, 2, 3],
            &[1.0, f64::NAN, f64::INFINITY, 0.5],
            None,
        )
        .unwrap();
        png_dims(&path);
        let bad = dir.join("bad.png");
        assert!(matches!(
            loss_curve(&bad, &[], &[], None),
            Err(PlotError::Empty(_))
        ));
        assert!(matches!(
            loss_curve(&bad, &[0, 1], &[1.0], None),
            Err(PlotError::Mismatch(_))
        ));
        assert!(matches!(
            loss_curve(&bad, &[0, 1], &[f64::NAN, -1.0], None),
            Err(PlotError::NonFinite(_))
        ));
        assert!(!bad.exists());
    }

    #[test]
    fn singular_spectrum_marks_k() {
        let (_keep, dir) = out_dir();
        let mut s: Vec<f64> = (0..20).map(|i| 3.0 * 0.4f64.powi(i)).collect();
        s[18] = 0.0;
        s[19] = 0.0;
        let path = dir.join("spectrum.png");
        singular_spectrum(&path, &s, 5).unwrap();
        assert_eq!(png_dims(&path), (1000, 600));
        // k = n: nothing discarded.
        singular_spectrum(dir.join("spectrum_all.png"), &[2.0, 1.0, 0.5], 3).unwrap();
        singular_spectrum(dir.join("spectrum_one.png"), &[2.0], 1).unwrap();
    }

    #[test]
    fn singular_spectrum_rejects_bad_input() {
        let (_keep, dir) = out_dir();
        let p = dir.join("bad.png");
        assert!(matches!(
            singular_spectrum(&p, &[], 1),
            Err(PlotError::Empty(_))
        ));
        assert!(matches!(
            singular_spectrum(&p, &[1.0, f64::NAN], 1),
            Err(PlotError::NonFinite(_))
        ));
        assert!(matches!(
            singular_spectrum(&p, &[1.0, -0.1], 1),
            Err(PlotError::InvalidArgument(_))
        ));
        assert!(matches!(
            singular_spectrum(&p, &[0.0, 0.0], 1),
            Err(PlotError::InvalidArgument(_))
        ));
        assert!(matches!(
            singular_spectrum(&p, &[1.0, 0.5], 0),
            Err(PlotError::InvalidArgument(_))
        ));
        assert!(matches!(
            singular_spectrum(&p, &[1.0, 0.5], 3),
            Err(PlotError::InvalidArgument(_))
        ));
        assert!(!p.exists());
    }

    #[test]
    fn reconstructions_1d_panels() {
        let (_keep, dir) = out_dir();
        let x = wave(8, 100, 0.7);
        let x_hat = &x + &wave(8, 100, 2.0).mapv(|v| 0.05 * v);
        let path = dir.join("recon.png");
        reconstructions_1d(&path, x.view(), x_hat.view(), 6).unwrap();
        assert_eq!(png_dims(&path), (1260, 70 + 2 * 320));
        let path = dir.join("recon_one.png");
        reconstructions_1d(&path, x.view(), x_hat.view(), 1).unwrap();
        assert_eq!(png_dims(&path), (700, 390));
        // One feature, and more curves than rows.
        let one = Array2::from_elem((2, 1), 0.5f32);
        reconstructions_1d(dir.join("recon_feat1.png"), one.view(), one.view(), 10).unwrap();
        // Non-finite values beyond the plotted rows do not matter.
        let mut tail_nan = x.clone();
        tail_nan[[7, 0]] = f32::NAN;
        reconstructions_1d(dir.join("recon_tail.png"), tail_nan.view(), x_hat.view(), 3).unwrap();
    }

    #[test]
    fn reconstructions_1d_rejects_bad_input() {
        let (_keep, dir) = out_dir();
        let p = dir.join("bad.png");
        let x = wave(3, 10, 0.5);
        let other = wave(3, 11, 0.5);
        let err = |r: Result<(), PlotError>| r.unwrap_err();
        assert!(matches!(
            err(reconstructions_1d(&p, x.view(), other.view(), 3)),
            PlotError::Mismatch(_)
        ));
        let empty = Array2::<f32>::zeros((0, 10));
        assert!(matches!(
            err(reconstructions_1d(&p, empty.view(), empty.view(), 3)),
            PlotError::Empty(_)
        ));
        assert!(matches!(
            err(reconstructions_1d(&p, x.view(), x.view(), 0)),
            PlotError::InvalidArgument(_)
        ));
        let mut nan = x.clone();
        nan[[1, 2]] = f32::INFINITY;
        assert!(matches!(
            err(reconstructions_1d(&p, x.view(), nan.view(), 3)),
            PlotError::NonFinite(_)
        ));
        assert!(!p.exists());
    }

    #[test]
    fn curves_gradient() {
        let (_keep, dir) = out_dir();
        let y = wave(10, 80, 0.3);
        let path = dir.join("curves.png");
        curves(&path, "Interpolation path in α-space", y.view()).unwrap();
        assert_eq!(png_dims(&path), (1000, 600));
        curves(dir.join("curves_one.png"), "one", wave(1, 80, 0.0).view()).unwrap();
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
    }

    #[test]
    fn curves_rejects_bad_input() {
        let (_keep, dir) = out_dir();
        let p = dir.join("bad.png");
        assert!(matches!(
            curves(&p, "t", Array2::<f32>::zeros((0, 3)).view()),
            Err(PlotError::Empty(_))
        ));
        assert!(matches!(
            curves(&p, "t", Array2::<f32>::zeros((3, 0)).view()),
            Err(PlotError::Empty(_))
        ));
        let mut y = wave(2, 5, 0.1);
        y[[0, 0]] = f32::NAN;
        assert!(matches!(
            curves(&p, "t", y.view()),
            Err(PlotError::NonFinite(_))
        ));
        assert!(!p.exists());
    }

    /// `n` synthetic 28 x 28 "digits": a ring whose radius varies.
    fn rings(n: usize) -> Array2<f32> {
        Array2::from_shape_fn((n, 28 * 28), |(i, p)| {
            let (y, x) = ((p / 28) as f32 - 13.5, (p % 28) as f32 - 13.5);
            let r = (x * x + y * y).sqrt();
            let target = 4.0 + i as f32;
            (-(r - target).powi(2) / 3.0).exp()
        })
    }

    #[test]
    fn image_grid_layout() {
        let (_keep, dir) = out_dir();
        let imgs = rings(8);
        let path = dir.join("grid_recon.png");
        image_grid(
            &path,
            "Reconstructions (MNIST-like)",
            imgs.view(),
            (28, 28),
            4,
            Some(&["original", "reconstruction"]),
        )
        .unwrap();
        let (w, h) = png_dims(&path);
        // 28 x 28 drawn 4x; 2 rows of 112 px cells.
        assert_eq!(h as usize, 50 + 2 * 12 + 2 * (112 + 6));
        assert!(w as usize > 4 * 112);
        let path = dir.join("grid_strip.png");
        image_grid(&path, "Interpolation", imgs.view(), (28, 28), 8, None).unwrap();
        assert_eq!(png_dims(&path).1 as usize, 50 + 2 * 12 + 112 + 6);
        // Non-square images, a ragged last row and a constant grid.
        let flat = Array2::from_elem((5, 6 * 10), 0.3f32);
        image_grid(
            dir.join("grid_const.png"),
            "constant",
            flat.view(),
            (6, 10),
            3,
            None,
        )
        .unwrap();
    }

    #[test]
    fn image_grid_pixels_are_min_max_scaled() {
        let (_keep, dir) = out_dir();
        // Two 1 x 2 images: [0, 1] and [2, 3] → black ... white.
        let imgs = Array2::from_shape_vec((2, 2), vec![0.0f32, 1.0, 2.0, 3.0]).unwrap();
        let path = dir.join("grid_tiny.png");
        image_grid(&path, "tiny", imgs.view(), (1, 2), 2, None).unwrap();
        let bytes = fs::read(&path).unwrap();
        let mut reader = png::Decoder::new(io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let row_bytes = info.line_size;
        let mut greys: Vec<u8> = Vec::new();
        // Scan the first grid row (y = title + margin) for non-white pixels.
        let y = 50 + 12;
        for x in 0..info.width as usize {
            let px = &buf[y * row_bytes + 3 * x..y * row_bytes + 3 * x + 3];
            if px != [255, 255, 255] && greys.last() != Some(&px[0]) {
                greys.push(px[0]);
            }
        }
        assert_eq!(greys, vec![0, 85, 170]); // 255 (white) is indistinguishable from the page.
    }

    #[test]
    fn image_grid_rejects_bad_input() {
        let (_keep, dir) = out_dir();
        let p = dir.join("bad.png");
        let imgs = rings(4);
        let g = |imgs: ArrayView2<f32>, shape, cols, labels| {
            image_grid(&p, "t", imgs, shape, cols, labels)
        };
        assert!(matches!(
            g(Array2::zeros((0, 4)).view(), (2, 2), 1, None),
            Err(PlotError::Empty(_))
        ));
        assert!(matches!(
            g(imgs.view(), (0, 28), 2, None),
            Err(PlotError::Empty(_))
        ));
        assert!(matches!(
            g(imgs.view(), (28, 27), 2, None),
            Err(PlotError::Mismatch(_))
        ));
        assert!(matches!(
            g(imgs.view(), (usize::MAX, 2), 2, None),
            Err(PlotError::Mismatch(_))
        ));
        assert!(matches!(
            g(imgs.view(), (28, 28), 0, None),
            Err(PlotError::InvalidArgument(_))
        ));
        assert!(matches!(
            g(imgs.view(), (28, 28), 2, Some(&["a"])),
            Err(PlotError::Mismatch(_))
        ));
        let wide = Array2::zeros((1, 20_000));
        assert!(matches!(
            g(wide.view(), (1, 20_000), 1, None),
            Err(PlotError::InvalidArgument(_))
        ));
        let mut nan = imgs.clone();
        nan[[3, 100]] = f32::NAN;
        assert!(matches!(
            g(nan.view(), (28, 28), 2, None),
            Err(PlotError::NonFinite(_))
        ));
        assert!(!p.exists());
    }

    /// RGB value of pixel `(x, y)` of a decoded PNG.
    fn pixel(path: &Path, x: usize, y: usize) -> [u8; 3] {
        let bytes = fs::read(path).unwrap();
        let mut reader = png::Decoder::new(io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let at = y * info.line_size + 3 * x;
        [buf[at], buf[at + 1], buf[at + 2]]
    }

    #[test]
    fn image_figures_grey_and_rgb() {
        let (_keep, dir) = out_dir();
        let x = rings(8);
        let x_hat = x.mapv(|v| 1.2 * v - 0.05);
        let p = dir.join("img_recon.png");
        image_reconstructions(&p, x.view(), x_hat.view(), (1, 28, 28)).unwrap();
        let (_, h) = png_dims(&p);
        // Two rows of 112 px cells, column captions and the scaling note.
        assert_eq!(h as usize, 50 + 2 * 12 + 2 * (112 + 6) + 2 * 24);
        let p = dir.join("img_strip.png");
        image_interpolation(
            &p,
            "Interpolation",
            x.slice(ndarray::s![..7, ..]),
            (1, 28, 28),
        )
        .unwrap();
        assert_eq!(png_dims(&p).1 as usize, 50 + 2 * 12 + 112 + 6 + 2 * 24);
        let p = dir.join("img_samples.png");
        image_samples(&p, "Samples", x.view(), (1, 28, 28), 4).unwrap();
        assert_eq!(png_dims(&p).1 as usize, 50 + 2 * 12 + 2 * (112 + 6) + 24);

        // RGB: one 2 x 2 image, red top-left, green top-right, blue bottom-left,
        // white bottom-right; drawn 56x.
        let rgb = Array2::from_shape_vec(
            (1, 12),
            vec![
                1.0, 0.0, 0.0, 1.0, // R plane
                0.0, 1.0, 0.0, 1.0, // G plane
                0.0, 0.0, 1.0, 1.0, // B plane
            ],
        )
        .unwrap();
        let p = dir.join("img_rgb.png");
        image_samples(&p, "RGB", rgb.view(), (3, 2, 2), 1).unwrap();
        let (w, _) = png_dims(&p);
        let x0 = (w as usize - 112) / 2;
        let y0 = 50 + 12;
        assert_eq!(pixel(&p, x0 + 10, y0 + 10), [255, 0, 0]);
        assert_eq!(pixel(&p, x0 + 100, y0 + 10), [0, 255, 0]);
        assert_eq!(pixel(&p, x0 + 10, y0 + 100), [0, 0, 255]);
    }

    #[test]
    fn image_reconstructions_clamp_to_the_originals_range() {
        let (_keep, dir) = out_dir();
        // Originals span [0, 1]; the reconstruction overshoots to 2 and -1.
        let x = Array2::from_shape_vec((1, 2), vec![0.0f32, 1.0]).unwrap();
        let x_hat = Array2::from_shape_vec((1, 2), vec![-1.0f32, 2.0]).unwrap();
        let p = dir.join("img_clamp.png");
        image_reconstructions(&p, x.view(), x_hat.view(), (1, 1, 2)).unwrap();
        let (w, _) = png_dims(&p);
        // Find the reconstruction row (second grid row) and read both pixels.
        let y = 50 + 12 + (112 / 2) + 6 + 10;
        let row: Vec<[u8; 3]> = (0..w as usize).map(|x| pixel(&p, x, y)).collect();
        assert!(row.contains(&[0, 0, 0]), "black (clamped -1) present");
        assert!(!row.iter().any(|px| px[0] != px[1]), "grey only");
    }

    #[test]
    fn image_figures_reject_bad_input() {
        let (_keep, dir) = out_dir();
        let p = dir.join("img_bad.png");
        let x = rings(3);
        let e = image_samples(&p, "t", x.view(), (2, 14, 28), 2).unwrap_err();
        assert!(matches!(e, PlotError::InvalidArgument(_)), "{e}");
        assert!(matches!(
            image_samples(&p, "t", x.view(), (3, 28, 28), 2),
            Err(PlotError::Mismatch(_))
        ));
        assert!(matches!(
            image_samples(&p, "t", x.view(), (1, 28, 28), 0),
            Err(PlotError::InvalidArgument(_))
        ));
        assert!(matches!(
            image_reconstructions(&p, x.view(), rings(2).view(), (1, 28, 28)),
            Err(PlotError::Mismatch(_))
        ));
        let many = rings(MAX_IMAGE_COLUMNS + 1);
        assert!(matches!(
            image_interpolation(&p, "t", many.view(), (1, 28, 28)),
            Err(PlotError::InvalidArgument(_))
        ));
        let mut nan = x.clone();
        nan[[0, 0]] = f32::NAN;
        assert!(matches!(
            image_interpolation(&p, "t", nan.view(), (1, 28, 28)),
            Err(PlotError::NonFinite(_))
        ));
        assert!(!p.exists());
    }

    #[test]
    fn atomic_write_replaces_and_cleans_up() {
        let (_keep, dir) = out_dir();
        let path = dir.join("atomic.bin");
        atomic_write(&path, b"first").unwrap();
        atomic_write(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_no_tmp(&dir);
        let missing = dir.join("no_such_dir").join("x.png");
        assert!(matches!(
            atomic_write(&missing, b"x"),
            Err(PlotError::Io { .. })
        ));
        assert!(matches!(
            atomic_write(Path::new("/"), b"x"),
            Err(PlotError::InvalidArgument(_))
        ));
        // The target is a directory: the rename fails and the temp file is removed.
        let sub = dir.join("a_dir");
        fs::create_dir_all(&sub).unwrap();
        assert!(matches!(
            atomic_write(&sub, b"x"),
            Err(PlotError::Io { .. })
        ));
        assert_no_tmp(&dir);
    }
}
