//! `Db::search` and its batch and range forms, over the one search implementation,
//! [`Db::search_with`].

use rayon::prelude::*;

use crate::{Db, Error, Result, SearchOptions, SearchParams};

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
    /// The `k` live vectors closest to `query` (`dim` values), closest first: a
    /// convenience over [`Db::search_with`] (the one search implementation) without a
    /// filter, returning keys and distances only.
    ///
    /// The memtable is searched under the state lock, then every committed segment and any
    /// commit in progress from a snapshot taken at the same instant, without the lock (in
    /// parallel on the rayon pool when there are several), skipping deleted rows. Writers
    /// wait only for the memtable part; the memtable's graph links new rows while searches
    /// run.
    ///
    /// # Errors
    /// `InvalidArgument` for `k` or `params` outside [`crate::limits`], a wrong dimension,
    /// NaN/Inf, or a zero query with cosine.
    pub fn search(&self, query: &[f32], k: usize, params: &SearchParams) -> Result<Vec<Hit>> {
        let opts = SearchOptions { k, params: *params, ..SearchOptions::default() };
        let (hits, _) = self.search_with(query, &opts)?;
        Ok(hits.into_iter().map(|h| Hit { id: h.record.id, distance: h.distance }).collect())
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
