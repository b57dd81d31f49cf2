//! The growable HNSW graph of the memtable, built concurrently
//! (Malkov & Yashunin, arXiv:1603.09320; neighbour selection by the heuristic of
//! Algorithm 4, without extending or keeping pruned candidates).
//!
//! Adjacency lists are arrays of `AtomicU32` (`[count, neighbour..]`): searches read them
//! without locks, and a per-node mutex serialises writers of one list. A batch insert first
//! appends all vectors ([`HnswGraph::append`], `&mut self`, fast), then links the new nodes
//! in parallel on the rayon pool ([`HnswGraph::link_rows`], `&self`: searches run while it
//! links), then makes them visible ([`HnswGraph::publish`]). Until then a search may walk
//! through the new nodes but never returns one, and [`Index::rows`] does not count them.

use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::{Mutex, RwLock};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use rayon::prelude::*;
use stratovec_formats::graph::GraphParts;
use stratovec_formats::segment::{SectionKind, SegmentKind, SegmentWriter};

use crate::flat::write_vectors;
use crate::graph_search::{greedy_closest, search_graph, search_layer, with_scratch, Exact, GraphView};
use crate::index::row_of;
use crate::{Candidate, Index, IndexError, Metric, RowFilter, Scorer, SearchParams};

/// Highest level a node may be assigned (levels are geometric; 16 is never reached in
/// practice for M >= 4).
const LEVEL_CAP: usize = 16;

/// HNSW construction parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// `M`: neighbours per node on levels >= 1; level 0 keeps up to `2 × M`. Typical 8..64.
    pub m: usize,
    /// `ef_construction`: beam width while linking a new node. Typical 100..500.
    pub ef_construction: usize,
    /// Seed of the level generator (fixed seed + fixed insertion order = same levels).
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams { m: 16, ef_construction: 200, seed: 42 }
    }
}

impl HnswParams {
    /// Checks the ranges: `2 <= M <= 2048`, `ef_construction >= 1`.
    ///
    /// # Errors
    /// [`IndexError::InvalidArgument`] naming the bad parameter.
    pub fn validate(&self) -> Result<(), IndexError> {
        if !(2..=2048).contains(&self.m) {
            return Err(IndexError::InvalidArgument(format!("M = {} (must be 2..=2048)", self.m)));
        }
        if self.ef_construction == 0 {
            return Err(IndexError::InvalidArgument("ef_construction = 0".into()));
        }
        Ok(())
    }
}

/// A growable HNSW graph that owns its vectors; see the module docs.
#[derive(Debug)]
pub struct HnswGraph {
    dim: usize,
    metric: Metric,
    params: HnswParams,
    m0: usize,
    level_mult: f64,
    vectors: Vec<f32>,
    levels: Vec<u8>,
    level0: Vec<AtomicU32>,
    upper: Vec<Box<[AtomicU32]>>,
    /// Heap bytes of `upper` (its boxes and their headers), kept as it grows so
    /// [`HnswGraph::memory_bytes`] is O(1): writers check it on every write.
    upper_bytes: usize,
    locks: Vec<Mutex<()>>,
    /// Rows searches may return: `0..visible` (appended rows past it are being linked).
    visible: usize,
    entry: RwLock<Option<(u32, usize)>>,
    raise_lock: Mutex<()>,
    rng: SmallRng,
}

impl HnswGraph {
    /// An empty graph for vectors of `dim` values.
    ///
    /// # Errors
    /// [`IndexError::InvalidArgument`] for `dim == 0` or invalid `params`.
    pub fn new(dim: usize, metric: Metric, params: HnswParams) -> Result<Self, IndexError> {
        params.validate()?;
        if dim == 0 {
            return Err(IndexError::InvalidArgument("dim = 0".into()));
        }
        Ok(HnswGraph {
            dim,
            metric,
            params,
            m0: params.m * 2,
            level_mult: 1.0 / (params.m as f64).ln(),
            vectors: Vec::new(),
            levels: Vec::new(),
            level0: Vec::new(),
            upper: Vec::new(),
            upper_bytes: 0,
            locks: Vec::new(),
            visible: 0,
            entry: RwLock::new(None),
            raise_lock: Mutex::new(()),
            rng: SmallRng::seed_from_u64(params.seed),
        })
    }

    /// Construction parameters.
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Bytes held by vectors and adjacency lists (an estimate of resident memory).
    pub fn memory_bytes(&self) -> usize {
        self.vectors.capacity() * 4
            + self.level0.capacity() * 4
            + self.upper_bytes
            + self.levels.capacity()
            + self.locks.capacity() * std::mem::size_of::<Mutex<()>>()
    }

    /// Appends `vectors` (`n × dim` values, already validated and normalised for cosine) and
    /// links them into the graph, in parallel on the current rayon pool. Returns the first
    /// new row; the new rows are `first..first + n`.
    ///
    /// # Errors
    /// [`IndexError::DimensionMismatch`] if `vectors.len()` is not a multiple of `dim`.
    pub fn insert_batch(&mut self, vectors: &[f32]) -> Result<u32, IndexError> {
        let first = self.append(vectors)?;
        self.link_rows(first..self.levels.len() as u32);
        self.publish();
        Ok(first)
    }

    /// Appends `vectors` (`n × dim` values, validated and normalised for cosine) without
    /// linking them: rows `first..first + n`, invisible to searches until
    /// [`HnswGraph::link_rows`] and [`HnswGraph::publish`]. Returns `first`. Call
    /// `link_rows(first..first + n)` before appending again.
    ///
    /// # Errors
    /// [`IndexError::DimensionMismatch`] if `vectors.len()` is not a multiple of `dim`;
    /// `InvalidArgument` past 2^32 - 2 rows. Nothing is appended on error.
    pub fn append(&mut self, vectors: &[f32]) -> Result<u32, IndexError> {
        if !vectors.len().is_multiple_of(self.dim) {
            return Err(IndexError::DimensionMismatch { expected: self.dim, got: vectors.len() % self.dim });
        }
        let first = self.levels.len();
        let n = vectors.len() / self.dim;
        if first + n > u32::MAX as usize - 1 {
            return Err(IndexError::InvalidArgument("more than 2^32 - 2 rows in one graph".into()));
        }
        self.grow(vectors, n);
        if self.entry.get_mut().is_none() && n > 0 {
            *self.entry.get_mut() = Some((first as u32, self.levels[first] as usize));
        }
        Ok(first as u32)
    }

    /// Links appended rows `rows` into the graph, in parallel on the current rayon pool
    /// when there are several. Runs beside searches (`&self`).
    pub fn link_rows(&self, rows: std::ops::Range<u32>) {
        let entry = self.entry.read().map(|e| e.0);
        let rows = rows.filter(|r| Some(*r) != entry).collect::<Vec<u32>>();
        if rows.len() > 1 {
            rows.into_par_iter().for_each(|i| self.link(i));
        } else {
            rows.into_iter().for_each(|i| self.link(i));
        }
    }

    /// Makes every appended row visible to searches.
    pub fn publish(&mut self) {
        self.visible = self.levels.len();
    }

    fn grow(&mut self, vectors: &[f32], n: usize) {
        self.vectors.extend_from_slice(vectors);
        let stride0 = self.m0 + 1;
        self.level0.reserve(n * stride0);
        self.level0.extend((0..n * stride0).map(|_| AtomicU32::new(0)));
        for _ in 0..n {
            let u: f64 = self.rng.random::<f64>();
            let level = ((-(1.0 - u).ln()) * self.level_mult).floor() as usize;
            let level = level.min(LEVEL_CAP);
            self.levels.push(level as u8);
            let words = level * (self.params.m + 1);
            self.upper.push((0..words).map(|_| AtomicU32::new(0)).collect());
            self.upper_bytes += words * 4 + 16;
            self.locks.push(Mutex::new(()));
        }
    }

    fn list(&self, node: u32, level: usize) -> &[AtomicU32] {
        if level == 0 {
            let s = self.m0 + 1;
            &self.level0[node as usize * s..(node as usize + 1) * s]
        } else {
            let s = self.params.m + 1;
            self.upper[node as usize].get((level - 1) * s..level * s).unwrap_or(&[])
        }
    }

    fn read_list(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        let l = self.list(node, level);
        if let Some((count, rest)) = l.split_first() {
            let c = (count.load(Ordering::Acquire) as usize).min(rest.len());
            out.extend(rest[..c].iter().map(|a| a.load(Ordering::Relaxed)));
        }
    }

    fn write_list(&self, node: u32, level: usize, items: &[u32]) {
        let l = self.list(node, level);
        for (slot, v) in l[1..].iter().zip(items) {
            slot.store(*v, Ordering::Relaxed);
        }
        l[0].store(items.len() as u32, Ordering::Release);
    }

    /// Links node `i` (its vector is already stored) into every level it reaches.
    fn link(&self, i: u32) {
        let scorer = Scorer::new(self.metric);
        let q = self.vector_of(i);
        let level = self.levels[i as usize] as usize;
        let mut entry = self.entry.read().expect("entry point set before linking");
        let _raise = if level > entry.1 {
            let guard = self.raise_lock.lock();
            entry = self.entry.read().expect("entry point set");
            Some(guard)
        } else {
            None
        };
        let (ep, top) = entry;
        with_scratch(|s| {
            let mut best = Candidate { distance: scorer.distance(q, self.vector_of(ep)), row: ep };
            for l in (level + 1..=top).rev() {
                best = greedy_closest(self, &Exact { g: self, scorer: &scorer, query: q }, best, l, &mut s.neighbors);
            }
            let mut entries = vec![best];
            for l in (0..=level.min(top)).rev() {
                let mut found = search_layer(
                    self,
                    &Exact { g: self, scorer: &scorer, query: q },
                    &entries,
                    self.params.ef_construction,
                    l,
                    None,
                    false,
                    s,
                );
                found.retain(|c| c.row != i);
                let chosen = self.select_neighbors(&scorer, &found, self.params.m);
                let chosen_rows: Vec<u32> = chosen.iter().map(|c| c.row).collect();
                self.merge_into(&scorer, i, l, &chosen_rows);
                for &n in &chosen_rows {
                    self.merge_into(&scorer, n, l, &[i]);
                }
                if !found.is_empty() {
                    entries = found;
                }
            }
        });
        if level > top {
            *self.entry.write() = Some((i, level));
        }
    }

    /// The heuristic of Algorithm 4: walk candidates closest first and keep one only if it is
    /// closer to the base than to every neighbour kept so far; stop at `max` kept.
    fn select_neighbors(&self, scorer: &Scorer, sorted: &[Candidate], max: usize) -> Vec<Candidate> {
        let mut kept: Vec<Candidate> = Vec::with_capacity(max);
        for c in sorted {
            if kept.len() >= max {
                break;
            }
            let v = self.vector_of(c.row);
            if kept.iter().all(|k| scorer.distance(v, self.vector_of(k.row)) >= c.distance) {
                kept.push(*c);
            }
        }
        kept
    }

    /// Adds `new` to the list of `node` on `level`, pruning with the heuristic when the list
    /// would exceed its capacity (M, or 2M on level 0).
    fn merge_into(&self, scorer: &Scorer, node: u32, level: usize, new: &[u32]) {
        let cap = if level == 0 { self.m0 } else { self.params.m };
        let _g = self.locks[node as usize].lock();
        let mut rows = Vec::with_capacity(cap + new.len());
        self.read_list(node, level, &mut rows);
        for &n in new {
            if n != node && !rows.contains(&n) {
                rows.push(n);
            }
        }
        if rows.len() > cap {
            let base = self.vector_of(node);
            let mut cands: Vec<Candidate> =
                rows.iter().map(|&r| Candidate { distance: scorer.distance(base, self.vector_of(r)), row: r }).collect();
            cands.sort_unstable();
            rows = self.select_neighbors(scorer, &cands, cap).iter().map(|c| c.row).collect();
        }
        self.write_list(node, level, &rows);
    }

    /// The graph in its on-disk form (see [`stratovec_formats::graph`]).
    pub fn to_graph_section(&self) -> Vec<u8> {
        let level0: Vec<u32> = self.level0.iter().map(|a| a.load(Ordering::Acquire)).collect();
        let mut upper_offsets = Vec::with_capacity(self.levels.len() + 1);
        let mut upper = Vec::new();
        upper_offsets.push(0u32);
        for blocks in &self.upper {
            upper.extend(blocks.iter().map(|a| a.load(Ordering::Acquire)));
            upper_offsets.push(upper.len() as u32);
        }
        let entry = *self.entry.read();
        GraphParts {
            m: self.params.m as u32,
            m0: self.m0 as u32,
            entry_point: entry.map(|e| e.0),
            max_level: entry.map_or(0, |e| e.1 as u32),
            levels: &self.levels,
            level0: &level0,
            upper_offsets: &upper_offsets,
            upper: &upper,
        }
        .encode()
    }
}

impl GraphView for HnswGraph {
    fn dim(&self) -> usize {
        self.dim
    }
    fn vectors(&self) -> &[f32] {
        &self.vectors
    }
    fn entry_point(&self) -> Option<(u32, usize)> {
        *self.entry.read()
    }
    fn neighbors_into(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        self.read_list(node, level, out);
    }
    #[inline(always)]
    fn prefetch_neighbors(&self, node: u32) {
        crate::kernel::prefetch_all(self.list(node, 0));
    }
}

impl Index for HnswGraph {
    fn kind(&self) -> SegmentKind {
        SegmentKind::HNSW
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn metric(&self) -> Metric {
        self.metric
    }
    fn rows(&self) -> usize {
        self.visible
    }
    fn vector(&self, row: u32) -> Result<Option<std::borrow::Cow<'_, [f32]>>, IndexError> {
        Ok(if (row as usize) < self.visible { row_of(&self.vectors, self.dim, row) } else { None })
    }
    /// The rows searches may return (`0..visible`; rows being linked are left out).
    fn vectors_in_memory(&self) -> Option<&[f32]> {
        self.vectors.get(..self.visible * self.dim)
    }
    fn search(&self, query: &[f32], k: usize, params: &SearchParams, filter: Option<&dyn RowFilter>) -> Result<Vec<Candidate>, IndexError> {
        if self.visible == self.levels.len() {
            return search_graph(self, self.metric, query, k, params, filter);
        }
        // Rows being linked are walked through but never returned.
        let visible = |row: u32| (row as usize) < self.visible && filter.is_none_or(|f| f.accept(row));
        search_graph(self, self.metric, query, k, params, Some(&visible))
    }
    fn write_sections(&self, writer: &mut SegmentWriter) {
        debug_assert_eq!(self.visible, self.levels.len(), "written with rows not yet published");
        write_vectors(writer, &self.vectors);
        writer.add_section(SectionKind::HNSW_GRAPH, &self.to_graph_section());
    }
}
