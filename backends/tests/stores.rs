#![allow(clippy::unwrap_used)] // a test: a panic is a failure
use std::sync::Arc;

use bytes::Bytes;
use stratovec_backends::*;

/// Size of the large object of the conformance suite: two and a half 8 MiB parts, over
/// the adapters' multipart threshold when it is lowered to 8 MiB.
const LARGE: usize = 20 << 20;

#[test]
fn memory_store_conforms() {
    conformance::full_suite(Arc::new(MemoryStore::new()), LARGE);
    for _ in 0..20 {
        conformance::commit_race(Arc::new(MemoryStore::new()));
    }
}

#[test]
fn retry_store_conforms() {
    conformance::full_suite(Arc::new(RetryStore::new(Arc::new(MemoryStore::new()), RetryPolicy::default())), LARGE);
}

#[test]
fn local_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::full_suite(Arc::new(LocalStore::open(dir.path()).unwrap()), LARGE);
    for i in 0..20 {
        let d = dir.path().join(format!("race{i}"));
        conformance::commit_race(Arc::new(LocalStore::open(&d).unwrap()));
    }
}

#[test]
fn second_writer_is_locked_and_readers_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let w = LocalStore::open(dir.path()).unwrap();
    assert!(matches!(LocalStore::open(dir.path()), Err(StoreError::Locked(_))));
    pollster::block_on(w.put("x", Bytes::from_static(b"1"))).unwrap();
    let r = LocalStore::open_read_only(dir.path()).unwrap();
    assert_eq!(&pollster::block_on(r.get("x")).unwrap()[..], b"1");
    assert!(matches!(pollster::block_on(r.put("y", Bytes::new())), Err(StoreError::ReadOnly)));
    drop(w);
    LocalStore::open(dir.path()).expect("lock is released when the writer is dropped");
}

#[test]
fn local_store_leaves_no_temp_files_and_hides_lock() {
    let dir = tempfile::tempdir().unwrap();
    let s = LocalStore::open(dir.path()).unwrap();
    pollster::block_on(s.put("seg/a", Bytes::from_static(b"abc"))).unwrap();
    let _ = pollster::block_on(s.put_if_absent("seg/a", Bytes::from_static(b"x")));
    let names: Vec<_> = std::fs::read_dir(dir.path().join("seg")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("a")]);
    assert_eq!(pollster::block_on(s.list("")).unwrap(), vec!["seg/a".to_string()]);
    assert!(matches!(pollster::block_on(s.get("LOCK")), Err(StoreError::InvalidPath(_))));
}

#[cfg(feature = "opendal")]
#[test]
fn opendal_memory_conforms() {
    let store = OpenDalStore::memory().unwrap().with_multipart_threshold(8 << 20);
    conformance::full_suite(Arc::new(store), LARGE);
}

#[cfg(feature = "opendal")]
#[test]
fn opendal_fs_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let fs = opendal::services::Fs::default().root(dir.path().to_str().unwrap());
    let store = OpenDalStore::new(opendal::Operator::new(fs).unwrap()).unwrap().with_multipart_threshold(8 << 20);
    conformance::full_suite(Arc::new(store), LARGE);
}

#[cfg(feature = "object-store")]
#[test]
fn object_store_in_memory_conforms() {
    let inner = Arc::new(object_store::memory::InMemory::new());
    let store = ObjectStoreAdapter::new(inner).unwrap().with_multipart_threshold(8 << 20);
    conformance::full_suite(Arc::new(store), LARGE);
}

mod retry {
    use std::sync::Arc;
    use std::time::Duration;

    use stratovec_backends::faulty::{Fault, FaultyStore, Op, Rule};
    use stratovec_backends::*;

    fn quick() -> RetryPolicy {
        RetryPolicy { max_attempts: 4, first_delay: Duration::from_millis(1), max_delay: Duration::from_millis(5) }
    }

    fn setup() -> (Arc<FaultyStore>, RetryStore) {
        let faulty = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new()), 7));
        let store = RetryStore::new(faulty.clone(), quick());
        (faulty, store)
    }

    #[test]
    fn transient_errors_are_retried() {
        let (faulty, store) = setup();
        pollster::block_on(store.put("a", "x".into())).unwrap();
        faulty.inject(Rule::new(Op::Read, Fault::Error).times(2));
        assert_eq!(pollster::block_on(store.get("a")).unwrap(), "x");
        assert_eq!(store.retries(), 2);
    }

    #[test]
    fn retries_stop_after_max_attempts() {
        let (faulty, store) = setup();
        faulty.inject(Rule::new(Op::Put, Fault::Error));
        assert!(matches!(pollster::block_on(store.put("a", "x".into())), Err(StoreError::Unavailable(_))));
        assert_eq!(faulty.injected(), 4, "max_attempts 4 means four tries in all");
    }

    #[test]
    fn permanent_errors_are_not_retried() {
        let (_, store) = setup();
        assert!(matches!(pollster::block_on(store.get("missing")), Err(StoreError::NotFound(_))));
        assert!(matches!(pollster::block_on(store.get("../x")), Err(StoreError::InvalidPath(_))));
        assert_eq!(store.retries(), 0);
    }

    #[test]
    fn lost_create_response_is_resolved_by_reading_back() {
        let (faulty, store) = setup();
        faulty.inject(Rule::new(Op::PutIfAbsent, Fault::LostResponse).times(1));
        pollster::block_on(store.put_if_absent("MANIFEST-1", "mine".into())).expect("our own write is success");
        assert_eq!(store.resolved_ambiguous(), 1);
        // Someone else's object is still a conflict, even after a lost response.
        pollster::block_on(store.put_if_absent("MANIFEST-2", "theirs".into())).unwrap();
        faulty.inject(Rule::new(Op::PutIfAbsent, Fault::Error).times(1));
        assert!(matches!(pollster::block_on(store.put_if_absent("MANIFEST-2", "mine".into())), Err(StoreError::AlreadyExists(_))));
        assert_eq!(store.resolved_ambiguous(), 1);
    }
}
