//! Crafted store objects (valid checksums, wrong contents) found by review and fuzzing:
//! each is a typed error at open, never a panic in open, search, scan or compaction, and
//! `verify`'s checks (the same as open's) catch it.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;

use bytes::Bytes;
use stratovec::formats::manifest::{manifest_name, Manifest};
use stratovec::formats::segment::{self, SectionKind, SegmentHeader, SegmentKind};
use stratovec::formats::tombstones::{self, Tombstone};
use stratovec::*;

mod common;
use common::{block, vectors};

const DIM: usize = 8;

/// A database with a DiskANN segment (compacted), a Flat segment and a tombstone file.
fn database() -> (Arc<MemoryStore>, Manifest) {
    let store = Arc::new(MemoryStore::new());
    let opts = DbOptions::default().with_flat_threshold(40).with_diskann_threshold(60).with_hnsw(8, 32);
    let db = block(Db::create(store.clone(), DIM, Metric::L2, opts)).unwrap();
    for range in [0..50u64, 50..100] {
        let ids: Vec<u64> = range.collect();
        db.insert_batch(&ids, &vectors(ids.len(), DIM, ids[0])).unwrap();
        block(db.commit()).unwrap();
    }
    block(db.compact_with(&MergeAll)).unwrap();
    db.insert_batch(&[500, 501], &vectors(2, DIM, 500)).unwrap();
    db.delete(7).unwrap();
    block(db.commit()).unwrap();
    let m = db.manifest();
    assert_eq!(m.segments[0].kind, SegmentKind::DISKANN);
    (store, m)
}

fn rebuild(store: &MemoryStore, file: &str, edit: impl FnOnce(&mut SegmentHeader, &mut Vec<(SectionKind, Vec<u8>)>)) {
    let bytes = block(store.get(file)).unwrap();
    block(store.put(file, Bytes::from(segment::rebuild(&bytes, edit).unwrap()))).unwrap();
}

fn rewrite_manifest(store: &MemoryStore, m: &Manifest) {
    block(store.put(&manifest_name(m.version), Bytes::from(m.encode()))).unwrap();
}

/// Opens the store and, if that works, exercises every read path and a compaction.
fn open_and_use(store: Arc<MemoryStore>) -> Result<()> {
    let db = block(Db::open(store, DbOptions::default()))?;
    let q = vectors(1, DIM, 3);
    db.search(&q, 10, &SearchParams::default())?;
    db.search(&q, 10, &SearchParams { scan_codes: true, ..SearchParams::default() })?;
    for batch in db.scan(None, 16, Include::ALL)? {
        batch?;
    }
    block(db.compact_with(&MergeAll))?;
    Ok(())
}

fn assert_corrupt(r: Result<()>, mentions: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains(mentions), "{e} should mention {mentions:?}");
}

#[test]
fn a_diskann_segment_with_fewer_keys_than_rows_is_corrupt() {
    let (store, m) = database();
    let file = m.segments[0].file.clone();
    rebuild(&store, &file, |_, sections| {
        let ids = sections.iter_mut().find(|(k, _)| *k == SectionKind::IDS).unwrap();
        ids.1.truncate(ids.1.len() - 8 * 10);
    });
    assert_corrupt(open_and_use(store), &file);
}

/// The DiskANN case was found by the `db_open` fuzz target (codes size check overflowed).
#[test]
fn a_header_claiming_2_pow_62_rows_is_corrupt() {
    for (seg, rows) in [(0, 1u64 << 62), (1, 1 << 62), (0, u64::MAX / 3)] {
        let (store, mut m) = database();
        let file = m.segments[seg].file.clone();
        rebuild(&store, &file, |h, _| h.rows = rows);
        m.segments[seg].rows = rows;
        rewrite_manifest(&store, &m);
        assert_corrupt(open_and_use(store), &file);
    }
}

#[test]
fn a_huge_dimension_in_the_manifest_is_corrupt() {
    let (store, mut m) = database();
    m.dim = u32::MAX;
    rewrite_manifest(&store, &m);
    assert_corrupt(open_and_use(store), "dimension");
}

#[test]
fn tombstones_past_the_end_of_their_segment_are_corrupt() {
    let (store, m) = database();
    let t = &m.tombstone_files[0].file;
    let bad = tombstones::encode(&[Tombstone { segment_id: m.segments[0].id, row: 1_000_000 }]);
    block(store.put(t, Bytes::from(bad))).unwrap();
    assert_corrupt(open_and_use(store), t);
}

#[test]
fn an_index_with_another_row_count_than_its_header_is_corrupt() {
    let (store, m) = database();
    let file = m.segments[1].file.clone();
    rebuild(&store, &file, |_, sections| {
        let v = sections.iter_mut().find(|(k, _)| *k == SectionKind::VECTORS).unwrap();
        v.1.truncate(v.1.len() - 4 * DIM);
    });
    assert_corrupt(open_and_use(store), &file);
}

#[test]
fn the_untouched_database_opens_and_works() {
    let (store, _) = database();
    open_and_use(store).unwrap();
}

/// Found by the `db_open` fuzz target: a manifest claiming a segment of `u64::MAX` bytes
/// overflowed compaction's byte count.
#[test]
fn a_segment_size_other_than_the_manifests_is_corrupt() {
    let (store, mut m) = database();
    m.segments[1].bytes = u64::MAX;
    rewrite_manifest(&store, &m);
    assert_corrupt(open_and_use(store), &m.segments[1].file);
}
