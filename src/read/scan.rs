//! `Db::scan`: every live record matching a filter, in batches, over one snapshot.

use roaring::RoaringBitmap;

use crate::filter::Filter;
use crate::record::{Include, RecordView};
use crate::version::rows::record;
use crate::version::state::{check_fields, live_matches, without_dead};
use crate::version::state::{Holder, Source};
use crate::{Db, Result};

/// The matching rows of one immutable source, read lazily.
struct Part {
    holder: Holder,
    rows: Vec<u32>,
}

/// An iterator over batches of the records a [`Db::scan`] matched (each batch at most
/// `batch_size` records; the last may be shorter). It reads the snapshot taken when the
/// scan started: writes, commits and compactions after that do not change what it
/// returns. Rows of committed segments are read batch by batch (the segments stay open
/// while the scan lives); matching rows of the active memtable are copied at the start.
pub struct Scan {
    parts: Vec<Part>,
    copied: std::vec::IntoIter<RecordView>,
    part: usize,
    at: usize,
    include: Include,
    batch_size: usize,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan").field("remaining", &self.remaining()).field("batch_size", &self.batch_size).finish()
    }
}

impl Scan {
    /// Records not yet returned.
    pub fn remaining(&self) -> usize {
        let later: usize = self.parts.iter().skip(self.part).map(|p| p.rows.len()).sum();
        later - self.at.min(later) + self.copied.len()
    }
}

impl Iterator for Scan {
    /// A batch of records, or the error that ended the scan (a record that could not be
    /// read: `Corrupt` or `Unavailable`); no batch follows an error.
    type Item = Result<Vec<RecordView>>;

    fn next(&mut self) -> Option<Result<Vec<RecordView>>> {
        let mut out = Vec::with_capacity(self.batch_size.min(self.remaining()));
        while out.len() < self.batch_size {
            let Some(part) = self.parts.get(self.part) else {
                out.extend(self.copied.by_ref().take(self.batch_size - out.len()));
                break;
            };
            let (index, rows, ids) = part.holder.parts();
            let end = (self.at + self.batch_size - out.len()).min(part.rows.len());
            for &row in &part.rows[self.at..end] {
                match record(index, rows, ids[row as usize], row, self.include) {
                    Ok(r) => out.push(r),
                    Err(e) => {
                        self.part = self.parts.len();
                        self.copied = Vec::new().into_iter();
                        return Some(Err(e));
                    }
                }
            }
            self.at = end;
            if self.at == part.rows.len() {
                self.part += 1;
                self.at = 0;
            }
        }
        (!out.is_empty()).then_some(Ok(out))
    }
}

/// Live rows of `src` matching `filter` (all live rows without one), ascending.
fn matching(src: &Source<'_>, filter: Option<&Filter>) -> Vec<u32> {
    let all = || {
        let mut b = RoaringBitmap::new();
        b.insert_range(0..src.ids.len() as u32);
        b
    };
    let rows = filter.map_or_else(|| without_dead(all(), src), |f| live_matches(src, f));
    rows.into_iter().collect()
}

impl Db {
    /// Every live record matching `filter` (all of them for `None`), in batches of
    /// `batch_size`, with the parts `include` asks for. Records come source by source
    /// (oldest segment first, the memtable last), in row order within each. Each batch is a
    /// `Result`: a record that cannot be read ends the scan with `Corrupt` or `Unavailable`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use stratovec::{Db, DbOptions, Filter, Include, MemoryStore, Metric, Record};
    /// # pollster::block_on(async {
    /// let db = Db::create(Arc::new(MemoryStore::new()), 2, Metric::L2, DbOptions::default()).await?;
    /// for id in 0..10u64 {
    ///     db.insert_record(Record::new(id, [id as f32, 1.0]).with("even", id % 2 == 0))?;
    /// }
    /// let batches: Vec<Vec<_>> = db.scan(Some(&Filter::eq("even", true)), 2, Include::METADATA)?.collect::<Result<_, _>>()?;
    /// assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    /// # Ok::<(), stratovec::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// `InvalidArgument` for `batch_size` outside `1..=`[`crate::limits::MAX_SCAN_BATCH`]
    /// or a filter naming a field no record has.
    pub fn scan(&self, filter: Option<&Filter>, batch_size: usize, include: Include) -> Result<Scan> {
        self.observed(crate::metrics::Operation::Scan, || {
            crate::limits::check_scan_batch(batch_size)?;
            self.load_cold_indexes()?;
            let s = self.state.read();
            let sources = s.sources();
            if let Some(f) = filter {
                check_fields(f, &sources)?;
            }
            let holders = s.segments.iter().map(|x| Holder::Segment(x.clone())).chain(s.frozen.iter().map(|f| Holder::Frozen(f.clone())));
            let parts: Vec<Part> = holders
                .zip(&sources)
                .map(|(holder, src)| Part { holder, rows: matching(src, filter) })
                .filter(|p| !p.rows.is_empty())
                .collect();
            let m = &s.memtable;
            let memtable = sources.last().expect("the memtable is always a source");
            let copied: Vec<RecordView> = matching(memtable, filter)
                .into_iter()
                .map(|row| record(&m.graph, &m.columns, m.ids[row as usize], row, include))
                .collect::<Result<_>>()?;
            Ok(Scan { parts, copied: copied.into_iter(), part: 0, at: 0, include, batch_size })
        })
    }
}
