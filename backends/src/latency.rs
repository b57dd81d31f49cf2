//! [`LatencyStore`]: a decorator that adds a fixed round-trip time to every request, to
//! measure how a database behaves over a network (a local moto or directory made to look
//! like S3 across a region).

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{BlobStore, ObjectMeta, RandomAccess, StoreError};

/// Wraps a [`BlobStore`] and waits `rtt` (without blocking the thread: a timer future)
/// before each request. Counts requests and *rounds*: a round starts whenever a request
/// starts while no other is in flight, so for one client doing one thing at a time, rounds
/// are its sequential round trips. `random_access` returns `None` (like an object store),
/// so positional reads go through the engine's cache.
#[derive(Debug, Clone)]
pub struct LatencyStore {
    inner: Arc<dyn BlobStore>,
    rtt: Duration,
    counters: Arc<LatencyCounters>,
}

#[derive(Debug, Default)]
struct LatencyCounters {
    requests: AtomicU64,
    rounds: AtomicU64,
    in_flight: AtomicU64,
    bytes_read: AtomicU64,
}

/// What a [`LatencyStore`] has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyStats {
    /// Requests of any kind.
    pub requests: u64,
    /// Requests that started with no other in flight (sequential round trips).
    pub rounds: u64,
    /// Bytes returned by `get` and `get_range`.
    pub bytes_read: u64,
}

impl LatencyStats {
    /// `self - earlier`, counter by counter.
    pub fn since(&self, earlier: &LatencyStats) -> LatencyStats {
        LatencyStats {
            requests: self.requests - earlier.requests,
            rounds: self.rounds - earlier.rounds,
            bytes_read: self.bytes_read - earlier.bytes_read,
        }
    }
}

impl LatencyStore {
    /// `inner` with `rtt` added to every request.
    pub fn new(inner: Arc<dyn BlobStore>, rtt: Duration) -> Self {
        LatencyStore { inner, rtt, counters: Arc::default() }
    }

    /// Counters so far.
    pub fn stats(&self) -> LatencyStats {
        let c = &self.counters;
        LatencyStats {
            requests: c.requests.load(Ordering::SeqCst),
            rounds: c.rounds.load(Ordering::SeqCst),
            bytes_read: c.bytes_read.load(Ordering::SeqCst),
        }
    }

    async fn call<T>(&self, f: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        let c = &self.counters;
        c.requests.fetch_add(1, Ordering::SeqCst);
        if c.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            c.rounds.fetch_add(1, Ordering::SeqCst);
        }
        futures_timer::Delay::new(self.rtt).await;
        let out = f.await;
        c.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }

    fn read(&self, b: Result<Bytes, StoreError>) -> Result<Bytes, StoreError> {
        if let Ok(b) = &b {
            self.counters.bytes_read.fetch_add(b.len() as u64, Ordering::SeqCst);
        }
        b
    }
}

#[async_trait]
impl BlobStore for LatencyStore {
    fn identity(&self) -> String {
        self.inner.identity()
    }

    async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        let b = self.call(self.inner.get(path)).await;
        self.read(b)
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let b = self.call(self.inner.get_range(path, range)).await;
        self.read(b)
    }

    async fn random_access(&self, _path: &str) -> Result<Option<Arc<dyn RandomAccess>>, StoreError> {
        Ok(None)
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        self.call(self.inner.put(path, data)).await
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        self.call(self.inner.put_if_absent(path, data)).await
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.call(self.inner.delete(path)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.call(self.inner.list(prefix)).await
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError> {
        self.call(self.inner.head(path)).await
    }
}
