//! Writes the fuzz seed corpus (`fuzz/corpus/*`) from real engine output: a manifest, a Flat
//! and an HNSW segment, and a tombstone file of a small database.
//! Run with `cargo test --test fuzz_seeds -- --ignored` after a format change.

use std::sync::Arc;

use stratovec::{BlobStore, Db, DbOptions, MemoryStore, Metric};

#[test]
#[ignore = "regenerates fuzz/corpus; run by hand after a format change"]
fn write_fuzz_seeds() {
    let store = Arc::new(MemoryStore::new());
    let dyn_store: Arc<dyn BlobStore> = store.clone();
    let db = pollster::block_on(Db::create(dyn_store, 4, Metric::L2, DbOptions::default().with_flat_threshold(8).with_hnsw(4, 16))).unwrap();
    let v: Vec<f32> = (0..12 * 4).map(|i| (i % 7) as f32 - 3.0).collect();
    db.insert_batch(&(0..12).collect::<Vec<_>>(), &v).unwrap();
    pollster::block_on(db.commit()).unwrap();
    db.insert_batch(&[100, 101], &v[..8]).unwrap();
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
        std::fs::write(dir.join(name.replace('/', "_")), &bytes).unwrap();
    }
}
