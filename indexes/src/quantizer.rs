//! Quantizers: compress vectors into short codes that can be scored against a prepared query.

use crate::{IndexError, Metric};

/// A vector quantizer: trained on a sample, it encodes `dim`-dimensional vectors into
/// `code_len()`-byte codes and scores codes against a query prepared once per search.
pub trait Quantizer: Send + Sync + Sized {
    /// A query prepared for fast scoring (e.g. pre-scaled values or a lookup table).
    type Query;

    /// Trains on `sample` (`n × dim` values, `n >= 1`).
    ///
    /// # Errors
    /// [`IndexError::InvalidArgument`] for an empty sample, `dim == 0`, a length that is not
    /// a multiple of `dim`, or non-finite values.
    fn train(sample: &[f32], dim: usize) -> Result<Self, IndexError>;
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
}

/// Scalar quantization to 8 bits per dimension (SQ8): each dimension `d` is mapped linearly
/// from `[min_d, max_d]` (seen in training) to `0..=255`. One byte per dimension, so 4x
/// smaller than f32. The reconstruction error per dimension is at most `(max_d - min_d) / 510`
/// for values inside the trained range (values outside are clamped to it).
#[derive(Debug, Clone, PartialEq)]
pub struct Sq8 {
    min: Vec<f32>,
    scale: Vec<f32>,
}

/// A query prepared for [`Sq8`] scoring.
#[derive(Debug, Clone)]
pub struct Sq8Query {
    metric: Metric,
    /// Inner product: `q_d × scale_d`; L2: `q_d - min_d`.
    a: Vec<f32>,
    /// Inner product: `sum(q_d × min_d)`; unused for L2.
    bias: f32,
    scale: Vec<f32>,
}

impl Sq8 {
    /// Per-dimension minimums (`dim` values).
    pub fn min(&self) -> &[f32] {
        &self.min
    }
    /// Per-dimension step sizes (`dim` values): `(max_d - min_d) / 255`.
    pub fn scale(&self) -> &[f32] {
        &self.scale
    }
}

impl Quantizer for Sq8 {
    type Query = Sq8Query;

    fn train(sample: &[f32], dim: usize) -> Result<Self, IndexError> {
        if dim == 0 || sample.is_empty() || !sample.len().is_multiple_of(dim) {
            return Err(IndexError::InvalidArgument(format!("SQ8 training sample of {} values, dim {dim}", sample.len())));
        }
        if sample.iter().any(|v| !v.is_finite()) {
            return Err(IndexError::InvalidArgument("SQ8 training sample has NaN or infinite values".into()));
        }
        let mut min = vec![f32::INFINITY; dim];
        let mut max = vec![f32::NEG_INFINITY; dim];
        for v in sample.chunks_exact(dim) {
            for d in 0..dim {
                min[d] = min[d].min(v[d]);
                max[d] = max[d].max(v[d]);
            }
        }
        let scale = min.iter().zip(&max).map(|(lo, hi)| (hi - lo) / 255.0).collect();
        Ok(Sq8 { min, scale })
    }

    fn dim(&self) -> usize {
        self.min.len()
    }

    fn code_len(&self) -> usize {
        self.min.len()
    }

    fn encode(&self, v: &[f32], out: &mut [u8]) {
        for d in 0..self.min.len() {
            let s = self.scale[d];
            let x = if s > 0.0 { ((v[d] - self.min[d]) / s).round() } else { 0.0 };
            out[d] = x.clamp(0.0, 255.0) as u8;
        }
    }

    fn decode(&self, code: &[u8], out: &mut [f32]) {
        for d in 0..self.min.len() {
            out[d] = self.min[d] + code[d] as f32 * self.scale[d];
        }
    }

    fn prepare_query(&self, query: &[f32], metric: Metric) -> Sq8Query {
        match metric {
            Metric::L2 => Sq8Query {
                metric,
                a: query.iter().zip(&self.min).map(|(q, m)| q - m).collect(),
                bias: 0.0,
                scale: self.scale.clone(),
            },
            Metric::InnerProduct | Metric::Cosine => Sq8Query {
                metric,
                a: query.iter().zip(&self.scale).map(|(q, s)| q * s).collect(),
                bias: query.iter().zip(&self.min).map(|(q, m)| q * m).sum(),
                scale: Vec::new(),
            },
        }
    }

    fn distance(&self, q: &Sq8Query, code: &[u8]) -> f32 {
        match q.metric {
            Metric::L2 => q.a.iter().zip(&q.scale).zip(code).map(|((a, s), c)| (a - *c as f32 * s).powi(2)).sum(),
            Metric::InnerProduct | Metric::Cosine => {
                1.0 - (q.bias + q.a.iter().zip(code).map(|(a, c)| a * *c as f32).sum::<f32>())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decode_error_is_within_half_a_step(
            (dim, data) in (1usize..64).prop_flat_map(|d| (Just(d), proptest::collection::vec(-50f32..50f32, d..d * 20)))
        ) {
            let n = data.len() / dim * dim;
            let data = &data[..n];
            let q = Sq8::train(data, dim).unwrap();
            let mut code = vec![0u8; q.code_len()];
            let mut back = vec![0f32; dim];
            for v in data.chunks_exact(dim) {
                q.encode(v, &mut code);
                q.decode(&code, &mut back);
                for d in 0..dim {
                    let bound = q.scale()[d] * 0.5 + 1e-4 * (1.0 + v[d].abs());
                    prop_assert!((back[d] - v[d]).abs() <= bound, "dim {} value {} decoded {}", d, v[d], back[d]);
                }
            }
        }

        #[test]
        fn distance_matches_decoded_vector(
            (dim, data) in (1usize..32).prop_flat_map(|d| (Just(d), proptest::collection::vec(-5f32..5f32, d * 2..d * 10)))
        ) {
            let n = data.len() / dim * dim;
            let data = &data[..n];
            let q = Sq8::train(data, dim).unwrap();
            let query = &data[..dim];
            let mut code = vec![0u8; dim];
            let mut back = vec![0f32; dim];
            for metric in [Metric::L2, Metric::InnerProduct] {
                let pq = q.prepare_query(query, metric);
                for v in data.chunks_exact(dim) {
                    q.encode(v, &mut code);
                    q.decode(&code, &mut back);
                    let exact = crate::Scorer::with_table(metric, &crate::KernelTable::scalar()).distance(query, &back);
                    let got = q.distance(&pq, &code);
                    prop_assert!((exact - got).abs() <= 1e-3 * (1.0 + exact.abs()), "{:?}: {} vs {}", metric, got, exact);
                }
            }
        }
    }

    #[test]
    fn rejects_bad_samples() {
        assert!(Sq8::train(&[], 3).is_err());
        assert!(Sq8::train(&[1.0, f32::NAN, 2.0], 3).is_err());
        assert!(Sq8::train(&[1.0, 2.0], 3).is_err());
    }
}
