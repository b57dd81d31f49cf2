//! Memory and row limits with backpressure: writes stall and fail with
//! `ResourceExhausted` instead of growing memory, a commit releases them, and a store that
//! fails every write loses nothing acknowledged.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;
use std::time::Duration;

use stratovec::backends::faulty::{Fault, FaultyStore, Op, Rule};
use stratovec::*;

mod common;
use common::{block, vectors};

const DIM: usize = 32;

/// Resident set size of this process, bytes (Linux `/proc/self/statm`; 0 elsewhere).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

#[test]
fn writes_over_the_hard_limit_fail_until_a_commit_frees_memory() {
    let options = DbOptions {
        memtable_limit_bytes: None, // no automatic commit: only the hard limit acts
        memory_limit_bytes: Some(200_000),
        write_stall_timeout: Duration::from_millis(50),
        ..DbOptions::default()
    };
    let db = block(Db::create(Arc::new(MemoryStore::new()), DIM, Metric::L2, options)).unwrap();
    let mut next = 0u64;
    let refused = loop {
        let ids: Vec<u64> = (next..next + 100).collect();
        match db.insert_batch(&ids, &vectors(100, DIM, next)) {
            Ok(()) => next += 100,
            Err(e) => break e,
        }
        assert!(next < 100_000, "never refused");
    };
    assert_eq!(refused.kind(), ErrorKind::ResourceExhausted, "{refused}");
    let s = db.stats();
    assert_eq!(s.live_rows, next, "the refused batch applied nothing");
    assert!(s.memtable_bytes > 200_000 && s.memtable_bytes < 400_000, "{}", s.memtable_bytes);
    assert_eq!(db.health().reasons[0].code, "memory");
    block(db.commit()).unwrap();
    db.insert_batch(&(next..next + 100).collect::<Vec<u64>>(), &vectors(100, DIM, 7)).unwrap();
}

#[test]
fn a_stalled_writer_proceeds_when_another_thread_commits() {
    let options = DbOptions {
        memtable_limit_bytes: None,
        memory_limit_bytes: Some(100_000),
        write_stall_timeout: Duration::from_secs(30),
        ..DbOptions::default()
    };
    let db = Arc::new(block(Db::create(Arc::new(MemoryStore::new()), DIM, Metric::L2, options)).unwrap());
    db.insert_batch(&(0..500).collect::<Vec<u64>>(), &vectors(500, DIM, 1)).unwrap();
    assert!(db.stats().memtable_bytes > 100_000);
    let committer = {
        let db = db.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            block(db.commit()).unwrap()
        })
    };
    // Waits for the commit (well inside the 30 s timeout), then applies.
    db.insert(10_000, &vectors(1, DIM, 2)).unwrap();
    assert_eq!(committer.join().unwrap(), 2);
    assert!(db.contains(10_000));
}

#[test]
fn max_rows_refuses_new_keys_but_not_replacements() {
    let options = DbOptions { max_rows: Some(10), ..DbOptions::default() };
    let db = block(Db::create(Arc::new(MemoryStore::new()), DIM, Metric::L2, options)).unwrap();
    db.insert_batch(&(0..10).collect::<Vec<u64>>(), &vectors(10, DIM, 3)).unwrap();
    assert_eq!(db.insert(10, &vectors(1, DIM, 4)).unwrap_err().kind(), ErrorKind::ResourceExhausted);
    db.upsert(3, &vectors(1, DIM, 5)).unwrap();
    db.delete(0).unwrap();
    db.insert(10, &vectors(1, DIM, 6)).unwrap();
    assert_eq!(db.stats().live_rows, 10);
}

/// A store that fails every write while a writer inserts in a loop: memory stays bounded
/// (the first failed automatic commit makes later writes fail with it, applying nothing),
/// and once the store recovers every acknowledged row is committed.
#[test]
fn a_failing_store_bounds_memory_and_loses_nothing_acknowledged() {
    let faulty = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new()), 11));
    let store: Arc<dyn BlobStore> = faulty.clone();
    let soft = 1 << 20;
    let options = || DbOptions { memtable_limit_bytes: Some(soft), memory_limit_bytes: Some(4 * soft), ..DbOptions::default() };
    let db = block(Db::create(store.clone(), DIM, Metric::L2, options())).unwrap();
    faulty.inject(Rule::new(Op::PutIfAbsent, Fault::Error));
    let rss_before = rss_bytes();
    let (mut acknowledged, mut failed) = (Vec::new(), 0);
    let mut kinds = std::collections::BTreeSet::new();
    for round in 0..400u64 {
        let ids: Vec<u64> = (round * 100..round * 100 + 100).collect();
        match db.insert_batch(&ids, &vectors(100, DIM, round)) {
            Ok(()) => acknowledged.extend(ids),
            Err(e) => {
                failed += 1;
                kinds.insert(format!("{:?}", e.kind()));
            }
        }
        assert!(db.stats().memtable_bytes <= 4 * soft, "round {round}: {} bytes", db.stats().memtable_bytes);
    }
    let rss_growth = rss_bytes().saturating_sub(rss_before);
    println!(
        "failing store: {} batches acknowledged, {failed} refused ({kinds:?}), memtable {} bytes, RSS grew {} KiB",
        acknowledged.len() / 100,
        db.stats().memtable_bytes,
        rss_growth / 1024
    );
    // About 1 MiB of rows (the soft limit) is accepted before the automatic commit fails.
    assert!(failed >= 300, "writes kept being accepted: {failed} refused");
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["Unavailable"]);
    // 40,000 rows of 32 dimensions would be over 5 MB of vectors alone, 10 MB with the graph.
    assert!(rss_growth < 16 << 20, "RSS grew {rss_growth} bytes");
    faulty.clear();
    block(db.commit()).unwrap();
    drop(db);
    let db = block(Db::open(store, options())).unwrap();
    assert_eq!(db.stats().live_rows, acknowledged.len() as u64);
    assert!(acknowledged.iter().all(|id| db.contains(*id)));
}
