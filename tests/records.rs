//! Records with metadata and payloads: write batches, get, filtered search with its planner,
//! count and delete_by_filter, across the memtable, segments, reopen and compaction.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::collections::BTreeMap;
use std::sync::Arc;

use stratovec::*;

mod common;
use common::{block, local, vectors};

const DIM: usize = 8;

fn record(id: u64, v: &[f32]) -> Record {
    let genre = ["rock", "jazz", "pop", "folk"][(id % 4) as usize];
    let mut r = Record::new(id, v.to_vec()).with("genre", genre).with("year", 1980 + (id % 40) as i64).with_payload(format!("doc {id}"));
    if id.is_multiple_of(3) {
        r = r.with("tags", vec!["live", "remaster"]);
    }
    r
}

/// `n` records from key `first`, written in one batch; returns them by key.
fn write_records(db: &Db, first: u64, n: usize, seed: u64) -> BTreeMap<u64, Record> {
    let data = vectors(n, DIM, seed);
    let mut batch = WriteBatch::new();
    let mut out = BTreeMap::new();
    for (i, v) in data.chunks(DIM).enumerate() {
        let r = record(first + i as u64, v);
        batch.insert(r.clone());
        out.insert(r.id, r);
    }
    db.write(&batch).unwrap();
    out
}

fn exact(model: &BTreeMap<u64, Record>, q: &[f32], k: usize, f: &Filter) -> Vec<u64> {
    let d = |v: &[f32]| v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum::<f32>();
    let mut all: Vec<(f32, u64)> = model.values().filter(|r| f.matches(&r.metadata)).map(|r| (d(&r.vector), r.id)).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|x| x.1).collect()
}

fn hit_ids(db: &Db, q: &[f32], opts: &SearchOptions) -> (Vec<u64>, Explain) {
    let (hits, explain) = db.search_with(q, opts).unwrap();
    (hits.iter().map(|h| h.record.id).collect(), explain)
}

#[test]
fn records_round_trip_through_commit_reopen_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let options = DbOptions::default().with_flat_threshold(150).with_diskann_threshold(250);
    let db = block(Db::create(local(dir.path()), DIM, Metric::L2, options.clone())).unwrap();
    let mut model = write_records(&db, 0, 100, 1);
    let check = |db: &Db, model: &BTreeMap<u64, Record>| {
        for r in model.values() {
            let got = db.get_record(r.id, Include::ALL).unwrap().unwrap();
            assert_eq!(got.metadata.as_ref(), Some(&r.metadata), "key {}", r.id);
            assert_eq!(got.payload.as_deref(), Some(r.payload.as_slice()));
            assert_eq!(got.vector.as_deref(), Some(r.vector.as_slice()));
        }
        let only_meta = db.get_record(5, Include::METADATA).unwrap().unwrap();
        assert!(only_meta.vector.is_none() && only_meta.payload.is_none() && only_meta.metadata.is_some());
    };
    check(&db, &model);
    block(db.commit()).unwrap();
    check(&db, &model);
    model.extend(write_records(&db, 100, 100, 2));
    block(db.commit()).unwrap();
    model.extend(write_records(&db, 200, 100, 3));
    block(db.commit()).unwrap();
    drop(db);
    let db = block(Db::open(local(dir.path()), options.clone())).unwrap();
    check(&db, &model);
    let report = block(db.compact_with(&MergeAll)).unwrap();
    assert_eq!(report.outputs[0].kind, formats::segment::SegmentKind::DISKANN, "300 rows >= the DiskANN threshold");
    check(&db, &model);
    drop(db);
    let db = block(Db::open(local(dir.path()), options)).unwrap();
    check(&db, &model);
}

#[test]
fn write_batches_are_atomic_and_ordered() {
    let db = block(Db::create(Arc::new(MemoryStore::new()), DIM, Metric::L2, DbOptions::default())).unwrap();
    let v = vectors(4, DIM, 4);
    let r = |id: u64, i: usize| Record::new(id, v[i * DIM..(i + 1) * DIM].to_vec()).with("n", i as i64);
    db.insert_record(r(1, 0)).unwrap();

    let mut bad = WriteBatch::new();
    bad.insert(r(2, 1)).delete(1).insert(r(1, 2)).insert(r(2, 3));
    assert_eq!(db.write(&bad).unwrap_err().kind(), ErrorKind::AlreadyExists, "key 2 inserted twice");
    assert!(!db.contains(2), "nothing of a failed batch is applied");
    assert_eq!(db.get_record(1, Include::METADATA).unwrap().unwrap().metadata.unwrap()["n"], Value::Int(0));

    let mut ok = WriteBatch::new();
    ok.insert(r(2, 1)).delete(1).insert(r(1, 2)).upsert(r(3, 1)).upsert(r(3, 3)).insert(r(4, 0)).delete(4);
    db.write(&ok).unwrap();
    let n = |id| db.get_record(id, Include::METADATA).unwrap().map(|x| x.metadata.unwrap()["n"].clone());
    assert_eq!((n(1), n(2), n(3), n(4)), (Some(Value::Int(2)), Some(Value::Int(1)), Some(Value::Int(3)), None));
    assert_eq!(db.stats().live_rows, 3);

    let nan = Record::new(9, v[..DIM].to_vec()).with("x", f64::NAN);
    assert_eq!(db.insert_record(nan).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let huge = Record::new(9, v[..DIM].to_vec()).with_payload(vec![0u8; (1 << 20) + 1]);
    let e = db.insert_record(huge).unwrap_err();
    assert!(e.kind() == ErrorKind::InvalidArgument && e.message().contains("max_payload_bytes"), "{e}");
    assert!(db.insert_record(Record::new(9, vec![1.0; 3])).is_err(), "wrong dimension");
}

#[test]
fn filtered_search_is_exact_below_the_threshold_and_explains_its_plan() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store, DIM, Metric::L2, DbOptions::default().with_flat_threshold(100))).unwrap();
    let mut model = write_records(&db, 0, 400, 5); // an HNSW segment
    block(db.commit()).unwrap();
    model.extend(write_records(&db, 1000, 60, 6)); // a Flat segment
    block(db.commit()).unwrap();
    model.extend(write_records(&db, 2000, 300, 7)); // the memtable
    for id in (0..400).step_by(9) {
        db.delete(id).unwrap();
        model.remove(&id);
    }
    let filters = [
        Filter::parse("genre = 'rock' AND year >= 1990").unwrap(),
        Filter::parse("tags CONTAINS 'live' OR genre IN ('pop', 'folk')").unwrap(),
        Filter::parse("NOT genre = 'jazz' AND year < 2000").unwrap(),
        Filter::prefix("genre", "j").and(Filter::exists("tags")),
    ];
    for f in &filters {
        let opts = SearchOptions { k: 10, filter: Some(f.clone()), ..SearchOptions::default() };
        for q in vectors(5, DIM, 8).chunks(DIM) {
            let (got, explain) = hit_ids(&db, q, &opts);
            assert_eq!(got, exact(&model, q, 10, f), "{f:?}");
            assert!(explain.sources.iter().all(|s| s.strategy == Strategy::BruteForce), "{explain:?}");
        }
        assert_eq!(db.count(f).unwrap(), model.values().filter(|r| f.matches(&r.metadata)).count() as u64);
    }

    // Through the index with the filter applied during traversal: recall stays high.
    let f = Filter::parse("genre != 'jazz'").unwrap();
    let opts = SearchOptions {
        k: 10,
        filter: Some(f.clone()),
        brute_force_below: Some(0),
        params: SearchParams::with_ef(64),
        ..SearchOptions::default()
    };
    let (mut found, mut total) = (0, 0);
    for q in vectors(30, DIM, 9).chunks(DIM) {
        let (got, explain) = hit_ids(&db, q, &opts);
        assert!(explain.sources.iter().any(|s| s.strategy == Strategy::FilteredGraph));
        let want = exact(&model, q, 10, &f);
        found += got.iter().filter(|id| want.contains(id)).count();
        total += want.len();
    }
    assert!(found as f64 / total as f64 >= 0.95, "filtered graph recall {found}/{total}");

    // A filter nothing matches prunes every source; an unknown field is an error.
    let none = SearchOptions { filter: Some(Filter::eq("genre", "opera")), ..SearchOptions::default() };
    let (got, explain) = hit_ids(&db, &vectors(1, DIM, 1), &none);
    assert!(got.is_empty());
    assert_eq!(explain.pruned(), explain.sources.len());
    let unknown = SearchOptions { filter: Some(Filter::eq("colour", "red")), ..SearchOptions::default() };
    let e = db.search_with(&vectors(1, DIM, 1), &unknown).unwrap_err();
    assert!(e.kind() == ErrorKind::InvalidArgument && e.message().contains("colour"), "{e}");
    let zero = SearchOptions { k: 0, ..SearchOptions::default() };
    assert_eq!(db.search_with(&vectors(1, DIM, 1), &zero).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn delete_by_filter_survives_commit_and_reopen() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store.clone(), DIM, Metric::L2, DbOptions::default())).unwrap();
    let mut model = write_records(&db, 0, 200, 10);
    block(db.commit()).unwrap();
    model.extend(write_records(&db, 500, 50, 11));
    let f = Filter::parse("genre = 'rock' OR year < 1985").unwrap();
    let expected = model.values().filter(|r| f.matches(&r.metadata)).count() as u64;
    assert_eq!(db.delete_by_filter(&f).unwrap(), expected);
    assert_eq!(db.count(&f).unwrap(), 0);
    assert_eq!(db.delete_by_filter(&f).unwrap(), 0);
    model.retain(|_, r| !f.matches(&r.metadata));
    block(db.commit()).unwrap();
    drop(db);
    let db = block(Db::open(store, DbOptions::default())).unwrap();
    assert_eq!(db.stats().live_rows, model.len() as u64);
    assert_eq!(db.count(&Filter::exists("genre")).unwrap(), model.len() as u64);
    let ro = SearchOptions { k: 5, filter: Some(Filter::eq("genre", "jazz")), include: Include::ALL, ..SearchOptions::default() };
    let (hits, _) = db.search_with(&vectors(1, DIM, 3), &ro).unwrap();
    for h in hits {
        let r = &model[&h.record.id];
        assert_eq!(h.record.metadata.as_ref(), Some(&r.metadata));
        assert_eq!(h.record.payload.as_deref(), Some(r.payload.as_slice()));
    }
}

#[test]
fn manifest_field_statistics_prune_whole_segments() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store.clone(), DIM, Metric::L2, DbOptions::default())).unwrap();
    for (first, genre, year) in [(0u64, "rock", 1990i64), (100, "jazz", 1960)] {
        let mut batch = WriteBatch::new();
        for id in first..first + 50 {
            batch.insert(Record::new(id, vectors(1, DIM, id)).with("genre", genre).with("year", year + (id % 10) as i64));
        }
        db.write(&batch).unwrap();
        block(db.commit()).unwrap();
    }
    drop(db);
    let db = block(Db::open(store, DbOptions::default())).unwrap();
    let fields = db.manifest().segments[0].fields.clone().expect("statistics in the manifest");
    assert_eq!(fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["genre", "year"]);
    assert_eq!(fields[1].numbers, Some((1990.0, 1999.0)));
    for (filter, matching_segment) in [(Filter::eq("genre", "jazz"), 1), (Filter::ge("year", 1985), 0), (Filter::lt("year", 1965), 1)] {
        let opts = SearchOptions { k: 5, filter: Some(filter.clone()), ..Default::default() };
        let (hits, explain) = db.search_with(&vectors(1, DIM, 7), &opts).unwrap();
        let strategies: Vec<Strategy> = explain.sources.iter().filter(|s| s.segment.is_some()).map(|s| s.strategy).collect();
        assert_eq!(strategies[1 - matching_segment], Strategy::Pruned, "{filter:?}: {explain:?}");
        assert_ne!(strategies[matching_segment], Strategy::Pruned, "{filter:?}");
        assert_eq!(hits.len(), 5);
        assert!(db.count(&filter).unwrap() > 0);
    }
    assert_eq!(db.count(&Filter::eq("genre", "blues")).unwrap(), 0);
}

/// `upsert_batch` replaces live keys (their old rows tombstoned, also in committed
/// segments) and adds new ones; a key twice in one batch is refused and nothing is applied.
#[test]
fn upsert_batch_replaces_and_refuses_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = block(Db::create(local(dir.path()), DIM, Metric::L2, DbOptions::default())).unwrap();
    let first = vectors(10, DIM, 1);
    db.insert_batch(&(0..10).collect::<Vec<u64>>(), &first).unwrap();
    block(db.commit()).unwrap();
    let second = vectors(10, DIM, 2);
    db.upsert_batch(&(5..15).collect::<Vec<u64>>(), &second).unwrap();
    assert_eq!(db.stats().live_rows, 15);
    assert_eq!(db.get(3).unwrap().unwrap(), first[3 * DIM..4 * DIM]);
    assert_eq!(db.get(7).unwrap().unwrap(), second[2 * DIM..3 * DIM], "key 7 replaced");
    let e = db.upsert_batch(&[20, 21, 20], &vectors(3, DIM, 3)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(!db.contains(21), "nothing of a refused batch is applied");
    block(db.commit()).unwrap();
    drop(db);
    let db = block(Db::open(local(dir.path()), DbOptions::default())).unwrap();
    assert_eq!(db.stats().live_rows, 15);
    assert_eq!(db.get(14).unwrap().unwrap(), second[9 * DIM..10 * DIM]);
}
