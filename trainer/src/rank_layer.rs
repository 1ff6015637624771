//! The rank-reduction layer: truncated SVD of a batch of latents and its
//! exact gradient.
//!
//! The trainer's latent batch is `batch x latent` (rows are samples), the
//! transpose `Z = Yᵀ` of the `L x B` matrix `Y` of `RRAE-SPEC.md`. Since
//! `trunc_k(Yᵀ) = trunc_k(Y)ᵀ`, this module transposes on the way in and out
//! and works in the spec's orientation internally, in `f64` whatever the
//! caller's float type.
//!
//! # Forward
//! `Y = U diag(s) Vᵀ` (thin, `p = min(L, B)`), `Y_k = U_k diag(s_k) V_kᵀ`.
//!
//! # Backward (closed form of `RRAE-SPEC.md`)
//! With `G = ∂ℓ/∂Y_k`, kept set `K = {1..k}`, dropped set `D = {k+1..p}`:
//!
//! ```text
//! M    = Uᵀ G V
//! W_KK = M_KK,  W_DD = 0
//! W_ab = (s_a² M_ab + s_a s_b M_ba) / (s_a² − s_b²)   (a ∈ K, b ∈ D)
//! W_ba = (s_a² M_ba + s_a s_b M_ab) / (s_a² − s_b²)
//! ∂ℓ/∂Y = U W Vᵀ + (I − U Uᵀ) G V_k V_kᵀ + U_k U_kᵀ G (I − V Vᵀ)
//! ```
//!
//! There are no `1/s` terms, so exactly-zero singular values give finite
//! gradients. A pair whose denominator is exactly zero contributes nothing
//! (as in the reference); a denominator with `0 < |den| < 1e-12 · s₁²` (a
//! near-tie across the cut, a genuine singularity) is clamped to
//! `±1e-12 · s₁²`. Both cases are counted in [`TruncCache::clamped_pairs`].
//!
//! This is *not* the fixed-basis projection `U_k U_kᵀ G`, which ignores the
//! rotation of the basis and is wrong by 84–100 % on random data.

use ndarray::{s, Array2, ArrayView2, Axis, NdFloat};
use rand_distr::num_traits::NumCast;
use thiserror::Error;

use crate::linalg::{thin_svd, LinalgError};

/// Relative threshold of the denominator clamp: `|s_a² − s_b²| ≥ DEN_CLAMP · s₁²`.
pub const DEN_CLAMP: f64 = 1e-12;

/// Errors of the rank-reduction layer.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RankError {
    /// The requested rank is not in `1..=min(batch, latent)`.
    #[error(
        "rank k = {k} is invalid for a {batch} x {latent} latent batch: \
         need 1 <= k <= min(batch, latent) = {max}"
    )]
    InvalidRank {
        /// The requested rank.
        k: usize,
        /// Batch size (rows of the latent batch).
        batch: usize,
        /// Latent width (columns of the latent batch).
        latent: usize,
        /// The largest admissible rank, `min(batch, latent)`.
        max: usize,
    },
    /// A latent value is NaN or infinite.
    #[error("non-finite latent value {value} at sample {sample}, latent coordinate {coord}")]
    NonFinite {
        /// Row (sample) of the first offending value.
        sample: usize,
        /// Column (latent coordinate) of the first offending value.
        coord: usize,
        /// The offending value.
        value: f64,
    },
    /// The SVD failed.
    #[error("SVD of the latent batch failed: {0}")]
    Svd(#[from] LinalgError),
}

/// What the backward pass needs from the forward pass (spec orientation).
#[derive(Debug, Clone)]
pub struct TruncCache {
    /// `U`, `L x p`.
    u: Array2<f64>,
    /// Singular values, descending, `p`.
    s: Vec<f64>,
    /// `V`, `B x p`.
    v: Array2<f64>,
    /// Kept rank.
    k: usize,
    /// Number of (kept, dropped) pairs whose denominator was clamped or zero.
    clamped: usize,
}

impl TruncCache {
    /// All `p = min(batch, latent)` singular values of the batch, descending.
    pub fn singular_values(&self) -> &[f64] {
        &self.s
    }

    /// The kept rank `k`.
    pub fn rank(&self) -> usize {
        self.k
    }

    /// Number of (kept, dropped) pairs whose denominator `s_a² − s_b²` was
    /// exactly zero (contribution dropped) or below `DEN_CLAMP · s₁²` in
    /// magnitude (clamped). Zero for well-separated spectra.
    pub fn clamped_pairs(&self) -> usize {
        self.clamped
    }

    /// Latent-side basis `U_k` (`latent x k`, orthonormal columns).
    pub fn latent_basis(&self) -> ArrayView2<'_, f64> {
        self.u.slice(s![.., ..self.k])
    }
}

fn to_f64<T: NdFloat>(x: T) -> f64 {
    x.to_f64().unwrap_or(f64::NAN)
}

fn from_f64<T: NdFloat>(x: f64) -> T {
    <T as NumCast>::from(x).unwrap_or_else(T::nan)
}

/// Effective denominator of a (kept, dropped) pair, or `None` when the pair
/// contributes nothing (exact tie).
fn pair_den(sa: f64, sb: f64, floor: f64) -> Option<f64> {
    let den = sa * sa - sb * sb;
    if den == 0.0 {
        None
    } else if den.abs() < floor {
        Some(floor.copysign(den))
    } else {
        Some(den)
    }
}

/// Rank-`k` truncation of a `batch x latent` batch of latents.
///
/// Returns the truncated batch (same shape and float type) and the cache for
/// [`truncate_backward`]. The SVD is computed in `f64`.
///
/// # Errors
/// [`RankError::InvalidRank`] unless `1 <= k <= min(batch, latent)`;
/// [`RankError::NonFinite`] if the batch holds a NaN or an infinity;
/// [`RankError::Svd`] if the SVD fails.
pub fn truncate<T: NdFloat>(
    y: ArrayView2<T>,
    k: usize,
) -> Result<(Array2<T>, TruncCache), RankError> {
    let (batch, latent) = y.dim();
    let max = batch.min(latent);
    if k == 0 || k > max {
        return Err(RankError::InvalidRank {
            k,
            batch,
            latent,
            max,
        });
    }
    // f64 copy in the caller's batch x latent layout; the spec's Y is its
    // transpose (a view, no copy).
    let z64 = y.mapv(to_f64::<T>);
    if let Some(((sample, coord), &value)) = z64.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(RankError::NonFinite {
            sample,
            coord,
            value,
        });
    }
    let svd = thin_svd(z64.t())?;
    let u = svd.u;
    let v = svd.vt.reversed_axes();
    let s = svd.s;

    // Y_k = U_k diag(s_k) V_kᵀ; return its transpose V_k diag(s_k) U_kᵀ.
    let mut vs = v.slice(s![.., ..k]).to_owned();
    for (mut col, &sj) in vs.axis_iter_mut(Axis(1)).zip(&s) {
        col *= sj;
    }
    let yk_t = vs.dot(&u.slice(s![.., ..k]).t());

    let floor = DEN_CLAMP * s[0] * s[0];
    let clamped = s[..k]
        .iter()
        .flat_map(|&sa| s[k..].iter().map(move |&sb| (sa, sb)))
        .filter(|&(sa, sb)| (sa * sa - sb * sb).abs() < floor || sa * sa == sb * sb)
        .count();

    Ok((
        yk_t.mapv(from_f64::<T>),
        TruncCache {
            u,
            s,
            v,
            k,
            clamped,
        },
    ))
}

/// Gradient of a loss through [`truncate`]: given `g = ∂ℓ/∂(truncated batch)`
/// (`batch x latent`), returns `∂ℓ/∂(batch)` (`batch x latent`) by the
/// closed form in the module documentation, computed in `f64`.
///
/// `g` must have the shape of the batch given to the forward pass; a
/// mismatched shape yields a matrix of NaN of the cached batch's shape (this
/// is a programming error of the caller, never a data error).
pub fn truncate_backward<T: NdFloat>(cache: &TruncCache, g: ArrayView2<T>) -> Array2<T> {
    let (u, v, s, k) = (&cache.u, &cache.v, &cache.s, cache.k);
    let (l, p) = u.dim();
    let b = v.nrows();
    if g.dim() != (b, l) {
        return Array2::from_elem((b, l), T::nan());
    }
    // Batch orientation throughout: g is B x L (= Gᵀ). Only products with
    // k columns are formed, O(k (L + B) p + k L B), since W is zero outside
    // its first k rows and columns:
    //   U W Vᵀ = U_K (W_K: Vᵀ) + U_D W_DK V_Kᵀ.
    let g64 = g.mapv(to_f64::<T>);
    let u_k = u.slice(s![.., ..k]);
    let v_k = v.slice(s![.., ..k]);
    let gv_k = g64.t().dot(&v_k); // G V_K, L x k
    let gtu_k = g64.dot(&u_k); // (U_Kᵀ G)ᵀ, B x k
    let m_col = u.t().dot(&gv_k); // M[:, K], p x k
    let m_row = gtu_k.t().dot(v); // M[K, :], k x p

    // W[K, :] (k x p) and W[D, K] ((p - k) x k).
    let mut w_row = Array2::<f64>::zeros((k, p));
    let mut w_col = Array2::<f64>::zeros((p - k, k));
    w_row
        .slice_mut(s![.., ..k])
        .assign(&m_row.slice(s![.., ..k]));
    let floor = DEN_CLAMP * s[0] * s[0];
    for a in 0..k {
        for bb in k..p {
            let (sa, sb) = (s[a], s[bb]);
            if let Some(den) = pair_den(sa, sb, floor) {
                let (m_ab, m_ba) = (m_row[(a, bb)], m_col[(bb, a)]);
                w_row[(a, bb)] = (sa * sa * m_ab + sa * sb * m_ba) / den;
                w_col[(bb - k, a)] = (sa * sa * m_ba + sa * sb * m_ab) / den;
            }
        }
    }
    // dZ = dYᵀ = (V W[K, :]ᵀ + R3ᵀ) U_Kᵀ + V_K (U_D W[D, K] + R2)ᵀ
    let mut left = v.dot(&w_row.t()); // B x k
    let mut right = u.slice(s![.., k..]).dot(&w_col); // L x k
    if l > p {
        // (I − U Uᵀ) G V_k V_kᵀ = R2 V_kᵀ, R2 = G V_k − U M[:, K]
        right += &gv_k;
        right -= &u.dot(&m_col);
    }
    if b > p {
        // U_k U_kᵀ G (I − V Vᵀ) = U_k R3, R3 = U_kᵀ G − M[K, :] Vᵀ
        left += &gtu_k;
        left -= &v.dot(&m_row.t());
    }
    let mut dz = left.dot(&u_k.t()); // B x L
    dz += &v_k.dot(&right.t());
    dz.mapv(from_f64::<T>)
}
