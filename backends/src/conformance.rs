//! Conformance suites for custom backends (feature `test-util`).
//!
//! ```ignore
//! #[test]
//! fn my_store_conforms() {
//!     let store = std::sync::Arc::new(MyStore::new(/* ... */));
//!     // Everything below, on one fresh, empty store:
//!     stratovec::backends::conformance::full_suite(store, 20 << 20);
//! }
//! ```
//! Each suite panics with a message naming the broken rule. [`full_suite`] runs them all:
//! the basic contract ([`blob_store_suite`]), a create-only race among 8 writers
//! ([`put_if_absent_race`]), a listing longer than one S3 page ([`list_pagination`]), a
//! large object with ranged reads across part boundaries ([`large_object`]), and a manifest
//! commit race ([`commit_race`]). [`commit_store_suite`] checks a custom [`CommitStore`].

use std::sync::{Arc, Barrier};

use bytes::Bytes;

use crate::{BlobCommitStore, BlobStore, CommitError, CommitStore, StoreError};

/// Runs every suite of this module on `store`, which must be empty and writable;
/// `large_bytes` is the size of the large object (make it cross your multipart threshold).
/// Leaves objects behind.
pub fn full_suite(store: Arc<dyn BlobStore>, large_bytes: usize) {
    pollster::block_on(blob_store_suite(store.as_ref()));
    put_if_absent_race(store.clone(), 8, 10);
    pollster::block_on(list_pagination(store.as_ref(), 1_100));
    pollster::block_on(large_object(store.as_ref(), large_bytes));
    let before = pollster::block_on(store.list("MANIFEST-")).expect("list");
    assert!(before.is_empty(), "no suite above writes manifests");
    commit_race(store);
}

/// `writers` threads race to create the same object with different bytes, `rounds` times
/// (objects `race/{round}`): each round exactly one must succeed, the others must get
/// `AlreadyExists`, and the object must hold the winner's bytes.
pub fn put_if_absent_race(store: Arc<dyn BlobStore>, writers: usize, rounds: usize) {
    for round in 0..rounds {
        let path = format!("race/{round:04}");
        let barrier = Arc::new(Barrier::new(writers));
        let handles: Vec<_> = (0..writers)
            .map(|i| {
                let (s, b, p) = (store.clone(), barrier.clone(), path.clone());
                std::thread::spawn(move || {
                    b.wait();
                    pollster::block_on(s.put_if_absent(&p, Bytes::from(vec![i as u8; 100 + i])))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("racing thread")).collect();
        let winners: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one create-only write must win: {results:?}");
        let losers = results.iter().filter(|r| matches!(r, Err(StoreError::AlreadyExists(_)))).count();
        assert_eq!(losers, writers - 1, "round {round}: the others must get AlreadyExists: {results:?}");
        let w = winners[0];
        let stored = pollster::block_on(store.get(&path)).expect("get the raced object");
        assert_eq!(&stored[..], &vec![w as u8; 100 + w][..], "round {round}: the object must hold the winner's bytes");
    }
}

/// Writes `objects` small objects under `page/` (use more than 1,000, one S3 list page) and
/// checks that listing returns every one, sorted, and that prefixes narrow it.
pub async fn list_pagination(store: &dyn BlobStore, objects: usize) {
    for i in 0..objects {
        store.put(&format!("page/{i:05}"), Bytes::from(i.to_le_bytes().to_vec())).await.expect("put");
    }
    let all = store.list("page/").await.expect("list");
    let want: Vec<String> = (0..objects).map(|i| format!("page/{i:05}")).collect();
    assert_eq!(all.len(), objects, "list must return every object, across pages");
    assert_eq!(all, want, "list must be complete and sorted");
    let ten = store.list("page/0001").await.expect("list a narrower prefix");
    assert_eq!(ten, (10..20.min(objects)).map(|i| format!("page/{i:05}")).collect::<Vec<_>>(), "prefix page/0001");
    assert!(store.list("page/x").await.expect("list").is_empty(), "no object starts with page/x");
    assert!(store.list("pag/").await.expect("list").is_empty(), "a prefix is a string prefix, not a directory");
}

/// Writes one object of `bytes` bytes (pseudo-random), reads it back whole and by ranges at
/// its edges and across 8 MiB part boundaries, then deletes it.
pub async fn large_object(store: &dyn BlobStore, bytes: usize) {
    use rand::{RngCore, SeedableRng};
    let mut data = vec![0u8; bytes];
    rand::rngs::SmallRng::seed_from_u64(bytes as u64).fill_bytes(&mut data);
    let data = Bytes::from(data);
    store.put("large/object", data.clone()).await.expect("put a large object");
    assert_eq!(store.head("large/object").await.expect("head").size, bytes as u64);
    assert!(store.get("large/object").await.expect("get") == data, "large object must read back equal");
    let n = bytes as u64;
    let part = 8u64 << 20;
    let mut ranges = vec![0..1.min(n), n.saturating_sub(1)..n, 0..n];
    for b in (1..).map(|k| k * part).take_while(|&b| b < n) {
        ranges.push(b.saturating_sub(3)..(b + 3).min(n));
    }
    for r in ranges {
        let got = store.get_range("large/object", r.clone()).await.expect("ranged read");
        assert!(got == data.slice(r.start as usize..r.end as usize), "range {r:?} of the large object");
    }
    assert!(
        matches!(store.get_range("large/object", n - 1..n + 1).await, Err(StoreError::InvalidRange { .. })),
        "a range past the end of a large object must be InvalidRange"
    );
    store.delete("large/object").await.expect("delete");
    assert!(matches!(store.head("large/object").await, Err(StoreError::NotFound(_))));
}

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
    commit_store_suite(Arc::new(BlobCommitStore::new(store)), 2, 1);
}

/// The contract of a [`CommitStore`], on one that holds no version yet: `latest` is `None`;
/// for each of `versions` versions, `writers` threads race to commit it: exactly one wins,
/// the others get `Conflict`, and `latest` and `load` return the winner's bytes; `load` of a
/// missing version is `NotFound`; `versions` lists them ascending.
pub fn commit_store_suite(commits: Arc<dyn CommitStore>, writers: usize, versions: u64) {
    assert!(pollster::block_on(commits.latest()).expect("latest").is_none(), "a fresh commit store has no version");
    for v in 1..=versions {
        let barrier = Arc::new(Barrier::new(writers));
        let handles: Vec<_> = (0..writers)
            .map(|i| {
                let (c, b) = (commits.clone(), barrier.clone());
                std::thread::spawn(move || {
                    b.wait();
                    pollster::block_on(c.try_commit(v - 1, Bytes::from(vec![i as u8; 64 + v as usize])))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
        let wins = results.iter().filter(|r| matches!(r, Ok(got) if *got == v)).count();
        let conflicts = results.iter().filter(|r| matches!(r, Err(CommitError::Conflict { version }) if *version == v)).count();
        assert_eq!((wins, conflicts), (1, writers - 1), "version {v}: exactly one commit wins, the others conflict: {results:?}");
        let winner = results.iter().position(|r| r.is_ok()).expect("a winner") as u8;
        let want = vec![winner; 64 + v as usize];
        let (latest, bytes) = pollster::block_on(commits.latest()).expect("latest").expect("a version");
        assert_eq!(latest, v);
        assert_eq!(&bytes[..], &want[..], "the published manifest is the winner's");
        assert_eq!(&pollster::block_on(commits.load(v)).expect("load")[..], &want[..]);
    }
    let missing = pollster::block_on(commits.load(versions + 5));
    assert!(matches!(missing, Err(CommitError::Unavailable(StoreError::NotFound(_)))), "load of a missing version: {missing:?}");
    let listed = pollster::block_on(commits.versions()).expect("versions");
    assert!(listed.ends_with(&[versions]) && listed.windows(2).all(|w| w[0] < w[1]), "versions ascending: {listed:?}");
}
