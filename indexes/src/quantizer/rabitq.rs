//! The RaBitQ quantizer ([`RaBitQ`]).

use crate::{IndexError, Metric};

use super::{bytes_to_f32s, check_sample, Quantizer};

/// `ε0` of the error bound, in standard deviations of the estimator: the paper's choice.
/// A single estimate exceeds its bound on one side about 3% of the time, and only rows
/// whose distance is near the `k`-th matter to a scan, so recall stays near 1.0.
const EPSILON_0: f32 = 1.9;
/// Bits per dimension of the quantized query.
const QUERY_BITS: usize = 4;
/// Rounds of sign flips and Hadamard transforms in the rotation.
const ROUNDS: usize = 3;

/// RaBitQ: one bit per dimension of a randomly rotated, centred unit vector, with an
/// unbiased estimate of the inner product and a bound on its error (Gao & Long, "RaBitQ:
/// Quantizing High-Dimensional Vectors with a Theoretical Error Bound for Approximate
/// Nearest Neighbor Search", SIGMOD 2024, arXiv:2405.12497).
///
/// Encoding `o` (centroid `c` of the training sample, `D'` = `dim` rounded up to a power of
/// two, at least 64):
/// * `r = o − c`, `u = r / ‖r‖` (zero-padded to `D'`), `z = P u` with `P` a random
///   orthogonal rotation: three rounds of random sign flips, each followed by a normalised
///   fast Walsh–Hadamard transform (signs from SplitMix64 seeded by the stored seed);
/// * bits `b_i = [z_i > 0]`, i.e. the quantized unit vector `ō = (2b − 1) / √D'`;
/// * per row, besides the `D' / 8` bytes of bits: `‖r‖`, `⟨ō, z⟩ = Σ|z_i| / √D'` and
///   `⟨r, c⟩` (f32 each): `code_len = D' / 8 + 12` bytes.
///
/// A query `q` is centred, normalised and rotated the same way (`z_q`), then quantized to
/// 4 bits per dimension (uniform over its range) so that `⟨ō, z_q⟩` is a few AND +
/// popcount operations per 64 dimensions. The estimate of `⟨u, u_q⟩` is
/// `⟨ō, z_q⟩ / ⟨ō, z⟩` (unbiased, Theorem 3.2), and its error is rarely above
/// `ε0 · sqrt((1 − ⟨ō,z⟩²) / ⟨ō,z⟩²) / sqrt(D' − 1)` with `ε0 = 1.9` (about 1.9 standard
/// deviations of the estimator: one estimate in 30 or so exceeds it on one side). Distances
/// follow from
/// `‖o − q‖² = ‖r‖² + ‖r_q‖² − 2‖r‖‖r_q‖⟨u, u_q⟩` and `⟨o, q⟩ = ‖r‖‖r_q‖⟨u, u_q⟩ + ⟨r, c⟩ +
/// ⟨c, q⟩`; [`RaBitQ::distance_bound`] gives the estimate and its lower bound, which a
/// scan uses to decide which rows to rescore exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct RaBitQ {
    center: Vec<f32>,
    seed: u64,
    /// Random signs of each round, `ROUNDS × padded` values of ±1.
    signs: Vec<f32>,
}

/// A query prepared for [`RaBitQ`].
#[derive(Debug, Clone)]
pub struct RaBitQQuery {
    /// Bit planes of the 4-bit query: plane `j` holds bit `j` of every dimension's value.
    planes: [Vec<u64>; QUERY_BITS],
    /// `z_q,i ≈ low + step × value_i`.
    low: f32,
    step: f32,
    /// Σ of the quantized `z_q,i` (as `low × D' + step × Σ value_i`).
    sum: f32,
    /// `‖q − c‖`.
    norm: f32,
    /// `⟨c, q⟩`, for inner-product metrics.
    center_dot: f32,
    metric: Metric,
}

/// SplitMix64 (Steele, Lea & Flood, OOPSLA 2014): the sign generator, fixed here so that a
/// stored seed gives the same rotation in every version.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// In-place fast Walsh–Hadamard transform of `x` (length a power of two), scaled by
/// `1 / √len` so that it is orthogonal (and its own inverse).
fn fwht(x: &mut [f32]) {
    let n = x.len();
    let mut h = 1;
    while h < n {
        for i in (0..n).step_by(2 * h) {
            for j in i..i + h {
                let (a, b) = (x[j], x[j + h]);
                x[j] = a + b;
                x[j + h] = a - b;
            }
        }
        h *= 2;
    }
    let scale = 1.0 / (n as f32).sqrt();
    x.iter_mut().for_each(|v| *v *= scale);
}

impl RaBitQ {
    /// A quantizer with centroid `center` and rotation seed `seed`.
    fn new(center: Vec<f32>, seed: u64) -> Self {
        let padded = center.len().next_power_of_two().max(64);
        let mut state = seed;
        let signs = (0..ROUNDS * padded).map(|_| if splitmix64(&mut state) >> 63 == 1 { -1.0 } else { 1.0 }).collect();
        RaBitQ { center, seed, signs }
    }

    /// `D'`: the rotated dimension (a power of two, at least 64).
    pub fn padded_dim(&self) -> usize {
        self.signs.len() / ROUNDS
    }

    fn words(&self) -> usize {
        self.padded_dim() / 64
    }

    /// `P x` for `x` of `D'` values.
    fn rotate(&self, x: &mut [f32]) {
        for signs in self.signs.chunks_exact(self.padded_dim()) {
            x.iter_mut().zip(signs).for_each(|(v, s)| *v *= s);
            fwht(x);
        }
    }

    /// `Pᵀ x`: the rounds undone in reverse order.
    fn unrotate(&self, x: &mut [f32]) {
        for signs in self.signs.chunks_exact(self.padded_dim()).rev() {
            fwht(x);
            x.iter_mut().zip(signs).for_each(|(v, s)| *v *= s);
        }
    }

    /// `(P (v − c) / ‖v − c‖, ‖v − c‖)`; a vector at the centroid gets the first axis.
    fn rotated_unit(&self, v: &[f32]) -> (Vec<f32>, f32) {
        let mut x = vec![0f32; self.padded_dim()];
        x.iter_mut().zip(v.iter().zip(&self.center)).for_each(|(o, (a, c))| *o = a - c);
        let norm = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        if norm > 0.0 && norm.is_finite() {
            x.iter_mut().for_each(|a| *a /= norm);
        } else {
            x.iter_mut().for_each(|a| *a = 0.0);
            x[0] = 1.0;
        }
        self.rotate(&mut x);
        (x, norm)
    }

    /// The row's `‖r‖`, `⟨ō, z⟩` and `⟨r, c⟩` after its bits.
    fn factors(&self, code: &[u8]) -> (f32, f32, f32) {
        let at = self.words() * 8;
        let f = |i: usize| code.get(at + 4 * i..at + 4 * i + 4).map_or(0.0, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        (f(0), f(1), f(2))
    }

    /// The estimate of `⟨u, u_q⟩` for `code`, and its error bound.
    fn estimate(&self, q: &RaBitQQuery, code: &[u8]) -> (f32, f32) {
        let d = self.padded_dim() as f32;
        let (mut ones, mut weighted) = (0u32, 0u32);
        for (w, bytes) in code.chunks_exact(8).take(self.words()).enumerate() {
            let bits = u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
            ones += bits.count_ones();
            for (j, plane) in q.planes.iter().enumerate() {
                weighted += (bits & plane[w]).count_ones() << j;
            }
        }
        // Σ over set bits of z_q,i, then ⟨ō, z_q⟩ = (2 Σ_{b=1} − Σ_all) / √D'.
        let set_sum = q.low * ones as f32 + q.step * weighted as f32;
        let dot = (2.0 * set_sum - q.sum) / d.sqrt();
        let (_, ip_oo, _) = self.factors(code);
        let ip_oo = ip_oo.max(1e-6);
        let bound = EPSILON_0 * ((1.0 - ip_oo * ip_oo).max(0.0) / (ip_oo * ip_oo)).sqrt() / (d - 1.0).max(1.0).sqrt();
        (dot / ip_oo, bound)
    }

    /// The estimated distance of `code` to the query (as [`Quantizer::distance`]) and a
    /// lower bound on the true distance that holds with high probability: a scan rescores
    /// a row exactly only while its lower bound beats the `k`-th best exact distance.
    pub fn distance_bound(&self, q: &RaBitQQuery, code: &[u8]) -> (f32, f32) {
        let (est, err) = self.estimate(q, code);
        let (norm, _, rc) = self.factors(code);
        let scale = norm * q.norm;
        match q.metric {
            Metric::L2 => {
                let d = norm * norm + q.norm * q.norm - 2.0 * scale * est;
                (d, d - 2.0 * scale * err)
            }
            Metric::InnerProduct | Metric::Cosine => {
                let d = 1.0 - (scale * est + rc + q.center_dot);
                (d, d - scale * err)
            }
        }
    }
}

impl Quantizer for RaBitQ {
    type Params = ();
    type Query = RaBitQQuery;

    /// The centroid of the sample; the rotation from a fixed seed.
    fn train(sample: &[f32], dim: usize, _: &()) -> Result<Self, IndexError> {
        check_sample(sample, dim, "rabitq")?;
        Ok(RaBitQ::new(super::mean(sample, dim), 0x5241_4249_5451_0001))
    }

    fn dim(&self) -> usize {
        self.center.len()
    }

    fn code_len(&self) -> usize {
        self.padded_dim() / 8 + 12
    }

    fn encode(&self, v: &[f32], out: &mut [u8]) {
        let (z, norm) = self.rotated_unit(v);
        let mut words = vec![0u64; self.words()];
        for (i, x) in z.iter().enumerate() {
            if *x > 0.0 {
                words[i / 64] |= 1 << (i % 64);
            }
        }
        let ip_oo = z.iter().map(|x| x.abs()).sum::<f32>() / (self.padded_dim() as f32).sqrt();
        let rc: f32 = v.iter().zip(&self.center).map(|(a, c)| (a - c) * c).sum();
        let mut bytes = words.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
        for f in [norm, ip_oo, rc] {
            bytes.extend_from_slice(&f.to_le_bytes());
        }
        out.copy_from_slice(&bytes);
    }

    /// `c + ‖r‖ Pᵀ ō` (the quantized unit vector rotated back and scaled).
    fn decode(&self, code: &[u8], out: &mut [f32]) {
        let d = self.padded_dim();
        let mut x: Vec<f32> = (0..d).map(|i| if code[i / 8] >> (i % 8) & 1 == 1 { 1.0 } else { -1.0 }).collect();
        let s = 1.0 / (d as f32).sqrt();
        x.iter_mut().for_each(|v| *v *= s);
        self.unrotate(&mut x);
        let (norm, _, _) = self.factors(code);
        for (o, (xi, c)) in out.iter_mut().zip(x.iter().zip(&self.center)) {
            *o = c + norm * xi;
        }
    }

    fn prepare_query(&self, query: &[f32], metric: Metric) -> RaBitQQuery {
        let (z, norm) = self.rotated_unit(query);
        let low = z.iter().copied().fold(f32::INFINITY, f32::min);
        let high = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let levels = ((1 << QUERY_BITS) - 1) as f32;
        let step = if high > low { (high - low) / levels } else { 1.0 };
        let mut planes: [Vec<u64>; QUERY_BITS] = std::array::from_fn(|_| vec![0u64; self.words()]);
        let mut total = 0u32;
        for (i, x) in z.iter().enumerate() {
            let value = (((x - low) / step).round() as u32).min(levels as u32);
            total += value;
            for (j, plane) in planes.iter_mut().enumerate() {
                if value >> j & 1 == 1 {
                    plane[i / 64] |= 1 << (i % 64);
                }
            }
        }
        let sum = low * self.padded_dim() as f32 + step * total as f32;
        let center_dot = query.iter().zip(&self.center).map(|(a, c)| a * c).sum();
        RaBitQQuery { planes, low, step, sum, norm, center_dot, metric }
    }

    fn distance(&self, q: &RaBitQQuery, code: &[u8]) -> f32 {
        self.distance_bound(q, code).0
    }

    /// The centroid (`dim` f32), then the rotation seed (u64), little-endian.
    fn encode_params(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.center.iter().flat_map(|v| v.to_le_bytes()).collect();
        out.extend_from_slice(&self.seed.to_le_bytes());
        out
    }

    fn decode_params(bytes: &[u8], dim: usize) -> Result<Self, IndexError> {
        let at = bytes.len().checked_sub(8).filter(|&a| a == dim * 4).ok_or_else(|| {
            stratovec_formats::FormatError::Invalid(format!("rabitq parameters: {} bytes, expected {}", bytes.len(), dim * 4 + 8))
        })?;
        let center = bytes_to_f32s(&bytes[..at], dim, "rabitq")?;
        let seed = u64::from_le_bytes(bytes[at..].try_into().unwrap_or([0; 8]));
        Ok(RaBitQ::new(center, seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn gaussian(rng: &mut SmallRng, n: usize) -> Vec<f32> {
        (0..n).map(|_| (0..6).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>()).collect()
    }

    #[test]
    fn the_rotation_is_orthogonal_and_undone() {
        let r = RaBitQ::new(vec![0.0; 50], 7);
        assert_eq!(r.padded_dim(), 64);
        let mut rng = SmallRng::seed_from_u64(2);
        let x = gaussian(&mut rng, 64);
        let mut y = x.clone();
        r.rotate(&mut y);
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
        assert!((norm(&x) - norm(&y)).abs() < 1e-3 * norm(&x));
        r.unrotate(&mut y);
        assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-4));
    }

    /// The error bound: on 384-dimensional Gaussian data the lower bound is below the exact
    /// distance for all but about 3% of pairs (`ε0` = 1.9 standard deviations, one-sided:
    /// 2.9% expected), and the estimates are unbiased on average.
    #[test]
    fn estimates_stay_within_their_bound() {
        let dim = 384;
        let mut rng = SmallRng::seed_from_u64(3);
        let data = gaussian(&mut rng, dim * 400);
        let r = RaBitQ::train(&data, dim, &()).unwrap();
        let mut code = vec![0u8; r.code_len()];
        let (mut outside, mut bias, mut pairs) = (0, 0.0f64, 0);
        for q in data.chunks_exact(dim).take(10) {
            let pq = r.prepare_query(q, Metric::L2);
            for v in data.chunks_exact(dim).skip(10).take(200) {
                r.encode(v, &mut code);
                let (est_d, lower) = r.distance_bound(&pq, &code);
                let exact: f32 = q.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum();
                if lower > exact {
                    outside += 1;
                }
                assert!(lower <= est_d);
                bias += (est_d - exact) as f64 / exact as f64;
                pairs += 1;
            }
        }
        assert!(outside * 25 <= pairs, "{outside} of {pairs} lower bounds above the exact distance");
        assert!((bias / pairs as f64).abs() < 0.01, "mean relative error {}", bias / pairs as f64);
    }

    #[test]
    fn params_round_trip_and_decode_is_close() {
        let dim = 96;
        let mut rng = SmallRng::seed_from_u64(4);
        let data = gaussian(&mut rng, dim * 50);
        let r = RaBitQ::train(&data, dim, &()).unwrap();
        let back = RaBitQ::decode_params(&r.encode_params(), dim).unwrap();
        assert_eq!(back, r);
        assert!(RaBitQ::decode_params(&r.encode_params()[1..], dim).is_err());
        let mut code = vec![0u8; r.code_len()];
        let v = &data[..dim];
        r.encode(v, &mut code);
        let mut out = vec![0f32; dim];
        r.decode(&code, &mut out);
        // One bit per dimension keeps the direction: cosine(v - c, decoded - c) ≈ 0.8.
        let (a, b): (Vec<f32>, Vec<f32>) = v.iter().zip(&out).zip(&r.center).map(|((x, y), c)| (x - c, y - c)).unzip();
        let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let cos = dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt());
        assert!(cos > 0.6, "cosine {cos}");
    }
}
