//! Reading segments through the block cache ([`DbOptions::cache`]) from a store that looks
//! remote (a `LatencyStore` over memory): same answers as whole-file reads, only the ends
//! and in-RAM sections fetched at open, DiskANN nodes on demand, the disk level serving a
//! restarted replica, and cache counters in the explain report.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;
use std::time::Duration;

use stratovec::backends::cache::{BlockCache, CacheOptions};
use stratovec::backends::{LatencyStore, MemoryStore};
use stratovec::formats::segment::SegmentKind;
use stratovec::*;

mod common;
use common::{block, vectors};

const DIM: usize = 16;

fn options() -> DbOptions {
    DbOptions::default().with_flat_threshold(300).with_diskann_threshold(2000)
}

/// A database with one DiskANN segment (2,400 rows), one HNSW segment (400 rows) and one
/// Flat segment (100 rows), some rows deleted.
fn build(store: &Arc<dyn BlobStore>) {
    let db = block(Db::create(store.clone(), DIM, Metric::L2, options())).unwrap();
    for b in 0..6u64 {
        let ids: Vec<u64> = (b * 400..(b + 1) * 400).collect();
        db.insert_batch(&ids, &vectors(400, DIM, b + 1)).unwrap();
        block(db.commit()).unwrap();
    }
    block(db.compact_with(&MergeAll)).unwrap();
    let ids: Vec<u64> = (10_000..10_400).collect();
    db.insert_batch(&ids, &vectors(400, DIM, 50)).unwrap();
    block(db.commit()).unwrap();
    let ids: Vec<u64> = (20_000..20_100).collect();
    db.insert_batch(&ids, &vectors(100, DIM, 60)).unwrap();
    db.delete(5).unwrap();
    db.delete(10_005).unwrap();
    block(db.commit()).unwrap();
    let kinds: Vec<SegmentKind> = db.manifest().segments.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [SegmentKind::DISKANN, SegmentKind::HNSW, SegmentKind::FLAT]);
}

/// Answers through the graphs (the planner may not take a code scan: a whole-file replica,
/// reading nothing through a measured cache, never does).
fn answers(db: &ReadOnlyDb) -> Vec<Vec<(u64, f32)>> {
    let opts = SearchOptions { k: 10, params: SearchParams::with_ef(64), code_scan: Some(false), ..SearchOptions::default() };
    vectors(20, DIM, 99)
        .chunks(DIM)
        .map(|q| db.search_with(q, &opts).unwrap().0.iter().map(|h| (h.record.id, h.distance)).collect())
        .collect()
}

fn cache(disk: Option<&std::path::Path>) -> BlockCache {
    let mut o = CacheOptions { block_bytes: 16 << 10, ..CacheOptions::default() };
    if let Some(d) = disk {
        o = o.with_disk(d, 64 << 20);
    }
    BlockCache::new(o).unwrap()
}

#[test]
fn cached_replica_answers_like_a_whole_file_one() {
    let mem: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    build(&mem);
    let whole = block(Db::open_read_only(mem.clone(), options())).unwrap();
    let remote = LatencyStore::new(mem.clone(), Duration::from_millis(1));
    let cached = block(Db::open_read_only(Arc::new(remote.clone()), options().with_cache(cache(None)))).unwrap();
    let open = remote.stats();
    let manifest = cached.manifest();
    let total: u64 = manifest.segments.iter().map(|s| s.bytes).sum();
    let vectors_bytes: u64 = manifest.segments.iter().map(|s| s.rows * DIM as u64 * 4).sum();
    assert!(open.bytes_read < total - vectors_bytes, "open read {} of {total} bytes: no index section yet", open.bytes_read);

    assert_eq!(answers(&cached), answers(&whole));
    for id in [0, 5, 2399, 10_000, 10_005, 20_050] {
        assert_eq!(cached.get(id).unwrap(), whole.get(id).unwrap(), "key {id}");
    }
    let later = remote.stats().since(&open);
    assert!(later.requests > 0, "indexes load, and DiskANN nodes are read, on demand");

    // A warm cache sends nothing more for the same queries; explain shows the hits.
    let before = remote.stats();
    assert_eq!(answers(&cached), answers(&whole));
    assert_eq!(remote.stats().requests, before.requests, "warm queries send no request");
    let (_, explain) = cached.search_with(&vectors(1, DIM, 99), &SearchOptions::default()).unwrap();
    let stats = explain.cache.expect("cache counters in explain");
    assert!(stats.ram_hits > 0 && stats.requests == 0, "{stats:?}");
}

#[test]
fn a_cold_search_loads_every_index_in_one_round() {
    let mem: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    build(&mem);
    let remote = LatencyStore::new(mem.clone(), Duration::from_millis(20));
    let cached = block(Db::open_read_only(Arc::new(remote.clone()), options().with_cache(cache(None)))).unwrap();
    let before = remote.stats();
    // Through the graph (the planner would take a code scan here: one round of reads).
    let params = SearchParams { beam_width: 64, ..SearchParams::with_ef(32) };
    let opts = SearchOptions { k: 10, params, code_scan: Some(false), ..SearchOptions::default() };
    cached.search_with(&vectors(1, DIM, 7), &opts).unwrap();
    let d = remote.stats().since(&before);
    // One round for the three indexes (fetched together), then the DiskANN hops.
    assert!(d.rounds <= 6, "{d:?}");
    let again = remote.stats();
    cached.search_with(&vectors(1, DIM, 7), &opts).unwrap();
    assert_eq!(remote.stats().since(&again).requests, 0, "the same query again is served from RAM");
}

#[test]
fn a_failed_index_load_is_an_error_and_a_later_search_retries() {
    use stratovec::backends::faulty::{Fault, FaultyStore, Op, Rule};
    let mem: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    build(&mem);
    let faulty = Arc::new(FaultyStore::new(mem.clone(), 7));
    let cached = block(Db::open_read_only(faulty.clone(), options().with_cache(cache(None)))).unwrap();
    faulty.inject(Rule::new(Op::Read, Fault::Error).prefix("segments/"));
    let e = cached.search(&vectors(1, DIM, 7), 10, &SearchParams::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    faulty.clear();
    let whole = block(Db::open_read_only(mem.clone(), options())).unwrap();
    assert_eq!(answers(&cached), answers(&whole));
}

#[test]
fn the_disk_level_serves_a_restarted_replica() {
    let mem: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    build(&mem);
    let dir = tempfile::tempdir().unwrap();
    let remote = LatencyStore::new(mem.clone(), Duration::ZERO);
    let first = block(Db::open_read_only(Arc::new(remote.clone()), options().with_cache(cache(Some(dir.path()))))).unwrap();
    let want = answers(&first);
    drop(first);
    let before = remote.stats();
    let again = block(Db::open_read_only(Arc::new(remote.clone()), options().with_cache(cache(Some(dir.path()))))).unwrap();
    assert_eq!(answers(&again), want);
    let d = remote.stats().since(&before);
    // The manifest and tombstone files are read again; no segment byte is.
    let manifest_and_tombstones: u64 = 64 << 10;
    assert!(d.bytes_read < manifest_and_tombstones, "{d:?}");
}

#[test]
fn a_damaged_segment_is_an_error_not_a_panic() {
    let mem: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    build(&mem);
    let db = block(Db::open_read_only(mem.clone(), options())).unwrap();
    let seg = db.manifest().segments[1].clone();
    let mut bytes = block(mem.get(&seg.file)).unwrap().to_vec();
    let n = bytes.len();
    bytes[n - 20] ^= 0xFF; // inside the footer
    block(mem.put(&seg.file, bytes.into())).unwrap();
    let e = block(Db::open_read_only(mem.clone(), options().with_cache(cache(None)))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    block(mem.put(&seg.file, block(mem.get(&seg.file)).unwrap().slice(..n - 100))).unwrap();
    let e = block(Db::open_read_only(mem.clone(), options().with_cache(cache(None)))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
}

/// A DiskANN node read that fails is an error from every read path (`get`, `get_record`,
/// `scan`, exact filtered search), never an absent record or a silently skipped row.
#[test]
fn failed_node_reads_surface_as_errors() {
    use stratovec::backends::faulty::{Fault, FaultyStore, Op, Rule};
    let inner: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    build(&inner);
    let faulty = Arc::new(FaultyStore::new(inner, 1));
    let db = block(Db::open_read_only(faulty.clone(), options().with_cache(cache(None)))).unwrap();
    assert!(db.get(7).unwrap().is_some(), "row 7 is in the DiskANN segment and readable");
    // Loads every index (DiskANN codes), reading no node: nodes stay in the store.
    drop(db.scan(None, 1, Include::METADATA).unwrap());
    faulty.inject(Rule::new(Op::Read, Fault::Error).prefix("segments/"));
    let fresh = 1234; // a DiskANN row whose node is not cached
    let e = db.get(fresh).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains(&format!("key {fresh}")), "{e}");
    assert_eq!(db.get_record(fresh + 1, Include::ALL).unwrap_err().kind(), ErrorKind::Unavailable);
    let scan: Vec<_> = db.scan(None, 500, Include::ALL).unwrap().collect();
    assert!(scan.iter().any(|b| b.as_ref().is_err_and(|e| e.kind() == ErrorKind::Unavailable)), "the scan ends with the error");
    assert!(scan.last().unwrap().is_err(), "no batch follows the error");
    let e = db.search(&vectors(1, DIM, 3), 10, &SearchParams::with_ef(64)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    faulty.clear();
    assert!(db.get(fresh).unwrap().is_some(), "readable again once the store is");
}

/// A DiskANN node damaged in the store (its sector changed, the section CRC not updated) is
/// read by range through the cache, where the whole-section CRC is never checked: every read
/// of it fails `Corrupt` against the node CRC section, and every other row still reads.
#[test]
fn a_damaged_node_read_by_range_is_corrupt_not_a_wrong_answer() {
    use stratovec::formats::segment::{SectionKind, SegmentLayout};
    let mem: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    build(&mem);
    let seg = block(Db::open_read_only(mem.clone(), options())).unwrap().manifest().segments[0].clone();
    assert_eq!(seg.kind, SegmentKind::DISKANN);
    let mut bytes = block(mem.get(&seg.file)).unwrap().to_vec();
    let layout = SegmentLayout::parse(&bytes).unwrap();
    assert!(layout.entry(SectionKind::DISKANN_NODE_CRCS).is_some(), "new segments carry node CRCs");
    let nodes = layout.entry(SectionKind::DISKANN_NODES).unwrap();
    bytes[(nodes.offset + 4096 * 3 + 8) as usize] ^= 0x40; // a vector byte of a node in sector 3
    block(mem.put(&seg.file, bytes.into())).unwrap();

    let db = block(Db::open_read_only(mem.clone(), options().with_cache(cache(None)))).unwrap();
    let mut damaged = 0;
    for id in (0..2400).filter(|id| *id != 5) {
        match db.get(id) {
            Ok(v) => assert!(v.is_some(), "key {id}"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
                assert!(e.to_string().contains("DiskANN node of row"), "{e}");
                damaged += 1;
            }
        }
    }
    assert_eq!(damaged, 1, "only the damaged node fails");
    let whole = block(Db::open_read_only(mem.clone(), options())).unwrap_err();
    assert_eq!(whole.kind(), ErrorKind::Corrupt, "a whole-file open checks the nodes section: {whole}");
}

/// The plan the DiskANN segment (the first source) got for query `q`, and its estimates,
/// at L = 16: on a segment this small (2,400 rows), a code scan costs less than a longer
/// beam search even from a warm cache.
fn diskann_plan(db: &ReadOnlyDb, q: &[f32], filter: Option<Filter>) -> (Strategy, Vec<(Strategy, f64)>) {
    let opts = SearchOptions { k: 10, params: SearchParams::with_ef(16), filter, ..SearchOptions::default() };
    let (_, explain) = db.search_with(q, &opts).unwrap();
    let diskann = explain.sources.first().unwrap();
    assert_eq!(diskann.rows, 2400, "the DiskANN segment is searched first");
    (diskann.strategy, diskann.estimates.clone())
}

#[test]
fn a_cold_replica_scans_codes_and_a_warm_one_walks_the_graph() {
    let mem: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    build(&mem);
    let remote = LatencyStore::new(mem.clone(), Duration::from_millis(2));
    let db = block(Db::open_read_only(Arc::new(remote.clone()), options().with_cache(cache(None)))).unwrap();
    let queries = vectors(400, DIM, 31);
    let mut queries = queries.chunks(DIM);

    let before = remote.stats();
    let (first, estimates) = diskann_plan(&db, queries.next().unwrap(), None);
    assert_eq!(first, Strategy::CodeScan, "cold: one round of reads, not one per hop; estimates {estimates:?}");
    let names: Vec<Strategy> = estimates.iter().map(|e| e.0).collect();
    assert_eq!(names, [Strategy::Unfiltered, Strategy::CodeScan]);
    // The index loads, then the codes' best candidates are read in one round.
    assert!(remote.stats().since(&before).rounds <= 2, "{:?}", remote.stats().since(&before));

    // As the cache warms, the measured residency rises until the graph is cheaper.
    let switched = queries.position(|q| diskann_plan(&db, q, None).0 == Strategy::Unfiltered);
    let switched = switched.expect("a warm cache: the planner walks the graph");
    let before = remote.stats();
    let (next, estimates) = diskann_plan(&db, &vectors(1, DIM, 5), None);
    assert_eq!(next, Strategy::Unfiltered, "after {switched} queries: {estimates:?}");
    assert!(remote.stats().since(&before).requests <= 2, "warm: (nearly) no fetch");

    // The caller's choice wins over the planner.
    let forced = SearchOptions { k: 10, code_scan: Some(true), ..SearchOptions::default() };
    assert_eq!(db.search_with(&vectors(1, DIM, 6), &forced).unwrap().1.sources[0].strategy, Strategy::CodeScan);
}

#[test]
fn code_scan_answers_are_reranked_by_full_vectors() {
    let mem: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    build(&mem);
    let db = block(Db::open_read_only(mem.clone(), options())).unwrap();
    let exact = SearchOptions { k: 10, exact: true, ..SearchOptions::default() };
    let scan = SearchOptions { k: 10, code_scan: Some(true), params: SearchParams::with_ef(64), ..SearchOptions::default() };
    let (mut found, mut total) = (0, 0);
    for q in vectors(20, DIM, 41).chunks(DIM) {
        let (want, _) = db.search_with(q, &exact).unwrap();
        let (got, explain) = db.search_with(q, &scan).unwrap();
        assert_eq!(explain.sources[0].strategy, Strategy::CodeScan);
        for h in &got {
            // Distances are exact (reranked), not code estimates.
            let v = db.get(h.record.id).unwrap().unwrap();
            let d: f32 = v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
            assert!((d - h.distance).abs() <= 1e-3 * d.max(1.0), "key {}: {} vs {d}", h.record.id, h.distance);
        }
        found += got.iter().filter(|h| want.iter().any(|w| w.record.id == h.record.id)).count();
        total += want.len();
    }
    assert!(found as f64 >= 0.9 * total as f64, "recall@10 {found}/{total}");
}
