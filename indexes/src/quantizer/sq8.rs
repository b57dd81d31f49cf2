//! SQ8: 8-bit per-dimension scalar quantization.

use crate::kernel::kernels;
use crate::{IndexError, Metric};

use super::affine::{Affine, AffineQuery};
use super::Quantizer;

/// Scalar quantization to 8 bits per dimension (SQ8): each dimension `d` is mapped linearly
/// from `[min_d, max_d]` (seen in training) to `0..=255`. One byte per dimension, 4× smaller
/// than f32. The reconstruction error per dimension is at most `(max_d - min_d) / 510` for
/// values inside the trained range (values outside are clamped to it). Scoring rounds the
/// query's weights to i8 and uses the exact u8 × i8 kernel (see `affine.rs`); its extra
/// error is bounded by [`AffineQuery::rounding_bound`].
#[derive(Debug, Clone, PartialEq)]
pub struct Sq8(Affine);

impl Sq8 {
    /// Per-dimension minimums (`dim` values).
    pub fn min(&self) -> &[f32] {
        &self.0.min
    }
    /// Per-dimension step sizes (`dim` values): `(max_d - min_d) / 255`.
    pub fn scale(&self) -> &[f32] {
        &self.0.step
    }

    /// `‖x̂‖²` of the vector encoded in `code`.
    pub fn row_norm(&self, code: &[u8]) -> f32 {
        code.iter().enumerate().map(|(d, &c)| self.0.value(d, c).powi(2)).sum()
    }

    /// [`Quantizer::distance`] with the row's `‖x̂‖²` when it was precomputed (only L2
    /// reads it; `None` computes it from the code).
    pub fn distance_with_norm(&self, q: &AffineQuery, code: &[u8], norm: Option<f32>) -> f32 {
        let norm = if q.needs_norm() { norm.unwrap_or_else(|| self.row_norm(code)) } else { 0.0 };
        q.score((kernels().dot_u8_i8)(code, &q.w), norm)
    }

    /// [`Quantizer::distances`] with the `‖x̂‖²` of each row precomputed (`norms`, one per
    /// row, or empty to compute them; only read for L2): the fast path of a quantized scan. Returns `false`, leaving
    /// `out` unspecified, when no row can have a distance below `threshold` (checked on the
    /// integer dot products for inner product and cosine, so a scan skips such blocks).
    pub fn distances_with_norms(&self, q: &AffineQuery, codes: &[u8], norms: &[f32], out: &mut [f32], threshold: f32) -> bool {
        let dots = |c: &[u8], d: &mut [i32]| (kernels().dot_u8_i8_batch)(&q.w, c, d);
        super::affine::scan(q, self.code_len(), codes, norms, out, threshold, dots, |c| self.row_norm(c))
    }
}

impl Quantizer for Sq8 {
    type Params = ();
    type Query = AffineQuery;

    fn train(sample: &[f32], dim: usize, _: &()) -> Result<Self, IndexError> {
        Affine::train(sample, dim, 255, "SQ8").map(Sq8)
    }

    fn dim(&self) -> usize {
        self.0.min.len()
    }

    fn code_len(&self) -> usize {
        self.0.min.len()
    }

    fn encode(&self, v: &[f32], out: &mut [u8]) {
        for (d, o) in out.iter_mut().enumerate().take(self.dim()) {
            *o = self.0.level(d, v[d], 255);
        }
    }

    fn decode(&self, code: &[u8], out: &mut [f32]) {
        for (d, o) in out.iter_mut().enumerate().take(self.dim()) {
            *o = self.0.value(d, code[d]);
        }
    }

    fn prepare_query(&self, query: &[f32], metric: Metric) -> AffineQuery {
        self.0.prepare(query, metric)
    }

    fn distance(&self, q: &AffineQuery, code: &[u8]) -> f32 {
        self.distance_with_norm(q, code, None)
    }

    fn distances(&self, q: &AffineQuery, codes: &[u8], out: &mut [f32]) {
        self.distances_with_norms(q, codes, &[], out, f32::INFINITY);
    }

    fn encode_params(&self) -> Vec<u8> {
        self.0.encode_params()
    }

    fn decode_params(bytes: &[u8], dim: usize) -> Result<Self, IndexError> {
        Affine::decode_params(bytes, dim, "SQ8").map(Sq8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantizer::test_support::{assert_decodes_within_half_a_step, exact, sample};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decode_error_is_within_half_a_step((dim, data) in sample(64, 1, 20, 50.0)) {
            let q = Sq8::train(&data, dim, &()).unwrap();
            assert_decodes_within_half_a_step(&q, &data, dim, q.scale())?;
        }

        #[test]
        fn distance_is_within_its_rounding_bound((dim, data) in sample(40, 2, 10, 5.0)) {
            let q = Sq8::train(&data, dim, &()).unwrap();
            let query = &data[..dim];
            let mut code = vec![0u8; dim];
            let mut back = vec![0f32; dim];
            let codes = q.encode_all(&data);
            for metric in [Metric::L2, Metric::InnerProduct] {
                let pq = q.prepare_query(query, metric);
                let mut batch = vec![0f32; data.len() / dim];
                q.distances(&pq, &codes, &mut batch);
                for (i, v) in data.chunks_exact(dim).enumerate() {
                    q.encode(v, &mut code);
                    q.decode(&code, &mut back);
                    let want = exact(metric, query, &back);
                    let got = q.distance(&pq, &code) as f64;
                    let sum: f32 = code.iter().map(|&c| c as f32).sum();
                    let bound = pq.rounding_bound(sum) as f64 + 1e-3 * (1.0 + want.abs());
                    prop_assert!((want - got).abs() <= bound, "{:?}: {} vs {} (bound {})", metric, got, want, bound);
                    prop_assert!((batch[i] as f64 - got).abs() <= 1e-3 * (1.0 + got.abs()), "batch row {}", i);
                }
            }
        }

        #[test]
        fn params_round_trip((dim, data) in sample(20, 1, 5, 5.0)) {
            let q = Sq8::train(&data, dim, &()).unwrap();
            prop_assert_eq!(Sq8::decode_params(&q.encode_params(), dim).unwrap(), q);
        }
    }

    #[test]
    fn rejects_bad_samples_and_params() {
        assert!(Sq8::train(&[], 3, &()).is_err());
        assert!(Sq8::train(&[1.0, f32::NAN, 2.0], 3, &()).is_err());
        assert!(Sq8::train(&[1.0, 2.0], 3, &()).is_err());
        assert!(Sq8::decode_params(&[0u8; 7], 1).is_err());
        assert!(Sq8::decode_params(&f32::NAN.to_le_bytes().repeat(2), 1).is_err());
    }
}
