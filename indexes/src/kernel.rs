//! Distance kernels: one query vector against stored vectors.
//!
//! Implementations: [`Scalar`] (portable), [`Avx2`] (AVX2 + FMA, 8 lanes, 4 accumulators)
//! and [`Avx512`] (AVX-512F, 16 lanes, masked tail). The best one the CPU supports is chosen
//! once per process into a [`KernelTable`] of function pointers ([`kernels`]); the environment
//! variable `STRATOVEC_SIMD=scalar|avx2|avx512` overrides the choice (an unsupported request
//! falls back to the best supported kernel, with a message on stderr), and the `noasm` feature
//! forces scalar.

use std::sync::OnceLock;

use crate::Metric;

/// Scores one vector against another. All methods take two slices of equal length `dim`
/// (extra elements of the longer slice are ignored).
pub trait DistanceKernel: Send + Sync {
    /// Short name: `scalar`, `avx2` or `avx512`.
    fn name(&self) -> &'static str;
    /// Inner product `sum(a[i] * b[i])`.
    fn dot(&self, a: &[f32], b: &[f32]) -> f32;
    /// Squared Euclidean distance `sum((a[i] - b[i])^2)`.
    fn l2_sq(&self, a: &[f32], b: &[f32]) -> f32;
}

/// Portable scalar kernels (4 independent accumulators so the compiler can vectorise).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scalar;

fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        for i in 0..4 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

fn l2_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        for i in 0..4 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| (x - y) * (x - y)).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Scores `q` against each of the `out.len()` rows of `rows` (row-major, `q.len()` values
/// each) with `single`; the portable form of the batch kernels.
fn batch_with(single: fn(&[f32], &[f32]) -> f32, q: &[f32], rows: &[f32], out: &mut [f32]) {
    for (o, r) in out.iter_mut().zip(rows.chunks_exact(q.len().max(1))) {
        *o = single(q, r);
    }
}

fn dot_batch_scalar(q: &[f32], rows: &[f32], out: &mut [f32]) {
    batch_with(dot_scalar, q, rows, out)
}

fn l2_batch_scalar(q: &[f32], rows: &[f32], out: &mut [f32]) {
    batch_with(l2_scalar, q, rows, out)
}

impl DistanceKernel for Scalar {
    fn name(&self) -> &'static str {
        "scalar"
    }
    fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        dot_scalar(a, b)
    }
    fn l2_sq(&self, a: &[f32], b: &[f32]) -> f32 {
        l2_scalar(a, b)
    }
}

#[cfg(all(target_arch = "x86_64", not(feature = "noasm")))]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    fn hsum256(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
        _mm_cvtss_f32(s)
    }

    macro_rules! avx2_kernel {
        ($name:ident, $combine:expr, $tail:expr) => {
            #[target_feature(enable = "avx2,fma")]
            pub(super) fn $name(a: &[f32], b: &[f32]) -> f32 {
                let n = a.len().min(b.len());
                let (pa, pb) = (a.as_ptr(), b.as_ptr());
                let mut acc = [_mm256_setzero_ps(); 4];
                let mut i = 0;
                // SAFETY: every load reads 8 floats at i..i+8 with i + 8 <= n (n <= both
                // lengths), so all reads are inside `a` and `b`; loadu needs no alignment.
                unsafe {
                    while i + 32 <= n {
                        for j in 0..4 {
                            let x = _mm256_loadu_ps(pa.add(i + 8 * j));
                            let y = _mm256_loadu_ps(pb.add(i + 8 * j));
                            acc[j] = $combine(acc[j], x, y);
                        }
                        i += 32;
                    }
                    while i + 8 <= n {
                        let x = _mm256_loadu_ps(pa.add(i));
                        let y = _mm256_loadu_ps(pb.add(i));
                        acc[0] = $combine(acc[0], x, y);
                        i += 8;
                    }
                }
                let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
                let mut s = hsum256(sum);
                for k in i..n {
                    s += $tail(a[k], b[k]);
                }
                s
            }
        };
    }

    avx2_kernel!(dot_avx2, |acc, x, y| _mm256_fmadd_ps(x, y, acc), |x: f32, y: f32| x * y);
    avx2_kernel!(
        l2_avx2,
        |acc, x, y| {
            let d = _mm256_sub_ps(x, y);
            _mm256_fmadd_ps(d, d, acc)
        },
        |x: f32, y: f32| (x - y) * (x - y)
    );

    macro_rules! avx512_kernel {
        ($name:ident, $combine:expr) => {
            #[target_feature(enable = "avx512f")]
            pub(super) fn $name(a: &[f32], b: &[f32]) -> f32 {
                let n = a.len().min(b.len());
                let (pa, pb) = (a.as_ptr(), b.as_ptr());
                let mut acc0 = _mm512_setzero_ps();
                let mut acc1 = _mm512_setzero_ps();
                let mut i = 0;
                // SAFETY: full loads read 16 floats at i..i+16 <= n; the masked tail load
                // reads only the lanes set in `mask`, i.e. indices i..n. All are in bounds.
                unsafe {
                    while i + 32 <= n {
                        acc0 = $combine(acc0, _mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
                        acc1 = $combine(acc1, _mm512_loadu_ps(pa.add(i + 16)), _mm512_loadu_ps(pb.add(i + 16)));
                        i += 32;
                    }
                    while i + 16 <= n {
                        acc0 = $combine(acc0, _mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
                        i += 16;
                    }
                    if i < n {
                        let mask: __mmask16 = (1u32 << (n - i)).wrapping_sub(1) as __mmask16;
                        let x = _mm512_maskz_loadu_ps(mask, pa.add(i));
                        let y = _mm512_maskz_loadu_ps(mask, pb.add(i));
                        acc1 = $combine(acc1, x, y);
                    }
                }
                _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))
            }
        };
    }

    avx512_kernel!(dot_avx512, |acc, x, y| _mm512_fmadd_ps(x, y, acc));
    avx512_kernel!(l2_avx512, |acc, x, y| {
        let d = _mm512_sub_ps(x, y);
        _mm512_fmadd_ps(d, d, acc)
    });

    /// Scores 4 rows per pass so each query chunk is loaded once per 4 rows and the 4
    /// accumulator chains run in parallel; the tail of each row uses a masked load.
    macro_rules! avx512_batch {
        ($name:ident, $single:ident, $combine:expr) => {
            #[target_feature(enable = "avx512f")]
            pub(super) fn $name(q: &[f32], rows: &[f32], out: &mut [f32]) {
                let dim = q.len();
                let n = out.len().min(rows.len() / dim.max(1));
                let mut r = 0;
                while r + 4 <= n {
                    let mut acc = [_mm512_setzero_ps(); 4];
                    let mut i = 0;
                    // SAFETY: rows r..r+4 lie inside `rows` (r + 4 <= n <= rows.len() / dim);
                    // full loads read i..i+16 <= dim of the query and of each row; the
                    // masked load reads only lanes i..dim. All reads are in bounds.
                    unsafe {
                        let base = rows.as_ptr().add(r * dim);
                        while i < dim {
                            let left = dim - i;
                            let mask: __mmask16 = if left >= 16 { 0xFFFF } else { ((1u32 << left) - 1) as __mmask16 };
                            let x = _mm512_maskz_loadu_ps(mask, q.as_ptr().add(i));
                            for (j, a) in acc.iter_mut().enumerate() {
                                let y = _mm512_maskz_loadu_ps(mask, base.add(j * dim + i));
                                *a = $combine(*a, x, y);
                            }
                            i += 16;
                        }
                    }
                    for (j, a) in acc.iter().enumerate() {
                        out[r + j] = _mm512_reduce_add_ps(*a);
                    }
                    r += 4;
                }
                for k in r..n {
                    out[k] = $single(q, &rows[k * dim..(k + 1) * dim]);
                }
            }
        };
    }

    avx512_batch!(dot_batch_avx512, dot_avx512, |acc, x, y| _mm512_fmadd_ps(x, y, acc));
    avx512_batch!(l2_batch_avx512, l2_avx512, |acc, x, y| {
        let d = _mm512_sub_ps(x, y);
        _mm512_fmadd_ps(d, d, acc)
    });

    pub(super) fn dot_batch_avx2_checked(q: &[f32], rows: &[f32], out: &mut [f32]) {
        super::batch_with(dot_avx2_checked, q, rows, out)
    }
    pub(super) fn l2_batch_avx2_checked(q: &[f32], rows: &[f32], out: &mut [f32]) {
        super::batch_with(l2_avx2_checked, q, rows, out)
    }
    pub(super) fn dot_batch_avx512_checked(q: &[f32], rows: &[f32], out: &mut [f32]) {
        // SAFETY: only reachable through a kernel table built after `has_avx512()`.
        unsafe { dot_batch_avx512(q, rows, out) }
    }
    pub(super) fn l2_batch_avx512_checked(q: &[f32], rows: &[f32], out: &mut [f32]) {
        // SAFETY: as in `dot_batch_avx512_checked`.
        unsafe { l2_batch_avx512(q, rows, out) }
    }

    pub(super) fn has_avx2() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    pub(super) fn has_avx512() -> bool {
        is_x86_feature_detected!("avx512f")
    }

    pub(super) fn dot_avx2_checked(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through a kernel table, built only after `has_avx2()`
        // returned true (`KernelTable::by_name`).
        unsafe { dot_avx2(a, b) }
    }
    pub(super) fn l2_avx2_checked(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as in `dot_avx2_checked`.
        unsafe { l2_avx2(a, b) }
    }
    pub(super) fn dot_avx512_checked(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through a kernel table, built only after `has_avx512()`
        // returned true (`KernelTable::by_name`).
        unsafe { dot_avx512(a, b) }
    }
    pub(super) fn l2_avx512_checked(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as in `dot_avx512_checked`.
        unsafe { l2_avx512(a, b) }
    }

    /// Hints the CPU to fetch the cache line holding `p` (no effect on correctness).
    #[inline(always)]
    pub(super) fn prefetch(p: *const f32) {
        // SAFETY: prefetch is a hint; it never faults, even for an invalid address. SSE is
        // part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) }
    }
}

/// AVX2 + FMA kernels (8 f32 lanes, 4 accumulators). Construct with [`Avx2::detect`].
#[derive(Debug, Clone, Copy)]
pub struct Avx2(KernelTable);

impl Avx2 {
    /// `Some` when the CPU supports AVX2 and FMA (and the `noasm` feature is off).
    pub fn detect() -> Option<Self> {
        KernelTable::by_name("avx2").map(Avx2)
    }
}

/// AVX-512F kernels (16 f32 lanes, masked tail). Construct with [`Avx512::detect`].
#[derive(Debug, Clone, Copy)]
pub struct Avx512(KernelTable);

impl Avx512 {
    /// `Some` when the CPU supports AVX-512F (and the `noasm` feature is off).
    pub fn detect() -> Option<Self> {
        KernelTable::by_name("avx512").map(Avx512)
    }
}

/// A kernel table is itself a kernel; `Avx2` and `Avx512` delegate to their table.
impl DistanceKernel for KernelTable {
    fn name(&self) -> &'static str {
        self.name
    }
    fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        (self.dot)(a, b)
    }
    fn l2_sq(&self, a: &[f32], b: &[f32]) -> f32 {
        (self.l2_sq)(a, b)
    }
}

macro_rules! delegate_to_table {
    ($t:ty) => {
        impl DistanceKernel for $t {
            fn name(&self) -> &'static str {
                self.0.name
            }
            fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
                (self.0.dot)(a, b)
            }
            fn l2_sq(&self, a: &[f32], b: &[f32]) -> f32 {
                (self.0.l2_sq)(a, b)
            }
        }
    };
}
delegate_to_table!(Avx2);
delegate_to_table!(Avx512);

/// Function pointers of the kernels chosen for this process.
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
}

impl KernelTable {
    /// The portable scalar table.
    pub fn scalar() -> Self {
        KernelTable {
            name: "scalar",
            dot: dot_scalar,
            l2_sq: l2_scalar,
            dot_batch: dot_batch_scalar,
            l2_batch: l2_batch_scalar,
        }
    }

    /// The table for `name` (`scalar`, `avx2`, `avx512`) if this CPU supports it.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "scalar" => Some(Self::scalar()),
            #[cfg(all(target_arch = "x86_64", not(feature = "noasm")))]
            "avx2" => x86::has_avx2().then_some(KernelTable {
                name: "avx2",
                dot: x86::dot_avx2_checked,
                l2_sq: x86::l2_avx2_checked,
                dot_batch: x86::dot_batch_avx2_checked,
                l2_batch: x86::l2_batch_avx2_checked,
            }),
            #[cfg(all(target_arch = "x86_64", not(feature = "noasm")))]
            "avx512" => x86::has_avx512().then_some(KernelTable {
                name: "avx512",
                dot: x86::dot_avx512_checked,
                l2_sq: x86::l2_avx512_checked,
                dot_batch: x86::dot_batch_avx512_checked,
                l2_batch: x86::l2_batch_avx512_checked,
            }),
            _ => None,
        }
    }

    /// Every table this CPU supports, best last.
    pub fn available() -> Vec<Self> {
        ["scalar", "avx2", "avx512"].iter().filter_map(|n| Self::by_name(n)).collect()
    }

    fn best() -> Self {
        Self::available().pop().unwrap_or_else(Self::scalar)
    }
}

/// The kernel table of this process, chosen on first use (see the module docs).
pub fn kernels() -> &'static KernelTable {
    static TABLE: OnceLock<KernelTable> = OnceLock::new();
    TABLE.get_or_init(|| match std::env::var("STRATOVEC_SIMD") {
        Ok(name) => KernelTable::by_name(name.trim()).unwrap_or_else(|| {
            let best = KernelTable::best();
            eprintln!("stratovec: STRATOVEC_SIMD={name} is not supported here; using {}", best.name);
            best
        }),
        Err(_) => KernelTable::best(),
    })
}

/// Hints the CPU to load the start of `v` into cache (a no-op off x86_64).
#[inline(always)]
pub fn prefetch(v: &[f32]) {
    #[cfg(all(target_arch = "x86_64", not(feature = "noasm")))]
    x86::prefetch(v.as_ptr());
    #[cfg(not(all(target_arch = "x86_64", not(feature = "noasm"))))]
    let _ = v;
}

/// A metric bound to a kernel: computes the distance (smaller is closer) of two vectors.
#[derive(Debug, Clone, Copy)]
pub struct Scorer {
    f: fn(&[f32], &[f32]) -> f32,
    batch: fn(&[f32], &[f32], &mut [f32]),
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
            Metric::L2 => Scorer { f: table.l2_sq, batch: table.l2_batch, one_minus: false },
            Metric::InnerProduct | Metric::Cosine => Scorer { f: table.dot, batch: table.dot_batch, one_minus: true },
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
        (1usize..=2048).prop_flat_map(|d| {
            (proptest::collection::vec(-100f32..100f32, d), proptest::collection::vec(-100f32..100f32, d))
        })
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

    #[test]
    fn trait_objects_agree_with_table() {
        let a: Vec<f32> = (0..77).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..77).map(|i| 1.0 - i as f32 * 0.05).collect();
        let mut ks: Vec<Box<dyn DistanceKernel>> = vec![Box::new(Scalar)];
        if let Some(k) = Avx2::detect() {
            ks.push(Box::new(k));
        }
        if let Some(k) = Avx512::detect() {
            ks.push(Box::new(k));
        }
        let want = Scalar.dot(&a, &b);
        for k in ks {
            assert!((k.dot(&a, &b) - want).abs() < 1e-3, "{}", k.name());
            assert_eq!(KernelTable::by_name(k.name()).unwrap().name, k.name());
        }
    }
}
