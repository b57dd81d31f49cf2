//! Opening a segment's index with the factory of its kind, and the positional reader its
//! on-demand sections (DiskANN nodes) are read through.

use std::sync::Arc;

use stratovec_backends::RandomAccess;
use stratovec_formats::segment::SegmentBytes;
use stratovec_formats::FormatError;
use stratovec_indexes::{Index, IndexError, IndexFactory, SectorRead};

/// Opens the index of a segment from its sections with `factory`. On-demand sections are
/// read through `random` when given, else from the whole file. The index must hold the
/// header's row count.
///
/// # Errors
/// The factory's errors; `Format` when the index holds another number of rows.
pub(crate) fn open_index(
    factory: &dyn IndexFactory,
    file: &SegmentBytes,
    random: Option<Arc<dyn RandomAccess>>,
    verify: bool,
) -> std::result::Result<Box<dyn Index>, IndexError> {
    let on_demand = random.map(|r| Arc::new(StoreSectors(r)) as Arc<dyn SectorRead>);
    let index = factory.open(file, on_demand, verify)?;
    let rows = file.layout().header.rows;
    if index.rows() as u64 != rows {
        return Err(FormatError::Invalid(format!("the index holds {} rows, the header {rows}", index.rows())).into());
    }
    Ok(index)
}

/// On-demand section reads through the store's positional reader.
#[derive(Debug)]
struct StoreSectors(Arc<dyn RandomAccess>);

impl SectorRead for StoreSectors {
    fn read_batch(&self, offsets: &[u64], len: usize, each: &mut dyn FnMut(usize, &[u8])) -> std::io::Result<()> {
        self.0.read_batch(offsets, len, each)
    }
}
