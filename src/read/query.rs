//! Reads with metadata: `get_record`, filtered `search_with` (with a per-source planner and
//! an explain report), `count` and `delete_by_filter`.

use rayon::prelude::*;
use stratovec_indexes::{Candidate, RowFilter, Scorer, TopK};

use crate::filter::Filter;
use crate::record::{Include, RecordView};
use crate::vector::prepare;
use crate::version::rows::record;
use crate::version::state::{check_fields, live_matches, without_dead};
use crate::version::state::{Loc, Source};
use crate::{Db, Error, Result, SearchParams};

/// Options of [`Db::search_with`].
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Results wanted (1..=100,000). Default 10.
    pub k: usize,
    /// Index parameters (`ef_search`, `rerank_factor`, `beam_width`).
    pub params: SearchParams,
    /// Only rows matching this filter. Default none.
    pub filter: Option<Filter>,
    /// What each hit carries besides key and distance. Default nothing.
    pub include: Include,
    /// The planner, for a source (segment or memtable) and a filter whose matches it
    /// estimates (exactly for single predicates, the smaller side of an `AND`): scan the
    /// matching rows exactly (brute force), or search the index accepting only matching
    /// rows during traversal. `None` (the default): whichever the cost model
    /// ([`crate::DbOptions::cost_model`]) prices lower, for sources whose vectors are in
    /// memory, and brute force up to 20,000 matches for the others (DiskANN, where brute
    /// force reads a node per row). `Some(n)`: brute force up to `n` matches everywhere.
    pub brute_force_below: Option<u64>,
    /// The planner: a source searched through its graph with a filter whose estimated
    /// matching fraction of rows is below this uses two-hop expansion
    /// ([`SearchParams::two_hop`], after ACORN-1). 0 never does. Default 0: on GloVe-50
    /// (M = 16) the plain filtered traversal reached higher recall at the same QPS at 10%
    /// and 50% selectivity (see the README).
    pub two_hop_below: f64,
    /// Scan every source exactly (brute force over the live, matching rows), ignoring the
    /// indexes: the ground truth a search's recall is measured against (what the recall
    /// monitor runs, [`crate::DbOptions::recall_sample_rate`]). Default `false`.
    pub exact: bool,
    /// The planner, for sources that read nodes on demand through a cache (DiskANN in an
    /// object store): `None` (the default) prices the beam search (a round of reads per
    /// hop) against a code scan with one round of reads ([`Strategy::CodeScan`]) from the
    /// reader's measured cache residency and round-trip time ([`crate::CostModel`]), so a
    /// cold replica takes the one-round plan and a warm one the graph. `Some(true)`: always
    /// the code scan; `Some(false)`: never (as does [`SearchParams::scan_codes`] `false`
    /// for sources without a measured reader, e.g. local files).
    pub code_scan: Option<bool>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 10,
            params: SearchParams::default(),
            filter: None,
            include: Include::default(),
            brute_force_below: None,
            two_hop_below: TWO_HOP_DEFAULT,
            exact: false,
            code_scan: None,
        }
    }
}

/// The plan of a source searched without a filter.
enum Plan<'s> {
    /// Its index (graph) as is.
    Index,
    /// An exact scan of these vectors (`rows × dim`).
    Exact(&'s [f32]),
    /// Codes scanned, then one round of node reads ([`Strategy::CodeScan`]).
    CodeScan,
}

/// The plan of a source searched with a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilterPlan {
    /// The matching rows scored one by one.
    BruteForce,
    /// The index, accepting only matching rows.
    Graph,
    /// Codes of the matching rows scanned, then one round of node reads.
    CodeScan,
}

/// The strategy of the lowest estimate (the first of equal ones).
fn cheapest(estimates: &[(Strategy, f64)]) -> Strategy {
    estimates.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map_or(Strategy::Unfiltered, |e| e.0)
}

/// Brute force limit, in matches, of sources the cost model does not price.
const BRUTE_FORCE_BELOW_UNPRICED: u64 = 20_000;

/// Default of [`SearchOptions::two_hop_below`].
const TWO_HOP_DEFAULT: f64 = 0.0;

/// One hit of [`Db::search_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// Distance to the query (as in [`crate::Hit`]).
    pub distance: f32,
    /// The record; vector, metadata and payload as asked in [`SearchOptions::include`].
    pub record: RecordView,
}

/// How one source was searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Strategy {
    /// No filter: the index searched as is.
    Unfiltered,
    /// No filter: the vectors of a graph source (HNSW segment or memtable) were scanned
    /// exactly, the cost model pricing that below the graph search.
    Exact,
    /// No live row matched the filter: not searched.
    Pruned,
    /// The matching rows were scanned exactly.
    BruteForce,
    /// The index was searched, accepting only matching rows during traversal.
    FilteredGraph,
    /// As `FilteredGraph`, walking only matching rows with two-hop expansion past
    /// rejected ones ([`SearchParams::two_hop`]).
    TwoHopGraph,
    /// A source reading nodes on demand (DiskANN): every code in RAM scored (the matching
    /// rows' with a filter), then the best candidates' nodes read in one round and
    /// reranked ([`SearchParams::scan_codes`]).
    CodeScan,
}

impl Strategy {
    /// Its name in metrics and reports: `graph`, `exact`, `brute_force`, `filtered_graph`
    /// (two-hop included), `pruned` or `code_scan`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Unfiltered => "graph",
            Strategy::Exact => "exact",
            Strategy::BruteForce => "brute_force",
            Strategy::FilteredGraph | Strategy::TwoHopGraph => "filtered_graph",
            Strategy::Pruned => "pruned",
            Strategy::CodeScan => "code_scan",
        }
    }
}

/// What happened in one source of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceExplain {
    /// Segment id (or that of a commit in progress); `None` for the memtable.
    pub segment: Option<u64>,
    /// Rows in the source, deleted ones included.
    pub rows: u64,
    /// Rows matching the filter: exact live rows for `BruteForce` and `Pruned`, the
    /// planner's estimate (deleted rows included) for `FilteredGraph`; `None` without a
    /// filter.
    pub matched: Option<u64>,
    /// The plan that ran.
    pub strategy: Strategy,
    /// Exact distance computations, when the strategy counts them (brute force).
    pub distances: Option<u64>,
    /// The strategies the cost model priced for this source, with their estimated time in
    /// µs ([`crate::CostModel`]); empty where the planner chose by rule.
    pub estimates: Vec<(Strategy, f64)>,
    /// Measured time of the search of this source, in µs.
    pub elapsed_us: f64,
}

/// The explain report of a search: one entry per source, in search order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explain {
    /// Per source.
    pub sources: Vec<SourceExplain>,
    /// Block cache activity during the search (hits, misses, ranged GETs and bytes fetched
    /// for loading cold indexes and for DiskANN node reads), when the database reads through a cache
    /// ([`crate::DbOptions::cache`]). Counted on the shared cache, so searches running at
    /// the same time are included.
    pub cache: Option<stratovec_backends::cache::CacheStats>,
}

impl Explain {
    /// The `strategy` label of `stratovec_search_duration_seconds`: the plan of the slowest
    /// source (`graph`, `exact`, `brute_force`, `filtered_graph`, `pruned`), `empty` when
    /// nothing was searched.
    pub fn strategy_label(&self) -> &'static str {
        let slowest = self.sources.iter().max_by(|a, b| a.elapsed_us.total_cmp(&b.elapsed_us));
        slowest.map_or("empty", |s| s.strategy.name())
    }

    /// Sources not searched because nothing matched.
    pub fn pruned(&self) -> usize {
        self.sources.iter().filter(|s| s.strategy == Strategy::Pruned).count()
    }
}

impl Db {
    /// The record of `id` with the parts `include` asks for; `None` if not live.
    ///
    /// # Errors
    /// `Corrupt` (damaged bytes) or `Unavailable` (a failed read) naming the key: a live
    /// record that cannot be read is never reported as absent.
    pub fn get_record(&self, id: u64, include: Include) -> Result<Option<RecordView>> {
        self.observed(crate::metrics::Operation::Get, || {
            let (holder, row) = {
                let s = self.state.read();
                let Some(&loc) = s.pk.get(&id) else { return Ok(None) };
                match loc {
                    // The active memtable is read under the lock.
                    Loc::Memtable(row) => return record(&s.memtable.graph, &s.memtable.columns, id, row, include).map(Some),
                    Loc::Segment { row, .. } => match s.holder(loc) {
                        Some(h) => (h, row),
                        None => return Ok(Some(RecordView { id, ..RecordView::default() })),
                    },
                }
            };
            // A segment's row is read (maybe from object storage) without the lock.
            let (index, rows, _) = holder.parts();
            record(index, rows, id, row, include).map(Some)
        })
    }

    /// The `opts.k` live records closest to `query` that match `opts.filter`, closest
    /// first, and how each source was searched.
    ///
    /// # Errors
    /// `InvalidArgument` for `k` or search parameters outside [`crate::limits`], a bad
    /// query (as [`Db::search`]), or a filter naming a field no row has or over the limits.
    pub fn search_with(&self, query: &[f32], opts: &SearchOptions) -> Result<(Vec<SearchHit>, Explain)> {
        let started = std::time::Instant::now();
        let r = self.search_slot().and_then(|_slot| self.search_unobserved(query, opts));
        if let Ok((hits, explain)) = &r {
            let strategy = explain.strategy_label();
            self.telemetry.search_latency(started.elapsed(), strategy);
            if self.options.recall_sample_rate > 0.0 {
                self.sample_search(query, opts, hits.iter().map(|h| h.record.id).collect(), strategy);
            }
        }
        self.telemetry.finish(crate::metrics::Operation::Search, &r);
        r
    }

    pub(crate) fn search_unobserved(&self, query: &[f32], opts: &SearchOptions) -> Result<(Vec<SearchHit>, Explain)> {
        crate::limits::check_search(opts.k, &opts.params)?;
        let q = prepare(query, self.dim, self.metric, "query")?;
        let cache_before = self.options.cache.as_ref().map(|c| c.stats());
        self.load_cold_indexes()?;
        // The memtable is searched, and its hits read, under the state lock; the snapshot
        // of the immutable sources taken at the same instant is searched without it.
        let (snapshot, memtable) = {
            let s = self.state.read();
            let snapshot = s.snapshot();
            let memtable = s.memtable_source();
            if let Some(f) = &opts.filter {
                let mut all = snapshot.sources();
                all.push(s.memtable_source());
                check_fields(f, &all)?;
            }
            let found = if memtable.index.rows() > 0 {
                let (found, e) = self.search_source(&memtable, &q, opts)?;
                let hits = found
                    .into_iter()
                    .map(|c| {
                        let id = memtable.ids[c.row as usize];
                        Ok(SearchHit { distance: c.distance, record: record(memtable.index, memtable.rows, id, c.row, opts.include)? })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Some((hits, e))
            } else {
                None
            };
            (snapshot, found)
        };
        let sources: Vec<Source<'_>> = snapshot.sources().into_iter().filter(|src| src.index.rows() > 0).collect();
        // One source is searched on this thread: handing it to the rayon pool costs a
        // thread switch for nothing.
        let per_source: Vec<(Vec<Candidate>, SourceExplain)> = if sources.len() == 1 {
            sources.iter().map(|src| self.search_source(src, &q, opts)).collect::<Result<_>>()?
        } else {
            sources.par_iter().map(|src| self.search_source(src, &q, opts)).collect::<Result<_>>()?
        };
        let mut explain = Explain::default();
        let mut all: Vec<(Candidate, usize)> = Vec::new();
        for (i, (found, e)) in per_source.into_iter().enumerate() {
            all.extend(found.into_iter().map(|c| (c, i)));
            explain.sources.push(e);
        }
        let id_of = |(c, i): &(Candidate, usize)| sources[*i].ids[c.row as usize];
        all.sort_by(|a, b| a.0.distance.total_cmp(&b.0.distance).then(id_of(a).cmp(&id_of(b))));
        all.truncate(opts.k);
        let mut hits = all
            .iter()
            .map(|hit| {
                let (c, i) = hit;
                let src = &sources[*i];
                Ok(SearchHit { distance: c.distance, record: record(src.index, src.rows, id_of(hit), c.row, opts.include)? })
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some((found, e)) = memtable {
            hits.extend(found);
            explain.sources.push(e);
            hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.record.id.cmp(&b.record.id)));
            hits.truncate(opts.k);
        }
        if let (Some(c), Some(before)) = (&self.options.cache, cache_before) {
            explain.cache = Some(c.stats().since(&before));
        }
        Ok((hits, explain))
    }

    /// Searches one source, timing it for the explain report.
    fn search_source(&self, src: &Source<'_>, q: &[f32], opts: &SearchOptions) -> Result<(Vec<Candidate>, SourceExplain)> {
        let started = std::time::Instant::now();
        let (found, mut explain) = self.plan_and_search(src, q, opts)?;
        explain.elapsed_us = started.elapsed().as_secs_f64() * 1e6;
        Ok((found, explain))
    }

    fn plan_and_search(&self, src: &Source<'_>, q: &[f32], opts: &SearchOptions) -> Result<(Vec<Candidate>, SourceExplain)> {
        let rows = src.index.rows() as u64;
        let explain = |matched, strategy, distances| SourceExplain {
            segment: src.segment,
            rows,
            matched,
            strategy,
            distances,
            estimates: Vec::new(),
            elapsed_us: 0.0,
        };
        let index_error = |e: stratovec_indexes::IndexError| Error::index("search", e);
        let Some(f) = &opts.filter else {
            let dead = src.dead.map(|d| move |row: u32| !d.contains(row));
            let dead = dead.as_ref().map(|f| f as &dyn RowFilter);
            let (plan, estimates) = self.price_unfiltered(src, opts);
            let (found, strategy) = match plan {
                Plan::Exact(vectors) => (stratovec_indexes::exact_search(vectors, self.dim, self.metric, q, opts.k, dead), Strategy::Exact),
                Plan::Index if opts.exact => {
                    // Vectors not in memory (DiskANN): every live row, read one by one.
                    let live = without_dead((0..rows as u32).collect(), src);
                    let n = live.len();
                    let found = self.scan_rows(src, q, opts.k, &live)?;
                    return Ok((found, explain(None, Strategy::BruteForce, Some(n))));
                }
                Plan::Index => (src.index.search(q, opts.k, &opts.params, dead).map_err(index_error)?, Strategy::Unfiltered),
                Plan::CodeScan => {
                    let params = SearchParams { scan_codes: true, ..opts.params };
                    (src.index.search(q, opts.k, &params, dead).map_err(index_error)?, Strategy::CodeScan)
                }
            };
            return Ok((found, SourceExplain { estimates, ..explain(None, strategy, None) }));
        };
        if src.excluded_by_stats(f) {
            // The manifest's statistics rule the segment out: its metadata is never read.
            return Ok((Vec::new(), explain(Some(0), Strategy::Pruned, None)));
        }
        let compiled = src.rows.field_index().compile(f);
        let estimate = compiled.estimate();
        let (plan, estimates) = self.price_filtered(src, estimate, opts);
        if plan == FilterPlan::CodeScan {
            let accept = |row: u32| compiled.contains(row) && src.dead.is_none_or(|d| !d.contains(row));
            let params = SearchParams { scan_codes: true, ..opts.params };
            let found = src.index.search(q, opts.k, &params, Some(&accept)).map_err(index_error)?;
            return Ok((found, SourceExplain { estimates, ..explain(Some(estimate), Strategy::CodeScan, None) }));
        }
        if plan == FilterPlan::Graph {
            // Many matches: search the index, accepting matching live rows as it traverses.
            let accept = |row: u32| compiled.contains(row) && src.dead.is_none_or(|d| !d.contains(row));
            let two_hop = (estimate as f64) < opts.two_hop_below * rows as f64;
            let params = SearchParams { two_hop, ..opts.params };
            let found = src.index.search(q, opts.k, &params, Some(&accept)).map_err(index_error)?;
            let strategy = if two_hop { Strategy::TwoHopGraph } else { Strategy::FilteredGraph };
            return Ok((found, SourceExplain { estimates, ..explain(Some(estimate), strategy, None) }));
        }
        let matched = without_dead(compiled.materialize(), src);
        let n = matched.len();
        if n == 0 {
            return Ok((Vec::new(), explain(Some(0), Strategy::Pruned, None)));
        }
        let found = self.scan_rows(src, q, opts.k, &matched)?;
        Ok((found, SourceExplain { estimates, ..explain(Some(n), Strategy::BruteForce, Some(n)) }))
    }

    /// The `k` rows of `rows` closest to `q`, reading each row's vector.
    /// Vectors not in memory (DiskANN nodes) are read in batches of [`crate::read::cost::SCAN_BATCH`] rows, one
    /// round each.
    fn scan_rows(&self, src: &Source<'_>, q: &[f32], k: usize, rows: &roaring::RoaringBitmap) -> Result<Vec<Candidate>> {
        let scorer = Scorer::new(self.metric);
        let mut top = TopK::new(k);
        if let Some(vectors) = src.index.vectors_in_memory() {
            for row in rows {
                if let Some(v) = vectors.get(row as usize * self.dim..(row as usize + 1) * self.dim) {
                    top.push(Candidate { distance: scorer.distance(q, v), row });
                }
            }
            return Ok(top.into_sorted_vec());
        }
        let rows: Vec<u32> = rows.iter().collect();
        for batch in rows.chunks(crate::read::cost::SCAN_BATCH) {
            src.index
                .vectors_of(batch, &mut |i, v| top.push(Candidate { distance: scorer.distance(q, v), row: batch[i] }))
                .map_err(|e| Error::index("search", e))?;
        }
        Ok(top.into_sorted_vec())
    }

    /// How to search `src` for a filter's `matched` (estimated) rows: scan them exactly
    /// (brute force), search the index accepting only them, or (on-demand sources) scan
    /// the codes; with the estimates (µs) when the cost model priced it (see
    /// [`SearchOptions::brute_force_below`] and [`SearchOptions::code_scan`]).
    fn price_filtered(&self, src: &Source<'_>, matched: u64, opts: &SearchOptions) -> (FilterPlan, Vec<(Strategy, f64)>) {
        let in_memory = src.index.vectors_in_memory().is_some();
        let brute_or_graph = |brute: bool| if brute { FilterPlan::BruteForce } else { FilterPlan::Graph };
        if opts.exact {
            return (FilterPlan::BruteForce, Vec::new());
        }
        let (shape, forced) = Self::on_demand(src, opts);
        if let Some(plan) = forced {
            return (
                if plan {
                    FilterPlan::CodeScan
                } else {
                    brute_or_graph(matched <= opts.brute_force_below.unwrap_or(BRUTE_FORCE_BELOW_UNPRICED))
                },
                Vec::new(),
            );
        }
        let (rows, model) = (src.index.rows() as u64, &self.options.cost_model.effective());
        let ef = opts.params.ef_search.max(opts.k);
        if let (None, Some((shape, read))) = (opts.brute_force_below, Self::priced(src, shape)) {
            let s = matched.max(1) as f64 / rows.max(1) as f64;
            let estimates = vec![
                (Strategy::BruteForce, model.nodes_read_ns(matched, self.dim, &read) / 1e3),
                (Strategy::FilteredGraph, model.beam_ns(&shape, self.dim, opts.params.beam_width, &read) / s.min(1.0) / 1e3),
                (Strategy::CodeScan, model.code_then_rerank_ns(&shape, matched, self.dim, &read) / 1e3),
            ];
            let best = cheapest(&estimates);
            let plan = match best {
                Strategy::BruteForce => FilterPlan::BruteForce,
                Strategy::CodeScan => FilterPlan::CodeScan,
                _ => FilterPlan::Graph,
            };
            return (plan, estimates);
        }
        match opts.brute_force_below {
            Some(limit) => (brute_or_graph(matched <= limit), Vec::new()),
            None if !in_memory => (brute_or_graph(matched <= BRUTE_FORCE_BELOW_UNPRICED), Vec::new()),
            None => {
                let brute = model.brute_force_ns(matched, self.dim) / 1e3;
                let graph = model.filtered_graph_ns(rows, matched, self.dim, ef) / 1e3;
                (brute_or_graph(brute <= graph), vec![(Strategy::BruteForce, brute), (Strategy::FilteredGraph, graph)])
            }
        }
    }

    /// Prices an exact scan against the graph search of an HNSW source (segment or
    /// memtable) whose vectors are in memory, and a beam search against a code scan of a
    /// source reading on demand through a measured reader: the plan, and the estimates
    /// (µs). Other sources are searched through their index.
    fn price_unfiltered<'s>(&self, src: &Source<'s>, opts: &SearchOptions) -> (Plan<'s>, Vec<(Strategy, f64)>) {
        let index = src.index;
        if opts.exact {
            return (index.vectors_in_memory().map_or(Plan::Index, Plan::Exact), Vec::new());
        }
        let model = &self.options.cost_model.effective();
        let (shape, forced) = Self::on_demand(src, opts);
        if let Some((shape, read)) = Self::priced(src, shape) {
            let beam = model.beam_ns(&shape, self.dim, opts.params.beam_width, &read) / 1e3;
            let scan = model.code_then_rerank_ns(&shape, index.rows() as u64, self.dim, &read) / 1e3;
            let plan = if forced.unwrap_or(scan < beam) { Plan::CodeScan } else { Plan::Index };
            return (plan, vec![(Strategy::Unfiltered, beam), (Strategy::CodeScan, scan)]);
        }
        if let Some(code_scan) = forced {
            return (if code_scan { Plan::CodeScan } else { Plan::Index }, Vec::new());
        }
        let Some(vectors) = index.vectors_in_memory().filter(|_| index.kind() == stratovec_formats::segment::SegmentKind::HNSW) else {
            return (Plan::Index, Vec::new());
        };
        let rows = index.rows() as u64;
        let exact = model.exact_ns(rows, self.dim) / 1e3;
        let graph = model.graph_ns(rows, self.dim, opts.params.ef_search.max(opts.k)) / 1e3;
        let estimates = vec![(Strategy::Exact, exact), (Strategy::Unfiltered, graph)];
        (if exact < graph { Plan::Exact(vectors) } else { Plan::Index }, estimates)
    }

    /// The search shape of a source reading on demand (`None` for other sources), and
    /// whether the caller decided for or against its code scan
    /// ([`SearchOptions::code_scan`], [`SearchParams::scan_codes`]; `None`: the planner
    /// decides).
    fn on_demand(src: &Source<'_>, opts: &SearchOptions) -> (Option<stratovec_indexes::OnDemand>, Option<bool>) {
        let shape = src.index.on_demand(opts.k, &opts.params);
        let forced = match (opts.params.scan_codes, opts.code_scan) {
            (true, _) => Some(true),
            (false, forced) => forced,
        };
        (shape, forced.filter(|_| shape.is_some()))
    }

    /// `shape` with its reader's measured cost; `None` without a shape or for readers that
    /// measure nothing (local files).
    fn priced(
        src: &Source<'_>,
        shape: Option<stratovec_indexes::OnDemand>,
    ) -> Option<(stratovec_indexes::OnDemand, stratovec_backends::ReadCost)> {
        Some((shape?, src.reads?.read_cost()?))
    }

    /// Live records matching `filter`.
    ///
    /// # Errors
    /// `InvalidArgument` for a filter naming a field no row has.
    pub fn count(&self, filter: &Filter) -> Result<u64> {
        self.observed(crate::metrics::Operation::Count, || {
            let s = self.state.read();
            let sources = s.sources();
            check_fields(filter, &sources)?;
            Ok(sources.iter().map(|src| live_matches(src, filter).len()).sum())
        })
    }

    /// Deletes every live record matching `filter`, atomically; returns how many. Durable
    /// like [`Db::delete`].
    ///
    /// # Errors
    /// `ReadOnly`, `Poisoned`; `InvalidArgument` for a filter naming a field no row has;
    /// `Unavailable` (log write).
    pub fn delete_by_filter(&self, filter: &Filter) -> Result<u64> {
        self.observed(crate::metrics::Operation::Delete, || {
            self.ready_to_write()?;
            let s = self.state.write();
            let victims: Vec<(u64, Loc)> = {
                let sources = s.sources();
                check_fields(filter, &sources)?;
                sources
                    .iter()
                    .flat_map(|src| {
                        live_matches(src, filter).into_iter().map(move |row| {
                            let loc = src.segment.map_or(Loc::Memtable(row), |id| Loc::Segment { id, row });
                            (src.ids[row as usize], loc)
                        })
                    })
                    .collect()
            };
            let victims: Vec<u64> = victims.into_iter().filter(|(key, loc)| s.pk.get(key) == Some(loc)).map(|(key, _)| key).collect();
            let deleted = victims.len() as u64;
            self.delete_keys(s, victims)?;
            Ok(deleted)
        })
    }
}
