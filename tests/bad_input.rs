//! The bad-input list of the data-model issue, one place: each case gets a typed error
//! naming the cause, none panics, and committed data stays readable afterwards.
//! (Writing to a closed `Db` cannot be expressed: `Db::close` consumes it.)
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

mod common;

use std::sync::Arc;

use common::{block, local, vectors};
use stratovec::{
    Db, DbOptions, Durability, ErrorKind, Field, FieldKind, Filter, MemoryStore, Metric, Record, Schema, SearchOptions, WalOptions,
};

const DIM: usize = 4;

fn schema() -> Schema {
    Schema::new().field("genre", Field::new(FieldKind::Str).required()).field("year", Field::new(FieldKind::Int)).strict()
}

fn assert_err<T: std::fmt::Debug>(r: stratovec::Result<T>, kind: ErrorKind, mentions: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.kind(), kind, "{e}");
    assert!(e.to_string().contains(mentions), "{e:?} should mention {mentions:?}");
}

#[test]
fn bad_records_queries_and_filters_are_typed_errors() {
    let opts = DbOptions::default().with_schema(schema());
    let db = block(Db::create(Arc::new(MemoryStore::new()), DIM, Metric::Cosine, opts)).unwrap();
    let good = || Record::new(1, [1.0, 0.0, 0.0, 0.0]).with("genre", "rock");
    db.insert_record(good()).unwrap();
    block(db.commit()).unwrap();

    let v = |id| Record::new(id, vectors(1, DIM, id)).with("genre", "jazz");
    assert_err(db.insert_record(Record::new(2, [1.0, 2.0]).with("genre", "x")), ErrorKind::InvalidArgument, "dimension");
    assert_err(db.insert_record(Record::new(2, [1.0, f32::NAN, 0.0, 0.0]).with("genre", "x")), ErrorKind::InvalidArgument, "non-finite");
    assert_err(
        db.insert_record(Record::new(2, [f32::INFINITY, 0.0, 0.0, 0.0]).with("genre", "x")),
        ErrorKind::InvalidArgument,
        "non-finite",
    );
    assert_err(db.insert_record(Record::new(2, [0.0; 4]).with("genre", "x")), ErrorKind::InvalidArgument, "zero vector");
    assert_err(db.insert_record(Record::new(2, vectors(1, DIM, 2))), ErrorKind::InvalidArgument, "genre");
    assert_err(db.insert_record(v(2).with("year", "1999")), ErrorKind::InvalidArgument, "year");
    assert_err(db.insert_record(v(2).with("colour", "red")), ErrorKind::InvalidArgument, "colour");
    assert_err(db.insert_record(v(2).with("year", f64::NAN)), ErrorKind::InvalidArgument, "key 2");
    assert_err(db.insert_record(v(2).with_payload(vec![0u8; (1 << 20) + 1])), ErrorKind::InvalidArgument, "max_payload_bytes");
    assert_err(db.insert_record(good()), ErrorKind::AlreadyExists, "key 1");

    let q = [1.0, 0.0, 0.0, 0.0];
    let with = |k, filter| SearchOptions { k, filter, ..Default::default() };
    assert_err(db.search_with(&q, &with(0, None)), ErrorKind::InvalidArgument, "k must be");
    assert_err(db.search_with(&q, &with(100_001, None)), ErrorKind::InvalidArgument, "k must be");
    assert_err(db.search_with(&q[..3], &with(1, None)), ErrorKind::InvalidArgument, "dimension");
    assert_err(db.search_with(&[0.0; 4], &with(1, None)), ErrorKind::InvalidArgument, "zero vector");
    assert_err(db.search_with(&q, &with(1, Some(Filter::eq("colour", "red")))), ErrorKind::InvalidArgument, "colour");
    assert_err(db.count(&Filter::eq("colour", "red")), ErrorKind::InvalidArgument, "colour");
    assert_err(db.scan(Some(&Filter::eq("colour", "red")), 10, Default::default()), ErrorKind::InvalidArgument, "colour");
    assert_err(db.scan(None, 0, Default::default()), ErrorKind::InvalidArgument, "batch_size");
    let parse = Filter::parse("genre = 'rock' AND (year >= ").map_err(stratovec::Error::from);
    assert_err(parse, ErrorKind::InvalidArgument, "at byte 28");

    assert_eq!(db.stats().live_rows, 1, "no failed write applied anything");
    assert!(db.contains(1));
}

#[test]
fn writes_on_a_read_only_database_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = block(Db::create(local(dir.path()), DIM, Metric::L2, DbOptions::default())).unwrap();
    db.insert(1, &vectors(1, DIM, 1)).unwrap();
    block(db.commit()).unwrap();
    drop(db);
    let ro_store = Arc::new(stratovec::LocalStore::open_read_only(dir.path()).unwrap());
    let ro = block(Db::open_read_only(ro_store, DbOptions::default())).unwrap();
    // Writes through `ro` do not compile (ReadOnlyDb has no write methods; see its
    // compile_fail doctest).
    assert!(ro.contains(1));
}

#[test]
fn bad_log_files_are_typed_errors_or_cut() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || DbOptions::default().with_durability(Durability::Wal(WalOptions::new(dir.path().join("wal"))));
    let db = block(Db::create(local(&dir.path().join("db")), DIM, Metric::L2, opts())).unwrap();
    db.insert(1, &vectors(1, DIM, 1)).unwrap();
    block(db.commit()).unwrap();
    db.insert(2, &vectors(1, DIM, 2)).unwrap();
    drop(db);
    let log = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .max()
        .unwrap();
    let bytes = std::fs::read(&log).unwrap();

    // An unknown log format version: refuse to open rather than drop the writes.
    let mut newer = bytes.clone();
    newer[8] = 99;
    std::fs::write(&log, &newer).unwrap();
    let e = block(Db::open(local(&dir.path().join("db")), opts())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible, "{e}");
    assert!(e.to_string().contains(".wal"), "{e}");
    // Not a log at all.
    std::fs::write(&log, b"not a stratovec log file").unwrap();
    let e = block(Db::open(local(&dir.path().join("db")), opts())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    // A truncated record is cut: committed key 1 survives, unlogged key 2 is gone.
    std::fs::write(&log, &bytes[..bytes.len() - 1]).unwrap();
    let db = block(Db::open(local(&dir.path().join("db")), opts())).unwrap();
    assert!(db.contains(1) && !db.contains(2));
}

/// Every caller-sized number is bounded: huge `k`, `ef_search`, `k × rerank_factor`,
/// beam width and scan batch are typed errors, never an allocation that aborts.
#[test]
fn caller_sizes_are_bounded() {
    use stratovec::limits::*;
    use stratovec::SearchParams;
    let db = block(Db::create(Arc::new(MemoryStore::new()), DIM, Metric::L2, DbOptions::default())).unwrap();
    db.insert_batch(&[1, 2, 3], &vectors(3, DIM, 1)).unwrap();
    block(db.commit()).unwrap();
    let q = vectors(1, DIM, 9);
    let p = SearchParams::default();
    assert_err(db.search(&q, 1_000_000_000_000, &p), ErrorKind::InvalidArgument, "k must be");
    assert_err(db.search(&q, usize::MAX, &p), ErrorKind::InvalidArgument, "k must be");
    assert_err(db.search(&q, 10, &SearchParams { ef_search: MAX_EF_SEARCH + 1, ..p }), ErrorKind::InvalidArgument, "ef_search");
    assert_err(db.search(&q, 10, &SearchParams { rerank_factor: usize::MAX, ..p }), ErrorKind::InvalidArgument, "rerank_factor");
    assert_err(db.search(&q, 10, &SearchParams { beam_width: 0, ..p }), ErrorKind::InvalidArgument, "beam_width");
    assert_err(db.search(&q, 10, &SearchParams { beam_width: MAX_BEAM_WIDTH + 1, ..p }), ErrorKind::InvalidArgument, "beam_width");
    let opts = SearchOptions { k: 10, params: SearchParams { ef_search: usize::MAX, ..p }, ..Default::default() };
    assert_err(db.search_with(&q, &opts), ErrorKind::InvalidArgument, "ef_search");
    assert_err(db.scan(None, usize::MAX, Default::default()), ErrorKind::InvalidArgument, "batch_size");
    let hits = db.search(&q, MAX_K, &SearchParams { ef_search: MAX_EF_SEARCH, ..p }).unwrap();
    assert_eq!(hits.len(), 3, "the largest accepted sizes work on a small database");
    assert_eq!(db.scan(None, MAX_SCAN_BATCH, Default::default()).unwrap().map(|b| b.unwrap().len()).sum::<usize>(), 3);
}

/// Metadata is bounded at write (per value, per list, per row), so no acknowledged commit
/// can produce a manifest the decoder refuses.
#[test]
fn oversized_metadata_is_refused_at_write_and_the_database_reopens() {
    use stratovec::limits::*;
    let dir = tempfile::tempdir().unwrap();
    let db = block(Db::create(local(dir.path()), DIM, Metric::L2, DbOptions::default())).unwrap();
    let r = |id| Record::new(id, vectors(1, DIM, id));
    let huge = "x".repeat(70 << 20);
    assert_err(db.insert_record(r(1).with("text", huge.as_str())), ErrorKind::InvalidArgument, "string of");
    let list = stratovec::Value::List(vec![stratovec::Scalar::Int(1); MAX_LIST_LEN + 1]);
    assert_err(db.insert_record(r(1).with("l", list)), ErrorKind::InvalidArgument, "list of");
    let mut many = r(1);
    for i in 0..=MAX_FIELDS_PER_ROW {
        many = many.with(&format!("f{i}"), 1);
    }
    assert_err(db.insert_record(many), ErrorKind::InvalidArgument, "fields");
    let mut big = r(1);
    for i in 0..(MAX_ROW_BYTES / MAX_STRING_BYTES + 1) {
        big = big.with(&format!("s{i}"), "y".repeat(MAX_STRING_BYTES).as_str());
    }
    assert_err(db.insert_record(big), ErrorKind::InvalidArgument, "bytes of metadata");
    assert_eq!(db.stats().live_rows, 0);

    // The largest accepted values, and more fields across rows than statistics keep.
    let long = "z".repeat(MAX_STRING_BYTES);
    for id in 0..300u64 {
        db.insert_record(r(id).with("text", long.as_str()).with(&format!("only{id}"), id as i64)).unwrap();
    }
    block(db.commit()).unwrap();
    let fields = db.manifest().segments[0].fields.clone();
    assert!(fields.is_none(), "301 fields: no statistics, the manifest stays small");
    drop(db);
    let db = block(Db::open(local(dir.path()), DbOptions::default())).unwrap();
    assert_eq!(db.count(&Filter::eq("only7", 7)).unwrap(), 1);
    assert_eq!(db.count(&Filter::eq("text", long.as_str())).unwrap(), 300);
}

/// Filters are bounded in text, nodes and depth; long AND/OR chains are balanced, and a
/// deep filter built in code is refused instead of overflowing the stack.
#[test]
fn filters_are_bounded_in_size_and_depth() {
    use stratovec::limits::*;
    let db = block(Db::create(Arc::new(MemoryStore::new()), DIM, Metric::L2, DbOptions::default())).unwrap();
    db.insert_record(Record::new(1, vectors(1, DIM, 1)).with("a", 1)).unwrap();
    let chain = vec!["a = 1"; 2000].join(" AND ");
    let f = Filter::parse(&chain).unwrap();
    assert_eq!(db.count(&f).unwrap(), 1, "a chain of 2,000 terms parses and evaluates");
    let too_long = vec!["a = 1"; MAX_FILTER_BYTES / 8].join(" OR ");
    assert!(Filter::parse(&too_long).unwrap_err().to_string().contains("over the limit"));
    let too_many = vec!["a = 1"; MAX_FILTER_NODES + 1].join(" OR ");
    assert!(too_many.len() <= MAX_FILTER_BYTES);
    assert!(Filter::parse(&too_many).unwrap_err().to_string().contains("nodes"));
    let nested = format!("{}a = 1{}", "(".repeat(100), ")".repeat(100));
    assert!(Filter::parse(&nested).is_err(), "parentheses deeper than the parser allows");
    let mut deep = Filter::eq("a", 1);
    for _ in 0..MAX_FILTER_DEPTH {
        deep = deep.and(Filter::eq("a", 1));
    }
    assert_err(db.count(&deep), ErrorKind::InvalidArgument, "deeper");
    let opts = SearchOptions { k: 1, filter: Some(deep), ..Default::default() };
    assert_err(db.search_with(&vectors(1, DIM, 2), &opts), ErrorKind::InvalidArgument, "deeper");
}
