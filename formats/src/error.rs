use thiserror::Error;

/// Why a byte string is not a valid stratovec structure.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The input ends before the structure does.
    #[error("truncated: needed {needed} bytes, have {have}")]
    Truncated {
        /// Bytes the structure needs.
        needed: u64,
        /// Bytes available.
        have: u64,
    },
    /// The magic bytes are not the expected ones (not a stratovec file, or the wrong kind).
    #[error("bad magic: expected {expected:?}")]
    BadMagic {
        /// The magic this decoder expects.
        expected: &'static str,
    },
    /// The format version is newer (or older) than this reader supports.
    #[error("unsupported format version {found} (this reader supports {supported})")]
    UnsupportedVersion {
        /// Version found in the input.
        found: u32,
        /// Version this reader supports.
        supported: u32,
    },
    /// The writer used features this reader does not know (bits of the reader feature mask).
    #[error("unsupported required features: {0:#x}")]
    UnsupportedFeatures(u64),
    /// A CRC32C does not match: the bytes were altered after they were written.
    #[error("checksum mismatch in {what}: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// What was checked ("footer", "section vectors", "manifest", ...).
        what: String,
        /// Checksum stored in the input.
        stored: u32,
        /// Checksum of the bytes as read.
        computed: u32,
    },
    /// A field holds a value that is out of range or inconsistent with another field.
    #[error("invalid {0}")]
    Invalid(String),
}

impl FormatError {
    pub(crate) fn truncated(needed: impl TryInto<u64>, have: usize) -> Self {
        FormatError::Truncated { needed: needed.try_into().unwrap_or(u64::MAX), have: have as u64 }
    }
    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        FormatError::Invalid(what.into())
    }
}
