use bytes::Bytes;
use stratovec_formats::graph::GraphLayout;
use stratovec_formats::segment::{SectionKind, SegmentBytes, SegmentKind, SegmentWriter};
use stratovec_formats::FormatError;

use crate::flat::{open_vectors, write_vectors};
use crate::graph_search::{knn_search_coded, search_graph, GraphView};
use crate::index::row_of;
use crate::{Candidate, Index, IndexError, Metric, OpenIndex, PodSlice, RowFilter, SearchParams};

/// An HNSW index read from a segment: vectors and adjacency are zero-copy views of the
/// segment bytes (e.g. an mmap), so opening costs one validation pass and no rebuild.
///
/// A segment that also holds quantized codes (the `quant_params` and `quant_codes`
/// sections, e.g. SQ8: `dim` bytes per row) is searched through them: the graph is
/// traversed with code distances, and the `ef` candidates found are rescored with the f32
/// vectors before the best `k` are returned (HNSW-SQ).
#[derive(Debug, Clone)]
pub struct HnswIndex {
    dim: usize,
    metric: Metric,
    m: usize,
    m0: usize,
    entry: Option<(u32, usize)>,
    vectors: PodSlice<f32>,
    graph: Bytes,
    levels: Bytes,
    level0: PodSlice<u32>,
    upper_offsets: PodSlice<u32>,
    upper: PodSlice<u32>,
    /// Codes the traversal scores, when the segment has them.
    codes: Option<crate::QuantizedCodes>,
}

fn words(graph: &Bytes, r: std::ops::Range<usize>) -> Result<PodSlice<u32>, IndexError> {
    PodSlice::from_le_bytes(graph.slice(r)).ok_or_else(|| FormatError::Invalid("graph array length".into()).into())
}

impl HnswIndex {
    /// The codes its traversal scores, if the segment has them.
    pub fn codes(&self) -> Option<&crate::QuantizedCodes> {
        self.codes.as_ref()
    }
}

impl OpenIndex for HnswIndex {
    fn open(file: &SegmentBytes, verify: bool) -> Result<Self, IndexError> {
        let layout = file.layout();
        let vectors = open_vectors(file, verify)?;
        let graph = file.section(SectionKind::HNSW_GRAPH, verify)?;
        let g = GraphLayout::parse(&graph, layout.header.rows)?;
        Ok(HnswIndex {
            dim: layout.header.dim as usize,
            metric: layout.header.metric,
            m: g.m as usize,
            m0: g.m0 as usize,
            entry: g.entry_point.map(|e| (e, g.max_level as usize)),
            vectors,
            levels: graph.slice(g.levels.clone()),
            level0: words(&graph, g.level0.clone())?,
            upper_offsets: words(&graph, g.upper_offsets.clone())?,
            upper: words(&graph, g.upper.clone())?,
            graph,
            codes: crate::QuantizedCodes::open(file, verify)?,
        })
    }
}

impl HnswIndex {
    /// The level-0 list of `node` as stored: its count, then `m0` slots.
    #[inline(always)]
    fn level0_list(&self, node: u32) -> &[u32] {
        let (n, s) = (node as usize, self.m0 + 1);
        &self.level0.as_slice()[n * s..(n + 1) * s]
    }
}

impl GraphView for HnswIndex {
    fn dim(&self) -> usize {
        self.dim
    }
    fn vectors(&self) -> &[f32] {
        self.vectors.as_slice()
    }
    fn entry_point(&self) -> Option<(u32, usize)> {
        self.entry
    }
    #[inline]
    fn neighbors_into(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        let n = node as usize;
        let list = if level == 0 {
            self.level0_list(node)
        } else {
            if (self.levels[n] as usize) < level {
                return;
            }
            let s = self.m + 1;
            let start = self.upper_offsets.as_slice()[n] as usize + (level - 1) * s;
            &self.upper.as_slice()[start..start + s]
        };
        // Counts were validated against the capacity when the segment was opened.
        let count = list[0] as usize;
        out.extend_from_slice(&list[1..1 + count]);
    }
    #[inline(always)]
    fn prefetch_neighbors(&self, node: u32) {
        crate::kernel::prefetch_all(self.level0_list(node));
    }
}

impl Index for HnswIndex {
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
        self.levels.len()
    }
    fn vector(&self, row: u32) -> Result<Option<std::borrow::Cow<'_, [f32]>>, IndexError> {
        Ok(row_of(self.vectors.as_slice(), self.dim, row))
    }
    fn vectors_in_memory(&self) -> Option<&[f32]> {
        Some(self.vectors.as_slice())
    }
    fn search(&self, query: &[f32], k: usize, params: &SearchParams, filter: Option<&dyn RowFilter>) -> Result<Vec<Candidate>, IndexError> {
        match &self.codes {
            Some(codes) => {
                crate::index::check_dim(self.dim, query.len())?;
                Ok(knn_search_coded(self, codes, self.metric, query, k, params, filter))
            }
            None => search_graph(self, self.metric, query, k, params, filter),
        }
    }
    fn write_sections(&self, writer: &mut SegmentWriter) {
        write_vectors(writer, self.vectors.as_slice());
        writer.add_section(SectionKind::HNSW_GRAPH, &self.graph);
        if let Some(codes) = &self.codes {
            codes.write_sections(writer);
        }
    }
}
