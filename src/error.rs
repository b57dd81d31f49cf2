//! The public error type: an [`ErrorKind`] that says what the caller should do, a message,
//! and the underlying cause.

use stratovec_backends::{CommitError, StoreError};
use stratovec_formats::FormatError;
use stratovec_indexes::IndexError;

/// What went wrong, as far as the caller's next step is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Fix the input: wrong dimension, NaN/Inf, zero vector with cosine, `k = 0`, bad option.
    InvalidArgument,
    /// The database (or object) does not exist.
    NotFound,
    /// The key (or database) already exists.
    AlreadyExists,
    /// The database was opened read-only.
    ReadOnly,
    /// Another writer published first; reopen and retry.
    Conflict,
    /// Another writer process holds the database directory.
    Locked,
    /// A transient storage failure; retrying may succeed. Committed data is unaffected.
    Unavailable,
    /// A file failed its checksum or does not parse; the message names the file.
    Corrupt,
    /// The files were written by an incompatible format version or with unknown features.
    Incompatible,
    /// An earlier write, log `fsync` or manifest publish failed with an unknown outcome,
    /// so this writer refuses further writes; reopen the database (committed data and
    /// logged writes are recovered on open).
    Poisoned,
    /// The store refused the request for good (permission denied, bad configuration, an
    /// operation it does not support, such as create-only writes); fix the store's setup.
    Rejected,
    /// A newer writer opened the database (claimed a higher epoch), so this writer may no
    /// longer publish; nothing of this writer's was published over the newer one's.
    Fenced,
    /// [`crate::Db::close`] was called: this handle accepts no more writes or maintenance.
    Closed,
    /// A limit of [`crate::DbOptions`] refused the request (memory of uncommitted rows,
    /// live rows, concurrent searches; the message names it). Retry later, after a commit,
    /// or raise the limit; nothing of the request was applied.
    ResourceExhausted,
}

impl ErrorKind {
    /// The kind as a `snake_case` name (`invalid_argument`, `unavailable`, …): the `kind`
    /// label of `stratovec_operation_errors_total` and the `kind` of log events.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::ReadOnly => "read_only",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Locked => "locked",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Incompatible => "incompatible",
            ErrorKind::Poisoned => "poisoned",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Fenced => "fenced",
            ErrorKind::Closed => "closed",
            ErrorKind::ResourceExhausted => "resource_exhausted",
        }
    }
}

/// An error of the stratovec engine.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

/// Result alias of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error without an underlying cause.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }

    /// What the caller should do about it.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message (without the kind).
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn with_source(kind: ErrorKind, message: String, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error { kind, message, source: Some(std::sync::Arc::new(source)) }
    }

    /// A format error in `file`: `Incompatible` for versions/features, otherwise `Corrupt`.
    pub(crate) fn format(file: &str, e: FormatError) -> Self {
        let kind = match e {
            FormatError::UnsupportedVersion { .. } | FormatError::UnsupportedFeatures(_) => ErrorKind::Incompatible,
            _ => ErrorKind::Corrupt,
        };
        Error::with_source(kind, format!("{file}: {e}"), e)
    }

    /// An index error while opening `file`.
    pub(crate) fn index(file: &str, e: IndexError) -> Self {
        match e {
            IndexError::Format(f) => Error::format(file, f),
            IndexError::DimensionMismatch { .. } | IndexError::InvalidArgument(_) => {
                Error::with_source(ErrorKind::InvalidArgument, format!("{file}: {e}"), e)
            }
            IndexError::Io(_) => Error::with_source(ErrorKind::Unavailable, format!("{file}: {e}"), e),
            IndexError::UnknownKind(_) => Error::with_source(ErrorKind::Incompatible, format!("{file}: {e}"), e),
        }
    }

    /// A store error on `what` (an object name or operation).
    pub(crate) fn store(what: &str, e: StoreError) -> Self {
        let kind = match &e {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            StoreError::Locked(_) => ErrorKind::Locked,
            StoreError::ReadOnly => ErrorKind::ReadOnly,
            StoreError::InvalidPath(_) | StoreError::InvalidRange { .. } => ErrorKind::InvalidArgument,
            StoreError::Io { .. } | StoreError::Unavailable(_) => ErrorKind::Unavailable,
            StoreError::Rejected(_) => ErrorKind::Rejected,
        };
        Error::with_source(kind, format!("{what}: {e}"), e)
    }

    pub(crate) fn commit(e: CommitError) -> Self {
        match e {
            CommitError::Conflict { version } => Error::with_source(
                ErrorKind::Conflict,
                format!("version {version} was published by another writer; reopen the database"),
                e,
            ),
            CommitError::Unavailable(s) => Error::store("publishing the manifest", s),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::store("store", e)
    }
}

impl From<crate::filter::ParseError> for Error {
    fn from(e: crate::filter::ParseError) -> Self {
        Error::with_source(ErrorKind::InvalidArgument, e.to_string(), e)
    }
}
