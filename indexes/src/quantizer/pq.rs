//! PQ: product quantization (Jégou, Douze & Schmid, "Product quantization for nearest
//! neighbor search", IEEE TPAMI 2011), `m` sub-spaces × 8 bits, scored by asymmetric
//! distance computation (ADC) with a lookup table prepared once per query.

use rand::{rngs::SmallRng, seq::index::sample, Rng, SeedableRng};
use rayon::prelude::*;

use crate::kernel::kernels;
use crate::{IndexError, Metric};

use super::{bytes_to_f32s, check_sample, f32s_to_bytes, Quantizer};

/// Centroids per sub-space (8-bit codes).
const K: usize = 256;

/// Training parameters of [`Pq`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PqParams {
    /// Sub-spaces (= bytes per vector); 0 picks `ceil(dim / 2)`. At most `dim`.
    pub m: usize,
    /// Lloyd iterations of k-means per sub-space. Default 12.
    pub iterations: usize,
    /// Training rows drawn from the sample (all when fewer). Default 65,536.
    pub max_sample: usize,
    /// Seed of the sample draw and of the centroid initialisation. Default 42.
    pub seed: u64,
}

impl Default for PqParams {
    fn default() -> Self {
        PqParams { m: 0, iterations: 12, max_sample: 65_536, seed: 42 }
    }
}

/// Product quantizer: dimension range `j` (contiguous; sizes differ by at most one) is
/// replaced by the nearest of its 256 k-means centroids. `m` bytes per vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Pq {
    dim: usize,
    /// `m + 1` boundaries: sub-space `j` covers dimensions `offsets[j]..offsets[j + 1]`.
    offsets: Vec<usize>,
    /// For each sub-space `j`, 256 centroids of `len_j` values at `256 × offsets[j]`.
    centroids: Vec<f32>,
}

/// A query prepared for [`Pq`]: `m × 256` partial distances and a constant.
#[derive(Debug, Clone)]
pub struct PqQuery {
    table: Vec<f32>,
    offset: f32,
}

impl PqQuery {
    /// The lookup table (`m × 256` values).
    pub fn table(&self) -> &[f32] {
        &self.table
    }
}

fn offsets(dim: usize, m: usize) -> Vec<usize> {
    (0..=m).map(|j| j * dim / m).collect()
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The nearest of the `centroids` (rows of `len` values) to `v`.
fn nearest(centroids: &[f32], len: usize, v: &[f32]) -> u8 {
    let mut best = (f32::INFINITY, 0usize);
    for (c, row) in centroids.chunks_exact(len).enumerate() {
        let d = l2(row, v);
        if d < best.0 {
            best = (d, c);
        }
    }
    best.1 as u8
}

/// Lloyd's k-means on `points` (rows of `len` values) into 256 centroids; empty clusters
/// are re-seeded with a random point.
fn kmeans(points: &[f32], len: usize, iterations: usize, rng: &mut SmallRng) -> Vec<f32> {
    let n = points.len() / len;
    let mut centroids = Vec::with_capacity(K * len);
    for i in 0..K {
        let p = if n >= K { i * n / K } else { i % n };
        centroids.extend_from_slice(&points[p * len..(p + 1) * len]);
    }
    for _ in 0..iterations {
        let assign: Vec<u8> = points.par_chunks(len).map(|v| nearest(&centroids, len, v)).collect();
        let mut sums = vec![0f64; K * len];
        let mut counts = vec![0usize; K];
        for (v, &c) in points.chunks_exact(len).zip(&assign) {
            counts[c as usize] += 1;
            for (s, x) in sums[c as usize * len..][..len].iter_mut().zip(v) {
                *s += *x as f64;
            }
        }
        for c in 0..K {
            let dst = &mut centroids[c * len..(c + 1) * len];
            if counts[c] == 0 {
                let p = rng.random_range(0..n);
                dst.copy_from_slice(&points[p * len..(p + 1) * len]);
            } else {
                for (d, s) in dst.iter_mut().zip(&sums[c * len..(c + 1) * len]) {
                    *d = (*s / counts[c] as f64) as f32;
                }
            }
        }
    }
    centroids
}

impl Pq {
    /// Number of sub-spaces (= bytes per vector).
    pub fn m(&self) -> usize {
        self.offsets.len() - 1
    }

    fn sub(&self, j: usize) -> (usize, usize) {
        (self.offsets[j], self.offsets[j + 1] - self.offsets[j])
    }

    fn centroids_of(&self, j: usize) -> &[f32] {
        let (start, len) = self.sub(j);
        &self.centroids[K * start..K * (start + len)]
    }
}

impl Quantizer for Pq {
    type Params = PqParams;
    type Query = PqQuery;

    /// Trains `m` independent k-means (256 centroids each) on up to `max_sample` rows of
    /// `sample` drawn with `seed`; the same inputs always give the same quantizer.
    fn train(sample_rows: &[f32], dim: usize, params: &PqParams) -> Result<Self, IndexError> {
        check_sample(sample_rows, dim, "PQ")?;
        let m = if params.m == 0 { dim.div_ceil(2) } else { params.m };
        if m > dim || params.max_sample == 0 {
            return Err(IndexError::InvalidArgument(format!("PQ m = {m} for dim {dim}, max_sample {}", params.max_sample)));
        }
        let n = sample_rows.len() / dim;
        let mut rng = SmallRng::seed_from_u64(params.seed);
        let rows: Vec<usize> = if n > params.max_sample {
            let mut r = sample(&mut rng, n, params.max_sample).into_vec();
            r.sort_unstable();
            r
        } else {
            (0..n).collect()
        };
        let offsets = offsets(dim, m);
        let mut centroids = Vec::with_capacity(K * dim);
        for j in 0..m {
            let (start, end) = (offsets[j], offsets[j + 1]);
            let points: Vec<f32> = rows.iter().flat_map(|&r| &sample_rows[r * dim + start..r * dim + end]).copied().collect();
            centroids.extend(kmeans(&points, end - start, params.iterations, &mut rng));
        }
        Ok(Pq { dim, offsets, centroids })
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn code_len(&self) -> usize {
        self.m()
    }

    fn encode(&self, v: &[f32], out: &mut [u8]) {
        for (j, o) in out.iter_mut().enumerate().take(self.m()) {
            let (start, len) = self.sub(j);
            *o = nearest(self.centroids_of(j), len, &v[start..start + len]);
        }
    }

    fn decode(&self, code: &[u8], out: &mut [f32]) {
        for (j, &c) in code.iter().enumerate().take(self.m()) {
            let (start, len) = self.sub(j);
            out[start..start + len].copy_from_slice(&self.centroids_of(j)[c as usize * len..][..len]);
        }
    }

    /// L2: `table[j][c] = ‖q_j - centroid_jc‖²`; inner product and cosine:
    /// `table[j][c] = -q_j · centroid_jc` with offset 1, so the ADC sum is exactly the
    /// distance to the decoded vector.
    fn prepare_query(&self, query: &[f32], metric: Metric) -> PqQuery {
        let mut table = Vec::with_capacity(self.m() * K);
        for j in 0..self.m() {
            let (start, len) = self.sub(j);
            let q = &query[start..start + len];
            for c in self.centroids_of(j).chunks_exact(len) {
                table.push(match metric {
                    Metric::L2 => l2(q, c),
                    Metric::InnerProduct | Metric::Cosine => -q.iter().zip(c).map(|(a, b)| a * b).sum::<f32>(),
                });
            }
        }
        let offset = if metric == Metric::L2 { 0.0 } else { 1.0 };
        PqQuery { table, offset }
    }

    fn distance(&self, q: &PqQuery, code: &[u8]) -> f32 {
        q.offset + (kernels().pq_adc)(&q.table, code)
    }

    /// `m` u32 (little-endian) then the centroids (`256 × dim` f32).
    fn encode_params(&self) -> Vec<u8> {
        let mut out = (self.m() as u32).to_le_bytes().to_vec();
        out.extend(f32s_to_bytes(&[&self.centroids]));
        out
    }

    fn decode_params(bytes: &[u8], dim: usize) -> Result<Self, IndexError> {
        let invalid = |m: String| IndexError::from(stratovec_formats::FormatError::Invalid(m));
        let m = bytes.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let m = m.ok_or_else(|| invalid("PQ parameters shorter than 4 bytes".into()))?;
        if m == 0 || m > dim {
            return Err(invalid(format!("PQ m = {m} for dim {dim}")));
        }
        let centroids = bytes_to_f32s(&bytes[4..], K * dim, "PQ")?;
        Ok(Pq { dim, offsets: offsets(dim, m), centroids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantizer::test_support::{exact, sample as rows};
    use proptest::prelude::{prop_assert, prop_assert_eq, proptest, ProptestConfig};

    fn params(m: usize) -> PqParams {
        PqParams { m, iterations: 4, ..PqParams::default() }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn adc_equals_distance_to_decoded((dim, data) in rows(24, 20, 300, 5.0), m_frac in 0.1f64..1.0) {
            let m = ((dim as f64 * m_frac).ceil() as usize).clamp(1, dim);
            let q = Pq::train(&data, dim, &params(m)).unwrap();
            prop_assert_eq!(q.code_len(), m);
            let query = &data[..dim];
            let mut code = vec![0u8; m];
            let mut back = vec![0f32; dim];
            for metric in [Metric::L2, Metric::InnerProduct] {
                let pq = q.prepare_query(query, metric);
                for v in data.chunks_exact(dim).take(50) {
                    q.encode(v, &mut code);
                    q.decode(&code, &mut back);
                    let want = exact(metric, query, &back);
                    let got = q.distance(&pq, &code) as f64;
                    prop_assert!((want - got).abs() <= 1e-3 * (1.0 + want.abs()), "{:?}: {} vs {}", metric, got, want);
                }
            }
            prop_assert_eq!(Pq::decode_params(&q.encode_params(), dim).unwrap(), q);
        }
    }

    /// The k-means error bound: the mean squared reconstruction error of the training
    /// data is below its variance (what one centroid at the mean would give), and zero
    /// when there are at most 256 distinct rows.
    #[test]
    fn reconstruction_error_is_below_the_variance() {
        let mut rng = SmallRng::seed_from_u64(7);
        let (dim, n) = (16, 4000);
        let data: Vec<f32> = (0..dim * n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let q = Pq::train(&data, dim, &PqParams { m: 8, ..PqParams::default() }).unwrap();
        let (mut err, mut var) = (0f64, 0f64);
        let mut code = vec![0u8; 8];
        let mut back = vec![0f32; dim];
        for v in data.chunks_exact(dim) {
            q.encode(v, &mut code);
            q.decode(&code, &mut back);
            err += exact(Metric::L2, v, &back);
            var += v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>();
        }
        assert!(err < 0.25 * var, "error {err} variance {var}");
        let few = &data[..dim * 200];
        let q = Pq::train(few, dim, &PqParams { m: 4, ..PqParams::default() }).unwrap();
        for v in few.chunks_exact(dim) {
            q.encode(v, &mut code[..4]);
            q.decode(&code[..4], &mut back);
            assert!(exact(Metric::L2, v, &back) < 1e-9);
        }
    }

    #[test]
    fn training_is_deterministic_and_checks_params() {
        let data: Vec<f32> = (0..600).map(|i| (i as f32 * 0.37).sin()).collect();
        let p = PqParams { m: 3, max_sample: 50, ..PqParams::default() };
        assert_eq!(Pq::train(&data, 6, &p).unwrap(), Pq::train(&data, 6, &p).unwrap());
        assert!(Pq::train(&data, 6, &PqParams { m: 7, ..p.clone() }).is_err());
        assert!(Pq::decode_params(&[1, 0, 0, 0], 6).is_err());
        assert!(Pq::decode_params(&[9, 0, 0, 0], 6).is_err());
    }
}
