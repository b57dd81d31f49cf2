//! [`Db::close`]: a graceful shutdown (stop writes, commit, stop background work), and the
//! warning when a `Db` is dropped with rows that were never committed.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::{Db, Durability, Result};

/// What [`Db::close`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CloseReport {
    /// Version after the final commit (the current one when there was nothing to commit
    /// or the handle is read-only).
    pub version: u64,
    /// Rows and deletions the final commit published.
    pub committed: usize,
    /// Duration of the close, s.
    pub seconds: f64,
}

impl Db {
    /// Shuts this handle down gracefully, for a SIGTERM handler or the end of a program:
    /// 1. writes, commits and compactions started after this call fail with
    ///    [`crate::ErrorKind::Closed`]; writes in flight finish first (they hold the state
    ///    lock the commit takes next);
    /// 2. a writer commits what the memtable holds, so nothing acknowledged stays only in
    ///    memory (or only in the write-ahead log);
    /// 3. the background compactor is told to stop, and a compaction in progress is waited
    ///    for (its result published or abandoned, never half-applied).
    ///
    /// Searches and reads keep working on the closed handle. The store's writer lock
    /// (a `LocalStore`'s directory lock) is released when the last `Arc` of the store
    /// drops. Calling `close` again returns the current version with nothing committed.
    ///
    /// # Errors
    /// The final commit's error (`Unavailable` from the store, `Fenced`, `Poisoned`): the
    /// handle is then open again as before the call (rows still in memory, and in the
    /// log with [`Durability::Wal`]), so the caller can retry `close`.
    pub async fn close(&self) -> Result<CloseReport> {
        let started = Instant::now();
        let first = !self.closed.swap(true, Ordering::AcqRel);
        let pending = self.uncommitted();
        let version = if self.read_only || !first || self.poisoned.lock().is_some() {
            self.state.read().version
        } else {
            match self.commit_from(true).await {
                Ok(v) => v,
                Err(e) => {
                    // Open again, as before the call, so the caller can retry.
                    self.closed.store(false, Ordering::Release);
                    return Err(e);
                }
            }
        };
        self.compaction_signal.stop();
        drop(self.compaction_lock.lock().await);
        let report = CloseReport { version, committed: pending - self.uncommitted(), seconds: started.elapsed().as_secs_f64() };
        tracing::info!(db = self.name(), version, committed = report.committed, ms = report.seconds * 1e3, "closed");
        Ok(report)
    }

    /// Rows and deletions held in memory, not yet in a segment.
    fn uncommitted(&self) -> usize {
        self.state.read().uncommitted_changes()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if self.read_only {
            return;
        }
        let pending = self.uncommitted();
        if pending == 0 {
            return;
        }
        if matches!(self.options.durability, Durability::Wal(_)) {
            tracing::debug!(db = self.name(), rows = pending, "dropped with uncommitted rows (kept in the write-ahead log)");
        } else {
            tracing::warn!(db = self.name(), rows = pending, "dropped with uncommitted rows: they are lost (call commit or close first)");
        }
    }
}
