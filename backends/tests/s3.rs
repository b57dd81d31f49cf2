//! The conformance suites against a real S3 API (moto, started by `.ci/run`). Skipped
//! unless `STRATOVEC_S3_ENDPOINT` (e.g. `http://127.0.0.1:5055`) names a server with the
//! bucket `STRATOVEC_S3_BUCKET` (default `stratovec`).
#![cfg(feature = "opendal")]
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;

use stratovec_backends::*;

/// An OpenDAL S3 store under a fresh root of the test bucket, `None` without a server.
fn s3(root: &str) -> Option<OpenDalStore> {
    let endpoint = std::env::var("STRATOVEC_S3_ENDPOINT").ok()?;
    let bucket = std::env::var("STRATOVEC_S3_BUCKET").unwrap_or_else(|_| "stratovec".into());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let store = OpenDalStore::s3_compatible(&endpoint, &bucket, &format!("/{root}-{nanos}"), "test", "test").unwrap();
    Some(store.with_multipart_threshold(8 << 20))
}

#[test]
fn s3_store_conforms() {
    let Some(store) = s3("conformance") else {
        eprintln!("skipped: STRATOVEC_S3_ENDPOINT is not set");
        return;
    };
    conformance::full_suite(Arc::new(store), 20 << 20);
}

#[test]
fn s3_store_passes_the_commit_preflight() {
    let Some(store) = s3("preflight") else { return };
    let commits = BlobCommitStore::new(Arc::new(store));
    pollster::block_on(commits.preflight()).expect("moto honours If-None-Match");
}
