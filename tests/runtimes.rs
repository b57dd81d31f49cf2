//! Every public method called from inside tokio runtimes (current-thread and
//! multi-thread), on OpenDAL's memory service and on S3 (moto, when
//! `STRATOVEC_S3_ENDPOINT` is set): the engine's synchronous calls block their thread on
//! store futures (automatic commits, lazy index loads, DiskANN node reads through a cache),
//! which must not deadlock a runtime whose only thread they block.
#![cfg(feature = "opendal")]
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;
use std::time::Duration;

use stratovec::backends::cache::{BlockCache, CacheOptions};
use stratovec::backends::OpenDalStore;
use stratovec::*;

mod common;
use common::vectors;

const DIM: usize = 8;

/// Ends the process if a test hangs (a deadlock), instead of hanging CI.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(300));
        eprintln!("a runtime test hung for 300 s: deadlock");
        std::process::exit(1);
    });
}

fn stores() -> Vec<Arc<dyn BlobStore>> {
    let mut out: Vec<Arc<dyn BlobStore>> = vec![Arc::new(OpenDalStore::memory().unwrap())];
    if let Ok(endpoint) = std::env::var("STRATOVEC_S3_ENDPOINT") {
        let bucket = std::env::var("STRATOVEC_S3_BUCKET").unwrap_or_else(|_| "stratovec".into());
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let root = format!("/runtimes-{nanos}-{:?}", std::thread::current().id());
        out.push(Arc::new(OpenDalStore::s3_compatible(&endpoint, &bucket, &root, "test", "test").unwrap()));
    } else {
        eprintln!("S3 skipped: STRATOVEC_S3_ENDPOINT is not set");
    }
    out
}

async fn every_call(store: Arc<dyn BlobStore>) {
    let opts = || {
        DbOptions { memtable_limit_bytes: Some(32 << 10), ..DbOptions::default() }
            .with_flat_threshold(100)
            .with_diskann_threshold(300)
            .with_cache(BlockCache::new(CacheOptions { block_bytes: 4096, ..CacheOptions::default() }).unwrap())
    };
    let db = Db::create(store.clone(), DIM, Metric::L2, opts()).await.unwrap();
    for id in 0..400u64 {
        db.insert(id, &vectors(1, DIM, id)).unwrap(); // automatic commits (sync)
    }
    db.commit().await.unwrap();
    db.compact_with(&MergeAll).await.unwrap();
    db.delete(3).unwrap();
    db.commit().await.unwrap();
    let replica = Db::open_read_only(store.clone(), opts()).await.unwrap();
    let q = vectors(1, DIM, 7);
    assert_eq!(replica.search(&q, 5, &SearchParams::default()).unwrap().len(), 5); // lazy loads
    assert!(replica.get(10).unwrap().is_some()); // a DiskANN node read through the cache
    assert!(replica.get_record(11, Include::ALL).unwrap().is_some());
    let rows: usize = replica.scan(None, 64, Include::ALL).unwrap().map(|b| b.unwrap().len()).sum();
    assert_eq!(rows, 399);
    db.insert(1000, &q).unwrap();
    db.commit().await.unwrap();
    replica.refresh().await.unwrap();
    assert!(replica.contains(1000));
    db.vacuum(&RetentionPolicy { keep_versions: 1, keep_for: Duration::ZERO }).await.unwrap();
    drop(db);
    let reopened = Db::open(store, opts()).await.unwrap();
    assert_eq!(reopened.stats().live_rows, 400);
}

#[tokio::test(flavor = "current_thread")]
async fn every_call_works_inside_a_current_thread_runtime() {
    watchdog();
    for store in stores() {
        every_call(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_works_inside_a_multi_thread_runtime() {
    watchdog();
    for store in stores() {
        every_call(store).await;
    }
}

/// `s3://` store URIs on the S3 server of `STRATOVEC_S3_ENDPOINT` (moto): a writer opens or
/// creates through the builder twice, and a read-only handle sees its commits. Credentials
/// come from the standard AWS environment (set to moto's dummy ones when absent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_uris_open_or_create() {
    let Ok(endpoint) = std::env::var("STRATOVEC_S3_ENDPOINT") else {
        eprintln!("S3 skipped: STRATOVEC_S3_ENDPOINT is not set");
        return;
    };
    for (key, value) in [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")] {
        if std::env::var(key).is_err() {
            std::env::set_var(key, value);
        }
    }
    let bucket = std::env::var("STRATOVEC_S3_BUCKET").unwrap_or_else(|_| "stratovec".into());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let uri = format!("s3://{bucket}/uri-{nanos}/db?endpoint={endpoint}&region=us-east-1");
    for run in 0..2u64 {
        let db = Db::builder_uri(uri.clone()).open_or_create(DIM, Metric::L2).await.unwrap();
        db.upsert(run, &vectors(1, DIM, run)).unwrap();
        db.commit().await.unwrap();
    }
    let reader = Db::builder_uri(uri).open_read_only().await.unwrap();
    assert!(reader.contains(0) && reader.contains(1), "both runs' commits are in one database");
}
