//! Metrics through the [`metrics`](https://docs.rs/metrics) facade, and the counters and
//! latency window behind [`crate::Stats::operations`].
//!
//! The library records; it never exports. An application installs a recorder (for example
//! `metrics-exporter-prometheus`, see `examples/prometheus.rs`) and calls [`describe`] once;
//! without a recorder every recording is a no-op call. Names follow Prometheus conventions:
//! `stratovec_` prefix, unit in the name (`_seconds`, `_bytes`), `_total` for counters.
//! Every series carries the label `db` when [`crate::DbOptions::name`] is set.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `stratovec_operations_total` | counter | `op` | calls of `insert`, `upsert`, `write`, `delete`, `search`, `get`, `scan`, `count`, `commit`, `compact` |
//! | `stratovec_operation_errors_total` | counter | `op`, `kind` | those that returned an error, by [`crate::ErrorKind`] |
//! | `stratovec_search_duration_seconds` | histogram | `strategy` | search latency, by the plan of its slowest source (`graph`, `exact`, `brute_force`, `filtered_graph`, `pruned`, `code_scan`, `empty`) |
//! | `stratovec_commit_duration_seconds` | histogram | | successful commits |
//! | `stratovec_compaction_duration_seconds` | histogram | | successful compaction runs that merged something |
//! | `stratovec_commit_rows_total`, `stratovec_commit_bytes_total` | counter | | rows and segment bytes written by commits |
//! | `stratovec_compaction_bytes_read_total`, `stratovec_compaction_bytes_written_total` | counter | | segment bytes merged and written by compaction |
//! | `stratovec_rows` | gauge | `state` = `live` / `deleted` | rows; deleted = stored rows no key points at |
//! | `stratovec_segments` | gauge | `kind` | committed segments by index kind |
//! | `stratovec_segment_bytes` | gauge | | bytes of committed segment files |
//! | `stratovec_memtable_rows`, `stratovec_memtable_bytes` | gauge | | uncommitted rows and their memory (active and frozen memtables) |
//! | `stratovec_frozen_memtables` | gauge | | memtables being committed |
//! | `stratovec_wal_bytes` | gauge | | bytes of write-ahead log files |
//! | `stratovec_manifest_version`, `stratovec_epoch` | gauge | | version read or published last; writer epoch |
//! | `stratovec_poisoned` | gauge | | 1 when the writer refuses writes until reopened |
//! | `stratovec_last_commit_timestamp_seconds` | gauge | | Unix time of the last successful commit of this process |
//! | `stratovec_cache_hits_total` | counter | `level` = `ram` / `disk` | block cache hits |
//! | `stratovec_cache_misses_total`, `stratovec_cache_fetched_bytes_total` | counter | | block cache misses and bytes fetched from the store |
//! | `stratovec_store_requests_total`, `stratovec_store_errors_total` | counter | `op` (`get`, `get_range`, `put`, `put_if_absent`, `delete`, `list`, `head`), `error` | requests to the store and failures ([`crate::metered_store`]) |
//! | `stratovec_store_bytes_total` | counter | `op` | bytes read or written |
//! | `stratovec_store_request_duration_seconds` | histogram | `op` | store request latency |
//! | `stratovec_last_backup_timestamp_seconds` | gauge | | Unix time of the last successful [`crate::Db::backup_to`] |
//! | `stratovec_backup_bytes_total`, `stratovec_backup_errors_total` | counter | | bytes copied by backups; failed backups |
//! | `stratovec_backup_duration_seconds` | histogram | | successful backups |
//! | `stratovec_recall_estimate` | gauge | `strategy` | recall@k from the recall monitor ([`crate::recall`]) |
//! | `stratovec_recall_samples_total` | counter | `strategy` | searches the monitor re-ran exactly |
//!
//! Gauges are set after every commit, compaction, refresh and open, and by
//! [`crate::Db::record_gauges`], which an exporter may call before each scrape.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Label, Unit};
use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::{Error, Result};

/// Operation counter: calls by operation.
pub const OPERATIONS_TOTAL: &str = "stratovec_operations_total";
/// Operation errors by operation and error kind.
pub const OPERATION_ERRORS_TOTAL: &str = "stratovec_operation_errors_total";
/// Search latency histogram, by strategy.
pub const SEARCH_DURATION_SECONDS: &str = "stratovec_search_duration_seconds";
/// Commit duration histogram.
pub const COMMIT_DURATION_SECONDS: &str = "stratovec_commit_duration_seconds";
/// Compaction run duration histogram.
pub const COMPACTION_DURATION_SECONDS: &str = "stratovec_compaction_duration_seconds";
/// Rows written by commits.
pub const COMMIT_ROWS_TOTAL: &str = "stratovec_commit_rows_total";
/// Segment bytes written by commits.
pub const COMMIT_BYTES_TOTAL: &str = "stratovec_commit_bytes_total";
/// Segment bytes read by compaction.
pub const COMPACTION_BYTES_READ_TOTAL: &str = "stratovec_compaction_bytes_read_total";
/// Segment bytes written by compaction.
pub const COMPACTION_BYTES_WRITTEN_TOTAL: &str = "stratovec_compaction_bytes_written_total";
/// Rows by state (`live`, `deleted`).
pub const ROWS: &str = "stratovec_rows";
/// Segments by kind.
pub const SEGMENTS: &str = "stratovec_segments";
/// Bytes of committed segments.
pub const SEGMENT_BYTES: &str = "stratovec_segment_bytes";
/// Uncommitted rows.
pub const MEMTABLE_ROWS: &str = "stratovec_memtable_rows";
/// Memory of uncommitted rows.
pub const MEMTABLE_BYTES: &str = "stratovec_memtable_bytes";
/// Memtables being committed.
pub const FROZEN_MEMTABLES: &str = "stratovec_frozen_memtables";
/// Bytes of write-ahead log files.
pub const WAL_BYTES: &str = "stratovec_wal_bytes";
/// Manifest version.
pub const MANIFEST_VERSION: &str = "stratovec_manifest_version";
/// Writer epoch.
pub const EPOCH: &str = "stratovec_epoch";
/// 1 when the writer is poisoned.
pub const POISONED: &str = "stratovec_poisoned";
/// Unix time of the last successful commit.
pub const LAST_COMMIT_TIMESTAMP_SECONDS: &str = "stratovec_last_commit_timestamp_seconds";
/// Unix time of the last successful backup.
pub const LAST_BACKUP_TIMESTAMP_SECONDS: &str = "stratovec_last_backup_timestamp_seconds";
/// Bytes copied by backups.
pub const BACKUP_BYTES_TOTAL: &str = "stratovec_backup_bytes_total";
/// Backup duration histogram.
pub const BACKUP_DURATION_SECONDS: &str = "stratovec_backup_duration_seconds";
/// Failed backups.
pub const BACKUP_ERRORS_TOTAL: &str = "stratovec_backup_errors_total";
/// Block cache hits by level.
pub const CACHE_HITS_TOTAL: &str = "stratovec_cache_hits_total";
/// Block cache misses.
pub const CACHE_MISSES_TOTAL: &str = "stratovec_cache_misses_total";
/// Bytes the block cache fetched from the store.
pub const CACHE_FETCHED_BYTES_TOTAL: &str = "stratovec_cache_fetched_bytes_total";

/// Registers the description and unit of every metric with the installed recorder (call
/// once after installing it; harmless without one).
pub fn describe() {
    describe_counter!(OPERATIONS_TOTAL, Unit::Count, "Calls by operation (op)");
    describe_counter!(OPERATION_ERRORS_TOTAL, Unit::Count, "Calls that returned an error, by operation (op) and error kind (kind)");
    describe_histogram!(SEARCH_DURATION_SECONDS, Unit::Seconds, "Search latency by the plan of its slowest source (strategy)");
    describe_histogram!(COMMIT_DURATION_SECONDS, Unit::Seconds, "Duration of successful commits");
    describe_histogram!(COMPACTION_DURATION_SECONDS, Unit::Seconds, "Duration of compaction runs that merged segments");
    describe_counter!(COMMIT_ROWS_TOTAL, Unit::Count, "Rows written to segments by commits");
    describe_counter!(COMMIT_BYTES_TOTAL, Unit::Bytes, "Segment bytes written by commits");
    describe_counter!(COMPACTION_BYTES_READ_TOTAL, Unit::Bytes, "Segment bytes merged by compaction");
    describe_counter!(COMPACTION_BYTES_WRITTEN_TOTAL, Unit::Bytes, "Segment bytes written by compaction");
    describe_gauge!(ROWS, Unit::Count, "Stored rows by state: live, or deleted and not yet compacted away");
    describe_gauge!(SEGMENTS, Unit::Count, "Committed segments by index kind");
    describe_gauge!(SEGMENT_BYTES, Unit::Bytes, "Bytes of committed segment files");
    describe_gauge!(MEMTABLE_ROWS, Unit::Count, "Uncommitted rows (active and frozen memtables)");
    describe_gauge!(MEMTABLE_BYTES, Unit::Bytes, "Memory of uncommitted rows (vectors, graph, keys, metadata)");
    describe_gauge!(FROZEN_MEMTABLES, Unit::Count, "Memtables being committed");
    describe_gauge!(WAL_BYTES, Unit::Bytes, "Bytes of write-ahead log files");
    describe_gauge!(MANIFEST_VERSION, Unit::Count, "Manifest version read or published last");
    describe_gauge!(EPOCH, Unit::Count, "Writer epoch of the manifest");
    describe_gauge!(POISONED, Unit::Count, "1 when the writer refuses writes until reopened");
    describe_gauge!(LAST_COMMIT_TIMESTAMP_SECONDS, Unit::Seconds, "Unix time of the last successful commit of this process");
    describe_counter!(CACHE_HITS_TOTAL, Unit::Count, "Block cache hits by level (ram, disk)");
    describe_counter!(CACHE_MISSES_TOTAL, Unit::Count, "Block cache misses");
    describe_counter!(CACHE_FETCHED_BYTES_TOTAL, Unit::Bytes, "Bytes the block cache fetched from the store");
    describe_counter!(crate::metered_store::STORE_REQUESTS_TOTAL, Unit::Count, "Requests to the store by operation (op)");
    describe_counter!(crate::metered_store::STORE_ERRORS_TOTAL, Unit::Count, "Failed store requests by operation (op) and error");
    describe_counter!(crate::metered_store::STORE_BYTES_TOTAL, Unit::Bytes, "Bytes read or written by store requests, by operation (op)");
    describe_histogram!(crate::metered_store::STORE_REQUEST_DURATION_SECONDS, Unit::Seconds, "Store request latency by operation (op)");
    describe_gauge!(LAST_BACKUP_TIMESTAMP_SECONDS, Unit::Seconds, "Unix time of the last successful backup (Db::backup_to)");
    describe_counter!(BACKUP_BYTES_TOTAL, Unit::Bytes, "Bytes copied by backups");
    describe_histogram!(BACKUP_DURATION_SECONDS, Unit::Seconds, "Duration of successful backups");
    describe_counter!(BACKUP_ERRORS_TOTAL, Unit::Count, "Failed backups");
    describe_gauge!(crate::recall::RECALL_ESTIMATE, Unit::Count, "Recall@k estimated by the recall monitor over its window, by strategy");
    describe_counter!(crate::recall::RECALL_SAMPLES_TOTAL, Unit::Count, "Searches the recall monitor re-ran exactly, by strategy");
}

/// An operation counted in [`crate::Stats::operations`] and `stratovec_operations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `insert`, `insert_batch`, `insert_record`.
    Insert,
    /// `upsert`, `upsert_record`.
    Upsert,
    /// `write` (a batch of mixed operations).
    Write,
    /// `delete`, `delete_by_filter`.
    Delete,
    /// `search`, `search_with` (and each query of `search_batch`, `search_range` rounds).
    Search,
    /// `get`, `get_record`.
    Get,
    /// `scan`.
    Scan,
    /// `count`.
    Count,
    /// `commit`.
    Commit,
    /// `compact`, `compact_with`.
    Compact,
}

impl Operation {
    /// Every operation, in the order of [`crate::Stats::operations`].
    pub const ALL: [Operation; 10] = [
        Operation::Insert,
        Operation::Upsert,
        Operation::Write,
        Operation::Delete,
        Operation::Search,
        Operation::Get,
        Operation::Scan,
        Operation::Count,
        Operation::Commit,
        Operation::Compact,
    ];

    /// The `op` label value.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Upsert => "upsert",
            Operation::Write => "write",
            Operation::Delete => "delete",
            Operation::Search => "search",
            Operation::Get => "get",
            Operation::Scan => "scan",
            Operation::Count => "count",
            Operation::Commit => "commit",
            Operation::Compact => "compact",
        }
    }
}

/// Calls and errors of one operation since the database was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationCount {
    /// The operation.
    pub operation: Operation,
    /// Calls.
    pub calls: u64,
    /// Calls that returned an error.
    pub errors: u64,
}

/// Search latency over a sliding window of the last 30 to 60 s.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SearchLatency {
    /// Seconds the window covers.
    pub window_s: f64,
    /// Searches in the window.
    pub searches: u64,
    /// Searches per second over the window.
    pub qps: f64,
    /// Median latency, ms (HdrHistogram, 2 significant digits).
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// When a maintenance task last finished and how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LastRun {
    /// Unix time it finished, ms.
    pub at_unix_ms: u64,
    /// Its duration, s.
    pub seconds: f64,
}

/// Half of the latency window: the window holds the current half and the one before.
const HALF_WINDOW: Duration = Duration::from_secs(30);
/// Highest latency the window resolves, µs (longer searches count as this).
const MAX_LATENCY_US: u64 = 600_000_000;

/// Two half-window histograms of search latency in µs.
#[derive(Debug)]
struct Window {
    started: Instant,
    current: Histogram<u64>,
    previous: Option<(Instant, Histogram<u64>)>,
}

impl Window {
    fn new() -> Self {
        Window { started: Instant::now(), current: histogram_us(), previous: None }
    }

    fn rotate(&mut self, now: Instant) {
        if now.duration_since(self.started) >= HALF_WINDOW {
            let full = std::mem::replace(&mut self.current, histogram_us());
            // A half older than the window is dropped whole.
            self.previous = (now.duration_since(self.started) < 2 * HALF_WINDOW).then_some((self.started, full));
            self.started = now;
        }
    }
}

fn histogram_us() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("valid histogram bounds")
}

/// Per-database counters since open, the search latency window and the `db` label.
#[derive(Debug)]
pub(crate) struct Telemetry {
    labels: Vec<Label>,
    calls: [AtomicU64; Operation::ALL.len()],
    errors: [AtomicU64; Operation::ALL.len()],
    window: Mutex<Window>,
    pub(crate) last_commit: Mutex<Option<LastRun>>,
    pub(crate) last_compaction: Mutex<Option<LastRun>>,
    /// The error of the last commit and of the last compaction run, cleared by a success.
    failures: Mutex<[Option<Error>; 2]>,
    /// The last backup: its finish and duration, or its error.
    pub(crate) last_backup: Mutex<Option<std::result::Result<LastRun, Error>>>,
    /// When a replica last found itself at the newest version (open counts).
    caught_up: Mutex<Instant>,
}

impl Telemetry {
    pub(crate) fn new(name: Option<&str>) -> Self {
        Telemetry {
            labels: name.map(|n| vec![Label::new("db", n.to_string())]).unwrap_or_default(),
            calls: Default::default(),
            errors: Default::default(),
            window: Mutex::new(Window::new()),
            last_commit: Mutex::new(None),
            last_compaction: Mutex::new(None),
            failures: Mutex::new([None, None]),
            last_backup: Mutex::new(None),
            caught_up: Mutex::new(Instant::now()),
        }
    }

    /// The `db` label (empty without a name), plus `extra`.
    pub(crate) fn labels(&self, extra: &[(&'static str, &'static str)]) -> Vec<Label> {
        let mut l = self.labels.clone();
        l.extend(extra.iter().map(|&(k, v)| Label::new(k, v)));
        l
    }

    /// Counts one call of `op` and, if it failed, its error (also logged at `debug`).
    pub(crate) fn finish<T>(&self, op: Operation, result: &Result<T>) {
        let i = index(op);
        self.calls[i].fetch_add(1, Ordering::Relaxed);
        counter!(OPERATIONS_TOTAL, self.labels(&[("op", op.name())])).increment(1);
        if let Err(e) = result {
            self.failed(op, e);
        }
        let slot = match op {
            Operation::Commit => 0,
            Operation::Compact => 1,
            _ => return,
        };
        self.failures.lock()[slot] = result.as_ref().err().cloned();
    }

    /// The error of the last commit, if it failed and none succeeded since.
    pub(crate) fn commit_failure(&self) -> Option<Error> {
        self.failures.lock()[0].clone()
    }

    /// The error of the last compaction run, if it failed and none succeeded since.
    pub(crate) fn compaction_failure(&self) -> Option<Error> {
        self.failures.lock()[1].clone()
    }

    /// A replica found itself at the newest version.
    pub(crate) fn caught_up(&self) {
        *self.caught_up.lock() = Instant::now();
    }

    /// Time since a replica last found itself at the newest version.
    pub(crate) fn since_caught_up(&self) -> Duration {
        self.caught_up.lock().elapsed()
    }

    fn failed(&self, op: Operation, e: &Error) {
        self.errors[index(op)].fetch_add(1, Ordering::Relaxed);
        counter!(OPERATION_ERRORS_TOTAL, self.labels(&[("op", op.name()), ("kind", e.kind().name())])).increment(1);
        tracing::debug!(op = op.name(), kind = e.kind().name(), error = %e, "operation failed");
    }

    /// Records a finished search of `elapsed` whose slowest source ran `strategy`.
    pub(crate) fn search_latency(&self, elapsed: Duration, strategy: &'static str) {
        histogram!(SEARCH_DURATION_SECONDS, self.labels(&[("strategy", strategy)])).record(elapsed.as_secs_f64());
        let us = (elapsed.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        let mut w = self.window.lock();
        w.rotate(Instant::now());
        w.current.saturating_record(us);
    }

    /// Calls and errors per operation since open.
    pub(crate) fn operations(&self) -> Vec<OperationCount> {
        Operation::ALL
            .iter()
            .map(|&op| OperationCount {
                operation: op,
                calls: self.calls[index(op)].load(Ordering::Relaxed),
                errors: self.errors[index(op)].load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Search latency over the window.
    pub(crate) fn latency(&self) -> SearchLatency {
        let now = Instant::now();
        let mut w = self.window.lock();
        w.rotate(now);
        let mut all = w.current.clone();
        let mut since = w.started;
        if let Some((started, h)) = &w.previous {
            // Same bounds and precision: adding cannot fail.
            let _ = all.add(h);
            since = *started;
        }
        drop(w);
        let window_s = now.duration_since(since).as_secs_f64();
        let ms = |q: f64| all.value_at_quantile(q) as f64 / 1_000.0;
        SearchLatency {
            window_s,
            searches: all.len(),
            qps: if window_s > 0.0 { all.len() as f64 / window_s } else { 0.0 },
            p50_ms: ms(0.50),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            max_ms: all.max() as f64 / 1_000.0,
        }
    }
}

fn index(op: Operation) -> usize {
    Operation::ALL.iter().position(|&o| o == op).unwrap_or(0)
}

/// A [`LastRun`] that finished now after `seconds`.
pub(crate) fn finished_now(seconds: f64) -> LastRun {
    LastRun { at_unix_ms: crate::write::publish::now_unix_ms(), seconds }
}

impl crate::Db {
    /// Runs `f` as one call of `op`: counted, and its error counted and logged.
    pub(crate) fn observed<T>(&self, op: Operation, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let r = f();
        self.telemetry.finish(op, &r);
        r
    }

    /// [`Db::observed`] for async operations.
    pub(crate) async fn observed_async<T>(&self, op: Operation, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let r = f.await;
        self.telemetry.finish(op, &r);
        r
    }
}

impl Telemetry {
    /// Records a successful commit of `rows` rows in `bytes` segment bytes that took
    /// `elapsed`.
    pub(crate) fn committed(&self, elapsed: Duration, rows: u64, bytes: u64) {
        histogram!(COMMIT_DURATION_SECONDS, self.labels(&[])).record(elapsed.as_secs_f64());
        counter!(COMMIT_ROWS_TOTAL, self.labels(&[])).increment(rows);
        counter!(COMMIT_BYTES_TOTAL, self.labels(&[])).increment(bytes);
        gauge!(LAST_COMMIT_TIMESTAMP_SECONDS, self.labels(&[])).set(crate::write::publish::now_unix_ms() as f64 / 1e3);
        *self.last_commit.lock() = Some(finished_now(elapsed.as_secs_f64()));
    }

    /// Records a compaction run that merged segments: `bytes_in` read, `bytes_out` written.
    pub(crate) fn compacted(&self, elapsed: Duration, bytes_in: u64, bytes_out: u64) {
        histogram!(COMPACTION_DURATION_SECONDS, self.labels(&[])).record(elapsed.as_secs_f64());
        counter!(COMPACTION_BYTES_READ_TOTAL, self.labels(&[])).increment(bytes_in);
        counter!(COMPACTION_BYTES_WRITTEN_TOTAL, self.labels(&[])).increment(bytes_out);
        *self.last_compaction.lock() = Some(finished_now(elapsed.as_secs_f64()));
    }
}

impl crate::Db {
    /// The name given in [`crate::DbOptions::name`] (empty without one), for log events.
    pub(crate) fn name(&self) -> &str {
        self.options.name.as_deref().unwrap_or("")
    }

    /// Sets every gauge of [`crate::metrics`] (rows, segments, memory, log, version, cache
    /// counters) from [`crate::Db::stats`]: done after each commit, compaction, refresh and open;
    /// call it before a scrape for current memtable figures. A no-op without a recorder
    /// apart from computing the stats.
    pub fn record_gauges(&self) {
        self.set_gauges(&self.stats());
    }

    /// Sets the gauges from stats already computed (see [`crate::Db::record_gauges`]).
    pub(crate) fn set_gauges(&self, s: &crate::Stats) {
        let t = &self.telemetry;
        gauge!(ROWS, t.labels(&[("state", "live")])).set(s.live_rows as f64);
        gauge!(ROWS, t.labels(&[("state", "deleted")])).set(s.deleted_rows as f64);
        for k in [
            stratovec_formats::segment::SegmentKind::FLAT,
            stratovec_formats::segment::SegmentKind::HNSW,
            stratovec_formats::segment::SegmentKind::DISKANN,
        ] {
            let n = s.segments_by_kind.iter().find(|x| x.kind == k.name()).map_or(0, |x| x.segments);
            gauge!(SEGMENTS, t.labels(&[("kind", k.name())])).set(n as f64);
        }
        let custom: usize = s.segments_by_kind.iter().filter(|x| x.kind.starts_with("custom")).map(|x| x.segments).sum();
        gauge!(SEGMENTS, t.labels(&[("kind", "custom")])).set(custom as f64);
        gauge!(SEGMENT_BYTES, t.labels(&[])).set(s.segment_bytes as f64);
        gauge!(MEMTABLE_ROWS, t.labels(&[])).set(s.memtable_rows as f64);
        gauge!(MEMTABLE_BYTES, t.labels(&[])).set(s.memtable_bytes as f64);
        gauge!(FROZEN_MEMTABLES, t.labels(&[])).set(self.state.read().frozen.len() as f64);
        gauge!(WAL_BYTES, t.labels(&[])).set(s.wal_bytes as f64);
        gauge!(MANIFEST_VERSION, t.labels(&[])).set(s.version as f64);
        gauge!(EPOCH, t.labels(&[])).set(s.epoch as f64);
        gauge!(POISONED, t.labels(&[])).set(if s.poisoned.is_some() { 1.0 } else { 0.0 });
        if let Some(c) = &s.cache {
            counter!(CACHE_HITS_TOTAL, t.labels(&[("level", "ram")])).absolute(c.ram_hits);
            counter!(CACHE_HITS_TOTAL, t.labels(&[("level", "disk")])).absolute(c.disk_hits);
            counter!(CACHE_MISSES_TOTAL, t.labels(&[])).absolute(c.misses);
            counter!(CACHE_FETCHED_BYTES_TOTAL, t.labels(&[])).absolute(c.bytes_fetched);
        }
    }
}

impl Telemetry {
    /// Records the end of a backup.
    pub(crate) fn backed_up(&self, result: &Result<crate::BackupReport>) {
        match result {
            Ok(r) => {
                histogram!(BACKUP_DURATION_SECONDS, self.labels(&[])).record(r.seconds);
                counter!(BACKUP_BYTES_TOTAL, self.labels(&[])).increment(r.bytes_copied);
                gauge!(LAST_BACKUP_TIMESTAMP_SECONDS, self.labels(&[])).set(crate::write::publish::now_unix_ms() as f64 / 1e3);
                *self.last_backup.lock() = Some(Ok(finished_now(r.seconds)));
            }
            Err(e) => {
                counter!(BACKUP_ERRORS_TOTAL, self.labels(&[])).increment(1);
                tracing::warn!(kind = e.kind().name(), error = %e, "backup failed");
                *self.last_backup.lock() = Some(Err(e.clone()));
            }
        }
    }
}
