use std::sync::Arc;

use stratovec_backends::CommitStore;
use stratovec_formats::segment::SegmentKind;
use stratovec_indexes::{DiskAnnParams, HnswParams, IndexFactory, IndexRegistry};

use crate::maintenance::compaction::{CompactionPolicy, SizeTiered};

/// Tuning of a database; every field has a sane default ([`DbOptions::default`]).
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// HNSW parameters of the memtable graph (and so of HNSW segments). Default
    /// `M = 16, ef_construction = 200`.
    pub hnsw: HnswParams,
    /// Codes HNSW segments carry for their traversal (written at commit and compaction,
    /// trained on the segment's rows; the f32 vectors stay for rescoring the `ef`
    /// candidates): `Some(CodeKind::Sq8)` is HNSW-SQ8, `dim` more bytes per row on disk and
    /// a quarter of the bytes read per hop. The memtable's graph always searches in f32.
    /// Default `None`.
    pub hnsw_codes: Option<stratovec_indexes::CodeKind>,
    /// Codes Flat segments carry (written at commit and compaction, trained on the
    /// segment's rows): searches scan the codes and rerank `k × rerank_factor` candidates
    /// with the f32 vectors. Flat segments come from [`DbOptions::flat_threshold`] and from
    /// compaction outputs too small for a graph. Default `None`: exact scans.
    pub flat_codes: Option<stratovec_indexes::CodeKind>,
    /// When not 0, a commit or compaction output of fewer rows than this writes a Flat
    /// segment (no graph), and more rows a graph. Default 0: a commit keeps the memtable's HNSW graph whatever its size (the
    /// planner still scans small segments exactly when that is cheaper, see
    /// [`DbOptions::cost_model`]), and a compaction output is Flat only where
    /// [`crate::CostModel::graph_never_pays`].
    pub flat_threshold: usize,
    /// A compaction whose output has at least this many live rows writes a DiskANN segment
    /// (graph and full vectors on disk, codes in RAM); below it HNSW, or Flat where
    /// [`DbOptions::flat_threshold`] says. Default 1,000,000.
    pub diskann_threshold: usize,
    /// A compaction whose output's vectors take at least this many bytes (`rows × dim × 4`)
    /// writes a DiskANN segment too, whatever its rows: an HNSW segment keeps its vectors
    /// in memory (mapped), a DiskANN one only its codes. Default 1 GiB (about 350,000 rows
    /// of 768 dimensions, 175,000 of 1,536).
    pub diskann_threshold_bytes: u64,
    /// Prices exact scans and graph searches: each search of an HNSW segment or of the
    /// memtable takes the cheaper (reported by [`crate::Explain`]), and compaction writes
    /// Flat outputs where a graph never pays. Default [`crate::CostModel::default`].
    pub cost_model: crate::CostModel,
    /// DiskANN build parameters of compaction outputs. Default R 48, L 96, alpha 1.2, PQ
    /// codes with `m = ceil(dim / 2)`.
    pub diskann: DiskAnnParams,
    /// Chooses what [`crate::Db::compact`] and the background compactor merge. Default
    /// [`SizeTiered::default`].
    pub compaction: Arc<dyn CompactionPolicy>,
    /// Files no longer referenced (inputs of a compaction, replaced tombstone files) are
    /// deleted once this many newer versions exist, so readers of the last
    /// `retain_versions` manifests can still open them. Minimum 1. Default 4.
    pub retain_versions: u64,
    /// Largest payload of one record, in bytes. Default 1 MiB.
    pub max_payload_bytes: usize,
    /// When writes become durable: at commit (default) or on return, through a
    /// write-ahead log.
    pub durability: crate::Durability,
    /// When a write leaves the memtable holding at least this many bytes (vectors, graph,
    /// keys, metadata), it commits before returning (blocking that writer; with a store
    /// whose futures need an async runtime, commit yourself and set `None`). A failed
    /// automatic commit keeps the rows frozen and searchable; [`crate::Stats`] reports it,
    /// and later writes retry the commit first and fail with its error (applying nothing)
    /// until a commit succeeds, so memory stays bounded while the store fails.
    /// Default 256 MiB.
    pub memtable_limit_bytes: Option<usize>,
    /// Types of metadata fields, checked on every write. Default `None` (any metadata).
    pub schema: Option<crate::Schema>,
    /// Check the CRC32C of every section when opening segments (one pass over the bytes).
    /// Default `true`.
    pub verify_on_open: bool,
    /// Publishes manifests; default: create-only `MANIFEST-*` objects in the same store.
    pub commit_store: Option<Arc<dyn CommitStore>>,
    /// Read segments through this block cache (RAM, optionally disk) by ranged reads, for
    /// object stores: opening a segment reads its header and footer, then the sections held
    /// in RAM (vectors and graph of Flat and HNSW segments; codes and ids of DiskANN
    /// segments), and DiskANN nodes are read on demand through the cache. `None` (the
    /// default) fetches each segment whole, the right choice for a local disk (an mmap).
    pub cache: Option<stratovec_backends::cache::BlockCache>,
    /// User index kinds this database opens (and may build): each factory's kind is a
    /// [`SegmentKind::custom`] code. A segment of a kind not registered here fails to open
    /// with `Incompatible`. Default none.
    pub indexes: Vec<Arc<dyn IndexFactory>>,
    /// The index kind of compaction outputs that are not Flat (see
    /// [`DbOptions::flat_threshold`]), instead of HNSW (below `diskann_threshold`) and
    /// DiskANN: a built-in kind or one of `indexes`.
    /// Default `None` (HNSW and DiskANN by size).
    pub compaction_index: Option<SegmentKind>,
    /// A name for this database: the `db` label of every metric ([`crate::metrics`]) and a
    /// field of its log events, for processes that hold several. Default `None`.
    pub name: Option<String>,
    /// Thresholds of [`crate::Db::health`]. Default [`crate::HealthThresholds::default`].
    pub health: crate::HealthThresholds,
    /// Hard limit on the bytes of uncommitted rows (active and frozen memtables; the soft
    /// limit is [`DbOptions::memtable_limit_bytes`]): a write that finds them over it waits
    /// for a commit to free memory, up to [`DbOptions::write_stall_timeout`], then fails
    /// with `ResourceExhausted`. `None`: no limit. Default 1 GiB (4 × the soft limit).
    pub memory_limit_bytes: Option<usize>,
    /// How long a write waits under [`DbOptions::memory_limit_bytes`]. Default 10 s.
    pub write_stall_timeout: std::time::Duration,
    /// Most live keys: a write that would exceed it fails with `ResourceExhausted`.
    /// Default `None` (no limit).
    pub max_rows: Option<u64>,
    /// Most searches running at once on this handle; more wait up to
    /// [`DbOptions::search_queue_timeout`], then fail with `ResourceExhausted`. Default
    /// `None` (no limit).
    pub max_concurrent_searches: Option<usize>,
    /// How long a search waits for a slot under [`DbOptions::max_concurrent_searches`]
    /// (zero: fail at once). Default 1 s.
    pub search_queue_timeout: std::time::Duration,
    /// Fraction of searches the recall monitor re-runs exactly (0..=1; one in
    /// `round(1 / rate)`), once [`crate::Db::spawn_recall_monitor`] runs. Default 0 (off).
    pub recall_sample_rate: f64,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            hnsw: HnswParams::default(),
            hnsw_codes: None,
            flat_codes: None,
            flat_threshold: 0,
            cost_model: crate::CostModel::default(),
            diskann_threshold: 1_000_000,
            diskann_threshold_bytes: 1 << 30,
            diskann: DiskAnnParams::default(),
            compaction: Arc::new(SizeTiered::default()),
            retain_versions: 4,
            max_payload_bytes: 1 << 20,
            durability: crate::Durability::Commit,
            memtable_limit_bytes: Some(256 << 20),
            schema: None,
            verify_on_open: true,
            commit_store: None,
            cache: None,
            indexes: Vec::new(),
            compaction_index: None,
            name: None,
            health: crate::HealthThresholds::default(),
            memory_limit_bytes: Some(1 << 30),
            write_stall_timeout: std::time::Duration::from_secs(10),
            max_rows: None,
            max_concurrent_searches: None,
            search_queue_timeout: std::time::Duration::from_secs(1),
            recall_sample_rate: 0.0,
        }
    }
}

impl DbOptions {
    /// Reads segments through `cache` (see [`DbOptions::cache`]).
    pub fn with_cache(mut self, cache: stratovec_backends::cache::BlockCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Sets `M` and `ef_construction`.
    pub fn with_hnsw(mut self, m: usize, ef_construction: usize) -> Self {
        self.hnsw.m = m;
        self.hnsw.ef_construction = ef_construction;
        self
    }

    /// Sets the codes HNSW segments traverse with ([`DbOptions::hnsw_codes`]).
    pub fn with_hnsw_codes(mut self, codes: Option<stratovec_indexes::CodeKind>) -> Self {
        self.hnsw_codes = codes;
        self
    }

    /// Sets the codes Flat segments scan ([`DbOptions::flat_codes`]).
    pub fn with_flat_codes(mut self, codes: Option<stratovec_indexes::CodeKind>) -> Self {
        self.flat_codes = codes;
        self
    }

    /// Sets the Flat/HNSW row threshold of commits and compaction outputs.
    pub fn with_flat_threshold(mut self, rows: usize) -> Self {
        self.flat_threshold = rows;
        self
    }

    /// Sets the DiskANN row threshold of compaction outputs.
    pub fn with_diskann_threshold(mut self, rows: usize) -> Self {
        self.diskann_threshold = rows;
        self
    }

    /// Sets the DiskANN threshold of compaction outputs in bytes of vectors.
    pub fn with_diskann_threshold_bytes(mut self, bytes: u64) -> Self {
        self.diskann_threshold_bytes = bytes;
        self
    }

    /// Sets the compaction policy.
    pub fn with_compaction(mut self, policy: impl CompactionPolicy + 'static) -> Self {
        self.compaction = Arc::new(policy);
        self
    }

    /// Sets the durability mode.
    pub fn with_durability(mut self, durability: crate::Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the metadata schema.
    pub fn with_schema(mut self, schema: crate::Schema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Registers a user index kind (see [`DbOptions::indexes`]).
    pub fn with_index(mut self, factory: Arc<dyn IndexFactory>) -> Self {
        self.indexes.push(factory);
        self
    }

    /// Writes compaction outputs that are not Flat as `kind` (see
    /// [`DbOptions::compaction_index`]).
    pub fn with_compaction_index(mut self, kind: SegmentKind) -> Self {
        self.compaction_index = Some(kind);
        self
    }

    /// The index factories of a database with these options: the built-in kinds (HNSW
    /// built with [`DbOptions::hnsw`], DiskANN with [`DbOptions::diskann`]) and
    /// [`DbOptions::indexes`].
    ///
    /// # Errors
    /// `InvalidArgument` when a user factory has a reserved or duplicate kind, or
    /// `compaction_index` names a kind that is not registered.
    pub fn index_registry(&self) -> crate::Result<IndexRegistry> {
        let invalid = |e: stratovec_indexes::IndexError| crate::Error::invalid(format!("index registry: {e}"));
        let mut registry = IndexRegistry::builtin(
            stratovec_indexes::FlatFactory { codes: self.flat_codes },
            stratovec_indexes::HnswFactory { params: self.hnsw, codes: self.hnsw_codes },
            stratovec_indexes::DiskAnnFactory { params: self.diskann.clone() },
        );
        for factory in &self.indexes {
            registry.register(factory.clone()).map_err(invalid)?;
        }
        if let Some(kind) = self.compaction_index {
            registry.get(kind).map_err(invalid)?;
        }
        Ok(registry)
    }

    /// Sets a custom commit store.
    pub fn with_commit_store(mut self, commits: Arc<dyn CommitStore>) -> Self {
        self.commit_store = Some(commits);
        self
    }
}

/// Per-query options (`ef_search`, default 64; raised to `k` when smaller).
pub use stratovec_indexes::SearchParams;
