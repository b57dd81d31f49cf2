//! The in-memory state of an open database: the current version's segments, the memtable,
//! memtables frozen by a commit in progress, tombstones and the primary-key index.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use roaring::RoaringBitmap;
use stratovec_formats::manifest::Manifest;
use stratovec_formats::tombstones::Tombstone;
use stratovec_indexes::Index;

use crate::filter::Filter;
use crate::version::rows::Rows;
use crate::version::segment::Segment;
use crate::write::memtable::Memtable;
use crate::{Error, Result};

/// Where a live key's row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loc {
    /// Row of the active memtable.
    Memtable(u32),
    /// Row of a segment (committed, or frozen by a commit in progress).
    Segment { id: u64, row: u32 },
}

/// A memtable frozen by `commit()`: it has its segment id and is searchable until the
/// segment is published (or forever, if the commit fails, until a later commit succeeds).
#[derive(Debug)]
pub(crate) struct Frozen {
    pub segment_id: u64,
    pub memtable: Memtable,
}

/// Something search can scan: an index, the key of each row, and its deleted rows.
pub(crate) struct Source<'a> {
    pub index: &'a dyn Index,
    pub ids: &'a [u64],
    pub dead: Option<&'a RoaringBitmap>,
    pub rows: &'a dyn Rows,
    /// The segment id, or `None` for the active memtable.
    pub segment: Option<u64>,
    /// Field statistics from the manifest (committed segments written by format 2).
    pub stats: Option<&'a [stratovec_formats::manifest::FieldStats]>,
    /// The reader of the index's on-demand sections (DiskANN nodes), for its read cost.
    pub reads: Option<&'a dyn stratovec_backends::RandomAccess>,
}

impl<'a> Source<'a> {
    /// A committed segment, with its deleted rows (`None` when it has none).
    pub fn of_segment(s: &'a Segment, dead: Option<&'a RoaringBitmap>) -> Self {
        Source {
            index: s.index.as_ref(),
            ids: s.ids.as_slice(),
            dead,
            rows: &s.rows,
            segment: Some(s.meta.id),
            stats: s.meta.fields.as_deref(),
            reads: s.reads.as_deref(),
        }
    }

    /// A memtable being committed, with its deleted rows.
    pub fn of_frozen(f: &'a Frozen, dead: Option<&'a RoaringBitmap>) -> Self {
        Source {
            index: &f.memtable.graph,
            ids: &f.memtable.ids,
            dead,
            rows: &f.memtable.columns,
            segment: Some(f.segment_id),
            stats: None,
            reads: None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct State {
    pub version: u64,
    pub manifest: Manifest,
    pub next_segment_id: u64,
    pub memtable: Memtable,
    pub frozen: Vec<Arc<Frozen>>,
    pub segments: Vec<Arc<Segment>>,
    pub tombstones: HashMap<u64, Arc<RoaringBitmap>>,
    pub pending_tombstones: Vec<Tombstone>,
    pub pk: HashMap<u64, Loc>,
    /// Files the current version no longer references, waiting to be deleted.
    pub retired: Vec<Retired>,
}

/// A file the current version no longer references.
#[derive(Debug)]
pub(crate) struct Retired {
    /// Object name.
    pub file: String,
    /// Newest version that references it.
    pub last_version: u64,
    /// The open segment, for segment files: deleted only when nothing else holds it.
    pub segment: Option<Arc<Segment>>,
}

impl Source<'_> {
    /// Whether the manifest's field statistics prove that no row of this source matches
    /// `f` (never true for sources without statistics).
    pub fn excluded_by_stats(&self, f: &crate::filter::Filter) -> bool {
        self.stats.is_some_and(|stats| !crate::filter::may_match(f, stats))
    }
}

/// An immutable source held open: a committed segment or a frozen memtable.
pub(crate) enum Holder {
    Segment(Arc<Segment>),
    Frozen(Arc<Frozen>),
}

impl Holder {
    /// Its index, metadata/payload columns and keys.
    pub fn parts(&self) -> (&dyn Index, &dyn Rows, &[u64]) {
        match self {
            Holder::Segment(s) => (s.index.as_ref(), &s.rows, s.ids.as_slice()),
            Holder::Frozen(f) => (&f.memtable.graph, &f.memtable.columns, &f.memtable.ids),
        }
    }
}

/// The immutable sources of a state at one instant (committed segments and frozen
/// memtables, with their deleted rows), held by `Arc`: a search reads them after releasing
/// the state lock, so slow reads (DiskANN nodes from object storage) never block writers.
/// Later deletes copy a tombstone bitmap rather than change this one.
pub(crate) struct Snapshot {
    segments: Vec<(Arc<Segment>, Option<Arc<RoaringBitmap>>)>,
    frozen: Vec<(Arc<Frozen>, Option<Arc<RoaringBitmap>>)>,
}

impl Snapshot {
    /// Its sources: segments (oldest first), then frozen memtables.
    pub fn sources(&self) -> Vec<Source<'_>> {
        let mut out: Vec<Source<'_>> = self.segments.iter().map(|(s, d)| Source::of_segment(s, live_or_dead(d))).collect();
        out.extend(self.frozen.iter().map(|(f, d)| Source::of_frozen(f, live_or_dead(d))));
        out
    }
}

/// The deleted rows of a source, `None` when it has none.
fn live_or_dead(d: &Option<Arc<RoaringBitmap>>) -> Option<&RoaringBitmap> {
    d.as_deref().filter(|b| !b.is_empty())
}

impl State {
    /// Uncommitted changes: rows in the active memtable and those being committed, plus
    /// deletes not yet committed.
    pub fn uncommitted_changes(&self) -> usize {
        self.memtable.rows() + self.frozen.iter().map(|f| f.memtable.rows()).sum::<usize>() + self.pending_tombstones.len()
    }

    /// Bytes of the active memtable and of those being committed.
    pub fn uncommitted_bytes(&self) -> usize {
        self.memtable.memory_bytes() + self.frozen.iter().map(|f| f.memtable.memory_bytes()).sum::<usize>()
    }

    /// Every searchable source: segments (oldest first), frozen memtables, the memtable.
    pub fn sources(&self) -> Vec<Source<'_>> {
        let dead = |id: u64| self.tombstones.get(&id).map(|b| b.as_ref()).filter(|b| !b.is_empty());
        let mut out: Vec<Source<'_>> = self.segments.iter().map(|s| Source::of_segment(s, dead(s.meta.id))).collect();
        out.extend(self.frozen.iter().map(|f| Source::of_frozen(f, dead(f.segment_id))));
        out.push(self.memtable_source());
        out
    }

    /// The active memtable as a source (read it under the state lock only).
    pub fn memtable_source(&self) -> Source<'_> {
        let m = &self.memtable;
        let dead = Some(&m.deleted).filter(|b| !b.is_empty());
        Source { index: &m.graph, ids: &m.ids, dead, rows: &m.columns, segment: None, stats: None, reads: None }
    }

    /// The immutable sources, to search after the lock is released.
    pub fn snapshot(&self) -> Snapshot {
        let dead = |id: u64| self.tombstones.get(&id).cloned();
        Snapshot {
            segments: self.segments.iter().map(|s| (s.clone(), dead(s.meta.id))).collect(),
            frozen: self.frozen.iter().map(|f| (f.clone(), dead(f.segment_id))).collect(),
        }
    }

    /// Where `loc` is, to read its record after the lock is released: `None` for the
    /// active memtable (read it under the lock) or a segment no longer held.
    pub fn holder(&self, loc: Loc) -> Option<Holder> {
        let Loc::Segment { id, .. } = loc else { return None };
        self.segments
            .iter()
            .find(|s| s.meta.id == id)
            .map(|s| Holder::Segment(s.clone()))
            .or_else(|| self.frozen.iter().find(|f| f.segment_id == id).map(|f| Holder::Frozen(f.clone())))
    }

    /// The user key of each row of segment `id`: a committed segment or a memtable being
    /// committed; `None` if neither is open.
    pub fn keys_of(&self, id: u64) -> Option<&[u64]> {
        let committed = self.segments.iter().find(|s| s.meta.id == id).map(|s| s.ids.as_slice());
        committed.or_else(|| self.frozen.iter().find(|f| f.segment_id == id).map(|f| &f.memtable.ids[..]))
    }

    /// A new id, unique within the database, for a segment or tombstone file.
    pub fn reserve_id(&mut self) -> u64 {
        let id = self.next_segment_id;
        self.next_segment_id += 1;
        id
    }

    /// What a compaction policy sees of the committed segments, oldest first.
    pub fn segment_infos(&self) -> Vec<crate::SegmentInfo> {
        self.segments
            .iter()
            .map(|s| {
                let dead = self.tombstones.get(&s.meta.id).map_or(0, |d| d.len());
                crate::SegmentInfo {
                    id: s.meta.id,
                    kind: s.meta.kind,
                    rows: s.meta.rows,
                    live_rows: s.meta.rows.saturating_sub(dead),
                    bytes: s.meta.bytes,
                }
            })
            .collect()
    }

    /// Marks the row at `loc` deleted.
    pub fn kill(&mut self, loc: Loc) {
        match loc {
            Loc::Memtable(row) => {
                self.memtable.deleted.insert(row);
            }
            Loc::Segment { id, row } => {
                Arc::make_mut(self.tombstones.entry(id).or_default()).insert(row);
                self.pending_tombstones.push(Tombstone { segment_id: id, row });
            }
        }
    }

    /// Freezes the memtable (if it has rows) under a new segment id, replacing it with
    /// `fresh`; moves its keys in the PK index and its deleted rows to tombstones.
    pub fn freeze(&mut self, fresh: Memtable) {
        if self.memtable.rows() == 0 {
            return;
        }
        let id = self.reserve_id();
        let memtable = std::mem::replace(&mut self.memtable, fresh);
        for (row, key) in memtable.ids.iter().enumerate() {
            if let Some(loc) = self.pk.get_mut(key) {
                if *loc == Loc::Memtable(row as u32) {
                    *loc = Loc::Segment { id, row: row as u32 };
                }
            }
        }
        for row in memtable.deleted.iter() {
            Arc::make_mut(self.tombstones.entry(id).or_default()).insert(row);
            self.pending_tombstones.push(Tombstone { segment_id: id, row });
        }
        self.frozen.push(Arc::new(Frozen { segment_id: id, memtable }));
    }
}

/// Rows of `src` matching `f` that are not deleted.
pub(crate) fn live_matches(src: &Source<'_>, f: &Filter) -> RoaringBitmap {
    if src.excluded_by_stats(f) {
        return RoaringBitmap::new();
    }
    without_dead(src.rows.field_index().eval(f), src)
}

/// `rows` minus the deleted rows of `src`.
pub(crate) fn without_dead(mut rows: RoaringBitmap, src: &Source<'_>) -> RoaringBitmap {
    if let Some(d) = src.dead {
        rows -= d;
    }
    rows
}

/// `InvalidArgument` if `f` names a field that no source has.
pub(crate) fn check_fields(f: &Filter, sources: &[Source<'_>]) -> Result<()> {
    f.check_limits().map_err(Error::invalid)?;
    let mut known: BTreeSet<&str> = BTreeSet::new();
    for src in sources {
        match src.stats {
            Some(stats) => known.extend(stats.iter().map(|s| s.name.as_str())),
            None => known.extend(src.rows.field_index().field_names()),
        }
    }
    match f.fields().into_iter().find(|name| !known.contains(name)) {
        Some(name) => Err(Error::invalid(format!("unknown field {name:?} in the filter (no record has it)"))),
        None => Ok(()),
    }
}
