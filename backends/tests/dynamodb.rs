//! `DynamoDbCommitStore` against a real DynamoDB API (moto, started by `.ci/run`):
//! the commit-store contract with racing writers, half-finished commits completed by
//! readers, a lost put response resolved as success, and a clear error for a missing table.
//! Skipped unless `STRATOVEC_DYNAMODB_ENDPOINT` is set (e.g. `http://127.0.0.1:5055`).
#![cfg(all(feature = "dynamodb", feature = "test-util"))]
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;

use bytes::Bytes;
use stratovec_backends::dynamodb_crate::Client;
use stratovec_backends::faulty::{Fault, FaultyStore, Op, Rule};
use stratovec_backends::{conformance, BlobStore, CommitError, CommitStore, DynamoDbCommitStore, MemoryStore, StoreError};

fn client() -> Option<Client> {
    Some(DynamoDbCommitStore::local_client(&std::env::var("STRATOVEC_DYNAMODB_ENDPOINT").ok()?))
}

/// A fresh table per test (moto keeps tables for the life of the server).
fn table(client: &Client, name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let table = format!("{name}-{nanos}");
    pollster::block_on(DynamoDbCommitStore::create_table(client, &table)).expect("create table");
    table
}

#[test]
fn dynamodb_commit_store_conforms() {
    let Some(client) = client() else { return eprintln!("STRATOVEC_DYNAMODB_ENDPOINT not set: skipped") };
    let t = table(&client, "conform");
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let commits = DynamoDbCommitStore::new(client.clone(), &t, "mem://a", store.clone()).unwrap();
    pollster::block_on(commits.preflight()).unwrap();
    conformance::commit_store_suite(Arc::new(commits.clone()), 4, 5);
    // Another database in the same table is independent.
    let other = DynamoDbCommitStore::new(client, &t, "mem://b", store.clone()).unwrap();
    assert!(pollster::block_on(other.latest()).unwrap().is_none());
    // Staging objects are cleaned up; manifests are where readers look.
    assert!(pollster::block_on(store.list("_stratovec/commits/")).unwrap().is_empty());
    assert_eq!(pollster::block_on(store.list("MANIFEST-")).unwrap().len(), 5);
    // A staging object left by a crashed commit of version 1 goes with that version.
    let left = "_stratovec/commits/00000000000000000001-1-2-3.bin";
    pollster::block_on(store.put(left, Bytes::from_static(b"crashed"))).unwrap();
    pollster::block_on(commits.forget(1)).unwrap();
    assert_eq!(pollster::block_on(commits.versions()).unwrap(), vec![2, 3, 4, 5]);
    assert!(matches!(pollster::block_on(store.get(left)), Err(StoreError::NotFound(_))), "staging of a vacuumed version is deleted");
}

#[test]
fn a_half_finished_commit_is_completed_by_the_next_reader() {
    let Some(client) = client() else { return };
    let t = table(&client, "half");
    let mem: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    // The writer's copy to MANIFEST-1 fails after its item was put.
    let faulty = FaultyStore::new(mem.clone(), 1);
    faulty.inject(Rule::new(Op::Put, Fault::Error).prefix("MANIFEST-").times(1));
    let writer = DynamoDbCommitStore::new(client.clone(), &t, "mem://h", Arc::new(faulty)).unwrap();
    let e = pollster::block_on(writer.try_commit(0, Bytes::from_static(b"manifest one"))).unwrap_err();
    assert!(matches!(e, CommitError::Unavailable(_)), "{e:?}");
    assert!(matches!(pollster::block_on(mem.get("MANIFEST-00000000000000000001.bin")), Err(StoreError::NotFound(_))));
    let reader = DynamoDbCommitStore::new(client.clone(), &t, "mem://h", mem.clone()).unwrap();
    let (v, bytes) = pollster::block_on(reader.latest()).unwrap().unwrap();
    assert_eq!((v, &bytes[..]), (1, &b"manifest one"[..]), "the reader finished the commit");
    assert_eq!(&pollster::block_on(mem.get("MANIFEST-00000000000000000001.bin")).unwrap()[..], b"manifest one");
    // The version is taken: a second writer conflicts.
    let e = pollster::block_on(reader.try_commit(0, Bytes::from_static(b"other"))).unwrap_err();
    assert!(matches!(e, CommitError::Conflict { version: 1 }), "{e:?}");
}

#[test]
fn a_missing_table_is_rejected_with_the_command_to_create_it() {
    let Some(client) = client() else { return };
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let commits = DynamoDbCommitStore::new(client, "no-such-table", "mem://x", store).unwrap();
    match pollster::block_on(commits.preflight()) {
        Err(CommitError::Unavailable(StoreError::Rejected(m))) => assert!(m.contains("create-table"), "{m}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
}
