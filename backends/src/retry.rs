//! [`RetryStore`]: retries transient store failures with exponential backoff and resolves
//! create-only writes whose outcome was lost.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, FuturesTimerSleeper, Retryable};
use bytes::Bytes;

use crate::{BlobStore, ObjectMeta, RandomAccess, StoreError};

/// How [`RetryStore`] retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts of one call in all, the first included (at least 1). Default 6.
    pub max_attempts: usize,
    /// Delay before the first retry; each later one doubles, with full jitter. Default 50 ms.
    pub first_delay: Duration,
    /// Longest delay between attempts. Default 2 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 6, first_delay: Duration::from_millis(50), max_delay: Duration::from_secs(2) }
    }
}

impl RetryPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1))
            .with_jitter()
    }
}

/// A [`BlobStore`] decorator that retries what [`StoreError::is_retryable`] calls transient
/// (`Unavailable`, `Io`) with exponential backoff and jitter, and never retries the rest
/// (`NotFound`, `AlreadyExists`, `Locked`, `ReadOnly`, `InvalidPath`, `InvalidRange`,
/// `Rejected`).
///
/// Every operation but `put_if_absent` is idempotent, so retrying it is safe. A
/// create-only write whose first attempt failed without an answer may in fact have been
/// written; when a retry then meets `AlreadyExists`, the object is read back and the write
/// counts as done if it holds exactly the bytes this call wrote. stratovec's manifests
/// carry the writer's epoch (unique per writer), so equal bytes identify the writer.
///
/// Delays run on a timer thread (`futures-timer`), so any executor can drive the store.
#[derive(Debug)]
pub struct RetryStore {
    inner: Arc<dyn BlobStore>,
    policy: RetryPolicy,
    retries: AtomicU64,
    resolved: AtomicU64,
}

impl RetryStore {
    /// Wraps `inner` with `policy`.
    pub fn new(inner: Arc<dyn BlobStore>, policy: RetryPolicy) -> Self {
        RetryStore { inner, policy, retries: AtomicU64::new(0), resolved: AtomicU64::new(0) }
    }

    /// Retries made so far (attempts after a transient failure).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Create-only writes found to have succeeded by reading the object back after a lost
    /// response.
    pub fn resolved_ambiguous(&self) -> u64 {
        self.resolved.load(Ordering::Relaxed)
    }

    fn note_retry(&self, _: &StoreError, _: Duration) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `$call` (an expression awaiting the inner store) with the store's retry policy.
macro_rules! retried {
    ($self:ident, $call:expr) => {
        (|| async { $call })
            .retry($self.policy.backoff())
            .sleep(FuturesTimerSleeper)
            .when(StoreError::is_retryable)
            .notify(|e, d| $self.note_retry(e, d))
            .await
    };
}

#[async_trait]
impl BlobStore for RetryStore {
    fn identity(&self) -> String {
        self.inner.identity()
    }

    async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        retried!(self, self.inner.get(path).await)
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        retried!(self, self.inner.get_range(path, range.clone()).await)
    }

    async fn random_access(&self, path: &str) -> Result<Option<Arc<dyn RandomAccess>>, StoreError> {
        retried!(self, self.inner.random_access(path).await)
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        retried!(self, self.inner.put(path, data.clone()).await)
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        let failed_before = AtomicBool::new(false);
        let r = (|| async { self.inner.put_if_absent(path, data.clone()).await })
            .retry(self.policy.backoff())
            .sleep(FuturesTimerSleeper)
            .when(StoreError::is_retryable)
            .notify(|e, d| {
                failed_before.store(true, Ordering::Relaxed);
                self.note_retry(e, d);
            })
            .await;
        match r {
            Err(StoreError::AlreadyExists(p)) if failed_before.load(Ordering::Relaxed) => {
                let stored = retried!(self, self.inner.get(path).await)?;
                if stored == data {
                    self.resolved.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                } else {
                    Err(StoreError::AlreadyExists(p))
                }
            }
            r => r,
        }
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        retried!(self, self.inner.delete(path).await)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        retried!(self, self.inner.list(prefix).await)
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError> {
        retried!(self, self.inner.head(path).await)
    }
}
