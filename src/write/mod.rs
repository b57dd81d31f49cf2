//! The write path: the memtable, the write-ahead log, applying writes, committing a memtable as a segment, and publishing manifests.

pub(crate) mod apply;
pub(crate) mod commit;
pub(crate) mod memtable;
pub(crate) mod publish;
pub(crate) mod wal;
