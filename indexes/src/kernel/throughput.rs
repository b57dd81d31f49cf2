//! Measured speed of the batch and 4-row kernels, for the calibration of the kernel table,
//! `stratovec kernels` and the CI check that the chosen table is never slower than the
//! scalar one.

use std::time::Instant;

/// A batch kernel: `f(query, rows, out)` (see [`super::KernelTable::dot_batch`]).
pub type BatchKernel = fn(&[f32], &[f32], &mut [f32]);

/// GB/s of row data that `batch` scores over `bytes` of synthetic rows of `dim` values
/// (at least 64 rows), scanned in blocks of 256 rows as an exact scan does: the best of
/// `repeats` passes, each repeating the scan for at least 2 ms. A few hundred KiB measure
/// the kernel on cached rows; tens of MiB, rows streamed from memory.
pub fn batch_gbps(batch: BatchKernel, dim: usize, bytes: usize, repeats: usize) -> f64 {
    let dim = dim.max(1);
    let (data, query) = synthetic((bytes / (dim * 4)).max(64), dim);
    let mut out = [0f32; 256];
    best_gbps(data.len() * 4, repeats, || {
        for block in data.chunks(256 * dim) {
            let out = &mut out[..block.len() / dim];
            batch(&query, block, out);
            std::hint::black_box(&*out);
        }
    })
}

/// GB/s of row data that the 4-row kernel `x4` ([`super::KernelTable::dot_x4`]) scores
/// over `bytes` of synthetic rows of `dim` values (at least 64 rows), taken 4 at a time in
/// a scattered order as a graph search takes a node's neighbours: the best of `repeats`
/// passes, each repeating the rows for at least 2 ms.
pub fn x4_gbps(x4: super::X4, dim: usize, bytes: usize, repeats: usize) -> f64 {
    let dim = dim.max(1);
    let rows = (bytes / (dim * 4)).max(64) / 4 * 4;
    let (data, query) = synthetic(rows, dim);
    // Row k * 7,919 mod rows: a fixed, scattered order.
    let order: Vec<usize> = (0..rows).map(|k| k * 7_919 % rows).collect();
    let row = |r: usize| &data[r * dim..(r + 1) * dim];
    best_gbps(data.len() * 4, repeats, || {
        for quad in order.chunks_exact(4) {
            std::hint::black_box(x4(&query, [row(quad[0]), row(quad[1]), row(quad[2]), row(quad[3])]));
        }
    })
}

/// `rows × dim` synthetic values, row-major, and a query of `dim` values.
fn synthetic(rows: usize, dim: usize) -> (Vec<f32>, Vec<f32>) {
    let data = (0..rows * dim).map(|i| (i % 97) as f32 * 0.01 - 0.5).collect();
    let query = (0..dim).map(|i| (i % 13) as f32 * 0.1 - 0.6).collect();
    (data, query)
}

/// GB/s when one call of `pass` scores `bytes` of rows: the best of `repeats` measurements,
/// each repeating `pass` for at least 2 ms.
fn best_gbps(bytes: usize, repeats: usize, mut pass: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let mut passes = 0u32;
        while passes == 0 || started.elapsed().as_micros() < 2_000 {
            pass();
            passes += 1;
        }
        best = best.min(started.elapsed().as_secs_f64() / f64::from(passes));
    }
    bytes as f64 / best / 1e9
}

/// How fast this process's exact scans read rows ([`scan_speed`]), in GB/s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanSpeed {
    /// Rows in cache (256 KiB of 128-dimensional rows).
    pub cached_gbps: f64,
    /// Rows streamed from memory (48 MiB of 128-dimensional rows).
    pub memory_gbps: f64,
}

/// The chosen table's `l2_batch` ([`super::kernels`]) measured once per process at 128
/// dimensions on cached and streamed rows (about 40 ms, at the first call; later calls
/// return the same numbers).
pub fn scan_speed() -> ScanSpeed {
    static SPEED: std::sync::OnceLock<ScanSpeed> = std::sync::OnceLock::new();
    *SPEED.get_or_init(|| {
        let l2 = super::kernels().l2_batch;
        ScanSpeed { cached_gbps: batch_gbps(l2, 128, 256 << 10, 3), memory_gbps: batch_gbps(l2, 128, 48 << 20, 1) }
    })
}
