//! A custom `BlobStore`: objects in memory, spread over shards (each a locked B-tree), to
//! show the trait a new storage backend implements, how to check it with the conformance
//! suites (feature `test-util`), and how a database runs on it.
//!
//! Run: `cargo run --example custom_store --features test-util`

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use stratovec::backends::{validate_path, ObjectMeta};
use stratovec::{async_trait, BlobStore, Db, Metric, SearchParams, StoreError};

/// Objects spread over `shards` maps by a hash of their path.
#[derive(Debug)]
struct ShardedStore {
    shards: Vec<Mutex<BTreeMap<String, Bytes>>>,
}

impl ShardedStore {
    fn new(shards: usize) -> Self {
        ShardedStore { shards: (0..shards.max(1)).map(|_| Mutex::default()).collect() }
    }

    fn shard(&self, path: &str) -> &Mutex<BTreeMap<String, Bytes>> {
        let mut h = DefaultHasher::new();
        path.hash(&mut h);
        &self.shards[(h.finish() % self.shards.len() as u64) as usize]
    }
}

#[async_trait]
impl BlobStore for ShardedStore {
    /// Two stores must never share cached blocks: the address of this one names it.
    fn identity(&self) -> String {
        format!("sharded://{:p}", self)
    }

    async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        validate_path(path)?;
        self.shard(path).lock().get(path).cloned().ok_or_else(|| StoreError::NotFound(path.to_string()))
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let all = self.get(path).await?;
        if range.start > range.end || range.end > all.len() as u64 {
            return Err(StoreError::InvalidRange { path: path.to_string(), start: range.start, end: range.end, size: all.len() as u64 });
        }
        Ok(all.slice(range.start as usize..range.end as usize))
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        validate_path(path)?;
        self.shard(path).lock().insert(path.to_string(), data);
        Ok(())
    }

    /// Create-only: the manifest of each version is published with it, so it must be
    /// atomic (here: one lock per shard, and a path always maps to the same shard).
    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        validate_path(path)?;
        let mut shard = self.shard(path).lock();
        if shard.contains_key(path) {
            return Err(StoreError::AlreadyExists(path.to_string()));
        }
        shard.insert(path.to_string(), data);
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        validate_path(path)?;
        self.shard(path).lock().remove(path);
        Ok(())
    }

    /// Every path under `prefix`, sorted (merged over the shards).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<String> = Vec::new();
        for shard in &self.shards {
            out.extend(shard.lock().range(prefix.to_string()..).take_while(|(k, _)| k.starts_with(prefix)).map(|(k, _)| k.clone()));
        }
        out.sort_unstable();
        Ok(out)
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError> {
        let size = self.get(path).await?.len() as u64;
        Ok(ObjectMeta { path: path.to_string(), size })
    }
}

fn main() -> stratovec::Result<()> {
    // 1. The contract, checked on a fresh store: panics naming the broken rule.
    stratovec::backends::conformance::full_suite(Arc::new(ShardedStore::new(8)), 1 << 20);
    println!("ShardedStore passes the conformance suites");

    // 2. A database on it.
    pollster::block_on(async {
        let store: Arc<dyn BlobStore> = Arc::new(ShardedStore::new(8));
        let db = Db::builder(store.clone()).open_or_create(2, Metric::L2).await?;
        db.insert_batch(&[1, 2, 3], &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0])?;
        db.commit().await?;
        let hits = db.search(&[0.9, 0.1], 1, &SearchParams::default())?;
        assert_eq!(hits[0].id, 2);
        drop(db);
        let replica = Db::builder(store).open_read_only().await?;
        println!("a replica on the same store sees {} rows; nearest to (0.9, 0.1): key {}", replica.stats().live_rows, hits[0].id);
        Ok(())
    })
}
