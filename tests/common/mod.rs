//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use stratovec::{BlobStore, LocalStore};

/// Runs a future to completion on this thread.
pub fn block<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// `n × dim` deterministic pseudo-random values in [-1, 1) (xorshift).
pub fn vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n * dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// A `LocalStore` over `dir`.
pub fn local(dir: &std::path::Path) -> Arc<dyn BlobStore> {
    Arc::new(LocalStore::open(dir).unwrap())
}

/// A writer fenced by a newer one (a zombie) commits and compacts before or after the new
/// writer's commit (`new_first`). Checks that the zombie gets `Fenced`, every acknowledged
/// commit of the new writer is intact (keys and vectors), nothing of the zombie is visible,
/// and no object was ever replaced or a file of the newest version deleted (recorded by a
/// `RecordingStore` around `store`).
pub fn zombie_writer_keeps_its_hands_off(store: Arc<dyn BlobStore>, options: &dyn Fn() -> stratovec::DbOptions, new_first: bool) {
    use stratovec::backends::recording::RecordingStore;
    use stratovec::{Db, ErrorKind, MergeAll, Metric};
    const DIM: usize = 4;
    let rec = Arc::new(RecordingStore::new(store));
    let store: Arc<dyn BlobStore> = rec.clone();
    let put = |db: &Db, ids: std::ops::Range<u64>| {
        let ids: Vec<u64> = ids.collect();
        db.insert_batch(&ids, &vectors(ids.len(), DIM, ids[0])).unwrap();
    };
    let zombie = block(Db::create(store.clone(), DIM, Metric::L2, options())).unwrap();
    put(&zombie, 0..20);
    block(zombie.commit()).unwrap();
    put(&zombie, 20..30);
    block(zombie.commit()).unwrap();
    let new = block(Db::open(store.clone(), options())).unwrap();

    put(&zombie, 100..110);
    zombie.delete(1).unwrap();
    put(&new, 200..210);
    new.delete(2).unwrap();
    let zombie_commit = |zombie: &Db| {
        let e = block(zombie.commit()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Fenced, "{e}");
        let e = block(zombie.compact_with(&MergeAll)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Fenced, "{e}");
    };
    if new_first {
        block(new.commit()).unwrap();
        zombie_commit(&zombie);
    } else {
        zombie_commit(&zombie);
        block(new.commit()).unwrap();
    }
    put(&new, 300..310);
    block(new.commit()).unwrap();

    let reader = block(Db::open_read_only(store.clone(), options())).unwrap();
    for (range, seed) in [(0..20u64, 0u64), (20..30, 20), (200..210, 200), (300..310, 300)] {
        let all = vectors(range.clone().count(), DIM, seed);
        for (i, id) in range.enumerate() {
            if id == 2 {
                assert!(!reader.contains(2), "the new writer's delete");
                continue;
            }
            assert_eq!(reader.get(id).unwrap().as_deref(), Some(&all[i * DIM..(i + 1) * DIM]), "key {id}");
        }
    }
    assert!((100..110).all(|id| !reader.contains(id)), "the zombie's rows are invisible");
    assert!(reader.contains(1), "the zombie's delete is invisible");
    assert_eq!(rec.replaced(), Vec::<String>::new(), "no object is ever replaced");
    let manifest = reader.manifest();
    let live: Vec<&str> =
        manifest.segments.iter().map(|s| s.file.as_str()).chain(manifest.tombstone_files.iter().map(|t| t.file.as_str())).collect();
    let deleted = rec.deleted();
    assert!(live.iter().all(|f| !deleted.iter().any(|d| d == f)), "live files deleted: {deleted:?} of {live:?}");
}
