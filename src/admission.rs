//! Admission control: what a write or a search must wait for, or is refused with
//! [`ErrorKind::ResourceExhausted`], so that a busy or failing database degrades by
//! refusing work instead of growing without bound.
//!
//! - **Memory** ([`crate::DbOptions::memory_limit_bytes`]): a write waits while the
//!   uncommitted rows (active and frozen memtables) hold more than the hard limit, for a
//!   commit to free them, up to [`crate::DbOptions::write_stall_timeout`]; then it fails.
//!   The soft limit, [`crate::DbOptions::memtable_limit_bytes`], commits automatically.
//! - **Rows** ([`crate::DbOptions::max_rows`]): a write that would take the live keys past
//!   the limit fails at once (nothing of it applied).
//! - **Searches** ([`crate::DbOptions::max_concurrent_searches`]): a search waits for a
//!   slot up to [`crate::DbOptions::search_queue_timeout`] (0: fail at once).

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::{Db, Error, ErrorKind, Result};

/// Longest single wait of a stalled writer before it looks at memory again (a commit that
/// finished between its check and its wait is seen within this).
const RECHECK: Duration = Duration::from_millis(10);

/// Counters a writer or searcher waits on.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    /// Signalled when a commit has freed memtable memory.
    freed: Condvar,
    freed_lock: Mutex<()>,
    /// Searches running now.
    searches: Mutex<usize>,
    search_done: Condvar,
}

/// A search slot, given back on drop.
pub(crate) struct SearchSlot<'a>(Option<&'a Admission>);

impl Drop for SearchSlot<'_> {
    fn drop(&mut self) {
        if let Some(a) = self.0 {
            *a.searches.lock() -= 1;
            a.search_done.notify_one();
        }
    }
}

impl Admission {
    /// A commit published: waiting writers look at memory again.
    pub(crate) fn memory_freed(&self) {
        let _g = self.freed_lock.lock();
        self.freed.notify_all();
    }
}

impl Db {
    /// Bytes of uncommitted rows: the active memtable and those being committed.
    pub(crate) fn uncommitted_bytes(&self) -> usize {
        self.state.read().uncommitted_bytes()
    }

    /// Waits while uncommitted rows are over the hard memory limit.
    ///
    /// # Errors
    /// `ResourceExhausted` after [`crate::DbOptions::write_stall_timeout`].
    pub(crate) fn wait_for_memory(&self) -> Result<()> {
        let Some(limit) = self.options.memory_limit_bytes else { return Ok(()) };
        let mut used = self.uncommitted_bytes();
        if used <= limit {
            return Ok(());
        }
        let started = Instant::now();
        tracing::debug!(db = self.name(), used, limit, "write stalled: uncommitted rows over the memory limit");
        let mut guard = self.admission.freed_lock.lock();
        while used > limit {
            let waited = started.elapsed();
            if waited >= self.options.write_stall_timeout {
                drop(guard);
                let e = Error::new(
                    ErrorKind::ResourceExhausted,
                    format!(
                        "uncommitted rows hold {used} bytes, over the memory limit of {limit} (DbOptions::memory_limit_bytes), after waiting {} ms for a commit: commit, or retry later",
                        waited.as_millis()
                    ),
                );
                tracing::warn!(db = self.name(), used, limit, "write refused: memory limit");
                return Err(e);
            }
            self.admission.freed.wait_for(&mut guard, RECHECK.min(self.options.write_stall_timeout - waited));
            used = self.uncommitted_bytes();
        }
        Ok(())
    }

    /// Refuses a write that would take the live keys past [`crate::DbOptions::max_rows`];
    /// `live` keys now, `new_keys` not live yet among the write's keys.
    pub(crate) fn check_rows(&self, live: usize, new_keys: usize) -> Result<()> {
        match self.options.max_rows {
            Some(max) if (live + new_keys) as u64 > max => Err(Error::new(
                ErrorKind::ResourceExhausted,
                format!("{live} live rows + {new_keys} new would exceed the limit of {max} (DbOptions::max_rows)"),
            )),
            _ => Ok(()),
        }
    }

    /// A search slot under [`crate::DbOptions::max_concurrent_searches`].
    ///
    /// # Errors
    /// `ResourceExhausted` when no slot frees within
    /// [`crate::DbOptions::search_queue_timeout`].
    pub(crate) fn search_slot(&self) -> Result<SearchSlot<'_>> {
        let Some(max) = self.options.max_concurrent_searches else { return Ok(SearchSlot(None)) };
        let a = &self.admission;
        let deadline = Instant::now() + self.options.search_queue_timeout;
        let mut running = a.searches.lock();
        while *running >= max {
            if a.search_done.wait_until(&mut running, deadline).timed_out() && *running >= max {
                return Err(Error::new(
                    ErrorKind::ResourceExhausted,
                    format!("{max} searches are running (DbOptions::max_concurrent_searches); retry later"),
                ));
            }
        }
        *running += 1;
        Ok(SearchSlot(Some(a)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use crate::{Db, DbOptions, ErrorKind, MemoryStore, Metric, SearchParams};

    #[test]
    fn searches_past_the_limit_fail_at_once_with_no_wait() {
        let options =
            DbOptions { max_concurrent_searches: Some(1), search_queue_timeout: std::time::Duration::ZERO, ..DbOptions::default() };
        let db = pollster::block_on(Db::create(Arc::new(MemoryStore::new()), 2, Metric::L2, options)).unwrap();
        db.insert(1, &[1.0, 0.0]).unwrap();
        let held = db.search_slot().unwrap();
        let e = db.search(&[1.0, 0.0], 1, &SearchParams::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ResourceExhausted, "{e}");
        drop(held);
        assert_eq!(db.search(&[1.0, 0.0], 1, &SearchParams::default()).unwrap()[0].id, 1);
        assert_eq!(*db.admission.searches.lock(), 0, "every slot given back");
    }
}
