//! A [`BlobStore`] decorator that records every request of the engine to its store:
//! `stratovec_store_requests_total{op}`, `stratovec_store_errors_total{op,error}`,
//! `stratovec_store_bytes_total{op}` (bytes read or written) and
//! `stratovec_store_request_duration_seconds{op}`. The engine wraps the store it is given
//! at open and create; positional readers (mmap, pread, io_uring) pass through unmetered.

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use ::metrics::{counter, histogram, Label};
use bytes::Bytes;
use stratovec_backends::{async_trait, BlobStore, ObjectMeta, RandomAccess, StoreError};

use crate::DbOptions;

/// Store requests by operation.
pub const STORE_REQUESTS_TOTAL: &str = "stratovec_store_requests_total";
/// Failed store requests by operation and error.
pub const STORE_ERRORS_TOTAL: &str = "stratovec_store_errors_total";
/// Bytes read (`get`, `get_range`) or written (`put`, `put_if_absent`) by operation.
pub const STORE_BYTES_TOTAL: &str = "stratovec_store_bytes_total";
/// Store request latency by operation.
pub const STORE_REQUEST_DURATION_SECONDS: &str = "stratovec_store_request_duration_seconds";

/// `store`, metered with the `db` label of `options`.
pub(crate) fn metered(store: Arc<dyn BlobStore>, options: &DbOptions) -> Arc<dyn BlobStore> {
    let labels = options.name.iter().map(|n| Label::new("db", n.clone())).collect();
    Arc::new(MeteredStore { inner: store, labels })
}

#[derive(Debug)]
struct MeteredStore {
    inner: Arc<dyn BlobStore>,
    labels: Vec<Label>,
}

impl MeteredStore {
    fn labels(&self, op: &'static str) -> Vec<Label> {
        let mut l = self.labels.clone();
        l.push(Label::new("op", op));
        l
    }

    fn record<T>(&self, op: &'static str, started: Instant, bytes: u64, r: &Result<T, StoreError>) {
        let labels = self.labels(op);
        counter!(STORE_REQUESTS_TOTAL, labels.clone()).increment(1);
        histogram!(STORE_REQUEST_DURATION_SECONDS, labels.clone()).record(started.elapsed().as_secs_f64());
        match r {
            Ok(_) if bytes > 0 => counter!(STORE_BYTES_TOTAL, labels).increment(bytes),
            Ok(_) => {}
            Err(e) => {
                let mut labels = labels;
                labels.push(Label::new("error", error_name(e)));
                counter!(STORE_ERRORS_TOTAL, labels).increment(1);
            }
        }
    }
}

fn error_name(e: &StoreError) -> &'static str {
    match e {
        StoreError::NotFound(_) => "not_found",
        StoreError::AlreadyExists(_) => "already_exists",
        StoreError::Locked(_) => "locked",
        StoreError::ReadOnly => "read_only",
        StoreError::InvalidPath(_) => "invalid_path",
        StoreError::InvalidRange { .. } => "invalid_range",
        StoreError::Io { .. } => "io",
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Rejected(_) => "rejected",
        #[allow(unreachable_patterns)] // the enum may grow
        _ => "other",
    }
}

#[async_trait]
impl BlobStore for MeteredStore {
    async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        let t = Instant::now();
        let r = self.inner.get(path).await;
        self.record("get", t, r.as_ref().map_or(0, |b| b.len() as u64), &r);
        r
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let t = Instant::now();
        let r = self.inner.get_range(path, range).await;
        self.record("get_range", t, r.as_ref().map_or(0, |b| b.len() as u64), &r);
        r
    }

    async fn random_access(&self, path: &str) -> Result<Option<Arc<dyn RandomAccess>>, StoreError> {
        self.inner.random_access(path).await
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        let (t, n) = (Instant::now(), data.len() as u64);
        let r = self.inner.put(path, data).await;
        self.record("put", t, n, &r);
        r
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        let (t, n) = (Instant::now(), data.len() as u64);
        let r = self.inner.put_if_absent(path, data).await;
        self.record("put_if_absent", t, n, &r);
        r
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.delete(path).await;
        self.record("delete", t, 0, &r);
        r
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let t = Instant::now();
        let r = self.inner.list(prefix).await;
        self.record("list", t, 0, &r);
        r
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError> {
        let t = Instant::now();
        let r = self.inner.head(path).await;
        self.record("head", t, 0, &r);
        r
    }

    fn identity(&self) -> String {
        self.inner.identity()
    }
}
