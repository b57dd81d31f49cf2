//! Compaction: merges keep every live key and drop deleted rows, pending writes survive a
//! merge without becoming durable early, searches during compaction stay exact, outputs
//! switch to HNSW and DiskANN by size, conflicts are retried, and retired files go away.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use std::sync::Mutex;
use stratovec::formats::manifest::{Manifest, TombstoneFileMeta};
use stratovec::formats::segment::SegmentKind;
use stratovec::formats::tombstones::{self, Tombstone};
use stratovec::*;

mod common;
use common::{block, local, vectors};

const DIM: usize = 8;

/// The database's expected contents: key → stored vector.
type Model = BTreeMap<u64, Vec<f32>>;

/// Commits `batches` batches of `rows` rows each (keys continue from the model's largest).
fn commit_batches(db: &Db, model: &mut Model, batches: usize, rows: usize, seed: u64) {
    for b in 0..batches {
        let first = model.keys().next_back().map_or(0, |k| k + 1);
        let ids: Vec<u64> = (first..first + rows as u64).collect();
        let data = vectors(rows, DIM, seed * 1000 + b as u64);
        db.insert_batch(&ids, &data).unwrap();
        for (id, v) in ids.iter().zip(data.chunks(DIM)) {
            model.insert(*id, v.to_vec());
        }
        block(db.commit()).unwrap();
    }
}

fn exact_top(model: &Model, q: &[f32], k: usize) -> Vec<u64> {
    let d = |v: &[f32]| v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum::<f32>();
    let mut all: Vec<(f32, u64)> = model.iter().map(|(id, v)| (d(v), *id)).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|x| x.1).collect()
}

/// Every model key reads back its vector, nothing else is live, and exact (Flat) search
/// returns the model's top 10.
fn assert_matches(db: &Db, model: &Model) {
    assert_eq!(db.stats().live_rows, model.len() as u64);
    for (id, v) in model {
        assert_eq!(db.get(*id).unwrap().as_deref(), Some(v.as_slice()), "key {id}");
    }
    for q in vectors(5, DIM, 99).chunks(DIM) {
        let hits: Vec<u64> = db.search(q, 10, &SearchParams::default()).unwrap().iter().map(|h| h.id).collect();
        assert_eq!(hits, exact_top(model, q, 10));
    }
}

fn flat_only() -> DbOptions {
    DbOptions::default().with_flat_threshold(1_000_000)
}

#[test]
fn merge_all_keeps_live_keys_and_drops_deleted_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = block(Db::create(local(dir.path()), DIM, Metric::L2, flat_only())).unwrap();
    let mut model = Model::new();
    commit_batches(&db, &mut model, 5, 200, 1);
    for id in (0..1000).step_by(7) {
        assert!(db.delete(id).unwrap());
        model.remove(&id);
    }
    let replacement = vectors(1, DIM, 77);
    db.upsert(3, &replacement).unwrap();
    model.insert(3, replacement);
    block(db.commit()).unwrap();
    let before = db.stats();

    let report = block(db.compact_with(&MergeAll)).unwrap();
    let after = db.stats();
    assert_eq!(report.merges, 1);
    assert_eq!(report.segments_in, 6, "five batches and the upsert's segment");
    assert_eq!(report.rows_in, before.rows);
    assert_eq!(report.rows_out, model.len() as u64);
    assert_eq!((after.segments, after.rows, after.version), (1, model.len() as u64, before.version + 1));
    assert_eq!(db.manifest().tombstone_files.len(), 0, "all deleted rows were dropped");
    assert_matches(&db, &model);
    assert_eq!(block(db.compact_with(&MergeAll)).unwrap().merges, 0, "a clean single segment is left alone");
    drop(db);

    let db = block(Db::open(local(dir.path()), flat_only())).unwrap();
    assert_matches(&db, &model);
}

#[test]
fn pending_writes_survive_a_merge_but_stay_uncommitted() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store.clone(), DIM, Metric::L2, flat_only())).unwrap();
    let mut committed = Model::new();
    commit_batches(&db, &mut committed, 3, 100, 2);

    // Uncommitted: a delete and an upsert of rows in the segments being merged.
    let mut pending = committed.clone();
    db.delete(10).unwrap();
    pending.remove(&10);
    let v = vectors(1, DIM, 5);
    db.upsert(150, &v).unwrap();
    pending.insert(150, v);

    assert_eq!(block(db.compact_with(&MergeAll)).unwrap().merges, 1);
    assert_matches(&db, &pending);
    drop(db); // without committing

    let db = block(Db::open(store.clone(), flat_only())).unwrap();
    assert_matches(&db, &committed);
    commit_batches(&db, &mut committed, 1, 100, 3);
    db.delete(10).unwrap();
    assert_eq!(block(db.compact_with(&MergeAll)).unwrap().merges, 1);
    block(db.commit()).unwrap(); // the pending delete, remapped onto the merged segment
    committed.remove(&10);
    drop(db);
    let db = block(Db::open(store, flat_only())).unwrap();
    assert_matches(&db, &committed);
}

#[test]
fn searches_during_compaction_stay_exact() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = Arc::new(block(Db::create(store, DIM, Metric::L2, flat_only())).unwrap());
    let mut model = Model::new();
    commit_batches(&db, &mut model, 12, 1500, 3);
    for id in (0..18_000).step_by(5) {
        db.delete(id).unwrap();
        model.remove(&id);
    }
    block(db.commit()).unwrap();
    let model = Arc::new(model);
    let done = Arc::new(AtomicBool::new(false));
    let started = Arc::new(std::sync::Barrier::new(2));
    let searcher = {
        let (db, model, done, started) = (db.clone(), model.clone(), done.clone(), started.clone());
        std::thread::spawn(move || {
            started.wait();
            let queries = vectors(16, DIM, 123);
            let expected: Vec<Vec<u64>> = queries.chunks(DIM).map(|q| exact_top(&model, q, 10)).collect();
            let mut searches = 0u64;
            while !done.load(Ordering::Relaxed) || searches < 100 {
                for (q, want) in queries.chunks(DIM).zip(&expected) {
                    let got: Vec<u64> = db.search(q, 10, &SearchParams::default()).unwrap().iter().map(|h| h.id).collect();
                    assert_eq!(&got, want, "search {searches} during compaction");
                    searches += 1;
                }
            }
            searches
        })
    };
    let policy = SizeTiered { fanout: 3, max_merge: 3, base_rows: 1000, ..SizeTiered::default() };
    started.wait();
    let report = block(db.compact_with(&policy)).unwrap();
    done.store(true, Ordering::Relaxed);
    let searches = searcher.join().expect("no search saw a wrong result");
    assert!(report.merges >= 3, "{report:?}");
    assert!(db.stats().segments < 13);
    assert!(searches >= 100);
    assert_matches(&db, &model);
}

#[test]
fn large_outputs_become_hnsw_then_diskann() {
    let dir = tempfile::tempdir().unwrap();
    let options = DbOptions::default().with_flat_threshold(500).with_diskann_threshold(3000);
    let db = block(Db::create(local(dir.path()), DIM, Metric::L2, options.clone())).unwrap();
    let mut model = Model::new();
    commit_batches(&db, &mut model, 4, 400, 4);
    block(db.compact_with(&MergeAll)).unwrap();
    assert_eq!(db.manifest().segments[0].kind, SegmentKind::HNSW);
    commit_batches(&db, &mut model, 4, 400, 5);
    let report = block(db.compact_with(&MergeAll)).unwrap();
    assert_eq!(report.outputs[0].kind, SegmentKind::DISKANN);
    assert_eq!(report.rows_out, 3200);
    drop(db);

    let db = block(Db::open(local(dir.path()), options)).unwrap();
    for (id, v) in &model {
        assert_eq!(db.get(*id).unwrap().as_deref(), Some(v.as_slice()), "key {id}");
    }
    let (mut found, mut total) = (0, 0);
    let params = SearchParams::with_ef(64);
    for q in vectors(50, DIM, 7).chunks(DIM) {
        let hits: Vec<u64> = db.search(q, 10, &params).unwrap().iter().map(|h| h.id).collect();
        let want = exact_top(&model, q, 10);
        found += hits.iter().filter(|h| want.contains(h)).count();
        total += want.len();
    }
    let recall = found as f64 / total as f64;
    assert!(recall >= 0.9, "recall@10 {recall} over the DiskANN output");
}

/// Publishes a foreign manifest (another writer's) just before the next `try_commit`.
#[derive(Debug)]
struct Interloper {
    inner: BlobCommitStore,
    foreign: Mutex<Option<Bytes>>,
}

#[async_trait]
impl CommitStore for Interloper {
    async fn latest(&self) -> Result<Option<(u64, Bytes)>, CommitError> {
        self.inner.latest().await
    }
    async fn load(&self, version: u64) -> Result<Bytes, CommitError> {
        self.inner.load(version).await
    }
    async fn try_commit(&self, expected: u64, manifest: Bytes) -> Result<u64, CommitError> {
        let foreign = self.foreign.lock().unwrap().take();
        if let Some(f) = foreign {
            self.inner.try_commit(expected, f).await?;
        }
        self.inner.try_commit(expected, manifest).await
    }
}

#[test]
fn a_conflict_is_retried_against_the_newer_manifest() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let commits = Arc::new(Interloper { inner: BlobCommitStore::new(store.clone()), foreign: Mutex::new(None) });
    let options = flat_only().with_commit_store(commits.clone());
    let db = block(Db::create(store.clone(), DIM, Metric::L2, options.clone())).unwrap();
    let mut model = Model::new();
    commit_batches(&db, &mut model, 3, 50, 6);

    // Another writer deletes key 60 (row 10 of the second segment) in version v + 1.
    let base = db.manifest();
    let victim = base.segments[1].id;
    let file = "tombstones/foreign.tomb".to_string();
    block(store.put(&file, Bytes::from(tombstones::encode(&[Tombstone { segment_id: victim, row: 10 }])))).unwrap();
    let mut foreign = Manifest { version: base.version + 1, ..base.clone() };
    foreign.tombstone_files.push(TombstoneFileMeta { file, count: 1 });
    *commits.foreign.lock().unwrap() = Some(Bytes::from(foreign.encode()));

    let report = block(db.compact_with(&MergeAll)).unwrap();
    assert_eq!(report.conflicts_retried, 1);
    assert_eq!(db.manifest().version, base.version + 2, "published after the foreign version, not over it");
    drop(db);
    let db = block(Db::open(store, options)).unwrap();
    model.remove(&60);
    assert_matches(&db, &model);
}

#[test]
fn retired_files_are_deleted_after_retained_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = local(dir.path());
    let mut options = flat_only();
    options.retain_versions = 2;
    let db = block(Db::create(store.clone(), DIM, Metric::L2, options)).unwrap();
    let mut model = Model::new();
    commit_batches(&db, &mut model, 3, 50, 8);
    db.delete(1).unwrap();
    block(db.commit()).unwrap();
    let old: Vec<String> = block(store.list("segments/")).unwrap();
    assert_eq!(old.len(), 3);
    let report = block(db.compact_with(&MergeAll)).unwrap();
    assert_eq!(report.files_deleted, 0, "the version before the merge is still retained");
    commit_batches(&db, &mut model, 1, 10, 9);
    let left = block(store.list("segments/")).unwrap();
    assert!(old.iter().all(|f| !left.contains(f)), "inputs deleted once two newer versions exist: {left:?}");
    assert_eq!(left.len(), 2, "the merged segment and the last commit's");
    assert!(block(store.list("tombstones/")).unwrap().is_empty());
}

#[test]
fn background_compactor_merges_after_commits() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let policy = SizeTiered { fanout: 4, base_rows: 100, ..SizeTiered::default() };
    let db = Arc::new(block(Db::create(store, DIM, Metric::L2, flat_only().with_compaction(policy))).unwrap());
    let compactor = db.spawn_compactor();
    let mut model = Model::new();
    commit_batches(&db, &mut model, 8, 60, 10);
    compactor.wait_idle();
    let stats = compactor.stop();
    assert!(stats.totals.merges >= 1, "{stats:?}");
    assert!(stats.last_error.is_none(), "{:?}", stats.last_error);
    // Whatever the timing, once idle no tier holds 4 segments: at most 3 below 100 rows
    // plus 3 of 100..400 rows.
    assert!(db.stats().segments <= 6, "{} segments", db.stats().segments);
    assert_matches(&db, &model);
}

#[derive(Debug)]
struct Bogus;
impl CompactionPolicy for Bogus {
    fn pick(&self, _: &[SegmentInfo]) -> Vec<u64> {
        vec![12345]
    }
}

#[test]
fn bad_policies_and_read_only_are_typed_errors() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store.clone(), DIM, Metric::L2, flat_only())).unwrap();
    commit_batches(&db, &mut Model::new(), 1, 10, 11);
    assert_eq!(block(db.compact_with(&Bogus)).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn merging_only_deleted_rows_leaves_an_empty_database_that_still_works() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store.clone(), DIM, Metric::L2, flat_only())).unwrap();
    let mut model = Model::new();
    commit_batches(&db, &mut model, 2, 20, 12);
    for id in 0..40 {
        db.delete(id).unwrap();
    }
    block(db.commit()).unwrap();
    let report = block(db.compact_with(&MergeAll)).unwrap();
    assert_eq!(report.rows_out, 0);
    assert!(db.search(&vectors(1, DIM, 1), 5, &SearchParams::default()).unwrap().is_empty());
    let mut model = Model::new();
    commit_batches(&db, &mut model, 1, 5, 13);
    drop(db);
    let db = block(Db::open(store, flat_only())).unwrap();
    assert_matches(&db, &model);
}
