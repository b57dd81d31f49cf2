//! Snapshot isolation: writers replace or delete pairs of keys in atomic batches while
//! commits and compactions run; readers (scans read slowly, batch by batch, and searches)
//! must never see half a batch.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::{block, vectors};
use stratovec::{Db, DbOptions, Filter, Include, MemoryStore, MergeAll, Metric, Record, SearchOptions, Value, WriteBatch};

const DIM: usize = 4;
const PAIRS: u64 = 60;

fn tags(records: impl IntoIterator<Item = stratovec::RecordView>) -> BTreeMap<u64, i64> {
    records
        .into_iter()
        .map(|r| match r.metadata.unwrap().get("tag") {
            Some(Value::Int(t)) => (r.id, *t),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Every pair is whole: both keys with the same tag, or neither.
fn assert_pairs_whole(seen: &BTreeMap<u64, i64>, what: &str) {
    for p in 0..PAIRS {
        let (a, b) = (seen.get(&(2 * p)), seen.get(&(2 * p + 1)));
        assert_eq!(a, b, "{what} saw half a batch for pair {p}: {a:?} vs {b:?}");
    }
}

#[test]
fn readers_never_see_half_a_batch() {
    let options = DbOptions::default().with_flat_threshold(16).with_compaction(MergeAll);
    let db = Arc::new(block(Db::create(Arc::new(MemoryStore::new()), DIM, Metric::L2, options)).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        let mut writers = Vec::new();
        for w in 0..2u64 {
            let (db, checks) = (db.clone(), checks.clone());
            writers.push(scope.spawn(move || {
                // At least 400 batches each, and until the readers have checked 100 times.
                for i in (0u64..).take_while(|i| *i < 400 || checks.load(Ordering::Relaxed) < 100) {
                    let p = (i * 7 + w * 13) % PAIRS;
                    let tag = (w * 1_000_000 + i) as i64;
                    let mut batch = WriteBatch::new();
                    if i % 5 == 4 {
                        batch.delete(2 * p).delete(2 * p + 1);
                    } else {
                        for id in [2 * p, 2 * p + 1] {
                            batch.upsert(Record::new(id, vectors(1, DIM, id + i)).with("tag", tag));
                        }
                    }
                    db.write(&batch).unwrap();
                }
            }));
        }
        let maintenance = {
            let (db, done) = (db.clone(), done.clone());
            scope.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    block(db.commit()).unwrap();
                    block(db.compact()).unwrap();
                }
            })
        };
        let mut readers = Vec::new();
        for r in 0..2u64 {
            let (db, done, checks) = (db.clone(), done.clone(), checks.clone());
            readers.push(scope.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let mut seen = Vec::new();
                    for batch in db.scan(None, 3, Include::METADATA).unwrap() {
                        seen.extend(batch.unwrap());
                        std::thread::yield_now(); // let writers, commits and compactions in
                    }
                    assert_pairs_whole(&tags(seen), "a scan");
                    let opts = SearchOptions {
                        k: 2 * PAIRS as usize,
                        filter: Some(Filter::ge("tag", 0.0)),
                        include: Include::METADATA,
                        ..Default::default()
                    };
                    if let Ok((hits, _)) = db.search_with(&vectors(1, DIM, r), &opts) {
                        assert_pairs_whole(&tags(hits.into_iter().map(|h| h.record)), "a search");
                    }
                    checks.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        maintenance.join().unwrap();
        for r in readers {
            r.join().unwrap();
        }
    });
    assert!(checks.load(Ordering::Relaxed) >= 100, "readers ran {} times", checks.load(Ordering::Relaxed));
    assert!(db.stats().version > 2);
}
