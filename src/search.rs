//! `Db::search`: fan out over segments and memtables, drop deleted rows, merge the top k.

use rayon::prelude::*;
use stratovec_indexes::{Candidate, RowFilter};

use crate::state::Source;
use crate::vector::prepare;
use crate::{Db, Error, Result, SearchParams};

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The user key.
    pub id: u64,
    /// Distance to the query, smaller is closer: squared L2 for `L2`, `1 - dot` for
    /// `InnerProduct`, `1 - cosine` for `Cosine`.
    pub distance: f32,
}

impl Db {
    /// The `k` live vectors closest to `query` (`dim` values), closest first.
    ///
    /// Searches the memtable under the state lock, then every committed segment and any
    /// commit in progress from a snapshot taken at the same instant, without the lock (in
    /// parallel on the rayon pool when there are several), skipping deleted rows. Writers
    /// wait only for the memtable part; the memtable's graph links new rows while searches
    /// run.
    ///
    /// # Errors
    /// `InvalidArgument` for `k == 0`, a wrong dimension, NaN/Inf, or a zero query with cosine.
    pub fn search(&self, query: &[f32], k: usize, params: &SearchParams) -> Result<Vec<Hit>> {
        crate::limits::check_search(k, params)?;
        let q = prepare(query, self.dim, self.metric, "query")?;
        self.load_cold_indexes()?;
        let search_one = |src: &Source<'_>| -> Result<Vec<Hit>> {
            let dead = src.dead.map(|d| move |row: u32| !d.contains(row));
            let filter = dead.as_ref().map(|f| f as &dyn RowFilter);
            let found = src.index.search(&q, k, params, filter).map_err(|e| Error::index("search", e))?;
            Ok(found.into_iter().map(|c: Candidate| Hit { id: src.ids[c.row as usize], distance: c.distance }).collect())
        };
        let (snapshot, mut hits) = {
            let s = self.state.read();
            let memtable = s.memtable_source();
            let hits = if memtable.index.rows() > 0 { search_one(&memtable)? } else { Vec::new() };
            (s.snapshot(), hits)
        };
        let sources: Vec<Source<'_>> = snapshot.sources().into_iter().filter(|src| src.index.rows() > 0).collect();
        if sources.len() == 1 {
            hits.extend(search_one(&sources[0])?);
        } else {
            let parts: Vec<Vec<Hit>> = sources.par_iter().map(search_one).collect::<Result<_>>()?;
            hits.extend(parts.into_iter().flatten());
        }
        hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
        hits.truncate(k);
        Ok(hits)
    }
}
