use std::sync::Arc;

use bytes::Bytes;
use stratovec_backends::*;

#[test]
fn memory_store_conforms() {
    pollster::block_on(conformance::blob_store_suite(&MemoryStore::new()));
    for _ in 0..20 {
        conformance::commit_race(Arc::new(MemoryStore::new()));
    }
}

#[test]
fn local_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    pollster::block_on(conformance::blob_store_suite(&LocalStore::open(dir.path()).unwrap()));
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
