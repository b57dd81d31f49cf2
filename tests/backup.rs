//! Vacuum (retention, orphan files), physical snapshots and JSON-lines export/import.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stratovec::*;

mod common;
use common::{block, vectors};

const DIM: usize = 8;

fn db_with_versions(store: &Arc<dyn BlobStore>, commits: u64) -> Db {
    let db = block(Db::create(store.clone(), DIM, Metric::L2, DbOptions::default())).unwrap();
    for c in 0..commits {
        let ids: Vec<u64> = (c * 10..c * 10 + 10).collect();
        db.insert_batch(&ids, &vectors(10, DIM, c)).unwrap();
        block(db.commit()).unwrap();
    }
    db
}

const ONLY_NEWEST: RetentionPolicy = RetentionPolicy { keep_versions: 1, keep_for: Duration::ZERO };

#[test]
fn vacuum_deletes_old_manifests_and_orphans_but_not_files_in_flight() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = db_with_versions(&store, 3);
    let next = db.manifest().next_segment_id;
    block(store.put("segments/00000000000000000000.seg", Bytes::from_static(b"left by a crashed commit"))).unwrap();
    block(store.put("tombstones/00000000000000000000.tomb", Bytes::from_static(b"same"))).unwrap();
    let in_flight = format!("segments/{:020}.seg", next + 5);
    block(store.put(&in_flight, Bytes::from_static(b"a newer writer may be writing this"))).unwrap();

    let kept = block(db.vacuum(&RetentionPolicy { keep_versions: 100, keep_for: Duration::from_secs(3600) })).unwrap();
    assert_eq!(kept.manifests_deleted, 0, "everything is within the policy");
    assert_eq!(kept.files_deleted, 2, "orphans go whatever the policy: {kept:?}");

    let report = block(db.vacuum(&ONLY_NEWEST)).unwrap();
    assert_eq!((report.versions_kept, report.manifests_deleted, report.files_deleted), (1, 3, 0), "{report:?}");
    assert_eq!(report.files_in_use, 1, "the file past next_segment_id is left alone");
    assert!(block(store.head(&in_flight)).is_ok());
    assert_eq!(block(db.commits_versions()).len(), 1);
    let reopened = block(Db::open_read_only(store.clone(), DbOptions::default())).unwrap();
    assert_eq!(reopened.stats().live_rows, 30);
    assert_eq!(block(Db::open_at(store, 2, DbOptions::default())).unwrap_err().kind(), ErrorKind::NotFound);
}

trait Versions {
    async fn commits_versions(&self) -> Vec<u64>;
}

impl Versions for Db {
    async fn commits_versions(&self) -> Vec<u64> {
        BlobCommitStore::new(self.store().clone()).versions().await.unwrap()
    }
}

#[test]
fn vacuum_deletes_compaction_inputs_no_search_holds() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = db_with_versions(&store, 4);
    let inputs: Vec<String> = db.manifest().segments.iter().map(|s| s.file.clone()).collect();
    let scan = db.scan(None, 7, Include::ALL).unwrap();
    block(db.compact_with(&MergeAll)).unwrap();
    let held = block(db.vacuum(&ONLY_NEWEST)).unwrap();
    assert_eq!(held.files_in_use, 4, "the open scan holds the inputs: {held:?}");
    let rows: usize = scan.map(|b| b.unwrap().len()).sum();
    assert_eq!(rows, 40, "the scan reads every input row after vacuum");
    let freed = block(db.vacuum(&ONLY_NEWEST)).unwrap();
    assert_eq!(freed.files_deleted, 4, "{freed:?}");
    for f in &inputs {
        assert!(matches!(block(store.head(f)), Err(StoreError::NotFound(_))), "{f} deleted");
    }
    let reopened = block(Db::open(store, DbOptions::default())).unwrap();
    assert_eq!((reopened.stats().live_rows, reopened.stats().segments), (40, 1));
}

#[test]
fn vacuum_is_refused_on_replicas_and_fenced_writers() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let old = db_with_versions(&store, 1);
    // A replica has no `vacuum` (ReadOnlyDb has no maintenance methods).
    let _new = block(Db::open(store, DbOptions::default())).unwrap();
    assert_eq!(block(old.vacuum(&ONLY_NEWEST)).unwrap_err().kind(), ErrorKind::Fenced);
}

/// A writer paused while a newer writer commits and vacuums the old versions: its base
/// version's successor slot is free again, yet its commit must not publish into it.
#[test]
fn a_writer_paused_across_a_vacuum_is_fenced_not_published_into_a_freed_slot() {
    for store in [Arc::new(MemoryStore::new()) as Arc<dyn BlobStore>, common::local(tempfile::tempdir().unwrap().keep().as_path())] {
        let zombie = db_with_versions(&store, 2);
        let new = block(Db::open(store.clone(), DbOptions::default())).unwrap();
        for c in 100..104 {
            new.insert(c, &vectors(1, DIM, c)).unwrap();
            block(new.commit()).unwrap();
        }
        let report = block(new.vacuum(&ONLY_NEWEST)).unwrap();
        assert!(report.manifests_deleted >= 5, "{report:?}");
        let newest = new.stats().version;

        zombie.insert(500, &vectors(1, DIM, 500)).unwrap();
        let e = block(zombie.commit()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Fenced, "{e}");
        assert!(zombie.stats().poisoned.is_some(), "the zombie cannot write again");
        assert_eq!(block(zombie.commits_versions()), vec![newest], "the zombie's manifest was taken back");

        let reader = block(Db::open_read_only(store.clone(), DbOptions::default())).unwrap();
        assert_eq!(reader.stats().version, newest);
        assert!(!reader.contains(500) && reader.contains(103) && reader.contains(0));
        new.insert(104, &vectors(1, DIM, 104)).unwrap();
        assert_eq!(block(new.commit()).unwrap(), newest + 1, "the live writer goes on");
    }
}

/// A replica whose version was vacuumed still refreshes to the newest one.
#[test]
fn a_replica_refreshes_after_its_version_was_vacuumed() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = db_with_versions(&store, 2);
    let replica = block(Db::open_read_only(store.clone(), DbOptions::default())).unwrap();
    let seen = replica.stats().version;
    for c in 100..103 {
        db.insert(c, &vectors(1, DIM, c)).unwrap();
        block(db.commit()).unwrap();
    }
    block(db.vacuum(&ONLY_NEWEST)).unwrap();
    assert!(matches!(block(store.head(&stratovec::formats::manifest::manifest_name(seen))), Err(StoreError::NotFound(_))));
    assert_eq!(block(replica.refresh()).unwrap(), db.stats().version);
    assert!(replica.contains(102));
}

#[test]
fn snapshot_copies_one_consistent_version() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = db_with_versions(&store, 3);
    db.delete(3).unwrap();
    block(db.commit()).unwrap();
    db.insert(999, &[1.0; DIM]).unwrap(); // not committed: not copied
    let target: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let report = block(db.snapshot_to(target.clone())).unwrap();
    assert_eq!((report.version, report.files), (db.stats().version, 4), "3 segments and 1 tombstone file");
    let copy = block(Db::open(target.clone(), DbOptions::default())).unwrap();
    assert_eq!(copy.stats().live_rows, 29);
    assert!(!copy.contains(3) && !copy.contains(999) && copy.contains(29));
    let q = vectors(1, DIM, 42);
    let want: Vec<u64> = db.search(&q, 5, &SearchParams::default()).unwrap().iter().map(|h| h.id).filter(|&id| id != 999).collect();
    let got: Vec<u64> = copy.search(&q, 5, &SearchParams::default()).unwrap().iter().map(|h| h.id).take(want.len()).collect();
    assert_eq!(got, want);
    copy.insert(1000, &[0.5; DIM]).unwrap();
    block(copy.commit()).expect("the copy is a working database");
    assert_eq!(block(db.snapshot_to(target)).unwrap_err().kind(), ErrorKind::AlreadyExists);
}

#[cfg(feature = "jsonl")]
#[test]
fn jsonl_export_and_import_round_trip() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store, 3, Metric::L2, DbOptions::default())).unwrap();
    let records = vec![
        Record::new(1, vec![0.5, -1.0, 2.25])
            .with("genre", "rock")
            .with("year", 1995)
            .with("score", 1.0)
            .with_payload(b"\x00\xffbytes".to_vec()),
        Record::new(2, vec![0.0, 0.0, 1.0])
            .with("tags", Value::List(vec![Scalar::Str("a".into()), Scalar::Int(3), Scalar::Bool(true)]))
            .with("gone", Value::Null),
        Record::new(u64::MAX, vec![1e-30, 3e30, -0.0]),
    ];
    let mut batch = WriteBatch::new();
    for r in &records {
        batch.insert(r.clone());
    }
    db.write(&batch).unwrap();
    let mut out = Vec::new();
    assert_eq!(db.export_jsonl(None, &mut out).unwrap(), 3);
    assert_eq!(String::from_utf8(out.clone()).unwrap().lines().count(), 3);

    let copy = block(Db::create(Arc::new(MemoryStore::new()), 3, Metric::L2, DbOptions::default())).unwrap();
    assert_eq!(copy.import_jsonl(&mut out.as_slice()).unwrap(), 3);
    for r in &records {
        assert_eq!(copy.get_record(r.id, Include::ALL).unwrap(), db.get_record(r.id, Include::ALL).unwrap(), "record {}", r.id);
    }
    let filtered = Filter::parse("genre = 'rock'").unwrap();
    let mut one = Vec::new();
    assert_eq!(db.export_jsonl(Some(&filtered), &mut one).unwrap(), 1);

    let bad = b"{\"id\": 5, \"vector\": [1, 2, 3]}\n\n{\"id\": 6, \"vector\": [1, 2]}\n";
    let e = copy.import_jsonl(&mut &bad[..]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("last batch"), "{e}");
    let e = copy.import_jsonl(&mut &b"{\"id\": -1, \"vector\": []}"[..]).unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn incremental_backups_copy_only_new_files_and_every_version_restores() {
    use stratovec::backends::recording::RecordingStore;
    let source: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(source.clone(), 4, Metric::L2, DbOptions::default())).unwrap();
    for round in 0..4u64 {
        db.insert_batch(&(round * 100..round * 100 + 100).collect::<Vec<_>>(), &vectors(100, 4, round)).unwrap();
        block(db.commit()).unwrap();
    }
    let backup = Arc::new(RecordingStore::new(Arc::new(MemoryStore::new())));
    let first = block(db.backup_to(backup.clone())).unwrap();
    assert_eq!((first.previous_version, first.files_copied, first.files_skipped), (0, 4, 0));
    // A small change: one more segment and a tombstone file.
    db.delete(5).unwrap();
    db.insert(1_000, &vectors(1, 4, 9)).unwrap();
    block(db.commit()).unwrap();
    let second = block(db.backup_to(backup.clone())).unwrap();
    assert_eq!((second.previous_version, second.files_copied, second.files_skipped), (first.version, 2, 4), "{second:?}");
    assert!(second.bytes_copied < first.bytes_copied / 2, "{second:?} vs {first:?}");
    let again = block(db.backup_to(backup.clone())).unwrap();
    assert_eq!((again.files_copied, again.bytes_copied), (0, 0), "up to date: nothing copied");
    // Both versions open from the backup with their own rows.
    let v1 = block(Db::open_at(backup.clone(), first.version, DbOptions::default())).unwrap();
    assert_eq!((v1.stats().live_rows, v1.contains(5)), (400, true));
    let v2 = block(Db::open_read_only(backup.clone(), DbOptions::default())).unwrap();
    assert_eq!((v2.stats().live_rows, v2.contains(5), v2.contains(1_000)), (400, false, true));
    // Another database may not back up into it.
    let other = block(Db::create(Arc::new(MemoryStore::new()), 4, Metric::L2, DbOptions::default())).unwrap();
    other.insert(1, &vectors(1, 4, 1)).unwrap();
    block(other.commit()).unwrap();
    assert_eq!(block(other.backup_to(backup)).unwrap_err().kind(), ErrorKind::Conflict);
}

#[test]
fn a_damaged_source_file_is_not_backed_up() {
    let source: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(source.clone(), 4, Metric::L2, DbOptions { verify_on_open: false, ..DbOptions::default() })).unwrap();
    db.insert_batch(&[1, 2, 3], &vectors(3, 4, 1)).unwrap();
    block(db.commit()).unwrap();
    let file = db.manifest().segments[0].file.clone();
    let mut bytes = block(source.get(&file)).unwrap().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    block(source.put(&file, bytes.into())).unwrap();
    let target: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    assert_eq!(block(db.backup_to(target.clone())).unwrap_err().kind(), ErrorKind::Corrupt);
    assert!(block(Db::open_read_only(target, DbOptions::default())).is_err(), "no manifest was published");
}
