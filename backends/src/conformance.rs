//! Conformance suites for custom backends (feature `test-util`).
//!
//! ```ignore
//! #[test]
//! fn my_store_conforms() {
//!     let store = std::sync::Arc::new(MyStore::new(/* ... */));
//!     pollster::block_on(stratovec::backends::conformance::blob_store_suite(store.as_ref()));
//!     stratovec::backends::conformance::commit_race(store);
//! }
//! ```
//! Each suite panics with a message naming the broken rule. Use a fresh, empty store.

use std::sync::{Arc, Barrier};

use bytes::Bytes;

use crate::{BlobCommitStore, BlobStore, CommitError, CommitStore, StoreError};

/// Checks the [`BlobStore`] contract: round trips, ranges, create-only, delete, list, head,
/// path validation. `store` must be empty and writable.
pub async fn blob_store_suite(store: &dyn BlobStore) {
    assert!(store.list("").await.expect("list").is_empty(), "store must start empty");
    store.put("a/b/obj1", Bytes::from_static(b"hello world")).await.expect("put");
    assert_eq!(&store.get("a/b/obj1").await.expect("get")[..], b"hello world");
    assert_eq!(&store.get_range("a/b/obj1", 6..11).await.expect("get_range")[..], b"world");
    assert_eq!(store.get_range("a/b/obj1", 3..3).await.expect("empty range").len(), 0);
    assert!(
        matches!(store.get_range("a/b/obj1", 5..12).await, Err(StoreError::InvalidRange { .. })),
        "range past the end must be InvalidRange"
    );
    assert_eq!(store.head("a/b/obj1").await.expect("head").size, 11);
    store.put("a/b/obj1", Bytes::from_static(b"replaced")).await.expect("put replaces");
    assert_eq!(&store.get("a/b/obj1").await.expect("get")[..], b"replaced");
    assert!(matches!(store.get("missing").await, Err(StoreError::NotFound(_))), "get of a missing object");
    assert!(matches!(store.head("missing").await, Err(StoreError::NotFound(_))), "head of a missing object");

    store.put_if_absent("c1", Bytes::from_static(b"first")).await.expect("put_if_absent");
    assert!(
        matches!(store.put_if_absent("c1", Bytes::from_static(b"second")).await, Err(StoreError::AlreadyExists(_))),
        "second put_if_absent must be AlreadyExists"
    );
    assert_eq!(&store.get("c1").await.expect("get")[..], b"first", "put_if_absent must not overwrite");

    store.put("a/c", Bytes::new()).await.expect("empty object");
    assert_eq!(store.get("a/c").await.expect("get empty").len(), 0);
    assert_eq!(store.list("a/").await.expect("list"), vec!["a/b/obj1".to_string(), "a/c".to_string()]);
    assert_eq!(store.list("a/b").await.expect("list"), vec!["a/b/obj1".to_string()]);
    assert_eq!(store.list("").await.expect("list").len(), 3);

    store.delete("a/c").await.expect("delete");
    store.delete("a/c").await.expect("delete of a missing object succeeds");
    assert!(matches!(store.get("a/c").await, Err(StoreError::NotFound(_))));

    for bad in ["", "/abs", "a//b", "../up", "a/./b"] {
        assert!(matches!(store.get(bad).await, Err(StoreError::InvalidPath(_))), "path {bad:?} must be rejected");
    }
}

/// Races two threads committing version 1 through a [`BlobCommitStore`] on `store`: exactly
/// one must win and the other must get [`CommitError::Conflict`]. `store` must be empty.
pub fn commit_race(store: Arc<dyn BlobStore>) {
    let commits = BlobCommitStore::new(store);
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2u8)
        .map(|i| {
            let (c, b) = (commits.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                pollster::block_on(c.try_commit(0, Bytes::from(vec![i; 64])))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    let wins = results.iter().filter(|r| matches!(r, Ok(1))).count();
    let conflicts = results.iter().filter(|r| matches!(r, Err(CommitError::Conflict { version: 1 }))).count();
    assert_eq!((wins, conflicts), (1, 1), "exactly one commit wins, the other conflicts: {results:?}");
    let (v, bytes) = pollster::block_on(commits.latest()).expect("latest").expect("a version");
    assert_eq!(v, 1);
    let winner = results.iter().position(|r| r.is_ok()).expect("a winner") as u8;
    assert_eq!(&bytes[..], &vec![winner; 64][..], "the published manifest is the winner's");
}
