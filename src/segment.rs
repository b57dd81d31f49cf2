//! An opened, immutable segment: its index and the user key of each row.

use stratovec_formats::manifest::SegmentMeta;
use stratovec_formats::segment::{SectionKind, SegmentBytes, SegmentHeader, SegmentKind, SegmentWriter};
use stratovec_formats::FormatError;
use std::sync::Arc;

use stratovec_backends::RandomAccess;
use stratovec_indexes::{DiskAnnIndex, FlatIndex, HnswIndex, Index, Metric, OpenIndex, PodSlice, SectorRead};

use crate::{Error, Result};

/// A segment opened from its bytes (zero-copy over an mmap for local stores).
#[derive(Debug)]
pub(crate) struct Segment {
    pub meta: SegmentMeta,
    pub index: Box<dyn Index>,
    pub ids: PodSlice<u64>,
    /// Metadata and payloads.
    pub rows: crate::rows::StoredRows,
}

impl Segment {
    /// Opens `file` (the bytes of `meta.file`), checking it against the manifest entry and
    /// the database's dimension and metric. DiskANN nodes are read through `random` when
    /// the store offers positional reads, else from `file`.
    pub fn open(
        meta: SegmentMeta,
        file: SegmentBytes,
        random: Option<Arc<dyn RandomAccess>>,
        dim: usize,
        metric: Metric,
        verify: bool,
    ) -> Result<Self> {
        let name = meta.file.clone();
        let h = file.layout().header;
        if h.dim as usize != dim || h.metric != metric || h.rows != meta.rows || h.kind != meta.kind {
            return Err(Error::format(
                &name,
                FormatError::Invalid(format!(
                    "header ({:?}, dim {}, {}, {} rows) disagrees with the manifest ({:?}, dim {dim}, {metric}, {} rows)",
                    h.kind, h.dim, h.metric, h.rows, meta.kind, meta.rows
                )),
            ));
        }
        let index: Box<dyn Index> = match h.kind {
            SegmentKind::Flat => Box::new(FlatIndex::open(&file, verify).map_err(|e| Error::index(&name, e))?),
            SegmentKind::Hnsw => Box::new(HnswIndex::open(&file, verify).map_err(|e| Error::index(&name, e))?),
            SegmentKind::DiskAnn => {
                let reader: Arc<dyn SectorRead> = match (random, file.file()) {
                    (Some(r), _) => Arc::new(StoreSectors(r)),
                    (None, Some(whole)) => Arc::new(whole.clone()),
                    (None, None) => return Err(Error::format(&name, FormatError::Invalid("DiskANN nodes neither fetched nor readable".into()))),
                };
                let index = DiskAnnIndex::open(&file, verify, reader).map_err(|e| Error::index(&name, e))?;
                // Nodes fetched by ranges through a cache stay in the store: checking their
                // CRC32C would download them all.
                if verify && file.file().is_some() {
                    index.verify_nodes(file.layout()).map_err(|e| Error::index(&name, e))?;
                }
                Box::new(index)
            }
        };
        let ids = file.section(SectionKind::IDS, verify).map_err(|e| Error::format(&name, e))?;
        let ids = PodSlice::from_le_bytes(ids)
            .ok_or_else(|| Error::format(&name, FormatError::Invalid("ids section length".into())))?;
        let rows = crate::rows::StoredRows::open(&file, verify).map_err(|e| Error::format(&name, e))?;
        Ok(Segment { meta, index, ids, rows })
    }
}

/// Encodes a segment of `kind`: the index sections written by `write_index`, then the ids
/// section (`ids.len()` user keys, row order). `estimate` is the expected size in bytes.
pub(crate) fn encode_segment(
    kind: SegmentKind,
    metric: Metric,
    dim: usize,
    ids: &[u64],
    estimate: usize,
    write_index: impl FnOnce(&mut SegmentWriter),
) -> Vec<u8> {
    let header = SegmentHeader { kind, metric, dim: dim as u32, rows: ids.len() as u64 };
    let mut w = SegmentWriter::new(&header, estimate + 4096);
    write_index(&mut w);
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
    w.add_section(SectionKind::IDS, &bytes);
    w.finish()
}

/// DiskANN node reads through the store's positional reader.
#[derive(Debug)]
struct StoreSectors(Arc<dyn RandomAccess>);

impl SectorRead for StoreSectors {
    fn read_batch(&self, offsets: &[u64], len: usize, each: &mut dyn FnMut(usize, &[u8])) -> std::io::Result<()> {
        self.0.read_batch(offsets, len, each)
    }
}
