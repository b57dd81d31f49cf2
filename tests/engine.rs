//! Engine lifecycle: insert, commit, reopen, delete/upsert, read-only, bad input, corruption.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;

use stratovec::*;

mod common;
use common::{block, local, vectors};

#[test]
fn insert_commit_reopen_search() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 16;
    let data = vectors(300, dim, 1);
    let ids: Vec<u64> = (0..300).map(|i| 1000 + i).collect();
    {
        let db = block(Db::create(local(dir.path()), dim, Metric::L2, DbOptions::default())).unwrap();
        db.insert_batch(&ids, &data).unwrap();
        let before = db.search(&data[..dim], 5, &SearchParams::default()).unwrap();
        assert_eq!(before[0].id, 1000);
        assert_eq!(block(db.commit()).unwrap(), 2);
        assert_eq!(db.search(&data[..dim], 5, &SearchParams::default()).unwrap(), before);
        assert_eq!(block(db.close()).unwrap().committed, 0);
    }
    let db = block(Db::open(local(dir.path()), DbOptions::default())).unwrap();
    let s = db.stats();
    // Opening for writing claims the next epoch by publishing version 3.
    assert_eq!((s.version, s.rows, s.live_rows, s.segments, s.memtable_rows), (3, 300, 300, 1, 0));
    assert_eq!(db.manifest().epoch, 2);
    for i in [0usize, 17, 299] {
        let hits = db.search(&data[i * dim..(i + 1) * dim], 1, &SearchParams::default()).unwrap();
        assert_eq!(hits[0].id, ids[i]);
        assert_eq!(db.get(ids[i]).unwrap().unwrap(), &data[i * dim..(i + 1) * dim]);
    }
}

#[test]
fn deletes_and_upserts_survive_reopen() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let dim = 8;
    let data = vectors(50, dim, 2);
    let ids: Vec<u64> = (0..50).collect();
    let db = block(Db::create(store.clone(), dim, Metric::Cosine, DbOptions::default())).unwrap();
    db.insert_batch(&ids, &data).unwrap();
    block(db.commit()).unwrap();
    assert!(db.delete(3).unwrap());
    assert!(!db.delete(3).unwrap(), "second delete finds nothing");
    db.upsert(4, &data[10 * dim..11 * dim]).unwrap();
    db.insert(100, &data[..dim]).unwrap();
    assert!(db.delete(100).unwrap(), "delete of a memtable row");
    let q = &data[3 * dim..4 * dim];
    assert!(db.search(q, 50, &SearchParams::with_ef(100)).unwrap().iter().all(|h| h.id != 3));
    block(db.commit()).unwrap();
    drop(db);

    let db = block(Db::open(store, DbOptions::default())).unwrap();
    assert!(db.get(3).unwrap().is_none() && db.get(100).unwrap().is_none());
    assert_eq!(db.stats().live_rows, 49);
    let hits = db.search(&data[10 * dim..11 * dim], 2, &SearchParams::default()).unwrap();
    let top: Vec<u64> = hits.iter().map(|h| h.id).collect();
    assert!(top.contains(&4) && top.contains(&10), "upserted key 4 now has vector 10: {top:?}");
    let all = db.search(q, 60, &SearchParams::with_ef(100)).unwrap();
    assert_eq!(all.len(), 49);
    assert!(all.iter().all(|h| h.id != 3 && h.id != 100));
}

#[test]
fn hnsw_segment_above_threshold_and_flat_below() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let dim = 8;
    let db = block(Db::create(store.clone(), dim, Metric::InnerProduct, DbOptions::default().with_flat_threshold(100))).unwrap();
    let data = vectors(250, dim, 3);
    db.insert_batch(&(0..150).collect::<Vec<_>>(), &data[..150 * dim]).unwrap();
    block(db.commit()).unwrap();
    db.insert_batch(&(150..250).collect::<Vec<_>>(), &data[150 * dim..]).unwrap();
    db.insert(999, &data[..dim]).unwrap();
    block(db.commit()).unwrap();
    let kinds: Vec<_> = db.manifest().segments.iter().map(|s| s.kind.name()).collect();
    assert_eq!(kinds, vec!["hnsw", "hnsw"]);
    db.insert(1000, &data[dim..2 * dim]).unwrap();
    block(db.commit()).unwrap();
    assert_eq!(db.manifest().segments[2].kind.name(), "flat");
    let hits = db.search(&data[..dim], 2, &SearchParams::default()).unwrap();
    let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
    assert!(ids.contains(&0) && ids.contains(&999), "duplicate vector found in two segments: {ids:?}");
}

#[test]
fn bad_input_is_a_typed_error() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store.clone(), 3, Metric::Cosine, DbOptions::default())).unwrap();
    let kind = |r: Result<()>| r.unwrap_err().kind();
    assert_eq!(kind(db.insert(1, &[1.0, 2.0])), ErrorKind::InvalidArgument);
    assert_eq!(kind(db.insert(1, &[1.0, f32::NAN, 0.0])), ErrorKind::InvalidArgument);
    assert_eq!(kind(db.insert(1, &[f32::INFINITY, 0.0, 0.0])), ErrorKind::InvalidArgument);
    assert_eq!(kind(db.insert(1, &[0.0, 0.0, 0.0])), ErrorKind::InvalidArgument);
    db.insert(1, &[1.0, 0.0, 0.0]).unwrap();
    assert_eq!(kind(db.insert(1, &[0.0, 1.0, 0.0])), ErrorKind::AlreadyExists);
    assert_eq!(kind(db.insert_batch(&[5, 5], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0])), ErrorKind::InvalidArgument);
    assert_eq!(kind(db.insert_batch(&[6, 7], &[1.0, 0.0, 0.0])), ErrorKind::InvalidArgument);
    assert!(!db.contains(6) && !db.contains(7), "a failed batch inserts nothing");
    assert_eq!(db.search(&[1.0, 0.0, 0.0], 0, &SearchParams::default()).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(db.search(&[1.0, 0.0], 1, &SearchParams::default()).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(db.search(&[0.0; 3], 1, &SearchParams::default()).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(block(Db::create(store.clone(), 3, Metric::L2, DbOptions::default())).unwrap_err().kind(), ErrorKind::AlreadyExists);
    assert_eq!(
        block(Db::create(Arc::new(MemoryStore::new()), 0, Metric::L2, DbOptions::default())).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(block(Db::open(Arc::new(MemoryStore::new()), DbOptions::default())).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn read_only_refuses_writes_and_second_writer_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let db = block(Db::create(local(dir.path()), 2, Metric::L2, DbOptions::default())).unwrap();
    db.insert(1, &[1.0, 2.0]).unwrap();
    block(db.commit()).unwrap();
    let err = block(async { Ok::<_, Error>(LocalStore::open(dir.path())?) }).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked);
    let ro_store: Arc<dyn BlobStore> = Arc::new(LocalStore::open_read_only(dir.path()).unwrap());
    let ro = block(Db::open_read_only(ro_store, DbOptions::default())).unwrap();
    assert_eq!(ro.get(1).unwrap().unwrap(), vec![1.0, 2.0]);
    // `ro.insert`, `ro.delete`, `ro.commit` do not compile: ReadOnlyDb has no write methods.
}

/// Commits two versions, damages one file, and checks open reports `Corrupt` naming it.
fn damaged(damage: impl Fn(&std::path::Path)) -> Error {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = block(Db::create(local(dir.path()), 4, Metric::L2, DbOptions::default())).unwrap();
        db.insert_batch(&[1, 2, 3], &vectors(3, 4, 9)).unwrap();
        block(db.commit()).unwrap();
    }
    damage(dir.path());
    block(Db::open(local(dir.path()), DbOptions::default())).unwrap_err()
}

fn flip(path: &std::path::Path, at: impl Fn(usize) -> usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at(b.len());
    b[i] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

#[test]
fn corrupt_files_are_reported_by_name() {
    // Segment 1, written by the writer of epoch 1 (the one that created the database).
    let seg = "segments/00000000000000000001-00000000000000000001.seg";
    let man = "MANIFEST-00000000000000000002.bin";
    for (what, e) in [
        ("segment bit flip", damaged(|d| flip(&d.join(seg), |n| n / 2))),
        ("segment footer flip", damaged(|d| flip(&d.join(seg), |n| n - 20))),
        ("manifest bit flip", damaged(|d| flip(&d.join(man), |n| n - 1))),
        (
            "truncated segment",
            damaged(|d| {
                let b = std::fs::read(d.join(seg)).unwrap();
                std::fs::write(d.join(seg), &b[..b.len() - 7]).unwrap();
            }),
        ),
        (
            "truncated manifest",
            damaged(|d| {
                let b = std::fs::read(d.join(man)).unwrap();
                std::fs::write(d.join(man), &b[..10]).unwrap();
            }),
        ),
    ] {
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{what}: {e}");
        let name = if what.contains("manifest") { man } else { seg };
        assert!(e.to_string().contains(name), "{what}: message names the file: {e}");
    }
    let e = damaged(|d| {
        let mut b = std::fs::read(d.join(man)).unwrap();
        b[8] = 99; // an unknown manifest format version
        std::fs::write(d.join(man), b).unwrap();
    });
    assert_eq!(e.kind(), ErrorKind::Incompatible, "{e}");
    let e = damaged(|d| std::fs::remove_file(d.join(seg)).unwrap());
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn failed_commit_keeps_rows_and_retries() {
    // A store that refuses segment writes once, then behaves.
    #[derive(Debug)]
    struct FailOnce(MemoryStore, std::sync::atomic::AtomicBool);
    #[async_trait]
    impl BlobStore for FailOnce {
        async fn get(&self, p: &str) -> Result<bytes::Bytes, StoreError> {
            self.0.get(p).await
        }
        async fn get_range(&self, p: &str, r: std::ops::Range<u64>) -> Result<bytes::Bytes, StoreError> {
            self.0.get_range(p, r).await
        }
        async fn put(&self, p: &str, d: bytes::Bytes) -> Result<(), StoreError> {
            self.0.put(p, d).await
        }
        async fn put_if_absent(&self, p: &str, d: bytes::Bytes) -> Result<(), StoreError> {
            if p.starts_with("segments/") && !self.1.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Unavailable("injected".into()));
            }
            self.0.put_if_absent(p, d).await
        }
        async fn delete(&self, p: &str) -> Result<(), StoreError> {
            self.0.delete(p).await
        }
        async fn list(&self, p: &str) -> Result<Vec<String>, StoreError> {
            self.0.list(p).await
        }
        async fn head(&self, p: &str) -> Result<ObjectMeta, StoreError> {
            self.0.head(p).await
        }
    }
    let store = Arc::new(FailOnce(MemoryStore::new(), Default::default()));
    let db = block(Db::create(store.clone(), 2, Metric::L2, DbOptions::default())).unwrap();
    db.insert(1, &[1.0, 0.0]).unwrap();
    assert_eq!(block(db.commit()).unwrap_err().kind(), ErrorKind::Unavailable);
    assert_eq!(db.stats().version, 1);
    assert_eq!(db.search(&[1.0, 0.0], 1, &SearchParams::default()).unwrap()[0].id, 1, "frozen rows stay searchable");
    db.insert(2, &[0.0, 1.0]).unwrap();
    assert_eq!(block(db.commit()).unwrap(), 2);
    let reopened = block(Db::open(store, DbOptions::default())).unwrap();
    assert_eq!(reopened.stats().live_rows, 2);
}

#[test]
fn glove_prefix_recall_floor() {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/glove50/glove50_base.fvecs");
    if !base.exists() {
        eprintln!("skipping: {} not found", base.display());
        return;
    }
    let n = 20_000;
    let data = stratovec::fvecs::read_fvecs(&base, Some(n + 200)).unwrap();
    let (dim, (train, queries)) = (data.dim, data.data.split_at(n * data.dim));
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store.clone(), dim, Metric::Cosine, DbOptions::default())).unwrap();
    db.insert_batch(&(0..n as u64).collect::<Vec<_>>(), train).unwrap();
    block(db.commit()).unwrap();
    let db = block(Db::open(store, DbOptions::default())).unwrap();
    let exact = stratovec::indexes::FlatIndex::from_vectors(train.to_vec(), dim, Metric::Cosine).unwrap();
    let (k, mut hits) = (10, 0);
    for q in queries.chunks_exact(dim) {
        use stratovec::indexes::Index;
        let truth: Vec<u64> = exact.search(q, k, &Default::default(), None).unwrap().iter().map(|c| c.row as u64).collect();
        let got = db.search(q, k, &SearchParams::with_ef(128)).unwrap();
        hits += got.iter().filter(|h| truth.contains(&h.id)).count();
    }
    let recall = hits as f64 / (200 * k) as f64;
    assert!(recall >= 0.97, "recall@10 at ef 128 on a 20k GloVe prefix = {recall}");
}

/// A damaged newest manifest: open names it and says how to recover; rolling back to the
/// version before makes a working database again, and nothing of that version is lost.
#[test]
fn a_damaged_newest_manifest_is_recovered_by_rolling_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = block(Db::create(local(dir.path()), 4, Metric::L2, DbOptions::default())).unwrap();
    db.insert_batch(&[1, 2], &vectors(2, 4, 1)).unwrap();
    let good = block(db.commit()).unwrap();
    db.insert_batch(&[3], &vectors(1, 4, 3)).unwrap();
    let damaged = block(db.commit()).unwrap();
    drop(db);
    flip(&dir.path().join(stratovec::formats::manifest::manifest_name(damaged)), |n| n - 1);

    let e = block(Db::open(local(dir.path()), DbOptions::default())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains(&format!("open_rolled_back(store, {good}")), "{e}");
    let old = block(Db::open_at(local(dir.path()), good, DbOptions::default())).unwrap();
    assert!(old.contains(1) && old.contains(2));
    drop(old);

    let db = block(Db::open_rolled_back(local(dir.path()), good, DbOptions::default())).unwrap();
    assert_eq!(db.stats().version, damaged + 1);
    assert!(db.contains(1) && db.contains(2) && !db.contains(3), "the rows of version {good}");
    db.insert_batch(&[4], &vectors(1, 4, 4)).unwrap();
    block(db.commit()).unwrap();
    drop(db);
    let db = block(Db::open(local(dir.path()), DbOptions::default())).unwrap();
    assert!(db.contains(1) && db.contains(4));
}

/// The sections of segment `file` in `store`.
fn sections(store: &Arc<dyn BlobStore>, file: &str) -> Vec<stratovec::formats::segment::SectionKind> {
    let bytes = block(store.get(file)).unwrap();
    let seg = stratovec::formats::segment::SegmentBytes::whole(bytes).unwrap();
    seg.layout().sections.iter().map(|e| e.kind).collect()
}

#[test]
fn hnsw_sq8_segments_carry_codes_from_commit_and_compaction() {
    use stratovec::formats::segment::{SectionKind, SegmentKind};
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let (dim, n) = (24, 3_000);
    let data = vectors(n, dim, 9);
    let options = || DbOptions::default().with_hnsw_codes(Some(indexes::CodeKind::Sq8));
    let db = block(Db::create(store.clone(), dim, Metric::L2, options())).unwrap();
    let half = n / 2;
    db.insert_batch(&(0..half as u64).collect::<Vec<_>>(), &data[..half * dim]).unwrap();
    block(db.commit()).unwrap();
    db.insert_batch(&(half as u64..n as u64).collect::<Vec<_>>(), &data[half * dim..]).unwrap();
    block(db.commit()).unwrap();
    for seg in &db.manifest().segments {
        assert_eq!(seg.kind, SegmentKind::HNSW);
        assert!(sections(&store, &seg.file).contains(&SectionKind::QUANT_CODES), "commit wrote the codes");
    }
    block(db.compact_with(&MergeAll)).unwrap();
    let merged = db.manifest().segments;
    assert_eq!(merged.len(), 1);
    assert!(sections(&store, &merged[0].file).contains(&SectionKind::QUANT_CODES), "compaction wrote the codes");
    drop(db);

    // Reopened: the traversal scores codes, the answers are rescored with f32 vectors.
    let db = block(Db::open(store, options())).unwrap();
    let exact = SearchOptions { k: 10, exact: true, ..SearchOptions::default() };
    let (mut found, mut total) = (0, 0);
    for q in vectors(30, dim, 77).chunks(dim) {
        let want = db.search_with(q, &exact).unwrap().0;
        let got = db.search(q, 10, &SearchParams::with_ef(64)).unwrap();
        for h in &got {
            let v = db.get(h.id).unwrap().unwrap();
            let d: f32 = v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
            assert!((d - h.distance).abs() <= 1e-3 * d.max(1.0), "exact distance for key {}", h.id);
        }
        found += got.iter().filter(|h| want.iter().any(|w| w.record.id == h.id)).count();
        total += want.len();
    }
    assert!(found as f64 >= 0.9 * total as f64, "recall@10 {found}/{total}");
}

#[test]
fn flat_sq8_segments_carry_codes_from_commit_and_compaction() {
    use stratovec::formats::segment::{SectionKind, SegmentKind};
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let (dim, n) = (24, 2_000);
    let data = vectors(n, dim, 19);
    let options = || {
        let mut o = DbOptions::default().with_flat_codes(Some(indexes::CodeKind::Sq8)).with_flat_threshold(100_000);
        o.diskann_threshold = usize::MAX;
        o
    };
    let db = block(Db::create(store.clone(), dim, Metric::L2, options())).unwrap();
    for part in 0..2 {
        let rows = part * n / 2..(part + 1) * n / 2;
        db.insert_batch(&(rows.start as u64..rows.end as u64).collect::<Vec<_>>(), &data[rows.start * dim..rows.end * dim]).unwrap();
        block(db.commit()).unwrap();
    }
    block(db.compact_with(&MergeAll)).unwrap();
    let merged = db.manifest().segments;
    assert_eq!((merged.len(), merged[0].kind), (1, SegmentKind::FLAT));
    assert!(sections(&store, &merged[0].file).contains(&SectionKind::QUANT_CODES), "compaction wrote the codes");
    drop(db);

    let db = block(Db::open(store, options())).unwrap();
    let exact = SearchOptions { k: 10, exact: true, ..SearchOptions::default() };
    let (mut found, mut total) = (0, 0);
    for q in vectors(30, dim, 78).chunks(dim) {
        let want = db.search_with(q, &exact).unwrap().0;
        let got = db.search(q, 10, &SearchParams::default()).unwrap();
        for (h, w) in got.iter().zip(&want) {
            if h.id == w.record.id {
                assert!((h.distance - w.distance).abs() <= 1e-4 * w.distance.max(1.0), "reranked with f32");
            }
        }
        found += got.iter().filter(|h| want.iter().any(|w| w.record.id == h.id)).count();
        total += want.len();
    }
    assert!(found as f64 >= 0.95 * total as f64, "recall@10 {found}/{total}");
}
