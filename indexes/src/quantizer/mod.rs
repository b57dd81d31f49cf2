//! Quantizers: compress vectors into short codes that can be scored against a query
//! prepared once per search.
//!
//! | quantizer | bytes per vector | scoring kernel | error |
//! |---|---|---|---|
//! | [`Sq8`] | `dim` | u8 × i8 dot (VNNI) | ≤ half a step per dimension |
//! | [`Int4`] | `ceil(dim / 2)` | INT4 × i8 dot (VNNI) | ≤ half a step per dimension |
//! | [`Pq`] | `m` | lookup-table ADC | k-means quantization error |
//! | [`Binary`] | `8 × ceil(dim / 64)` | Hamming (VPOPCNTDQ) | a ranking proxy only |
//! | [`RaBitQ`] | `D' / 8 + 12` (`D'`: `dim` to a power of two, ≥ 64) | AND + popcount over 4 query bit planes | unbiased, bounded (Gao & Long 2024) |
//!
//! Approximate distances are meant for oversampling: search `k × rerank_factor`
//! candidates by code, then rerank them with the full-precision vectors.

use rayon::prelude::*;

use crate::{IndexError, Metric};

mod affine;
mod binary;
mod int4;
mod pq;
mod rabitq;
mod sq8;

pub use affine::AffineQuery;
pub use binary::{Binary, BinaryQuery};
pub use int4::{Int4, Int4Query};
pub use pq::{Pq, PqParams, PqQuery};
pub use rabitq::{RaBitQ, RaBitQQuery};
pub use sq8::Sq8;

/// A vector quantizer: trained on a sample, it encodes `dim`-dimensional vectors into
/// `code_len()`-byte codes and scores codes against a query prepared once per search.
pub trait Quantizer: Send + Sync + Sized + std::fmt::Debug {
    /// Training parameters (`()` for the parameter-free quantizers).
    type Params: std::fmt::Debug + Clone + Default + Send + Sync;
    /// A query prepared for fast scoring (e.g. pre-scaled values or a lookup table).
    type Query: Send + Sync;

    /// Trains on `sample` (`n × dim` values, `n >= 1`).
    ///
    /// # Errors
    /// [`IndexError::InvalidArgument`] for an empty sample, `dim == 0`, a length that is not
    /// a multiple of `dim`, non-finite values, or parameters out of range.
    fn train(sample: &[f32], dim: usize, params: &Self::Params) -> Result<Self, IndexError>;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Bytes per encoded vector.
    fn code_len(&self) -> usize;
    /// Encodes `v` (`dim` values) into `out` (`code_len()` bytes).
    fn encode(&self, v: &[f32], out: &mut [u8]);
    /// Decodes `code` into `out` (`dim` values), the reconstruction of the encoded vector.
    fn decode(&self, code: &[u8], out: &mut [f32]);
    /// Prepares `query` (`dim` values) for scoring with `metric`.
    fn prepare_query(&self, query: &[f32], metric: Metric) -> Self::Query;
    /// Approximate distance (smaller is closer, as in [`Metric`]) between the prepared query
    /// and the vector encoded in `code`.
    fn distance(&self, query: &Self::Query, code: &[u8]) -> f32;
    /// `out[i]` = [`Quantizer::distance`] of row `i` of `codes` (`out.len()` rows of
    /// `code_len()` bytes each).
    fn distances(&self, query: &Self::Query, codes: &[u8], out: &mut [f32]) {
        for (o, c) in out.iter_mut().zip(codes.chunks_exact(self.code_len())) {
            *o = self.distance(query, c);
        }
    }
    /// Serialises the trained parameters (the payload of a segment's params section).
    fn encode_params(&self) -> Vec<u8>;
    /// Reads parameters written by [`Quantizer::encode_params`] for `dim`-dimensional
    /// vectors.
    ///
    /// # Errors
    /// [`IndexError::Format`] when the length or a value is invalid.
    fn decode_params(bytes: &[u8], dim: usize) -> Result<Self, IndexError>;

    /// Encodes every row of `vectors` (`rows × dim`), in parallel; `rows × code_len()` bytes.
    fn encode_all(&self, vectors: &[f32]) -> Vec<u8> {
        let (dim, len) = (self.dim(), self.code_len());
        let mut out = vec![0u8; vectors.len() / dim * len];
        out.par_chunks_mut(len * 1024).zip(vectors.par_chunks(dim * 1024)).for_each(|(codes, rows)| {
            for (c, v) in codes.chunks_exact_mut(len).zip(rows.chunks_exact(dim)) {
                self.encode(v, c);
            }
        });
        out
    }
}

/// Checks a training sample.
pub(crate) fn check_sample(sample: &[f32], dim: usize, name: &str) -> Result<(), IndexError> {
    if dim == 0 || sample.is_empty() || !sample.len().is_multiple_of(dim) {
        return Err(IndexError::InvalidArgument(format!("{name} training sample of {} values, dim {dim}", sample.len())));
    }
    if sample.iter().any(|v| !v.is_finite()) {
        return Err(IndexError::InvalidArgument(format!("{name} training sample has NaN or infinite values")));
    }
    Ok(())
}

/// Concatenates f32 arrays as little-endian bytes.
pub(crate) fn f32s_to_bytes(parts: &[&[f32]]) -> Vec<u8> {
    parts.iter().flat_map(|p| p.iter().flat_map(|v| v.to_le_bytes())).collect()
}

/// Reads exactly `count` finite little-endian f32 values.
pub(crate) fn bytes_to_f32s(bytes: &[u8], count: usize, what: &str) -> Result<Vec<f32>, IndexError> {
    if bytes.len() != count * 4 {
        return Err(
            stratovec_formats::FormatError::Invalid(format!("{what} parameters: {} bytes, expected {}", bytes.len(), count * 4)).into()
        );
    }
    let v: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if v.iter().any(|x| !x.is_finite()) {
        return Err(stratovec_formats::FormatError::Invalid(format!("{what} parameters hold NaN or infinity")).into());
    }
    Ok(v)
}

/// Per-dimension mean of a sample (`n × dim` values), accumulated in f64.
pub(crate) fn mean(sample: &[f32], dim: usize) -> Vec<f32> {
    let n = (sample.len() / dim.max(1)).max(1) as f64;
    let mut mean = vec![0f64; dim];
    for v in sample.chunks_exact(dim) {
        mean.iter_mut().zip(v).for_each(|(m, x)| *m += *x as f64 / n);
    }
    mean.iter().map(|m| *m as f32).collect()
}

/// Per-dimension minimum and maximum of a sample.
pub(crate) fn min_max(sample: &[f32], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut min = vec![f32::INFINITY; dim];
    let mut max = vec![f32::NEG_INFINITY; dim];
    for v in sample.chunks_exact(dim) {
        for d in 0..dim {
            min[d] = min[d].min(v[d]);
            max[d] = max[d].max(v[d]);
        }
    }
    (min, max)
}

#[cfg(test)]
pub(crate) mod test_support {
    use proptest::prelude::*;

    /// `(dim, rows)` with `lo..hi` rows of values in `-range..range`.
    pub fn sample(max_dim: usize, lo: usize, hi: usize, range: f32) -> impl Strategy<Value = (usize, Vec<f32>)> {
        (1usize..max_dim).prop_flat_map(move |d| {
            (Just(d), proptest::collection::vec(-range..range, d * lo..d * hi)).prop_map(move |(d, v)| (d, v[..v.len() / d * d].to_vec()))
        })
    }

    /// Every row of `data` decodes within half a quantization step (`step[d] / 2`, plus
    /// float rounding) of itself in every dimension.
    pub fn assert_decodes_within_half_a_step<Q: super::Quantizer>(
        q: &Q,
        data: &[f32],
        dim: usize,
        step: &[f32],
    ) -> Result<(), TestCaseError> {
        let mut code = vec![0u8; q.code_len()];
        let mut back = vec![0f32; dim];
        for v in data.chunks_exact(dim) {
            q.encode(v, &mut code);
            q.decode(&code, &mut back);
            for d in 0..dim {
                let bound = step[d] * 0.5 + 1e-4 * (1.0 + v[d].abs());
                prop_assert!((back[d] - v[d]).abs() <= bound, "dim {} value {} decoded {}", d, v[d], back[d]);
            }
        }
        Ok(())
    }

    /// The exact distance of `metric` in f64.
    pub fn exact(metric: crate::Metric, a: &[f32], b: &[f32]) -> f64 {
        match metric {
            crate::Metric::L2 => a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum(),
            _ => 1.0 - a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum::<f64>(),
        }
    }
}
