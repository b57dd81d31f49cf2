//! Block caches for reads from a (remote) [`BlobStore`]: level 1 in RAM (moka, bounded in
//! bytes), level 2 in a local directory (checksummed block files that survive restarts).
//!
//! Objects are split into blocks of [`CacheOptions::block_bytes`]; a read of any byte range
//! is served block by block. Blocks missing from both levels are fetched with as few ranged
//! GETs as possible: adjacent missing blocks of one read (or of one batch of reads) coalesce
//! into one request (split above [`CacheOptions::max_request_bytes`] into requests sent
//! concurrently), and concurrent misses for the same block share one request
//! (single-flight).
//!
//! The cache assumes cached objects are immutable, which holds for stratovec's segment
//! files: a path is never rewritten with other bytes. [`BlockCache::forget`] drops an
//! object's blocks (e.g. after it is deleted).

mod disk;
mod reader;

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use parking_lot::Mutex;

pub use reader::CachedReader;

use crate::{BlobStore, StoreError};

/// (object key, block index); the object key is [`object_key`].
type BlockKey = (Arc<str>, u64);

/// The cache's name of object `path` of `len` bytes in `store`:
/// `{hash of the store's identity}:{len}:{path}`. Two stores (two databases sharing a
/// cache) never share keys, and an object of the same name but another length (a file
/// written again) is another object.
fn object_key(store: &dyn BlobStore, path: &str, len: u64) -> Arc<str> {
    let id = store.identity();
    let low = crc32c::crc32c(id.as_bytes());
    let high = crc32c::crc32c_append(low ^ 0x9e37_79b9, id.as_bytes());
    format!("{high:08x}{low:08x}:{len}:{path}").into()
}

/// The object path inside an [`object_key`].
fn path_of(key: &str) -> &str {
    key.splitn(3, ':').nth(2).unwrap_or(key)
}

/// One fetch of a run of blocks, shared by every reader waiting for one of them: the blocks
/// of the run in order, or the error (as text: `StoreError` is not `Clone`).
type RunFetch = Shared<BoxFuture<'static, Result<Arc<Vec<Bytes>>, Arc<StoreError>>>>;

/// Sizes and places of a [`BlockCache`].
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Bytes of blocks kept in RAM (level 1). Default 256 MiB.
    pub ram_bytes: u64,
    /// Block size in bytes, the unit of caching and fetching: 4 KiB suits a local disk,
    /// 64 KiB to 1 MiB an object store, where a request costs far more than its bytes.
    /// Default 64 KiB.
    pub block_bytes: u64,
    /// Largest single ranged GET in bytes; longer runs of missing blocks are split into
    /// requests of this size sent concurrently. Default 8 MiB.
    pub max_request_bytes: u64,
    /// Level 2: a local directory, or `None` for RAM only.
    pub disk: Option<DiskCacheOptions>,
}

/// Level 2 of a [`BlockCache`]: checksummed block files in a local directory.
#[derive(Debug, Clone)]
pub struct DiskCacheOptions {
    /// The directory (created if missing). Blocks left by an earlier process are reused.
    pub dir: PathBuf,
    /// Bytes of block files kept; least recently used blocks are deleted above it.
    pub max_bytes: u64,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions { ram_bytes: 256 << 20, block_bytes: 64 << 10, max_request_bytes: 8 << 20, disk: None }
    }
}

impl CacheOptions {
    /// Adds a level-2 cache in `dir` of at most `max_bytes`.
    pub fn with_disk(mut self, dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        self.disk = Some(DiskCacheOptions { dir: dir.into(), max_bytes });
        self
    }
}

/// Counters of a [`BlockCache`] since it was made; subtract two snapshots for one query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Blocks found in RAM.
    pub ram_hits: u64,
    /// Blocks found in the disk cache.
    pub disk_hits: u64,
    /// Blocks in neither level (fetched, or joined a fetch already under way).
    pub misses: u64,
    /// Misses that joined another reader's request instead of sending one.
    pub shared_fetches: u64,
    /// Ranged GETs sent to the store.
    pub requests: u64,
    /// Bytes those GETs returned.
    pub bytes_fetched: u64,
}

impl CacheStats {
    /// `self - earlier`, counter by counter.
    pub fn since(&self, earlier: &CacheStats) -> CacheStats {
        CacheStats {
            ram_hits: self.ram_hits - earlier.ram_hits,
            disk_hits: self.disk_hits - earlier.disk_hits,
            misses: self.misses - earlier.misses,
            shared_fetches: self.shared_fetches - earlier.shared_fetches,
            requests: self.requests - earlier.requests,
            bytes_fetched: self.bytes_fetched - earlier.bytes_fetched,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    ram_hits: AtomicU64,
    disk_hits: AtomicU64,
    misses: AtomicU64,
    shared_fetches: AtomicU64,
    requests: AtomicU64,
    bytes_fetched: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// A two-level block cache in front of any [`BlobStore`]; cheap to clone (shared state).
/// See the [module docs](self).
#[derive(Clone)]
pub struct BlockCache {
    inner: Arc<Inner>,
}

struct Inner {
    options: CacheOptions,
    ram: moka::sync::Cache<BlockKey, Bytes>,
    disk: Option<disk::DiskCache>,
    /// Blocks being fetched: the run's fetch and the block's index within it.
    inflight: Mutex<HashMap<BlockKey, (RunFetch, usize)>>,
    counters: Counters,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("options", &self.inner.options)
            .field("ram_bytes_used", &self.inner.ram.weighted_size())
            .field("disk", &self.inner.disk)
            .finish()
    }
}

impl BlockCache {
    /// A cache with `options`.
    ///
    /// # Errors
    /// `Io` if the disk cache directory cannot be created or read.
    pub fn new(options: CacheOptions) -> Result<Self, StoreError> {
        if options.block_bytes == 0 || options.block_bytes > u32::MAX as u64 {
            return Err(StoreError::Rejected(format!("cache block size {} bytes", options.block_bytes)));
        }
        let ram = moka::sync::Cache::builder()
            .max_capacity(options.ram_bytes)
            .weigher(|_, b: &Bytes| u32::try_from(b.len()).unwrap_or(u32::MAX))
            .support_invalidation_closures()
            .build();
        let disk = match &options.disk {
            Some(d) => Some(
                disk::DiskCache::open(&d.dir, options.block_bytes, d.max_bytes)
                    .map_err(|e| StoreError::io(d.dir.display().to_string(), e))?,
            ),
            None => None,
        };
        let inner = Inner { options, ram, disk, inflight: Mutex::default(), counters: Counters::default() };
        Ok(BlockCache { inner: Arc::new(inner) })
    }

    /// The options it was made with.
    pub fn options(&self) -> &CacheOptions {
        &self.inner.options
    }

    /// Bytes of blocks held in the RAM level now (at most `options().ram_bytes`).
    pub fn ram_bytes(&self) -> u64 {
        self.inner.ram.weighted_size()
    }

    /// Counters so far.
    pub fn stats(&self) -> CacheStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            ram_hits: get(&c.ram_hits),
            disk_hits: get(&c.disk_hits),
            misses: get(&c.misses),
            shared_fetches: get(&c.shared_fetches),
            requests: get(&c.requests),
            bytes_fetched: get(&c.bytes_fetched),
        }
    }

    /// Drops every cached block of objects named `path` (in any store) from both levels.
    pub fn forget(&self, path: &str) {
        let owned = path.to_string();
        let _ = self.inner.ram.invalidate_entries_if(move |k, _| path_of(&k.0) == owned);
        if let Some(d) = &self.inner.disk {
            let owned = path.to_string();
            d.forget(move |key| path_of(key) == owned);
        }
    }

    /// Bytes `range` of the object `path` of `object_len` bytes in `store`.
    ///
    /// # Errors
    /// `InvalidRange` when `range` is reversed or ends past `object_len`, else the store's
    /// error for a block it could not fetch.
    pub async fn read(&self, store: &Arc<dyn BlobStore>, path: &str, object_len: u64, range: Range<u64>) -> Result<Bytes, StoreError> {
        Ok(self.read_many(store, path, object_len, std::slice::from_ref(&range)).await?.remove(0))
    }

    /// Several ranges of one object at once; missing blocks of all of them coalesce.
    ///
    /// # Errors
    /// As [`BlockCache::read`].
    pub async fn read_many(
        &self,
        store: &Arc<dyn BlobStore>,
        path: &str,
        object_len: u64,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Bytes>, StoreError> {
        Ok(self.read_ranges(store, path, object_len, ranges, true).await?.0)
    }

    /// [`BlockCache::read_many`], also counting the blocks wanted and those fetched.
    pub(super) async fn read_many_counted(
        &self,
        store: &Arc<dyn BlobStore>,
        path: &str,
        object_len: u64,
        ranges: &[Range<u64>],
    ) -> Result<(Vec<Bytes>, BlockCount), StoreError> {
        self.read_ranges(store, path, object_len, ranges, true).await
    }

    /// Like [`BlockCache::read_many`], for bytes the caller keeps for itself (the sections a
    /// segment holds in RAM): blocks fetched now go to the disk level only, so RAM does not
    /// hold them twice.
    ///
    /// # Errors
    /// As [`BlockCache::read`].
    pub async fn read_bulk(
        &self,
        store: &Arc<dyn BlobStore>,
        path: &str,
        object_len: u64,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Bytes>, StoreError> {
        Ok(self.read_ranges(store, path, object_len, ranges, false).await?.0)
    }

    async fn read_ranges(
        &self,
        store: &Arc<dyn BlobStore>,
        path: &str,
        object_len: u64,
        ranges: &[Range<u64>],
        keep_in_ram: bool,
    ) -> Result<(Vec<Bytes>, BlockCount), StoreError> {
        for r in ranges {
            crate::blob::check_range(path, r, object_len)?;
        }
        let key = object_key(store.as_ref(), path, object_len);
        let path: Arc<str> = path.into();
        let bs = self.inner.options.block_bytes;
        let mut wanted: Vec<u64> = ranges.iter().filter(|r| r.start < r.end).flat_map(|r| r.start / bs..r.end.div_ceil(bs)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let (blocks, fetched) = self.blocks(store, &key, &path, object_len, &wanted, keep_in_ram).await?;
        let block_of = |i: u64| &blocks[wanted.binary_search(&i).unwrap_or_default()];
        Ok((ranges.iter().map(|r| assemble(r, bs, block_of)).collect(), BlockCount { wanted: wanted.len(), fetched }))
    }

    /// Fraction (0..=1) of up to `samples` blocks, evenly spaced over the object `path` of
    /// `object_len` bytes in `store`, held in RAM or on disk now. Counts no hit or miss.
    pub fn resident_fraction(&self, store: &dyn BlobStore, path: &str, object_len: u64, samples: u64) -> f64 {
        let blocks = object_len.div_ceil(self.inner.options.block_bytes);
        let samples = samples.min(blocks);
        if samples == 0 {
            return 1.0;
        }
        let key = object_key(store, path, object_len);
        let resident = (0..samples)
            .map(|i| (key.clone(), i * blocks / samples))
            .filter(|k| self.inner.ram.contains_key(k) || self.inner.disk.as_ref().is_some_and(|d| d.contains(k)))
            .count();
        resident as f64 / samples as f64
    }

    /// The blocks `wanted` (ascending, distinct) of `path`, from RAM, disk, a fetch under
    /// way, or new fetches.
    async fn blocks(
        &self,
        store: &Arc<dyn BlobStore>,
        key: &Arc<str>,
        path: &Arc<str>,
        object_len: u64,
        wanted: &[u64],
        keep_in_ram: bool,
    ) -> Result<(Vec<Bytes>, usize), StoreError> {
        let inner = &self.inner;
        let mut found: Vec<Option<Bytes>> = wanted.iter().map(|&i| self.cached(&(key.clone(), i), keep_in_ram)).collect();
        let mut waits: Vec<(usize, RunFetch, usize)> = Vec::new();
        {
            let mut inflight = inner.inflight.lock();
            let mut missing: Vec<usize> = Vec::new();
            for (slot, &i) in wanted.iter().enumerate() {
                if found[slot].is_some() {
                    continue;
                }
                add(&inner.counters.misses, 1);
                match inflight.get(&(key.clone(), i)) {
                    Some((fetch, at)) => {
                        add(&inner.counters.shared_fetches, 1);
                        waits.push((slot, fetch.clone(), *at));
                    }
                    None => missing.push(slot),
                }
            }
            for run in runs(&missing, wanted) {
                let first = wanted[run[0]];
                let count = run.len() as u64;
                let fetch = self.fetch_run(store.clone(), key.clone(), path.clone(), object_len, first..first + count, keep_in_ram);
                for (at, &slot) in run.iter().enumerate() {
                    inflight.insert((key.clone(), wanted[slot]), (fetch.clone(), at));
                    waits.push((slot, fetch.clone(), at));
                }
            }
        }
        let fetched = futures_util::future::join_all(waits.iter().map(|(_, fetch, _)| fetch.clone())).await;
        for ((slot, _, at), blocks) in waits.iter().zip(fetched) {
            let blocks = blocks.map_err(|e| copy_error(&e))?;
            found[*slot] = Some(blocks[*at].clone());
        }
        Ok((found.into_iter().map(Option::unwrap_or_default).collect(), waits.len()))
    }

    /// A block from RAM, else from disk (then kept in RAM too when `keep_in_ram`).
    fn cached(&self, key: &BlockKey, keep_in_ram: bool) -> Option<Bytes> {
        let inner = &self.inner;
        if let Some(b) = inner.ram.get(key) {
            add(&inner.counters.ram_hits, 1);
            return Some(b);
        }
        let b = inner.disk.as_ref()?.get(key)?;
        add(&inner.counters.disk_hits, 1);
        if keep_in_ram {
            inner.ram.insert(key.clone(), b.clone());
        }
        Some(b)
    }

    /// Fetches `blocks` of `path` with ranged GETs of at most `max_request_bytes`, sent
    /// concurrently; stores them on disk (and in RAM when `keep_in_ram`) and clears their
    /// in-flight entries.
    fn fetch_run(
        &self,
        store: Arc<dyn BlobStore>,
        key: Arc<str>,
        path: Arc<str>,
        object_len: u64,
        blocks: Range<u64>,
        keep_in_ram: bool,
    ) -> RunFetch {
        let cache = self.clone();
        let (first, count) = (blocks.start, blocks.end - blocks.start);
        async move {
            let inner = &cache.inner;
            let bs = inner.options.block_bytes;
            let per_request = (inner.options.max_request_bytes / bs).max(1);
            let requests = (0..count).step_by(per_request as usize).map(|off| {
                let start = (first + off) * bs;
                let end = ((first + (off + per_request).min(count)) * bs).min(object_len);
                let (store, path, counters) = (store.clone(), path.clone(), &inner.counters);
                async move {
                    add(&counters.requests, 1);
                    let part = store.get_range(&path, start..end).await?;
                    add(&counters.bytes_fetched, part.len() as u64);
                    Ok::<_, StoreError>(part)
                }
            });
            let result = futures_util::future::try_join_all(requests).await;
            let mut blocks = Vec::with_capacity(count as usize);
            if let Ok(parts) = &result {
                for part in parts {
                    blocks.extend(
                        (0..part.len() as u64)
                            .step_by(bs as usize)
                            .map(|at| part.slice(at as usize..(at + bs).min(part.len() as u64) as usize)),
                    );
                }
            }
            {
                let mut inflight = inner.inflight.lock();
                for (k, block) in blocks.iter().enumerate() {
                    let key = (key.clone(), first + k as u64);
                    if keep_in_ram {
                        inner.ram.insert(key.clone(), block.clone());
                    }
                    if let Some(d) = &inner.disk {
                        d.put(&key, block);
                    }
                }
                for k in 0..count {
                    inflight.remove(&(key.clone(), first + k));
                }
            }
            result.map_err(Arc::new)?;
            Ok(Arc::new(blocks))
        }
        .boxed()
        .shared()
    }

    /// A positional reader of `path` (`object_len` bytes) through this cache, for DiskANN
    /// node reads.
    pub fn reader(&self, store: Arc<dyn BlobStore>, path: &str, object_len: u64) -> CachedReader {
        CachedReader::new(self.clone(), store, path, object_len)
    }
}

/// Blocks of one read: distinct blocks wanted, and those not in the cache (fetched, or
/// waited for while another reader fetched them).
#[derive(Debug, Clone, Copy)]
pub(super) struct BlockCount {
    pub wanted: usize,
    pub fetched: usize,
}

/// Groups `slots` (indexes into `wanted`, ascending) into runs of consecutive block numbers.
fn runs(slots: &[usize], wanted: &[u64]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for &s in slots {
        match out.last_mut() {
            Some(run) if wanted[*run.last().unwrap_or(&s)] + 1 == wanted[s] => run.push(s),
            _ => out.push(vec![s]),
        }
    }
    out
}

/// The bytes of `range` cut from its blocks.
fn assemble<'a>(range: &Range<u64>, bs: u64, block_of: impl Fn(u64) -> &'a Bytes) -> Bytes {
    if range.start == range.end {
        return Bytes::new();
    }
    let (first, last) = (range.start / bs, (range.end - 1) / bs);
    let cut = |i: u64| {
        let b = block_of(i);
        let from = if i == first { (range.start - i * bs) as usize } else { 0 };
        let to = if i == last { (range.end - i * bs) as usize } else { b.len() };
        b.slice(from.min(b.len())..to.min(b.len()))
    };
    if first == last {
        return cut(first);
    }
    let mut out = BytesMut::with_capacity((range.end - range.start) as usize);
    for i in first..=last {
        out.extend_from_slice(&cut(i));
    }
    out.freeze()
}

/// A copy of a shared fetch's error for one of its waiters.
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound(p) => StoreError::NotFound(p.clone()),
        StoreError::AlreadyExists(p) => StoreError::AlreadyExists(p.clone()),
        StoreError::Locked(p) => StoreError::Locked(p.clone()),
        StoreError::ReadOnly => StoreError::ReadOnly,
        StoreError::InvalidPath(p) => StoreError::InvalidPath(p.clone()),
        StoreError::InvalidRange { path, start, end, size } => {
            StoreError::InvalidRange { path: path.clone(), start: *start, end: *end, size: *size }
        }
        StoreError::Io { path, source } => StoreError::io(path.clone(), std::io::Error::new(source.kind(), source.to_string())),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Rejected(m) => StoreError::Rejected(m.clone()),
    }
}

#[cfg(test)]
mod tests;
