//! Arbitrary bytes opened as a segment the way a reader does: trailer and footer (from the
//! whole file, and from its two ends as a remote reader does; both must agree), header,
//! section checksums, section sizes, the HNSW graph section (fully validated), and the
//! DiskANN meta section and nodes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stratovec_formats::diskann::DiskAnnMeta;
use stratovec_formats::graph::GraphLayout;
use stratovec_formats::segment::{tail_len, SectionKind, SegmentLayout, Trailer, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let _ = Trailer::decode(data);
    // A remote reader parses from the two ends alone; it must agree with the whole-file parse.
    let len = data.len() as u64;
    let ends = SegmentLayout::parse_ends(&data[..HEADER_LEN.min(data.len())], &data[(len - tail_len(len)) as usize..], len);
    let whole = SegmentLayout::parse(data);
    if let (Ok(a), Ok(b)) = (&ends, &whole) {
        assert_eq!(a, b);
    }
    let Ok(layout) = whole else { return };
    assert!(ends.is_ok(), "parse_ends refused a segment parse accepted");
    let _ = layout.check_common_sections();
    let _ = layout.verify(data);
    if let Ok(graph) = layout.section(data, SectionKind::HNSW_GRAPH, false) {
        let _ = GraphLayout::parse(graph, layout.header.rows);
    }
    let nodes = layout.section(data, SectionKind::DISKANN_NODES, false).unwrap_or(&[]);
    if let Ok(meta) = layout.section(data, SectionKind::DISKANN_META, false) {
        let dim = layout.header.dim as usize;
        if let Ok(m) = DiskAnnMeta::decode(meta, dim, layout.header.rows, nodes.len() as u64) {
            for row in 0..layout.header.rows.min(64) as u32 {
                let at = m.sector_offset(row) as usize + m.offset_in_read(row);
                if let Some(bytes) = nodes.get(at..) {
                    if let Ok((_, neighbors)) = m.split_node(bytes, dim) {
                        neighbors.for_each(drop);
                    }
                }
            }
        }
    }
});
