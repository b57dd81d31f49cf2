use stratovec_formats::segment::{SegmentBytes, SegmentKind, SegmentWriter};

use crate::{Candidate, IndexError, Metric};

/// Per-query search parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchParams {
    /// Search list size of graph indexes: HNSW's `ef_search` on level 0, DiskANN's `L`;
    /// raised to `k` when smaller. Ignored by Flat. Default 64.
    pub ef_search: usize,
    /// Quantized search: `k × rerank_factor` candidates are found by code distance, then
    /// re-scored with the full-precision vectors; 0 disables the rerank (results carry
    /// approximate distances). Ignored by indexes without codes. Default 4.
    pub rerank_factor: usize,
    /// DiskANN beam width `W`: node blocks read per hop, in one batch. Default 4.
    pub beam_width: usize,
    /// Graph search with a filter: a neighbour the filter rejects is not scored but
    /// replaced by its own neighbours that the filter accepts (two-hop expansion, as in
    /// ACORN-1: Patel et al., "ACORN: Performant and Predicate-Agnostic Search Over Vector
    /// Embeddings and Structured Data", SIGMOD 2024), so the search walks the subgraph of
    /// accepted rows. Helps when few rows pass; the engine's planner sets it. Default off.
    pub two_hop: bool,
    /// DiskANN: skip the graph; score every row by its code (in RAM), then rerank the best
    /// `max(ef_search, k × rerank_factor)` with their full vectors read in one batch. Costs
    /// one batch of node reads instead of one per hop: for a cold cache over a store with a
    /// high round-trip time (a replica's first queries over S3) it is faster; on local disk
    /// or a warm cache the graph is. Ignored by other indexes. Default off.
    pub scan_codes: bool,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams { ef_search: 64, rerank_factor: 4, beam_width: 4, two_hop: false, scan_codes: false }
    }
}

impl SearchParams {
    /// The defaults with `ef_search` set.
    pub fn with_ef(ef_search: usize) -> Self {
        SearchParams { ef_search, ..Self::default() }
    }
}

/// Decides which rows of an index may be returned (e.g. rows that are not tombstoned).
pub trait RowFilter: Sync {
    /// `true` if `row` may appear in the results.
    fn accept(&self, row: u32) -> bool;
}

impl<F: Fn(u32) -> bool + Sync> RowFilter for F {
    fn accept(&self, row: u32) -> bool {
        self(row)
    }
}

/// A searchable index over the rows of one segment (or of the memtable).
///
/// Rows are numbered `0..rows()`; the engine maps them to user keys. Implementations:
/// [`crate::FlatIndex`] (exact), [`crate::HnswIndex`] (HNSW over segment bytes) and
/// [`crate::HnswGraph`] (the growable HNSW of the memtable).
pub trait Index: Send + Sync + std::fmt::Debug {
    /// Which segment kind this index writes.
    fn kind(&self) -> SegmentKind;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Metric (cosine vectors are expected to be normalised already).
    fn metric(&self) -> Metric;
    /// Number of rows.
    fn rows(&self) -> usize;
    /// The stored vector of `row` (`dim` values), `None` if out of range.
    ///
    /// # Errors
    /// `Io` or `Format` for indexes that read vectors from storage (DiskANN nodes) when the
    /// read fails or the bytes are damaged: never reported as an absent row.
    fn vector(&self, row: u32) -> Result<Option<std::borrow::Cow<'_, [f32]>>, IndexError>;
    /// The stored vectors of `rows`, each passed to `each(i, vector)` (`i` its position in
    /// `rows`, in any order; rows out of range are skipped). Default: [`Index::vector`] row by
    /// row; an index reading on demand reads them in one batch (DiskANN: one round).
    ///
    /// # Errors
    /// As [`Index::vector`].
    fn vectors_of(&self, rows: &[u32], each: &mut dyn FnMut(usize, &[f32])) -> Result<(), IndexError> {
        for (i, &row) in rows.iter().enumerate() {
            if let Some(v) = self.vector(row)? {
                each(i, &v);
            }
        }
        Ok(())
    }
    /// Up to `k` rows closest to `query` (length `dim`, normalised for cosine) that pass
    /// `filter`, closest first.
    ///
    /// # Errors
    /// [`IndexError::DimensionMismatch`] when `query.len() != dim`.
    fn search(&self, query: &[f32], k: usize, params: &SearchParams, filter: Option<&dyn RowFilter>) -> Result<Vec<Candidate>, IndexError>;
    /// Appends this index's sections (vectors and any index structure) to a segment.
    fn write_sections(&self, writer: &mut SegmentWriter);
    /// The f32 vectors as one row-major slice in memory (`rows × dim` values), when the
    /// index keeps them so: the engine's planner may then scan them exactly
    /// ([`crate::exact_search`]) instead of searching the index, when that costs less.
    /// Default `None` (DiskANN keeps full vectors in on-disk nodes).
    fn vectors_in_memory(&self) -> Option<&[f32]> {
        None
    }

    /// For an index that reads nodes on demand (DiskANN): how a search of `k` rows with
    /// `params` reads, so a planner can price its graph search (many small rounds of
    /// reads) against [`SearchParams::scan_codes`] (one scan of the codes in RAM, then one
    /// round). Default `None`: the index reads nothing on demand.
    fn on_demand(&self, _k: usize, _params: &SearchParams) -> Option<OnDemand> {
        None
    }
}

/// How a search of an index reading on demand reads ([`Index::on_demand`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnDemand {
    /// Graph search: rounds of reads per query (each round reads `beam_width` nodes at once).
    pub rounds: f64,
    /// Graph search: nodes read (expanded) per query.
    pub reads: f64,
    /// Graph search: neighbours per node whose code distance is computed (the maximum
    /// out-degree R).
    pub degree: usize,
    /// Time to score one row's code, in ns, measured on this CPU (code kind and length
    /// included); the graph search scores `degree` codes per node read, the code scan
    /// every row's.
    pub code_ns: f64,
    /// Code scan: nodes read in its one round (the candidates reranked).
    pub scan_reads: usize,
}

/// An index that can be opened from the bytes of a segment it wrote.
pub trait OpenIndex: Index + Sized {
    /// Opens the index over the sections of `file` (the whole segment, e.g. an mmap, or the
    /// sections fetched by ranged reads). Sections are viewed zero-copy when aligned; nothing
    /// is rebuilt.
    ///
    /// # Errors
    /// [`IndexError::Format`] when a section is missing, has the wrong size or fails its CRC32C
    /// (checked when `verify` is true).
    fn open(file: &SegmentBytes, verify: bool) -> Result<Self, IndexError>;
}

/// Row `row` of row-major `vectors` with `dim` values per row, `None` if out of range.
pub(crate) fn row_of(vectors: &[f32], dim: usize, row: u32) -> Option<std::borrow::Cow<'_, [f32]>> {
    let start = row as usize * dim;
    vectors.get(start..start + dim).map(std::borrow::Cow::Borrowed)
}

pub(crate) fn check_dim(expected: usize, got: usize) -> Result<(), IndexError> {
    if expected == got {
        Ok(())
    } else {
        Err(IndexError::DimensionMismatch { expected, got })
    }
}
