//! [`Db`]: create, open, write and inspect a database.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use roaring::RoaringBitmap;
use stratovec_backends::{BlobCommitStore, BlobStore, CommitStore};
use stratovec_formats::manifest::{manifest_name, Manifest};
use stratovec_formats::tombstones;
use stratovec_indexes::{kernels, IndexRegistry, Metric};

use crate::version::segment::Segment;
use crate::version::state::{Loc, State};
use crate::write::apply::Changes;
use crate::write::memtable::Memtable;
use crate::write::wal::Wal;
use crate::{DbOptions, Error, ErrorKind, Result};

/// An embedded vector database over a [`BlobStore`].
///
/// Writes ([`Db::insert`], [`Db::upsert`], [`Db::delete`]) go to an in-memory memtable with
/// an HNSW graph and are durable exactly when [`Db::commit`] returns. Searches see the
/// committed segments and the memtable. All methods take `&self`; share a `Db` between
/// threads with `Arc`.
///
/// ```
/// use std::sync::Arc;
/// use stratovec::{Db, DbOptions, Metric, MemoryStore, SearchParams};
/// # pollster::block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let db = Db::create(store.clone(), 3, Metric::L2, DbOptions::default()).await?;
/// db.insert(7, &[1.0, 0.0, 0.0])?;
/// db.insert(8, &[0.0, 1.0, 0.0])?;
/// db.commit().await?;
/// drop(db);
/// let db = Db::open(store, DbOptions::default()).await?;
/// let hits = db.search(&[0.9, 0.1, 0.0], 1, &SearchParams::default())?;
/// assert_eq!(hits[0].id, 7);
/// # Ok::<(), stratovec::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Db {
    pub(crate) store: Arc<dyn BlobStore>,
    pub(crate) commits: Arc<dyn CommitStore>,
    pub(crate) dim: usize,
    pub(crate) metric: Metric,
    pub(crate) options: DbOptions,
    /// Opens and builds each segment kind (from `options`).
    pub(crate) indexes: IndexRegistry,
    pub(crate) read_only: bool,
    /// Opened at a fixed version (time travel): `refresh` is refused.
    pub(crate) pinned: bool,
    pub(crate) epoch: u64,
    pub(crate) state: RwLock<State>,
    pub(crate) commit_lock: async_lock::Mutex<()>,
    pub(crate) compaction_lock: async_lock::Mutex<()>,
    pub(crate) compaction_signal: Arc<crate::maintenance::compaction::signal::Signal>,
    /// The write-ahead log, with [`crate::Durability::Wal`] on a writer.
    pub(crate) wal: Option<Wal>,
    /// What opening replayed from the log.
    pub(crate) replayed: LogReplay,
    /// Why the writer stopped accepting writes, once a log write, fsync or publish failed
    /// with an unknown outcome.
    pub(crate) poisoned: parking_lot::Mutex<Option<String>>,
    /// The error of the last automatic commit (memtable over its limit) if it failed and no
    /// commit has succeeded since: writes retry the commit first and fail while it fails.
    pub(crate) auto_commit_failure: parking_lot::Mutex<Option<Error>>,
    /// Operation counters, the search latency window and the metrics label.
    pub(crate) telemetry: crate::metrics::Telemetry,
    /// Set by [`Db::close`]: writes and maintenance fail with `Closed`.
    pub(crate) closed: std::sync::atomic::AtomicBool,
    /// Memory, row and search limits ([`crate::admission`]).
    pub(crate) admission: crate::admission::Admission,
    /// The recall monitor's queue and estimates ([`crate::recall`]).
    pub(crate) recall: crate::recall::Recall,
}

/// Counts and sizes of a database, from [`Db::stats`].
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Manifest version the database is at.
    pub version: u64,
    /// Writer epoch of that manifest.
    pub epoch: u64,
    /// Vector dimension.
    pub dim: usize,
    /// Metric.
    pub metric: Metric,
    /// Rows stored, including deleted ones not yet compacted away.
    pub rows: u64,
    /// Live keys.
    pub live_rows: u64,
    /// Stored rows no live key points at (deleted or replaced, not yet compacted away).
    pub deleted_rows: u64,
    /// `deleted_rows / rows` (0 when empty): compact when it grows (health reports it over
    /// [`crate::HealthThresholds::max_deleted_ratio`]).
    pub deleted_ratio: f64,
    /// Committed segments.
    pub segments: usize,
    /// Committed segments by index kind, in kind order.
    pub segments_by_kind: Vec<KindStats>,
    /// Bytes of committed segment files.
    pub segment_bytes: u64,
    /// Rows in memory not yet committed (memtable and a commit in progress).
    pub memtable_rows: usize,
    /// Bytes held by those rows (vectors, graph, keys).
    pub memtable_bytes: usize,
    /// Memory by component.
    pub memory: MemoryStats,
    /// Bytes of write-ahead log files (0 without a log).
    pub wal_bytes: u64,
    /// Block cache counters ([`crate::DbOptions::cache`]).
    pub cache: Option<stratovec_backends::cache::CacheStats>,
    /// Calls and errors per operation since open.
    pub operations: Vec<crate::metrics::OperationCount>,
    /// Search latency and QPS over the last 30 to 60 s.
    pub search_latency: crate::metrics::SearchLatency,
    /// The last successful commit of this process.
    pub last_commit: Option<crate::metrics::LastRun>,
    /// The last compaction run of this process that merged segments.
    pub last_compaction: Option<crate::metrics::LastRun>,
    /// The last backup of this process ([`Db::backup_to`]) if it succeeded (a failed one is a
    /// health reason, `backup_failed`).
    pub last_backup: Option<crate::metrics::LastRun>,
    /// Recall@k estimates per strategy from the recall monitor (empty unless
    /// [`crate::DbOptions::recall_sample_rate`] is set and [`Db::spawn_recall_monitor`] runs).
    pub recall: Vec<crate::RecallEstimate>,
    /// Distance kernel in use (`scalar`, `avx2`, `avx512`).
    pub kernel: &'static str,
    /// What opening the database replayed from its write-ahead log.
    pub log_replay: LogReplay,
    /// The error of the last automatic commit, while it failed and no commit has succeeded
    /// since (writes fail with it until a commit succeeds, so memory stays bounded).
    pub auto_commit_error: Option<String>,
    /// Why this writer is poisoned (a write or publish with an unknown outcome, or a
    /// panic): every later write fails until the database is reopened.
    pub poisoned: Option<String>,
}

/// Segments of one index kind, in [`Stats::segments_by_kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindStats {
    /// The kind (`flat`, `hnsw`, `diskann`, `custom-200`, …).
    pub kind: String,
    /// Segments of this kind.
    pub segments: usize,
    /// Their rows, deleted ones included.
    pub rows: u64,
    /// Their file bytes.
    pub bytes: u64,
}

/// Memory of a database by component, in bytes ([`Stats::memory`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// The active memtable: vectors, HNSW graph, keys, metadata and payloads.
    pub memtable: usize,
    /// Memtables being committed.
    pub frozen: usize,
    /// The primary-key index (key → row), estimated from its capacity.
    pub pk_index: usize,
    /// Tombstone bitmaps of committed segments.
    pub tombstones: usize,
    /// Committed segment files held open: mapped from a local store (pages the kernel
    /// may evict) or read into RAM from a remote one; with a block cache, only what the
    /// cache holds is resident (`cache_ram`).
    pub segments: u64,
    /// The block cache's RAM level.
    pub cache_ram: u64,
}

impl MemoryStats {
    /// Heap bytes: everything except `segments` (mapped files are counted by the kernel's
    /// page cache, not the heap).
    pub fn heap(&self) -> u64 {
        (self.memtable + self.frozen + self.pk_index + self.tombstones) as u64 + self.cache_ram
    }
}

/// What [`Db::open`] replayed from the write-ahead log ([`crate::Durability::Wal`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogReplay {
    /// Records (write batches) replayed.
    pub records: u64,
    /// Bytes after the first torn or corrupt record that were cut off or set aside (0 after
    /// a clean shutdown or a kill between whole records).
    pub dropped_bytes: u64,
}

impl Db {
    /// Creates a new, empty database of `dim`-dimensional vectors in `store` and commits
    /// version 1.
    ///
    /// # Errors
    /// `InvalidArgument` for `dim == 0` or bad options; `AlreadyExists` if the store already
    /// holds a database; `Unavailable`/`Locked` from the store.
    pub async fn create(store: Arc<dyn BlobStore>, dim: usize, metric: Metric, options: DbOptions) -> Result<Db> {
        if dim == 0 || dim > crate::limits::MAX_DIM {
            return Err(Error::invalid(format!("dimension {dim} (1..={})", crate::limits::MAX_DIM)));
        }
        options.hnsw.validate().map_err(|e| Error::invalid(e.to_string()))?;
        let store = crate::metered_store::metered(store, &options);
        let commits = commit_store(&store, &options);
        commits.preflight().await.map_err(Error::commit)?;
        if commits.latest().await.map_err(Error::commit)?.is_some() {
            return Err(Error::new(ErrorKind::AlreadyExists, "the store already holds a database; use Db::open"));
        }
        let manifest = Manifest {
            version: 1,
            epoch: 1,
            dim: dim as u32,
            metric,
            reader_features: 0,
            writer_features: 0,
            segments: Vec::new(),
            tombstone_files: Vec::new(),
            next_segment_id: 1,
            created_unix_ms: crate::write::publish::now_unix_ms(),
            database_id: crate::write::publish::new_database_id(),
        };
        let v = commits.try_commit(0, Bytes::from(manifest.encode())).await.map_err(Error::commit)?;
        debug_assert_eq!(v, 1);
        Self::from_manifest(store, commits, manifest, options, false).await
    }

    /// Opens the newest version of the database in `store` for reading and writing.
    ///
    /// Nothing is rebuilt: segments are opened from their bytes (mmap for local stores), with
    /// their checksums verified when `options.verify_on_open` is set.
    ///
    /// # Errors
    /// `NotFound` if there is no database; `Corrupt` naming the damaged file; `Incompatible`
    /// for an unknown format version; `Unavailable`/`Locked` from the store.
    pub async fn open(store: Arc<dyn BlobStore>, options: DbOptions) -> Result<Db> {
        Self::open_with(store, options, false).await
    }

    /// Opens the newest version read-only: a replica, which has no write methods, never
    /// writes to the store, and follows the writer with [`crate::ReadOnlyDb::refresh`].
    ///
    /// # Errors
    /// As [`Db::open`].
    pub async fn open_read_only(store: Arc<dyn BlobStore>, options: DbOptions) -> Result<crate::ReadOnlyDb> {
        Self::open_with(store, options, true).await.map(crate::ReadOnlyDb::new)
    }

    async fn open_with(store: Arc<dyn BlobStore>, options: DbOptions, read_only: bool) -> Result<Db> {
        let started = std::time::Instant::now();
        let db = Self::open_unlogged(store, options, read_only).await?;
        let s = db.stats();
        tracing::info!(
            db = db.name(),
            version = s.version,
            epoch = s.epoch,
            segments = s.segments,
            rows = s.rows,
            read_only,
            log_records_replayed = s.log_replay.records,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "opened"
        );
        db.set_gauges(&s);
        Ok(db)
    }

    async fn open_unlogged(store: Arc<dyn BlobStore>, options: DbOptions, read_only: bool) -> Result<Db> {
        let store = crate::metered_store::metered(store, &options);
        let commits = commit_store(&store, &options);
        let newest = crate::write::publish::latest_manifest(store.as_ref(), commits.as_ref())
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "no database in this store (no MANIFEST-*.bin); use Db::create"))?;
        if read_only {
            return Self::from_manifest(store, commits, newest, options, true).await;
        }
        // Fetch and open the segments before claiming the epoch: the claim fences every
        // other writer, so it comes last, when this one is ready to write (a slow open
        // after the claim lets other writers fence each other in turn).
        check_dim(&newest)?;
        let warm = open_segments(&store, &options, &options.index_registry()?, &newest, &[]).await?;
        let manifest = crate::write::publish::claim_epoch(store.as_ref(), commits.as_ref(), newest).await?;
        Self::from_manifest_reusing(store, commits, manifest, options, false, &warm).await
    }

    pub(crate) async fn from_manifest(
        store: Arc<dyn BlobStore>,
        commits: Arc<dyn CommitStore>,
        manifest: Manifest,
        options: DbOptions,
        read_only: bool,
    ) -> Result<Db> {
        Self::from_manifest_reusing(store, commits, manifest, options, read_only, &[]).await
    }

    /// Opens `manifest`, reusing the already open segments of `open` that it holds.
    async fn from_manifest_reusing(
        store: Arc<dyn BlobStore>,
        commits: Arc<dyn CommitStore>,
        manifest: Manifest,
        options: DbOptions,
        read_only: bool,
        open: &[Arc<Segment>],
    ) -> Result<Db> {
        check_dim(&manifest)?;
        let (dim, metric) = (manifest.dim as usize, manifest.metric);
        let indexes = options.index_registry()?;
        let segments = open_segments(&store, &options, &indexes, &manifest, open).await?;
        let tombstones = load_tombstones(store.as_ref(), &manifest).await?;
        let pk = build_pk(&segments, &tombstones);
        let mut state = State {
            version: manifest.version,
            next_segment_id: manifest.next_segment_id,
            memtable: Memtable::new(dim, metric, options.hnsw)?,
            frozen: Vec::new(),
            segments,
            tombstones,
            pending_tombstones: Vec::new(),
            pk,
            manifest,
            retired: Vec::new(),
        };
        let epoch = state.manifest.epoch;
        let (wal, replayed) = match (&options.durability, read_only) {
            (crate::Durability::Wal(w), false) => {
                let (wal, replay) = Wal::open(w, state.manifest.database_id)?;
                let replayed = LogReplay { records: replay.records.len() as u64, dropped_bytes: replay.dropped_bytes };
                for ops in replay.records {
                    Changes::from_log(ops, dim)?.apply(&mut state, dim)?;
                }
                (Some(wal), replayed)
            }
            _ => (None, LogReplay::default()),
        };
        state.check_opened()?;
        let options_name = options.name.clone();
        if replayed.dropped_bytes > 0 {
            tracing::warn!(
                dropped_bytes = replayed.dropped_bytes,
                "the write-ahead log ended in a torn or corrupt record: bytes after it were cut off or set aside"
            );
        }
        Ok(Db {
            store,
            commits,
            dim,
            metric,
            options,
            indexes,
            read_only,
            pinned: false,
            epoch,
            state: RwLock::new(state),
            commit_lock: async_lock::Mutex::new(()),
            compaction_lock: async_lock::Mutex::new(()),
            compaction_signal: Arc::default(),
            wal,
            replayed,
            poisoned: parking_lot::Mutex::new(None),
            auto_commit_failure: parking_lot::Mutex::new(None),
            telemetry: crate::metrics::Telemetry::new(options_name.as_deref()),
            closed: std::sync::atomic::AtomicBool::new(false),
            admission: Default::default(),
            recall: Default::default(),
        })
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The store this database lives in.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    pub(crate) fn writable(&self) -> Result<()> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the database was closed"));
        }
        self.writable_while_closing()
    }

    /// [`Db::writable`] without the `Closed` check: for the final commit of [`Db::close`].
    pub(crate) fn writable_while_closing(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::new(ErrorKind::ReadOnly, "the database was opened read-only"));
        }
        if let Some(why) = self.poisoned.lock().as_ref() {
            return Err(Error::new(
                ErrorKind::Poisoned,
                format!("an earlier write failed with an unknown outcome ({why}); reopen the database"),
            ));
        }
        Ok(())
    }

    /// A guard that poisons this writer if the thread panics while it lives: a panic in
    /// the middle of changing the in-memory state (applying a write, swapping in a commit or
    /// a compaction) may leave it inconsistent, so no later write may build on it.
    pub(crate) fn poison_on_panic(&self, during: &'static str) -> PoisonOnPanic<'_> {
        PoisonOnPanic { db: self, during }
    }

    /// Stops all later writes after `e`, a failure that left the log or the published
    /// version in an unknown state; returns `e`.
    pub(crate) fn poison(&self, e: Error) -> Error {
        let mut poisoned = self.poisoned.lock();
        if poisoned.is_none() {
            tracing::error!(db = self.name(), kind = e.kind().name(), error = %e, "writer poisoned: every later write fails until the database is reopened");
            *poisoned = Some(e.to_string());
        }
        e
    }

    /// The stored vector of `id` (`dim` values, normalised if the metric is cosine), `None`
    /// if not live.
    ///
    /// # Errors
    /// `Corrupt` or `Unavailable` naming the key if the vector cannot be read (a DiskANN node
    /// that is damaged or whose read fails): never reported as absent.
    pub fn get(&self, id: u64) -> Result<Option<Vec<f32>>> {
        // Through get_record: a segment's vector is read without the state lock.
        let vector_only = crate::Include { vector: true, metadata: false, payload: false };
        Ok(self.get_record(id, vector_only)?.and_then(|r| r.vector))
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.state.read().pk.contains_key(&id)
    }

    /// Live records (keys in the PK index); what [`Stats::live_rows`] reports, without
    /// computing the rest of [`Db::stats`].
    pub fn live_rows(&self) -> u64 {
        self.state.read().pk.len() as u64
    }

    /// Counts, sizes, memory by component, operation counters and search latency (see
    /// [`Stats`]). Cheap: no I/O except listing the write-ahead log directory.
    pub fn stats(&self) -> Stats {
        let s = self.state.read();
        let seg_rows: u64 = s.segments.iter().map(|x| x.meta.rows).sum();
        let frozen_rows: usize = s.frozen.iter().map(|f| f.memtable.rows()).sum();
        let rows = seg_rows + (frozen_rows + s.memtable.rows()) as u64;
        let live_rows = s.pk.len() as u64;
        let deleted_rows = rows.saturating_sub(live_rows);
        let memory = MemoryStats {
            memtable: s.memtable.memory_bytes(),
            frozen: s.frozen.iter().map(|f| f.memtable.memory_bytes()).sum(),
            pk_index: s.pk.capacity() * (std::mem::size_of::<(u64, Loc)>() + 1),
            tombstones: s.tombstones.values().map(|b| b.serialized_size()).sum(),
            segments: s.segments.iter().map(|x| x.meta.bytes).sum(),
            cache_ram: self.options.cache.as_ref().map_or(0, |c| c.ram_bytes()),
        };
        let mut by_kind: Vec<(stratovec_formats::segment::SegmentKind, KindStats)> = Vec::new();
        for seg in &s.segments {
            let kind = seg.meta.kind;
            let i = by_kind.iter().position(|(k, _)| *k == kind).unwrap_or_else(|| {
                by_kind.push((kind, KindStats { kind: kind.to_string(), segments: 0, rows: 0, bytes: 0 }));
                by_kind.len() - 1
            });
            let k = &mut by_kind[i].1;
            k.segments += 1;
            k.rows += seg.meta.rows;
            k.bytes += seg.meta.bytes;
        }
        by_kind.sort_by_key(|(k, _)| *k);
        Stats {
            version: s.version,
            epoch: s.manifest.epoch,
            dim: self.dim,
            metric: self.metric,
            rows,
            live_rows,
            deleted_rows,
            deleted_ratio: if rows == 0 { 0.0 } else { deleted_rows as f64 / rows as f64 },
            segments: s.segments.len(),
            segments_by_kind: by_kind.into_iter().map(|(_, k)| k).collect(),
            segment_bytes: memory.segments,
            memtable_rows: frozen_rows + s.memtable.rows(),
            memtable_bytes: memory.memtable + memory.frozen,
            memory,
            wal_bytes: self.wal.as_ref().map_or(0, |w| w.bytes()),
            cache: self.options.cache.as_ref().map(|c| c.stats()),
            operations: self.telemetry.operations(),
            search_latency: self.telemetry.latency(),
            last_commit: *self.telemetry.last_commit.lock(),
            last_compaction: *self.telemetry.last_compaction.lock(),
            recall: self.recall.estimates(),
            last_backup: self.telemetry.last_backup.lock().as_ref().and_then(|r| r.as_ref().ok().copied()),
            kernel: kernels().name,
            log_replay: self.replayed,
            auto_commit_error: self.auto_commit_failure.lock().as_ref().map(ToString::to_string),
            poisoned: self.poisoned.lock().clone(),
        }
    }

    /// The manifest of the current version.
    pub fn manifest(&self) -> Manifest {
        self.state.read().manifest.clone()
    }
}

/// Segment files fetched at once when opening or refreshing (one round trip for up to this
/// many segments of a remote store).
const CONCURRENT_FETCHES: usize = 16;

/// The segments of `manifest`, reusing those of `open` with the same id and fetching (up to
/// [`CONCURRENT_FETCHES`] at once) and opening (in parallel) the others.
pub(crate) async fn open_segments(
    store: &Arc<dyn BlobStore>,
    options: &DbOptions,
    indexes: &IndexRegistry,
    manifest: &Manifest,
    open: &[Arc<Segment>],
) -> Result<Vec<Arc<Segment>>> {
    let (dim, metric, verify) = (manifest.dim as usize, manifest.metric, options.verify_on_open);
    use futures_util::{StreamExt, TryStreamExt};
    // The fetches are collected into a Vec before they become a stream: a stream over an
    // iterator adapter with closures makes the whole `open` future fail to be `Send`
    // (a higher-ranked lifetime limitation of rustc).
    let mut fetches = Vec::new();
    for meta in &manifest.segments {
        if !open.iter().any(|s| s.meta.id == meta.id) {
            fetches.push(crate::read::fetch::fetch_segment(store, options.cache.as_ref(), indexes, meta));
        }
    }
    let files: Vec<_> = futures_util::stream::iter(fetches).buffered(CONCURRENT_FETCHES).try_collect().await?;
    let fresh: Vec<Arc<Segment>> = {
        use rayon::prelude::*;
        files.into_par_iter().map(|fetched| Segment::open(fetched, dim, metric, verify).map(Arc::new)).collect::<Result<_>>()?
    };
    let find = |id: u64| open.iter().chain(&fresh).find(|s| s.meta.id == id).cloned();
    Ok(manifest.segments.iter().filter_map(|m| find(m.id)).collect())
}

pub(crate) fn commit_store(store: &Arc<dyn BlobStore>, options: &DbOptions) -> Arc<dyn CommitStore> {
    options.commit_store.clone().unwrap_or_else(|| Arc::new(BlobCommitStore::new(store.clone())))
}

/// The committed deletions of `manifest`, per segment id.
///
/// # Errors
/// `Corrupt` naming the tombstone file if it does not decode or deletes a row past the end
/// of its segment; store errors naming the file.
pub(crate) async fn load_tombstones(store: &dyn BlobStore, manifest: &Manifest) -> Result<HashMap<u64, Arc<RoaringBitmap>>> {
    let rows: HashMap<u64, u64> = manifest.segments.iter().map(|s| (s.id, s.rows)).collect();
    let mut map: HashMap<u64, RoaringBitmap> = HashMap::new();
    for t in &manifest.tombstone_files {
        let bytes = store.get(&t.file).await.map_err(|e| Error::store(&t.file, e))?;
        for ts in tombstones::decode(&bytes).map_err(|e| Error::format(&t.file, e))? {
            if rows.get(&ts.segment_id).is_some_and(|&n| u64::from(ts.row) >= n) {
                return Err(Error::format(
                    &t.file,
                    stratovec_formats::FormatError::Invalid(format!("deletes row {} of segment {}, past its end", ts.row, ts.segment_id)),
                ));
            }
            map.entry(ts.segment_id).or_default().insert(ts.row);
        }
    }
    Ok(map.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())
}

pub(crate) fn build_pk(segments: &[Arc<Segment>], tombstones: &HashMap<u64, Arc<RoaringBitmap>>) -> HashMap<u64, Loc> {
    let live: usize = segments.iter().map(|s| s.ids.as_slice().len()).sum();
    let mut pk = HashMap::with_capacity(live);
    for seg in segments {
        let dead = tombstones.get(&seg.meta.id);
        for (row, id) in seg.ids.as_slice().iter().enumerate() {
            if dead.is_none_or(|d| !d.contains(row as u32)) {
                pk.insert(*id, Loc::Segment { id: seg.meta.id, row: row as u32 });
            }
        }
    }
    pk
}

/// See [`Db::poison_on_panic`].
pub(crate) struct PoisonOnPanic<'a> {
    db: &'a Db,
    during: &'static str,
}

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.db.poison(Error::new(ErrorKind::Poisoned, format!("a panic while {}", self.during)));
        }
    }
}

/// `Corrupt` if `manifest`'s dimension is outside `1..=`[`crate::limits::MAX_DIM`].
fn check_dim(manifest: &Manifest) -> Result<()> {
    let dim = manifest.dim as usize;
    if dim == 0 || dim > crate::limits::MAX_DIM {
        let what = format!("{}: dimension {dim} (1..={})", manifest_name(manifest.version), crate::limits::MAX_DIM);
        return Err(Error::new(ErrorKind::Corrupt, what));
    }
    Ok(())
}
