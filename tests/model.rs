//! Model-based property test: random sequences of insert, upsert, delete, batch, delete by
//! filter, commit, reopen and compact against a `BTreeMap` model, comparing get, scan,
//! count and exact (brute-force) filtered search after every step. Runs with and without
//! the write-ahead log: with it a reopen keeps every write, without it only committed ones.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{block, vectors};
use proptest::prelude::*;
use stratovec::{
    BlobStore, Db, DbOptions, Durability, ErrorKind, Filter, Include, MemoryStore, MergeAll, Metric, Record, SearchOptions, Value,
    WalOptions, WriteBatch,
};

const DIM: usize = 4;
const KEYS: u64 = 24;

#[derive(Debug, Clone)]
enum Op {
    Insert(u64),
    Upsert(u64),
    Delete(u64),
    Batch(Vec<(u8, u64)>),
    DeleteTagBelow(u8),
    Commit,
    Reopen,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS).prop_map(Op::Insert),
        6 => (0..KEYS).prop_map(Op::Upsert),
        3 => (0..KEYS).prop_map(Op::Delete),
        2 => prop::collection::vec((0u8..3, 0..KEYS), 1..6).prop_map(Op::Batch),
        1 => any::<u8>().prop_map(Op::DeleteTagBelow),
        2 => Just(Op::Commit),
        1 => Just(Op::Reopen),
        1 => Just(Op::Compact),
    ]
}

fn vector(id: u64, tag: i64) -> Vec<f32> {
    vectors(1, DIM, id * 7919 + tag as u64)
}

fn record(id: u64, tag: i64) -> Record {
    Record::new(id, vector(id, tag)).with("tag", tag).with_payload(vec![tag as u8; (tag % 5) as usize])
}

struct Harness {
    store: Arc<dyn BlobStore>,
    options: DbOptions,
    db: Option<Db>,
    live: BTreeMap<u64, i64>,
    committed: BTreeMap<u64, i64>,
    logged: bool,
    next_tag: i64,
}

impl Harness {
    fn new(wal: Option<&std::path::Path>) -> Harness {
        let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
        let mut options = DbOptions::default().with_flat_threshold(8).with_compaction(MergeAll);
        if let Some(dir) = wal {
            options.durability = Durability::Wal(WalOptions::new(dir));
        }
        let db = block(Db::create(store.clone(), DIM, Metric::L2, options.clone())).unwrap();
        Harness { store, options, db: Some(db), live: BTreeMap::new(), committed: BTreeMap::new(), logged: wal.is_some(), next_tag: 0 }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().unwrap()
    }

    fn tag(&mut self) -> i64 {
        self.next_tag += 1;
        self.next_tag
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Insert(id) => {
                let tag = self.tag();
                let r = self.db().insert_record(record(*id, tag));
                if self.live.contains_key(id) {
                    assert_eq!(r.unwrap_err().kind(), ErrorKind::AlreadyExists);
                } else {
                    r.unwrap();
                    self.live.insert(*id, tag);
                }
            }
            Op::Upsert(id) => {
                let tag = self.tag();
                self.db().upsert_record(record(*id, tag)).unwrap();
                self.live.insert(*id, tag);
            }
            Op::Delete(id) => {
                assert_eq!(self.db().delete(*id).unwrap(), self.live.remove(id).is_some());
            }
            Op::Batch(ops) => self.batch(ops),
            Op::DeleteTagBelow(t) => {
                let below = i64::from(*t) * self.next_tag / 256;
                match self.db().delete_by_filter(&Filter::lt("tag", below as f64)) {
                    Ok(n) => {
                        let before = self.live.len();
                        self.live.retain(|_, tag| *tag >= below);
                        assert_eq!(n as usize, before - self.live.len());
                    }
                    Err(e) => assert!(e.kind() == ErrorKind::InvalidArgument && self.live.is_empty(), "{e}"),
                }
            }
            Op::Commit => {
                block(self.db().commit()).unwrap();
                self.committed = self.live.clone();
            }
            Op::Reopen => {
                self.db = None;
                self.db = Some(block(Db::open(self.store.clone(), self.options.clone())).unwrap());
                if !self.logged {
                    self.live = self.committed.clone();
                }
            }
            Op::Compact => {
                block(self.db().compact()).unwrap();
            }
        }
    }

    /// A batch of inserts (0), upserts (1) and deletes (2): all applied, or none if an
    /// insert meets a key live at that point of the batch.
    fn batch(&mut self, ops: &[(u8, u64)]) {
        let mut batch = WriteBatch::new();
        let mut after = self.live.clone();
        let mut fails = false;
        for &(kind, id) in ops {
            let tag = self.tag();
            match kind {
                0 => {
                    fails |= after.contains_key(&id);
                    after.insert(id, tag);
                    batch.insert(record(id, tag));
                }
                1 => {
                    after.insert(id, tag);
                    batch.upsert(record(id, tag));
                }
                _ => {
                    after.remove(&id);
                    batch.delete(id);
                }
            }
        }
        match self.db().write(&batch) {
            Ok(()) => {
                assert!(!fails);
                self.live = after;
            }
            Err(e) => assert!(fails && e.kind() == ErrorKind::AlreadyExists, "{e}"),
        }
    }

    fn check(&self, query_seed: u64) {
        let db = self.db();
        for id in 0..KEYS {
            let got = db.get_record(id, Include::ALL).unwrap();
            match self.live.get(&id) {
                None => assert!(got.is_none(), "key {id} should be absent"),
                Some(&tag) => {
                    let r = got.unwrap_or_else(|| panic!("key {id} missing"));
                    assert_eq!(r.metadata.unwrap().get("tag"), Some(&Value::Int(tag)));
                    assert_eq!(r.vector.unwrap(), vector(id, tag));
                    assert_eq!(r.payload.unwrap(), vec![tag as u8; (tag % 5) as usize]);
                }
            }
        }
        assert_eq!(db.stats().live_rows, self.live.len() as u64);
        let scanned: BTreeMap<u64, i64> = db
            .scan(None, 5, Include::METADATA)
            .unwrap()
            .flat_map(|b| b.unwrap())
            .map(|r| match r.metadata.unwrap().get("tag") {
                Some(Value::Int(t)) => (r.id, *t),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(scanned, self.live);
        if self.live.is_empty() {
            return;
        }
        let all = Filter::ge("tag", 0.0);
        assert_eq!(db.count(&all).unwrap(), self.live.len() as u64);
        let q = vectors(1, DIM, query_seed);
        let opts = SearchOptions { k: 5, filter: Some(all), ..Default::default() };
        let got: Vec<f32> = db.search_with(&q, &opts).unwrap().0.iter().map(|h| h.distance).collect();
        let mut want: Vec<f32> =
            self.live.iter().map(|(id, tag)| vector(*id, *tag).iter().zip(&q).map(|(a, b)| (a - b) * (a - b)).sum()).collect();
        want.sort_by(f32::total_cmp);
        want.truncate(5);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-4 * w.max(1.0), "exact search: {got:?} vs {want:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_a_btreemap(ops in prop::collection::vec(op(), 1..60), wal in any::<bool>(), seed in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new(wal.then(|| dir.path()));
        for (i, op) in ops.iter().enumerate() {
            h.step(op);
            h.check(seed ^ i as u64);
        }
    }
}
