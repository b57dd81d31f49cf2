//! Portable scalar kernels: the reference every SIMD kernel is tested against, and the
//! fallback on CPUs without SIMD (or with the `noasm` feature).

/// Inner product of the common prefix of `a` and `b` (4 accumulators so the compiler can
/// vectorise).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
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

/// Squared L2 distance of the common prefix of `a` and `b`.
pub(crate) fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
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
pub(crate) fn batch_with<Q: ?Sized, R, O>(single: fn(&Q, &[R]) -> O, q: &Q, dim: usize, rows: &[R], out: &mut [O]) {
    for (o, r) in out.iter_mut().zip(rows.chunks_exact(dim.max(1))) {
        *o = single(q, r);
    }
}

pub(crate) fn dot_batch(q: &[f32], rows: &[f32], out: &mut [f32]) {
    batch_with(dot, q, q.len(), rows, out)
}

pub(crate) fn l2_batch(q: &[f32], rows: &[f32], out: &mut [f32]) {
    batch_with(l2_sq, q, q.len(), rows, out)
}

/// `sum(codes[i] * q[i])` over the common prefix, exact in i32 for up to 65,536 elements.
pub(crate) fn dot_u8_i8(codes: &[u8], q: &[i8]) -> i32 {
    codes.iter().zip(q).map(|(&c, &w)| c as i32 * w as i32).sum()
}

pub(crate) fn dot_u8_i8_batch(q: &[i8], rows: &[u8], out: &mut [i32]) {
    for (o, r) in out.iter_mut().zip(rows.chunks_exact(q.len().max(1))) {
        *o = dot_u8_i8(r, q);
    }
}

/// INT4 dot product: byte `j` of `codes` holds element `2j` in its low nibble and element
/// `2j + 1` in its high nibble; `q_even[j]` and `q_odd[j]` are the matching query weights.
pub(crate) fn dot_u4_i8(codes: &[u8], q_even: &[i8], q_odd: &[i8]) -> i32 {
    codes.iter().zip(q_even.iter().zip(q_odd)).map(|(&c, (&e, &o))| (c & 0x0F) as i32 * e as i32 + (c >> 4) as i32 * o as i32).sum()
}

pub(crate) fn dot_u4_i8_batch(q_even: &[i8], q_odd: &[i8], rows: &[u8], out: &mut [i32]) {
    for (o, r) in out.iter_mut().zip(rows.chunks_exact(q_even.len().max(1))) {
        *o = dot_u4_i8(r, q_even, q_odd);
    }
}

/// Number of differing bits of the common prefix of `a` and `b`.
pub(crate) fn hamming(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// PQ asymmetric distance: `sum_j table[j * 256 + codes[j]]` over the sub-spaces `j` that
/// both have a code and a full 256-entry table row (`table` holds `m × 256` partial
/// distances, `codes` has `m` bytes).
pub(crate) fn pq_adc(table: &[f32], codes: &[u8]) -> f32 {
    let codes = &codes[..codes.len().min(table.len() / 256)];
    let mut acc = [0f32; 4];
    let mut chunks = codes.chunks_exact(4);
    let mut j = 0;
    for c in chunks.by_ref() {
        for i in 0..4 {
            acc[i] += table[(j + i) * 256 + c[i] as usize];
        }
        j += 4;
    }
    let tail: f32 = chunks.remainder().iter().enumerate().map(|(i, &c)| table[(j + i) * 256 + c as usize]).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}
