//! [`FaultyStore`]: a [`BlobStore`] decorator that injects failures, seeded and scripted, to
//! test what a database does when its storage misbehaves (feature `test-util`).
//!
//! ```
//! use std::sync::Arc;
//! use stratovec_backends::{BlobStore, MemoryStore};
//! use stratovec_backends::faulty::{Fault, FaultyStore, Op, Rule};
//! # pollster::block_on(async {
//! let store = FaultyStore::new(Arc::new(MemoryStore::new()), 42);
//! // The first create-only write under "MANIFEST-" is performed, but its response is lost.
//! store.inject(Rule::new(Op::PutIfAbsent, Fault::LostResponse).prefix("MANIFEST-").times(1));
//! assert!(store.put_if_absent("MANIFEST-1", "m".into()).await.is_err());
//! assert_eq!(store.get("MANIFEST-1").await.unwrap(), "m");
//! assert_eq!(store.injected(), 1);
//! # });
//! ```

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::{BlobStore, ObjectMeta, RandomAccess, StoreError};

/// A store operation a [`Rule`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`BlobStore::get`] and [`BlobStore::get_range`].
    Read,
    /// [`BlobStore::put`].
    Put,
    /// [`BlobStore::put_if_absent`].
    PutIfAbsent,
    /// [`BlobStore::delete`].
    Delete,
    /// [`BlobStore::list`] and [`BlobStore::head`].
    List,
    /// Any of the above.
    Any,
}

/// What happens when a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail with `Unavailable` without doing anything.
    Error,
    /// `put` and `put_if_absent` only: store the first half of the bytes, then fail with
    /// `Unavailable` (a store without atomic writes). On other operations it acts as
    /// `Error`.
    TornWrite,
    /// Do the operation, then fail with `Unavailable` (the response was lost).
    LostResponse,
    /// Sleep this long (blocking the calling thread), then do the operation.
    Latency(Duration),
    /// Return to the executor a seeded number of times, from 0 to this many, before doing
    /// the operation: simulated latency without a clock. On one thread, requests in flight
    /// together (a batch of segment fetches) reach the store and complete in a seeded
    /// order, so a simulation reorders them and still reproduces from its seed.
    Yield(u32),
}

/// When and how to fail: operation, optional path prefix, probability, and how many times
/// (after skipping the first `skip` matches).
#[derive(Debug, Clone)]
pub struct Rule {
    op: Op,
    fault: Fault,
    prefix: String,
    probability: f64,
    skip: u64,
    times: Option<u64>,
}

impl Rule {
    /// A rule that fires on every matching call, forever.
    pub fn new(op: Op, fault: Fault) -> Self {
        Rule { op, fault, prefix: String::new(), probability: 1.0, skip: 0, times: None }
    }
    /// Only paths starting with `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// Fire with probability `p` (0..=1) per matching call, from the store's seeded RNG.
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }
    /// Let the first `n` matching calls through.
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }
    /// Fire at most `n` times, then retire.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }
}

/// A [`BlobStore`] that forwards to `inner` and injects the faults of its [`Rule`]s.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn BlobStore>,
    rules: Mutex<Vec<Rule>>,
    rng: Mutex<SmallRng>,
    injected: std::sync::atomic::AtomicU64,
}

impl FaultyStore {
    /// Wraps `inner`; `seed` makes probabilistic rules reproducible.
    pub fn new(inner: Arc<dyn BlobStore>, seed: u64) -> Self {
        FaultyStore { inner, rules: Mutex::new(Vec::new()), rng: Mutex::new(SmallRng::seed_from_u64(seed)), injected: Default::default() }
    }

    /// Adds a rule (rules are checked in the order added; the first that fires wins).
    pub fn inject(&self, rule: Rule) {
        self.rules.lock().push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    /// Faults injected so far (`Fault::Yield`, latency, is not counted).
    pub fn injected(&self) -> u64 {
        self.injected.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The fault to apply to `op` on `path`, if a rule fires.
    fn fault(&self, op: Op, path: &str) -> Option<Fault> {
        let mut rules = self.rules.lock();
        let mut rng = self.rng.lock();
        for rule in rules.iter_mut() {
            if (rule.op != Op::Any && rule.op != op) || !path.starts_with(&rule.prefix) || rule.times == Some(0) {
                continue;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
                continue;
            }
            if rule.probability < 1.0 && !rng.random_bool(rule.probability.clamp(0.0, 1.0)) {
                continue;
            }
            if let Some(t) = rule.times.as_mut() {
                *t -= 1;
            }
            if let Fault::Yield(most) = rule.fault {
                return Some(Fault::Yield(rng.random_range(0..=most))); // latency, not a failure
            }
            self.injected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Some(rule.fault);
        }
        None
    }

    /// Runs `call` under the fault chosen for `op` on `path`.
    async fn guarded<T, F>(&self, op: Op, path: &str, call: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        apply(self.fault(op, path), op, path, call).await
    }
}

/// Runs `call` under `fault`.
async fn apply<T, F>(fault: Option<Fault>, op: Op, path: &str, call: F) -> Result<T, StoreError>
where
    F: std::future::Future<Output = Result<T, StoreError>>,
{
    match fault {
        None => call.await,
        Some(Fault::Error | Fault::TornWrite) => Err(injected(op, path)),
        Some(Fault::LostResponse) => {
            call.await?;
            Err(injected(op, path))
        }
        Some(Fault::Latency(d)) => {
            std::thread::sleep(d);
            call.await
        }
        Some(Fault::Yield(n)) => {
            YieldTimes(n).await;
            call.await
        }
    }
}

/// A future that is pending `self.0` times (waking itself each time), then ready.
struct YieldTimes(u32);

impl std::future::Future for YieldTimes {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 == 0 {
            return std::task::Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

fn injected(op: Op, path: &str) -> StoreError {
    StoreError::Unavailable(format!("injected fault on {op:?} {path}"))
}

#[async_trait]
impl BlobStore for FaultyStore {
    fn identity(&self) -> String {
        self.inner.identity()
    }

    async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        self.guarded(Op::Read, path, self.inner.get(path)).await
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.guarded(Op::Read, path, self.inner.get_range(path, range)).await
    }

    async fn random_access(&self, path: &str) -> Result<Option<Arc<dyn RandomAccess>>, StoreError> {
        self.guarded(Op::Read, path, self.inner.random_access(path)).await
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        let fault = self.fault(Op::Put, path);
        if fault == Some(Fault::TornWrite) {
            let half = data.slice(..data.len() / 2);
            self.inner.put(path, half).await?;
            return Err(injected(Op::Put, path));
        }
        apply(fault, Op::Put, path, self.inner.put(path, data)).await
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        let fault = self.fault(Op::PutIfAbsent, path);
        if fault == Some(Fault::TornWrite) {
            self.inner.put_if_absent(path, data.slice(..data.len() / 2)).await?;
            return Err(injected(Op::PutIfAbsent, path));
        }
        apply(fault, Op::PutIfAbsent, path, self.inner.put_if_absent(path, data)).await
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.guarded(Op::Delete, path, self.inner.delete(path)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.guarded(Op::List, prefix, self.inner.list(prefix)).await
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError> {
        self.guarded(Op::List, path, self.inner.head(path)).await
    }
}
