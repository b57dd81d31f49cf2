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
}
