use std::fmt::Debug;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;

use crate::StoreError;

/// Size (and name) of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Object path relative to the store root.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// Immutable-object storage: the one trait a new storage backend implements.
///
/// Paths are relative, `/`-separated, with no empty, `.` or `..` components (see
/// [`validate_path`]). Objects are written whole and never modified in place.
/// Implementations must be safe to share between threads.
#[async_trait]
pub trait BlobStore: Send + Sync + Debug {
    /// The whole object.
    ///
    /// # Errors
    /// `NotFound`, `InvalidPath`, `Io`/`Unavailable`.
    async fn get(&self, path: &str) -> Result<Bytes, StoreError>;

    /// Bytes `range.start..range.end` of the object.
    ///
    /// # Errors
    /// `InvalidRange` if the range is reversed or ends past the object, plus those of `get`.
    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError>;

    /// Positional reads of the object without loading it, for indexes that read small
    /// parts on demand (DiskANN nodes). `None` (the default) means the store has no
    /// cheaper way than [`BlobStore::get`]; `LocalStore` returns a `pread` reader.
    ///
    /// # Errors
    /// As `get`.
    async fn random_access(&self, path: &str) -> Result<Option<std::sync::Arc<dyn crate::RandomAccess>>, StoreError> {
        let _ = path;
        Ok(None)
    }

    /// Writes the object atomically (readers see the old or the new object, never a part),
    /// replacing any existing one. Durable when it returns.
    ///
    /// # Errors
    /// `ReadOnly`, `InvalidPath`, `Io`/`Unavailable`.
    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError>;

    /// Like `put`, but only if no object has this path; exactly one of concurrent callers
    /// succeeds.
    ///
    /// # Errors
    /// `AlreadyExists` if the object exists, plus those of `put`.
    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StoreError>;

    /// Deletes the object; deleting a missing object succeeds.
    ///
    /// # Errors
    /// `ReadOnly`, `InvalidPath`, `Io`/`Unavailable`.
    async fn delete(&self, path: &str) -> Result<(), StoreError>;

    /// Paths of all objects whose path starts with `prefix`, sorted ascending.
    ///
    /// # Errors
    /// `Io`/`Unavailable`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Size of the object.
    ///
    /// # Errors
    /// `NotFound`, `InvalidPath`, `Io`/`Unavailable`.
    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError>;
}

/// Checks that `path` is a valid object path (see [`BlobStore`]).
///
/// # Errors
/// [`StoreError::InvalidPath`].
pub fn validate_path(path: &str) -> Result<(), StoreError> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\0')
        && !path.contains('\\')
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidPath(path.to_string()))
    }
}

/// Checks `range` against an object of `size` bytes.
pub(crate) fn check_range(path: &str, range: &Range<u64>, size: u64) -> Result<(), StoreError> {
    if range.start > range.end || range.end > size {
        return Err(StoreError::InvalidRange { path: path.to_string(), start: range.start, end: range.end, size });
    }
    Ok(())
}

/// The error for a ranged read that came back short or failed (`failure`, if any):
/// `InvalidRange` when the range ends past the object (found by a `head`), else `failure`
/// or `Unavailable`.
#[cfg(any(feature = "opendal", feature = "object-store"))]
pub(crate) async fn short_read(store: &dyn BlobStore, path: &str, range: Range<u64>, failure: Option<StoreError>) -> StoreError {
    match store.head(path).await {
        Ok(meta) => match check_range(path, &range, meta.size) {
            Err(e) => e,
            Ok(()) => failure
                .unwrap_or_else(|| StoreError::Unavailable(format!("{path}: short read of {}..{}", range.start, range.end))),
        },
        Err(e) => e,
    }
}
