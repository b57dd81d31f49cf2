//! Maintenance: compaction, vacuum, snapshots, logical backups (JSON lines) and rollback.

pub(crate) mod backup;
pub(crate) mod compaction;
#[cfg(feature = "jsonl")]
pub(crate) mod jsonl;
pub(crate) mod rollback;
pub(crate) mod vacuum;
