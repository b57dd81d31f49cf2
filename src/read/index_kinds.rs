//! Which index opens a segment of each kind (Flat, HNSW, DiskANN), from its sections and,
//! for DiskANN nodes, a positional reader.

use std::sync::Arc;

use stratovec_backends::RandomAccess;
use stratovec_formats::segment::{SegmentBytes, SegmentKind};
use stratovec_formats::FormatError;
use stratovec_indexes::{DiskAnnIndex, FlatIndex, HnswIndex, Index, IndexError, OpenIndex, SectorRead};

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

/// DiskANN node reads through the store's positional reader.
#[derive(Debug)]
struct StoreSectors(Arc<dyn RandomAccess>);

impl SectorRead for StoreSectors {
    fn read_batch(&self, offsets: &[u64], len: usize, each: &mut dyn FnMut(usize, &[u8])) -> std::io::Result<()> {
        self.0.read_batch(offsets, len, each)
    }
}
