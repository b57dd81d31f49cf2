//! `Db::search`: fan out over segments and memtables, drop deleted rows, merge the top k.

use rayon::prelude::*;
use stratovec_indexes::{Candidate, RowFilter};

use crate::vector::prepare;
use crate::version::state::Source;
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

    /// [`Db::search`] for each of `queries` (`nq × dim` values, row-major), in parallel
    /// over the rayon pool; result `i` answers query `i`.
    ///
    /// # Errors
    /// As [`Db::search`] (the first failing query's error); `InvalidArgument` when
    /// `queries.len()` is not a multiple of the dimension.
    pub fn search_batch(&self, queries: &[f32], k: usize, params: &SearchParams) -> Result<Vec<Vec<Hit>>> {
        if !queries.len().is_multiple_of(self.dim) {
            return Err(Error::invalid(format!(
                "{} query values are not a whole number of {}-dimensional vectors",
                queries.len(),
                self.dim
            )));
        }
        crate::limits::check_search(k, params)?;
        queries.par_chunks(self.dim).map(|q| self.search(q, k, params)).collect()
    }

    /// Every live row within `max_distance` of `query` (the same distance as [`Hit`]),
    /// closest first, at most `limit` of them (`1..=`[`crate::limits::MAX_K`]).
    ///
    /// Searches with `k` = 64, then 4× more each round (ef at least `k`), until a round
    /// returns a row beyond `max_distance`, fewer rows than asked, or `limit` rows: as
    /// exact as the indexes are (exact on Flat segments; an approximate graph search may
    /// miss rows within the radius, as it may miss nearest neighbours).
    ///
    /// # Errors
    /// As [`Db::search`]; `InvalidArgument` for a NaN `max_distance` or a `limit` out of
    /// range.
    pub fn search_range(&self, query: &[f32], max_distance: f32, limit: usize, params: &SearchParams) -> Result<Vec<Hit>> {
        if max_distance.is_nan() {
            return Err(Error::invalid("max_distance is NaN"));
        }
        crate::limits::check_search(limit, params)?;
        let mut k = limit.min(64);
        loop {
            let round = SearchParams { ef_search: params.ef_search.max(k).min(crate::limits::MAX_EF_SEARCH), ..*params };
            let mut hits = self.search(query, k, &round)?;
            let done = hits.len() < k || k >= limit || hits.last().is_some_and(|h| h.distance > max_distance);
            if done {
                hits.retain(|h| h.distance <= max_distance);
                hits.truncate(limit);
                return Ok(hits);
            }
            k = k.saturating_mul(4).min(limit);
        }
    }
}
