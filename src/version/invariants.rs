//! The invariants of a writer's in-memory state, checked in debug builds and with the
//! feature `test-util` (so the test suites check them): after every commit and compaction,
//! where a broken one panics and so poisons the writer (as SlateDB checks its state before
//! each publish), and at open, where a broken one is `Corrupt` (the store's files disagree,
//! e.g. a crafted object).

use crate::version::state::{Loc, State};

impl State {
    /// Checks that:
    /// - the segments are the manifest's, in order, each with the manifest's row count;
    /// - segment and frozen ids are distinct and below `next_segment_id` (which is not
    ///   below the manifest's);
    /// - tombstones name existing segments or frozen memtables and rows inside them;
    /// - every PK entry points at a live row that holds its key, and every live row is
    ///   some key's PK entry (counts agree).
    ///
    /// # Errors
    /// A description of the first broken invariant.
    #[cfg_attr(not(any(debug_assertions, feature = "test-util")), allow(dead_code))]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let ids: Vec<u64> = self.segments.iter().map(|s| s.meta.id).collect();
        let listed: Vec<u64> = self.manifest.segments.iter().map(|s| s.id).collect();
        if ids != listed {
            return Err(format!("segments {ids:?}, manifest lists {listed:?}"));
        }
        if let Some((s, m)) = self.segments.iter().zip(&self.manifest.segments).find(|(s, m)| s.ids.as_slice().len() as u64 != m.rows) {
            return Err(format!("segment {} has {} rows, the manifest says {}", s.meta.id, s.ids.as_slice().len(), m.rows));
        }
        let mut all: Vec<u64> = ids.iter().copied().chain(self.frozen.iter().map(|f| f.segment_id)).collect();
        if self.manifest.next_segment_id > self.next_segment_id {
            return Err(format!("next segment id {} is below the manifest's {}", self.next_segment_id, self.manifest.next_segment_id));
        }
        if let Some(id) = all.iter().find(|id| **id >= self.next_segment_id) {
            return Err(format!("segment id {id} is not below the next segment id {}", self.next_segment_id));
        }
        all.sort_unstable();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return Err(format!("a segment id appears twice: {all:?}"));
        }
        let rows_of = |id: u64| self.keys_of(id).map(<[u64]>::len);
        let mut dead = 0u64;
        for (id, rows) in &self.tombstones {
            let n = rows_of(*id).ok_or_else(|| format!("tombstones of segment {id}, which is not open"))?;
            if rows.max().is_some_and(|r| r as usize >= n) {
                return Err(format!("a tombstone of segment {id} is past its {n} rows"));
            }
            dead += rows.len();
        }
        if let Some(t) = self.pending_tombstones.iter().find(|t| rows_of(t.segment_id).is_none_or(|n| t.row as usize >= n)) {
            return Err(format!("pending tombstone {t:?} names no row"));
        }
        for (key, loc) in &self.pk {
            let (holder_ids, deleted, row): (&[u64], bool, u32) = match *loc {
                Loc::Memtable(row) => (&self.memtable.ids[..self.memtable.rows()], self.memtable.deleted.contains(row), row),
                Loc::Segment { id, row } => {
                    let ids = self.keys_of(id).ok_or_else(|| format!("key {key} points at segment {id}, which is not open"))?;
                    (ids, self.tombstones.get(&id).is_some_and(|d| d.contains(row)), row)
                }
            };
            if holder_ids.get(row as usize) != Some(key) || deleted {
                return Err(format!("key {key} points at {loc:?}, which holds {:?} (deleted: {deleted})", holder_ids.get(row as usize)));
            }
        }
        let rows: u64 = self.segments.iter().map(|s| s.ids.as_slice().len() as u64).sum::<u64>()
            + self.frozen.iter().map(|f| f.memtable.rows() as u64).sum::<u64>();
        let live = rows - dead + self.memtable.rows() as u64 - self.memtable.deleted.len();
        if live != self.pk.len() as u64 {
            return Err(format!("{live} live rows but {} keys", self.pk.len()));
        }
        Ok(())
    }

    /// `Corrupt` if an invariant is broken in a state just opened from the store (its files
    /// disagree, e.g. a crafted manifest); only in debug builds and with `test-util`.
    pub(crate) fn check_opened(&self) -> crate::Result<()> {
        #[cfg(any(debug_assertions, feature = "test-util"))]
        if let Err(e) = self.check_invariants() {
            return Err(crate::Error::new(
                crate::ErrorKind::Corrupt,
                format!("the files of version {} disagree: {e}", self.manifest.version),
            ));
        }
        Ok(())
    }

    /// Panics (poisoning the writer) if an invariant is broken after `what`; only in debug
    /// builds and with the feature `test-util`.
    pub(crate) fn assert_invariants(&self, what: &str) {
        #[cfg(any(debug_assertions, feature = "test-util"))]
        if let Err(e) = self.check_invariants() {
            panic!("state invariant broken after {what}: {e}");
        }
        let _ = what;
    }
}
