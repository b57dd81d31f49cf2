//! Graph search shared by every graph index (the memtable's [`crate::HnswGraph`] and
//! segments' [`crate::HnswIndex`]): greedy descent through the upper levels and beam search
//! with width `ef` on a level (Malkov & Yashunin, arXiv:1603.09320, Algorithms 2 and 5).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::index::check_dim;
use crate::kernel::{prefetch, prefetch_all};
use crate::{Candidate, IndexError, Metric, RowFilter, Scorer, SearchParams};

/// Read access to a layered proximity graph and its vectors.
pub trait GraphView: Sync {
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// All vectors, row-major (`rows × dim`).
    fn vectors(&self) -> &[f32];
    /// Entry point and its level, `None` when the graph is empty.
    fn entry_point(&self) -> Option<(u32, usize)>;
    /// Replaces `out` with the neighbours of `node` on `level` (empty if the node does not
    /// reach that level).
    fn neighbors_into(&self, node: u32, level: usize, out: &mut Vec<u32>);
    /// Hints the CPU to load the level-0 neighbour list of `node` (a search about to expand
    /// it). The default does nothing.
    #[inline(always)]
    fn prefetch_neighbors(&self, _node: u32) {}

    /// The vector of `node`.
    #[inline(always)]
    fn vector_of(&self, node: u32) -> &[f32] {
        let d = self.dim();
        &self.vectors()[node as usize * d..(node as usize + 1) * d]
    }
}

/// A visited set for graph search: one 2-byte stamp per node (half the cache footprint of
/// 4-byte stamps: 780 KB for 390,000 nodes, inside a 1 MB L2), cleared in O(1) by bumping
/// the epoch, and in full once every 65,535 searches when the epoch wraps.
#[derive(Debug, Default)]
pub struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    /// Starts a new search over a graph of `nodes` nodes.
    pub fn reset(&mut self, nodes: usize) {
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `node`; returns `true` if it was not visited before in this search.
    #[inline(always)]
    pub fn insert(&mut self, node: u32) -> bool {
        let m = &mut self.marks[node as usize];
        if *m == self.epoch {
            false
        } else {
            *m = self.epoch;
            true
        }
    }

    /// Hints the CPU to load the mark of `node` (a search about to test it).
    #[inline(always)]
    pub fn prefetch(&self, node: u32) {
        if let Some(m) = self.marks.get(node as usize) {
            prefetch(std::slice::from_ref(m));
        }
    }
}

/// A visited set of 1 bit per node that clears in time proportional to the nodes it
/// marked: for searches that touch few nodes of a large graph (DiskANN), where
/// [`Visited`]'s 4 bytes per node would dominate resident memory.
#[derive(Debug, Default)]
pub struct VisitedBits {
    words: Vec<u64>,
    touched: Vec<u32>,
}

impl VisitedBits {
    /// Starts a new search over a graph of `nodes` nodes.
    pub fn reset(&mut self, nodes: usize) {
        for &w in &self.touched {
            self.words[w as usize] = 0;
        }
        self.touched.clear();
        if self.words.len() < nodes.div_ceil(64) {
            self.words.resize(nodes.div_ceil(64), 0);
        }
    }

    /// Marks `node`; returns `true` if it was not visited before in this search.
    #[inline(always)]
    pub fn insert(&mut self, node: u32) -> bool {
        let (w, bit) = ((node / 64) as usize, 1u64 << (node % 64));
        let word = &mut self.words[w];
        if *word & bit != 0 {
            return false;
        }
        if *word == 0 {
            self.touched.push(w as u32);
        }
        *word |= bit;
        true
    }
}

/// Scratch space of one search, reused across searches on the same thread.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub visited: Visited,
    pub visited_bits: VisitedBits,
    pub neighbors: Vec<u32>,
    /// Neighbours of a rejected neighbour, and the expanded list, for two-hop expansion.
    pub hop: Vec<u32>,
    pub expanded: Vec<u32>,
    /// Distances of `neighbors`, in their order.
    pub distances: Vec<f32>,
    pub candidates: BinaryHeap<Reverse<Candidate>>,
    pub results: BinaryHeap<Candidate>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch space.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        // Re-entrant use (a filter that searches): fall back to fresh scratch space.
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Greedy walk on `level` from `start`: moves to the closest neighbour until none is closer.
pub(crate) fn greedy_closest<G: GraphView + ?Sized, D: NodeDistance>(
    g: &G,
    dist: &D,
    mut best: Candidate,
    level: usize,
    buf: &mut Vec<u32>,
) -> Candidate {
    loop {
        let mut changed = false;
        g.neighbors_into(best.row, level, buf);
        for &n in buf.iter() {
            let d = dist.distance(n);
            if d < best.distance {
                best = Candidate { distance: d, row: n };
                changed = true;
            }
        }
        if !changed {
            return best;
        }
    }
}

/// Beam search on `level` from `entries`, keeping the `ef` closest nodes that pass `filter`
/// (non-accepted nodes are still traversed). Returns them closest first.
#[allow(clippy::too_many_arguments)] // one call site per graph kind; a params struct would only rename them
pub(crate) fn search_layer<G: GraphView + ?Sized, D: NodeDistance>(
    g: &G,
    dist: &D,
    entries: &[Candidate],
    ef: usize,
    level: usize,
    filter: Option<&dyn RowFilter>,
    two_hop: bool,
    s: &mut Scratch,
) -> Vec<Candidate> {
    let Scratch { visited, neighbors, hop, expanded, distances, candidates, results, .. } = s;
    visited.reset(g.vectors().len() / g.dim().max(1));
    candidates.clear();
    results.clear();
    for &e in entries {
        if visited.insert(e.row) {
            candidates.push(Reverse(e));
            if filter.is_none_or(|f| f.accept(e.row)) {
                results.push(e);
            }
        }
    }
    while results.len() > ef {
        results.pop();
    }
    let mut bound = if results.len() >= ef { results.peek().map_or(f32::INFINITY, |c| c.distance) } else { f32::INFINITY };
    while let Some(Reverse(c)) = candidates.pop() {
        if c.distance > bound {
            break;
        }
        g.neighbors_into(c.row, level, neighbors);
        // The next candidate is usually the one expanded next: its list loads while this
        // node's neighbours are scored.
        if let (0, Some(Reverse(next))) = (level, candidates.peek()) {
            g.prefetch_neighbors(next.row);
        }
        for &n in neighbors.iter() {
            visited.prefetch(n);
        }
        if let (true, Some(f)) = (two_hop, filter) {
            expand_rejected(g, level, f, neighbors, (hop, expanded), visited);
        }
        // Unvisited neighbours only, marked now: their vectors are fetched together, and
        // none is fetched twice.
        neighbors.retain(|&n| visited.insert(n));
        distances.resize(neighbors.len(), 0.0);
        dist.distances(neighbors, distances);
        for (&n, &d) in neighbors.iter().zip(distances.iter()) {
            if d < bound || results.len() < ef {
                let cand = Candidate { distance: d, row: n };
                candidates.push(Reverse(cand));
                if filter.is_none_or(|f| f.accept(n)) {
                    results.push(cand);
                    if results.len() > ef {
                        results.pop();
                    }
                    if results.len() >= ef {
                        bound = results.peek().map_or(f32::INFINITY, |c| c.distance);
                    }
                }
            }
        }
    }
    let mut out: Vec<Candidate> = results.drain().collect();
    out.sort_unstable();
    out
}

/// How many times longer than a node's neighbour list its two-hop expansion may grow.
const TWO_HOP_GROWTH: usize = 8;

/// Two-hop expansion (ACORN-1): replaces each rejected, unvisited node of `neighbors` by
/// its own neighbours on `level` that `filter` accepts, marking the rejected node visited
/// (its neighbours are the same from wherever it is reached). The list grows to at most
/// [`TWO_HOP_GROWTH`] times its length.
fn expand_rejected<G: GraphView + ?Sized>(
    g: &G,
    level: usize,
    filter: &dyn RowFilter,
    neighbors: &mut Vec<u32>,
    bufs: (&mut Vec<u32>, &mut Vec<u32>),
    visited: &mut Visited,
) {
    let (hop, out) = bufs;
    out.clear();
    let cap = neighbors.len() * TWO_HOP_GROWTH;
    for &n in neighbors.iter() {
        if out.len() >= cap {
            break;
        }
        if filter.accept(n) {
            out.push(n);
        } else if visited.insert(n) {
            g.neighbors_into(n, level, hop);
            out.extend(hop.iter().copied().filter(|&m| filter.accept(m)).take(cap - out.len()));
        }
    }
    std::mem::swap(neighbors, out);
}

/// The distance from the query to a node during a graph search.
pub(crate) trait NodeDistance {
    /// Distance of `node` to the query.
    fn distance(&self, node: u32) -> f32;
    /// Hints the CPU to load what [`NodeDistance::distance`] of `node` will read.
    fn prefetch(&self, node: u32);
    /// `out[i]` = distance of `nodes[i]` (equal lengths). The default prefetches every
    /// node's data, then scores them one by one.
    #[inline(always)]
    fn distances(&self, nodes: &[u32], out: &mut [f32]) {
        for &n in nodes {
            self.prefetch(n);
        }
        for (o, &n) in out.iter_mut().zip(nodes) {
            *o = self.distance(n);
        }
    }
}

/// Exact distances over the graph's f32 vectors.
pub(crate) struct Exact<'a, G: GraphView + ?Sized> {
    pub g: &'a G,
    pub scorer: &'a Scorer,
    pub query: &'a [f32],
}

impl<G: GraphView + ?Sized> NodeDistance for Exact<'_, G> {
    #[inline(always)]
    fn distance(&self, node: u32) -> f32 {
        self.scorer.distance(self.query, self.g.vector_of(node))
    }
    #[inline(always)]
    fn prefetch(&self, node: u32) {
        prefetch_all(self.g.vector_of(node));
    }
    /// Every node's vector prefetched, then four nodes at a time ([`Scorer::distance4`]),
    /// the rest one by one. Measured and not kept (docs/MEASUREMENTS.md, "HNSW build and
    /// 4-row kernels"): one 4-row call with the last node repeated instead of 2 or 3 single
    /// calls (1.12× slower to build at 384 dimensions), and prefetching only the next 4
    /// vectors while scoring the current 4 (within noise for the build, 5% fewer queries per
    /// second at 384 dimensions).
    #[inline(always)]
    fn distances(&self, nodes: &[u32], out: &mut [f32]) {
        nodes.iter().for_each(|&n| self.prefetch(n));
        let mut quads = nodes.chunks_exact(4);
        let mut outs = out.chunks_exact_mut(4);
        for (q, o) in (&mut quads).zip(&mut outs) {
            let rows = [q[0], q[1], q[2], q[3]].map(|n| self.g.vector_of(n));
            o.copy_from_slice(&self.scorer.distance4(self.query, rows));
        }
        for (o, &n) in outs.into_remainder().iter_mut().zip(quads.remainder()) {
            *o = self.distance(n);
        }
    }
}

/// Approximate distances from quantized codes ([`crate::QuantizedCodes`]).
struct Coded<'a> {
    codes: &'a crate::QuantizedCodes,
    query: &'a crate::codes::PreparedQuery,
}

impl NodeDistance for Coded<'_> {
    #[inline(always)]
    fn distance(&self, node: u32) -> f32 {
        self.codes.distance(self.query, node)
    }
    #[inline(always)]
    fn prefetch(&self, node: u32) {
        prefetch_all(self.codes.code(node));
    }
}

/// HNSW k-NN search with `dist`: greedy descent to level 1, then beam search with
/// `ef = max(ef_search, k)` on level 0. Returns up to `ef` candidates, closest first.
fn knn_with<G: GraphView + ?Sized, D: NodeDistance>(
    g: &G,
    dist: &D,
    k: usize,
    params: &SearchParams,
    filter: Option<&dyn RowFilter>,
) -> Vec<Candidate> {
    let Some((ep, top)) = g.entry_point() else { return Vec::new() };
    if k == 0 {
        return Vec::new();
    }
    with_scratch(|s| {
        let mut best = Candidate { distance: dist.distance(ep), row: ep };
        for level in (1..=top).rev() {
            best = greedy_closest(g, dist, best, level, &mut s.neighbors);
        }
        search_layer(g, dist, &[best], params.ef_search.max(k), 0, filter, params.two_hop, s)
    })
}

/// Full HNSW k-NN search over the f32 vectors (Malkov & Yashunin, Algorithm 5). Returns up
/// to `k` candidates, closest first.
pub(crate) fn knn_search<G: GraphView + ?Sized>(
    g: &G,
    scorer: &Scorer,
    query: &[f32],
    k: usize,
    params: &SearchParams,
    filter: Option<&dyn RowFilter>,
) -> Vec<Candidate> {
    let mut found = knn_with(g, &Exact { g, scorer, query }, k, params, filter);
    found.truncate(k);
    found
}

/// HNSW k-NN search traversing with `codes` (one code per node: a quarter of the bytes per
/// hop for SQ8), then every one of the `ef` candidates found rescored with its f32 vector
/// and the best `k` kept (HNSW-SQ, as LanceDB's IVF_HNSW_SQ and Qdrant's quantized HNSW).
pub(crate) fn knn_search_coded<G: GraphView + ?Sized>(
    g: &G,
    codes: &crate::QuantizedCodes,
    metric: Metric,
    query: &[f32],
    k: usize,
    params: &SearchParams,
    filter: Option<&dyn RowFilter>,
) -> Vec<Candidate> {
    let prepared = codes.prepare(query, metric);
    let mut found = knn_with(g, &Coded { codes, query: &prepared }, k, params, filter);
    let scorer = Scorer::new(metric);
    for c in &mut found {
        c.distance = scorer.distance(query, g.vector_of(c.row));
    }
    found.sort_unstable();
    found.truncate(k);
    found
}

/// [`crate::Index::search`] of every graph index: checks the query's dimension, then runs
/// [`knn_search`] with the metric's scorer.
pub(crate) fn search_graph<G: GraphView + ?Sized>(
    g: &G,
    metric: Metric,
    query: &[f32],
    k: usize,
    params: &SearchParams,
    filter: Option<&dyn RowFilter>,
) -> Result<Vec<Candidate>, IndexError> {
    check_dim(g.dim(), query.len())?;
    Ok(knn_search(g, &Scorer::new(metric), query, k, params, filter))
}

#[cfg(test)]
mod tests {
    use super::VisitedBits;

    #[test]
    fn visited_bits_mark_once_and_clear_on_reset() {
        let mut v = VisitedBits::default();
        v.reset(200);
        assert!(v.insert(0) && v.insert(63) && v.insert(64) && v.insert(199));
        assert!(!v.insert(63) && !v.insert(199));
        v.reset(1000);
        assert!(v.insert(63), "reset cleared the touched words");
        assert!(v.insert(999));
        assert!(!v.insert(999));
    }
}
