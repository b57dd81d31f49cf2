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

    /// A name of this store's namespace that differs between stores holding different
    /// objects (`file:///abs/dir`, `s3://bucket/prefix`, a per-instance id for memory):
    /// block caches key blocks by it, so databases sharing a cache never read each other's
    /// blocks. Decorators return their inner store's. The default is the `Debug` text,
    /// which is right when it shows the location; override it otherwise.
    fn identity(&self) -> String {
        format!("{self:?}")
    }
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

/// A ranged read through a backend that may cut a range past the object's end short, or
/// refuse it, instead of saying so. `read` is the backend's request: `Err` for a failure
/// that is final (not found), `Ok(Err)` for one that may be a bad range. An empty range is
/// checked against the object's size without reading; a short or failed read is checked by
/// a `head`: `InvalidRange` when the range ends past the object, else the failure (or
/// `Unavailable` for a short read).
#[cfg(any(feature = "opendal", feature = "object-store"))]
pub(crate) async fn read_range(
    store: &dyn BlobStore,
    path: &str,
    range: Range<u64>,
    read: impl std::future::Future<Output = Result<Result<Bytes, StoreError>, StoreError>>,
) -> Result<Bytes, StoreError> {
    if range.start >= range.end {
        let size = store.head(path).await?.size;
        check_range(path, &range, size)?;
        return Ok(Bytes::new());
    }
    let failure = match read.await? {
        Ok(b) if b.len() as u64 == range.end - range.start => return Ok(b),
        Ok(_) => StoreError::Unavailable(format!("{path}: short read of {}..{}", range.start, range.end)),
        Err(e) => e,
    };
    let size = store.head(path).await?.size;
    check_range(path, &range, size)?;
    Err(failure)
}
