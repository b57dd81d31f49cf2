//! Criterion benchmarks of every distance kernel this CPU supports, at 50/128/384/768/1536
//! dimensions: one pair (ns per distance) for f32 dot/L2 and the code kernels (SQ8 u8×i8,
//! INT4, binary Hamming, PQ ADC with m = dim/2 sub-spaces), and 4,096-row batch scans of f32
//! and SQ8 codes (throughput in bytes of rows read).
//! Run: `cargo bench -p stratovec-indexes --bench kernels` (add a filter such as `avx512`
//! or `d768` to run fewer).
#![allow(missing_docs, clippy::unwrap_used)] // a benchmark: criterion's macros, and panics are failures

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stratovec_indexes::KernelTable;

const ROWS: usize = 4096;

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / (1u32 << 24) as f32 - 0.5).collect()
}

fn bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 24) as u8).collect()
}

fn signed(n: usize, seed: u32) -> Vec<i8> {
    bytes(n, seed).into_iter().map(|b| (b as i8) / 2).collect()
}

fn f32_kernels(c: &mut Criterion, dim: usize) {
    let (a, b) = (data(dim, 1), data(dim, 2));
    let rows = data(dim * ROWS, 3);
    let mut out = vec![0f32; ROWS];
    let mut pair = c.benchmark_group(format!("pair/d{dim}"));
    for t in KernelTable::available() {
        pair.bench_function(BenchmarkId::new("dot", t.name), |bn| bn.iter(|| (t.dot)(black_box(&a), black_box(&b))));
        pair.bench_function(BenchmarkId::new("l2", t.name), |bn| bn.iter(|| (t.l2_sq)(black_box(&a), black_box(&b))));
    }
    pair.finish();
    let mut scan = c.benchmark_group(format!("scan4096/d{dim}"));
    scan.throughput(Throughput::Bytes((ROWS * dim * 4) as u64));
    for t in KernelTable::available() {
        scan.bench_function(BenchmarkId::new("dot_batch", t.name), |bn| {
            bn.iter(|| (t.dot_batch)(black_box(&a), black_box(&rows), &mut out))
        });
    }
    scan.finish();
}

fn code_kernels(c: &mut Criterion, dim: usize) {
    let (codes, q) = (bytes(dim, 4), signed(dim, 5));
    let half = dim.div_ceil(2);
    let (packed, q_even, q_odd) = (bytes(half, 6), signed(half, 7), signed(half, 8));
    let words = dim.div_ceil(64);
    let (x, y) = (bytes(words * 8, 9), bytes(words * 8, 10));
    let (x, y): (Vec<u64>, Vec<u64>) = (
        x.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect(),
        y.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect(),
    );
    let (table, pq_codes) = (data(half * 256, 11), bytes(half, 12));
    let mut pair = c.benchmark_group(format!("codes/d{dim}"));
    for t in KernelTable::available() {
        pair.bench_function(BenchmarkId::new("sq8_u8xi8", t.name), |bn| bn.iter(|| (t.dot_u8_i8)(black_box(&codes), black_box(&q))));
        pair.bench_function(BenchmarkId::new("int4", t.name), |bn| {
            bn.iter(|| (t.dot_u4_i8)(black_box(&packed), black_box(&q_even), black_box(&q_odd)))
        });
        pair.bench_function(BenchmarkId::new("hamming", t.name), |bn| bn.iter(|| (t.hamming)(black_box(&x), black_box(&y))));
        pair.bench_function(BenchmarkId::new("pq_adc", t.name), |bn| bn.iter(|| (t.pq_adc)(black_box(&table), black_box(&pq_codes))));
    }
    pair.finish();
    let rows = bytes(dim * ROWS, 13);
    let mut out = vec![0i32; ROWS];
    let mut scan = c.benchmark_group(format!("scan4096/d{dim}"));
    scan.throughput(Throughput::Bytes((ROWS * dim) as u64));
    for t in KernelTable::available() {
        scan.bench_function(BenchmarkId::new("sq8_batch", t.name), |bn| {
            bn.iter(|| (t.dot_u8_i8_batch)(black_box(&q), black_box(&rows), &mut out))
        });
    }
    scan.finish();
}

fn kernels(c: &mut Criterion) {
    for dim in [50usize, 128, 384, 768, 1536] {
        f32_kernels(c, dim);
        code_kernels(c, dim);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(20);
    targets = kernels
}
criterion_main!(benches);
