//! Index kinds the engine can open and build: the [`IndexFactory`] trait, the factories of
//! the built-in kinds (Flat, HNSW, DiskANN) and the [`IndexRegistry`] that maps a segment's
//! kind (its header code) to the factory that opens it.
//!
//! A user index is a type implementing [`Index`] plus a factory for it, registered with the
//! engine under a [`SegmentKind::custom`] code (128 to 255). The engine then opens segments
//! of that kind, and writes compaction outputs with it when the database's options ask for
//! it. `indexes::conformance` (feature `test-util`) checks a factory the way the engine
//! relies on it.

use std::collections::BTreeMap;
use std::sync::Arc;

use stratovec_formats::segment::{SectionKind, SegmentBytes, SegmentKind, SegmentWriter};
use stratovec_formats::FormatError;

use crate::{
    DiskAnnBuild, DiskAnnIndex, DiskAnnParams, FlatIndex, HnswGraph, HnswIndex, HnswParams, Index, IndexError, Metric, OpenIndex,
    SectorRead,
};

/// The rows an index is built from.
#[derive(Debug, Clone, Copy)]
pub struct BuildInput<'a> {
    /// `rows × dim` values, row-major; cosine rows are already normalised.
    pub vectors: &'a [f32],
    /// Vector dimension (≥ 1).
    pub dim: usize,
    /// Metric the index ranks by.
    pub metric: Metric,
}

impl BuildInput<'_> {
    /// Number of rows (`vectors.len() / dim`).
    pub fn rows(&self) -> usize {
        self.vectors.len().checked_div(self.dim).unwrap_or(0)
    }
}

/// An index built by [`IndexFactory::build`], ready to be written into a segment.
pub struct BuiltIndex {
    write: Box<dyn FnOnce(&mut SegmentWriter) + Send>,
    bytes_estimate: usize,
    order: Option<Vec<u32>>,
}

impl std::fmt::Debug for BuiltIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltIndex").field("bytes_estimate", &self.bytes_estimate).field("renumbered", &self.order.is_some()).finish()
    }
}

impl BuiltIndex {
    /// An index whose sections are those [`Index::write_sections`] writes; `bytes_estimate`
    /// is their expected total size in bytes (a capacity hint).
    pub fn from_index(index: impl Index + 'static, bytes_estimate: usize) -> Self {
        BuiltIndex::from_writer(bytes_estimate, move |w| index.write_sections(w))
    }

    /// An index written by `write` (sections of about `bytes_estimate` bytes in total).
    pub fn from_writer(bytes_estimate: usize, write: impl FnOnce(&mut SegmentWriter) + Send + 'static) -> Self {
        BuiltIndex { write: Box::new(write), bytes_estimate, order: None }
    }

    /// The index stores the rows in another order: `order[new_row] = input_row` (a
    /// permutation of `0..rows`, e.g. DiskANN's locality order). The engine renumbers keys,
    /// metadata and payloads to match.
    pub fn with_order(mut self, order: Vec<u32>) -> Self {
        self.order = Some(order);
        self
    }

    /// Expected size of the sections, in bytes.
    pub fn bytes_estimate(&self) -> usize {
        self.bytes_estimate
    }

    /// The row order set by [`BuiltIndex::with_order`], if any.
    pub fn order(&self) -> Option<&[u32]> {
        self.order.as_deref()
    }

    /// Writes the index sections into `writer` (the engine then adds keys and metadata).
    pub fn write_sections(self, writer: &mut SegmentWriter) {
        (self.write)(writer)
    }
}

/// Opens and builds the index of one segment kind.
///
/// The engine calls [`IndexFactory::open`] for every segment whose header carries
/// [`IndexFactory::kind`], and [`IndexFactory::build`] for compaction outputs of that kind.
/// A factory writes the index's own sections; the engine adds keys (section 2), metadata
/// (8) and payloads (9). Section codes at or above `0x8000_0000` are never used by
/// stratovec; below that, use only the built-in sections whose layout you keep (e.g.
/// vectors, 1).
pub trait IndexFactory: Send + Sync + std::fmt::Debug {
    /// The segment kind this factory opens and builds.
    fn kind(&self) -> SegmentKind;

    /// Short lower-case name for logs and statistics (`flat`, `ivf-flat`).
    fn name(&self) -> &str;

    /// Sections that stay in the store and are read on demand through a positional reader
    /// rather than loaded when the index opens (DiskANN nodes). Default: none.
    fn on_demand_sections(&self) -> &[SectionKind] {
        &[]
    }

    /// Opens the index over the sections of `file`, which holds every section except, when
    /// `on_demand` is given, those of [`IndexFactory::on_demand_sections`] (read them
    /// through `on_demand`, at file offsets). With `verify`, check section CRC32Cs. The index
    /// must hold as many rows as the segment header says.
    ///
    /// # Errors
    /// [`IndexError::Format`] for a missing, short or damaged section.
    fn open(&self, file: &SegmentBytes, on_demand: Option<Arc<dyn SectorRead>>, verify: bool) -> Result<Box<dyn Index>, IndexError>;

    /// Builds an index over `input`'s rows.
    ///
    /// # Errors
    /// [`IndexError::InvalidArgument`] for parameters or rows the index cannot take.
    fn build(&self, input: BuildInput<'_>) -> Result<BuiltIndex, IndexError>;
}

/// Exact search over the vectors section ([`FlatIndex`]), or a scan of quantized codes
/// with f32 rerank when built with `codes`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatFactory {
    /// Codes written beside the vectors (trained on the segment's rows): searches scan the
    /// codes and rerank `k × rerank_factor` candidates with f32 ([`FlatIndex::with_codes`]).
    /// Default `None`: exact scans.
    pub codes: Option<crate::CodeKind>,
}

impl IndexFactory for FlatFactory {
    fn kind(&self) -> SegmentKind {
        SegmentKind::FLAT
    }
    fn name(&self) -> &str {
        "flat"
    }
    fn open(&self, file: &SegmentBytes, _: Option<Arc<dyn SectorRead>>, verify: bool) -> Result<Box<dyn Index>, IndexError> {
        Ok(Box::new(FlatIndex::open(file, verify)?))
    }
    fn build(&self, input: BuildInput<'_>) -> Result<BuiltIndex, IndexError> {
        let mut flat = FlatIndex::from_vectors(input.vectors.to_vec(), input.dim, input.metric)?;
        if let Some(kind) = self.codes {
            flat = flat.with_codes(kind, &crate::PqParams::default())?;
        }
        Ok(BuiltIndex::from_index(flat, input.vectors.len() * 4 + input.rows() * input.dim))
    }
}

/// HNSW over the vectors section ([`HnswIndex`]; built with [`HnswGraph`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct HnswFactory {
    /// `M` and `ef_construction` of builds.
    pub params: HnswParams,
    /// Codes written beside the graph (trained on the segment's rows) for the traversal
    /// to score, the f32 vectors rescoring the candidates: HNSW-SQ with
    /// `Some(CodeKind::Sq8)`. Default `None`: f32 throughout.
    pub codes: Option<crate::CodeKind>,
}

impl IndexFactory for HnswFactory {
    fn kind(&self) -> SegmentKind {
        SegmentKind::HNSW
    }
    fn name(&self) -> &str {
        "hnsw"
    }
    fn open(&self, file: &SegmentBytes, _: Option<Arc<dyn SectorRead>>, verify: bool) -> Result<Box<dyn Index>, IndexError> {
        Ok(Box::new(HnswIndex::open(file, verify)?))
    }
    fn build(&self, input: BuildInput<'_>) -> Result<BuiltIndex, IndexError> {
        let mut graph = HnswGraph::new(input.dim, input.metric, self.params)?;
        graph.insert_batch(input.vectors)?;
        let estimate = input.rows() * (input.dim * 4 + 8 * self.params.m + 8);
        let Some(kind) = self.codes else { return Ok(BuiltIndex::from_index(graph, estimate)) };
        let codes = crate::QuantizedCodes::build(kind, input.vectors, input.dim, input.metric, &crate::PqParams::default())?;
        Ok(BuiltIndex::from_writer(estimate + input.rows() * codes.code_len(), move |w| {
            graph.write_sections(w);
            codes.write_sections(w);
        }))
    }
}

/// DiskANN ([`DiskAnnIndex`]): nodes stay in the store, read on demand.
#[derive(Debug, Clone, Default)]
pub struct DiskAnnFactory {
    /// Vamana graph and code parameters of builds.
    pub params: DiskAnnParams,
}

impl IndexFactory for DiskAnnFactory {
    fn kind(&self) -> SegmentKind {
        SegmentKind::DISKANN
    }
    fn name(&self) -> &str {
        "diskann"
    }
    fn on_demand_sections(&self) -> &[SectionKind] {
        &[SectionKind::DISKANN_NODES]
    }
    /// Nodes read through `on_demand` (a cache over a store) are checked read by read, as
    /// checking the whole section would download it; nodes in a whole file are checked
    /// once at open when `verify` is set.
    fn open(&self, file: &SegmentBytes, on_demand: Option<Arc<dyn SectorRead>>, verify: bool) -> Result<Box<dyn Index>, IndexError> {
        if let Some(reader) = on_demand {
            return Ok(Box::new(DiskAnnIndex::open(file, verify, reader)?.checking_reads()));
        }
        let whole = file.file().ok_or_else(|| FormatError::Invalid("DiskANN nodes neither fetched nor readable".into()))?;
        let index = DiskAnnIndex::open(file, verify, Arc::new(whole.clone()))?;
        if verify {
            index.verify_nodes(file.layout())?;
        }
        Ok(Box::new(index))
    }
    fn build(&self, input: BuildInput<'_>) -> Result<BuiltIndex, IndexError> {
        let built = DiskAnnBuild::build(input.vectors, input.dim, input.metric, &self.params, &|_, _| {})?;
        let estimate = built.nodes.len() + input.rows() * 64 + 8192;
        let order = built.order.clone();
        Ok(BuiltIndex::from_writer(estimate, move |w| built.write_sections(w)).with_order(order))
    }
}

/// The factories of a database, by segment kind: Flat, HNSW and DiskANN, plus any
/// registered user kinds.
#[derive(Debug, Clone)]
pub struct IndexRegistry {
    factories: BTreeMap<SegmentKind, Arc<dyn IndexFactory>>,
}

impl IndexRegistry {
    /// The built-in kinds, built by these factories (their codes and graph parameters).
    pub fn builtin(flat: FlatFactory, hnsw: HnswFactory, diskann: DiskAnnFactory) -> Self {
        let factories: [Arc<dyn IndexFactory>; 3] = [Arc::new(flat), Arc::new(hnsw), Arc::new(diskann)];
        IndexRegistry { factories: factories.into_iter().map(|f| (f.kind(), f)).collect() }
    }

    /// Adds a user kind.
    ///
    /// # Errors
    /// [`IndexError::InvalidArgument`] when the factory's kind is not a user kind
    /// ([`SegmentKind::is_custom`]) or is registered already.
    pub fn register(&mut self, factory: Arc<dyn IndexFactory>) -> Result<(), IndexError> {
        let kind = factory.kind();
        if !kind.is_custom() {
            return Err(IndexError::InvalidArgument(format!(
                "index {} uses kind code {}, reserved for stratovec (user kinds: 128 to 255)",
                factory.name(),
                kind.code()
            )));
        }
        if let Some(old) = self.factories.get(&kind) {
            return Err(IndexError::InvalidArgument(format!("kind {kind} is registered twice ({} and {})", old.name(), factory.name())));
        }
        self.factories.insert(kind, factory);
        Ok(())
    }

    /// The factory of `kind`.
    ///
    /// # Errors
    /// [`IndexError::UnknownKind`] when no factory is registered for it.
    pub fn get(&self, kind: SegmentKind) -> Result<&Arc<dyn IndexFactory>, IndexError> {
        self.factories.get(&kind).ok_or(IndexError::UnknownKind(kind))
    }

    /// The registered kinds, in code order.
    pub fn kinds(&self) -> impl Iterator<Item = SegmentKind> + '_ {
        self.factories.keys().copied()
    }
}
