//! Binary quantization: one sign bit per dimension, scored by Hamming distance.

use crate::kernel::kernels;
use crate::{IndexError, Metric};

use super::{bytes_to_f32s, check_sample, f32s_to_bytes, Quantizer};

/// One bit per dimension: bit `d` is set when `x_d` is above the training mean of
/// dimension `d`. `8 × ceil(dim / 64)` bytes per vector (32× smaller than f32 at dim 64).
///
/// The distance is the Hamming distance between the query's bits and the code's, so for
/// centred data it estimates the angle: `E[hamming / dim] = θ / π` (Charikar, STOC 2002). It
/// ranks, it is not a metric distance: use it with a generous `rerank_factor`. The RaBitQ
/// correction (Gao & Long, SIGMOD 2024) that turns it into an unbiased distance estimate is
/// not implemented.
#[derive(Debug, Clone, PartialEq)]
pub struct Binary {
    center: Vec<f32>,
    spread: Vec<f32>,
}

/// A query prepared for [`Binary`]: its sign bits.
#[derive(Debug, Clone)]
pub struct BinaryQuery {
    bits: Vec<u64>,
}

impl Binary {
    fn words(&self) -> usize {
        self.center.len().div_ceil(64)
    }

    fn bits(&self, v: &[f32]) -> Vec<u64> {
        let mut w = vec![0u64; self.words()];
        for (d, (x, c)) in v.iter().zip(&self.center).enumerate() {
            if x > c {
                w[d / 64] |= 1 << (d % 64);
            }
        }
        w
    }
}

impl Quantizer for Binary {
    type Params = ();
    type Query = BinaryQuery;

    fn train(sample: &[f32], dim: usize, _: &()) -> Result<Self, IndexError> {
        check_sample(sample, dim, "binary")?;
        let n = (sample.len() / dim) as f64;
        let center = super::mean(sample, dim);
        let mut spread = vec![0f64; dim];
        for v in sample.chunks_exact(dim) {
            spread.iter_mut().zip(v).zip(&center).for_each(|((s, x), m)| *s += (*x as f64 - *m as f64).abs() / n);
        }
        Ok(Binary { center, spread: spread.iter().map(|s| *s as f32).collect() })
    }

    fn dim(&self) -> usize {
        self.center.len()
    }

    fn code_len(&self) -> usize {
        8 * self.words()
    }

    fn encode(&self, v: &[f32], out: &mut [u8]) {
        for (o, w) in out.chunks_exact_mut(8).zip(self.bits(v)) {
            o.copy_from_slice(&w.to_le_bytes());
        }
    }

    /// Reconstructs `center_d ± mean absolute deviation_d` by bit.
    fn decode(&self, code: &[u8], out: &mut [f32]) {
        for (d, o) in out.iter_mut().enumerate().take(self.dim()) {
            let bit = code[d / 8] >> (d % 8) & 1;
            *o = self.center[d] + if bit == 1 { self.spread[d] } else { -self.spread[d] };
        }
    }

    fn prepare_query(&self, query: &[f32], _metric: Metric) -> BinaryQuery {
        BinaryQuery { bits: self.bits(query) }
    }

    fn distance(&self, q: &BinaryQuery, code: &[u8]) -> f32 {
        let mut words = [0u64; 64];
        let n = q.bits.len();
        if n <= words.len() {
            for (w, c) in words.iter_mut().zip(code.chunks_exact(8)) {
                *w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            }
            (kernels().hamming)(&q.bits, &words[..n]) as f32
        } else {
            let words: Vec<u64> = code.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
            (kernels().hamming)(&q.bits, &words) as f32
        }
    }

    fn encode_params(&self) -> Vec<u8> {
        f32s_to_bytes(&[&self.center, &self.spread])
    }

    fn decode_params(bytes: &[u8], dim: usize) -> Result<Self, IndexError> {
        let mut center = bytes_to_f32s(bytes, 2 * dim, "binary")?;
        let spread = center.split_off(dim);
        Ok(Binary { center, spread })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[test]
    fn hamming_counts_sign_disagreements_exactly() {
        let data = [-1.0, 1.0, 1.0, -1.0, -3.0, 3.0, 3.0, -3.0];
        let b = Binary::train(&data, 2, &()).unwrap();
        assert_eq!(b.code_len(), 8);
        let mut code = [0u8; 8];
        b.encode(&[0.5, -0.5], &mut code);
        assert_eq!(b.distance(&b.prepare_query(&[0.5, -0.5], Metric::L2), &code), 0.0);
        assert_eq!(b.distance(&b.prepare_query(&[-0.5, 0.5], Metric::L2), &code), 2.0);
        assert_eq!(b.distance(&b.prepare_query(&[0.5, 0.5], Metric::L2), &code), 1.0);
        assert_eq!(Binary::decode_params(&b.encode_params(), 2).unwrap(), b);
    }

    /// The estimate's error bound: on random Gaussian-like vectors in 512 dimensions,
    /// `hamming / dim` is within 0.06 of `θ / π` (the standard deviation is about 0.02).
    #[test]
    fn hamming_estimates_the_angle() {
        let mut rng = SmallRng::seed_from_u64(1);
        let dim = 512;
        let gauss = |rng: &mut SmallRng| (0..6).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>();
        let data: Vec<f32> = (0..dim * 300).map(|_| gauss(&mut rng)).collect();
        let b = Binary::train(&data, dim, &()).unwrap();
        let q = &data[..dim];
        let pq = b.prepare_query(q, Metric::Cosine);
        let mut code = vec![0u8; b.code_len()];
        for v in data.chunks_exact(dim).skip(1).take(100) {
            b.encode(v, &mut code);
            let cos = crate::quantizer::test_support::exact(Metric::Cosine, q, v);
            let norms = (q.iter().map(|x| x * x).sum::<f32>() * v.iter().map(|x| x * x).sum::<f32>()).sqrt() as f64;
            let theta = ((1.0 - cos) / norms).acos();
            let est = b.distance(&pq, &code) as f64 / dim as f64;
            assert!((est - theta / std::f64::consts::PI).abs() < 0.06, "est {est} theta/pi {}", theta / std::f64::consts::PI);
        }
    }
}
