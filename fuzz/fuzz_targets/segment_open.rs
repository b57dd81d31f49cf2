//! Arbitrary bytes opened as a segment the way a reader does: trailer and footer, header,
//! section checksums, section sizes, and the HNSW graph section (fully validated).
#![no_main]
use libfuzzer_sys::fuzz_target;
use stratovec_formats::graph::GraphLayout;
use stratovec_formats::segment::{SectionKind, SegmentLayout, Trailer};

fuzz_target!(|data: &[u8]| {
    let _ = Trailer::decode(data);
    let Ok(layout) = SegmentLayout::parse(data) else { return };
    let _ = layout.check_common_sections();
    let _ = layout.verify(data);
    if let Ok(graph) = layout.section(data, SectionKind::HNSW_GRAPH, false) {
        let _ = GraphLayout::parse(graph, layout.header.rows);
    }
});
