//! The search entry points beside `search`: `search_batch` (many queries, in order) and
//! `search_range` (every row within a distance, capped).
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

mod common;

use std::sync::Arc;

use common::{block, vectors};
use stratovec::{Db, DbOptions, ErrorKind, MemoryStore, Metric, SearchParams};

const DIM: usize = 8;

/// 3,000 rows: a committed Flat segment (exact) and a memtable.
fn db() -> Db {
    let db = block(Db::create(Arc::new(MemoryStore::new()), DIM, Metric::L2, DbOptions::default().with_flat_threshold(100_000))).unwrap();
    let ids: Vec<u64> = (0..2000).collect();
    db.insert_batch(&ids, &vectors(2000, DIM, 1)).unwrap();
    block(db.commit()).unwrap();
    let ids: Vec<u64> = (2000..3000).collect();
    db.insert_batch(&ids, &vectors(1000, DIM, 2)).unwrap();
    db
}

#[test]
fn search_batch_answers_each_query_in_order() {
    let db = db();
    let queries = vectors(37, DIM, 9);
    let params = SearchParams::with_ef(64);
    let batch = db.search_batch(&queries, 10, &params).unwrap();
    assert_eq!(batch.len(), 37);
    for (i, hits) in batch.iter().enumerate() {
        assert_eq!(hits, &db.search(&queries[i * DIM..(i + 1) * DIM], 10, &params).unwrap(), "query {i}");
    }
    assert_eq!(db.search_batch(&queries[..DIM + 1], 10, &params).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert!(db.search_batch(&[], 10, &params).unwrap().is_empty());
}

#[test]
fn search_range_returns_every_row_within_the_radius() {
    let db = db();
    let q = vectors(1, DIM, 5);
    let all = db.search(&q, 3000, &SearchParams::with_ef(3000)).unwrap();
    let params = SearchParams::with_ef(64);
    for radius in [all[0].distance, all[10].distance, all[300].distance, all[1500].distance] {
        let want: Vec<u64> = all.iter().filter(|h| h.distance <= radius).map(|h| h.id).collect();
        let got: Vec<u64> = db.search_range(&q, radius, 3000, &params).unwrap().iter().map(|h| h.id).collect();
        // The memtable's graph is approximate: all of the Flat segment's rows, most of the rest.
        let missing = want.iter().filter(|id| !got.contains(id)).count();
        assert!(missing * 50 <= want.len().max(50), "radius {radius}: {missing} of {} missing", want.len());
        assert!(got.iter().all(|id| want.contains(id)), "nothing beyond the radius");
        assert!(want.iter().filter(|id| **id < 2000).all(|id| got.contains(id)), "exact on the Flat segment");
    }
    let capped = db.search_range(&q, f32::INFINITY, 250, &params).unwrap();
    assert_eq!(capped.len(), 250, "the limit caps the answer");
    assert!(capped.windows(2).all(|w| w[0].distance <= w[1].distance), "closest first");
    assert!(db.search_range(&q, -1.0, 10, &params).unwrap().is_empty());
    assert_eq!(db.search_range(&q, f32::NAN, 10, &params).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(db.search_range(&q, 1.0, 0, &params).unwrap_err().kind(), ErrorKind::InvalidArgument);
}
