//! Vamana graph construction (Subramanya et al., "DiskANN", NeurIPS 2019, Algorithms 2–3):
//! every node is inserted by a greedy beam search of width `L` from the medoid, its
//! neighbours are chosen by RobustPrune with parameter `alpha`, and reverse edges are added
//! (pruning a list that grows past `R × slack`). Pass 1 uses `alpha = 1`, pass 2 the given
//! `alpha`, as in the paper. Inserts run in parallel on the rayon pool with one lock per
//! adjacency list, as DiskANN's in-memory build does.

use parking_lot::RwLock;
use rand::{rngs::SmallRng, seq::SliceRandom, SeedableRng};
use rayon::prelude::*;

use crate::graph_search::{search_layer, with_scratch, GraphView};
use crate::{Candidate, IndexError, Metric, Scorer};

/// Parameters of a Vamana build.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VamanaParams {
    /// Maximum out-degree `R`. Default 48.
    pub r: usize,
    /// Beam width `L` of the build searches. Default 96.
    pub l: usize,
    /// RobustPrune `alpha` of the last pass (>= 1; larger keeps longer edges). Default 1.2.
    pub alpha: f32,
    /// Passes over the data (the first with `alpha = 1` when there are two or more).
    /// Default 2.
    pub passes: usize,
    /// Seed of the insertion order. Default 42.
    pub seed: u64,
}

impl Default for VamanaParams {
    fn default() -> Self {
        VamanaParams { r: 48, l: 96, alpha: 1.2, passes: 2, seed: 42 }
    }
}

impl VamanaParams {
    /// Checks the ranges.
    ///
    /// # Errors
    /// [`IndexError::InvalidArgument`] for `R < 2`, `R > 1024`, `L < R`, `alpha < 1`
    /// or no passes.
    pub fn validate(&self) -> Result<(), IndexError> {
        if self.r < 2 || self.r > 1024 || self.l < self.r || self.alpha.is_nan() || self.alpha < 1.0 || self.passes == 0 {
            return Err(IndexError::InvalidArgument(format!(
                "Vamana parameters {self:?}: need 2 <= R <= 1024, L >= R, alpha >= 1, passes >= 1"
            )));
        }
        Ok(())
    }
}

/// A built Vamana graph: adjacency lists and the entry point (the medoid).
#[derive(Debug, Clone)]
pub struct VamanaGraph {
    /// Out-neighbours of every row (at most `R` each).
    pub adjacency: Vec<Vec<u32>>,
    /// The row closest to the centroid, where searches start.
    pub entry: u32,
}

struct Builder<'a> {
    dim: usize,
    vectors: &'a [f32],
    adj: Vec<RwLock<Vec<u32>>>,
    entry: u32,
    search: Scorer,
    prune: Scorer,
}

impl GraphView for Builder<'_> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn vectors(&self) -> &[f32] {
        self.vectors
    }
    fn entry_point(&self) -> Option<(u32, usize)> {
        Some((self.entry, 0))
    }
    fn neighbors_into(&self, node: u32, _level: usize, out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(&self.adj[node as usize].read());
    }
}

/// The row nearest the mean of `vectors`.
fn medoid(vectors: &[f32], dim: usize, scorer: &Scorer) -> u32 {
    let n = vectors.len() / dim;
    let mut mean = vec![0f64; dim];
    for v in vectors.chunks_exact(dim) {
        mean.iter_mut().zip(v).for_each(|(m, x)| *m += *x as f64 / n as f64);
    }
    let mean: Vec<f32> = mean.iter().map(|m| *m as f32).collect();
    let best = vectors.par_chunks(dim).enumerate().map(|(i, v)| (scorer.distance(&mean, v), i)).min_by(|a, b| a.0.total_cmp(&b.0));
    best.map_or(0, |(_, i)| i as u32)
}

impl Builder<'_> {
    fn vector(&self, row: u32) -> &[f32] {
        &self.vectors[row as usize * self.dim..][..self.dim]
    }

    /// RobustPrune: keeps candidates closest first, dropping any candidate `c` for which a
    /// kept `s` has `alpha × d(s, c) <= d(p, c)`.
    fn robust_prune(&self, p: u32, rows: impl Iterator<Item = u32>, alpha: f32, r: usize) -> Vec<u32> {
        let vp = self.vector(p);
        let mut cands: Vec<Candidate> =
            rows.filter(|&c| c != p).map(|c| Candidate { distance: self.prune.distance(vp, self.vector(c)), row: c }).collect();
        cands.sort_unstable();
        cands.dedup_by_key(|c| c.row);
        let mut kept: Vec<u32> = Vec::with_capacity(r);
        for c in cands {
            if kept.len() == r {
                break;
            }
            let vc = self.vector(c.row);
            if kept.iter().all(|&s| alpha * self.prune.distance(self.vector(s), vc) > c.distance) {
                kept.push(c.row);
            }
        }
        kept
    }

    fn insert(&self, p: u32, params: &VamanaParams, alpha: f32) {
        let vp = self.vector(p);
        let start = Candidate { distance: self.search.distance(vp, self.vector(self.entry)), row: self.entry };
        let dist = crate::graph_search::Exact { g: self, scorer: &self.search, query: vp };
        let found = with_scratch(|s| search_layer(self, &dist, &[start], params.l, 0, None, false, s));
        let current = self.adj[p as usize].read().clone();
        let chosen = self.robust_prune(p, found.iter().map(|c| c.row).chain(current), alpha, params.r);
        *self.adj[p as usize].write() = chosen.clone();
        let slack = params.r + params.r / 4;
        for j in chosen {
            let mut list = self.adj[j as usize].write();
            if list.contains(&p) {
                continue;
            }
            if list.len() < slack {
                list.push(p);
            } else {
                let rows: Vec<u32> = list.iter().copied().chain([p]).collect();
                *list = self.robust_prune(j, rows.into_iter(), alpha, params.r);
            }
        }
    }
}

/// Builds a Vamana graph over `vectors` (`rows × dim`, normalised for cosine), calling
/// `progress(done)` after each chunk of inserts (`done` counts inserts over all passes, out
/// of `rows × passes`).
///
/// # Errors
/// [`IndexError::InvalidArgument`] for bad parameters or a length not a multiple of `dim`.
pub fn build_vamana(
    vectors: &[f32],
    dim: usize,
    metric: Metric,
    params: &VamanaParams,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<VamanaGraph, IndexError> {
    params.validate()?;
    if dim == 0 || !vectors.len().is_multiple_of(dim) {
        return Err(IndexError::InvalidArgument(format!("{} values is not a multiple of dim {dim}", vectors.len())));
    }
    let n = vectors.len() / dim;
    if n == 0 {
        return Ok(VamanaGraph { adjacency: Vec::new(), entry: 0 });
    }
    // Inner product is not a metric: prune on L2 geometry, search on the inner product.
    let prune = Scorer::new(if metric == Metric::InnerProduct { Metric::L2 } else { metric });
    let search = Scorer::new(metric);
    let entry = medoid(vectors, dim, &search);
    let b = Builder { dim, vectors, adj: (0..n).map(|_| RwLock::new(Vec::new())).collect(), entry, search, prune };
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut SmallRng::seed_from_u64(params.seed));
    let done = std::sync::atomic::AtomicUsize::new(0);
    for pass in 0..params.passes {
        let alpha = if pass + 1 < params.passes { 1.0 } else { params.alpha };
        order.par_chunks(1024).for_each(|chunk| {
            for &p in chunk {
                b.insert(p, params, alpha);
            }
            progress(done.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed) + chunk.len());
        });
    }
    (0..n as u32).into_par_iter().for_each(|j| {
        let mut list = b.adj[j as usize].write();
        if list.len() > params.r {
            let rows: Vec<u32> = list.clone();
            *list = b.robust_prune(j, rows.into_iter(), params.alpha, params.r);
        }
    });
    Ok(VamanaGraph { adjacency: b.adj.into_iter().map(RwLock::into_inner).collect(), entry })
}

impl VamanaGraph {
    /// Rows in breadth-first order from the entry (unreached rows last, in row order):
    /// `order[new] = old`. Writing nodes in this order puts a node near its neighbours.
    pub fn bfs_order(&self) -> Vec<u32> {
        let n = self.adjacency.len();
        let mut seen = vec![false; n];
        let mut order = Vec::with_capacity(n);
        if n == 0 {
            return order;
        }
        seen[self.entry as usize] = true;
        order.push(self.entry);
        let mut head = 0;
        while head < order.len() {
            let u = order[head] as usize;
            head += 1;
            for &v in &self.adjacency[u] {
                if !std::mem::replace(&mut seen[v as usize], true) {
                    order.push(v);
                }
            }
        }
        order.extend((0..n as u32).filter(|&r| !seen[r as usize]));
        order
    }
}
