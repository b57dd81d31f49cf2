//! What compaction reports, and the signal that wakes the background compactor after a
//! commit. Kept apart from the compaction code so that the database type can hold the
//! signal without depending on how compaction works.

use parking_lot::{Condvar, Mutex};
use stratovec_formats::manifest::SegmentMeta;

use crate::Error;

/// What one call of [`crate::Db::compact`] did. Byte counts are file sizes in bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactionReport {
    /// Merges run (each writes one segment and publishes one version).
    pub merges: usize,
    /// Input segments merged away.
    pub segments_in: usize,
    /// Rows read from the inputs, including deleted ones.
    pub rows_in: u64,
    /// Live rows written.
    pub rows_out: u64,
    /// Bytes of the input segment files.
    pub bytes_in: u64,
    /// Bytes written: output segments and consolidated tombstone files.
    pub bytes_out: u64,
    /// The segments written, in order.
    pub outputs: Vec<SegmentMeta>,
    /// Publishes retried after another writer published first.
    pub conflicts_retried: usize,
    /// Unreferenced files deleted afterwards.
    pub files_deleted: usize,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl CompactionReport {
    /// Rows written per second of wall time.
    pub fn rows_per_second(&self) -> f64 {
        self.rows_out as f64 / self.seconds.max(1e-9)
    }
}

/// Counters shared by a database's commits and its compactor thread.
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Commits signalled so far.
    pub(super) requested: u64,
    /// `requested` as of the start of the last finished compaction run.
    pub(super) done: u64,
    pub(super) stop: bool,
    pub(super) totals: CompactionReport,
    pub(super) runs: u64,
    pub(super) last_error: Option<Error>,
}

/// Wakes the compactor when a commit publishes a version.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    pub(super) counters: Mutex<Counters>,
    pub(super) changed: Condvar,
}

impl Signal {
    /// A commit published: compaction may have work.
    pub(crate) fn notify(&self) {
        self.counters.lock().requested += 1;
        self.changed.notify_all();
    }

    /// Asks the background compactor to end after the run in progress.
    pub(crate) fn stop(&self) {
        self.counters.lock().stop = true;
        self.changed.notify_all();
    }
}
