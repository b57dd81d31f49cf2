use bytes::Bytes;
use stratovec_formats::segment::{SectionKind, SegmentKind, SegmentLayout, SegmentWriter};
use stratovec_formats::FormatError;

use crate::index::{check_dim, row_of, section_bytes};
use crate::{Candidate, Index, IndexError, Metric, OpenIndex, PodSlice, RowFilter, Scorer, SearchParams, TopK};

/// Exact search: scores the query against every row with the SIMD kernel and keeps the
/// top `k`. Cost per query is `rows × dim` multiply-adds; it is memory-bandwidth bound.
#[derive(Debug, Clone)]
pub struct FlatIndex {
    dim: usize,
    metric: Metric,
    vectors: PodSlice<f32>,
}

impl FlatIndex {
    /// An index over `vectors` (`rows × dim` values, row-major).
    ///
    /// # Errors
    /// [`IndexError::InvalidArgument`] if `dim` is 0 or does not divide `vectors.len()`.
    pub fn from_vectors(vectors: Vec<f32>, dim: usize, metric: Metric) -> Result<Self, IndexError> {
        if dim == 0 || !vectors.len().is_multiple_of(dim) {
            return Err(IndexError::InvalidArgument(format!("{} values is not a multiple of dim {dim}", vectors.len())));
        }
        Ok(FlatIndex { dim, metric, vectors: PodSlice::Owned(vectors) })
    }

    /// The row-major vectors (`rows × dim`).
    pub fn vectors(&self) -> &[f32] {
        self.vectors.as_slice()
    }
}

/// Writes a vectors section (`rows × dim` f32 little-endian).
pub(crate) fn write_vectors(writer: &mut SegmentWriter, vectors: &[f32]) {
    if cfg!(target_endian = "little") {
        writer.add_section(SectionKind::VECTORS, bytemuck::cast_slice(vectors));
    } else {
        let bytes: Vec<u8> = vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
        writer.add_section(SectionKind::VECTORS, &bytes);
    }
}

/// Opens the vectors section of a segment as `rows × dim` floats.
pub(crate) fn open_vectors(file: &Bytes, layout: &SegmentLayout, verify: bool) -> Result<PodSlice<f32>, IndexError> {
    layout.check_common_sections()?;
    let bytes = section_bytes(file, layout, SectionKind::VECTORS, verify)?;
    PodSlice::from_le_bytes(bytes).ok_or_else(|| FormatError::Invalid("vectors section length".into()).into())
}

impl Index for FlatIndex {
    fn kind(&self) -> SegmentKind {
        SegmentKind::Flat
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn metric(&self) -> Metric {
        self.metric
    }
    fn rows(&self) -> usize {
        self.vectors.as_slice().len() / self.dim
    }
    fn vector(&self, row: u32) -> Option<&[f32]> {
        row_of(self.vectors.as_slice(), self.dim, row)
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        _params: &SearchParams,
        filter: Option<&dyn RowFilter>,
    ) -> Result<Vec<Candidate>, IndexError> {
        check_dim(self.dim, query.len())?;
        const BLOCK: usize = 256;
        let scorer = Scorer::new(self.metric);
        let mut top = TopK::new(k);
        let mut threshold = top.threshold();
        let mut scores = [0f32; BLOCK];
        for (b, block) in self.vectors.as_slice().chunks(BLOCK * self.dim).enumerate() {
            let scores = &mut scores[..block.len() / self.dim];
            scorer.distances(query, block, scores);
            for (i, &d) in scores.iter().enumerate() {
                let row = (b * BLOCK + i) as u32;
                if d < threshold && filter.is_none_or(|f| f.accept(row)) {
                    top.push(Candidate { distance: d, row });
                    threshold = top.threshold();
                }
            }
        }
        Ok(top.into_sorted_vec())
    }

    fn write_sections(&self, writer: &mut SegmentWriter) {
        write_vectors(writer, self.vectors.as_slice());
    }
}

impl OpenIndex for FlatIndex {
    fn open(file: &Bytes, layout: &SegmentLayout, verify: bool) -> Result<Self, IndexError> {
        let vectors = open_vectors(file, layout, verify)?;
        Ok(FlatIndex { dim: layout.header.dim as usize, metric: layout.header.metric, vectors })
    }
}
