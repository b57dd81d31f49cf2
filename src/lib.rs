//! stratovec: an embedded vector storage engine.
//!
//! Writes land in an in-memory memtable with an HNSW graph; [`Db::commit`] writes it as an
//! immutable segment (Flat when small, HNSW keeping the graph when large) and publishes a new
//! manifest atomically through a [`CommitStore`]. Storage is any [`BlobStore`]: a local
//! directory ([`LocalStore`], zero-copy mmap reads), memory ([`MemoryStore`]), or your own.
//!
//! ```text
//! stratovec (engine: Db, memtable, commit, search fan-out, PK index, tombstones)
//!   ├── stratovec-indexes  (DistanceKernel, Quantizer, Index: Flat, HNSW)
//!   └── stratovec-backends (BlobStore, CommitStore: LocalStore, MemoryStore)
//!         both ── stratovec-formats (segment, manifest, tombstones: bytes <-> structures)
//! ```
//! The traits a custom backend or index needs are re-exported here, so depending on
//! `stratovec` alone is enough.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// A named crash point (feature `failpoints`): the crash tests make the process kill itself
/// there. Compiles to nothing without the feature.
macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        fail::fail_point!($name);
    };
}

mod backup;
mod commit;
mod compaction;
mod db;
mod error;
mod fetch;
pub mod filter;
pub mod fvecs;
#[cfg(feature = "jsonl")]
mod jsonl;
mod lazy;
pub mod limits;
mod memtable;
mod options;
mod publish;
mod query;
mod record;
mod replica;
mod rollback;
mod rows;
mod scan;
mod schema;
mod search;
mod segment;
mod state;
mod vacuum;
mod vector;
mod wal;
mod write;

pub use backup::SnapshotReport;
pub use compaction::{CompactionPolicy, CompactionReport, Compactor, CompactorStats, MergeAll, SegmentInfo, SizeTiered};
pub use db::{Db, LogReplay, Stats};
pub use error::{Error, ErrorKind, Result};
pub use filter::Filter;
pub use options::{DbOptions, SearchParams};
pub use query::{Explain, SearchHit, SearchOptions, SourceExplain, Strategy};
pub use record::{Include, Record, RecordView, WriteBatch, WriteOp};
pub use replica::{Refresher, RefresherStats};
pub use scan::Scan;
pub use schema::{Field, FieldKind, Schema};
pub use search::Hit;
pub use stratovec_formats::metadata::{Metadata, Scalar, Value};
pub use vacuum::{RetentionPolicy, VacuumReport};
pub use wal::{Durability, SyncPolicy, WalOptions};

pub use stratovec_backends as backends;
pub use stratovec_formats as formats;
pub use stratovec_indexes as indexes;

#[cfg(feature = "local")]
pub use stratovec_backends::LocalStore;
pub use stratovec_backends::{async_trait, BlobCommitStore, BlobStore, CommitError, CommitStore, MemoryStore, ObjectMeta, StoreError};
pub use stratovec_indexes::{DistanceKernel, HnswParams, Index, Metric, Quantizer, Sq8};
