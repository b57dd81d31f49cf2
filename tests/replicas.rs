//! Writer fencing, the commit store's preflight, read-only replicas (`refresh`, the
//! refresher thread) and time travel (`open_at`, `open_at_time`).
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use stratovec::backends::faulty::{Fault, FaultyStore, Op, Rule};
use stratovec::*;

mod common;
use common::{block, vectors};

const DIM: usize = 8;

fn memory() -> Arc<dyn BlobStore> {
    Arc::new(MemoryStore::new())
}

fn new_db(store: &Arc<dyn BlobStore>) -> Db {
    block(Db::create(store.clone(), DIM, Metric::L2, DbOptions::default())).unwrap()
}

fn put_rows(db: &Db, ids: Range<u64>) {
    let ids: Vec<u64> = ids.collect();
    db.insert_batch(&ids, &vectors(ids.len(), DIM, ids[0])).unwrap();
}

fn live(db: &ReadOnlyDb) -> u64 {
    db.stats().live_rows
}

#[test]
fn a_newer_writer_fences_the_older_one() {
    let store = memory();
    let old = new_db(&store);
    put_rows(&old, 0..10);
    block(old.commit()).unwrap();
    let new = block(Db::open(store.clone(), DbOptions::default())).unwrap();
    assert!(new.manifest().epoch > old.manifest().epoch);

    put_rows(&old, 100..110);
    let e = block(old.commit()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fenced, "{e}");
    put_rows(&new, 200..210);
    let v = block(new.commit()).unwrap();

    let reader = block(Db::open_read_only(store.clone(), DbOptions::default())).unwrap();
    assert_eq!(reader.stats().version, v);
    assert!(reader.contains(5) && reader.contains(205), "the new writer's rows and the committed ones");
    assert!(!reader.contains(105), "the fenced writer published nothing");
}

#[test]
fn a_fenced_writer_cannot_compact_either() {
    let store = memory();
    let old = new_db(&store);
    for b in 0..3 {
        put_rows(&old, b * 10..b * 10 + 10);
        block(old.commit()).unwrap();
    }
    let _new = block(Db::open(store.clone(), DbOptions::default())).unwrap();
    let e = block(old.compact_with(&MergeAll)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fenced, "{e}");
    let reader = block(Db::open_read_only(store, DbOptions::default())).unwrap();
    assert_eq!(reader.stats().segments, 3, "the compaction was not published");
}

/// A store whose create-only writes overwrite (as S3-compatible stores that ignore
/// `If-None-Match` do).
#[derive(Debug, Default)]
struct IgnoresIfNoneMatch(MemoryStore);

#[async_trait]
impl BlobStore for IgnoresIfNoneMatch {
    async fn get(&self, path: &str) -> std::result::Result<Bytes, StoreError> {
        self.0.get(path).await
    }
    async fn get_range(&self, path: &str, range: Range<u64>) -> std::result::Result<Bytes, StoreError> {
        self.0.get_range(path, range).await
    }
    async fn put(&self, path: &str, data: Bytes) -> std::result::Result<(), StoreError> {
        self.0.put(path, data).await
    }
    async fn put_if_absent(&self, path: &str, data: Bytes) -> std::result::Result<(), StoreError> {
        self.0.put(path, data).await
    }
    async fn delete(&self, path: &str) -> std::result::Result<(), StoreError> {
        self.0.delete(path).await
    }
    async fn list(&self, prefix: &str) -> std::result::Result<Vec<String>, StoreError> {
        self.0.list(prefix).await
    }
    async fn head(&self, path: &str) -> std::result::Result<ObjectMeta, StoreError> {
        self.0.head(path).await
    }
}

#[test]
fn writers_refuse_a_store_that_ignores_create_only_writes() {
    let store: Arc<dyn BlobStore> = Arc::new(IgnoresIfNoneMatch::default());
    let e = block(Db::create(store.clone(), DIM, Metric::L2, DbOptions::default())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Rejected, "{e}");
    assert!(e.to_string().contains("DynamoDb"), "the error suggests a commit store that works: {e}");
    assert!(block(store.list("")).unwrap().is_empty(), "nothing is left behind");
}

#[test]
fn a_replica_sees_new_versions_only_after_refresh() {
    let store = memory();
    let writer = new_db(&store);
    put_rows(&writer, 0..50);
    block(writer.commit()).unwrap();
    let replica = block(Db::open_read_only(store.clone(), DbOptions::default())).unwrap();
    assert_eq!(live(&replica), 50);

    put_rows(&writer, 50..80);
    for id in 0..10 {
        writer.delete(id).unwrap();
    }
    let v = block(writer.commit()).unwrap();
    assert_eq!(live(&replica), 50, "a replica stays on its snapshot");
    assert_eq!(block(replica.refresh()).unwrap(), v);
    assert_eq!(live(&replica), 70, "new rows and committed deletes after refresh");
    assert!(!replica.contains(3) && replica.contains(60));
    let hits = replica.search(&vectors(1, DIM, 3)[..DIM], 10, &SearchParams::default()).unwrap();
    assert!(hits.iter().all(|h| h.id >= 10), "deleted rows are not returned");

    block(writer.compact_with(&MergeAll)).unwrap();
    block(replica.refresh()).unwrap();
    assert_eq!((live(&replica), replica.stats().segments), (70, 1), "refresh follows a compaction");
    assert_eq!(block(replica.refresh()).unwrap(), replica.stats().version, "refresh at the newest version is a no-op");
}

#[test]
fn replicas_never_write_to_the_store() {
    let faulty = Arc::new(FaultyStore::new(memory(), 1));
    let store: Arc<dyn BlobStore> = faulty.clone();
    let writer = new_db(&store);
    put_rows(&writer, 0..20);
    block(writer.commit()).unwrap();
    for op in [Op::Put, Op::PutIfAbsent, Op::Delete] {
        faulty.inject(Rule::new(op, Fault::Error));
    }
    // Opening reads only (writes through a replica do not compile: ReadOnlyDb has no
    // write methods).
    let replica = block(Db::open_read_only(store.clone(), DbOptions::default())).unwrap();
    assert_eq!(live(&replica), 20);
    faulty.clear();
    put_rows(&writer, 20..30);
    block(writer.commit()).unwrap();
    for op in [Op::Put, Op::PutIfAbsent, Op::Delete] {
        faulty.inject(Rule::new(op, Fault::Error));
    }
    let before = faulty.injected();
    block(replica.refresh()).unwrap();
    assert_eq!(live(&replica), 30);
    assert_eq!(faulty.injected(), before, "the replica attempted no write");
}

#[test]
fn searches_keep_running_while_a_replica_refreshes() {
    let store = memory();
    let writer = new_db(&store);
    put_rows(&writer, 0..200);
    block(writer.commit()).unwrap();
    let replica = Arc::new(block(Db::open_read_only(store.clone(), DbOptions::default())).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let searcher = {
        let (r, stop) = (replica.clone(), stop.clone());
        std::thread::spawn(move || {
            let q = vectors(1, DIM, 77);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let hits = r.search(&q, 5, &SearchParams::default()).expect("search during refresh");
                assert_eq!(hits.len(), 5);
                n += 1;
            }
            n
        })
    };
    for b in 1..6u64 {
        put_rows(&writer, b * 200..b * 200 + 200);
        block(writer.commit()).unwrap();
        block(replica.refresh()).unwrap();
        assert_eq!(live(&replica), (b + 1) * 200);
    }
    stop.store(true, Ordering::Relaxed);
    assert!(searcher.join().unwrap() > 0);
}

#[test]
fn a_refresher_thread_follows_the_writer() {
    let store = memory();
    let writer = new_db(&store);
    let replica = Arc::new(block(Db::open_read_only(store.clone(), DbOptions::default())).unwrap());
    let refresher = replica.spawn_refresher(Duration::from_millis(10));
    put_rows(&writer, 0..40);
    let v = block(writer.commit()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while replica.stats().version < v {
        assert!(std::time::Instant::now() < deadline, "the refresher did not reach version {v}: {:?}", refresher.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(live(&replica), 40);
    assert!(refresher.stats().attempts >= 1 && refresher.stats().last_error.is_none());
}

#[test]
fn time_travel_opens_old_versions() {
    let store = memory();
    let writer = new_db(&store);
    put_rows(&writer, 0..10);
    let v_a = block(writer.commit()).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let between = SystemTime::now();
    std::thread::sleep(Duration::from_millis(20));
    put_rows(&writer, 10..30);
    writer.delete(0).unwrap();
    let v_b = block(writer.commit()).unwrap();

    let old = block(Db::open_at(store.clone(), v_a, DbOptions::default())).unwrap();
    assert_eq!((old.stats().version, live(&old)), (v_a, 10));
    assert!(old.contains(0) && !old.contains(15));
    assert_eq!(block(old.refresh()).unwrap_err().kind(), ErrorKind::InvalidArgument, "a pinned version stays put");

    let at = block(Db::open_at_time(store.clone(), between, DbOptions::default())).unwrap();
    assert_eq!(at.stats().version, v_a);
    let now = block(Db::open_at_time(store.clone(), SystemTime::now(), DbOptions::default())).unwrap();
    assert_eq!((now.stats().version, live(&now)), (v_b, 29));
    let e = block(Db::open_at_time(store.clone(), SystemTime::UNIX_EPOCH, DbOptions::default())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = block(Db::open_at(store, v_b + 5, DbOptions::default())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn a_zombie_writer_never_touches_the_new_writers_files_in_either_order() {
    for new_first in [true, false] {
        common::zombie_writer_keeps_its_hands_off(memory(), &DbOptions::default, new_first);
        let dir = tempfile::tempdir().unwrap();
        common::zombie_writer_keeps_its_hands_off(common::local(dir.path()), &DbOptions::default, new_first);
    }
}
