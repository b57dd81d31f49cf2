//! Quantized codes of a segment's rows, kept beside (or instead of reading) the f32
//! vectors: what a quantized Flat scan reads and what DiskANN navigates with.

use stratovec_formats::segment::{SectionKind, SegmentBytes, SegmentWriter};
use stratovec_formats::FormatError;

use crate::quantizer::{AffineQuery, BinaryQuery, Int4Query, PqQuery, RaBitQ, RaBitQQuery};
use crate::{Binary, IndexError, Int4, Metric, PodSlice, Pq, PqParams, Quantizer, Sq8};

/// Which quantizer produced a segment's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeKind {
    /// [`Sq8`]: `dim` bytes per row.
    Sq8,
    /// [`Int4`]: `ceil(dim / 2)` bytes per row.
    Int4,
    /// [`Pq`]: `m` bytes per row.
    Pq,
    /// [`Binary`]: `8 × ceil(dim / 64)` bytes per row (a ranking proxy; prefer RaBitQ).
    Binary,
    /// [`RaBitQ`]: one bit per dimension of the rotated vector (`dim` rounded up to a power
    /// of two, at least 64) plus 12 bytes per row, with an error bound.
    RaBitQ,
}

impl CodeKind {
    /// Code in the first 4 bytes of the params section.
    pub fn code(self) -> u32 {
        match self {
            CodeKind::Sq8 => 1,
            CodeKind::Int4 => 2,
            CodeKind::Pq => 3,
            CodeKind::Binary => 4,
            CodeKind::RaBitQ => 5,
        }
    }

    /// Decodes [`CodeKind::code`]; `None` for an unknown code.
    pub fn from_code(code: u32) -> Option<Self> {
        CodeKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Every kind.
    pub const ALL: [CodeKind; 5] = [CodeKind::Sq8, CodeKind::Int4, CodeKind::Pq, CodeKind::Binary, CodeKind::RaBitQ];

    /// Lower-case name: `sq8`, `int4`, `pq`, `binary`, `rabitq`.
    pub fn name(self) -> &'static str {
        match self {
            CodeKind::Sq8 => "sq8",
            CodeKind::Int4 => "int4",
            CodeKind::Pq => "pq",
            CodeKind::Binary => "binary",
            CodeKind::RaBitQ => "rabitq",
        }
    }
}

impl std::str::FromStr for CodeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CodeKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| format!("unknown quantizer {s:?} (sq8, int4, pq, binary, rabitq)"))
    }
}

#[derive(Debug, Clone)]
enum AnyQuantizer {
    Sq8(Sq8),
    Int4(Int4),
    Pq(Pq),
    Binary(Binary),
    RaBitQ(RaBitQ),
}

/// A query prepared for one [`QuantizedCodes`] (once per search and segment).
#[derive(Debug, Clone)]
pub enum PreparedQuery {
    /// For SQ8 codes.
    Sq8(AffineQuery),
    /// For INT4 codes.
    Int4(Int4Query),
    /// For PQ codes (the ADC table).
    Pq(PqQuery),
    /// For binary codes.
    Binary(BinaryQuery),
    /// For RaBitQ codes.
    RaBitQ(RaBitQQuery),
}

/// The codes of `rows` vectors (`rows × code_len` bytes) and the quantizer that scores them.
#[derive(Debug, Clone)]
pub struct QuantizedCodes {
    quantizer: AnyQuantizer,
    codes: PodSlice<u8>,
    code_len: usize,
    /// `‖x̂‖²` per row, for SQ8 and INT4 with L2 only (computed at build and open; 4 bytes per row).
    norms: Vec<f32>,
}

/// Rows used to train a quantizer: every row up to 65,536, else an even stride.
fn training_sample(vectors: &[f32], dim: usize) -> Vec<f32> {
    const MAX: usize = 65_536;
    let rows = vectors.len() / dim;
    if rows <= MAX {
        return vectors.to_vec();
    }
    (0..MAX).flat_map(|i| &vectors[i * rows / MAX * dim..][..dim]).copied().collect()
}

impl QuantizedCodes {
    /// Trains a `kind` quantizer on (a sample of) `vectors` (`rows × dim`) and encodes every
    /// row. SQ8 and INT4 ranges come from the sample (rows outside are clamped).
    ///
    /// # Errors
    /// [`IndexError::InvalidArgument`] for an empty input, a bad `dim` or PQ parameters.
    pub fn build(kind: CodeKind, vectors: &[f32], dim: usize, metric: Metric, pq: &PqParams) -> Result<Self, IndexError> {
        let sample = training_sample(vectors, dim);
        let (quantizer, codes) = match kind {
            CodeKind::Sq8 => {
                let q = Sq8::train(&sample, dim, &())?;
                let c = q.encode_all(vectors);
                (AnyQuantizer::Sq8(q), c)
            }
            CodeKind::Int4 => {
                let q = Int4::train(&sample, dim, &())?;
                let c = q.encode_all(vectors);
                (AnyQuantizer::Int4(q), c)
            }
            CodeKind::Pq => {
                let q = Pq::train(&sample, dim, pq)?;
                let c = q.encode_all(vectors);
                (AnyQuantizer::Pq(q), c)
            }
            CodeKind::Binary => {
                let q = Binary::train(&sample, dim, &())?;
                let c = q.encode_all(vectors);
                (AnyQuantizer::Binary(q), c)
            }
            CodeKind::RaBitQ => {
                let q = RaBitQ::train(&sample, dim, &())?;
                let c = q.encode_all(vectors);
                (AnyQuantizer::RaBitQ(q), c)
            }
        };
        Ok(Self::assemble(quantizer, PodSlice::Owned(codes), metric))
    }

    fn assemble(quantizer: AnyQuantizer, codes: PodSlice<u8>, metric: Metric) -> Self {
        let code_len = match &quantizer {
            AnyQuantizer::Sq8(q) => q.code_len(),
            AnyQuantizer::Int4(q) => q.code_len(),
            AnyQuantizer::Pq(q) => q.code_len(),
            AnyQuantizer::Binary(q) => q.code_len(),
            AnyQuantizer::RaBitQ(q) => q.code_len(),
        };
        let norms = match (&quantizer, metric) {
            (AnyQuantizer::Sq8(q), Metric::L2) => codes.as_slice().chunks_exact(code_len).map(|c| q.row_norm(c)).collect(),
            (AnyQuantizer::Int4(q), Metric::L2) => codes.as_slice().chunks_exact(code_len).map(|c| q.row_norm(c)).collect(),
            _ => Vec::new(),
        };
        QuantizedCodes { quantizer, codes, code_len, norms }
    }

    /// The quantizer kind.
    pub fn kind(&self) -> CodeKind {
        match self.quantizer {
            AnyQuantizer::Sq8(_) => CodeKind::Sq8,
            AnyQuantizer::Int4(_) => CodeKind::Int4,
            AnyQuantizer::Pq(_) => CodeKind::Pq,
            AnyQuantizer::Binary(_) => CodeKind::Binary,
            AnyQuantizer::RaBitQ(_) => CodeKind::RaBitQ,
        }
    }

    /// Bytes per row.
    pub fn code_len(&self) -> usize {
        self.code_len
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.codes.as_slice().len() / self.code_len
    }

    /// The code of `row` (`code_len()` bytes); panics if out of range.
    #[inline]
    pub fn code(&self, row: u32) -> &[u8] {
        &self.codes.as_slice()[row as usize * self.code_len..][..self.code_len]
    }

    /// Prepares `query` (`dim` values, normalised for cosine) for scoring.
    pub fn prepare(&self, query: &[f32], metric: Metric) -> PreparedQuery {
        match &self.quantizer {
            AnyQuantizer::Sq8(q) => PreparedQuery::Sq8(q.prepare_query(query, metric)),
            AnyQuantizer::Int4(q) => PreparedQuery::Int4(q.prepare_query(query, metric)),
            AnyQuantizer::Pq(q) => PreparedQuery::Pq(q.prepare_query(query, metric)),
            AnyQuantizer::Binary(q) => PreparedQuery::Binary(q.prepare_query(query, metric)),
            AnyQuantizer::RaBitQ(q) => PreparedQuery::RaBitQ(q.prepare_query(query, metric)),
        }
    }

    /// Approximate distance of `row` to a query prepared by [`QuantizedCodes::prepare`]
    /// (a mismatched query gives `f32::INFINITY`).
    #[inline]
    pub fn distance(&self, q: &PreparedQuery, row: u32) -> f32 {
        let code = self.code(row);
        match (&self.quantizer, q) {
            (AnyQuantizer::Sq8(s), PreparedQuery::Sq8(p)) => s.distance_with_norm(p, code, self.norms.get(row as usize).copied()),
            (AnyQuantizer::Int4(s), PreparedQuery::Int4(p)) => s.distance_with_norm(p, code, self.norms.get(row as usize).copied()),
            (AnyQuantizer::Pq(s), PreparedQuery::Pq(p)) => s.distance(p, code),
            (AnyQuantizer::Binary(s), PreparedQuery::Binary(p)) => s.distance(p, code),
            (AnyQuantizer::RaBitQ(s), PreparedQuery::RaBitQ(p)) => s.distance(p, code),
            _ => f32::INFINITY,
        }
    }

    /// For codes with an error bound (RaBitQ): the estimated distance of `row` and a lower
    /// bound on its true distance (high probability); `None` for other codes.
    #[inline]
    pub fn distance_bound(&self, q: &PreparedQuery, row: u32) -> Option<(f32, f32)> {
        match (&self.quantizer, q) {
            (AnyQuantizer::RaBitQ(s), PreparedQuery::RaBitQ(p)) => Some(s.distance_bound(p, self.code(row))),
            _ => None,
        }
    }

    /// `out[i]` = distance of row `first + i` for the `out.len()` rows from `first`.
    /// Returns `false` (leaving `out` unspecified) when it found cheaply that no row is
    /// closer than `threshold`; `true` otherwise.
    pub fn distances(&self, q: &PreparedQuery, first: usize, out: &mut [f32], threshold: f32) -> bool {
        let codes = &self.codes.as_slice()[first * self.code_len..][..out.len() * self.code_len];
        match (&self.quantizer, q) {
            (AnyQuantizer::Sq8(s), PreparedQuery::Sq8(p)) => {
                let norms = self.norms.get(first..first + out.len()).unwrap_or(&[]);
                s.distances_with_norms(p, codes, norms, out, threshold)
            }
            (AnyQuantizer::Int4(s), PreparedQuery::Int4(p)) => {
                let norms = self.norms.get(first..first + out.len()).unwrap_or(&[]);
                s.distances_with_norms(p, codes, norms, out, threshold)
            }
            _ => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = self.distance(q, (first + i) as u32);
                }
                true
            }
        }
    }

    /// Appends the params section (kind u32, then the quantizer's parameters) and the codes
    /// section.
    pub fn write_sections(&self, w: &mut SegmentWriter) {
        let mut params = self.kind().code().to_le_bytes().to_vec();
        params.extend(match &self.quantizer {
            AnyQuantizer::Sq8(q) => q.encode_params(),
            AnyQuantizer::Int4(q) => q.encode_params(),
            AnyQuantizer::Pq(q) => q.encode_params(),
            AnyQuantizer::Binary(q) => q.encode_params(),
            AnyQuantizer::RaBitQ(q) => q.encode_params(),
        });
        w.add_section(SectionKind::QUANT_PARAMS, &params);
        w.add_section(SectionKind::QUANT_CODES, self.codes.as_slice());
    }

    /// Opens the codes of a segment, `None` when it has no params section.
    ///
    /// # Errors
    /// [`IndexError::Format`] for an unknown quantizer, bad parameters, or a codes section
    /// that is not `rows × code_len` bytes.
    pub fn open(file: &SegmentBytes, verify: bool) -> Result<Option<Self>, IndexError> {
        let layout = file.layout();
        if layout.entry(SectionKind::QUANT_PARAMS).is_none() {
            return Ok(None);
        }
        let (dim, metric) = (layout.header.dim as usize, layout.header.metric);
        let params = file.section(SectionKind::QUANT_PARAMS, verify)?;
        let invalid = |m: String| IndexError::Format(FormatError::Invalid(m));
        let code = params.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let kind = code.and_then(CodeKind::from_code).ok_or_else(|| invalid(format!("quantizer code {code:?}")))?;
        let p = &params[4..];
        let quantizer = match kind {
            CodeKind::Sq8 => AnyQuantizer::Sq8(Sq8::decode_params(p, dim)?),
            CodeKind::Int4 => AnyQuantizer::Int4(Int4::decode_params(p, dim)?),
            CodeKind::Pq => AnyQuantizer::Pq(Pq::decode_params(p, dim)?),
            CodeKind::Binary => AnyQuantizer::Binary(Binary::decode_params(p, dim)?),
            CodeKind::RaBitQ => AnyQuantizer::RaBitQ(RaBitQ::decode_params(p, dim)?),
        };
        let codes = file.section(SectionKind::QUANT_CODES, verify)?;
        let out = Self::assemble(quantizer, PodSlice::Shared(codes), metric);
        if layout.header.rows.checked_mul(out.code_len as u64) != Some(out.codes.as_slice().len() as u64) {
            return Err(invalid(format!(
                "{} codes section of {} bytes for {} rows",
                kind.name(),
                out.codes.as_slice().len(),
                layout.header.rows
            )));
        }
        Ok(Some(out))
    }
}
