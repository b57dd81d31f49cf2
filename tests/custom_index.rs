//! User index kinds through the engine: registered factories open and build segments
//! (whole files and through the block cache), compaction writes the configured kind, an
//! unregistered kind is refused as `Incompatible`, and bad registrations are
//! `InvalidArgument`. (`examples/custom_index.rs` runs a complete IVF-flat index.)
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;

use stratovec::backends::cache::{BlockCache, CacheOptions};
use stratovec::formats::manifest::READER_FEATURE_CUSTOM_INDEX;
use stratovec::formats::segment::SegmentBytes;
use stratovec::indexes::{BuildInput, BuiltIndex, FlatFactory, IndexError, SectorRead};
use stratovec::*;

mod common;
use common::{block, vectors};

const DIM: usize = 8;

/// Flat search stored under a user kind.
#[derive(Debug)]
struct UserFlat(u8);

impl IndexFactory for UserFlat {
    fn kind(&self) -> SegmentKind {
        SegmentKind::custom(self.0).unwrap()
    }
    fn name(&self) -> &str {
        "user-flat"
    }
    fn open(&self, file: &SegmentBytes, on_demand: Option<Arc<dyn SectorRead>>, verify: bool) -> Result<Box<dyn Index>, IndexError> {
        FlatFactory::default().open(file, on_demand, verify)
    }
    fn build(&self, input: BuildInput<'_>) -> Result<BuiltIndex, IndexError> {
        FlatFactory::default().build(input)
    }
}

fn options() -> DbOptions {
    DbOptions::default()
        .with_flat_threshold(10)
        .with_index(Arc::new(UserFlat(201)))
        .with_compaction_index(SegmentKind::custom(201).unwrap())
}

fn ids(hits: &[Hit]) -> Vec<u64> {
    hits.iter().map(|h| h.id).collect()
}

#[test]
fn compaction_writes_a_user_kind_that_opens_only_where_registered() {
    let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let db = block(Db::create(store.clone(), DIM, Metric::L2, options())).unwrap();
    for b in 0..2u64 {
        let keys: Vec<u64> = (b * 50..(b + 1) * 50).collect();
        db.insert_batch(&keys, &vectors(50, DIM, b + 1)).unwrap();
        block(db.commit()).unwrap();
    }
    db.delete(7).unwrap();
    block(db.commit()).unwrap();
    let before: Vec<Vec<u64>> = (0..5).map(|i| ids(&db.search(&vectors(1, DIM, 100 + i), 5, &SearchParams::default()).unwrap())).collect();
    block(db.compact_with(&MergeAll)).unwrap();
    let m = db.manifest();
    assert_eq!(m.segments.iter().map(|s| s.kind.code()).collect::<Vec<_>>(), [201]);
    assert_eq!(m.segments[0].rows, 99, "the deleted row is dropped");
    let search = |db: &ReadOnlyDb| -> Vec<Vec<u64>> {
        (0..5).map(|i| ids(&db.search(&vectors(1, DIM, 100 + i), 5, &SearchParams::default()).unwrap())).collect()
    };
    assert_eq!(
        (0..5).map(|i| ids(&db.search(&vectors(1, DIM, 100 + i), 5, &SearchParams::default()).unwrap())).collect::<Vec<_>>(),
        before
    );
    drop(db);

    // The manifest requires the feature bit, so readers without user kinds refuse it.
    let newest = block(store.list("")).unwrap().into_iter().filter(|o| o.starts_with("MANIFEST-")).max().unwrap();
    let decoded = formats::manifest::Manifest::decode(&block(store.get(&newest)).unwrap()).unwrap();
    assert_eq!(decoded.reader_features & READER_FEATURE_CUSTOM_INDEX, READER_FEATURE_CUSTOM_INDEX);

    // Registered: whole files, and through the block cache (index loaded on first use).
    let whole = block(Db::builder(store.clone()).options(options()).open_read_only()).unwrap();
    assert_eq!(search(&whole), before);
    let cache = BlockCache::new(CacheOptions { block_bytes: 4 << 10, ..CacheOptions::default() }).unwrap();
    let cached = block(Db::builder(store.clone()).options(options()).cache(cache).open_read_only()).unwrap();
    assert_eq!(search(&cached), before);

    // Not registered: refused before any segment is read, naming the kind.
    let err = block(Db::builder(store.clone()).open_read_only()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
    assert!(err.to_string().contains("custom-201"), "{err}");
    let err = block(Db::open(store, DbOptions::default())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
}

#[test]
fn bad_registrations_are_invalid_arguments() {
    let reserved: Arc<dyn IndexFactory> = Arc::new(indexes::HnswFactory::default());
    let twice = DbOptions::default().with_index(Arc::new(UserFlat(250))).with_index(Arc::new(UserFlat(250)));
    let unknown_output = DbOptions::default().with_compaction_index(SegmentKind::custom(251).unwrap());
    for (what, options) in [("reserved", DbOptions::default().with_index(reserved)), ("twice", twice), ("unknown output", unknown_output)] {
        let store: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
        let err = block(Db::create(store, DIM, Metric::L2, options)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{what}: {err}");
    }
}
