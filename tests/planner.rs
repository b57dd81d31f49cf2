//! The cost-based planner (issue 19): a committed segment keeps its HNSW graph whatever its
//! size, and each search of it takes the cheaper of an exact scan and the graph by the
//! cost model, reported in the explain; answers are the same either way where the graph
//! is exact.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;

use stratovec::formats::segment::SegmentKind;
use stratovec::*;

mod common;
use common::{block, vectors};

const DIM: usize = 384;

/// A database of one committed segment of `rows` rows (and an empty memtable).
fn one_segment(rows: usize) -> Db {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store, DIM, Metric::L2, DbOptions::default().with_hnsw(16, 64))).unwrap();
    let keys: Vec<u64> = (0..rows as u64).collect();
    db.insert_batch(&keys, &vectors(rows, DIM, 5)).unwrap();
    block(db.commit()).unwrap();
    db
}

fn plan(db: &Db, ef: usize) -> SourceExplain {
    let opts = SearchOptions { k: 10, params: SearchParams::with_ef(ef), ..Default::default() };
    let (hits, explain) = db.search_with(&vectors(1, DIM, 99), &opts).unwrap();
    assert_eq!(hits.len(), 10);
    assert_eq!(explain.sources.len(), 1, "{explain:?}");
    explain.sources[0].clone()
}

#[test]
fn small_segments_are_scanned_and_large_ones_searched_through_the_graph() {
    let small = one_segment(500);
    assert_eq!(small.manifest().segments[0].kind, SegmentKind::HNSW, "a commit keeps the memtable's graph");
    let s = plan(&small, 64);
    assert_eq!(s.strategy, Strategy::Exact, "{s:?}");
    let [(Strategy::Exact, exact), (Strategy::Unfiltered, graph)] = s.estimates[..] else { panic!("{s:?}") };
    assert!(exact < graph && s.elapsed_us > 0.0, "{s:?}");

    let large = one_segment(3_000);
    let s = plan(&large, 64);
    assert_eq!(s.strategy, Strategy::Unfiltered, "3,000 rows of 384 values: the graph ({s:?})");
    // A search list of 1,000 costs more than scanning 3,000 rows.
    assert_eq!(plan(&large, 1_000).strategy, Strategy::Exact);
    // The memtable is planned too.
    large.insert_batch(&[1_000_000], &vectors(1, DIM, 7)).unwrap();
    let (_, explain) = large.search_with(&vectors(1, DIM, 99), &SearchOptions::default()).unwrap();
    assert_eq!(explain.sources.iter().map(|s| s.strategy).collect::<Vec<_>>(), [Strategy::Unfiltered, Strategy::Exact]);
}

#[test]
fn the_exact_plan_answers_like_a_flat_segment_and_skips_deleted_rows() {
    let db = one_segment(500);
    db.delete(3).unwrap();
    block(db.commit()).unwrap();
    let queries = vectors(20, DIM, 11);
    let flat = FlatIndexOracle::new(&vectors(500, DIM, 5));
    for q in queries.chunks_exact(DIM) {
        let got: Vec<u64> = db.search(q, 10, &SearchParams::default()).unwrap().iter().map(|h| h.id).collect();
        assert_eq!(got, flat.top(q, 10, 3));
    }
}

/// Exact L2 neighbours by brute force, skipping one key.
struct FlatIndexOracle(Vec<Vec<f32>>);

impl FlatIndexOracle {
    fn new(rows: &[f32]) -> Self {
        FlatIndexOracle(rows.chunks_exact(DIM).map(<[f32]>::to_vec).collect())
    }
    fn top(&self, q: &[f32], k: usize, skip: u64) -> Vec<u64> {
        let mut d: Vec<(f32, u64)> = self
            .0
            .iter()
            .enumerate()
            .filter(|(i, _)| *i as u64 != skip)
            .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(), i as u64))
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        d.iter().take(k).map(|x| x.1).collect()
    }
}
