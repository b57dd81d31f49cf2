//! Online recall monitoring: a sampled fraction of searches is re-run exactly (brute force
//! over the same sources and filter, [`crate::SearchOptions::exact`]) on a background thread,
//! and recall@k is estimated per strategy over the last [`WINDOW`] samples.
//!
//! Sampling is deterministic: with [`crate::DbOptions::recall_sample_rate`] = r, one search
//! in `round(1 / r)` is sampled. The queue to the monitor holds [`QUEUE`] samples; a sample
//! that finds it full is dropped (counted), so a slow monitor never slows searches. Writes
//! between a search and its re-run can change the exact answer, so under heavy writes the
//! estimate is slightly pessimistic.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use ::metrics::{counter, gauge};
use parking_lot::Mutex;

use crate::filter::Filter;
use crate::{Db, SearchOptions, SearchParams};

/// Samples kept per strategy for the estimate.
pub const WINDOW: usize = 1_000;
/// Samples waiting for the monitor at most.
pub const QUEUE: usize = 256;

/// Recall@k gauge by strategy.
pub const RECALL_ESTIMATE: &str = "stratovec_recall_estimate";
/// Re-run samples by strategy.
pub const RECALL_SAMPLES_TOTAL: &str = "stratovec_recall_samples_total";

/// The recall estimate of one strategy ([`crate::Stats::recall`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecallEstimate {
    /// The `strategy` label (as `stratovec_search_duration_seconds`).
    pub strategy: &'static str,
    /// Samples in the window.
    pub samples: usize,
    /// Mean recall@k over them, 0..=1.
    pub recall: f64,
    /// Half-width of the 95% confidence interval of the mean (normal approximation,
    /// 1.96 × standard error).
    pub ci95: f64,
}

/// One sampled search.
struct Sample {
    query: Vec<f32>,
    k: usize,
    filter: Option<Filter>,
    found: Vec<u64>,
    strategy: &'static str,
}

/// The monitor's side of a database: sampling counter, queue and windows.
#[derive(Debug, Default)]
pub(crate) struct Recall {
    sender: Mutex<Option<SyncSender<Sample>>>,
    searches: AtomicU64,
    /// Samples queued and not yet scored.
    pending: AtomicU64,
    /// Samples dropped because the queue was full.
    pub(crate) dropped: AtomicU64,
    windows: Mutex<HashMap<&'static str, VecDeque<f64>>>,
}

impl std::fmt::Debug for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sample").field("k", &self.k).field("strategy", &self.strategy).finish()
    }
}

impl Recall {
    /// Estimates per strategy, sorted by strategy.
    pub(crate) fn estimates(&self) -> Vec<RecallEstimate> {
        let w = self.windows.lock();
        let mut out: Vec<RecallEstimate> = w.iter().map(|(&strategy, v)| estimate(strategy, v)).collect();
        out.sort_by_key(|e| e.strategy);
        out
    }
}

fn estimate(strategy: &'static str, v: &VecDeque<f64>) -> RecallEstimate {
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n.max(1) as f64;
    let var = if n > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
    RecallEstimate { strategy, samples: n, recall: mean, ci95: 1.96 * (var / n.max(1) as f64).sqrt() }
}

/// The background thread of [`Db::spawn_recall_monitor`]; dropping it stops the thread
/// (after the sample in progress).
#[derive(Debug)]
pub struct RecallMonitor {
    db: Weak<Db>,
    thread: Option<JoinHandle<()>>,
}

impl RecallMonitor {
    /// Blocks until every sample queued so far has been scored (for tests and benchmarks).
    pub fn drain(&self) {
        while let Some(db) = self.db.upgrade() {
            if db.recall.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            drop(db);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Empties the estimate windows (e.g. after changing `ef_search`).
    pub fn reset(&self) {
        if let Some(db) = self.db.upgrade() {
            db.recall.windows.lock().clear();
        }
    }
}

impl Drop for RecallMonitor {
    fn drop(&mut self) {
        if let Some(db) = self.db.upgrade() {
            db.recall.sender.lock().take();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Db {
    /// Starts the recall monitor: from now on one search in `round(1 /
    /// `[`crate::DbOptions::recall_sample_rate`]`)` is re-run exactly on this thread, and
    /// [`crate::Stats::recall`] and the `stratovec_recall_estimate` gauge report recall@k
    /// per strategy (see the module docs of `recall`). With a rate of 0 nothing is sampled.
    pub fn spawn_recall_monitor(self: &Arc<Self>) -> RecallMonitor {
        let (tx, rx) = sync_channel::<Sample>(QUEUE);
        *self.recall.sender.lock() = Some(tx);
        let db = Arc::downgrade(self);
        let thread_db = db.clone();
        let thread = std::thread::Builder::new()
            .name("stratovec-recall".into())
            .spawn(move || monitor(thread_db, rx))
            .expect("spawning the recall monitor thread");
        RecallMonitor { db, thread: Some(thread) }
    }

    /// Offers a finished search to the monitor, if this one is sampled.
    pub(crate) fn sample_search(&self, query: &[f32], opts: &SearchOptions, found: Vec<u64>, strategy: &'static str) {
        let rate = self.options.recall_sample_rate;
        if rate <= 0.0 {
            return;
        }
        let every = (1.0 / rate.min(1.0)).round().max(1.0) as u64;
        if !self.recall.searches.fetch_add(1, Ordering::Relaxed).is_multiple_of(every) {
            return;
        }
        let sender = self.recall.sender.lock();
        let Some(tx) = sender.as_ref() else { return };
        let sample = Sample { query: query.to_vec(), k: opts.k, filter: opts.filter.clone(), found, strategy };
        self.recall.pending.fetch_add(1, Ordering::AcqRel);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(sample) {
            self.recall.pending.fetch_sub(1, Ordering::AcqRel);
            self.recall.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Re-runs `s` exactly and records its recall.
    fn score(&self, s: Sample) {
        let opts = SearchOptions { k: s.k, filter: s.filter, exact: true, params: SearchParams::default(), ..SearchOptions::default() };
        let exact = match self.search_unobserved(&s.query, &opts) {
            Ok((hits, _)) => hits,
            Err(e) => {
                tracing::debug!(error = %e, "recall monitor: the exact re-run failed");
                return;
            }
        };
        if exact.is_empty() {
            return;
        }
        let hit = exact.iter().filter(|h| s.found.contains(&h.record.id)).count();
        let recall = hit as f64 / exact.len() as f64;
        let mut w = self.recall.windows.lock();
        let window = w.entry(s.strategy).or_default();
        if window.len() == WINDOW {
            window.pop_front();
        }
        window.push_back(recall);
        let e = estimate(s.strategy, window);
        drop(w);
        gauge!(RECALL_ESTIMATE, self.telemetry.labels(&[("strategy", s.strategy)])).set(e.recall);
        counter!(RECALL_SAMPLES_TOTAL, self.telemetry.labels(&[("strategy", s.strategy)])).increment(1);
    }
}

fn monitor(db: Weak<Db>, rx: Receiver<Sample>) {
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(sample) => {
                let Some(db) = db.upgrade() else { return };
                db.score(sample);
                db.recall.pending.fetch_sub(1, Ordering::AcqRel);
            }
            Err(RecvTimeoutError::Timeout) if db.strong_count() > 0 => {}
            Err(_) => return,
        }
    }
}
