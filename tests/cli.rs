//! The command-line tool's backup and maintenance commands: `export` to JSON lines, `import`
//! of that file into a new database, and `vacuum`.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::process::Command;
use std::sync::Arc;

use stratovec::*;

mod common;
use common::{block, local, vectors};

fn stratovec(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stratovec")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn export_import_and_vacuum_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, file) = (dir.path().join("src"), dir.path().join("dst"), dir.path().join("backup.jsonl"));
    let db = block(Db::create(local(&src), 4, Metric::L2, DbOptions::default())).unwrap();
    let data = vectors(30, 4, 3);
    for (i, v) in data.chunks(4).enumerate() {
        let record = Record::new(i as u64, v.to_vec()).with("n", i as i64).with("odd", i % 2 == 1).with_payload(vec![i as u8; 3]);
        db.upsert_record(record).unwrap();
        if i % 10 == 9 {
            block(db.commit()).unwrap();
        }
    }
    drop(db);

    let (ok, _, err) = stratovec(&["export", "--db", src.to_str().unwrap(), "--output", file.to_str().unwrap(), "--filter", "odd = true"]);
    assert!(ok, "{err}");
    assert!(err.contains("exported 15 records"), "{err}");
    let (ok, out, err) = stratovec(&["import", "--db", dst.to_str().unwrap(), "--input", file.to_str().unwrap(), "--metric", "l2"]);
    assert!(ok, "{err}");
    assert!(out.contains("imported 15 records"), "{out}");
    let copy = block(Db::open_read_only(local(&dst), DbOptions::default())).unwrap();
    let original = block(Db::open_read_only(local(&src), DbOptions::default())).unwrap();
    assert_eq!(copy.stats().live_rows, 15);
    for id in (1..30).step_by(2) {
        assert_eq!(copy.get_record(id, Include::ALL).unwrap(), original.get_record(id, Include::ALL).unwrap(), "key {id}");
    }
    drop((copy, original));

    let (ok, out, err) = stratovec(&["vacuum", "--db", src.to_str().unwrap(), "--keep-versions", "1", "--keep-for-secs", "0"]);
    assert!(ok, "{err}");
    assert!(out.contains("kept 1 versions"), "{out}");
    let store: Arc<dyn BlobStore> = local(&src);
    assert_eq!(block(BlobCommitStore::new(store).versions()).unwrap().len(), 1);

    let (ok, _, err) = stratovec(&["export", "--db", src.to_str().unwrap(), "--filter", "odd ="]);
    assert!(!ok && err.contains("--filter"), "a bad filter is a clear error: {err}");
}

/// `export --format parquet|arrow` then `import` of that file gives the same records
/// (keys, vectors, payloads, metadata of one type per field), and a Parquet file with a
/// wrong vector length is refused naming the column, leaving the database as it was.
#[test]
fn parquet_and_arrow_files_round_trip_through_export_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let db = block(Db::create(local(&src), 4, Metric::L2, DbOptions::default())).unwrap();
    let data = vectors(50, 4, 5);
    let mut batch = WriteBatch::new();
    for (i, v) in data.chunks(4).enumerate() {
        let tags = Value::List(vec![Scalar::Str(format!("t{}", i % 3)), Scalar::Str(format!("u{i}"))]);
        let mut r = Record::new(i as u64 * 7, v.to_vec())
            .with("n", i as i64)
            .with("score", i as f64 / 4.0)
            .with("odd", i % 2 == 1)
            .with("tags", tags);
        if i % 5 == 0 {
            r = r.with("rare", format!("r{i}")).with_payload(vec![i as u8; 4]);
        }
        batch.upsert(r);
    }
    db.write(&batch).unwrap();
    block(db.commit()).unwrap();
    drop(db);
    let original = block(Db::open_read_only(local(&src), DbOptions::default())).unwrap();
    for ext in ["parquet", "arrow"] {
        let (file, dst) = (dir.path().join(format!("out.{ext}")), dir.path().join(format!("dst-{ext}")));
        let (ok, _, err) = stratovec(&["export", "--db", src.to_str().unwrap(), "--output", file.to_str().unwrap()]);
        assert!(ok && err.contains("exported 50 records"), "{err}");
        let (ok, out, err) = stratovec(&["import", "--db", dst.to_str().unwrap(), "--input", file.to_str().unwrap(), "--metric", "l2"]);
        assert!(ok && out.contains("imported 50 records"), "{ext}: {out} {err}");
        let copy = block(Db::open_read_only(local(&dst), DbOptions::default())).unwrap();
        assert_eq!(copy.stats().live_rows, 50);
        for i in 0..50u64 {
            assert_eq!(
                copy.get_record(i * 7, Include::ALL).unwrap(),
                original.get_record(i * 7, Include::ALL).unwrap(),
                "{ext}: key {}",
                i * 7
            );
        }
    }
    // A file for another dimension: refused, nothing written.
    let other = dir.path().join("dst-parquet");
    let wrong = dir.path().join("wrong.parquet");
    let five = dir.path().join("five");
    let db5 = block(Db::create(local(&five), 5, Metric::L2, DbOptions::default())).unwrap();
    db5.upsert(1, &[1.0; 5]).unwrap();
    block(db5.close()).unwrap();
    drop(db5);
    let (ok, _, err) = stratovec(&["export", "--db", five.to_str().unwrap(), "--output", wrong.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, _, err) = stratovec(&["import", "--db", other.to_str().unwrap(), "--input", wrong.to_str().unwrap()]);
    assert!(!ok && err.contains("\"vector\"") && err.contains("dimension is 4"), "{err}");
    let copy = block(Db::open_read_only(local(&other), DbOptions::default())).unwrap();
    assert_eq!(copy.stats().live_rows, 50);
    let (ok, _, err) = stratovec(&["export", "--db", src.to_str().unwrap(), "--format", "parquet"]);
    assert!(!ok && err.contains("--output"), "{err}");
}

/// `verify` runs open's semantic checks too: a tombstone file with valid checksums that
/// deletes a row past its segment's end is reported, naming the version and the file.
#[test]
fn verify_reports_damage_that_checksums_miss() {
    let dir = tempfile::tempdir().unwrap();
    let db = block(Db::create(local(dir.path()), 4, Metric::L2, DbOptions::default())).unwrap();
    db.insert_batch(&[1, 2, 3], &vectors(3, 4, 1)).unwrap();
    block(db.commit()).unwrap();
    db.delete(2).unwrap();
    block(db.commit()).unwrap();
    let m = db.manifest();
    drop(db);
    let (ok, out, err) = stratovec(&["verify", "--db", dir.path().to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("ok   version {} opens", m.version)), "{out}");

    let t = &m.tombstone_files[0].file;
    let bad =
        stratovec::formats::tombstones::encode(&[stratovec::formats::tombstones::Tombstone { segment_id: m.segments[0].id, row: 99 }]);
    std::fs::write(dir.path().join(t), bad).unwrap();
    let (ok, out, _) = stratovec(&["verify", "--db", dir.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains(&format!("ok   {t}")), "the file itself decodes: {out}");
    assert!(out.contains(&format!("BAD  version {}", m.version)) && out.contains("past its end"), "{out}");
}

fn status(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stratovec")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into())
}

#[test]
fn json_outputs_health_exit_codes_and_uris() {
    let dir = tempfile::tempdir().unwrap();
    let db = block(Db::create(local(dir.path()), 4, Metric::L2, DbOptions::default())).unwrap();
    for i in 0..10u64 {
        db.upsert_record(Record::new(i, vectors(1, 4, i)).with("genre", if i < 5 { "rock" } else { "jazz" })).unwrap();
    }
    block(db.commit()).unwrap();
    drop(db);
    let uri = format!("file://{}", dir.path().display());
    let (code, out) = status(&["stats", "-d", &uri, "--json"]);
    assert_eq!(code, 0);
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["rows_live", "rows_deleted", "deleted_ratio", "segments", "memory_bytes", "disk_bytes", "wal_bytes", "health"] {
        assert!(stats.get(key).is_some(), "{key} missing from {stats}");
    }
    assert_eq!(stats["rows_live"], 10);
    assert_eq!(status(&["health", "-d", &uri]), (0, "healthy\n".to_string()));
    // 6 of 10 rows deleted: Degraded (exit 1), reasons printed.
    let db = block(Db::open(local(dir.path()), DbOptions::default())).unwrap();
    for i in 0..6 {
        db.delete(i).unwrap();
    }
    block(db.commit()).unwrap();
    drop(db);
    let (code, out) = status(&["health", "-d", &uri]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("deleted_ratio"), "{out}");
    assert_eq!(status(&["health", "-d", dir.path().join("nothing").to_str().unwrap()]).0, 2);
    // search --json --filter: one object per query, hits with metadata.
    let (code, out) = status(&["search", "-d", &uri, "--vector", "0,0,0,0", "--k", "3", "-f", "genre = 'jazz'", "--json"]);
    assert_eq!(code, 0, "{out}");
    let found: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let hits = found["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h["metadata"]["genre"] == "jazz" && h["id"].as_u64().unwrap() >= 6));
    let (code, out) = status(&["verify", "-d", &uri, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["ok"].as_bool(), v["bad"].as_u64()), (Some(true), Some(0)));
    let (code, out) = status(&["inspect", "-d", &uri, "--json"]);
    assert_eq!(code, 0);
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["segments"][0]["kind"], "hnsw", "{m}");
}

#[test]
fn backup_then_restore_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (src, bak, dst) = (dir.path().join("src"), dir.path().join("backup"), dir.path().join("restored"));
    let db = block(Db::create(local(&src), 4, Metric::L2, DbOptions::default())).unwrap();
    db.insert_batch(&(0..20).collect::<Vec<u64>>(), &vectors(20, 4, 1)).unwrap();
    let v1 = block(db.commit()).unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ok, out, err) = stratovec(&["backup", "-d", &s(&src), "--to", &s(&bak)]);
    assert!(ok && out.contains("1 files copied"), "{out}{err}");
    db.insert(100, &vectors(1, 4, 2)).unwrap();
    block(db.commit()).unwrap();
    let (ok, out, err) = stratovec(&["backup", "-d", &s(&src), "--to", &s(&bak)]);
    assert!(ok && out.contains("1 files copied, 1 already there"), "{out}{err}");
    let (ok, out, err) = stratovec(&["restore", "--from", &s(&bak), "--to", &s(&dst), "--version", &v1.to_string()]);
    assert!(ok, "{out}{err}");
    let restored = block(Db::open_read_only(local(&dst), DbOptions::default())).unwrap();
    assert_eq!((restored.stats().live_rows, restored.contains(100)), (20, false));
    drop(restored); // releases the directory's lock
    let (ok, _, err) = stratovec(&["restore", "--from", &s(&bak), "--to", &s(&dst)]);
    assert!(!ok && err.contains("already holds a database"), "{err}");
}
