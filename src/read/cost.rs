//! The planner's cost model: the estimated time of an exact scan and of a graph search of
//! one source (segment or memtable), so each search takes the cheaper, and compaction
//! writes a graph only where one can pay.

/// Estimated costs of search strategies, in nanoseconds per query on one core.
///
/// * Exact scan of `rows` vectors of `dim` values:
///   `rows × (scan_row_ns + dim × scan_dim_ns)` while the vectors (`rows × dim × 4` bytes)
///   fit in `cache_bytes`, else with the `_uncached` constants (memory bandwidth bound).
/// * Brute force over the `matched` rows of a filter (each read by row number, scored
///   one by one): `matched × (brute_row_ns + dim × brute_dim_ns)` while the matched
///   vectors (`matched × dim × 4` bytes) fit in `brute_cache_bytes`, else with the
///   `_uncached` constants (rows spread over memory, and materialising many matches).
/// * Filtered graph search (rejected rows traversed, not returned) at selectivity `s`
///   (matched ÷ rows): the graph search's cost ÷ `s`, as about `1 / s` times as many nodes
///   are expanded to find `ef` matching ones.
/// * Graph (HNSW) search with search list `ef` (at least `k`):
///   `(graph_ef_offset + ef) × log2(rows) × (graph_visit_ns + dim × graph_dim_ns)`, times
///   `graph_uncached_factor` when the vectors do not fit in `cache_bytes`. The visited
///   nodes grow with `ef` and with the levels descended; each costs a fixed overhead (heap,
///   visited set, neighbour list) plus a distance computation.
///
/// The defaults were fitted by least squares (relative error) on this project's
/// development machine (AMD EPYC, 2 cores, 32 MiB L3) from exact scans and HNSW
/// searches (M 16, k 10, ef 16/64/256) of clustered synthetic data at 500 to 50,000 rows
/// and 50, 384, 784 and 1,536 dimensions: mean error 12% (exact) and 23% (graph). See
/// docs/MEASUREMENTS.md ("Cost model"). They only need to be right about which strategy is
/// cheaper; where the two are close either choice costs about the same.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    /// Exact scan: per row, in ns. Default 2.0.
    pub scan_row_ns: f64,
    /// Exact scan: per value (dimension) of a row, in ns, vectors in cache. Default 0.054.
    pub scan_dim_ns: f64,
    /// Exact scan: per row, in ns, vectors beyond `cache_bytes`. Default 60.
    pub scan_row_ns_uncached: f64,
    /// Exact scan: per value of a row, in ns, vectors beyond `cache_bytes`. Default 0.126.
    pub scan_dim_ns_uncached: f64,
    /// Vector bytes up to which they are priced as cache-resident. Default 16 MiB.
    pub cache_bytes: u64,
    /// Graph search: added to `ef` (the descent through upper levels). Default 20.
    pub graph_ef_offset: f64,
    /// Graph search: fixed cost of one visit unit, in ns. Default 21.
    pub graph_visit_ns: f64,
    /// Graph search: cost per value (dimension) of a visit unit, in ns. Default 0.040.
    pub graph_dim_ns: f64,
    /// Graph search: factor when the vectors do not fit in `cache_bytes`. Default 2.0.
    pub graph_uncached_factor: f64,
    /// Brute force over matching rows: per row, in ns (materialising the matches, reading
    /// each row where it lies, scoring it), matched vectors in cache. Default 25.
    pub brute_row_ns: f64,
    /// Brute force over matching rows: per value of a row, in ns, in cache. Default 0.1.
    pub brute_dim_ns: f64,
    /// Brute force: per row, in ns, matched vectors beyond `brute_cache_bytes`. Default 90.
    pub brute_row_ns_uncached: f64,
    /// Brute force: per value of a row, in ns, beyond `brute_cache_bytes`. Default 0.2.
    pub brute_dim_ns_uncached: f64,
    /// Matched vector bytes up to which brute force is priced as cache-resident. Default
    /// 2 MiB.
    pub brute_cache_bytes: u64,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            scan_row_ns: 2.0,
            scan_dim_ns: 0.054,
            scan_row_ns_uncached: 60.0,
            scan_dim_ns_uncached: 0.126,
            cache_bytes: 16 << 20,
            graph_ef_offset: 20.0,
            graph_visit_ns: 21.0,
            graph_dim_ns: 0.040,
            graph_uncached_factor: 2.0,
            brute_row_ns: 25.0,
            brute_dim_ns: 0.1,
            brute_row_ns_uncached: 90.0,
            brute_dim_ns_uncached: 0.2,
            brute_cache_bytes: 2 << 20,
        }
    }
}

impl CostModel {
    fn cached(&self, rows: u64, dim: usize) -> bool {
        rows.saturating_mul(dim as u64 * 4) <= self.cache_bytes
    }

    /// Estimated ns of an exact scan of `rows` vectors of `dim` values.
    pub fn exact_ns(&self, rows: u64, dim: usize) -> f64 {
        let (row, per_dim) = if self.cached(rows, dim) {
            (self.scan_row_ns, self.scan_dim_ns)
        } else {
            (self.scan_row_ns_uncached, self.scan_dim_ns_uncached)
        };
        rows as f64 * (row + dim as f64 * per_dim)
    }

    /// Estimated ns of a graph search of `rows` vectors of `dim` values with search list
    /// `ef` (pass `max(ef_search, k)`).
    pub fn graph_ns(&self, rows: u64, dim: usize, ef: usize) -> f64 {
        let levels = (rows.max(2) as f64).log2();
        let visit = self.graph_visit_ns + dim as f64 * self.graph_dim_ns;
        let factor = if self.cached(rows, dim) { 1.0 } else { self.graph_uncached_factor };
        (self.graph_ef_offset + ef as f64) * levels * visit * factor
    }

    /// Estimated ns of scoring `matched` rows of `dim` values one by one (brute force over
    /// a filter's matches).
    pub fn brute_force_ns(&self, matched: u64, dim: usize) -> f64 {
        let (row, per_dim) = if matched.saturating_mul(dim as u64 * 4) <= self.brute_cache_bytes {
            (self.brute_row_ns, self.brute_dim_ns)
        } else {
            (self.brute_row_ns_uncached, self.brute_dim_ns_uncached)
        };
        matched as f64 * (row + dim as f64 * per_dim)
    }

    /// Estimated ns of a graph search of `rows` vectors that returns only the `matched`
    /// ones (search list `ef`).
    pub fn filtered_graph_ns(&self, rows: u64, matched: u64, dim: usize, ef: usize) -> f64 {
        let selectivity = matched.max(1) as f64 / rows.max(1) as f64;
        self.graph_ns(rows, dim, ef) / selectivity.min(1.0)
    }

    /// Whether a graph over `rows` vectors of `dim` values costs more to search than an
    /// exact scan even at `ef` = 10 (the default `k`): such a segment needs no graph.
    pub fn graph_never_pays(&self, rows: u64, dim: usize) -> bool {
        self.graph_ns(rows, dim, 10) >= self.exact_ns(rows, dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_segments_scan_and_large_ones_use_the_graph() {
        let m = CostModel::default();
        // The cases: 500 rows, and 50,000 rows of 384 dimensions.
        assert!(m.exact_ns(500, 384) < m.graph_ns(500, 384, 64));
        assert!(m.graph_ns(50_000, 384, 64) < m.exact_ns(50_000, 384) / 10.0);
        // 9,000 rows of 784 dimensions (28 MB): the graph, by far.
        assert!(m.graph_ns(9_000, 784, 64) * 5.0 < m.exact_ns(9_000, 784));
        // A larger ef moves the crossover up.
        assert!(m.exact_ns(5_000, 50) < m.graph_ns(5_000, 50, 256));
        // GloVe-50 at 390,000 rows: brute force for 1% of the rows, the graph for 10%.
        let rows = 390_000;
        assert!(m.brute_force_ns(3_900, 50) < m.filtered_graph_ns(rows, 3_900, 50, 64));
        assert!(m.filtered_graph_ns(rows, 39_000, 50, 64) < m.brute_force_ns(39_000, 50));
        // A few hundred matches in a small segment: brute force (exact) is cheaper.
        assert!(m.brute_force_ns(334, 8) < m.filtered_graph_ns(400, 334, 8, 64));
        assert!(m.graph_never_pays(100, 50));
        assert!(!m.graph_never_pays(20_000, 50));
    }
}
