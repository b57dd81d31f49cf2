//! INT4: 4-bit per-dimension scalar quantization, two dimensions per byte.

use crate::kernel::kernels;
use crate::{IndexError, Metric};

use super::affine::{Affine, AffineQuery};
use super::Quantizer;

/// Scalar quantization to 4 bits per dimension (16 levels over the trained
/// `[min_d, max_d]`). Byte `j` holds dimension `2j` in its low nibble and `2j + 1` in its
/// high nibble: `ceil(dim / 2)` bytes per vector, 8× smaller than f32. The reconstruction
/// error per dimension is at most `(max_d - min_d) / 30` inside the trained range.
#[derive(Debug, Clone, PartialEq)]
pub struct Int4(Affine);

/// The query weights split by nibble, as the INT4 kernel takes them.
fn split(w: &[i8]) -> (Vec<i8>, Vec<i8>) {
    let even = w.iter().step_by(2).copied().collect();
    let mut odd: Vec<i8> = w.iter().skip(1).step_by(2).copied().collect();
    odd.resize(w.len().div_ceil(2), 0);
    (even, odd)
}

/// A query prepared for [`Int4`]: the affine query plus its weights split by nibble.
#[derive(Debug, Clone)]
pub struct Int4Query {
    affine: AffineQuery,
    even: Vec<i8>,
    odd: Vec<i8>,
}

impl Int4Query {
    /// The underlying affine query (for its rounding bound).
    pub fn affine(&self) -> &AffineQuery {
        &self.affine
    }
}

impl Int4 {
    /// Per-dimension step sizes (`dim` values): `(max_d - min_d) / 15`.
    pub fn scale(&self) -> &[f32] {
        &self.0.step
    }

    fn level_of(code: &[u8], d: usize) -> u8 {
        (code[d / 2] >> (4 * (d % 2))) & 0x0F
    }

    /// `‖x̂‖²` of the vector encoded in `code`.
    pub fn row_norm(&self, code: &[u8]) -> f32 {
        (0..self.dim()).map(|d| self.0.value(d, Self::level_of(code, d)).powi(2)).sum()
    }

    /// [`Quantizer::distance`] with the row's `‖x̂‖²` when it was precomputed (only L2
    /// reads it; `None` computes it from the code).
    pub fn distance_with_norm(&self, q: &Int4Query, code: &[u8], norm: Option<f32>) -> f32 {
        let norm = if q.affine.needs_norm() { norm.unwrap_or_else(|| self.row_norm(code)) } else { 0.0 };
        q.affine.score((kernels().dot_u4_i8)(code, &q.even, &q.odd), norm)
    }

    /// [`Quantizer::distances`] on the batched INT4 kernel, with precomputed norms and the
    /// block skip of [`super::Sq8::distances_with_norms`].
    pub fn distances_with_norms(&self, q: &Int4Query, codes: &[u8], norms: &[f32], out: &mut [f32], threshold: f32) -> bool {
        let dots = |c: &[u8], d: &mut [i32]| (kernels().dot_u4_i8_batch)(&q.even, &q.odd, c, d);
        super::affine::scan(&q.affine, self.code_len(), codes, norms, out, threshold, dots, |c| self.row_norm(c))
    }
}

impl Quantizer for Int4 {
    type Params = ();
    type Query = Int4Query;

    fn train(sample: &[f32], dim: usize, _: &()) -> Result<Self, IndexError> {
        Affine::train(sample, dim, 15, "INT4").map(Int4)
    }

    fn dim(&self) -> usize {
        self.0.min.len()
    }

    fn code_len(&self) -> usize {
        self.dim().div_ceil(2)
    }

    fn encode(&self, v: &[f32], out: &mut [u8]) {
        out[..self.code_len()].fill(0);
        for d in 0..self.dim() {
            out[d / 2] |= self.0.level(d, v[d], 15) << (4 * (d % 2));
        }
    }

    fn decode(&self, code: &[u8], out: &mut [f32]) {
        for (d, o) in out.iter_mut().enumerate().take(self.dim()) {
            *o = self.0.value(d, Self::level_of(code, d));
        }
    }

    fn prepare_query(&self, query: &[f32], metric: Metric) -> Int4Query {
        let affine = self.0.prepare(query, metric);
        let (even, odd) = split(&affine.w);
        Int4Query { affine, even, odd }
    }

    fn distance(&self, q: &Int4Query, code: &[u8]) -> f32 {
        self.distance_with_norm(q, code, None)
    }

    fn distances(&self, q: &Int4Query, codes: &[u8], out: &mut [f32]) {
        self.distances_with_norms(q, codes, &[], out, f32::INFINITY);
    }

    fn encode_params(&self) -> Vec<u8> {
        self.0.encode_params()
    }

    fn decode_params(bytes: &[u8], dim: usize) -> Result<Self, IndexError> {
        Affine::decode_params(bytes, dim, "INT4").map(Int4)
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
            let q = Int4::train(&data, dim, &()).unwrap();
            assert_decodes_within_half_a_step(&q, &data, dim, q.scale())?;
        }

        #[test]
        fn distance_is_within_its_rounding_bound((dim, data) in sample(40, 2, 10, 5.0)) {
            let q = Int4::train(&data, dim, &()).unwrap();
            let query = &data[..dim];
            let mut code = vec![0u8; q.code_len()];
            let mut back = vec![0f32; dim];
            for metric in [Metric::L2, Metric::InnerProduct] {
                let pq = q.prepare_query(query, metric);
                for v in data.chunks_exact(dim) {
                    q.encode(v, &mut code);
                    q.decode(&code, &mut back);
                    let want = exact(metric, query, &back);
                    let got = q.distance(&pq, &code) as f64;
                    let sum: f32 = (0..dim).map(|d| Int4::level_of(&code, d) as f32).sum();
                    let bound = pq.affine().rounding_bound(sum) as f64 + 1e-3 * (1.0 + want.abs());
                    prop_assert!((want - got).abs() <= bound, "{:?}: {} vs {} (bound {})", metric, got, want, bound);
                }
            }
        }
    }

    #[test]
    fn odd_dimension_packs_into_ceil_half() {
        let q = Int4::train(&[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], 3, &()).unwrap();
        assert_eq!(q.code_len(), 2);
        let mut code = [0u8; 2];
        q.encode(&[1.0, 0.0, 1.0], &mut code);
        assert_eq!(code, [0x0F, 0x0F]);
        assert_eq!(Int4::decode_params(&q.encode_params(), 3).unwrap(), q);
    }
}
