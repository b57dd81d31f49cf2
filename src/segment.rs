//! An opened, immutable segment: its index and the user key of each row.

use std::sync::Arc;
use stratovec_formats::manifest::SegmentMeta;
use stratovec_formats::segment::{SectionKind, SegmentBytes, SegmentHeader, SegmentKind, SegmentWriter};
use stratovec_formats::FormatError;

use stratovec_backends::RandomAccess;
use stratovec_indexes::{DiskAnnIndex, FlatIndex, HnswIndex, Index, IndexError, Metric, OpenIndex, PodSlice, SectorRead};

use crate::fetch::Fetched;
use crate::lazy::LazyIndex;

use crate::{Error, Result};

/// A segment opened from its bytes (zero-copy over an mmap for local stores).
#[derive(Debug)]
pub(crate) struct Segment {
    pub meta: SegmentMeta,
    pub index: Arc<dyn Index>,
    /// The index when it is loaded on first use (segments read through a cache).
    pub lazy: Option<Arc<LazyIndex>>,
    pub ids: PodSlice<u64>,
    /// Metadata and payloads.
    pub rows: crate::rows::StoredRows,
}

impl Segment {
    /// Opens `file` (the bytes of `meta.file`), checking it against the manifest entry and
    /// the database's dimension and metric. DiskANN nodes are read through `random` when
    /// the store offers positional reads, else from `file`.
    pub fn open(fetched: Fetched, dim: usize, metric: Metric, verify: bool) -> Result<Self> {
        let Fetched { meta, file, random, lazy } = fetched;
        let name = meta.file.clone();
        let h = file.layout().header;
        if file.layout().file_len != meta.bytes {
            let what = format!("{} bytes, the manifest says {}", file.layout().file_len, meta.bytes);
            return Err(Error::format(&name, FormatError::Invalid(what)));
        }
        if h.dim as usize != dim || h.metric != metric || h.rows != meta.rows || h.kind != meta.kind {
            return Err(Error::format(
                &name,
                FormatError::Invalid(format!(
                    "header ({:?}, dim {}, {}, {} rows) disagrees with the manifest ({:?}, dim {dim}, {metric}, {} rows)",
                    h.kind, h.dim, h.metric, h.rows, meta.kind, meta.rows
                )),
            ));
        }
        let (index, lazy): (Arc<dyn Index>, _) = match lazy {
            Some(source) => {
                let l = Arc::new(LazyIndex::new(source, verify));
                (l.clone(), Some(l))
            }
            None => (Arc::from(open_index(&file, random, verify).map_err(|e| Error::index(&name, e))?), None),
        };
        let ids = file.section(SectionKind::IDS, verify).map_err(|e| Error::format(&name, e))?;
        let ids = PodSlice::from_le_bytes(ids)
            .filter(|ids: &PodSlice<u64>| ids.as_slice().len() as u64 == meta.rows)
            .ok_or_else(|| Error::format(&name, FormatError::Invalid(format!("ids section does not hold {} keys", meta.rows))))?;
        let rows = crate::rows::StoredRows::open(&file, verify).map_err(|e| Error::format(&name, e))?;
        Ok(Segment { meta, index, lazy, ids, rows })
    }
}

/// Opens the index of a segment from its sections. DiskANN nodes are read through `random`
/// when given, else from the whole file (an error if `file` holds only some sections).
pub(crate) fn open_index(
    file: &SegmentBytes,
    random: Option<Arc<dyn RandomAccess>>,
    verify: bool,
) -> std::result::Result<Box<dyn Index>, IndexError> {
    let index = open_index_of_kind(file, random, verify)?;
    let rows = file.layout().header.rows;
    if index.rows() as u64 != rows {
        return Err(FormatError::Invalid(format!("the index holds {} rows, the header {rows}", index.rows())).into());
    }
    Ok(index)
}

fn open_index_of_kind(
    file: &SegmentBytes,
    random: Option<Arc<dyn RandomAccess>>,
    verify: bool,
) -> std::result::Result<Box<dyn Index>, IndexError> {
    Ok(match file.layout().header.kind {
        SegmentKind::Flat => Box::new(FlatIndex::open(file, verify)?),
        SegmentKind::Hnsw => Box::new(HnswIndex::open(file, verify)?),
        SegmentKind::DiskAnn => {
            let by_range = random.is_some();
            let reader: Arc<dyn SectorRead> = match (random, file.file()) {
                (Some(r), _) => Arc::new(StoreSectors(r)),
                (None, Some(whole)) => Arc::new(whole.clone()),
                (None, None) => return Err(FormatError::Invalid("DiskANN nodes neither fetched nor readable".into()).into()),
            };
            let index = DiskAnnIndex::open(file, verify, reader)?;
            if by_range {
                // Nodes fetched by range through a cache stay in the store (checking the
                // whole section would download it): each read is checked instead.
                Box::new(index.checking_reads())
            } else {
                if verify {
                    index.verify_nodes(file.layout())?;
                }
                Box::new(index)
            }
        }
    })
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
