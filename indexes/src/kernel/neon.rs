//! aarch64 NEON kernels (NEON is part of the aarch64 baseline, so no detection is needed).
//!
//! Unverified on the x86_64 development machine: this module is not compiled there. The
//! kernel proptests in `kernel/mod.rs` run every available table, this one included, when
//! the crate is tested on an aarch64 host.
// One of the modules where `unsafe` is allowed (see the workspace lints); every block has a
// `// SAFETY:` comment.
#![allow(unsafe_code)]

use std::arch::aarch64::*;

use super::{scalar, KernelTable};

pub(super) fn table() -> KernelTable {
    KernelTable {
        name: "neon",
        dot,
        l2_sq,
        dot_batch,
        l2_batch,
        dot_x4: None,
        l2_x4: None,
        dot_u8_i8,
        dot_u8_i8_batch,
        dot_u4_i8: scalar::dot_u4_i8,
        dot_u4_i8_batch: scalar::dot_u4_i8_batch,
        hamming,
        pq_adc: scalar::pq_adc,
    }
}

macro_rules! neon_kernel {
    ($name:ident, $combine:expr, $tail:expr) => {
        fn $name(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut i = 0;
            // SAFETY: each load reads 4 floats at i..i+4 <= n (n <= both lengths).
            let mut s = unsafe {
                let mut acc = [vdupq_n_f32(0.0); 4];
                while i + 16 <= n {
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = $combine(*a, vld1q_f32(pa.add(i + 4 * j)), vld1q_f32(pb.add(i + 4 * j)));
                    }
                    i += 16;
                }
                while i + 4 <= n {
                    acc[0] = $combine(acc[0], vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)));
                    i += 4;
                }
                vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])))
            };
            for k in i..n {
                s += $tail(a[k], b[k]);
            }
            s
        }
    };
}

neon_kernel!(dot, |acc, x, y| vfmaq_f32(acc, x, y), |x: f32, y: f32| x * y);
neon_kernel!(
    l2_sq,
    |acc, x, y| {
        let d = vsubq_f32(x, y);
        vfmaq_f32(acc, d, d)
    },
    |x: f32, y: f32| (x - y) * (x - y)
);

fn dot_batch(q: &[f32], rows: &[f32], out: &mut [f32]) {
    scalar::batch_with(dot, q, q.len(), rows, out)
}

fn l2_batch(q: &[f32], rows: &[f32], out: &mut [f32]) {
    scalar::batch_with(l2_sq, q, q.len(), rows, out)
}

/// 8 elements per step: widen to i16, multiply-accumulate long into i32 lanes (exact).
fn dot_u8_i8(codes: &[u8], q: &[i8]) -> i32 {
    let n = codes.len().min(q.len());
    let mut i = 0;
    // SAFETY: each 8-byte load reads i..i+8 <= n of both slices.
    let s = unsafe {
        let mut acc = vdupq_n_s32(0);
        while i + 8 <= n {
            let c = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(codes.as_ptr().add(i))));
            let w = vmovl_s8(vld1_s8(q.as_ptr().add(i)));
            acc = vmlal_s16(acc, vget_low_s16(c), vget_low_s16(w));
            acc = vmlal_high_s16(acc, c, w);
            i += 8;
        }
        vaddvq_s32(acc)
    };
    s + scalar::dot_u8_i8(&codes[i..n], &q[i..n])
}

fn dot_u8_i8_batch(q: &[i8], rows: &[u8], out: &mut [i32]) {
    for (o, r) in out.iter_mut().zip(rows.chunks_exact(q.len().max(1))) {
        *o = dot_u8_i8(r, q);
    }
}

/// 2 words per step: `cnt` counts bits per byte, `uaddlv` sums them.
fn hamming(a: &[u64], b: &[u64]) -> u32 {
    let n = a.len().min(b.len());
    let mut i = 0;
    let mut s = 0u32;
    // SAFETY: each load reads words i..i+2 <= n of both slices.
    unsafe {
        while i + 2 <= n {
            let x = veorq_u64(vld1q_u64(a.as_ptr().add(i)), vld1q_u64(b.as_ptr().add(i)));
            s += vaddlvq_u8(vcntq_u8(vreinterpretq_u8_u64(x))) as u32;
            i += 2;
        }
    }
    s + scalar::hamming(&a[i..n], &b[i..n])
}
