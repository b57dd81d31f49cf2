use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pollster::block_on;

use super::*;
use crate::{LatencyStore, MemoryStore};

fn object(len: usize) -> Bytes {
    (0..len).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>().into()
}

/// A store holding `a.seg` of `len` bytes behind a 5 ms latency decorator (counts requests).
fn store(len: usize) -> (Arc<dyn BlobStore>, LatencyStore, Bytes) {
    let mem: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let data = object(len);
    block_on(mem.put("a.seg", data.clone())).unwrap();
    let slow = LatencyStore::new(mem, Duration::from_millis(5));
    (Arc::new(slow.clone()), slow, data)
}

fn small_blocks() -> CacheOptions {
    CacheOptions { ram_bytes: 1 << 20, block_bytes: 100, max_request_bytes: 1000, disk: None }
}

#[test]
fn reads_match_the_object_at_every_edge() {
    let (s, _, data) = store(1050);
    let cache = BlockCache::new(small_blocks()).unwrap();
    for r in [0..1, 0..100, 99..101, 100..200, 0..1050, 1049..1050, 1000..1050, 250..250, 37..911] {
        let got = block_on(cache.read(&s, "a.seg", 1050, r.clone())).unwrap();
        assert_eq!(got, data.slice(r.start as usize..r.end as usize), "range {r:?}");
    }
    assert!(matches!(block_on(cache.read(&s, "a.seg", 1050, 1000..1051)), Err(StoreError::InvalidRange { .. })));
}

#[test]
fn adjacent_misses_coalesce_and_hits_send_nothing() {
    let (s, slow, _) = store(1050);
    let cache = BlockCache::new(small_blocks()).unwrap();
    block_on(cache.read(&s, "a.seg", 1050, 150..450)).unwrap(); // blocks 1..=4
    assert_eq!(slow.stats().requests, 1, "four adjacent blocks, one GET");
    block_on(cache.read(&s, "a.seg", 1050, 100..500)).unwrap();
    assert_eq!(slow.stats().requests, 1, "all hits");
    assert_eq!(cache.stats().ram_hits, 4);
    // Blocks 0 and 5..=9 are missing: two runs, two GETs, sent together (one round).
    let before = slow.stats();
    block_on(cache.read(&s, "a.seg", 1050, 0..1000)).unwrap();
    let d = slow.stats().since(&before);
    assert_eq!((d.requests, d.rounds), (2, 1));
}

#[test]
fn long_runs_split_into_concurrent_requests() {
    let (s, slow, data) = store(5000);
    let cache = BlockCache::new(small_blocks()).unwrap();
    let got = block_on(cache.read(&s, "a.seg", 5000, 0..5000)).unwrap();
    assert_eq!(got, data);
    let st = slow.stats();
    assert_eq!((st.requests, st.rounds), (5, 1), "5000 bytes in 1000-byte requests, all at once");
    assert_eq!(cache.stats().bytes_fetched, 5000);
}

#[test]
fn concurrent_misses_for_a_block_share_one_request() {
    let (s, slow, data) = store(1000);
    let cache = BlockCache::new(small_blocks()).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| assert_eq!(block_on(cache.read(&s, "a.seg", 1000, 200..300)).unwrap(), data.slice(200..300)));
        }
    });
    let st = cache.stats();
    assert_eq!(slow.stats().requests, 1, "{st:?}");
    assert_eq!(st.misses + st.ram_hits, 8);
}

#[test]
fn batches_coalesce_across_reads() {
    let (s, slow, data) = store(1000);
    let cache = BlockCache::new(small_blocks()).unwrap();
    let got = block_on(cache.read_many(&s, "a.seg", 1000, &[100..150, 250..300, 200..210, 700..800])).unwrap();
    assert_eq!(got[1], data.slice(250..300));
    assert_eq!(slow.stats().requests, 2, "blocks 1-2 in one GET, block 7 in another");
    let reader = cache.reader(s.clone(), "a.seg", 1000);
    let mut seen = Vec::new();
    crate::RandomAccess::read_batch(&reader, &[100, 700], 50, &mut |i, b| seen.push((i, b.to_vec()))).unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(slow.stats().requests, 2, "the reader hit the cache");
    assert!(crate::RandomAccess::read_batch(&reader, &[990], 20, &mut |_, _| {}).is_err());
}

#[test]
fn errors_are_not_cached() {
    let (s, slow, data) = store(1000);
    let cache = BlockCache::new(small_blocks()).unwrap();
    assert!(matches!(block_on(cache.read(&s, "missing.seg", 1000, 0..10)), Err(StoreError::NotFound(_))));
    assert!(block_on(cache.read(&s, "missing.seg", 1000, 0..10)).is_err());
    assert_eq!(slow.stats().requests, 2, "a failed fetch is retried by the next read");
    assert_eq!(block_on(cache.read(&s, "a.seg", 1000, 0..10)).unwrap(), data.slice(0..10));
}

#[test]
fn disk_level_serves_a_restarted_process() {
    let dir = tempfile::tempdir().unwrap();
    let (s, slow, data) = store(1000);
    let opts = small_blocks().with_disk(dir.path(), 1 << 20);
    block_on(BlockCache::new(opts.clone()).unwrap().read(&s, "a.seg", 1000, 0..1000)).unwrap();
    let fetched = slow.stats().requests;
    let again = BlockCache::new(opts).unwrap();
    assert_eq!(block_on(again.read(&s, "a.seg", 1000, 0..1000)).unwrap(), data);
    assert_eq!(slow.stats().requests, fetched, "no request after a restart");
    assert_eq!(again.stats().disk_hits, 10);
    again.forget("a.seg");
    block_on(again.read(&s, "a.seg", 1000, 0..10)).unwrap();
    assert_eq!(slow.stats().requests, fetched + 1, "forget drops both levels");
}

#[test]
fn ram_level_is_bounded() {
    let (s, _, _) = store(100_000);
    let cache = BlockCache::new(CacheOptions { ram_bytes: 10_000, ..small_blocks() }).unwrap();
    block_on(cache.read(&s, "a.seg", 100_000, 0..100_000)).unwrap();
    cache.inner.ram.run_pending_tasks();
    assert!(cache.inner.ram.weighted_size() <= 10_000, "{}", cache.inner.ram.weighted_size());
}

/// Two stores holding different objects under the same name (two databases sharing one
/// cache) never read each other's blocks, in RAM or on disk.
#[test]
fn stores_sharing_a_cache_never_see_each_others_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlockCache::new(CacheOptions { block_bytes: 16, ..CacheOptions::default() }.with_disk(dir.path(), 1 << 20)).unwrap();
    let a: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let b: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    pollster::block_on(a.put("segments/1.seg", Bytes::from_static(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))).unwrap();
    pollster::block_on(b.put("segments/1.seg", Bytes::from_static(b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))).unwrap();
    let read = |s: &Arc<dyn BlobStore>| pollster::block_on(cache.read(s, "segments/1.seg", 32, 0..32)).unwrap();
    assert_eq!(read(&a), &b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"[..]);
    assert_eq!(read(&b), &b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"[..]);
    // A restart: the disk level is reopened, RAM is empty.
    let again = BlockCache::new(CacheOptions { block_bytes: 16, ..CacheOptions::default() }.with_disk(dir.path(), 1 << 20)).unwrap();
    assert_eq!(pollster::block_on(again.read(&b, "segments/1.seg", 32, 0..32)).unwrap(), &b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"[..]);
    assert_eq!(again.stats().disk_hits, 2, "served from the disk level, by the right store");
}
