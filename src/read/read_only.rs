//! [`ReadOnlyDb`]: a handle that can only read. Read replicas (following the writer's new
//! versions with [`ReadOnlyDb::refresh`]) and time-travel views ([`Db::open_at`],
//! [`Db::open_at_time`]) are this type, so writing through them does not compile.

use std::sync::Arc;
use std::time::Duration;

use stratovec_backends::BlobStore;
use stratovec_formats::manifest::Manifest;

use crate::{
    Db, Explain, Filter, Hit, Include, Metric, RecordView, Refresher, Result, Scan, SearchHit, SearchOptions, SearchParams, SnapshotReport,
    Stats,
};

/// A read-only database handle: a replica ([`Db::open_read_only`], refreshable) or a view of
/// one version ([`Db::open_at`], [`Db::open_at_time`]). It never writes to the store.
/// `Send + Sync`; share it with `Arc` across threads. Every method behaves as the
/// [`Db`] method of the same name.
///
/// Reading compiles:
/// ```
/// # async fn f(store: std::sync::Arc<dyn stratovec::BlobStore>) -> stratovec::Result<()> {
/// let replica = stratovec::Db::open_read_only(store, Default::default()).await?;
/// let hits = replica.search(&[0.0, 1.0], 10, &Default::default())?;
/// replica.refresh().await?;
/// # Ok(()) }
/// ```
/// Writing does not:
/// ```compile_fail
/// # async fn f(store: std::sync::Arc<dyn stratovec::BlobStore>) -> stratovec::Result<()> {
/// let replica = stratovec::Db::open_read_only(store, Default::default()).await?;
/// replica.insert(1, &[0.0, 1.0])?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ReadOnlyDb {
    db: Db,
}

impl ReadOnlyDb {
    pub(crate) fn new(db: Db) -> Self {
        debug_assert!(db.read_only);
        ReadOnlyDb { db }
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.db.dim()
    }

    /// Metric.
    pub fn metric(&self) -> Metric {
        self.db.metric()
    }

    /// The store the database lives in.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        self.db.store()
    }

    /// See [`Db::search`].
    ///
    /// # Errors
    /// As [`Db::search`].
    pub fn search(&self, query: &[f32], k: usize, params: &SearchParams) -> Result<Vec<Hit>> {
        self.db.search(query, k, params)
    }

    /// See [`Db::search_with`].
    ///
    /// # Errors
    /// As [`Db::search_with`].
    pub fn search_with(&self, query: &[f32], opts: &SearchOptions) -> Result<(Vec<SearchHit>, Explain)> {
        self.db.search_with(query, opts)
    }

    /// See [`Db::search_batch`].
    ///
    /// # Errors
    /// As [`Db::search_batch`].
    pub fn search_batch(&self, queries: &[f32], k: usize, params: &SearchParams) -> Result<Vec<Vec<Hit>>> {
        self.db.search_batch(queries, k, params)
    }

    /// See [`Db::search_range`].
    ///
    /// # Errors
    /// As [`Db::search_range`].
    pub fn search_range(&self, query: &[f32], max_distance: f32, limit: usize, params: &SearchParams) -> Result<Vec<Hit>> {
        self.db.search_range(query, max_distance, limit, params)
    }

    /// See [`Db::get`].
    ///
    /// # Errors
    /// As [`Db::get`].
    pub fn get(&self, id: u64) -> Result<Option<Vec<f32>>> {
        self.db.get(id)
    }

    /// See [`Db::get_record`].
    ///
    /// # Errors
    /// As [`Db::get_record`].
    pub fn get_record(&self, id: u64, include: Include) -> Result<Option<RecordView>> {
        self.db.get_record(id, include)
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.db.contains(id)
    }

    /// See [`Db::count`].
    ///
    /// # Errors
    /// As [`Db::count`].
    pub fn count(&self, filter: &Filter) -> Result<u64> {
        self.db.count(filter)
    }

    /// See [`Db::scan`].
    ///
    /// # Errors
    /// As [`Db::scan`].
    pub fn scan(&self, filter: Option<&Filter>, batch_size: usize, include: Include) -> Result<Scan> {
        self.db.scan(filter, batch_size, include)
    }

    /// As [`Db::live_rows`].
    pub fn live_rows(&self) -> u64 {
        self.db.live_rows()
    }

    /// Counts and sizes of the version this handle reads.
    pub fn stats(&self) -> Stats {
        self.db.stats()
    }

    /// See [`Db::health`]; a replica also reports `replica_lag` when
    /// [`crate::HealthThresholds::max_replica_lag_s`] is set.
    pub fn health(&self) -> crate::Health {
        self.db.health()
    }

    /// See [`Db::record_gauges`].
    pub fn record_gauges(&self) {
        self.db.record_gauges()
    }

    /// The manifest of the version this handle reads.
    pub fn manifest(&self) -> Manifest {
        self.db.manifest()
    }

    /// See [`Db::backup_to`].
    ///
    /// # Errors
    /// As [`Db::backup_to`].
    pub async fn backup_to(&self, target: Arc<dyn BlobStore>) -> Result<crate::BackupReport> {
        self.db.backup_to(target).await
    }

    /// See [`Db::snapshot_to`].
    ///
    /// # Errors
    /// As [`Db::snapshot_to`].
    pub async fn snapshot_to(&self, target: Arc<dyn BlobStore>) -> Result<SnapshotReport> {
        self.db.snapshot_to(target).await
    }

    /// See [`Db::export_jsonl`].
    ///
    /// # Errors
    /// As [`Db::export_jsonl`].
    #[cfg(feature = "jsonl")]
    pub fn export_jsonl(&self, filter: Option<&Filter>, out: &mut dyn std::io::Write) -> Result<u64> {
        self.db.export_jsonl(filter, out)
    }

    /// Moves a replica to the newest published version and returns it. Segments both
    /// versions share stay open; new ones are fetched and opened, and tombstones and the key
    /// index are rebuilt, all before a brief swap, so searches keep running (each sees the
    /// old or the new version, never a mix).
    ///
    /// # Errors
    /// `InvalidArgument` on a view of a fixed version ([`Db::open_at`]); `Incompatible` if
    /// the dimension or metric changed; errors of [`Db::open`].
    pub async fn refresh(&self) -> Result<u64> {
        self.db.refresh().await
    }

    /// Starts a thread that calls [`ReadOnlyDb::refresh`] every `interval`. It stops when
    /// the returned handle is dropped or the database is.
    pub fn spawn_refresher(self: &Arc<Self>, interval: Duration) -> Refresher {
        let weak = Arc::downgrade(self);
        Refresher::spawn(interval, move || weak.upgrade().map(|r| pollster::block_on(r.refresh())))
    }
}
