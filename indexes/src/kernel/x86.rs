//! x86_64 kernels: SSE4.2, AVX2 + FMA, AVX-512 (F/BW, with VNNI for u8 × i8 and INT4 dot
//! products and VPOPCNTDQ for Hamming when the CPU has them).
//!
//! Every `*_checked` function is only stored in a [`super::KernelTable`] built after the
//! matching `has_*` detection returned true; that is the safety argument of each of them.
// One of the modules where `unsafe` is allowed (see the workspace lints); every block has a
// `// SAFETY:` comment.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::scalar;

pub(super) fn has_sse42() -> bool {
    is_x86_feature_detected!("sse4.2") && is_x86_feature_detected!("popcnt")
}
pub(super) fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && has_sse42()
}
pub(super) fn has_avx512() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && has_avx2()
}
pub(super) fn has_vnni() -> bool {
    has_avx512() && is_x86_feature_detected!("avx512vnni")
}
pub(super) fn has_vpopcntdq() -> bool {
    has_avx512() && is_x86_feature_detected!("avx512vpopcntdq")
}

// ---------------------------------------------------------------- f32, SSE4.2 (4 lanes)

#[target_feature(enable = "sse4.2")]
fn hsum128(s: __m128) -> f32 {
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
    _mm_cvtss_f32(s)
}

macro_rules! sse_kernel {
    ($name:ident, $combine:expr, $tail:expr) => {
        #[target_feature(enable = "sse4.2")]
        fn $name(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut acc = [_mm_setzero_ps(); 4];
            let mut i = 0;
            // SAFETY: each load reads 4 floats at i..i+4 <= n (n <= both lengths).
            unsafe {
                while i + 16 <= n {
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = $combine(*a, _mm_loadu_ps(pa.add(i + 4 * j)), _mm_loadu_ps(pb.add(i + 4 * j)));
                    }
                    i += 16;
                }
                while i + 4 <= n {
                    acc[0] = $combine(acc[0], _mm_loadu_ps(pa.add(i)), _mm_loadu_ps(pb.add(i)));
                    i += 4;
                }
            }
            let mut s = hsum128(_mm_add_ps(_mm_add_ps(acc[0], acc[1]), _mm_add_ps(acc[2], acc[3])));
            for k in i..n {
                s += $tail(a[k], b[k]);
            }
            s
        }
    };
}

sse_kernel!(dot_sse, |acc, x, y| _mm_add_ps(acc, _mm_mul_ps(x, y)), |x: f32, y: f32| x * y);
sse_kernel!(
    l2_sse,
    |acc, x, y| {
        let d = _mm_sub_ps(x, y);
        _mm_add_ps(acc, _mm_mul_ps(d, d))
    },
    |x: f32, y: f32| (x - y) * (x - y)
);

// ------------------------------------------------------------ f32, AVX2 + FMA (8 lanes)

#[target_feature(enable = "avx2,fma")]
fn hsum256(v: __m256) -> f32 {
    hsum128(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v)))
}

macro_rules! avx2_kernel {
    ($name:ident, $combine:expr, $tail:expr) => {
        #[target_feature(enable = "avx2,fma")]
        fn $name(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            // SAFETY: every load reads 8 floats at i..i+8 with i + 8 <= n (n <= both
            // lengths), so all reads are inside `a` and `b`; loadu needs no alignment.
            unsafe {
                while i + 32 <= n {
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = $combine(*a, _mm256_loadu_ps(pa.add(i + 8 * j)), _mm256_loadu_ps(pb.add(i + 8 * j)));
                    }
                    i += 32;
                }
                while i + 8 <= n {
                    acc[0] = $combine(acc[0], _mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
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

// --------------------------------------------------------------- f32, AVX-512F (16 lanes)

macro_rules! avx512_kernel {
    ($name:ident, $combine:expr) => {
        #[target_feature(enable = "avx512f")]
        fn $name(a: &[f32], b: &[f32]) -> f32 {
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
                    let mask = mask16(n - i);
                    let x = _mm512_maskz_loadu_ps(mask, pa.add(i));
                    let y = _mm512_maskz_loadu_ps(mask, pb.add(i));
                    acc1 = $combine(acc1, x, y);
                }
            }
            _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))
        }
    };
}

/// Lanes `0..left.min(16)` set.
#[inline(always)]
fn mask16(left: usize) -> __mmask16 {
    if left >= 16 {
        0xFFFF
    } else {
        ((1u32 << left) - 1) as __mmask16
    }
}

/// Bytes `0..left.min(64)` set.
#[inline(always)]
fn mask64(left: usize) -> __mmask64 {
    if left >= 64 {
        u64::MAX
    } else {
        (1u64 << left) - 1
    }
}

avx512_kernel!(dot_avx512, |acc, x, y| _mm512_fmadd_ps(x, y, acc));
avx512_kernel!(l2_avx512, |acc, x, y| {
    let d = _mm512_sub_ps(x, y);
    _mm512_fmadd_ps(d, d, acc)
});

/// Scores 4 rows per pass, one row after another in memory order, with two accumulator
/// chains per row (8 in flight) and one masked load for each row's tail.
///
/// An earlier version interleaved the 4 rows chunk by chunk (loading each query chunk once
/// per 4 rows). In cache it was up to 1.3× faster than this one, but streaming rows from
/// memory on AMD EPYC (Zen 4) it ran at 9 to 16 GB/s where row-order reads run at 18 to
/// 24 GB/s (2.3× slower at 128 dimensions): its reads jump between four rows. A large
/// exact scan streams from memory, so memory order wins (docs/MEASUREMENTS.md, "Kernels").
macro_rules! avx512_batch {
    ($name:ident, $single:ident, $combine:expr) => {
        #[target_feature(enable = "avx512f")]
        fn $name(q: &[f32], rows: &[f32], out: &mut [f32]) {
            let dim = q.len();
            let n = out.len().min(rows.len() / dim.max(1));
            let full = dim / 16 * 16;
            let tail = mask16(dim - full);
            let mut r = 0;
            while r + 4 <= n {
                let mut acc = [_mm512_setzero_ps(); 8];
                // SAFETY: rows r..r+4 lie inside `rows` (r + 4 <= n <= rows.len() / dim);
                // full loads read 16 values at i + 16 <= full <= dim of the query and of each
                // row; the masked loads read only lanes full..dim.
                unsafe {
                    let (qp, base) = (q.as_ptr(), rows.as_ptr().add(r * dim));
                    for (j, pair) in acc.chunks_exact_mut(2).enumerate() {
                        let row = base.add(j * dim);
                        let mut i = 0;
                        while i + 32 <= full {
                            pair[0] = $combine(pair[0], _mm512_loadu_ps(qp.add(i)), _mm512_loadu_ps(row.add(i)));
                            pair[1] = $combine(pair[1], _mm512_loadu_ps(qp.add(i + 16)), _mm512_loadu_ps(row.add(i + 16)));
                            i += 32;
                        }
                        if i < full {
                            pair[0] = $combine(pair[0], _mm512_loadu_ps(qp.add(i)), _mm512_loadu_ps(row.add(i)));
                        }
                        if full < dim {
                            let (x, y) = (_mm512_maskz_loadu_ps(tail, qp.add(full)), _mm512_maskz_loadu_ps(tail, row.add(full)));
                            pair[1] = $combine(pair[1], x, y);
                        }
                    }
                }
                for (j, pair) in acc.chunks_exact(2).enumerate() {
                    out[r + j] = _mm512_reduce_add_ps(_mm512_add_ps(pair[0], pair[1]));
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

/// Scores 4 rows scattered in memory (a graph node's neighbours) against one query: each
/// query chunk is loaded once for the 4 rows, and the 8 accumulator chains (2 per row) are
/// independent, so the rows' cache misses overlap. Lengths: the shortest of `q` and the rows.
macro_rules! avx512_x4 {
    ($name:ident, $combine:expr) => {
        #[target_feature(enable = "avx512f")]
        fn $name(q: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
            let n = rows.iter().fold(q.len(), |n, r| n.min(r.len()));
            let (qp, p) = (q.as_ptr(), rows.map(|r| r.as_ptr()));
            let mut acc = [[_mm512_setzero_ps(); 2]; 4];
            let mut i = 0;
            // SAFETY: full loads read 16 floats at i..i+16 <= n of the query and of every row
            // (n <= each length); the masked tail loads read only lanes i..n.
            unsafe {
                while i + 32 <= n {
                    let (x0, x1) = (_mm512_loadu_ps(qp.add(i)), _mm512_loadu_ps(qp.add(i + 16)));
                    for (a, r) in acc.iter_mut().zip(p) {
                        a[0] = $combine(a[0], x0, _mm512_loadu_ps(r.add(i)));
                        a[1] = $combine(a[1], x1, _mm512_loadu_ps(r.add(i + 16)));
                    }
                    i += 32;
                }
                if i + 16 <= n {
                    let x = _mm512_loadu_ps(qp.add(i));
                    for (a, r) in acc.iter_mut().zip(p) {
                        a[0] = $combine(a[0], x, _mm512_loadu_ps(r.add(i)));
                    }
                    i += 16;
                }
                if i < n {
                    let mask = mask16(n - i);
                    let x = _mm512_maskz_loadu_ps(mask, qp.add(i));
                    for (a, r) in acc.iter_mut().zip(p) {
                        a[1] = $combine(a[1], x, _mm512_maskz_loadu_ps(mask, r.add(i)));
                    }
                }
            }
            acc.map(|a| _mm512_reduce_add_ps(_mm512_add_ps(a[0], a[1])))
        }
    };
}

avx512_x4!(dot_x4_avx512, |acc, x, y| _mm512_fmadd_ps(x, y, acc));
avx512_x4!(l2_x4_avx512, |acc, x, y| {
    let d = _mm512_sub_ps(x, y);
    _mm512_fmadd_ps(d, d, acc)
});

/// The AVX2 form of `avx512_x4`: 8 lanes, 2 chains per row, a scalar tail.
macro_rules! avx2_x4 {
    ($name:ident, $combine:expr, $tail:expr) => {
        #[target_feature(enable = "avx2,fma")]
        fn $name(q: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
            let n = rows.iter().fold(q.len(), |n, r| n.min(r.len()));
            let (qp, p) = (q.as_ptr(), rows.map(|r| r.as_ptr()));
            let mut acc = [[_mm256_setzero_ps(); 2]; 4];
            let mut i = 0;
            // SAFETY: every load reads 8 floats at i..i+8 <= n of the query and of every row
            // (n <= each length).
            unsafe {
                while i + 16 <= n {
                    let (x0, x1) = (_mm256_loadu_ps(qp.add(i)), _mm256_loadu_ps(qp.add(i + 8)));
                    for (a, r) in acc.iter_mut().zip(p) {
                        a[0] = $combine(a[0], x0, _mm256_loadu_ps(r.add(i)));
                        a[1] = $combine(a[1], x1, _mm256_loadu_ps(r.add(i + 8)));
                    }
                    i += 16;
                }
                if i + 8 <= n {
                    let x = _mm256_loadu_ps(qp.add(i));
                    for (a, r) in acc.iter_mut().zip(p) {
                        a[0] = $combine(a[0], x, _mm256_loadu_ps(r.add(i)));
                    }
                    i += 8;
                }
            }
            let mut out = acc.map(|a| hsum256(_mm256_add_ps(a[0], a[1])));
            for (o, r) in out.iter_mut().zip(rows) {
                *o += q[i..n].iter().zip(&r[i..n]).map(|(x, y)| $tail(*x, *y)).sum::<f32>();
            }
            out
        }
    };
}

avx2_x4!(dot_x4_avx2, |acc, x, y| _mm256_fmadd_ps(x, y, acc), |x: f32, y: f32| x * y);
avx2_x4!(
    l2_x4_avx2,
    |acc, x, y| {
        let d = _mm256_sub_ps(x, y);
        _mm256_fmadd_ps(d, d, acc)
    },
    |x: f32, y: f32| (x - y) * (x - y)
);

// ------------------------------------------------------------------- u8 codes × i8 query

#[target_feature(enable = "sse4.2")]
fn hsum_epi32_128(v: __m128i) -> i32 {
    let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b01_00_11_10>(v));
    let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b10_11_00_01>(v));
    _mm_cvtsi128_si32(v)
}

#[target_feature(enable = "avx2")]
fn hsum_epi32_256(v: __m256i) -> i32 {
    hsum_epi32_128(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v)))
}

/// 8 elements per step: widen to i16 and multiply-add pairs into i32 (exact).
#[target_feature(enable = "sse4.2")]
fn dot_u8_i8_sse(codes: &[u8], q: &[i8]) -> i32 {
    let n = codes.len().min(q.len());
    let mut acc = _mm_setzero_si128();
    let mut i = 0;
    // SAFETY: each 8-byte load reads i..i+8 <= n of both slices.
    unsafe {
        while i + 8 <= n {
            let c = _mm_cvtepu8_epi16(_mm_loadl_epi64(codes.as_ptr().add(i) as *const __m128i));
            let w = _mm_cvtepi8_epi16(_mm_loadl_epi64(q.as_ptr().add(i) as *const __m128i));
            acc = _mm_add_epi32(acc, _mm_madd_epi16(c, w));
            i += 8;
        }
    }
    hsum_epi32_128(acc) + scalar::dot_u8_i8(&codes[i..n], &q[i..n])
}

/// 16 elements per step, as [`dot_u8_i8_sse`] on 256-bit registers.
#[target_feature(enable = "avx2")]
fn dot_u8_i8_avx2(codes: &[u8], q: &[i8]) -> i32 {
    let n = codes.len().min(q.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    // SAFETY: each 16-byte load reads i..i+16 <= n of both slices.
    unsafe {
        while i + 16 <= n {
            let c = _mm256_cvtepu8_epi16(_mm_loadu_si128(codes.as_ptr().add(i) as *const __m128i));
            let w = _mm256_cvtepi8_epi16(_mm_loadu_si128(q.as_ptr().add(i) as *const __m128i));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(c, w));
            i += 16;
        }
    }
    hsum_epi32_256(acc) + scalar::dot_u8_i8(&codes[i..n], &q[i..n])
}

/// AVX-512BW without VNNI: 32 elements per step.
#[target_feature(enable = "avx512f,avx512bw")]
fn dot_u8_i8_avx512bw(codes: &[u8], q: &[i8]) -> i32 {
    let n = codes.len().min(q.len());
    let mut acc = _mm512_setzero_si512();
    let mut i = 0;
    // SAFETY: each 32-byte load reads i..i+32 <= n of both slices.
    unsafe {
        while i + 32 <= n {
            let c = _mm512_cvtepu8_epi16(_mm256_loadu_si256(codes.as_ptr().add(i) as *const __m256i));
            let w = _mm512_cvtepi8_epi16(_mm256_loadu_si256(q.as_ptr().add(i) as *const __m256i));
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(c, w));
            i += 32;
        }
    }
    _mm512_reduce_add_epi32(acc) + scalar::dot_u8_i8(&codes[i..n], &q[i..n])
}

/// AVX-512 VNNI: `vpdpbusd` multiplies 64 u8 × i8 pairs and adds groups of 4 into 16 i32
/// lanes per instruction; the tail is a masked load.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn dot_u8_i8_vnni(codes: &[u8], q: &[i8]) -> i32 {
    let n = codes.len().min(q.len());
    let mut acc = _mm512_setzero_si512();
    let mut i = 0;
    // SAFETY: the masked loads read only bytes i..n of both slices.
    unsafe {
        while i < n {
            let mask = mask64(n - i);
            let c = _mm512_maskz_loadu_epi8(mask, codes.as_ptr().add(i) as *const i8);
            let w = _mm512_maskz_loadu_epi8(mask, q.as_ptr().add(i));
            acc = _mm512_dpbusd_epi32(acc, c, w);
            i += 64;
        }
    }
    _mm512_reduce_add_epi32(acc)
}

/// Horizontal sums of 16 vectors of 16 i32 lanes: lane `r` of the result is the sum of
/// `a[r]`. A transposing add tree: 45 instructions for 16 rows instead of 16 reductions.
#[target_feature(enable = "avx512f")]
fn reduce16_epi32(a: &[__m512i; 16]) -> __m512i {
    // Pairs: within each 128-bit lane, [x0+x2, y0+y2, x1+x3, y1+y3].
    let t: [__m512i; 8] = std::array::from_fn(|k| {
        let (x, y) = (a[2 * k], a[2 * k + 1]);
        _mm512_add_epi32(_mm512_unpacklo_epi32(x, y), _mm512_unpackhi_epi32(x, y))
    });
    // Quads: within each 128-bit lane, the lane's partial sums of rows 4k..4k+4.
    let u: [__m512i; 4] = std::array::from_fn(|k| {
        let (x, y) = (t[2 * k], t[2 * k + 1]);
        _mm512_add_epi32(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y))
    });
    // Across 128-bit lanes: fold lanes pairwise twice, keeping rows in order.
    let fold =
        |x: __m512i, y: __m512i| _mm512_add_epi32(_mm512_shuffle_i32x4::<0b10_00_10_00>(x, y), _mm512_shuffle_i32x4::<0b11_01_11_01>(x, y));
    fold(fold(u[0], u[1]), fold(u[2], u[3]))
}

/// Batched VNNI scan: 16 rows per pass share each query load; the 16 sums are reduced
/// together by [`reduce16_epi32`].
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn dot_u8_i8_batch_vnni(q: &[i8], rows: &[u8], out: &mut [i32]) {
    let dim = q.len();
    let n = out.len().min(rows.len() / dim.max(1));
    let mut r = 0;
    while r + 16 <= n {
        let mut acc = [_mm512_setzero_si512(); 16];
        let mut i = 0;
        // SAFETY: rows r..r+16 lie inside `rows` (r + 16 <= n <= rows.len() / dim); masked
        // loads read bytes i..dim of the query and of each row only; the store writes
        // out[r..r+16] (r + 16 <= n <= out.len()).
        unsafe {
            let base = rows.as_ptr().add(r * dim);
            while i < dim {
                let mask = mask64(dim - i);
                let w = _mm512_maskz_loadu_epi8(mask, q.as_ptr().add(i));
                for (j, a) in acc.iter_mut().enumerate() {
                    let c = _mm512_maskz_loadu_epi8(mask, base.add(j * dim + i) as *const i8);
                    *a = _mm512_dpbusd_epi32(*a, c, w);
                }
                i += 64;
            }
            _mm512_storeu_si512(out.as_mut_ptr().add(r) as *mut __m512i, reduce16_epi32(&acc));
        }
        r += 16;
    }
    for k in r..n {
        out[k] = dot_u8_i8_vnni(&rows[k * dim..(k + 1) * dim], q);
    }
}

// ------------------------------------------------------------------ INT4 codes × i8 query

/// 32 elements (16 code bytes) per step: split nibbles, widen, multiply-add.
#[target_feature(enable = "avx2")]
fn dot_u4_i8_avx2(codes: &[u8], q_even: &[i8], q_odd: &[i8]) -> i32 {
    let n = codes.len().min(q_even.len()).min(q_odd.len());
    let low = _mm_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    // SAFETY: each 16-byte load reads i..i+16 <= n of the three slices.
    unsafe {
        while i + 16 <= n {
            let raw = _mm_loadu_si128(codes.as_ptr().add(i) as *const __m128i);
            let lo = _mm256_cvtepu8_epi16(_mm_and_si128(raw, low));
            let hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(raw), low));
            let e = _mm256_cvtepi8_epi16(_mm_loadu_si128(q_even.as_ptr().add(i) as *const __m128i));
            let o = _mm256_cvtepi8_epi16(_mm_loadu_si128(q_odd.as_ptr().add(i) as *const __m128i));
            acc = _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(lo, e), _mm256_madd_epi16(hi, o)));
            i += 16;
        }
    }
    hsum_epi32_256(acc) + scalar::dot_u4_i8(&codes[i..n], &q_even[i..n], &q_odd[i..n])
}

/// 128 elements (64 code bytes) per step with two `vpdpbusd`; masked tail.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn dot_u4_i8_vnni(codes: &[u8], q_even: &[i8], q_odd: &[i8]) -> i32 {
    let n = codes.len().min(q_even.len()).min(q_odd.len());
    let low = _mm512_set1_epi8(0x0F);
    let mut acc = _mm512_setzero_si512();
    let mut i = 0;
    // SAFETY: the masked loads read only bytes i..n of the three slices.
    unsafe {
        while i < n {
            let mask = mask64(n - i);
            let raw = _mm512_maskz_loadu_epi8(mask, codes.as_ptr().add(i) as *const i8);
            let lo = _mm512_and_si512(raw, low);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(raw), low);
            let e = _mm512_maskz_loadu_epi8(mask, q_even.as_ptr().add(i));
            let o = _mm512_maskz_loadu_epi8(mask, q_odd.as_ptr().add(i));
            acc = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc, lo, e), hi, o);
            i += 64;
        }
    }
    _mm512_reduce_add_epi32(acc)
}

/// Batched INT4 VNNI scan: 16 rows per pass share each query load, as in
/// [`dot_u8_i8_batch_vnni`]; each row's nibbles are split and fed to two `vpdpbusd`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn dot_u4_i8_batch_vnni(q_even: &[i8], q_odd: &[i8], rows: &[u8], out: &mut [i32]) {
    let len = q_even.len().min(q_odd.len());
    let n = out.len().min(rows.len() / q_even.len().max(1));
    let stride = q_even.len();
    let low = _mm512_set1_epi8(0x0F);
    let mut r = 0;
    while r + 16 <= n {
        let mut acc = [_mm512_setzero_si512(); 16];
        let mut i = 0;
        // SAFETY: rows r..r+16 lie inside `rows` (r + 16 <= n <= rows.len() / stride);
        // masked loads read bytes i..len of the queries and of each row only (len <=
        // stride); the store writes out[r..r+16] (r + 16 <= n <= out.len()).
        unsafe {
            let base = rows.as_ptr().add(r * stride);
            while i < len {
                let mask = mask64(len - i);
                let e = _mm512_maskz_loadu_epi8(mask, q_even.as_ptr().add(i));
                let o = _mm512_maskz_loadu_epi8(mask, q_odd.as_ptr().add(i));
                for (j, a) in acc.iter_mut().enumerate() {
                    let raw = _mm512_maskz_loadu_epi8(mask, base.add(j * stride + i) as *const i8);
                    let lo = _mm512_and_si512(raw, low);
                    let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(raw), low);
                    *a = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(*a, lo, e), hi, o);
                }
                i += 64;
            }
            _mm512_storeu_si512(out.as_mut_ptr().add(r) as *mut __m512i, reduce16_epi32(&acc));
        }
        r += 16;
    }
    for k in r..n {
        out[k] = dot_u4_i8_vnni(&rows[k * stride..(k + 1) * stride], q_even, q_odd);
    }
}

// ----------------------------------------------------------------------------- Hamming

/// Scalar loop compiled with the `popcnt` instruction.
#[target_feature(enable = "popcnt")]
fn hamming_popcnt(a: &[u64], b: &[u64]) -> u32 {
    scalar::hamming(a, b)
}

/// AVX-512 VPOPCNTDQ: 8 words per step; masked tail.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
fn hamming_vpopcntdq(a: &[u64], b: &[u64]) -> u32 {
    let n = a.len().min(b.len());
    let mut acc = _mm512_setzero_si512();
    let mut i = 0;
    // SAFETY: the masked loads read only words i..n of both slices.
    unsafe {
        while i < n {
            let mask: __mmask8 = if n - i >= 8 { 0xFF } else { ((1u32 << (n - i)) - 1) as __mmask8 };
            let x = _mm512_maskz_loadu_epi64(mask, a.as_ptr().add(i) as *const i64);
            let y = _mm512_maskz_loadu_epi64(mask, b.as_ptr().add(i) as *const i64);
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
            i += 8;
        }
    }
    _mm512_reduce_add_epi64(acc) as u32
}

// ------------------------------------------------------------------------------ PQ ADC

/// 16 sub-spaces per step with one gather from the lookup table.
#[target_feature(enable = "avx512f")]
fn pq_adc_avx512(table: &[f32], codes: &[u8]) -> f32 {
    let m = codes.len().min(table.len() / 256);
    let lanes = _mm512_setr_epi32(0, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 2560, 2816, 3072, 3328, 3584, 3840);
    let mut acc = _mm512_setzero_ps();
    let mut j = 0;
    while j < m {
        let take = (m - j).min(16);
        let mut buf = [0u8; 16];
        buf[..take].copy_from_slice(&codes[j..j + take]);
        // SAFETY: `buf` is 16 bytes; the gather reads lanes < `take` only, at index
        // (j + lane) * 256 + code < m * 256 <= table.len().
        unsafe {
            let c = _mm512_cvtepu8_epi32(_mm_loadu_si128(buf.as_ptr() as *const __m128i));
            let idx = _mm512_add_epi32(_mm512_add_epi32(lanes, _mm512_set1_epi32((j * 256) as i32)), c);
            let v = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask16(take), idx, table.as_ptr());
            acc = _mm512_add_ps(acc, v);
        }
        j += 16;
    }
    _mm512_reduce_add_ps(acc)
}

// ------------------------------------------------------- checked entry points (tables)

macro_rules! checked {
    ($($name:ident => $inner:ident ($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(
            pub(super) fn $name($($arg: $ty),*) -> $ret {
                // SAFETY: see the module docs: only stored in a table built after the
                // detection of every feature `$inner` enables.
                unsafe { $inner($($arg),*) }
            }
        )*
    };
}

checked! {
    dot_sse_checked => dot_sse(a: &[f32], b: &[f32]) -> f32;
    l2_sse_checked => l2_sse(a: &[f32], b: &[f32]) -> f32;
    dot_avx2_checked => dot_avx2(a: &[f32], b: &[f32]) -> f32;
    l2_avx2_checked => l2_avx2(a: &[f32], b: &[f32]) -> f32;
    dot_avx512_checked => dot_avx512(a: &[f32], b: &[f32]) -> f32;
    l2_avx512_checked => l2_avx512(a: &[f32], b: &[f32]) -> f32;
    dot_batch_avx512_checked => dot_batch_avx512(q: &[f32], rows: &[f32], out: &mut [f32]) -> ();
    l2_batch_avx512_checked => l2_batch_avx512(q: &[f32], rows: &[f32], out: &mut [f32]) -> ();
    dot_x4_avx2_checked => dot_x4_avx2(q: &[f32], rows: [&[f32]; 4]) -> [f32; 4];
    l2_x4_avx2_checked => l2_x4_avx2(q: &[f32], rows: [&[f32]; 4]) -> [f32; 4];
    dot_x4_avx512_checked => dot_x4_avx512(q: &[f32], rows: [&[f32]; 4]) -> [f32; 4];
    l2_x4_avx512_checked => l2_x4_avx512(q: &[f32], rows: [&[f32]; 4]) -> [f32; 4];
    dot_u8_i8_sse_checked => dot_u8_i8_sse(c: &[u8], q: &[i8]) -> i32;
    dot_u8_i8_avx2_checked => dot_u8_i8_avx2(c: &[u8], q: &[i8]) -> i32;
    dot_u8_i8_avx512bw_checked => dot_u8_i8_avx512bw(c: &[u8], q: &[i8]) -> i32;
    dot_u8_i8_vnni_checked => dot_u8_i8_vnni(c: &[u8], q: &[i8]) -> i32;
    dot_u8_i8_batch_vnni_checked => dot_u8_i8_batch_vnni(q: &[i8], rows: &[u8], out: &mut [i32]) -> ();
    dot_u4_i8_avx2_checked => dot_u4_i8_avx2(c: &[u8], e: &[i8], o: &[i8]) -> i32;
    dot_u4_i8_vnni_checked => dot_u4_i8_vnni(c: &[u8], e: &[i8], o: &[i8]) -> i32;
    dot_u4_i8_batch_vnni_checked => dot_u4_i8_batch_vnni(e: &[i8], o: &[i8], rows: &[u8], out: &mut [i32]) -> ();
    hamming_popcnt_checked => hamming_popcnt(a: &[u64], b: &[u64]) -> u32;
    hamming_vpopcntdq_checked => hamming_vpopcntdq(a: &[u64], b: &[u64]) -> u32;
    pq_adc_avx512_checked => pq_adc_avx512(t: &[f32], c: &[u8]) -> f32;
}

pub(super) fn dot_batch_sse(q: &[f32], rows: &[f32], out: &mut [f32]) {
    scalar::batch_with(dot_sse_checked, q, q.len(), rows, out)
}
pub(super) fn l2_batch_sse(q: &[f32], rows: &[f32], out: &mut [f32]) {
    scalar::batch_with(l2_sse_checked, q, q.len(), rows, out)
}
pub(super) fn dot_batch_avx2(q: &[f32], rows: &[f32], out: &mut [f32]) {
    scalar::batch_with(dot_avx2_checked, q, q.len(), rows, out)
}
pub(super) fn l2_batch_avx2(q: &[f32], rows: &[f32], out: &mut [f32]) {
    scalar::batch_with(l2_avx2_checked, q, q.len(), rows, out)
}

/// Row-at-a-time batch over a single-row u8 kernel.
macro_rules! u8_batch {
    ($($name:ident => $single:ident;)*) => {
        $(
            pub(super) fn $name(q: &[i8], rows: &[u8], out: &mut [i32]) {
                for (o, r) in out.iter_mut().zip(rows.chunks_exact(q.len().max(1))) {
                    *o = $single(r, q);
                }
            }
        )*
    };
}

u8_batch! {
    dot_u8_i8_batch_sse => dot_u8_i8_sse_checked;
    dot_u8_i8_batch_avx2 => dot_u8_i8_avx2_checked;
    dot_u8_i8_batch_avx512bw => dot_u8_i8_avx512bw_checked;
}

pub(super) fn dot_u4_i8_batch_avx2(q_even: &[i8], q_odd: &[i8], rows: &[u8], out: &mut [i32]) {
    for (o, r) in out.iter_mut().zip(rows.chunks_exact(q_even.len().max(1))) {
        *o = dot_u4_i8_avx2_checked(r, q_even, q_odd);
    }
}

/// Hints the CPU to fetch the cache line holding `p` (no effect on correctness).
#[inline(always)]
pub(super) fn prefetch(p: *const u8) {
    // SAFETY: prefetch is a hint; it never faults, even for an invalid address. SSE is
    // part of the x86_64 baseline.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) }
}
