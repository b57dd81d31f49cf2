//! The command-line tool on an S3 store (moto, started by `.ci/run`): stats, health, search,
//! inspect, verify, export, import, vacuum, and backup and restore between S3 and a local directory, all
//! through `s3://bucket/prefix?endpoint=…` URIs with credentials from the environment.
//! Skipped unless `STRATOVEC_S3_ENDPOINT` is set.
#![cfg(all(feature = "cli", feature = "opendal"))]
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::process::Command;
use std::sync::Arc;

use stratovec::*;

mod common;
use common::{block, vectors};

fn stratovec(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stratovec"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn every_read_command_and_backup_restore_work_on_s3_uris() {
    let Ok(endpoint) = std::env::var("STRATOVEC_S3_ENDPOINT") else { return };
    let bucket = std::env::var("STRATOVEC_S3_BUCKET").unwrap_or_else(|_| "stratovec".into());
    let prefix = format!("cli-{}", std::process::id());
    let uri = |p: &str| format!("s3://{bucket}/{p}?endpoint={endpoint}&region=us-east-1");
    let store: Arc<dyn BlobStore> =
        Arc::new(stratovec::backends::OpenDalStore::s3_compatible(&endpoint, &bucket, &prefix, "test", "test").unwrap());
    let db = block(Db::create(store, 4, Metric::L2, DbOptions::default())).unwrap();
    for i in 0..20u64 {
        db.upsert_record(Record::new(i, vectors(1, 4, i)).with("genre", if i % 2 == 0 { "rock" } else { "jazz" })).unwrap();
    }
    block(db.commit()).unwrap();
    drop(db);

    let (code, out, err) = stratovec(&["stats", "-d", &uri(&prefix), "--json"]);
    assert_eq!(code, 0, "{err}");
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["rows_live"], 20);
    assert_eq!(stratovec(&["health", "-d", &uri(&prefix)]).0, 0);
    let (code, out, err) = stratovec(&["search", "-d", &uri(&prefix), "--vector", "0,0,0,0", "-f", "genre = 'rock'", "--json"]);
    assert_eq!(code, 0, "{err}");
    let hits: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(hits["hits"].as_array().unwrap().iter().all(|h| h["metadata"]["genre"] == "rock"));
    let (code, out, _) = stratovec(&["inspect", "-d", &uri(&prefix), "--json"]);
    assert_eq!((code, serde_json::from_str::<serde_json::Value>(&out).unwrap()["segments"].as_array().unwrap().len()), (0, 1));
    let (code, out, err) = stratovec(&["verify", "-d", &uri(&prefix), "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = stratovec(&["export", "-d", &uri(&prefix)]);
    assert_eq!((code, out.lines().count()), (0, 20), "{err}");
    // import of that export into a new S3 prefix, then vacuum there.
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.jsonl");
    std::fs::write(&export, &out).unwrap();
    let imported = format!("{prefix}-imported");
    let (code, out, err) = stratovec(&["import", "-d", &uri(&imported), "--input", export.to_str().unwrap(), "--metric", "l2"]);
    assert!(code == 0 && out.contains("imported 20 records"), "{out}{err}");
    let (code, out, err) = stratovec(&["vacuum", "-d", &uri(&imported), "--keep-versions", "1", "--keep-for-secs", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = stratovec(&["stats", "-d", &uri(&imported), "--json"]);
    assert_eq!((code, serde_json::from_str::<serde_json::Value>(&out).unwrap()["rows_live"].as_u64()), (0, Some(20)));

    // S3 -> local backup, local -> S3 restore; the restored copy answers the same.
    let local = dir.path().join("backup");
    let (code, out, err) = stratovec(&["backup", "-d", &uri(&prefix), "--to", local.to_str().unwrap()]);
    assert!(code == 0 && out.contains("1 files copied"), "{out}{err}");
    let restored = format!("{prefix}-restored");
    let (code, out, err) = stratovec(&["restore", "--from", local.to_str().unwrap(), "--to", &uri(&restored)]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = stratovec(&["stats", "-d", &uri(&restored), "--json"]);
    assert_eq!((code, serde_json::from_str::<serde_json::Value>(&out).unwrap()["rows_live"].as_u64()), (0, Some(20)));
    // S3 -> S3.
    let copy = format!("{prefix}-copy");
    let (code, out, err) = stratovec(&["backup", "-d", &uri(&prefix), "--to", &uri(&copy)]);
    assert!(code == 0 && out.contains("1 files copied"), "{out}{err}");
}
