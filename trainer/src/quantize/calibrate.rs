//! Calibration: runs the f32 network over sample data and records the range
//! of every layer's pre-activation and output, by min/max or by a central
//! percentile (which ignores the rare outliers that would stretch a
//! min/max scale).

use anyhow::{anyhow, Result};
use ndarray::{Array2, ArrayView2, Axis};

use crate::nn::network::Workspace;
use crate::nn::Network;

/// How a tensor's calibrated range is chosen from its observed values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The smallest and largest value.
    MinMax,
    /// The `p` and `100 − p` percentiles (`p` in `(50, 100]`, e.g. 99.99).
    Percentile(f64),
}

impl std::str::FromStr for Method {
    type Err = String;

    /// `minmax` or `pNN.NN` / `percentile:NN.NN` (e.g. `p99.99`).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        if s == "minmax" || s == "min-max" {
            return Ok(Method::MinMax);
        }
        let num = s
            .strip_prefix("percentile:")
            .or_else(|| s.strip_prefix('p'))
            .ok_or_else(|| format!("{s:?} is not minmax or pNN (e.g. p99.99)"))?;
        match num.parse::<f64>() {
            Ok(p) if p > 50.0 && p <= 100.0 => Ok(Method::Percentile(p)),
            _ => Err(format!("{s:?}: the percentile must be in (50, 100]")),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::MinMax => write!(f, "minmax"),
            Method::Percentile(p) => write!(f, "p{p}"),
        }
    }
}

/// A calibrated real range `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lower end.
    pub min: f32,
    /// Upper end.
    pub max: f32,
}

impl Range {
    /// The range of `values` by `method` (`[0, 0]` when empty).
    pub fn of(values: &mut [f32], method: Method) -> Range {
        if values.is_empty() {
            return Range { min: 0.0, max: 0.0 };
        }
        match method {
            Method::MinMax => {
                let (min, max) = values
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                        (lo.min(v), hi.max(v))
                    });
                Range { min, max }
            }
            Method::Percentile(p) => {
                let n = values.len();
                let hi_idx = (((p / 100.0) * (n - 1) as f64).round() as usize).min(n - 1);
                let lo_idx = n - 1 - hi_idx;
                let (_, &mut max, _) = values.select_nth_unstable_by(hi_idx, f32::total_cmp);
                let (_, &mut min, _) = values.select_nth_unstable_by(lo_idx, f32::total_cmp);
                Range { min, max }
            }
        }
    }
}

/// Calibrated ranges of one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerRange {
    /// Of the affine map's output (before the activation).
    pub pre: Range,
    /// Of the activation's output.
    pub post: Range,
}

/// Checks calibration data: at least one row, `width` columns, finite.
///
/// # Errors
/// A one-line message naming the problem (and the first bad value).
pub fn check_data(x: ArrayView2<f32>, width: usize, what: &str) -> Result<()> {
    if x.nrows() == 0 {
        return Err(anyhow!("calibration data {what} is empty"));
    }
    if x.ncols() != width {
        return Err(anyhow!(
            "calibration data {what} has {} values per sample, the model takes {width}",
            x.ncols()
        ));
    }
    if let Some(((r, c), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(anyhow!(
            "calibration data {what} holds a non-finite value ({v}) at sample {r}, feature {c}"
        ));
    }
    Ok(())
}

/// Runs `net` over `x` (rows are samples) and returns every layer's ranges
/// by `method`, and the network's f32 output.
///
/// # Errors
/// A network that does not take `x`'s width.
pub fn calibrate(
    net: &Network<f32>,
    x: ArrayView2<f32>,
    method: Method,
) -> Result<(Vec<LayerRange>, Array2<f32>)> {
    const CHUNK: usize = 256;
    let n = net.layers.len();
    let mut pre: Vec<Vec<f32>> = vec![Vec::new(); n];
    let mut post: Vec<Vec<f32>> = vec![Vec::new(); n];
    let mut out = Array2::zeros((x.nrows(), net.out_dim()));
    let mut ws = Workspace::default();
    for (xc, mut oc) in x
        .axis_chunks_iter(Axis(0), CHUNK)
        .zip(out.axis_chunks_iter_mut(Axis(0), CHUNK))
    {
        oc.assign(&net.forward(xc, &mut ws)?);
        let (z, a) = ws.layer_values();
        for i in 0..n {
            pre[i].extend(z[i].iter().copied());
            post[i].extend(a[i].iter().copied());
        }
    }
    let ranges = pre
        .iter_mut()
        .zip(post.iter_mut())
        .map(|(z, a)| LayerRange {
            pre: Range::of(z, method),
            post: Range::of(a, method),
        })
        .collect();
    Ok((ranges, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn methods() {
        let mut v: Vec<f32> = (0..10001).map(|i| i as f32).collect();
        assert_eq!(
            Range::of(&mut v, Method::MinMax),
            Range {
                min: 0.0,
                max: 10000.0
            }
        );
        let r = Range::of(&mut v, Method::Percentile(99.0));
        assert_eq!((r.min, r.max), (100.0, 9900.0));
        assert_eq!("p99.99".parse::<Method>(), Ok(Method::Percentile(99.99)));
        assert_eq!("minmax".parse::<Method>(), Ok(Method::MinMax));
        assert!("p20".parse::<Method>().is_err());
        assert!("best".parse::<Method>().is_err());
    }

    #[test]
    fn bad_data_is_one_line() {
        let e = check_data(array![[1.0f32, f32::NAN]].view(), 2, "x.npy").unwrap_err();
        assert_eq!(
            e.to_string(),
            "calibration data x.npy holds a non-finite value (NaN) at sample 0, feature 1"
        );
        let e = check_data(Array2::<f32>::zeros((0, 2)).view(), 2, "x").unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
        let e = check_data(array![[1.0f32]].view(), 2, "x").unwrap_err();
        assert!(
            e.to_string()
                .contains("1 values per sample, the model takes 2"),
            "{e}"
        );
    }
}
