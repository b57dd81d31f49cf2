//! Distance kernels: one query vector against stored vectors or codes.
//!
//! Implementations per instruction set, chosen once per process into a [`KernelTable`] of
//! function pointers ([`kernels`]). Kernels are not an extension point: every index calls
//! the process's table, chosen by CPU features (and `STRATOVEC_SIMD`); a new instruction
//! set is a new table here, not a user type.
//!
//! | table | f32 dot / L2 | f32, 4 rows | u8 × i8 (SQ8) | INT4 | Hamming | PQ ADC |
//! |---|---|---|---|---|---|---|
//! | `scalar` | 4 accumulators | one by one | scalar | scalar | `count_ones` | scalar |
//! | `sse4.2` | 4 lanes | one by one | `pmaddwd`, 8 per step | scalar | `popcnt` | scalar |
//! | `avx2` | 8 lanes + FMA | 8 chains | `vpmaddwd`, 16 per step | 32 per step | `popcnt` | scalar |
//! | `avx512bw` | 16 lanes, masked tail | 8 chains, masked tail | `vpmaddwd`, 32 per step | as `avx2` | `popcnt` | gather |
//! | `avx512` | as `avx512bw` | as `avx512bw` | VNNI `vpdpbusd`, 64 per step | VNNI, 128 per step | VPOPCNTDQ | gather |
//! | `neon` (aarch64) | 4 lanes + FMA | one by one | `smlal`, 8 per step | scalar | `cnt` | scalar |
//!
//! `avx512` uses VNNI and VPOPCNTDQ only when the CPU has them (falling back to the
//! `avx512bw` kernels otherwise). The best table by CPU features is then calibrated: its
//! batch f32 kernels are replaced by another table's that measure at least 10% faster
//! here (the name becomes e.g. `avx512+avx2-f32`). The environment variable
//! `STRATOVEC_SIMD=scalar|sse4.2|avx2|avx512bw|avx512|neon` overrides the choice (an
//! unsupported request falls back to the best supported table, with a message on stderr),
//! and the `noasm` feature forces scalar.
//!
//! The NEON kernels compile only on aarch64 and have not been built or run on the x86_64
//! development machine: they are covered by the same proptests when run on an aarch64 host.
//!
//! Integer kernels are exact (i32 accumulation, for vectors of up to 65,536 elements); f32
//! kernels differ from an f64 reference only by rounding.

use std::sync::OnceLock;

use crate::Metric;

#[cfg(all(target_arch = "aarch64", not(feature = "noasm")))]
mod neon;
mod scalar;
pub mod throughput;
#[cfg(all(target_arch = "x86_64", not(feature = "noasm")))]
mod x86;

/// Function pointers of the kernels chosen for this process. Every kernel takes slices of
/// equal length and ignores the excess of a longer one.
#[derive(Debug, Clone, Copy)]
pub struct KernelTable {
    /// Name of the chosen implementation.
    pub name: &'static str,
    /// Inner product of two equal-length slices.
    pub dot: fn(&[f32], &[f32]) -> f32,
    /// Squared L2 distance of two equal-length slices.
    pub l2_sq: fn(&[f32], &[f32]) -> f32,
    /// `dot_batch(q, rows, out)`: `out[i] = dot(q, row i)` for the `out.len()` rows of
    /// `rows` (row-major, `q.len()` values each).
    pub dot_batch: fn(&[f32], &[f32], &mut [f32]),
    /// Like `dot_batch` with the squared L2 distance.
    pub l2_batch: fn(&[f32], &[f32], &mut [f32]),
    /// `dot_x4(q, rows)`: `[dot(q, rows[0]), .., dot(q, rows[3])]` for 4 rows anywhere in
    /// memory (a graph node's neighbours), or `None` where the table scores them one by one.
    pub dot_x4: Option<X4>,
    /// Like `dot_x4` with the squared L2 distance.
    pub l2_x4: Option<X4>,
    /// `dot_u8_i8(codes, q)`: exact `sum(codes[i] * q[i])`.
    pub dot_u8_i8: fn(&[u8], &[i8]) -> i32,
    /// `dot_u8_i8_batch(q, rows, out)`: `out[i] = dot_u8_i8(row i, q)` for the `out.len()`
    /// rows of `rows` (row-major, `q.len()` bytes each).
    pub dot_u8_i8_batch: fn(&[i8], &[u8], &mut [i32]),
    /// `dot_u4_i8(codes, q_even, q_odd)`: INT4 dot product, exact: byte `j` of `codes`
    /// holds element `2j` in its low nibble and `2j + 1` in its high nibble, weighted by
    /// `q_even[j]` and `q_odd[j]`.
    pub dot_u4_i8: fn(&[u8], &[i8], &[i8]) -> i32,
    /// `dot_u4_i8_batch(q_even, q_odd, rows, out)`: `out[i] = dot_u4_i8(row i, q_even,
    /// q_odd)` for the `out.len()` rows of `rows` (row-major, `q_even.len()` bytes each).
    pub dot_u4_i8_batch: U4Batch,
    /// Number of differing bits of two equal-length word slices.
    pub hamming: fn(&[u64], &[u64]) -> u32,
    /// `pq_adc(table, codes)`: PQ asymmetric distance `sum_j table[j * 256 + codes[j]]`
    /// (`table`: `m × 256` partial distances of one query, `codes`: `m` bytes).
    pub pq_adc: fn(&[f32], &[u8]) -> f32,
}

/// `f(q, rows)`: one query against 4 rows, see [`KernelTable::dot_x4`].
pub type X4 = fn(&[f32], [&[f32]; 4]) -> [f32; 4];

/// `dot_u4_i8_batch(q_even, q_odd, rows, out)`, see [`KernelTable::dot_u4_i8_batch`].
pub type U4Batch = fn(&[i8], &[i8], &[u8], &mut [i32]);

/// Every table name, worst first.
const TABLE_NAMES: [&str; 6] = ["scalar", "sse4.2", "avx2", "avx512bw", "avx512", "neon"];

impl KernelTable {
    /// The portable scalar table.
    pub fn scalar() -> Self {
        KernelTable {
            name: "scalar",
            dot: scalar::dot,
            l2_sq: scalar::l2_sq,
            dot_batch: scalar::dot_batch,
            l2_batch: scalar::l2_batch,
            dot_x4: None,
            l2_x4: None,
            dot_u8_i8: scalar::dot_u8_i8,
            dot_u8_i8_batch: scalar::dot_u8_i8_batch,
            dot_u4_i8: scalar::dot_u4_i8,
            dot_u4_i8_batch: scalar::dot_u4_i8_batch,
            hamming: scalar::hamming,
            pq_adc: scalar::pq_adc,
        }
    }

    /// The table for `name` (see the module docs) if this CPU supports it.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "scalar" => Some(Self::scalar()),
            #[cfg(all(target_arch = "x86_64", not(feature = "noasm")))]
            "sse4.2" | "avx2" | "avx512bw" | "avx512" => x86_table(name),
            #[cfg(all(target_arch = "aarch64", not(feature = "noasm")))]
            "neon" => Some(neon::table()),
            _ => None,
        }
    }

    /// Every table this CPU supports, best last.
    pub fn available() -> Vec<Self> {
        TABLE_NAMES.iter().filter_map(|n| Self::by_name(n)).collect()
    }

    fn best() -> Self {
        Self::available().pop().unwrap_or_else(Self::scalar)
    }
}

#[cfg(all(target_arch = "x86_64", not(feature = "noasm")))]
fn x86_table(name: &str) -> Option<KernelTable> {
    let sse = KernelTable {
        name: "sse4.2",
        dot: x86::dot_sse_checked,
        l2_sq: x86::l2_sse_checked,
        dot_batch: x86::dot_batch_sse,
        l2_batch: x86::l2_batch_sse,
        dot_x4: None,
        l2_x4: None,
        dot_u8_i8: x86::dot_u8_i8_sse_checked,
        dot_u8_i8_batch: x86::dot_u8_i8_batch_sse,
        dot_u4_i8: scalar::dot_u4_i8,
        dot_u4_i8_batch: scalar::dot_u4_i8_batch,
        hamming: x86::hamming_popcnt_checked,
        pq_adc: scalar::pq_adc,
    };
    if name == "sse4.2" {
        return x86::has_sse42().then_some(sse);
    }
    let avx2 = KernelTable {
        name: "avx2",
        dot: x86::dot_avx2_checked,
        l2_sq: x86::l2_avx2_checked,
        dot_batch: x86::dot_batch_avx2,
        l2_batch: x86::l2_batch_avx2,
        dot_x4: Some(x86::dot_x4_avx2_checked),
        l2_x4: Some(x86::l2_x4_avx2_checked),
        dot_u8_i8: x86::dot_u8_i8_avx2_checked,
        dot_u8_i8_batch: x86::dot_u8_i8_batch_avx2,
        dot_u4_i8: x86::dot_u4_i8_avx2_checked,
        dot_u4_i8_batch: x86::dot_u4_i8_batch_avx2,
        ..sse
    };
    if name == "avx2" {
        return x86::has_avx2().then_some(avx2);
    }
    if !x86::has_avx512() {
        return None;
    }
    let bw = KernelTable {
        name: "avx512bw",
        dot: x86::dot_avx512_checked,
        l2_sq: x86::l2_avx512_checked,
        dot_batch: x86::dot_batch_avx512_checked,
        l2_batch: x86::l2_batch_avx512_checked,
        dot_x4: Some(x86::dot_x4_avx512_checked),
        l2_x4: Some(x86::l2_x4_avx512_checked),
        dot_u8_i8: x86::dot_u8_i8_avx512bw_checked,
        dot_u8_i8_batch: x86::dot_u8_i8_batch_avx512bw,
        pq_adc: x86::pq_adc_avx512_checked,
        ..avx2
    };
    if name == "avx512bw" {
        return Some(bw);
    }
    let mut best = KernelTable { name: "avx512", ..bw };
    if x86::has_vnni() {
        best.dot_u8_i8 = x86::dot_u8_i8_vnni_checked;
        best.dot_u8_i8_batch = x86::dot_u8_i8_batch_vnni_checked;
        best.dot_u4_i8 = x86::dot_u4_i8_vnni_checked;
        best.dot_u4_i8_batch = x86::dot_u4_i8_batch_vnni_checked;
    }
    if x86::has_vpopcntdq() {
        best.hamming = x86::hamming_vpopcntdq_checked;
    }
    Some(best)
}

/// The kernel table of this process, chosen on first use (see the module docs).
pub fn kernels() -> &'static KernelTable {
    static TABLE: OnceLock<KernelTable> = OnceLock::new();
    TABLE.get_or_init(|| match std::env::var("STRATOVEC_SIMD") {
        Ok(name) => KernelTable::by_name(name.trim()).unwrap_or_else(|| {
            let best = KernelTable::best();
            tracing::warn!(requested = %name, using = best.name, "STRATOVEC_SIMD names a kernel table this CPU does not support");
            best
        }),
        Err(_) => calibrated(KernelTable::best()),
    })
}

/// `base` with its batch f32 kernels (`dot_batch`, `l2_batch`: exact scans) replaced by
/// another supported table's when that one scored cached rows at least 10% faster in a
/// short measurement (about 50 ms, once per process; [`throughput::batch_gbps`] at 64 and
/// 384 dimensions). CPU features alone do not tell: on AMD EPYC (Zen 4) the AVX2 batch
/// kernels beat the AVX-512 ones, on cached rows and streamed ones (docs/MEASUREMENTS.md,
/// "Kernels"). The table's name then says which kernels it took, e.g. `avx512+avx2-f32`.
///
/// The 4-row kernels are not calibrated: on cached rows the AVX2 and AVX-512 ones measure
/// within this machine's noise of each other (`stratovec kernels`), so a calibration would
/// pick by chance, while the HNSW build on the AVX-512 table ran 1.2× faster than on the
/// AVX2 one (docs/MEASUREMENTS.md, "HNSW build and 4-row kernels").
fn calibrated(base: KernelTable) -> KernelTable {
    let time = |t: &KernelTable| -> f64 {
        [64, 384]
            .iter()
            .map(|&dim| {
                let gbps = |f| throughput::batch_gbps(f, dim, 128 << 10, 2);
                1.0 / gbps(t.dot_batch) + 1.0 / gbps(t.l2_batch)
            })
            .sum()
    };
    let base_time = time(&base);
    let faster = KernelTable::available()
        .into_iter()
        .filter(|t| t.name != "scalar" && !std::ptr::fn_addr_eq(t.dot_batch, base.dot_batch))
        .map(|t| (time(&t), t))
        .filter(|(secs, _)| *secs * 1.1 <= base_time)
        .min_by(|a, b| a.0.total_cmp(&b.0));
    match faster {
        Some((_, t)) => KernelTable {
            name: Box::leak(format!("{}+{}-f32", base.name, t.name).into_boxed_str()),
            dot_batch: t.dot_batch,
            l2_batch: t.l2_batch,
            ..base
        },
        None => base,
    }
}

/// Hints the CPU to load the start of `v` into cache (a no-op off x86_64).
#[inline(always)]
pub fn prefetch<T>(v: &[T]) {
    #[cfg(all(target_arch = "x86_64", not(feature = "noasm")))]
    x86::prefetch(v.as_ptr() as *const u8);
    #[cfg(not(all(target_arch = "x86_64", not(feature = "noasm"))))]
    let _ = v;
}

/// Hints the CPU to load every cache line of `v` (a no-op off x86_64): for a vector about
/// to be scored, whose lines would otherwise miss one after another.
#[inline(always)]
pub fn prefetch_all<T>(v: &[T]) {
    #[cfg(all(target_arch = "x86_64", not(feature = "noasm")))]
    {
        let start = v.as_ptr() as *const u8;
        let len = std::mem::size_of_val(v);
        // One hint per 64 bytes from the start, and one for the last byte (its line may be
        // the one after the last hint's).
        for off in (0..len).step_by(64) {
            x86::prefetch(start.wrapping_add(off));
        }
        if len > 0 {
            x86::prefetch(start.wrapping_add(len - 1));
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(feature = "noasm"))))]
    let _ = v;
}

/// A metric bound to a kernel: computes the distance (smaller is closer) of two vectors.
#[derive(Debug, Clone, Copy)]
pub struct Scorer {
    f: fn(&[f32], &[f32]) -> f32,
    batch: fn(&[f32], &[f32], &mut [f32]),
    x4: Option<X4>,
    one_minus: bool,
}

impl Scorer {
    /// The scorer of `metric` with the process kernel table.
    pub fn new(metric: Metric) -> Self {
        Self::with_table(metric, kernels())
    }

    /// The scorer of `metric` with a given table.
    pub fn with_table(metric: Metric, table: &KernelTable) -> Self {
        match metric {
            Metric::L2 => Scorer { f: table.l2_sq, batch: table.l2_batch, x4: table.l2_x4, one_minus: false },
            Metric::InnerProduct | Metric::Cosine => Scorer { f: table.dot, batch: table.dot_batch, x4: table.dot_x4, one_minus: true },
        }
    }

    /// Distance between `a` and `b` (same length).
    #[inline(always)]
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        let v = (self.f)(a, b);
        if self.one_minus {
            1.0 - v
        } else {
            v
        }
    }

    /// Distances between `query` and each of 4 vectors (each as long as `query`), scored
    /// together where the kernel table has a 4-row kernel.
    #[inline(always)]
    pub fn distance4(&self, query: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
        let v = match self.x4 {
            Some(x4) => x4(query, rows),
            None => rows.map(|r| (self.f)(query, r)),
        };
        if self.one_minus {
            v.map(|x| 1.0 - x)
        } else {
            v
        }
    }

    /// `out[i]` = distance between `query` and row `i` of `rows` (row-major, `query.len()`
    /// values per row) for the `out.len()` rows.
    #[inline]
    pub fn distances(&self, query: &[f32], rows: &[f32], out: &mut [f32]) {
        (self.batch)(query, rows, out);
        if self.one_minus {
            out.iter_mut().for_each(|v| *v = 1.0 - *v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let l2: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
        let mag: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 * *y as f64).abs()).sum();
        (dot, l2, mag)
    }

    fn vectors() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
        (1usize..=2048).prop_flat_map(|d| (proptest::collection::vec(-100f32..100f32, d), proptest::collection::vec(-100f32..100f32, d)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn every_kernel_matches_f64_reference((a, b) in vectors()) {
            let (dot, l2, mag) = reference(&a, &b);
            for t in KernelTable::available() {
                let d = (t.dot)(&a, &b) as f64;
                let e = (t.l2_sq)(&a, &b) as f64;
                // Relative to the sum of magnitudes: f32 accumulation error grows with it.
                prop_assert!((d - dot).abs() <= 1e-5 * mag + 1e-4, "{} dot {} vs {}", t.name, d, dot);
                prop_assert!((e - l2).abs() <= 1e-5 * l2 + 1e-4, "{} l2 {} vs {}", t.name, e, l2);
            }
        }

        #[test]
        fn batch_kernels_match_single((dim, rows) in (1usize..=130).prop_flat_map(|d| (Just(d), proptest::collection::vec(-10f32..10f32, d..d * 11)))) {
            let n = rows.len() / dim;
            let (q, rows) = (&rows[..dim], &rows[..n * dim]);
            for t in KernelTable::available() {
                let mut dots = vec![0f32; n];
                let mut l2s = vec![0f32; n];
                (t.dot_batch)(q, rows, &mut dots);
                (t.l2_batch)(q, rows, &mut l2s);
                for i in 0..n {
                    let (dot, l2, mag) = reference(q, &rows[i * dim..(i + 1) * dim]);
                    prop_assert!((dots[i] as f64 - dot).abs() <= 1e-5 * mag + 1e-4, "{} row {}", t.name, i);
                    prop_assert!((l2s[i] as f64 - l2).abs() <= 1e-5 * l2 + 1e-4, "{} row {}", t.name, i);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn four_row_kernels_match_single((dim, v) in (1usize..=400).prop_flat_map(|d| (Just(d), proptest::collection::vec(-10f32..10f32, 5 * d)))) {
            let q = &v[..dim];
            // Rows in reverse memory order, as a neighbour list has them in no order.
            let rows = [4, 3, 2, 1].map(|i| &v[i * dim..(i + 1) * dim]);
            for t in KernelTable::available() {
                for metric in [Metric::L2, Metric::InnerProduct] {
                    let scorer = Scorer::with_table(metric, &t);
                    let four = scorer.distance4(q, rows);
                    for (r, got) in rows.iter().zip(four) {
                        let (dot, l2, mag) = reference(q, r);
                        let want = if metric == Metric::L2 { l2 } else { 1.0 - dot };
                        prop_assert!((got as f64 - want).abs() <= 1e-5 * (mag + l2) + 1e-4, "{} {:?} dim {}", t.name, metric, dim);
                    }
                }
            }
        }
    }

    fn bytes(max_len: usize) -> impl Strategy<Value = (Vec<u8>, Vec<i8>, Vec<i8>)> {
        (0usize..=max_len).prop_flat_map(|n| {
            (
                proptest::collection::vec(any::<u8>(), n),
                proptest::collection::vec(any::<i8>(), n),
                proptest::collection::vec(any::<i8>(), n),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn integer_kernels_are_exact((codes, q, q2) in bytes(700)) {
            let want = scalar::dot_u8_i8(&codes, &q);
            let want4 = scalar::dot_u4_i8(&codes, &q, &q2);
            let words: Vec<u64> = codes.chunks(8).map(|c| c.iter().fold(0u64, |w, &b| w << 8 | b as u64)).collect();
            let other: Vec<u64> = q.chunks(8).map(|c| c.iter().fold(0u64, |w, &b| w << 8 | b as u8 as u64)).collect();
            let want_h = scalar::hamming(&words, &other);
            for t in KernelTable::available() {
                prop_assert_eq!((t.dot_u8_i8)(&codes, &q), want, "{} u8", t.name);
                prop_assert_eq!((t.dot_u4_i8)(&codes, &q, &q2), want4, "{} u4", t.name);
                prop_assert_eq!((t.hamming)(&words, &other), want_h, "{} hamming", t.name);
            }
        }

        #[test]
        fn u8_batch_matches_single((dim, rows) in (1usize..=200).prop_flat_map(|d| (Just(d), proptest::collection::vec(any::<u8>(), d..d * 41)))) {
            let n = rows.len() / dim;
            let q: Vec<i8> = rows[..dim].iter().map(|&b| b.wrapping_mul(37) as i8).collect();
            for t in KernelTable::available() {
                let mut out = vec![0i32; n];
                (t.dot_u8_i8_batch)(&q, &rows[..n * dim], &mut out);
                for (i, o) in out.iter().enumerate() {
                    prop_assert_eq!(*o, scalar::dot_u8_i8(&rows[i * dim..(i + 1) * dim], &q), "{} row {}", t.name, i);
                }
            }
        }

        #[test]
        fn u4_batch_matches_single((half, rows) in (1usize..=120).prop_flat_map(|h| (Just(h), proptest::collection::vec(any::<u8>(), h..h * 41)))) {
            let n = rows.len() / half;
            let q_even: Vec<i8> = rows[..half].iter().map(|&b| b.wrapping_mul(37) as i8).collect();
            let q_odd: Vec<i8> = rows[..half].iter().map(|&b| b.wrapping_mul(91) as i8).collect();
            for t in KernelTable::available() {
                let mut out = vec![0i32; n];
                (t.dot_u4_i8_batch)(&q_even, &q_odd, &rows[..n * half], &mut out);
                for (i, o) in out.iter().enumerate() {
                    prop_assert_eq!(*o, scalar::dot_u4_i8(&rows[i * half..(i + 1) * half], &q_even, &q_odd), "{} row {}", t.name, i);
                }
            }
        }

        #[test]
        fn pq_adc_matches_f64_reference(
            (codes, table) in (0usize..=70).prop_flat_map(|m| (
                proptest::collection::vec(any::<u8>(), m),
                proptest::collection::vec(-10f32..10f32, m * 256),
            ))
        ) {
            let want: f64 = codes.iter().enumerate().map(|(j, &c)| table[j * 256 + c as usize] as f64).sum();
            let mag: f64 = codes.iter().enumerate().map(|(j, &c)| (table[j * 256 + c as usize] as f64).abs()).sum();
            for t in KernelTable::available() {
                let got = (t.pq_adc)(&table, &codes) as f64;
                prop_assert!((got - want).abs() <= 1e-5 * mag + 1e-4, "{} {} vs {}", t.name, got, want);
                // A short table never reads past its end.
                prop_assert!((t.pq_adc)(&table[..table.len() / 2], &codes).is_finite());
            }
        }
    }

    #[test]
    fn integer_kernels_at_extremes() {
        for n in [1usize, 63, 64, 65, 4096] {
            let codes = vec![255u8; n];
            let q = vec![-128i8; n];
            for t in KernelTable::available() {
                assert_eq!((t.dot_u8_i8)(&codes, &q), -255 * 128 * n as i32, "{}", t.name);
                assert_eq!((t.dot_u4_i8)(&codes, &q, &q), -15 * 128 * 2 * n as i32, "{}", t.name);
                assert_eq!((t.hamming)(&vec![u64::MAX; n], &vec![0; n]), 64 * n as u32, "{}", t.name);
            }
        }
    }
}
