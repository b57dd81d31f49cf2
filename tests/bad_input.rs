//! The bad-input list of the data-model issue, one place: each case gets a typed error
//! naming the cause, none panics, and committed data stays readable afterwards.
//! (Writing to a closed `Db` cannot be expressed: `Db::close` consumes it.)

mod common;

use std::sync::Arc;

use common::{block, local, vectors};
use stratovec::{
    Db, DbOptions, Durability, ErrorKind, Field, FieldKind, Filter, MemoryStore, Metric, Record, Schema, SearchOptions,
    WalOptions,
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
    assert_err(db.insert_record(Record::new(2, [f32::INFINITY, 0.0, 0.0, 0.0]).with("genre", "x")), ErrorKind::InvalidArgument, "non-finite");
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
    assert_err(ro.insert_record(Record::new(2, vectors(1, DIM, 2))), ErrorKind::ReadOnly, "read-only");
    assert_err(ro.delete_by_filter(&Filter::exists("x")), ErrorKind::ReadOnly, "read-only");
    assert_err(block(ro.compact()).map(|_| ()), ErrorKind::ReadOnly, "read-only");
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
    let log = std::fs::read_dir(dir.path().join("wal")).unwrap().map(|e| e.unwrap().path()).max().unwrap();
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
