//! [`CachedReader`]: positional reads of one object through a [`BlockCache`].

use std::io;
use std::sync::Arc;

use super::BlockCache;
use crate::{BlobStore, RandomAccess};

/// Reads byte ranges of one immutable object through a [`BlockCache`] (the DiskANN node
/// reader of a segment in an object store). A batch of reads is one call to
/// [`BlockCache::read_many`]: its missing blocks are fetched concurrently, adjacent ones in
/// one request. Blocking: it waits for the fetches on the calling thread.
#[derive(Debug, Clone)]
pub struct CachedReader {
    cache: BlockCache,
    store: Arc<dyn BlobStore>,
    path: String,
    len: u64,
}

impl CachedReader {
    pub(super) fn new(cache: BlockCache, store: Arc<dyn BlobStore>, path: &str, len: u64) -> Self {
        CachedReader { cache, store, path: path.to_string(), len }
    }
}

impl RandomAccess for CachedReader {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_batch(&self, offsets: &[u64], len: usize, each: &mut dyn FnMut(usize, &[u8])) -> io::Result<()> {
        let ranges: Vec<_> = offsets.iter().map(|&o| o..o.saturating_add(len as u64)).collect();
        let read = self.cache.read_many(&self.store, &self.path, self.len, &ranges);
        let parts = pollster::block_on(read).map_err(|e| match e {
            crate::StoreError::InvalidRange { .. } => io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string()),
            other => io::Error::other(other.to_string()),
        })?;
        for (i, part) in parts.iter().enumerate() {
            each(i, part);
        }
        Ok(())
    }
}
