use stratovec_formats::FormatError;
use thiserror::Error;

/// Errors of index construction and opening.
#[derive(Debug, Error)]
pub enum IndexError {
    /// A vector or query has the wrong number of components.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch {
        /// Dimension of the index.
        expected: usize,
        /// Dimension given.
        got: usize,
    },
    /// An argument is out of range (e.g. `M` < 2, empty training sample).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Segment bytes are not a valid index.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Reading part of a segment on demand failed (DiskANN nodes).
    #[error("reading segment data: {0}")]
    Io(#[from] std::io::Error),
    /// No factory is registered for a segment's index kind (a user kind this process did
    /// not register, see `IndexRegistry::register`).
    #[error("index kind {0} is not registered (a user index: register its factory)")]
    UnknownKind(stratovec_formats::segment::SegmentKind),
}
