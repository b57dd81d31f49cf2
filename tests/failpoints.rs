//! In-process failpoints (feature `failpoints`): faults that cannot be caused from outside.
#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;

use stratovec::*;

mod common;
use common::{block, vectors};

/// "fsyncgate": after one failed `fsync` the kernel may have dropped the dirty pages and
/// cleared the error, so a later `fsync` that succeeds proves nothing. The write whose sync
/// failed is refused, and so is every later write, although `fsync` works again.
#[test]
fn one_failed_fsync_fails_every_later_write() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let opts = DbOptions::default().with_durability(Durability::Wal(WalOptions::new(dir.path())));
    let db = block(Db::create(Arc::new(MemoryStore::new()), 4, Metric::L2, opts)).unwrap();
    db.insert(1, &vectors(1, 4, 1)).unwrap();
    fail::cfg("wal::fsync_fails", "1*return").unwrap();
    let e = db.insert(2, &vectors(1, 4, 2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    fail::cfg("wal::fsync_fails", "off").unwrap();
    let e = db.insert(3, &vectors(1, 4, 3)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Poisoned | ErrorKind::Unavailable), "{e}");
    assert!(!db.contains(3));
    scenario.teardown();
}

/// A panic while the in-memory state changes (applying a write, swapping in a commit or a
/// compaction) poisons the writer: later writes fail with `Poisoned` instead of building on
/// a half-changed state; reopening gives every committed row back.
#[test]
fn a_panic_while_the_state_changes_poisons_the_writer() {
    for point in ["write::applying", "commit::swapping", "compact::swapping"] {
        let scenario = fail::FailScenario::setup();
        let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
        let db = block(Db::create(store.clone(), 4, Metric::L2, DbOptions::default())).unwrap();
        for b in 0..2u64 {
            db.insert_batch(&[b * 2, b * 2 + 1], &vectors(2, 4, b)).unwrap();
            block(db.commit()).unwrap();
        }
        db.insert(10, &vectors(1, 4, 10)).unwrap();
        fail::cfg(point, "1*panic").unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match point {
            "write::applying" => drop(db.insert(11, &vectors(1, 4, 11))),
            "commit::swapping" => drop(block(db.commit())),
            _ => drop(block(db.compact_with(&MergeAll))),
        }));
        assert!(panicked.is_err(), "{point}: the failpoint fired");
        fail::cfg(point, "off").unwrap();
        let e = db.insert(12, &vectors(1, 4, 12)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Poisoned, "{point}: {e}");
        assert!(e.to_string().contains("panic"), "{e}");
        assert_eq!(block(db.commit()).unwrap_err().kind(), ErrorKind::Poisoned, "{point}");
        drop(db);
        let db = block(Db::open(store, DbOptions::default())).unwrap();
        assert!((0..4).all(|id| db.contains(id)), "{point}: committed rows survive");
        scenario.teardown();
    }
}

/// While a write links its rows into the memtable graph (paused here), searches, reads and
/// `contains` still answer, from the state before the write; once the write returns, its
/// rows are found. Before searches stopped waiting on writers, the search below blocked
/// until the write finished.
#[test]
fn searches_answer_while_a_write_links_its_rows() {
    let scenario = fail::FailScenario::setup();
    let dim = 8;
    let db = Arc::new(block(Db::create(Arc::new(MemoryStore::new()), dim, Metric::L2, DbOptions::default())).unwrap());
    let old: Vec<u64> = (0..200).collect();
    db.insert_batch(&old, &vectors(200, dim, 1)).unwrap();
    block(db.commit()).unwrap();
    db.insert_batch(&[500, 501], &vectors(2, dim, 2)).unwrap();
    let new: Vec<u64> = (1000..1100).collect();
    let new_vectors = vectors(100, dim, 3);
    fail::cfg("write::linking", "pause").unwrap();
    let writer = {
        let (db, new, new_vectors) = (db.clone(), new.clone(), new_vectors.clone());
        std::thread::spawn(move || db.insert_batch(&new, &new_vectors))
    };
    std::thread::sleep(std::time::Duration::from_millis(200)); // let the writer reach the pause
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let (db, q) = (db.clone(), new_vectors[..dim].to_vec());
        std::thread::spawn(move || {
            let hits = db.search(&q, 5, &SearchParams::with_ef(32)).map(|h| h.iter().map(|x| x.id).collect::<Vec<_>>());
            let _ = tx.send((hits, db.contains(1000), db.contains(500), db.get(7).map(|v| v.is_some())));
        });
    }
    let answered = rx.recv_timeout(std::time::Duration::from_secs(20));
    fail::cfg("write::linking", "off").unwrap();
    let (hits, has_new, has_500, has_7) = answered.expect("the search answered while the write was linking");
    let hits = hits.unwrap();
    assert!(hits.iter().all(|id| *id < 1000), "rows being linked are never returned: {hits:?}");
    assert_eq!((has_new, has_500, has_7.unwrap()), (false, true, true));
    writer.join().unwrap().unwrap();
    let hits = db.search(&new_vectors[..dim], 1, &SearchParams::with_ef(32)).unwrap();
    assert_eq!(hits[0].id, 1000, "visible once the write returned");
    assert!(new.iter().all(|id| db.contains(*id)));
    scenario.teardown();
}
