//! Durability: the write-ahead log (replay, torn tails, truncation after commit), automatic
//! commits, and a writer's behaviour when its store fails (FaultyStore, poisoning).
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

mod common;

use std::sync::Arc;

use common::{block, local, vectors};
use stratovec::backends::faulty::{Fault, FaultyStore, Op, Rule};
use stratovec::{Db, DbOptions, Durability, ErrorKind, Include, MemoryStore, Metric, Record, SyncPolicy, Value, WalOptions, WriteBatch};

const DIM: usize = 8;

fn wal_options(dir: &std::path::Path, sync: SyncPolicy) -> DbOptions {
    DbOptions::default().with_durability(Durability::Wal(WalOptions::new(dir.join("wal")).with_sync(sync)))
}

fn record(id: u64, tag: i64) -> Record {
    Record::new(id, vectors(1, DIM, id * 1000 + tag as u64)).with("tag", tag).with_payload(tag.to_le_bytes().to_vec())
}

fn tag_of(db: &Db, id: u64) -> Option<i64> {
    let r = db.get_record(id, Include::ALL).unwrap()?;
    match r.metadata.as_ref()?.get("tag") {
        Some(Value::Int(t)) => Some(*t),
        _ => None,
    }
}

fn wal_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let log_file = |p: &std::path::PathBuf| p.file_name().is_some_and(|n| n.to_string_lossy().contains(".wal"));
    let mut v: Vec<_> = std::fs::read_dir(dir.join("wal")).unwrap().map(|e| e.unwrap().path()).filter(log_file).collect();
    v.sort();
    v
}

#[test]
fn wal_replays_acknowledged_writes_without_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    for sync in [SyncPolicy::EveryWrite, SyncPolicy::Interval(std::time::Duration::from_millis(5)), SyncPolicy::Never] {
        let dir = dir.path().join(format!("{sync:?}"));
        std::fs::create_dir_all(&dir).unwrap();
        let db = block(Db::create(local(&dir), DIM, Metric::L2, wal_options(&dir, sync))).unwrap();
        for id in 0..50 {
            db.insert_record(record(id, 1)).unwrap();
        }
        let mut batch = WriteBatch::new();
        batch.upsert(record(3, 2)).delete(4).upsert(record(60, 7));
        db.write(&batch).unwrap();
        db.delete(5).unwrap();
        db.insert_batch(&[100, 101], &vectors(2, DIM, 9)).unwrap();
        drop(db);

        let db = block(Db::open(local(&dir), wal_options(&dir, sync))).unwrap();
        assert_eq!(db.stats().live_rows, 50 - 2 + 1 + 2, "{sync:?}");
        assert_eq!(tag_of(&db, 3), Some(2));
        assert_eq!(tag_of(&db, 60), Some(7));
        assert!(!db.contains(4) && !db.contains(5));
        assert_eq!(db.get(100).unwrap().unwrap(), vectors(1, DIM, 9)[..DIM].to_vec());
        let r = db.get_record(3, Include::ALL).unwrap().unwrap();
        assert_eq!(r.payload.unwrap(), 2i64.to_le_bytes().to_vec());
    }
}

/// Two databases pointed at one log directory: the second is refused (`Incompatible`)
/// and the first keeps every acknowledged write of its log.
#[test]
fn a_log_of_another_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let shared = wal_options(dir.path(), SyncPolicy::EveryWrite);
    let db = block(Db::create(local(&a), DIM, Metric::L2, shared.clone())).unwrap();
    db.insert_record(record(1, 5)).unwrap();
    drop(db);
    let e = block(Db::create(local(&b), DIM, Metric::L2, shared.clone())).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Incompatible, "{e}");
    assert!(e.to_string().contains("belongs to database"), "{e}");
    let e = block(Db::open(local(&b), shared.clone())).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Incompatible, "{e}");
    let db = block(Db::open(local(&a), shared)).unwrap();
    assert_eq!(tag_of(&db, 1), Some(5), "the owner's acknowledged write is still in its log");
}

#[test]
fn commit_removes_the_log_it_published_and_later_writes_replay() {
    let dir = tempfile::tempdir().unwrap();
    let db = block(Db::create(local(dir.path()), DIM, Metric::L2, wal_options(dir.path(), SyncPolicy::EveryWrite))).unwrap();
    for id in 0..20 {
        db.insert_record(record(id, 1)).unwrap();
    }
    block(db.commit()).unwrap();
    assert_eq!(wal_files(dir.path()).len(), 1, "only the file after the commit is left");
    db.upsert_record(record(7, 2)).unwrap();
    db.delete(8).unwrap();
    drop(db);
    let db = block(Db::open(local(dir.path()), wal_options(dir.path(), SyncPolicy::EveryWrite))).unwrap();
    assert_eq!(tag_of(&db, 7), Some(2));
    assert!(!db.contains(8));
    assert_eq!(db.stats().live_rows, 19);
    // Reopening twice replays the same log again: same keys and values.
    drop(db);
    let db = block(Db::open(local(dir.path()), wal_options(dir.path(), SyncPolicy::EveryWrite))).unwrap();
    assert_eq!((tag_of(&db, 7), db.stats().live_rows), (Some(2), 19));
}

#[test]
fn a_torn_tail_is_cut_and_later_writes_survive() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || wal_options(dir.path(), SyncPolicy::Never);
    let db = block(Db::create(local(dir.path()), DIM, Metric::L2, opts())).unwrap();
    for id in 0..10 {
        db.insert_record(record(id, 1)).unwrap();
    }
    drop(db);
    // Cut the last record short, as a crash in the middle of an append would.
    let file = wal_files(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(len - 5).unwrap();

    let db = block(Db::open(local(dir.path()), opts())).unwrap();
    assert_eq!(db.stats().live_rows, 9, "the torn record (key 9) is dropped, the rest replayed");
    let replay = db.stats().log_replay;
    assert_eq!(replay.records, 9);
    assert!(replay.dropped_bytes > 0, "{replay:?}");
    assert!(!db.contains(9));
    db.insert_record(record(42, 3)).unwrap();
    drop(db);
    let db = block(Db::open(local(dir.path()), opts())).unwrap();
    assert_eq!(db.stats().live_rows, 10);
    assert_eq!(tag_of(&db, 42), Some(3), "a write after the cut is not hidden behind the torn record");
}

#[test]
fn a_corrupt_record_before_later_writes_is_refused_unless_discarding() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || wal_options(dir.path(), SyncPolicy::Never);
    let db = block(Db::create(local(dir.path()), DIM, Metric::L2, opts())).unwrap();
    db.insert_record(record(1, 1)).unwrap();
    db.insert_record(record(2, 1)).unwrap();
    drop(db);
    let db = block(Db::open(local(dir.path()), opts())).unwrap();
    db.insert_record(record(3, 1)).unwrap(); // goes to a second file
    drop(db);
    let files = wal_files(dir.path());
    assert_eq!(files.len(), 2);
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff; // inside record 2's payload
    std::fs::write(&files[0], bytes).unwrap();

    let e = block(Db::open(local(dir.path()), opts())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "damage before acknowledged writes is not a torn tail: {e}");
    assert!(e.to_string().contains(&files[0].display().to_string()), "{e}");
    assert_eq!(wal_files(dir.path()).len(), 2, "nothing was cut or set aside");

    let discard = || {
        let mut o = opts();
        if let Durability::Wal(w) = &mut o.durability {
            w.discard_after_corruption = true;
        }
        o
    };
    let db = block(Db::open(local(dir.path()), discard())).unwrap();
    assert!(db.contains(1));
    assert!(!db.contains(2) && !db.contains(3), "replay stops at the first bad record");
    let names: Vec<String> = wal_files(dir.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert!(names.iter().any(|n| n.ends_with(".wal.corrupt")), "{names:?}");
}

#[test]
fn the_memtable_commits_itself_past_its_limit() {
    let store = Arc::new(MemoryStore::new());
    let opts = DbOptions { memtable_limit_bytes: Some(64 << 10), ..DbOptions::default() };
    let db = block(Db::create(store.clone(), DIM, Metric::L2, opts.clone())).unwrap();
    for id in 0..2000 {
        db.insert(id, &vectors(1, DIM, id)).unwrap();
    }
    let stats = db.stats();
    assert!(stats.version > 2, "automatic commits published versions (at {})", stats.version);
    assert!(stats.memtable_bytes < 64 << 10);
    let committed = stats.rows - stats.memtable_rows as u64;
    drop(db);
    let db = block(Db::open(store, opts)).unwrap();
    assert_eq!(db.stats().live_rows, committed);
}

/// A failed automatic commit is not ignored: stats report it, the next write retries the
/// commit and fails with its error (nothing applied) while the store fails, so memory stays
/// bounded; once the store recovers, writes go on and every acknowledged row is committed.
#[test]
fn a_failed_automatic_commit_fails_the_next_writes_until_a_commit_succeeds() {
    let inner = Arc::new(MemoryStore::new());
    let faulty = Arc::new(FaultyStore::new(inner.clone(), 5));
    let opts = DbOptions { memtable_limit_bytes: Some(16 << 10), ..DbOptions::default() };
    let db = block(Db::create(faulty.clone(), DIM, Metric::L2, opts.clone())).unwrap();
    faulty.inject(Rule::new(Op::PutIfAbsent, Fault::Error).prefix("segments/"));
    let mut id = 0u64;
    while db.stats().auto_commit_error.is_none() {
        db.insert(id, &vectors(1, DIM, id)).unwrap();
        id += 1;
        assert!(id < 10_000, "the memtable never reached its limit");
    }
    let acknowledged = id;
    let bytes = db.stats().memtable_bytes;
    for attempt in 0..3 {
        let e = db.insert(100_000 + attempt, &vectors(1, DIM, 7)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
        assert!(!db.contains(100_000 + attempt), "nothing of a refused write is applied");
    }
    assert_eq!(db.stats().memtable_bytes, bytes, "memory does not grow while commits fail");
    faulty.clear();
    db.insert(id, &vectors(1, DIM, id)).unwrap();
    assert_eq!(db.stats().auto_commit_error, None);
    drop(db);
    let db = block(Db::open(inner, opts)).unwrap();
    for k in 0..acknowledged {
        assert!(db.contains(k), "acknowledged key {k} was committed by the retried commit");
    }
}

#[test]
fn a_lost_manifest_response_is_resolved_by_reading_it_back() {
    let faulty = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new()), 1));
    let db = block(Db::create(faulty.clone(), DIM, Metric::L2, DbOptions::default())).unwrap();
    db.insert(1, &vectors(1, DIM, 1)).unwrap();
    faulty.inject(Rule::new(Op::PutIfAbsent, Fault::LostResponse).prefix("MANIFEST-").times(1));
    assert_eq!(block(db.commit()).unwrap(), 2, "the manifest was written; reading it back proves it");
    db.insert(2, &vectors(1, DIM, 2)).unwrap();
    assert_eq!(block(db.commit()).unwrap(), 3);
    assert_eq!(faulty.injected(), 1);
}

#[test]
fn an_unresolvable_publish_poisons_the_writer_and_loses_nothing_committed() {
    let inner = Arc::new(MemoryStore::new());
    let faulty = Arc::new(FaultyStore::new(inner.clone(), 2));
    let db = block(Db::create(faulty.clone(), DIM, Metric::L2, DbOptions::default())).unwrap();
    db.insert(1, &vectors(1, DIM, 1)).unwrap();
    block(db.commit()).unwrap();
    db.insert(2, &vectors(1, DIM, 2)).unwrap();
    // The publish's response is lost and the read-back fails too: the outcome is unknown.
    faulty.inject(Rule::new(Op::PutIfAbsent, Fault::LostResponse).prefix("MANIFEST-").times(1));
    faulty.inject(Rule::new(Op::Read, Fault::Error).prefix("MANIFEST-").times(1));
    assert_eq!(block(db.commit()).unwrap_err().kind(), ErrorKind::Unavailable);
    let e = db.insert(3, &vectors(1, DIM, 3)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Poisoned, "{e}");
    assert_eq!(block(db.commit()).unwrap_err().kind(), ErrorKind::Poisoned);
    drop(db);
    let db = block(Db::open(inner, DbOptions::default())).unwrap();
    assert!(db.contains(1) && db.contains(2), "the publish did land; reopening finds it");
}

#[test]
fn failed_segment_writes_are_retried_by_the_next_commit() {
    let inner = Arc::new(MemoryStore::new());
    let faulty = Arc::new(FaultyStore::new(inner.clone(), 3));
    let db = block(Db::create(faulty.clone(), DIM, Metric::L2, DbOptions::default())).unwrap();
    for fault in [Fault::Error, Fault::TornWrite, Fault::LostResponse] {
        let id = db.stats().live_rows;
        db.insert(id, &vectors(1, DIM, id)).unwrap();
        faulty.inject(Rule::new(Op::PutIfAbsent, fault).prefix("segments/").times(1));
        let first = block(db.commit());
        assert!(first.is_err() || fault == Fault::LostResponse, "{fault:?}");
        block(db.commit()).unwrap();
        assert!(db.contains(id));
    }
    drop(db);
    let db = block(Db::open(inner, DbOptions::default())).unwrap();
    assert_eq!(db.stats().live_rows, 3);
}

#[test]
fn random_faults_never_lose_committed_rows() {
    let inner = Arc::new(MemoryStore::new());
    let faulty = Arc::new(FaultyStore::new(inner.clone(), 7));
    let db = block(Db::create(faulty.clone(), DIM, Metric::L2, DbOptions::default())).unwrap();
    for data in ["segments/", "tombstones/"] {
        faulty.inject(Rule::new(Op::PutIfAbsent, Fault::TornWrite).prefix(data).probability(0.05));
    }
    faulty.inject(Rule::new(Op::Any, Fault::Error).probability(0.03));
    let mut committed = 0u64;
    for round in 0..40u64 {
        for id in round * 10..round * 10 + 10 {
            db.insert(id, &vectors(1, DIM, id)).unwrap();
        }
        match block(db.commit()) {
            Ok(_) => committed = round * 10 + 10,
            Err(e) if e.kind() == ErrorKind::Poisoned => break,
            Err(_) => {}
        }
        if db.insert(u64::MAX, &vectors(1, DIM, 0)).is_err_and(|e| e.kind() == ErrorKind::Poisoned) {
            break;
        }
        let _ = db.delete(u64::MAX);
    }
    assert!(faulty.injected() > 0 && committed > 0, "injected {}, committed {committed}", faulty.injected());
    drop(db);
    faulty.clear();
    let db = block(Db::open(inner, DbOptions::default())).unwrap();
    for id in 0..committed {
        assert!(db.contains(id), "committed key {id} lost");
    }
}
