//! On-disk formats of stratovec: bytes <-> structures, with no I/O, no async and no `unsafe`.
//!
//! * [`segment`]: the immutable segment container (header, 64-byte-aligned sections, footer
//!   with a CRC32C per section, trailer read first).
//! * [`manifest`]: the versioned list of live segments and tombstone files.
//! * [`tombstones`]: a tombstone file (rows deleted from earlier segments).
//! * [`diskann`]: the node layout of DiskANN segments (4 KiB sectors).
//! * [`column`](mod@column) and [`metadata`]: per-row metadata and payload sections.
//! * [`wal`]: the write-ahead log of `Durability::Wal` (framed, checksummed batches).
//!
//! Every decoder returns a [`FormatError`] on any byte string: it never panics and never
//! allocates more than the input justifies. The byte layouts are specified in
//! `docs/FORMAT.md` of the repository; all integers are little-endian.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod column;
pub mod diskann;
mod error;
pub mod graph;
pub mod manifest;
pub mod metadata;
mod metric;
pub mod names;
pub mod segment;
pub mod tombstones;
pub mod wal;

pub use error::FormatError;
pub use metric::Metric;

/// Bytes of alignment of every segment section (and of the segment header).
pub const SECTION_ALIGN: usize = 64;

/// CRC32C (Castagnoli) of `bytes`, the checksum used by every stratovec format.
pub fn checksum(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// Reads a little-endian `u32` at `at`; `None` when `bytes` is too short.
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// Reads a little-endian `u64` at `at`; `None` when `bytes` is too short.
pub(crate) fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}
