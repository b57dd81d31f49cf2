//! Deterministic simulation (in the style of FoundationDB's and SlateDB's): one seed drives
//! every choice — which actor acts, faults of the shared store (errors, lost responses, and
//! latency without a clock: requests yield a seeded number of times, so requests in flight
//! together complete in a seeded order),
//! and where a writer is paused mid-operation while others act (a zombie). Actors: up to
//! three writers (each newer one fences the older), compaction and vacuum by the current
//! writer, and a replica that refreshes. Everything runs on one thread, so a failing seed
//! reproduces exactly: `STRATOVEC_SIM_SEED=<seed> cargo test --release --test simulation`
//! (add `STRATOVEC_SIM_TRACE=1 -- --nocapture` to print each step and the manifest).
//!
//! After every step a fresh reader of the store is checked against the model:
//! - no acknowledged write is lost: keys whose commit returned `Ok` are live, keys whose
//!   delete was committed are gone;
//! - no phantom: every live key was written by some writer;
//! - versions never go backwards, for readers and for the replica;
//! - the replica never sees a torn state: its rows equal those of its version opened fresh;
//! - a writer never gets `Ok` from a commit after a newer writer opened (it is fenced).
//!
//! CI runs `STRATOVEC_SIM_SEEDS` seeds (default 300); `scripts/nightly.sh` runs thousands.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stratovec::backends::faulty::{Fault, FaultyStore, Op, Rule};
use stratovec::*;

mod common;
use common::{block, vectors};

const DIM: usize = 4;
/// Steps per seed.
const STEPS: usize = 120;

/// What the acknowledged history allows the database to hold.
#[derive(Default)]
struct Model {
    /// Keys whose insert a commit acknowledged, and not deleted since.
    acked: BTreeSet<u64>,
    /// Keys whose delete a commit acknowledged.
    deleted: BTreeSet<u64>,
    /// Every key any writer ever wrote (an unacknowledged one may or may not be live).
    written: BTreeSet<u64>,
    /// Keys of deletes not acknowledged (they may or may not have happened).
    maybe_deleted: BTreeSet<u64>,
    /// Newest version seen by a checker.
    version: u64,
    /// Outcomes, to show the simulation reaches what it tests: commits acknowledged,
    /// commits refused as `Fenced`, other failed commits, zombie interleavings.
    counts: [u64; 4],
}

/// A store decorator that, at its `n`-th request, runs a hook first: how a writer is
/// paused in the middle of a commit or compaction while other actors act.
#[derive(Debug)]
struct PauseStore {
    inner: Arc<dyn BlobStore>,
    requests: AtomicU64,
    hook: Mutex<Option<(u64, Hook)>>,
}

struct Hook(Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl PauseStore {
    fn new(inner: Arc<dyn BlobStore>) -> Self {
        PauseStore { inner, requests: AtomicU64::new(0), hook: Mutex::new(None) }
    }

    /// Runs `hook` before the `after`-th request from now.
    fn pause(&self, after: u64, hook: impl FnOnce() + Send + 'static) {
        let at = self.requests.load(Ordering::SeqCst) + after;
        *self.hook.lock() = Some((at, Hook(Box::new(hook))));
    }

    fn step(&self) {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        let due = {
            let mut h = self.hook.lock();
            match h.as_ref() {
                Some((at, _)) if *at <= n => h.take(),
                _ => None,
            }
        };
        if let Some((_, Hook(f))) = due {
            f();
        }
    }
}

#[stratovec::async_trait]
impl BlobStore for PauseStore {
    async fn get(&self, path: &str) -> std::result::Result<Bytes, StoreError> {
        self.step();
        self.inner.get(path).await
    }
    async fn get_range(&self, path: &str, range: Range<u64>) -> std::result::Result<Bytes, StoreError> {
        self.step();
        self.inner.get_range(path, range).await
    }
    async fn put(&self, path: &str, data: Bytes) -> std::result::Result<(), StoreError> {
        self.step();
        self.inner.put(path, data).await
    }
    async fn put_if_absent(&self, path: &str, data: Bytes) -> std::result::Result<(), StoreError> {
        self.step();
        self.inner.put_if_absent(path, data).await
    }
    async fn delete(&self, path: &str) -> std::result::Result<(), StoreError> {
        self.step();
        self.inner.delete(path).await
    }
    async fn list(&self, prefix: &str) -> std::result::Result<Vec<String>, StoreError> {
        self.step();
        self.inner.list(prefix).await
    }
    async fn head(&self, path: &str) -> std::result::Result<ObjectMeta, StoreError> {
        self.step();
        self.inner.head(path).await
    }
    fn identity(&self) -> String {
        self.inner.identity()
    }
}

/// A writer: its handle, its store (to pause it), and its writes not yet acknowledged.
struct Writer {
    db: Arc<Db>,
    store: Arc<PauseStore>,
    pending_inserts: Vec<u64>,
    pending_deletes: Vec<u64>,
}

/// A writer opened while another was paused: its handle, the keys it wrote, its commit.
type Opened = (Db, Vec<u64>, Result<u64>);

struct Sim {
    seed: u64,
    rng: SmallRng,
    memory: Arc<MemoryStore>,
    faulty: Arc<FaultyStore>,
    model: Arc<Mutex<Model>>,
    writers: Vec<Writer>,
    replica: Option<ReadOnlyDb>,
    replica_version: u64,
    next_key: u64,
}

fn options() -> DbOptions {
    DbOptions { memtable_limit_bytes: None, retain_versions: 2, ..DbOptions::default() }
        .with_flat_threshold(64)
        .with_compaction(SizeTiered { fanout: 2, base_rows: 8, ..SizeTiered::default() })
}

/// Applies the outcome of writer `w`'s commit to the model.
fn record_commit(model: &Mutex<Model>, w: &mut Writer, result: &Result<u64>) {
    let mut m = model.lock();
    let outcome = match result {
        Ok(_) => 0,
        Err(e) if e.kind() == ErrorKind::Fenced => 1,
        Err(_) => 2,
    };
    m.counts[outcome] += 1;
    match result {
        Ok(_) => {
            for k in w.pending_inserts.drain(..) {
                m.acked.insert(k);
            }
            for k in w.pending_deletes.drain(..) {
                m.acked.remove(&k);
                m.maybe_deleted.remove(&k);
                m.deleted.insert(k);
            }
        }
        // Unknown outcome (the writer is poisoned): the writes may or may not be in the
        // newest version.
        Err(_) if w.db.stats().poisoned.is_some() => {
            for k in w.pending_deletes.drain(..) {
                m.acked.remove(&k);
                m.maybe_deleted.insert(k);
            }
            w.pending_inserts.clear();
        }
        Err(_) => {}
    }
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let memory = Arc::new(MemoryStore::new());
        let faulty = Arc::new(FaultyStore::new(memory.clone(), seed));
        let mut sim = Sim {
            seed,
            rng: SmallRng::seed_from_u64(seed),
            memory,
            faulty,
            model: Arc::default(),
            writers: Vec::new(),
            replica: None,
            replica_version: 0,
            next_key: 0,
        };
        let store = Arc::new(PauseStore::new(sim.faulty.clone()));
        let db = block(Db::create(store.clone(), DIM, Metric::L2, options())).unwrap();
        sim.writers.push(Writer { db: Arc::new(db), store, pending_inserts: Vec::new(), pending_deletes: Vec::new() });
        // Faults from now on: errors anywhere, lost responses of create-only writes.
        let p = sim.rng.random_range(0.0..0.08);
        sim.faulty.inject(Rule::new(Op::Any, Fault::Error).probability(p));
        sim.faulty.inject(Rule::new(Op::PutIfAbsent, Fault::LostResponse).probability(p / 2.0));
        // Simulated latency: requests in flight together (segment fetches) complete in a
        // seeded order.
        sim.faulty.inject(Rule::new(Op::Any, Fault::Yield(6)).probability(0.5));
        sim
    }

    fn current(&mut self) -> &mut Writer {
        self.writers.last_mut().expect("one writer at least")
    }

    fn write(&mut self, w: usize) {
        let n = self.rng.random_range(1..8u64);
        let keys: Vec<u64> = (self.next_key..self.next_key + n).collect();
        self.next_key += n;
        let writer = &mut self.writers[w];
        self.model.lock().written.extend(&keys);
        if writer.db.insert_batch(&keys, &vectors(keys.len(), DIM, keys[0])).is_ok() {
            writer.pending_inserts.extend(keys);
        }
    }

    fn delete(&mut self) {
        let live: Vec<u64> = self.model.lock().acked.iter().copied().collect();
        if live.is_empty() {
            return;
        }
        let k = live[self.rng.random_range(0..live.len())];
        let w = self.current();
        if w.db.delete(k).is_ok_and(|found| found) {
            w.pending_deletes.push(k);
            w.pending_inserts.retain(|&x| x != k);
        }
    }

    fn commit(&mut self, w: usize) {
        let fenced = w + 1 < self.writers.len();
        let writer = &mut self.writers[w];
        let result = block(writer.db.commit());
        if fenced && result.as_ref().is_ok_and(|_| !writer.pending_inserts.is_empty() || !writer.pending_deletes.is_empty()) {
            panic!("seed {}: a fenced writer's commit returned Ok", self.seed);
        }
        record_commit(&self.model, writer, &result);
    }

    /// Pauses writer `w` at a random request of its next commit, and meanwhile opens a new
    /// writer, which writes, commits and vacuums.
    fn zombie_commit(&mut self, w: usize) {
        if self.writers.len() >= 3 {
            return self.commit(w);
        }
        self.write(w);
        let store = Arc::new(PauseStore::new(self.faulty.clone()));
        let slot: Arc<Mutex<Option<Opened>>> = Arc::default();
        let (hook_store, hook_slot, model) = (store.clone(), slot.clone(), self.model.clone());
        let first = self.next_key;
        self.next_key += 5;
        let vacuum = self.rng.random_bool(0.5);
        self.writers[w].store.pause(self.rng.random_range(0..6), move || {
            let Ok(db) = block(Db::open(hook_store, options())) else { return };
            let keys: Vec<u64> = (first..first + 5).collect();
            model.lock().written.extend(&keys);
            let inserted = db.insert_batch(&keys, &vectors(5, DIM, first)).is_ok();
            let result = block(db.commit());
            if vacuum {
                let _ = block(db.vacuum(&RetentionPolicy { keep_versions: 1, keep_for: Duration::ZERO }));
            }
            *hook_slot.lock() = Some((db, if inserted { keys } else { Vec::new() }, result));
        });
        let writer = &mut self.writers[w];
        if std::env::var("STRATOVEC_SIM_TRACE").is_ok() {
            eprintln!("zombie {w} pending inserts {:?} deletes {:?}", writer.pending_inserts, writer.pending_deletes);
        }
        let result = block(writer.db.commit());
        let opened = slot.lock().take();
        if std::env::var("STRATOVEC_SIM_TRACE").is_ok() {
            let o = opened.as_ref().map(|(d, k, r)| (d.manifest().epoch, k.clone(), r.as_ref().map_err(|e| e.to_string()).copied()));
            eprintln!("zombie commit: {:?}; new writer: {o:?}", result.as_ref().map_err(|e| e.to_string()));
            let m = block(Db::open_read_only(self.memory.clone(), options())).map(|d| d.manifest());
            eprintln!(
                "after: {:?}",
                m.map(|m| (m.version, m.epoch, m.segments.iter().map(|s| (s.id, s.rows, s.file.clone())).collect::<Vec<_>>()))
            );
            eprintln!("objects: {:?}", block(self.memory.list("")).unwrap());
        }
        if let Some((db, keys, new_result)) = opened {
            self.model.lock().counts[3] += 1;
            let mut newer = Writer { db: Arc::new(db), store, pending_inserts: keys, pending_deletes: Vec::new() };
            record_commit(&self.model, &mut newer, &new_result);
            // The zombie's commit raced the new writer's open: it may have won (published
            // before the claim), never after.
            record_commit(&self.model, &mut self.writers[w], &result);
            self.writers.push(newer);
        } else {
            record_commit(&self.model, &mut self.writers[w], &result);
        }
    }

    fn open_writer(&mut self) {
        if self.writers.len() >= 3 {
            return;
        }
        let store = Arc::new(PauseStore::new(self.faulty.clone()));
        if let Ok(db) = block(Db::open(store.clone(), options())) {
            self.writers.push(Writer { db: Arc::new(db), store, pending_inserts: Vec::new(), pending_deletes: Vec::new() });
        }
    }

    fn compact(&mut self) {
        let db = self.current().db.clone();
        let _ = if self.rng.random_bool(0.5) { block(db.compact_with(&MergeAll)) } else { block(db.compact()) };
    }

    fn vacuum(&mut self) {
        let keep = self.rng.random_range(1..4);
        let db = self.current().db.clone();
        let _ = block(db.vacuum(&RetentionPolicy { keep_versions: keep, keep_for: Duration::ZERO }));
    }

    fn refresh_replica(&mut self) {
        let Some(r) = &self.replica else {
            self.replica = block(Db::open_read_only(self.faulty.clone(), options())).ok();
            self.replica_version = self.replica.as_ref().map_or(0, |r| r.stats().version);
            return;
        };
        if let Ok(v) = block(r.refresh()) {
            assert!(v >= self.replica_version, "seed {}: the replica went from version {} back to {v}", self.seed, self.replica_version);
            self.replica_version = v;
            // Not torn: the replica's rows are exactly those of its version opened fresh.
            if let Ok(fresh) = block(Db::open_at(self.memory.clone(), v, options())) {
                assert_eq!(live_keys(r), live_keys(&fresh), "seed {}: the replica at version {v} differs from a fresh open", self.seed);
            }
        }
    }

    /// A fresh reader of the store without faults, checked against the model.
    fn check(&mut self, step: usize) {
        let reader = block(Db::open_read_only(self.memory.clone(), options()))
            .unwrap_or_else(|e| panic!("seed {}: step {step}: open: {e}", self.seed));
        let live = live_keys(&reader);
        let m = self.model.lock();
        let seed = self.seed;
        assert!(reader.stats().version >= m.version, "seed {seed}: step {step}: the version went back");
        for k in &m.acked {
            assert!(
                live.contains(k) || m.maybe_deleted.contains(k),
                "seed {seed}: step {step}: acknowledged key {k} lost (live {live:?}, maybe deleted {:?}, deleted {:?})",
                m.maybe_deleted,
                m.deleted
            );
        }
        for k in &live {
            assert!(m.written.contains(k), "seed {seed}: step {step}: phantom key {k}");
            assert!(!m.deleted.contains(k), "seed {seed}: step {step}: key {k} deleted by an acknowledged commit is live");
        }
        drop(m);
        self.model.lock().version = reader.stats().version;
    }

    fn run(&mut self, steps: usize) {
        for step in 0..steps {
            let w = self.rng.random_range(0..self.writers.len());
            let op = self.rng.random_range(0..100);
            if std::env::var("STRATOVEC_SIM_TRACE").is_ok() {
                let m = self.memory.clone();
                let v = block(Db::open_read_only(m, options())).map(|d| d.manifest()).ok();
                eprintln!(
                    "step {step}: op {op}, writer {w} of {}, manifest {:?}",
                    self.writers.len(),
                    v.map(|m| (
                        m.version,
                        m.epoch,
                        m.segments.iter().map(|s| (s.id, s.rows, s.file.clone())).collect::<Vec<_>>(),
                        m.tombstone_files
                    ))
                );
            }
            match op {
                0..=34 => self.write(self.writers.len() - 1),
                35..=44 => self.write(w),
                45..=54 => self.delete(),
                55..=69 => self.commit(self.writers.len() - 1),
                70..=74 => self.commit(w),
                75..=79 => self.zombie_commit(w),
                80..=82 => self.open_writer(),
                83..=88 => self.compact(),
                89..=93 => self.vacuum(),
                _ => self.refresh_replica(),
            }
            self.check(step);
        }
        // Heal the store: the current writer's acknowledged state plus its pending writes
        // must all become durable.
        self.faulty.clear();
        let n = self.writers.len() - 1;
        if self.writers[n].db.stats().auto_commit_error.is_none() {
            self.commit(n);
        }
        self.check(steps);
    }
}

fn live_keys(db: &ReadOnlyDb) -> BTreeSet<u64> {
    db.scan(None, 1024, Include::default())
        .map(|s| s.flat_map(|b| b.map(|b| b.into_iter().map(|r| r.id).collect::<Vec<_>>()).unwrap_or_default()).collect())
        .unwrap_or_default()
}

#[test]
fn simulated_writers_zombies_compaction_vacuum_and_replicas_lose_nothing() {
    let seeds: Vec<u64> = match std::env::var("STRATOVEC_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("STRATOVEC_SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("STRATOVEC_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
            let first: u64 = std::env::var("STRATOVEC_SIM_FIRST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
            (first..first + n).collect()
        }
    };
    let started = std::time::Instant::now();
    let (mut counts, mut acked) = ([0u64; 4], 0);
    for &seed in &seeds {
        let mut sim = Sim::new(seed);
        sim.run(STEPS);
        let m = sim.model.lock();
        counts.iter_mut().zip(m.counts).for_each(|(c, n)| *c += n);
        acked += m.acked.len();
    }
    eprintln!(
        "{} seeds of {STEPS} steps in {:.1} s: {} commits acknowledged, {} fenced, {} failed, {} zombie interleavings, {acked} acknowledged keys checked at the end",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    assert!(counts[0] > 0 && counts[1] > 0 && counts[3] > 0, "the simulation reaches commits, fencing and zombies");
}
