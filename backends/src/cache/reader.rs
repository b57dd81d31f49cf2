//! [`CachedReader`]: positional reads of one object through a [`BlockCache`].

use std::io;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::BlockCache;
use crate::{BlobStore, RandomAccess, ReadCost};

/// Weight of the newest batch in [`ReadCost::resident`].
const RESIDENT_WEIGHT: f64 = 0.05;
/// Weight of the newest measurement in the fetch and hit times.
const TIME_WEIGHT: f64 = 0.2;
/// Blocks sampled to seed [`ReadCost::resident`] before the first read.
const SEED_SAMPLES: u64 = 64;

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
    /// What its reads cost so far; `None` until the first read or [`RandomAccess::read_cost`].
    measured: Arc<Mutex<Option<ReadCost>>>,
}

impl CachedReader {
    pub(super) fn new(cache: BlockCache, store: Arc<dyn BlobStore>, path: &str, len: u64) -> Self {
        CachedReader { cache, store, path: path.to_string(), len, measured: Arc::default() }
    }

    /// The measurements so far, seeded from a sample of the cache's blocks of the object.
    fn current(&self, measured: &mut Option<ReadCost>) -> ReadCost {
        *measured.get_or_insert_with(|| ReadCost {
            resident: self.cache.resident_fraction(self.store.as_ref(), &self.path, self.len, SEED_SAMPLES),
            fetch_ns: None,
            hit_ns: None,
        })
    }

    /// Adds one batch of `reads` reads that wanted `wanted` blocks, `fetched` of them not
    /// cached, in `ns`.
    fn record(&self, reads: usize, wanted: usize, fetched: usize, ns: f64) {
        let mut guard = self.measured.lock();
        let mut cost = self.current(&mut guard);
        if wanted > 0 {
            let resident = 1.0 - fetched as f64 / wanted as f64;
            cost.resident += RESIDENT_WEIGHT * (resident - cost.resident);
        }
        let blend = |old: Option<f64>, new: f64| Some(old.map_or(new, |o| o + TIME_WEIGHT * (new - o)));
        if fetched > 0 {
            cost.fetch_ns = blend(cost.fetch_ns, ns);
        } else if reads > 0 {
            cost.hit_ns = blend(cost.hit_ns, ns / reads as f64);
        }
        *guard = Some(cost);
    }
}

impl RandomAccess for CachedReader {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_batch(&self, offsets: &[u64], len: usize, each: &mut dyn FnMut(usize, &[u8])) -> io::Result<()> {
        let ranges: Vec<_> = offsets.iter().map(|&o| o..o.saturating_add(len as u64)).collect();
        let started = Instant::now();
        let read = self.cache.read_many_counted(&self.store, &self.path, self.len, &ranges);
        let (parts, count) = pollster::block_on(read).map_err(|e| match e {
            crate::StoreError::InvalidRange { .. } => io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string()),
            other => io::Error::other(other.to_string()),
        })?;
        self.record(offsets.len(), count.wanted, count.fetched, started.elapsed().as_secs_f64() * 1e9);
        for (i, part) in parts.iter().enumerate() {
            each(i, part);
        }
        Ok(())
    }

    /// Measured on this reader's batches: the resident fraction of the blocks they wanted
    /// (seeded from 64 blocks sampled over the object), the wall time of batches that
    /// fetched, and the time per read of those that did not.
    fn read_cost(&self) -> Option<ReadCost> {
        let mut guard = self.measured.lock();
        Some(self.current(&mut guard))
    }
}
