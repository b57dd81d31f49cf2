//! Background compaction: a thread that runs [`Db::compact`] after each commit.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::signal::{CompactionReport, Signal};
use crate::{Db, Error};

/// How often an idle compactor checks whether its database was dropped.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// A background compactor thread, from [`Db::spawn_compactor`]. It runs the database's
/// policy after every commit; dropping the handle (or [`Compactor::stop`]) stops the thread
/// after the merge in progress, and the thread also ends when the database is dropped.
///
/// The thread drives the store's futures with a minimal executor (`pollster`), which suits
/// stores whose futures need no runtime (local disk, memory). For a store that needs an
/// async runtime, call [`Db::compact`] from a task of that runtime instead.
#[derive(Debug)]
pub struct Compactor {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

/// What a [`Compactor`] has done so far.
#[derive(Debug, Clone, Default)]
pub struct CompactorStats {
    /// Compaction runs finished (each merges until the policy picks nothing).
    pub runs: u64,
    /// Sum of the reports of all runs.
    pub totals: CompactionReport,
    /// The error of the last run, if it failed (the next commit triggers a retry).
    pub last_error: Option<Error>,
}

impl Db {
    /// Starts a thread that compacts this database after every commit (and once at start).
    pub fn spawn_compactor(self: &Arc<Self>) -> Compactor {
        let signal = self.compaction_signal.clone();
        {
            let mut c = signal.counters.lock();
            c.stop = false;
            c.requested += 1;
        }
        let db = Arc::downgrade(self);
        let thread_signal = signal.clone();
        let thread = std::thread::Builder::new()
            .name("stratovec-compactor".into())
            .spawn(move || run(db, thread_signal))
            .expect("spawning the compactor thread");
        Compactor { signal, thread: Some(thread) }
    }
}

fn run(db: Weak<Db>, signal: Arc<Signal>) {
    loop {
        let target = {
            let mut c = signal.counters.lock();
            while !c.stop && c.done >= c.requested {
                if signal.changed.wait_for(&mut c, IDLE_CHECK).timed_out() && db.strong_count() == 0 {
                    return;
                }
            }
            if c.stop {
                return;
            }
            c.requested
        };
        let Some(db) = db.upgrade() else { return };
        let result = pollster::block_on(db.compact());
        drop(db);
        let mut c = signal.counters.lock();
        c.done = target;
        c.runs += 1;
        match result {
            Ok(r) => {
                c.last_error = None;
                add(&mut c.totals, r);
            }
            Err(e) => {
                tracing::warn!(kind = e.kind().name(), error = %e, "background compaction failed (retried after the next commit)");
                c.last_error = Some(e)
            }
        }
        signal.changed.notify_all();
    }
}

fn add(total: &mut CompactionReport, r: CompactionReport) {
    total.merges += r.merges;
    total.segments_in += r.segments_in;
    total.rows_in += r.rows_in;
    total.rows_out += r.rows_out;
    total.bytes_in += r.bytes_in;
    total.bytes_out += r.bytes_out;
    total.outputs.extend(r.outputs);
    total.conflicts_retried += r.conflicts_retried;
    total.files_deleted += r.files_deleted;
    total.seconds += r.seconds;
}

impl Compactor {
    /// Blocks until every commit signalled so far has been followed by a finished run.
    pub fn wait_idle(&self) {
        let mut c = self.signal.counters.lock();
        let target = c.requested;
        while c.done < target && !c.stop && self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            self.signal.changed.wait_for(&mut c, IDLE_CHECK);
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> CompactorStats {
        let c = self.signal.counters.lock();
        CompactorStats { runs: c.runs, totals: c.totals.clone(), last_error: c.last_error.clone() }
    }

    /// Stops the thread after the merge in progress and returns the final counters.
    pub fn stop(mut self) -> CompactorStats {
        self.halt();
        self.stats()
    }

    fn halt(&mut self) {
        self.signal.counters.lock().stop = true;
        self.signal.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.halt();
    }
}
