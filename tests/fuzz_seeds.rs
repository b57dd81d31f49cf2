//! Writes the fuzz seed corpus (`fuzz/corpus/*`) from real engine output: a manifest, a Flat
//! and an HNSW segment, and a tombstone file of a small database.
//! Run with `cargo test --test fuzz_seeds -- --ignored` after a format change.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;

use stratovec::{BlobStore, Db, DbOptions, MemoryStore, Metric};

#[test]
#[ignore = "regenerates fuzz/corpus; run by hand after a format change"]
fn write_fuzz_seeds() {
    let store = Arc::new(MemoryStore::new());
    let dyn_store: Arc<dyn BlobStore> = store.clone();
    let db =
        pollster::block_on(Db::create(dyn_store, 4, Metric::L2, DbOptions::default().with_flat_threshold(8).with_hnsw(4, 16))).unwrap();
    let v: Vec<f32> = (0..12 * 4).map(|i| (i % 7) as f32 - 3.0).collect();
    db.insert_batch(&(0..12).collect::<Vec<_>>(), &v).unwrap();
    pollster::block_on(db.commit()).unwrap();
    db.insert_batch(&[100, 101], &v[..8]).unwrap();
    let mut batch = stratovec::WriteBatch::new();
    batch.insert(
        stratovec::Record::new(200, v[..4].to_vec())
            .with("genre", "rock")
            .with("year", 1999)
            .with("tags", vec!["a", "b"])
            .with_payload(b"x".to_vec()),
    );
    batch.insert(stratovec::Record::new(201, v[4..8].to_vec()).with("score", 0.5).with("draft", true));
    db.write(&batch).unwrap();
    db.delete(3).unwrap();
    pollster::block_on(db.commit()).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for name in pollster::block_on(store.list("")).unwrap() {
        let target = if name.starts_with("MANIFEST-") {
            "manifest_decode"
        } else if name.starts_with("segments/") {
            "segment_open"
        } else {
            "tombstones_decode"
        };
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        let bytes = pollster::block_on(store.get(&name)).unwrap();
        // Manifests keep one seed set per format version (older versions stay readable).
        let file = if target == "manifest_decode" {
            format!("v{}_{name}", stratovec::formats::manifest::FORMAT_VERSION)
        } else {
            name.replace('/', "_")
        };
        std::fs::write(dir.join(file), &bytes).unwrap();
    }
    // Metadata rows and a column of them.
    let dir = root.join("metadata_decode");
    std::fs::create_dir_all(&dir).unwrap();
    let mut col = stratovec::formats::column::ColumnBuilder::new();
    for (i, r) in [
        stratovec::Record::new(1, vec![0.0]).with("genre", "rock").with("year", 1999),
        stratovec::Record::new(2, vec![0.0]).with("tags", vec!["x"]),
    ]
    .iter()
    .enumerate()
    {
        let row = stratovec::formats::metadata::encode_row(&r.metadata);
        std::fs::write(dir.join(format!("row{i}")), &row).unwrap();
        col.push(&row);
    }
    let mut bytes = col.encode();
    bytes[0] = 2; // the target reads the row count from the first byte (mod 8)
    std::fs::write(dir.join("column"), &bytes).unwrap();

    // A write-ahead log: a batch with metadata and a payload, a delete, a plain insert.
    let tmp = tempfile::tempdir().unwrap();
    let wal = stratovec::Durability::Wal(stratovec::WalOptions::new(tmp.path().join("wal")));
    let db =
        pollster::block_on(Db::create(Arc::new(MemoryStore::new()), 4, Metric::L2, DbOptions::default().with_durability(wal))).unwrap();
    db.write(&batch).unwrap();
    db.delete(200).unwrap();
    db.insert(7, &v[..4]).unwrap();
    drop(db);
    let dir = root.join("wal_decode");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(tmp.path().join("wal")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::write(dir.join(path.file_name().unwrap()), std::fs::read(&path).unwrap()).unwrap();
    }
    // The structured target reads its input through `Arbitrary`: any bytes do.
    let dir = root.join("segment_model");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pattern"), (0..=255u8).cycle().take(512).collect::<Vec<u8>>()).unwrap();
}
