//! The planner's cost model: the estimated time of an exact scan and of a graph search of
//! one source (segment or memtable), so each search takes the cheaper, and compaction
//! writes a graph only where one can pay.

use stratovec_backends::ReadCost;
use stratovec_indexes::OnDemand;

/// Rows read per batch (one round of reads) when scanning rows whose vectors are not in
/// memory (brute force over a DiskANN segment's matches).
pub(crate) const SCAN_BATCH: usize = 4096;

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
/// * DiskANN segments read through a cache ([`stratovec_backends::ReadCost`] measured by
///   the reader: the resident fraction `c` of the blocks it read lately, a fetching
///   round's wall time, a cached read's time), with the shape of a search from the index
///   ([`stratovec_indexes::OnDemand`]: rounds, nodes read, degree R, and the time to
///   score a code, measured on this CPU):
///   - a round of `w` reads costs `p × fetch + (1 − p) × w × hit` with
///     `p = 1 − c^w` (it fetches unless every read hits);
///   - beam search: its rounds of `beam_width` reads, plus per node read
///     `node_ns + dim × graph_dim_ns` and R code distances;
///   - code scan ([`stratovec_indexes::SearchParams::scan_codes`]): every code
///     (`rows × (code_row_ns + code_ns)`), then one round reading the
///     reranked candidates; so a cold replica (c ≈ 0) pays one round trip instead of one
///     per hop, and a warm one walks the graph;
///   - with a filter, also brute force over the matches, reading their nodes in rounds of
///     up to 4,096.
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
    /// Code scan (DiskANN [`stratovec_indexes::SearchParams::scan_codes`]) and the code
    /// distances of a beam search: per row, in ns, on top of the index's measured time to
    /// score a code ([`stratovec_indexes::OnDemand::code_ns`]). Default 1.5.
    pub code_row_ns: f64,
    /// Beam search: CPU per node read, besides its full-vector distance (`dim ×
    /// graph_dim_ns`) and its neighbours' code distances, in ns. Default 1,500.
    pub node_ns: f64,
    /// A round of reads that fetches from the store, in ns, until the reader has measured
    /// one ([`stratovec_backends::ReadCost::fetch_ns`]). Default 5 ms.
    pub fetch_ns: f64,
    /// A node read served from a cache, in ns, until the reader has measured one.
    /// Default 2,000.
    pub hit_ns: f64,
    /// Scale `scan_dim_ns` and `scan_dim_ns_uncached` to this CPU: by the ratio of the
    /// exact-scan kernel's speed on the development machine the constants were fitted on
    /// ([`REFERENCE_SCAN_SPEED`]) to its speed here, measured once per process at the first
    /// search (about 40 ms; [`stratovec_indexes::kernel::throughput::scan_speed`]). Default
    /// `true`; `false` takes the constants as given.
    pub calibrate: bool,
}

/// The exact-scan kernel's speed on the machine the defaults were fitted on (AMD EPYC
/// Zen 4, AVX-512 table, `stratovec kernels`): GB/s on cached and on streamed rows.
pub const REFERENCE_SCAN_SPEED: stratovec_indexes::kernel::throughput::ScanSpeed =
    stratovec_indexes::kernel::throughput::ScanSpeed { cached_gbps: 94.0, memory_gbps: 19.0 };

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
            code_row_ns: 1.5,
            node_ns: 1_500.0,
            fetch_ns: 5e6,
            hit_ns: 2_000.0,
            calibrate: true,
        }
    }
}

impl CostModel {
    /// The model the planner uses: this one, with the exact-scan constants scaled to this
    /// CPU's measured kernel speed when `calibrate` is set (the ratio is clamped to
    /// 0.25..4).
    pub fn effective(&self) -> CostModel {
        if !self.calibrate {
            return *self;
        }
        let here = stratovec_indexes::kernel::throughput::scan_speed();
        let ratio = |reference: f64, measured: f64| if measured > 0.0 { (reference / measured).clamp(0.25, 4.0) } else { 1.0 };
        CostModel {
            scan_dim_ns: self.scan_dim_ns * ratio(REFERENCE_SCAN_SPEED.cached_gbps, here.cached_gbps),
            scan_dim_ns_uncached: self.scan_dim_ns_uncached * ratio(REFERENCE_SCAN_SPEED.memory_gbps, here.memory_gbps),
            calibrate: false,
            ..*self
        }
    }

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

    /// Estimated ns of scoring `rows` codes taking `code_ns` each.
    pub fn code_scan_ns(&self, rows: f64, code_ns: f64) -> f64 {
        rows * (self.code_row_ns + code_ns)
    }

    /// Estimated ns of `rounds` rounds of `per_round` node reads each through a reader
    /// whose blocks are `read.resident` cached: a round fetches (one round trip) unless
    /// every read in it hits, with probability `1 - resident^per_round`.
    pub fn reads_ns(&self, rounds: f64, per_round: f64, read: &ReadCost) -> f64 {
        let fetch = read.fetch_ns.unwrap_or(self.fetch_ns);
        let hit = read.hit_ns.unwrap_or(self.hit_ns);
        let p_fetch = 1.0 - read.resident.clamp(0.0, 1.0).powf(per_round.max(1.0));
        rounds * (p_fetch * fetch + (1.0 - p_fetch) * per_round * hit)
    }

    /// CPU ns of reading `nodes` nodes of `dim` values: parsing, the full distance, and
    /// the code distances of their `degree` neighbours each.
    fn nodes_cpu_ns(&self, nodes: f64, dim: usize, degree: usize, code_ns: f64) -> f64 {
        nodes * (self.node_ns + dim as f64 * self.graph_dim_ns) + self.code_scan_ns(nodes * degree as f64, code_ns)
    }

    /// Estimated ns of a DiskANN beam search shaped `shape` (of `dim` values) through a
    /// reader costing `read`, at `beam_width` reads per round.
    pub fn beam_ns(&self, shape: &OnDemand, dim: usize, beam_width: usize, read: &ReadCost) -> f64 {
        let per_round = (shape.reads / shape.rounds).clamp(1.0, beam_width.max(1) as f64);
        self.reads_ns(shape.rounds, per_round, read) + self.nodes_cpu_ns(shape.reads, dim, shape.degree, shape.code_ns)
    }

    /// Estimated ns of a DiskANN code scan of `scanned` rows' codes (those a filter
    /// matches, or all), then one round reading `shape.scan_reads` nodes.
    pub fn code_then_rerank_ns(&self, shape: &OnDemand, scanned: u64, dim: usize, read: &ReadCost) -> f64 {
        let keep = shape.scan_reads.max(1) as f64;
        self.code_scan_ns(scanned as f64, shape.code_ns) + self.reads_ns(1.0, keep, read) + self.nodes_cpu_ns(keep, dim, 0, 0.0)
    }

    /// Estimated ns of reading and scoring `matched` nodes (brute force over a filter's
    /// matches in a DiskANN segment: rounds of up to 4,096 reads).
    pub fn nodes_read_ns(&self, matched: u64, dim: usize, read: &ReadCost) -> f64 {
        let rounds = matched.div_ceil(SCAN_BATCH as u64).max(1) as f64;
        self.reads_ns(rounds, matched as f64 / rounds, read) + self.nodes_cpu_ns(matched as f64, dim, 0, 0.0)
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

    #[test]
    fn a_cold_reader_scans_codes_and_a_warm_one_walks_the_graph() {
        let m = CostModel::default();
        // GloVe-50 in one DiskANN-PQ segment (R 48, 25-byte codes), L 64, W 4.
        let shape = OnDemand { rounds: 21.0, reads: 83.0, degree: 48, code_ns: 36.0, scan_reads: 64 };
        let (rows, dim, w) = (390_000, 50, 4);
        let rtt = Some(20e6);
        let cold = ReadCost { resident: 0.0, fetch_ns: rtt, hit_ns: None };
        assert!(m.code_then_rerank_ns(&shape, rows, dim, &cold) < m.beam_ns(&shape, dim, w, &cold) / 10.0);
        let warm = ReadCost { resident: 1.0, fetch_ns: rtt, hit_ns: Some(3_000.0) };
        assert!(m.beam_ns(&shape, dim, w, &warm) < m.code_then_rerank_ns(&shape, rows, dim, &warm) / 3.0);
        // Half the blocks cached: nearly every round of 4 still fetches.
        let half = ReadCost { resident: 0.5, ..warm };
        assert!(m.code_then_rerank_ns(&shape, rows, dim, &half) < m.beam_ns(&shape, dim, w, &half));
        // A filter matching 100 rows: reading their nodes in one round is cheaper than a
        // beam search; with 30, cheaper than a code scan reranking 64 when warm.
        assert!(m.nodes_read_ns(100, dim, &cold) < m.beam_ns(&shape, dim, w, &cold));
        assert!(m.nodes_read_ns(30, dim, &warm) < m.code_then_rerank_ns(&shape, 30, dim, &warm));
        // 100,000 matches, cold: 25 rounds of reads cost more than one code scan.
        assert!(m.code_then_rerank_ns(&shape, 100_000, dim, &cold) < m.nodes_read_ns(100_000, dim, &cold));
    }
}
