//! DiskANN segments (Subramanya et al., NeurIPS 2019): a Vamana graph whose nodes (full
//! vector + neighbour list) live in 4 KiB sectors read on demand through a [`SectorRead`],
//! while compressed codes (PQ by default) stay in RAM to steer the search.
//!
//! Search is the paper's beam search: keep a candidate list of size `L` ordered by code
//! distance; each hop reads the node blocks of the `W` closest unexpanded candidates in
//! one batch, scores their full vectors exactly (the rerank), and adds their neighbours by
//! code distance. The result is the `k` best exact distances among the expanded nodes.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use stratovec_formats::diskann::{encode_node, DiskAnnMeta, NodeCrcs};
use stratovec_formats::segment::{SectionKind, SegmentBytes, SegmentKind, SegmentLayout, SegmentWriter};
use stratovec_formats::FormatError;

use crate::codes::{CodeKind, QuantizedCodes};
use crate::graph_search::with_scratch;
use crate::index::check_dim;
use crate::vamana::{build_vamana, VamanaParams};
use crate::{Candidate, Index, IndexError, Metric, PqParams, RowFilter, Scorer, SearchParams};

/// Random access to the bytes of one segment file, for indexes that read parts of it on
/// demand (DiskANN node sectors).
pub trait SectorRead: Send + Sync + std::fmt::Debug {
    /// Reads `len` bytes at each of `offsets` (byte offsets in the segment file) and calls
    /// `each(i, bytes)` once per request `i`, in any order. Implementations may batch the
    /// reads (io_uring) and require aligned offsets and lengths (O_DIRECT); DiskANN always
    /// asks for whole 4096-byte sectors at 4096-byte-aligned offsets.
    ///
    /// # Errors
    /// An I/O error, including a short read past the end of the file.
    fn read_batch(&self, offsets: &[u64], len: usize, each: &mut dyn FnMut(usize, &[u8])) -> std::io::Result<()>;
}

/// The whole file in memory (or an mmap): reads are slices.
impl SectorRead for Bytes {
    fn read_batch(&self, offsets: &[u64], len: usize, each: &mut dyn FnMut(usize, &[u8])) -> std::io::Result<()> {
        for (i, &off) in offsets.iter().enumerate() {
            let bytes = usize::try_from(off).ok().and_then(|o| self.get(o..o.checked_add(len)?));
            each(i, bytes.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("read {len} bytes at {off}")))?);
        }
        Ok(())
    }
}

/// Parameters of a DiskANN build.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskAnnParams {
    /// Graph parameters (R, L, alpha, passes).
    pub vamana: VamanaParams,
    /// Codes kept in RAM for navigation: PQ (default), SQ8 or INT4.
    pub codes: CodeKind,
    /// PQ parameters when `codes` is PQ (default `m = ceil(dim / 2)`).
    pub pq: PqParams,
}

impl Default for DiskAnnParams {
    fn default() -> Self {
        DiskAnnParams { vamana: VamanaParams::default(), codes: CodeKind::Pq, pq: PqParams::default() }
    }
}

/// A DiskANN segment built in memory, ready to be written: rows are renumbered in
/// breadth-first order from the entry for locality, so `order[new_row] = input_row`.
#[derive(Debug)]
pub struct DiskAnnBuild {
    /// Vector dimension.
    pub dim: usize,
    /// Metric.
    pub metric: Metric,
    /// Layout parameters.
    pub meta: DiskAnnMeta,
    /// Codes of the rows, in the new order.
    pub codes: QuantizedCodes,
    /// The nodes section.
    pub nodes: Vec<u8>,
    /// `order[new_row] = input_row`: write ids in this order.
    pub order: Vec<u32>,
}

impl DiskAnnBuild {
    /// Builds the graph (see [`crate::vamana`]), trains the codes and lays out the nodes.
    /// `progress(done, total)` reports graph inserts.
    ///
    /// # Errors
    /// [`IndexError::InvalidArgument`] for bad parameters or input shape.
    pub fn build(
        vectors: &[f32],
        dim: usize,
        metric: Metric,
        params: &DiskAnnParams,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Self, IndexError> {
        if matches!(params.codes, CodeKind::Binary | CodeKind::RaBitQ) {
            return Err(IndexError::InvalidArgument(format!("DiskANN navigates with PQ, SQ8 or INT4 codes, not {}", params.codes.name())));
        }
        let rows = vectors.len() / dim.max(1);
        let total = rows * params.vamana.passes;
        let graph = build_vamana(vectors, dim, metric, &params.vamana, &|done| progress(done, total))?;
        let order = graph.bfs_order();
        let mut new_of = vec![0u32; rows];
        for (new, &old) in order.iter().enumerate() {
            new_of[old as usize] = new as u32;
        }
        let entry = if rows == 0 { 0 } else { new_of[graph.entry as usize] };
        let meta = DiskAnnMeta::new(dim, params.vamana.r, entry, params.vamana.alpha, params.vamana.l);
        let mut nodes = vec![0u8; meta.nodes_len(rows as u64) as usize];
        let mut permuted = Vec::with_capacity(vectors.len());
        let mut neighbors = Vec::with_capacity(params.vamana.r);
        for (new, &old) in order.iter().enumerate() {
            let v = &vectors[old as usize * dim..][..dim];
            permuted.extend_from_slice(v);
            neighbors.clear();
            neighbors.extend(graph.adjacency[old as usize].iter().map(|&o| new_of[o as usize]));
            let at = meta.sector_offset(new as u32) as usize + meta.offset_in_read(new as u32);
            encode_node(&mut nodes[at..at + meta.node_len as usize], v, &neighbors);
        }
        let codes = QuantizedCodes::build(params.codes, &permuted, dim, metric, &params.pq)?;
        Ok(DiskAnnBuild { dim, metric, meta, codes, nodes, order })
    }

    /// Appends the codes, meta and nodes sections (nodes 4096-byte aligned). The caller
    /// adds the ids section in [`DiskAnnBuild::order`].
    pub fn write_sections(&self, w: &mut SegmentWriter) {
        self.codes.write_sections(w);
        w.add_section(SectionKind::DISKANN_META, &self.meta.encode());
        w.add_section_aligned(SectionKind::DISKANN_NODES, &self.nodes, stratovec_formats::diskann::SECTOR_LEN);
        w.add_section(SectionKind::DISKANN_NODE_CRCS, &NodeCrcs::encode(&self.meta, &self.nodes, self.order.len() as u32));
    }
}

/// A DiskANN index over a segment: codes in RAM, nodes read through a [`SectorRead`].
#[derive(Debug, Clone)]
pub struct DiskAnnIndex {
    dim: usize,
    metric: Metric,
    rows: usize,
    meta: DiskAnnMeta,
    codes: QuantizedCodes,
    nodes_offset: u64,
    reader: Arc<dyn SectorRead>,
    /// Checks every node read ([`DiskAnnIndex::checking_reads`]); `None`: reads unchecked.
    read_crcs: Option<Arc<NodeCrcs>>,
    /// The segment's node CRC section, if it has one.
    stored_crcs: Option<Arc<NodeCrcs>>,
    /// Nodes expanded per unit of search list (`L`), measured ([`Index::on_demand`]).
    expansion: Arc<Expansion>,
    /// ns to score one code, measured at first use ([`DiskAnnIndex::code_ns`]).
    code_ns: std::sync::OnceLock<f64>,
}

/// Nodes a beam search expands per unit of its search list `L`, summed over searches:
/// beam search expands every node left in the list plus those pushed out of it, about
/// 1.1-1.5 × L. Three relaxed counters; before the first search, [`EXPANSION_PRIOR`].
#[derive(Debug, Default)]
struct Expansion {
    expanded: std::sync::atomic::AtomicU64,
    rounds: std::sync::atomic::AtomicU64,
    list: std::sync::atomic::AtomicU64,
}

/// Nodes expanded per unit of `L` before any search was measured.
const EXPANSION_PRIOR: f64 = 1.3;

impl Expansion {
    fn add(&self, expanded: usize, rounds: usize, list: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.expanded.fetch_add(expanded as u64, Relaxed);
        self.rounds.fetch_add(rounds as u64, Relaxed);
        self.list.fetch_add(list as u64, Relaxed);
    }

    /// (nodes expanded, rounds of reads) per unit of `L`.
    fn per_list(&self, beam_width: usize) -> (f64, f64) {
        use std::sync::atomic::Ordering::Relaxed;
        let list = self.list.load(Relaxed);
        if list == 0 {
            return (EXPANSION_PRIOR, EXPANSION_PRIOR / beam_width.max(1) as f64);
        }
        let per = |n: &std::sync::atomic::AtomicU64| n.load(Relaxed) as f64 / list as f64;
        (per(&self.expanded), per(&self.rounds))
    }
}

impl DiskAnnIndex {
    /// Opens the index of a DiskANN segment. `file` must hold at least the header, the
    /// codes and meta sections and the footer (the whole file, e.g. an mmap, is fine);
    /// nodes are read only through `reader`, at offsets of the segment file. The nodes
    /// section's CRC32C is not checked here (it would read every sector): use
    /// [`DiskAnnIndex::verify_nodes`].
    ///
    /// # Errors
    /// [`IndexError::Format`] for a missing or inconsistent section.
    pub fn open(file: &SegmentBytes, verify: bool, reader: Arc<dyn SectorRead>) -> Result<Self, IndexError> {
        let layout = file.layout();
        let h = layout.header;
        let (dim, rows) = (h.dim as usize, h.rows);
        let codes = QuantizedCodes::open(file, verify)?.ok_or_else(|| FormatError::Invalid("DiskANN segment without codes".into()))?;
        let nodes = layout.entry(SectionKind::DISKANN_NODES).ok_or_else(|| FormatError::Invalid("missing section diskann_nodes".into()))?;
        let meta = DiskAnnMeta::decode(&file.section(SectionKind::DISKANN_META, verify)?, dim, rows, nodes.len)?;
        if !nodes.offset.is_multiple_of(stratovec_formats::diskann::SECTOR_LEN as u64) {
            return Err(FormatError::Invalid(format!("diskann_nodes at offset {} is not sector aligned", nodes.offset)).into());
        }
        let stored_crcs = match layout.entry(SectionKind::DISKANN_NODE_CRCS) {
            Some(_) => Some(Arc::new(NodeCrcs::decode(&file.section(SectionKind::DISKANN_NODE_CRCS, verify)?, &meta, rows)?)),
            None => None,
        };
        Ok(DiskAnnIndex {
            dim,
            metric: h.metric,
            rows: rows as usize,
            meta,
            codes,
            nodes_offset: nodes.offset,
            expansion: Arc::default(),
            code_ns: std::sync::OnceLock::new(),
            reader,
            read_crcs: None,
            stored_crcs,
        })
    }

    /// Checks every node read against the segment's node CRC section (when it has one:
    /// segments written before it existed stay unchecked), for nodes read by range from
    /// bytes nobody checked, e.g. object storage through the cache: one CRC32C of
    /// `node_len` bytes per node read. A mismatch fails the search or read with
    /// [`IndexError::Format`] (`Checksum`).
    pub fn checking_reads(mut self) -> Self {
        self.read_crcs = self.stored_crcs.clone();
        self
    }

    /// Reads the whole nodes section through the reader in 1 MiB steps and checks its
    /// CRC32C against `layout`.
    ///
    /// # Errors
    /// [`IndexError::Io`] for a read error, [`IndexError::Format`] for a mismatch.
    pub fn verify_nodes(&self, layout: &SegmentLayout) -> Result<(), IndexError> {
        let e = layout.entry(SectionKind::DISKANN_NODES).ok_or_else(|| FormatError::Invalid("missing section diskann_nodes".into()))?;
        let step = 1 << 20;
        let mut crc = 0u32;
        let mut at = 0u64;
        while at < e.len {
            let len = (e.len - at).min(step) as usize;
            self.reader.read_batch(&[e.offset + at], len, &mut |_, b| crc = crc32c::crc32c_append(crc, b))?;
            at += len as u64;
        }
        if crc != e.crc32c {
            return Err(FormatError::Checksum { what: "section diskann_nodes".into(), stored: e.crc32c, computed: crc }.into());
        }
        Ok(())
    }

    /// The in-RAM codes.
    pub fn codes(&self) -> &QuantizedCodes {
        &self.codes
    }

    /// Layout parameters.
    pub fn meta(&self) -> &DiskAnnMeta {
        &self.meta
    }

    /// Decodes node `row` from the bytes read for it: its vector into `vector`, and its
    /// neighbours.
    fn parse_node<'a>(
        &self,
        row: u32,
        read: &'a [u8],
        vector: &mut Vec<f32>,
    ) -> Result<stratovec_formats::diskann::NeighborIter<'a>, IndexError> {
        if let Some(crcs) = &self.read_crcs {
            crcs.check(row, read)?;
        }
        let node = read.get(self.meta.offset_in_read(row)..).ok_or_else(|| FormatError::Invalid(format!("node {row}: short read")))?;
        let (v, neighbors) = self.meta.split_node(node, self.dim).map_err(|e| FormatError::Invalid(format!("node {row}: {e}")))?;
        vector.clear();
        vector.extend(v.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        Ok(neighbors)
    }
}

impl DiskAnnIndex {
    /// [`SearchParams::scan_codes`]: every code scored, the best reranked from one batch of
    /// node reads.
    fn search_codes(
        &self,
        query: &[f32],
        prepared: &crate::codes::PreparedQuery,
        k: usize,
        params: &SearchParams,
        filter: Option<&dyn RowFilter>,
    ) -> Result<Vec<Candidate>, IndexError> {
        let keep = scan_keep(self.rows, k, params);
        let mut found = crate::flat::code_scan(&self.codes, prepared, keep, filter);
        let offsets: Vec<u64> = found.iter().map(|c| self.nodes_offset + self.meta.sector_offset(c.row)).collect();
        let scorer = Scorer::new(self.metric);
        let mut vector = Vec::with_capacity(self.dim);
        let mut damaged = None;
        self.reader.read_batch(&offsets, self.meta.read_len(), &mut |i, bytes| {
            let row = found[i].row;
            match self.parse_node(row, bytes, &mut vector) {
                Ok(_) => found[i].distance = scorer.distance(query, &vector),
                Err(e) => damaged = damaged.take().or(Some(e)),
            }
        })?;
        if let Some(e) = damaged {
            return Err(e);
        }
        found.sort_unstable();
        found.truncate(k);
        Ok(found)
    }
}

/// Rows scored to measure [`DiskAnnIndex::code_ns`].
const CODE_CALIBRATION_ROWS: usize = 4096;

impl DiskAnnIndex {
    /// ns to score one row's code on this CPU: the best of three scans of the first
    /// 4,096 codes (about 20-200 µs once per segment, at the first call).
    fn code_ns(&self) -> f64 {
        *self.code_ns.get_or_init(|| {
            let n = self.rows.clamp(1, CODE_CALIBRATION_ROWS);
            let prepared = self.codes.prepare(&vec![1.0 / (self.dim as f32).sqrt(); self.dim], self.metric);
            let mut scores = vec![0f32; n];
            let best = (0..3)
                .map(|_| {
                    let started = std::time::Instant::now();
                    self.codes.distances(&prepared, 0, &mut scores, f32::INFINITY);
                    std::hint::black_box(&scores);
                    started.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            best * 1e9 / n as f64
        })
    }
}

/// Candidates a code scan of `rows` codes reranks from full vectors.
fn scan_keep(rows: usize, k: usize, params: &SearchParams) -> usize {
    params.ef_search.max(k.saturating_mul(params.rerank_factor.max(1))).min(rows)
}

/// The search list: up to `L` candidates by code distance, closest first, each flagged
/// once expanded.
struct SearchList {
    items: Vec<(Candidate, bool)>,
    cap: usize,
}

impl SearchList {
    fn offer(&mut self, c: Candidate) {
        if self.items.len() >= self.cap && self.items.last().is_some_and(|l| l.0.distance <= c.distance) {
            return;
        }
        let at = self.items.partition_point(|x| x.0 < c);
        self.items.insert(at, (c, false));
        self.items.truncate(self.cap);
    }

    /// Marks up to `w` of the closest unexpanded candidates expanded and returns them.
    fn next_beam(&mut self, w: usize, out: &mut Vec<u32>) {
        out.clear();
        for (c, expanded) in self.items.iter_mut().filter(|x| !x.1).take(w) {
            *expanded = true;
            out.push(c.row);
        }
    }
}

impl Index for DiskAnnIndex {
    fn kind(&self) -> SegmentKind {
        SegmentKind::DISKANN
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn metric(&self) -> Metric {
        self.metric
    }
    fn rows(&self) -> usize {
        self.rows
    }
    fn vector(&self, row: u32) -> Result<Option<Cow<'_, [f32]>>, IndexError> {
        if row as usize >= self.rows {
            return Ok(None);
        }
        let mut v = Vec::with_capacity(self.dim);
        let mut parsed = None;
        let off = self.nodes_offset + self.meta.sector_offset(row);
        self.reader.read_batch(&[off], self.meta.read_len(), &mut |_, b| parsed = Some(self.parse_node(row, b, &mut v).map(|_| ())))?;
        parsed.ok_or_else(|| FormatError::Invalid(format!("node {row}: not read")))??;
        Ok(Some(Cow::Owned(v)))
    }

    /// One batch of node reads (one round through a remote reader).
    fn vectors_of(&self, rows: &[u32], each: &mut dyn FnMut(usize, &[f32])) -> Result<(), IndexError> {
        let wanted: Vec<(usize, u32)> = rows.iter().copied().enumerate().filter(|&(_, r)| (r as usize) < self.rows).collect();
        let offsets: Vec<u64> = wanted.iter().map(|&(_, r)| self.nodes_offset + self.meta.sector_offset(r)).collect();
        let (mut vector, mut damaged) = (Vec::with_capacity(self.dim), None);
        self.reader.read_batch(&offsets, self.meta.read_len(), &mut |i, bytes| {
            let (at, row) = wanted[i];
            match self.parse_node(row, bytes, &mut vector) {
                Ok(_) => each(at, &vector),
                Err(e) => damaged = damaged.take().or(Some(e)),
            }
        })?;
        damaged.map_or(Ok(()), Err)
    }

    fn search(&self, query: &[f32], k: usize, params: &SearchParams, filter: Option<&dyn RowFilter>) -> Result<Vec<Candidate>, IndexError> {
        check_dim(self.dim, query.len())?;
        if self.rows == 0 || k == 0 {
            return Ok(Vec::new());
        }
        let prepared = self.codes.prepare(query, self.metric);
        if params.scan_codes {
            return self.search_codes(query, &prepared, k, params, filter);
        }
        let scorer = Scorer::new(self.metric);
        let entry = self.meta.entry;
        let cap = params.ef_search.max(k);
        let mut list = SearchList { items: Vec::with_capacity(cap.min(self.rows) + 1), cap };
        let mut results: Vec<Candidate> = Vec::new();
        let (mut beam, mut offsets, mut vector) = (Vec::new(), Vec::new(), Vec::with_capacity(self.dim));
        let mut damaged = None;
        let (mut expanded, mut rounds) = (0, 0);
        with_scratch(|s| -> Result<(), IndexError> {
            s.visited_bits.reset(self.rows);
            s.visited_bits.insert(entry);
            list.offer(Candidate { distance: self.codes.distance(&prepared, entry), row: entry });
            loop {
                list.next_beam(params.beam_width.max(1), &mut beam);
                if beam.is_empty() {
                    return Ok(());
                }
                expanded += beam.len();
                rounds += 1;
                offsets.clear();
                offsets.extend(beam.iter().map(|&r| self.nodes_offset + self.meta.sector_offset(r)));
                self.reader.read_batch(&offsets, self.meta.read_len(), &mut |i, bytes| {
                    let row = beam[i];
                    let neighbors = match self.parse_node(row, bytes, &mut vector) {
                        Ok(n) => n,
                        Err(e) => return damaged = damaged.take().or(Some(e)),
                    };
                    if filter.is_none_or(|f| f.accept(row)) {
                        results.push(Candidate { distance: scorer.distance(query, &vector), row });
                    }
                    for n in neighbors {
                        if (n as usize) < self.rows && s.visited_bits.insert(n) {
                            list.offer(Candidate { distance: self.codes.distance(&prepared, n), row: n });
                        }
                    }
                })?;
                if let Some(e) = damaged.take() {
                    return Err(e);
                }
            }
        })?;
        self.expansion.add(expanded, rounds, cap);
        results.sort_unstable();
        results.truncate(k);
        Ok(results)
    }

    /// Rounds and reads from the expansion measured over this index's searches (1.3 × L
    /// nodes before the first), R, the measured time to score a code, and the candidates a
    /// code scan reranks.
    fn on_demand(&self, k: usize, params: &SearchParams) -> Option<crate::OnDemand> {
        let list = params.ef_search.max(k).min(self.rows) as f64;
        let (expanded, rounds) = self.expansion.per_list(params.beam_width);
        Some(crate::OnDemand {
            rounds: (rounds * list).max(1.0),
            reads: expanded * list,
            degree: self.meta.max_degree as usize,
            code_ns: self.code_ns(),
            scan_reads: scan_keep(self.rows, k, params),
        })
    }

    /// Not supported: a DiskANN segment is written from a [`DiskAnnBuild`]. Writes nothing.
    fn write_sections(&self, _writer: &mut SegmentWriter) {}
}
