//! Structured: builds a database from `Arbitrary` records (upserts with metadata and
//! payloads, then deletes), commits it as a Flat or HNSW segment, reopens it, compacts it,
//! and compares every key with a model after each step.
#![no_main]
use std::collections::BTreeMap;
use std::sync::Arc;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use stratovec::{Db, DbOptions, Include, MemoryStore, Metadata, Metric, Record, Scalar, Value};

const FIELDS: [&str; 4] = ["genre", "year", "tags", "score"];

#[derive(Arbitrary, Debug)]
enum AnyScalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

#[derive(Arbitrary, Debug)]
enum AnyValue {
    Scalar(AnyScalar),
    List(Vec<AnyScalar>),
}

#[derive(Arbitrary, Debug)]
struct AnyRecord {
    id: u8,
    vector: [i8; 4],
    fields: Vec<(u8, AnyValue)>,
    payload: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    records: Vec<AnyRecord>,
    deletes: Vec<u8>,
    hnsw: bool,
}

fn scalar(s: &AnyScalar) -> Scalar {
    match s {
        AnyScalar::Null => Scalar::Null,
        AnyScalar::Bool(b) => Scalar::Bool(*b),
        AnyScalar::Int(i) => Scalar::Int(*i),
        AnyScalar::Float(f) => Scalar::Float(*f),
        AnyScalar::Str(s) => Scalar::Str(s.clone()),
    }
}

fn metadata(fields: &[(u8, AnyValue)]) -> Metadata {
    let mut m = Metadata::new();
    for (f, v) in fields {
        let value = match v {
            AnyValue::Scalar(s) => Value::from(scalar(s)),
            AnyValue::List(items) => Value::List(items.iter().map(scalar).collect()),
        };
        m.insert(FIELDS[*f as usize % FIELDS.len()].to_string(), value);
    }
    m
}

type Model = BTreeMap<u64, (Vec<f32>, Metadata, Vec<u8>)>;

fn check(db: &Db, model: &Model, when: &str) {
    assert_eq!(db.stats().live_rows, model.len() as u64, "{when}");
    for id in 0..=255u64 {
        let got = db.get_record(id, Include::ALL).unwrap();
        match model.get(&id) {
            None => assert!(got.is_none(), "{when}: key {id} should be absent"),
            Some((v, m, p)) => {
                let r = got.unwrap_or_else(|| panic!("{when}: key {id} missing"));
                assert_eq!(r.vector.as_ref(), Some(v), "{when}: vector of {id}");
                assert_eq!(format!("{:?}", r.metadata.unwrap()), format!("{m:?}"), "{when}: metadata of {id}");
                assert_eq!(r.payload.as_ref(), Some(p), "{when}: payload of {id}");
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let store = Arc::new(MemoryStore::new());
    let threshold = if input.hnsw { 1 } else { 10_000 };
    let options = DbOptions::default().with_flat_threshold(threshold).with_hnsw(4, 16).with_compaction(stratovec::MergeAll);
    let db = pollster::block_on(Db::create(store.clone(), 4, Metric::L2, options.clone())).unwrap();
    let mut model = Model::new();
    for r in input.records.iter().take(64) {
        let vector: Vec<f32> = r.vector.iter().map(|x| *x as f32).collect();
        let m = metadata(&r.fields);
        let record = Record { id: u64::from(r.id), vector: vector.clone(), metadata: m.clone(), payload: r.payload.clone() };
        match db.upsert_record(record) {
            Ok(()) => {
                model.insert(u64::from(r.id), (vector, m, r.payload.clone()));
            }
            Err(e) => assert_eq!(e.kind(), stratovec::ErrorKind::InvalidArgument, "{e}"),
        }
    }
    pollster::block_on(db.commit()).unwrap();
    for id in &input.deletes {
        assert_eq!(db.delete(u64::from(*id)).unwrap(), model.remove(&u64::from(*id)).is_some());
    }
    pollster::block_on(db.commit()).unwrap();
    check(&db, &model, "after commit");
    drop(db);
    let db = pollster::block_on(Db::open(store, options)).unwrap();
    check(&db, &model, "after reopen");
    pollster::block_on(db.compact()).unwrap();
    check(&db, &model, "after compaction");
});
