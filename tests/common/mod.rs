//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use stratovec::{BlobStore, LocalStore};

/// Runs a future to completion on this thread.
pub fn block<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// `n × dim` deterministic pseudo-random values in [-1, 1) (xorshift).
pub fn vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n * dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// A `LocalStore` over `dir`.
pub fn local(dir: &std::path::Path) -> Arc<dyn BlobStore> {
    Arc::new(LocalStore::open(dir).unwrap())
}
