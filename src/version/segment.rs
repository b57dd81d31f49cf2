//! An opened, immutable segment: its index and the user key of each row.

use std::sync::Arc;
use stratovec_formats::manifest::SegmentMeta;
use stratovec_formats::segment::{SectionKind, SegmentHeader, SegmentKind, SegmentWriter};
use stratovec_formats::FormatError;

use stratovec_indexes::{Index, Metric, PodSlice};

use crate::read::fetch::Fetched;
use crate::read::index_kinds::open_index;
use crate::read::lazy::LazyIndex;

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
    pub rows: crate::version::rows::StoredRows,
    /// The reader of the index's on-demand sections (DiskANN nodes), if any.
    pub reads: Option<Arc<dyn stratovec_backends::RandomAccess>>,
}

impl Segment {
    /// Opens `file` (the bytes of `meta.file`), checking it against the manifest entry and
    /// the database's dimension and metric. DiskANN nodes are read through `random` when
    /// the store offers positional reads, else from `file`.
    pub fn open(fetched: Fetched, dim: usize, metric: Metric, verify: bool) -> Result<Self> {
        let Fetched { factory, meta, file, random, lazy, reads } = fetched;
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
            None => (Arc::from(open_index(factory.as_ref(), &file, random, verify).map_err(|e| Error::index(&name, e))?), None),
        };
        let ids = file.section(SectionKind::IDS, verify).map_err(|e| Error::format(&name, e))?;
        let ids = PodSlice::from_le_bytes(ids)
            .filter(|ids: &PodSlice<u64>| ids.as_slice().len() as u64 == meta.rows)
            .ok_or_else(|| Error::format(&name, FormatError::Invalid(format!("ids section does not hold {} keys", meta.rows))))?;
        let rows = crate::version::rows::StoredRows::open(&file, verify).map_err(|e| Error::format(&name, e))?;
        Ok(Segment { meta, index, lazy, ids, rows, reads })
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
