//! The memtable: rows inserted since the last commit, with their HNSW graph.

use roaring::RoaringBitmap;
use stratovec_formats::segment::SegmentKind;
use stratovec_indexes::{FlatIndex, GraphView, HnswGraph, HnswParams, Index, Metric};

use crate::version::rows::RowColumns;
use crate::version::segment::encode_segment;
use crate::Result;
use stratovec_formats::metadata::Metadata;

/// Rows not yet committed: user keys, vectors (in the graph) and rows deleted since insert.
#[derive(Debug)]
pub(crate) struct Memtable {
    pub graph: HnswGraph,
    pub ids: Vec<u64>,
    pub deleted: RoaringBitmap,
    /// Metadata and payload of each row.
    pub columns: RowColumns,
}

impl Memtable {
    pub fn new(dim: usize, metric: Metric, params: HnswParams) -> Result<Self> {
        let graph = HnswGraph::new(dim, metric, params).map_err(|e| crate::Error::invalid(e.to_string()))?;
        Ok(Memtable { graph, ids: Vec::new(), deleted: RoaringBitmap::new(), columns: RowColumns::default() })
    }

    /// Rows searches see (rows being linked are not counted).
    pub fn rows(&self) -> usize {
        Index::rows(&self.graph)
    }

    /// Appends prepared vectors (`ids.len() × dim` values) without linking them into the
    /// graph (invisible to searches until [`Memtable::publish`]); `data` holds each row's
    /// metadata and payload, or is empty for rows without them. Returns the new rows; link
    /// them with `self.graph.link_rows` (beside searches) before publishing.
    pub fn append(&mut self, ids: &[u64], vectors: &[f32], data: &[(Metadata, Vec<u8>)]) -> Result<std::ops::Range<u32>> {
        let first = self.graph.append(vectors).map_err(|e| crate::Error::invalid(e.to_string()))?;
        self.ids.extend_from_slice(ids);
        if data.is_empty() {
            self.columns.push_empty(ids.len());
        } else {
            for (m, p) in data {
                self.columns.push(m, p);
            }
        }
        Ok(first..first + ids.len() as u32)
    }

    /// Makes every appended row visible to searches.
    pub fn publish(&mut self) {
        self.graph.publish();
    }

    /// Bytes held (vectors, graph, keys).
    pub fn memory_bytes(&self) -> usize {
        self.graph.memory_bytes() + self.ids.capacity() * 8 + self.deleted.serialized_size() + self.columns.memory_bytes()
    }

    /// Encodes the memtable as a segment: Flat below `flat_threshold` rows, else HNSW with the
    /// graph already built; with codes trained on its rows when `codes` (for Flat, for
    /// HNSW) names them for that kind.
    ///
    /// # Errors
    /// The quantizer's, for codes it cannot train.
    pub fn encode_segment(
        &self,
        flat_threshold: usize,
        codes: (Option<stratovec_indexes::CodeKind>, Option<stratovec_indexes::CodeKind>),
    ) -> Result<(SegmentKind, Vec<u8>), stratovec_indexes::IndexError> {
        let kind = if self.rows() < flat_threshold { SegmentKind::FLAT } else { SegmentKind::HNSW };
        let codes = if kind == SegmentKind::FLAT { codes.0 } else { codes.1 };
        let (dim, metric) = (Index::dim(&self.graph), self.graph.metric());
        let estimate = self.graph.vectors().len() * 4 + self.rows() * (8 + 4 * 2 * self.graph.params().m + 8);
        let codes = match codes {
            Some(c) if self.rows() > 0 => Some(stratovec_indexes::QuantizedCodes::build(
                c,
                self.graph.vectors(),
                dim,
                metric,
                &stratovec_indexes::PqParams::default(),
            )?),
            _ => None,
        };
        let bytes = encode_segment(kind, metric, dim, &self.ids, estimate, |w| {
            if kind == SegmentKind::FLAT {
                FlatIndex::from_vectors(self.graph.vectors().to_vec(), dim, metric)
                    .expect("memtable vectors are a whole number of rows")
                    .write_sections(w);
            } else {
                self.graph.write_sections(w);
            }
            if let Some(codes) = &codes {
                codes.write_sections(w);
            }
            self.columns.write_sections(w);
        });
        Ok((kind, bytes))
    }
}
