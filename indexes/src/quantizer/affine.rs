//! Shared math of the per-dimension scalar quantizers ([`super::Sq8`], [`super::Int4`]):
//! dimension `d` is mapped linearly from `[min_d, max_d]` (seen in training) to the integer
//! levels `0..=L`, so a code `c` reconstructs as `x̂_d = min_d + step_d × c_d` with
//! `step_d = (max_d - min_d) / L`.
//!
//! Scoring never decodes: `q · x̂ = Σ q_d min_d + Σ (q_d step_d) c_d`, and the weights
//! `q_d step_d` are rounded to i8 (scale `alpha = max |q_d step_d| / 127`) so the second sum
//! is one integer dot product (`vpdpbusd` on AVX-512 VNNI). L2 uses
//! `‖q - x̂‖² = ‖q‖² - 2 q · x̂ + ‖x̂‖²`.

use crate::{IndexError, Metric};

use super::{bytes_to_f32s, check_sample, f32s_to_bytes, min_max};

/// Trained ranges of a per-dimension scalar quantizer with `levels + 1` levels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Affine {
    pub min: Vec<f32>,
    pub step: Vec<f32>,
}

impl Affine {
    pub fn train(sample: &[f32], dim: usize, levels: u8, name: &str) -> Result<Self, IndexError> {
        check_sample(sample, dim, name)?;
        let (min, max) = min_max(sample, dim);
        let step = min.iter().zip(&max).map(|(lo, hi)| (hi - lo) / levels as f32).collect();
        Ok(Affine { min, step })
    }

    /// The level of value `x` in dimension `d` (clamped to the trained range).
    #[inline]
    pub fn level(&self, d: usize, x: f32, levels: u8) -> u8 {
        let s = self.step[d];
        let l = if s > 0.0 { ((x - self.min[d]) / s).round() } else { 0.0 };
        l.clamp(0.0, levels as f32) as u8
    }

    #[inline]
    pub fn value(&self, d: usize, level: u8) -> f32 {
        self.min[d] + level as f32 * self.step[d]
    }

    pub fn encode_params(&self) -> Vec<u8> {
        f32s_to_bytes(&[&self.min, &self.step])
    }

    pub fn decode_params(bytes: &[u8], dim: usize, name: &str) -> Result<Self, IndexError> {
        let mut v = bytes_to_f32s(bytes, 2 * dim, name)?;
        let step = v.split_off(dim);
        if step.iter().any(|s| *s < 0.0) {
            return Err(stratovec_formats::FormatError::Invalid(format!("{name} negative step")).into());
        }
        Ok(Affine { min: v, step })
    }

    /// Prepares `query` for scoring codes of these ranges.
    pub fn prepare(&self, query: &[f32], metric: Metric) -> AffineQuery {
        let a: Vec<f32> = query.iter().zip(&self.step).map(|(q, s)| q * s).collect();
        let max = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let alpha = if max > 0.0 { max / 127.0 } else { 1.0 };
        AffineQuery {
            metric,
            w: a.iter().map(|v| (v / alpha).round().clamp(-127.0, 127.0) as i8).collect(),
            alpha,
            bias: query.iter().zip(&self.min).map(|(q, m)| q * m).sum(),
            q_norm: query.iter().map(|q| q * q).sum(),
        }
    }
}

/// A query prepared for [`super::Sq8`] or [`super::Int4`] scoring: i8 weights per
/// dimension plus the scalars that turn their integer dot product into a distance.
#[derive(Debug, Clone)]
pub struct AffineQuery {
    metric: Metric,
    /// `round(q_d × step_d / alpha)`, one per dimension.
    pub(crate) w: Vec<i8>,
    alpha: f32,
    bias: f32,
    q_norm: f32,
}

impl AffineQuery {
    /// The distance given `dot` = `Σ w_d c_d` of a row and its `‖x̂‖²` (only read for L2).
    #[inline(always)]
    pub(crate) fn score(&self, dot: i32, row_norm: f32) -> f32 {
        let ip = self.bias + self.alpha * dot as f32;
        match self.metric {
            Metric::L2 => (self.q_norm - 2.0 * ip + row_norm).max(0.0),
            Metric::InnerProduct | Metric::Cosine => 1.0 - ip,
        }
    }

    /// Whether the metric needs `‖x̂‖²` per row.
    pub(crate) fn needs_norm(&self) -> bool {
        self.metric == Metric::L2
    }

    /// The bound on `|score - exact distance to x̂|` from rounding the weights, for a row
    /// whose levels sum to `level_sum` (L2 counts the dot product twice).
    pub fn rounding_bound(&self, level_sum: f32) -> f32 {
        let b = 0.5 * self.alpha * level_sum;
        if self.metric == Metric::L2 {
            2.0 * b
        } else {
            b
        }
    }
}

/// Rows per block of a quantized scan: the unit of the threshold skip.
const SCAN_BLOCK: usize = 256;

/// The quantized scan shared by SQ8 and INT4: distances of the `out.len()` rows of `codes`
/// (`code_len` bytes each). `dots(block, out)` fills the integer dot products of a block of
/// rows with the query; `norms` holds each row's `‖x̂‖²` (only read for L2; rows beyond it
/// use `row_norm`). For inner product and cosine a block whose best dot product cannot score
/// below `threshold` is skipped; returns `false`, leaving `out` unspecified, when every
/// block was.
#[allow(clippy::too_many_arguments)] // two callers; the closures are what differs
pub(crate) fn scan(
    q: &AffineQuery,
    code_len: usize,
    codes: &[u8],
    norms: &[f32],
    out: &mut [f32],
    threshold: f32,
    dots: impl Fn(&[u8], &mut [i32]),
    row_norm: impl Fn(&[u8]) -> f32,
) -> bool {
    let mut block_dots = [0i32; SCAN_BLOCK];
    let mut any = false;
    for (b, (o, c)) in out.chunks_mut(SCAN_BLOCK).zip(codes.chunks(SCAN_BLOCK * code_len)).enumerate() {
        let d = &mut block_dots[..o.len()];
        dots(c, d);
        if q.needs_norm() {
            for (i, (o, &dot)) in o.iter_mut().zip(d.iter()).enumerate() {
                let norm = norms.get(b * SCAN_BLOCK + i).copied();
                *o = q.score(dot, norm.unwrap_or_else(|| row_norm(&c[i * code_len..][..code_len])));
            }
            any = true;
        } else if q.score(d.iter().copied().max().unwrap_or(i32::MIN), 0.0) < threshold {
            o.iter_mut().zip(d.iter()).for_each(|(o, &dot)| *o = q.score(dot, 0.0));
            any = true;
        }
    }
    any
}
