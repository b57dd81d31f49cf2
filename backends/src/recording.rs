//! [`RecordingStore`]: a [`BlobStore`] decorator that records every write and delete, to
//! check that a database never replaces or removes an object it should not (feature
//! `test-util`).
//!
//! ```
//! use std::sync::Arc;
//! use stratovec_backends::{BlobStore, MemoryStore};
//! use stratovec_backends::recording::RecordingStore;
//! # pollster::block_on(async {
//! let store = RecordingStore::new(Arc::new(MemoryStore::new()));
//! store.put("a", "1".into()).await.unwrap();
//! store.put("a", "2".into()).await.unwrap();
//! assert_eq!(store.replaced(), vec!["a".to_string()]);
//! # });
//! ```

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;

use crate::{BlobStore, ObjectMeta, RandomAccess, StoreError};

/// One recorded write or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A `put` or `put_if_absent` that succeeded; `replaced` if an object of that path
    /// existed before it (only a `put` can replace one).
    Write {
        /// Object path.
        path: String,
        /// Whether an existing object was replaced.
        replaced: bool,
    },
    /// A `delete` that succeeded.
    Delete {
        /// Object path.
        path: String,
    },
}

/// Forwards to `inner` and records every successful write and delete, in order.
#[derive(Debug)]
pub struct RecordingStore {
    inner: Arc<dyn BlobStore>,
    log: Mutex<Vec<Recorded>>,
}

impl RecordingStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn BlobStore>) -> Self {
        RecordingStore { inner, log: Mutex::new(Vec::new()) }
    }

    /// Everything recorded so far, oldest first.
    pub fn log(&self) -> Vec<Recorded> {
        self.log.lock().clone()
    }

    /// Paths of objects that a `put` replaced, in order.
    pub fn replaced(&self) -> Vec<String> {
        let log = self.log.lock();
        log.iter()
            .filter_map(|r| match r {
                Recorded::Write { path, replaced: true } => Some(path.clone()),
                _ => None,
            })
            .collect()
    }

    /// Paths deleted, in order.
    pub fn deleted(&self) -> Vec<String> {
        let log = self.log.lock();
        log.iter()
            .filter_map(|r| match r {
                Recorded::Delete { path } => Some(path.clone()),
                _ => None,
            })
            .collect()
    }
}

#[async_trait]
impl BlobStore for RecordingStore {
    fn identity(&self) -> String {
        self.inner.identity()
    }

    async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        self.inner.get(path).await
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.inner.get_range(path, range).await
    }

    async fn random_access(&self, path: &str) -> Result<Option<Arc<dyn RandomAccess>>, StoreError> {
        self.inner.random_access(path).await
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        let existed = self.inner.head(path).await.is_ok();
        self.inner.put(path, data).await?;
        self.log.lock().push(Recorded::Write { path: path.to_string(), replaced: existed });
        Ok(())
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        self.inner.put_if_absent(path, data).await?;
        self.log.lock().push(Recorded::Write { path: path.to_string(), replaced: false });
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.inner.delete(path).await?;
        self.log.lock().push(Recorded::Delete { path: path.to_string() });
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError> {
        self.inner.head(path).await
    }
}
