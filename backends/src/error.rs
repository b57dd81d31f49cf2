use thiserror::Error;

/// Errors of a [`crate::BlobStore`].
#[derive(Debug, Error)]
pub enum StoreError {
    /// No object has this path.
    #[error("object not found: {0}")]
    NotFound(String),
    /// A create-only write found an existing object.
    #[error("object already exists: {0}")]
    AlreadyExists(String),
    /// Another writer holds the store's lock.
    #[error("{0} is locked by another writer process (advisory lock on its LOCK file)")]
    Locked(String),
    /// The store was opened read-only and a write was attempted.
    #[error("store is read-only")]
    ReadOnly,
    /// The path is empty, absolute, or contains `..`, `\0` or an empty component.
    #[error("invalid object path {0:?}")]
    InvalidPath(String),
    /// A byte range is empty-ended, reversed or beyond the object's end.
    #[error("range {start}..{end} is outside object {path} of {size} bytes")]
    InvalidRange {
        /// Object path.
        path: String,
        /// Range start (bytes).
        start: u64,
        /// Range end, exclusive (bytes).
        end: u64,
        /// Object size (bytes).
        size: u64,
    },
    /// An I/O error (retrying may help; a failed fsync means the write is not durable).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// Object or file path.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The service cannot be reached or refused transiently (network, 5xx, throttling);
    /// retrying may help.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The service refused the request for good (permission denied, bad configuration, an
    /// operation it does not support); retrying will not help.
    #[error("store rejected the request: {0}")]
    Rejected(String),
}

impl StoreError {
    /// Whether retrying the same request may succeed: `Unavailable` and `Io` are retryable;
    /// `NotFound`, `AlreadyExists`, `Locked`, `ReadOnly`, `InvalidPath`, `InvalidRange` and
    /// `Rejected` are not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Io { .. })
    }

    pub(crate) fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io { path: path.into(), source }
    }
}
