use std::sync::Arc;

use stratovec_backends::CommitStore;
use stratovec_indexes::HnswParams;

/// Tuning of a database; every field has a sane default ([`DbOptions::default`]).
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// HNSW parameters of the memtable graph (and so of HNSW segments). Default
    /// `M = 16, ef_construction = 200`.
    pub hnsw: HnswParams,
    /// A commit of fewer rows than this writes a Flat segment, otherwise an HNSW segment
    /// keeping the memtable's graph. Default 10,000.
    pub flat_threshold: usize,
    /// Check the CRC32C of every section when opening segments (one pass over the bytes).
    /// Default `true`.
    pub verify_on_open: bool,
    /// Publishes manifests; default: create-only `MANIFEST-*` objects in the same store.
    pub commit_store: Option<Arc<dyn CommitStore>>,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions { hnsw: HnswParams::default(), flat_threshold: 10_000, verify_on_open: true, commit_store: None }
    }
}

impl DbOptions {
    /// Sets `M` and `ef_construction`.
    pub fn with_hnsw(mut self, m: usize, ef_construction: usize) -> Self {
        self.hnsw.m = m;
        self.hnsw.ef_construction = ef_construction;
        self
    }

    /// Sets the Flat/HNSW row threshold of commits.
    pub fn with_flat_threshold(mut self, rows: usize) -> Self {
        self.flat_threshold = rows;
        self
    }

    /// Sets a custom commit store.
    pub fn with_commit_store(mut self, commits: Arc<dyn CommitStore>) -> Self {
        self.commit_store = Some(commits);
        self
    }
}

/// Per-query options (`ef_search`, default 64; raised to `k` when smaller).
pub use stratovec_indexes::SearchParams;
