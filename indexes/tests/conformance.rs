//! The built-in index factories pass the conformance suite a custom index runs.
#![cfg(feature = "test-util")]
#![allow(clippy::unwrap_used)]

use stratovec_indexes::conformance::index_factory_suite;
use stratovec_indexes::{DiskAnnFactory, DiskAnnParams, FlatFactory, HnswFactory, HnswParams};

#[test]
fn flat_is_exact() {
    let report = index_factory_suite(&FlatFactory, 1.0);
    assert!(report.recall.iter().all(|(_, r)| *r == 1.0), "{report:?}");
}

#[test]
fn hnsw_conforms() {
    index_factory_suite(&HnswFactory { params: HnswParams::default(), codes: None }, 0.9);
}

#[test]
fn hnsw_sq8_conforms() {
    use stratovec_indexes::CodeKind;
    index_factory_suite(&HnswFactory { params: HnswParams::default(), codes: Some(CodeKind::Sq8) }, 0.9);
}

#[test]
fn diskann_conforms() {
    // The parallel Vamana build is not deterministic: 24 runs of this suite gave recall@10
    // from 0.874 to 0.954 for inner product (PQ codes, default L), so the floor is 0.85.
    index_factory_suite(&DiskAnnFactory { params: DiskAnnParams::default() }, 0.85);
}

/// A factory that skips checksums fails the suite: the kit's damage check can fail.
#[test]
#[should_panic(expected = "accepted a damaged section")]
fn a_factory_that_skips_checksums_fails() {
    use std::sync::Arc;
    use stratovec_formats::segment::{SegmentBytes, SegmentKind};
    use stratovec_indexes::{BuildInput, BuiltIndex, Index, IndexError, IndexFactory, SectorRead};
    #[derive(Debug)]
    struct Careless;
    impl IndexFactory for Careless {
        fn kind(&self) -> SegmentKind {
            SegmentKind::FLAT
        }
        fn name(&self) -> &str {
            "careless"
        }
        fn open(&self, file: &SegmentBytes, on_demand: Option<Arc<dyn SectorRead>>, _: bool) -> Result<Box<dyn Index>, IndexError> {
            FlatFactory.open(file, on_demand, false)
        }
        fn build(&self, input: BuildInput<'_>) -> Result<BuiltIndex, IndexError> {
            FlatFactory.build(input)
        }
    }
    index_factory_suite(&Careless, 1.0);
}
