//! Criterion benchmarks of every distance kernel this CPU supports, at 50/128/384/768
//! dimensions: one pair (ns per distance) and a 4,096-row batch scan (throughput in bytes).
//! Run: `cargo bench -p stratovec-indexes --bench kernels`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use stratovec_indexes::KernelTable;

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / (1u32 << 24) as f32 - 0.5).collect()
}

fn kernels(c: &mut Criterion) {
    const ROWS: usize = 4096;
    for dim in [50usize, 128, 384, 768] {
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
}

criterion_group!(benches, kernels);
criterion_main!(benches);
