use stratovec_formats::segment::{SectionKind, SegmentBytes, SegmentKind, SegmentWriter};
use stratovec_formats::FormatError;

use crate::codes::{CodeKind, QuantizedCodes};
use crate::index::{check_dim, row_of};
use crate::{Candidate, Index, IndexError, Metric, OpenIndex, PodSlice, PqParams, RowFilter, Scorer, SearchParams, TopK};

/// Rows scored per kernel call in a scan.
const BLOCK: usize = 256;

/// Flat (brute-force) search over every row.
///
/// Without codes the scan is exact: the query is scored against every f32 vector with the
/// SIMD kernel (`rows × dim` multiply-adds per query, memory-bandwidth bound). With codes
/// ([`FlatIndex::with_codes`], e.g. SQ8 at a quarter of the bytes) the scan reads only the
/// codes, keeps the `k × rerank_factor` best by approximate distance, and re-scores those
/// with the f32 vectors ([`SearchParams::rerank_factor`]).
#[derive(Debug, Clone)]
pub struct FlatIndex {
    dim: usize,
    metric: Metric,
    vectors: PodSlice<f32>,
    codes: Option<QuantizedCodes>,
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
        Ok(FlatIndex { dim, metric, vectors: PodSlice::Owned(vectors), codes: None })
    }

    /// Adds `kind` codes of every row (trained on the rows, see [`QuantizedCodes::build`]);
    /// searches then scan the codes and rerank.
    ///
    /// # Errors
    /// As [`QuantizedCodes::build`].
    pub fn with_codes(mut self, kind: CodeKind, pq: &PqParams) -> Result<Self, IndexError> {
        if self.rows() > 0 {
            self.codes = Some(QuantizedCodes::build(kind, self.vectors.as_slice(), self.dim, self.metric, pq)?);
        }
        Ok(self)
    }

    /// The codes, if the index has them.
    pub fn codes(&self) -> Option<&QuantizedCodes> {
        self.codes.as_ref()
    }

    fn exact_scan(&self, query: &[f32], k: usize, filter: Option<&dyn RowFilter>) -> Vec<Candidate> {
        exact_search(self.vectors.as_slice(), self.dim, self.metric, query, k, filter)
    }

    fn quantized_scan(
        &self,
        codes: &QuantizedCodes,
        query: &[f32],
        k: usize,
        rerank: usize,
        filter: Option<&dyn RowFilter>,
    ) -> Vec<Candidate> {
        let prepared = codes.prepare(query, self.metric);
        if rerank > 0 && codes.kind() == CodeKind::RaBitQ {
            return self.bounded_scan(codes, &prepared, query, k, filter);
        }
        let mut found = code_scan(codes, &prepared, k.saturating_mul(rerank.max(1)), filter);
        if rerank > 0 {
            let scorer = Scorer::new(self.metric);
            for c in &mut found {
                if let Some(v) = row_of(self.vectors.as_slice(), self.dim, c.row) {
                    c.distance = scorer.distance(query, &v);
                }
            }
            found.sort_unstable();
        }
        found.truncate(k);
        found
    }

    /// Codes with an error bound (RaBitQ): every row's estimate and lower bound, and a row
    /// is rescored with its f32 vector only while its lower bound is below the `k`-th best
    /// exact distance so far (Gao & Long 2024, §4.2), so the `rerank_factor` is not needed.
    fn bounded_scan(
        &self,
        codes: &QuantizedCodes,
        prepared: &crate::codes::PreparedQuery,
        query: &[f32],
        k: usize,
        filter: Option<&dyn RowFilter>,
    ) -> Vec<Candidate> {
        let scorer = Scorer::new(self.metric);
        let mut top = crate::candidates::TopK::new(k);
        for row in 0..codes.rows() as u32 {
            if filter.is_some_and(|f| !f.accept(row)) {
                continue;
            }
            let Some((_, lower)) = codes.distance_bound(prepared, row) else { continue };
            if lower < top.threshold() {
                if let Some(v) = row_of(self.vectors.as_slice(), self.dim, row) {
                    top.push(Candidate { distance: scorer.distance(query, &v), row });
                }
            }
        }
        top.into_sorted_vec()
    }

    /// The row-major vectors (`rows × dim`).
    pub fn vectors(&self) -> &[f32] {
        self.vectors.as_slice()
    }
}

/// The `k` rows of `vectors` (`rows × dim`, row-major) closest to `query` (`dim` values)
/// that `filter` accepts, closest first, by scoring every row with the batched SIMD kernel
/// in blocks of 256 rows: `rows × dim` multiply-adds, memory-bandwidth bound. What Flat
/// segments do, and what the planner runs on an HNSW segment's vectors when an exact scan
/// costs less than the graph. The caller checks `query.len() == dim`.
pub fn exact_search(
    vectors: &[f32],
    dim: usize,
    metric: Metric,
    query: &[f32],
    k: usize,
    filter: Option<&dyn RowFilter>,
) -> Vec<Candidate> {
    let scorer = Scorer::new(metric);
    let mut top = TopK::new(k);
    let mut scores = [0f32; BLOCK];
    for (b, block) in vectors.chunks(BLOCK * dim.max(1)).enumerate() {
        let scores = &mut scores[..block.len() / dim.max(1)];
        scorer.distances(query, block, scores);
        offer(&mut top, b * BLOCK, scores, filter);
    }
    top.into_sorted_vec()
}

/// The `keep` rows closest by code distance that `filter` accepts, closest first.
pub(crate) fn code_scan(
    codes: &QuantizedCodes,
    prepared: &crate::codes::PreparedQuery,
    keep: usize,
    filter: Option<&dyn RowFilter>,
) -> Vec<Candidate> {
    let mut top = TopK::new(keep);
    let mut scores = [0f32; BLOCK];
    let rows = codes.rows();
    for first in (0..rows).step_by(BLOCK) {
        let scores = &mut scores[..(rows - first).min(BLOCK)];
        if codes.distances(prepared, first, scores, top.threshold()) {
            offer(&mut top, first, scores, filter);
        }
    }
    top.into_sorted_vec()
}

/// Offers the scores of rows `first..` to `top`.
#[inline]
fn offer(top: &mut TopK, first: usize, scores: &[f32], filter: Option<&dyn RowFilter>) {
    let mut threshold = top.threshold();
    for (i, &d) in scores.iter().enumerate() {
        let row = (first + i) as u32;
        if d < threshold && filter.is_none_or(|f| f.accept(row)) {
            top.push(Candidate { distance: d, row });
            threshold = top.threshold();
        }
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
pub(crate) fn open_vectors(file: &SegmentBytes, verify: bool) -> Result<PodSlice<f32>, IndexError> {
    file.layout().check_common_sections()?;
    let bytes = file.section(SectionKind::VECTORS, verify)?;
    PodSlice::from_le_bytes(bytes).ok_or_else(|| FormatError::Invalid("vectors section length".into()).into())
}

impl Index for FlatIndex {
    fn kind(&self) -> SegmentKind {
        SegmentKind::FLAT
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
    fn vector(&self, row: u32) -> Result<Option<std::borrow::Cow<'_, [f32]>>, IndexError> {
        Ok(row_of(self.vectors.as_slice(), self.dim, row))
    }

    fn search(&self, query: &[f32], k: usize, params: &SearchParams, filter: Option<&dyn RowFilter>) -> Result<Vec<Candidate>, IndexError> {
        check_dim(self.dim, query.len())?;
        Ok(match &self.codes {
            Some(codes) => self.quantized_scan(codes, query, k, params.rerank_factor, filter),
            None => self.exact_scan(query, k, filter),
        })
    }

    fn vectors_in_memory(&self) -> Option<&[f32]> {
        Some(self.vectors.as_slice())
    }
    fn write_sections(&self, writer: &mut SegmentWriter) {
        write_vectors(writer, self.vectors.as_slice());
        if let Some(codes) = &self.codes {
            codes.write_sections(writer);
        }
    }
}

impl OpenIndex for FlatIndex {
    fn open(file: &SegmentBytes, verify: bool) -> Result<Self, IndexError> {
        let vectors = open_vectors(file, verify)?;
        let codes = QuantizedCodes::open(file, verify)?;
        let h = file.layout().header;
        Ok(FlatIndex { dim: h.dim as usize, metric: h.metric, vectors, codes })
    }
}
