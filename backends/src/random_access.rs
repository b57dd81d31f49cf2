//! Positional reads of one object, for indexes that read small parts of a segment on
//! demand (DiskANN node sectors) instead of mapping or downloading all of it.

use std::fmt::Debug;
use std::io;

/// Reads byte ranges of one immutable object.
pub trait RandomAccess: Send + Sync + Debug {
    /// Object length in bytes.
    fn len(&self) -> u64;
    /// `true` for an empty object.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads `len` bytes at each of `offsets` and calls `each(i, bytes)` once per request
    /// `i` (in any order).
    ///
    /// # Errors
    /// An I/O error, including a short read past the end of the object, or (O_DIRECT) an
    /// offset or length that is not a multiple of 4096.
    fn read_batch(&self, offsets: &[u64], len: usize, each: &mut dyn FnMut(usize, &[u8])) -> io::Result<()>;

    /// What reads through this reader cost, as measured so far, for a planner choosing
    /// between many small rounds of reads and one large one. `None` (the default): not
    /// measured; reads are taken to be local and cheap.
    fn read_cost(&self) -> Option<ReadCost> {
        None
    }
}

/// What a batch of reads through a [`RandomAccess`] is expected to cost
/// ([`RandomAccess::read_cost`]), from the reads it served.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadCost {
    /// Fraction (0..=1) of block reads served without a fetch (from a cache's RAM or disk
    /// level): an average weighted to recent batches, seeded from a sample of the object's
    /// blocks before the first read.
    pub resident: f64,
    /// Wall time of a batch that had to fetch, in ns: about one round trip to the store,
    /// as a batch's missing blocks are fetched concurrently. `None` until a fetch was seen.
    pub fetch_ns: Option<f64>,
    /// Time per read served without a fetch, in ns. `None` until such a batch was seen.
    pub hit_ns: Option<f64>,
}
