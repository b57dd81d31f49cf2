//! stratovec: an embedded vector storage engine.
//!
//! Writes land in an in-memory memtable with an HNSW graph; [`Db::commit`] writes it as an
//! immutable segment (Flat when small, HNSW keeping the graph when large) and publishes a new
//! manifest atomically through a [`CommitStore`]. Compaction merges segments; large outputs
//! become DiskANN (Vamana graph, PQ/SQ8/INT4 codes in RAM, full vectors read on demand).
//! Storage is any [`BlobStore`]: a local directory ([`LocalStore`], zero-copy mmap reads,
//! optional io_uring), memory ([`MemoryStore`]), S3/GCS/MinIO through OpenDAL or
//! `object_store` (features `opendal`, `object-store`), or your own; a block cache
//! (RAM, then local disk) serves remote reads. Read replicas follow a writer's manifests.
//!
//! ```text
//! stratovec (engine: Db, memtable, write-ahead log, commit, compaction, search, PK index)
//!   ├── stratovec-indexes  (kernels, quantizers: SQ8/INT4/PQ/binary, indexes: Flat, HNSW, DiskANN)
//!   └── stratovec-backends (BlobStore, CommitStore: local, memory, OpenDAL, object_store,
//!         │                 DynamoDB; block cache)
//!         both ── stratovec-formats (segment, manifest, tombstones, log: bytes <-> structures)
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

mod admission;
#[cfg(feature = "arrow")]
pub mod arrow;
mod builder;
mod close;
mod db;
mod error;
pub mod filter;
pub mod fvecs;
mod health;
pub mod limits;
mod maintenance;
pub mod metered_store;
pub mod metrics;
mod options;
mod read;
pub mod recall;
mod record;
mod schema;
pub mod uri;
mod vector;
mod version;
mod write;

pub use builder::DbBuilder;
pub use close::CloseReport;
pub use db::{Db, KindStats, LogReplay, MemoryStats, Stats};
pub use error::{Error, ErrorKind, Result};
pub use filter::Filter;
pub use health::{Health, HealthStatus, HealthThresholds, Reason};
pub use maintenance::backup::{BackupReport, SnapshotReport};
pub use maintenance::compaction::{CompactionPolicy, CompactionReport, Compactor, CompactorStats, MergeAll, SegmentInfo, SizeTiered};
#[cfg(feature = "jsonl")]
pub use maintenance::jsonl::{record_from_json, record_to_json};
pub use maintenance::vacuum::{RetentionPolicy, VacuumReport};
pub use options::{DbOptions, SearchParams};
pub use read::cost::{CostModel, REFERENCE_SCAN_SPEED};
pub use read::query::{Explain, SearchHit, SearchOptions, SourceExplain, Strategy};
pub use read::read_only::ReadOnlyDb;
pub use read::replica::{Refresher, RefresherStats};
pub use read::scan::Scan;
pub use read::search::Hit;
pub use recall::{RecallEstimate, RecallMonitor};
pub use record::{Include, Record, RecordView, WriteBatch, WriteOp};
pub use schema::{Field, FieldKind, Schema};
pub use stratovec_formats::metadata::{Metadata, Scalar, Value};
pub use uri::{store_from_uri, StoreUri};
pub use write::wal::{Durability, SyncPolicy, WalOptions};

pub use stratovec_backends as backends;
pub use stratovec_formats as formats;
pub use stratovec_indexes as indexes;

#[cfg(feature = "local")]
pub use stratovec_backends::LocalStore;
pub use stratovec_backends::{async_trait, BlobCommitStore, BlobStore, CommitError, CommitStore, MemoryStore, ObjectMeta, StoreError};
pub use stratovec_formats::segment::SegmentKind;
pub use stratovec_indexes::{HnswParams, Index, IndexFactory, IndexRegistry, Metric, Quantizer, Sq8};

/// The README's Rust code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// `Db`, its handles and the futures of its async calls are `Send + Sync` (checked at
/// compile time): they may cross threads and be awaited on any executor.
#[cfg(test)]
mod send_sync {
    use std::sync::Arc;

    use crate::{BlobStore, Db, DbOptions, MemoryStore, Metric, Scan};

    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}

    #[test]
    fn handles_and_futures_cross_threads() {
        let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
        let create = Db::create(store.clone(), 2, Metric::L2, DbOptions::default());
        send(&create);
        let db = pollster::block_on(create).unwrap();
        send_sync(&db);
        send(&db.commit());
        send(&db.compact());
        send(&Db::open(store.clone(), DbOptions::default()));
        send(&Db::open_read_only(store.clone(), DbOptions::default()));
        send(&Db::builder(store.clone()).open_or_create(2, Metric::L2));
        send(&db.compact_with(&crate::MergeAll));
        send(&db.refresh());
        send(&db.vacuum(&crate::RetentionPolicy::default()));
        send(&db.snapshot_to(Arc::new(MemoryStore::new())));
        send(&Db::open_at(store.clone(), 1, DbOptions::default()));
        send(&Db::open_at_time(store.clone(), std::time::SystemTime::now(), DbOptions::default()));
        send(&Db::open_rolled_back(store.clone(), 1, DbOptions::default()));
        send_sync(&Db::builder(store));
        let scan: Scan = db.scan(None, 10, crate::Include::METADATA).unwrap();
        send(&scan);
    }
}
