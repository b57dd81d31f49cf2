//! Operations: metrics through the `metrics` facade, `Db::stats` counters and latency,
//! `Db::health` reasons, `Db::close`, and log events through `tracing`.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::{Arc, Mutex};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use stratovec::backends::faulty::{Fault, FaultyStore, Op, Rule};
use stratovec::*;

mod common;
use common::{block, vectors};

const DIM: usize = 8;

fn memory_db(options: DbOptions) -> (Arc<dyn BlobStore>, Db) {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store.clone(), DIM, Metric::L2, options)).unwrap();
    (store, db)
}

fn labels(key: &CompositeKey) -> Vec<(String, String)> {
    key.key().labels().map(|l| (l.key().to_string(), l.value().to_string())).collect()
}

/// The value of the series `name` whose labels include all of `want`.
fn find<'a>(snapshot: &'a [(CompositeKey, DebugValue)], kind: MetricKind, name: &str, want: &[(&str, &str)]) -> Option<&'a DebugValue> {
    snapshot
        .iter()
        .find(|(k, _)| {
            let have = labels(k);
            k.kind() == kind && k.key().name() == name && want.iter().all(|(a, b)| have.iter().any(|(x, y)| x == a && y == b))
        })
        .map(|(_, v)| v)
}

#[test]
fn operations_errors_latency_and_gauges_reach_the_recorder() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    ::metrics::with_local_recorder(&recorder, || {
        let (_, db) = memory_db(DbOptions { name: Some("orders".into()), ..DbOptions::default() });
        let data = vectors(50, DIM, 3);
        let ids: Vec<u64> = (0..50).collect();
        db.insert_batch(&ids, &data).unwrap();
        assert_eq!(db.insert(0, &data[..DIM]).unwrap_err().kind(), ErrorKind::AlreadyExists);
        for i in 0..5 {
            db.search(&data[i * DIM..(i + 1) * DIM], 3, &SearchParams::default()).unwrap();
        }
        assert!(db.search(&[1.0; 3], 3, &SearchParams::default()).is_err(), "wrong dimension");
        block(db.commit()).unwrap();
        db.delete(1).unwrap();
    });
    let snap: Vec<(CompositeKey, DebugValue)> = snapshotter.snapshot().into_vec().into_iter().map(|(k, _, _, v)| (k, v)).collect();
    let counter = |name, want: &[(&str, &str)]| match find(&snap, MetricKind::Counter, name, want) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name} {want:?}: {other:?}"),
    };
    assert_eq!(counter(stratovec::metrics::OPERATIONS_TOTAL, &[("op", "insert"), ("db", "orders")]), 2);
    assert_eq!(counter(stratovec::metrics::OPERATION_ERRORS_TOTAL, &[("op", "insert"), ("kind", "already_exists")]), 1);
    assert_eq!(counter(stratovec::metrics::OPERATIONS_TOTAL, &[("op", "search")]), 6);
    assert_eq!(counter(stratovec::metrics::OPERATION_ERRORS_TOTAL, &[("op", "search"), ("kind", "invalid_argument")]), 1);
    assert_eq!(counter(stratovec::metrics::OPERATIONS_TOTAL, &[("op", "delete")]), 1);
    assert_eq!(counter(stratovec::metrics::COMMIT_ROWS_TOTAL, &[]), 50);
    // The commit wrote one segment create-only, then published a manifest.
    assert!(counter(stratovec::metered_store::STORE_REQUESTS_TOTAL, &[("op", "put_if_absent"), ("db", "orders")]) >= 2);
    assert!(counter(stratovec::metered_store::STORE_BYTES_TOTAL, &[("op", "put_if_absent")]) > 50 * DIM as u64 * 4);
    match find(&snap, MetricKind::Histogram, stratovec::metered_store::STORE_REQUEST_DURATION_SECONDS, &[("op", "put_if_absent")]) {
        Some(DebugValue::Histogram(v)) => assert!(!v.is_empty()),
        other => panic!("store latency histogram: {other:?}"),
    }
    match find(&snap, MetricKind::Histogram, stratovec::metrics::SEARCH_DURATION_SECONDS, &[("db", "orders")]) {
        Some(DebugValue::Histogram(v)) => assert_eq!(v.len(), 5, "one value per successful search"),
        other => panic!("search histogram: {other:?}"),
    }
    match find(&snap, MetricKind::Histogram, stratovec::metrics::COMMIT_DURATION_SECONDS, &[]) {
        Some(DebugValue::Histogram(v)) => assert_eq!(v.len(), 1),
        other => panic!("commit histogram: {other:?}"),
    }
    match find(&snap, MetricKind::Gauge, stratovec::metrics::ROWS, &[("state", "live")]) {
        Some(DebugValue::Gauge(v)) => assert_eq!(v.into_inner(), 50.0, "set by the commit, before the delete"),
        other => panic!("rows gauge: {other:?}"),
    }
    match find(&snap, MetricKind::Gauge, stratovec::metrics::SEGMENTS, &[("kind", "hnsw")]) {
        Some(DebugValue::Gauge(v)) => assert_eq!(v.into_inner(), 1.0),
        other => panic!("segments gauge: {other:?}"),
    }
}

#[test]
fn stats_count_operations_deleted_rows_kinds_and_latency() {
    let (_, db) = memory_db(DbOptions::default());
    let data = vectors(100, DIM, 5);
    db.insert_batch(&(0..100).collect::<Vec<u64>>(), &data).unwrap();
    block(db.commit()).unwrap();
    for id in 0..30 {
        db.delete(id).unwrap();
    }
    block(db.commit()).unwrap();
    for i in 0..20 {
        db.search(&data[i * DIM..(i + 1) * DIM], 5, &SearchParams::default()).unwrap();
    }
    let s = db.stats();
    assert_eq!((s.rows, s.live_rows, s.deleted_rows), (100, 70, 30));
    assert!((s.deleted_ratio - 0.3).abs() < 1e-9, "{}", s.deleted_ratio);
    assert_eq!(s.segments_by_kind.len(), 1);
    assert_eq!((s.segments_by_kind[0].kind.as_str(), s.segments_by_kind[0].rows), ("hnsw", 100));
    let ops = |op| s.operations.iter().find(|o| o.operation == op).unwrap();
    assert_eq!((ops(stratovec::metrics::Operation::Delete).calls, ops(stratovec::metrics::Operation::Commit).calls), (30, 2));
    assert_eq!(ops(stratovec::metrics::Operation::Search).calls, 20);
    assert_eq!(s.search_latency.searches, 20);
    assert!(s.search_latency.p50_ms > 0.0 && s.search_latency.p50_ms <= s.search_latency.p99_ms);
    assert!(s.last_commit.is_some());
    assert!(s.memory.pk_index > 0 && s.memory.tombstones > 0, "{:?}", s.memory);
}

#[test]
fn health_reports_deleted_ratio_until_compaction() {
    let (_, db) = memory_db(DbOptions::default());
    assert_eq!(db.health().status, HealthStatus::Healthy);
    let data = vectors(100, DIM, 6);
    db.insert_batch(&(0..100).collect::<Vec<u64>>(), &data).unwrap();
    block(db.commit()).unwrap();
    for id in 0..25 {
        db.delete(id).unwrap();
    }
    block(db.commit()).unwrap();
    let h = db.health();
    assert_eq!(h.status, HealthStatus::Degraded, "{h:?}");
    assert_eq!(h.reasons[0].code, "deleted_ratio");
    block(db.compact_with(&MergeAll)).unwrap();
    assert_eq!(db.health().status, HealthStatus::Healthy, "{:?}", db.health());
}

#[test]
fn health_reports_a_failing_commit_then_recovers() {
    let faulty = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new()), 7));
    let store: Arc<dyn BlobStore> = faulty.clone();
    let db = block(Db::create(store, DIM, Metric::L2, DbOptions::default())).unwrap();
    db.insert_batch(&[1, 2], &vectors(2, DIM, 1)).unwrap();
    faulty.inject(Rule::new(Op::PutIfAbsent, Fault::Error));
    assert_eq!(block(db.commit()).unwrap_err().kind(), ErrorKind::Unavailable);
    let h = db.health();
    assert_eq!((h.status, h.reasons[0].code), (HealthStatus::Degraded, "commit_failed"), "{h:?}");
    faulty.clear();
    block(db.commit()).unwrap();
    assert_eq!(db.health().status, HealthStatus::Healthy);
}

#[test]
fn health_reports_a_fenced_writer_as_unhealthy() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let old = block(Db::create(store.clone(), DIM, Metric::L2, DbOptions::default())).unwrap();
    let _new = block(Db::open(store, DbOptions::default())).unwrap();
    old.insert(1, &vectors(1, DIM, 2)).unwrap();
    assert_eq!(block(old.commit()).unwrap_err().kind(), ErrorKind::Fenced);
    let h = old.health();
    assert_eq!(h.status, HealthStatus::Unhealthy, "{h:?}");
    assert!(h.reasons.iter().any(|r| r.code == "fenced"), "{h:?}");
}

#[test]
fn close_commits_then_refuses_writes_and_keeps_reads() {
    let (store, db) = memory_db(DbOptions::default());
    let data = vectors(10, DIM, 9);
    db.insert_batch(&(0..10).collect::<Vec<u64>>(), &data).unwrap();
    let report = block(db.close()).unwrap();
    assert_eq!((report.version, report.committed), (2, 10));
    assert_eq!(db.insert(11, &data[..DIM]).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(block(db.commit()).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(block(db.compact()).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(db.search(&data[..DIM], 1, &SearchParams::default()).unwrap()[0].id, 0, "reads still work");
    assert_eq!(block(db.close()).unwrap().committed, 0, "a second close is a no-op");
    drop(db);
    let db = block(Db::open(store, DbOptions::default())).unwrap();
    assert_eq!(db.stats().live_rows, 10, "the final commit is durable");
}

#[test]
fn a_failed_close_leaves_the_handle_open_for_a_retry() {
    let faulty = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new()), 8));
    let store: Arc<dyn BlobStore> = faulty.clone();
    let db = block(Db::create(store, DIM, Metric::L2, DbOptions::default())).unwrap();
    db.insert(1, &vectors(1, DIM, 3)).unwrap();
    faulty.inject(Rule::new(Op::PutIfAbsent, Fault::Error));
    assert_eq!(block(db.close()).unwrap_err().kind(), ErrorKind::Unavailable);
    faulty.clear();
    db.insert(2, &vectors(1, DIM, 4)).unwrap();
    assert_eq!(block(db.close()).unwrap().committed, 2);
}

/// Captures formatted log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn open_commit_compaction_and_errors_are_logged_with_fields() {
    let out = Captured::default();
    let subscriber = tracing_subscriber::fmt().with_writer(out.clone()).with_max_level(tracing::Level::TRACE).with_ansi(false).finish();
    // The process-wide default (the only test here that installs one): a thread-local
    // subscriber misses events whose call sites other test threads registered first
    // without one (tracing caches each call site's interest).
    tracing::subscriber::set_global_default(subscriber).unwrap();
    {
        let (store, db) = memory_db(DbOptions { name: Some("logs".into()), ..DbOptions::default() });
        db.insert_batch(&[1, 2, 3], &vectors(3, DIM, 4)).unwrap();
        block(db.commit()).unwrap();
        db.insert(4, &vectors(1, DIM, 5)).unwrap();
        block(db.commit()).unwrap();
        block(db.compact_with(&MergeAll)).unwrap();
        let _ = db.search(&[0.0; 2], 1, &SearchParams::default());
        drop(db);
        let db = block(Db::open(store, DbOptions::default())).unwrap();
        db.insert(9, &vectors(1, DIM, 6)).unwrap();
    }
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    for needle in [
        "commit db=\"logs\" version=2 rows=3",
        "compaction db=\"logs\" merges=1",
        "operation failed op=\"search\" kind=\"invalid_argument\"",
        "opened db=\"\" version=5",
        "dropped with uncommitted rows",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
}

#[test]
fn a_failed_backup_is_a_health_reason_until_one_succeeds() {
    let (_, db) = memory_db(DbOptions::default());
    db.insert_batch(&[1, 2], &vectors(2, DIM, 1)).unwrap();
    block(db.commit()).unwrap();
    let target = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new()), 5));
    target.inject(Rule::new(Op::Put, Fault::Error));
    assert_eq!(block(db.backup_to(target.clone())).unwrap_err().kind(), ErrorKind::Unavailable);
    let h = db.health();
    assert_eq!((h.status, h.reasons[0].code), (HealthStatus::Degraded, "backup_failed"), "{h:?}");
    assert!(db.stats().last_backup.is_none());
    target.clear();
    block(db.backup_to(target)).unwrap();
    assert_eq!(db.health().status, HealthStatus::Healthy);
    assert!(db.stats().last_backup.is_some());
}
