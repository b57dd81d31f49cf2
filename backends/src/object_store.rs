//! [`ObjectStoreAdapter`]: a [`BlobStore`] over any `Arc<dyn object_store::ObjectStore>`
//! (feature `object-store`), e.g. `AmazonS3`, `GoogleCloudStorage`, `MicrosoftAzure` or
//! `InMemory` from the `object_store` crate.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};

use crate::blob::read_range;
use crate::bridge::Bridge;
use crate::{validate_path, BlobStore, ObjectMeta, StoreError};

/// Objects larger than this are written as multipart uploads by default (bytes).
pub const DEFAULT_MULTIPART_THRESHOLD: usize = 16 << 20;
/// Part size of multipart uploads (bytes; S3 needs at least 5 MiB).
const PART_BYTES: usize = 8 << 20;
/// Parts uploaded at once.
const PART_CONCURRENCY: usize = 4;

/// A [`BlobStore`] over an `object_store` implementation.
///
/// Create-only writes use `PutMode::Create`; a store without it returns
/// [`StoreError::Rejected`]. Calls run on the tokio runtime current when the adapter is made,
/// or on a 2-thread runtime of the crate's own.
///
/// ```
/// use std::sync::Arc;
/// let store = stratovec_backends::ObjectStoreAdapter::new(Arc::new(object_store::memory::InMemory::new())).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct ObjectStoreAdapter {
    inner: Arc<dyn ObjectStore>,
    bridge: Bridge,
    multipart_threshold: usize,
}

impl ObjectStoreAdapter {
    /// Wraps `inner`, writing objects above [`DEFAULT_MULTIPART_THRESHOLD`] in parts.
    ///
    /// # Errors
    /// `Rejected` if no tokio runtime is current and none can be started.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Result<Self, StoreError> {
        Ok(ObjectStoreAdapter { inner, bridge: Bridge::shared()?, multipart_threshold: DEFAULT_MULTIPART_THRESHOLD })
    }

    /// Objects larger than `bytes` are uploaded in 8 MiB parts, 4 at a time.
    pub fn with_multipart_threshold(mut self, bytes: usize) -> Self {
        self.multipart_threshold = bytes.max(1);
        self
    }
}

/// Maps an `object_store` error on `path`: `Generic` errors (network, 5xx, throttling) are
/// `Unavailable`; permission, authentication and unsupported operations `Rejected`.
fn map_err(path: &str, e: object_store::Error) -> StoreError {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } => StoreError::NotFound(path.to_string()),
        E::AlreadyExists { .. } | E::Precondition { .. } => StoreError::AlreadyExists(path.to_string()),
        E::InvalidPath { .. } => StoreError::InvalidPath(path.to_string()),
        E::Generic { .. } | E::JoinError { .. } => StoreError::Unavailable(format!("{path}: {e}")),
        other => StoreError::Rejected(format!("{path}: {other}")),
    }
}

#[async_trait]
impl BlobStore for ObjectStoreAdapter {
    fn identity(&self) -> String {
        self.inner.to_string()
    }

    async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        validate_path(path)?;
        let (s, p) = (self.inner.clone(), path.to_string());
        self.bridge
            .run(async move {
                let r = s.get(&Path::from(p.as_str())).await.map_err(|e| map_err(&p, e))?;
                r.bytes().await.map_err(|e| map_err(&p, e))
            })
            .await
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        validate_path(path)?;
        let (s, p, r) = (self.inner.clone(), path.to_string(), range.clone());
        // A range past the end is refused or cut short; `read_range` tells which.
        let read = self.bridge.run(async move {
            match s.get_range(&Path::from(p.as_str()), r).await {
                Ok(b) => Ok(Ok(b)),
                Err(object_store::Error::NotFound { .. }) => Err(StoreError::NotFound(p)),
                Err(e) => Ok(Err(map_err(&p, e))),
            }
        });
        read_range(self, path, range, read).await
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        validate_path(path)?;
        let (s, p, threshold) = (self.inner.clone(), path.to_string(), self.multipart_threshold);
        self.bridge
            .run(async move {
                let key = Path::from(p.as_str());
                if data.len() <= threshold {
                    return s.put(&key, PutPayload::from(data)).await.map(|_| ()).map_err(|e| map_err(&p, e));
                }
                let upload = s.put_multipart(&key).await.map_err(|e| map_err(&p, e))?;
                let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
                for part in data.chunks(PART_BYTES) {
                    w.wait_for_capacity(PART_CONCURRENCY).await.map_err(|e| map_err(&p, e))?;
                    w.write(part);
                }
                w.finish().await.map(|_| ()).map_err(|e| map_err(&p, e))
            })
            .await
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        validate_path(path)?;
        let (s, p) = (self.inner.clone(), path.to_string());
        self.bridge
            .run(async move {
                let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
                s.put_opts(&Path::from(p.as_str()), PutPayload::from(data), opts).await.map(|_| ()).map_err(|e| map_err(&p, e))
            })
            .await
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        validate_path(path)?;
        let (s, p) = (self.inner.clone(), path.to_string());
        self.bridge
            .run(async move {
                match s.delete(&Path::from(p.as_str())).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(map_err(&p, e)),
                }
            })
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let (s, p) = (self.inner.clone(), prefix.to_string());
        self.bridge
            .run(async move {
                // object_store lists whole path segments: list the directory part of the
                // prefix and keep the names that start with all of it.
                let dir = p.rfind('/').map(|i| Path::from(&p[..i]));
                let metas: Vec<object_store::ObjectMeta> = s.list(dir.as_ref()).try_collect().await.map_err(|e| map_err(&p, e))?;
                let mut paths: Vec<String> =
                    metas.into_iter().map(|m| m.location.to_string()).filter(|path| path.starts_with(&p)).collect();
                paths.sort_unstable();
                Ok(paths)
            })
            .await
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError> {
        validate_path(path)?;
        let (s, p) = (self.inner.clone(), path.to_string());
        self.bridge
            .run(async move {
                let m = s.head(&Path::from(p.as_str())).await.map_err(|e| map_err(&p, e))?;
                Ok(ObjectMeta { path: p, size: m.size })
            })
            .await
    }
}
