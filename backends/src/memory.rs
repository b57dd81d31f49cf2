use std::collections::BTreeMap;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::RwLock;

use crate::blob::check_range;
use crate::{validate_path, BlobStore, ObjectMeta, StoreError};

/// A [`BlobStore`] in memory: a sorted map from path to bytes. Cloning the bytes is O(1).
/// Useful for tests, ephemeral databases, and as the model of a custom backend.
#[derive(Debug)]
pub struct MemoryStore {
    objects: RwLock<BTreeMap<String, Bytes>>,
    /// Unique per instance in this process (its [`BlobStore::identity`]).
    id: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        MemoryStore { objects: RwLock::default(), id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total bytes stored.
    pub fn total_bytes(&self) -> u64 {
        self.objects.read().values().map(|b| b.len() as u64).sum()
    }
}

#[async_trait]
impl BlobStore for MemoryStore {
    fn identity(&self) -> String {
        format!("memory://{}", self.id)
    }

    async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        validate_path(path)?;
        self.objects.read().get(path).cloned().ok_or_else(|| StoreError::NotFound(path.to_string()))
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let all = self.get(path).await?;
        check_range(path, &range, all.len() as u64)?;
        Ok(all.slice(range.start as usize..range.end as usize))
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        validate_path(path)?;
        self.objects.write().insert(path.to_string(), data);
        Ok(())
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        validate_path(path)?;
        let mut objects = self.objects.write();
        if objects.contains_key(path) {
            return Err(StoreError::AlreadyExists(path.to_string()));
        }
        objects.insert(path.to_string(), data);
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        validate_path(path)?;
        self.objects.write().remove(path);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let objects = self.objects.read();
        Ok(objects.range(prefix.to_string()..).take_while(|(k, _)| k.starts_with(prefix)).map(|(k, _)| k.clone()).collect())
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError> {
        let b = self.get(path).await?;
        Ok(ObjectMeta { path: path.to_string(), size: b.len() as u64 })
    }
}
