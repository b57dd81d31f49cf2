#![allow(clippy::unwrap_used)] // a test: a panic is a failure
use bytes::Bytes;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use stratovec_formats::segment::{SegmentBytes, SegmentHeader, SegmentKind, SegmentLayout, SegmentWriter};
use stratovec_indexes::*;

fn random_unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut v: Vec<f32> = (0..n * dim).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
    for row in v.chunks_exact_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn recall(index: &dyn Index, exact: &FlatIndex, queries: &[f32], dim: usize, k: usize, ef: usize) -> f64 {
    let mut hits = 0;
    for q in queries.chunks_exact(dim) {
        let truth: Vec<u32> = exact.search(q, k, &SearchParams::default(), None).unwrap().iter().map(|c| c.row).collect();
        let got = index.search(q, k, &SearchParams::with_ef(ef), None).unwrap();
        hits += got.iter().filter(|c| truth.contains(&c.row)).count();
    }
    hits as f64 / (queries.len() / dim * k) as f64
}

fn segment_bytes(index: &dyn Index) -> Bytes {
    let header = SegmentHeader { kind: index.kind(), metric: index.metric(), dim: index.dim() as u32, rows: index.rows() as u64 };
    let mut w = SegmentWriter::new(&header, 0);
    index.write_sections(&mut w);
    w.add_section(stratovec_formats::segment::SectionKind::IDS, &vec![0u8; index.rows() * 8]);
    Bytes::from(w.finish())
}

#[test]
fn hnsw_recall_and_frozen_segment_match() {
    let (n, dim, k) = (5000, 24, 10);
    let data = random_unit_vectors(n, dim, 1);
    let queries = random_unit_vectors(100, dim, 2);
    for metric in [Metric::Cosine, Metric::L2] {
        let mut g = HnswGraph::new(dim, metric, HnswParams { m: 16, ef_construction: 100, seed: 7 }).unwrap();
        // Two batches: the second links into an existing graph.
        g.insert_batch(&data[..dim * 2000]).unwrap();
        g.insert_batch(&data[dim * 2000..]).unwrap();
        let exact = FlatIndex::from_vectors(data.clone(), dim, metric).unwrap();
        let r = recall(&g, &exact, &queries, dim, k, 128);
        assert!(r >= 0.95, "{metric:?}: recall@10 at ef 128 = {r}");

        let file = segment_bytes(&g);
        let frozen = HnswIndex::open(&SegmentBytes::whole(file.clone()).unwrap(), true).unwrap();
        for q in queries.chunks_exact(dim).take(20) {
            let a = g.search(q, k, &SearchParams::with_ef(64), None).unwrap();
            let b = frozen.search(q, k, &SearchParams::with_ef(64), None).unwrap();
            assert_eq!(a, b, "frozen graph must search exactly like the live one");
        }
    }
}

#[test]
fn filter_excludes_rows_and_flat_is_exact() {
    let dim = 8;
    let data = random_unit_vectors(500, dim, 3);
    let mut g = HnswGraph::new(dim, Metric::InnerProduct, HnswParams::default()).unwrap();
    g.insert_batch(&data).unwrap();
    let even = |row: u32| row.is_multiple_of(2);
    let got = g.search(&data[..dim], 10, &SearchParams::with_ef(100), Some(&even)).unwrap();
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|c| c.row % 2 == 0));
    let flat = FlatIndex::from_vectors(data.clone(), dim, Metric::InnerProduct).unwrap();
    let top = flat.search(&data[dim * 3..dim * 4], 1, &SearchParams::default(), None).unwrap();
    assert_eq!(top[0].row, 3);
    assert!(matches!(flat.search(&data[..3], 1, &SearchParams::default(), None), Err(IndexError::DimensionMismatch { .. })));
}

#[test]
fn two_hop_filtered_search_returns_only_accepted_rows_with_recall() {
    let dim = 16;
    let data = random_unit_vectors(3000, dim, 5);
    let mut g = HnswGraph::new(dim, Metric::L2, HnswParams::default()).unwrap();
    g.insert_batch(&data).unwrap();
    let flat = FlatIndex::from_vectors(data.clone(), dim, Metric::L2).unwrap();
    let tenth = |row: u32| row % 10 == 3;
    let queries = random_unit_vectors(50, dim, 6);
    let params = SearchParams { two_hop: true, ..SearchParams::with_ef(128) };
    let mut hits = 0;
    for q in queries.chunks_exact(dim) {
        let got = g.search(q, 10, &params, Some(&tenth)).unwrap();
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|c| tenth(c.row)));
        let truth: Vec<u32> = flat.search(q, 10, &SearchParams::default(), Some(&tenth)).unwrap().iter().map(|c| c.row).collect();
        hits += got.iter().filter(|c| truth.contains(&c.row)).count();
    }
    let recall = hits as f64 / 500.0;
    assert!(recall >= 0.9, "two-hop recall@10 at 10% selectivity: {recall}");
}

#[test]
fn empty_and_single_node_graphs() {
    let mut g = HnswGraph::new(4, Metric::L2, HnswParams::default()).unwrap();
    assert!(g.search(&[0.0; 4], 3, &SearchParams::default(), None).unwrap().is_empty());
    g.insert_batch(&[1.0, 0.0, 0.0, 0.0]).unwrap();
    let r = g.search(&[0.0; 4], 3, &SearchParams::default(), None).unwrap();
    assert_eq!(r.len(), 1);
    let file = segment_bytes(&g);
    let frozen = HnswIndex::open(&SegmentBytes::whole(file.clone()).unwrap(), true).unwrap();
    assert_eq!(frozen.search(&[0.0; 4], 3, &SearchParams::default(), None).unwrap(), r);
}

/// Quantized Flat: every code kind survives a segment round trip, and with rerank the
/// scan finds the exact neighbours (SQ8 and INT4 on random data; PQ and binary looser;
/// RaBitQ reranks by its error bound, whatever the factor).
#[test]
fn quantized_flat_round_trip_and_rerank_recall() {
    let (n, dim, k) = (3000, 32, 10);
    let data = random_unit_vectors(n, dim, 5);
    let queries = random_unit_vectors(50, dim, 6);
    for metric in [Metric::Cosine, Metric::L2] {
        let exact = FlatIndex::from_vectors(data.clone(), dim, metric).unwrap();
        for (kind, rerank, floor) in [
            (CodeKind::Sq8, 4, 0.99),
            (CodeKind::Int4, 8, 0.95),
            (CodeKind::Pq, 10, 0.8),
            (CodeKind::Binary, 20, 0.5),
            (CodeKind::RaBitQ, 1, 0.95),
        ] {
            let flat = FlatIndex::from_vectors(data.clone(), dim, metric).unwrap().with_codes(kind, &PqParams::default()).unwrap();
            let bytes = segment_bytes(&flat);
            let opened = FlatIndex::open(&SegmentBytes::whole(bytes.clone()).unwrap(), true).unwrap();
            assert_eq!(opened.codes().unwrap().kind(), kind);
            let mut hits = 0;
            for q in queries.chunks_exact(dim) {
                let truth: Vec<u32> = exact.search(q, k, &SearchParams::default(), None).unwrap().iter().map(|c| c.row).collect();
                let params = SearchParams { rerank_factor: rerank, ..SearchParams::default() };
                let a = flat.search(q, k, &params, None).unwrap();
                let b = opened.search(q, k, &params, None).unwrap();
                assert_eq!(a, b, "{kind:?} {metric:?}: reopened segment differs");
                hits += a.iter().filter(|c| truth.contains(&c.row)).count();
            }
            let recall = hits as f64 / (50 * k) as f64;
            assert!(recall >= floor, "{kind:?} {metric:?} recall {recall} < {floor}");
        }
    }
}

fn diskann_segment(data: &[f32], dim: usize, metric: Metric, codes: CodeKind) -> (Bytes, Vec<u32>) {
    let params = DiskAnnParams {
        vamana: VamanaParams { r: 24, l: 48, ..VamanaParams::default() },
        codes,
        pq: PqParams { iterations: 6, ..PqParams::default() },
    };
    let built = DiskAnnBuild::build(data, dim, metric, &params, &|_, _| {}).unwrap();
    let rows = data.len() / dim;
    let header = SegmentHeader { kind: SegmentKind::DISKANN, metric, dim: dim as u32, rows: rows as u64 };
    let mut w = SegmentWriter::new(&header, 0);
    built.write_sections(&mut w);
    let ids: Vec<u8> = built.order.iter().flat_map(|&r| (r as u64).to_le_bytes()).collect();
    w.add_section(stratovec_formats::segment::SectionKind::IDS, &ids);
    (Bytes::from(w.finish()), built.order)
}

/// DiskANN: a segment built, written and opened (nodes read through a `SectorRead`) finds
/// the exact neighbours with high recall, returns exact distances, and reads vectors back.
#[test]
fn diskann_segment_recall_and_vectors() {
    let (n, dim, k) = (4000, 24, 10);
    let data = random_unit_vectors(n, dim, 9);
    let queries = random_unit_vectors(50, dim, 10);
    for (metric, codes) in [(Metric::Cosine, CodeKind::Pq), (Metric::L2, CodeKind::Sq8), (Metric::Cosine, CodeKind::Int4)] {
        let exact = FlatIndex::from_vectors(data.clone(), dim, metric).unwrap();
        let (bytes, order) = diskann_segment(&data, dim, metric, codes);
        let layout = SegmentLayout::parse(&bytes).unwrap();
        assert_eq!(layout.entry(stratovec_formats::segment::SectionKind::DISKANN_NODES).unwrap().offset % 4096, 0);
        let index = DiskAnnIndex::open(&SegmentBytes::whole(bytes.clone()).unwrap(), true, std::sync::Arc::new(bytes.clone())).unwrap();
        index.verify_nodes(&layout).unwrap();
        let row = 17u32;
        assert_eq!(index.vector(row).unwrap().unwrap().as_ref(), &data[order[row as usize] as usize * dim..][..dim]);
        // The graph search, and the code scan with one batched rerank (`scan_codes`).
        for scan_codes in [false, true] {
            let params = SearchParams { scan_codes, ..SearchParams::with_ef(64) };
            let mut hits = 0;
            for q in queries.chunks_exact(dim) {
                let truth: Vec<u32> = exact.search(q, k, &SearchParams::default(), None).unwrap().iter().map(|c| c.row).collect();
                let got = index.search(q, k, &params, None).unwrap();
                assert_eq!(got.len(), k);
                for c in &got {
                    let input_row = order[c.row as usize];
                    let want = exact.search(q, n, &SearchParams::default(), None).unwrap();
                    let d = want.iter().find(|w| w.row == input_row).unwrap().distance;
                    assert!((d - c.distance).abs() < 1e-4, "distances are exact");
                    hits += truth.contains(&input_row) as usize;
                }
            }
            let recall = hits as f64 / (50 * k) as f64;
            assert!(recall >= 0.9, "{metric:?} {codes:?} scan_codes={scan_codes} recall {recall}");
            let even = |r: u32| r.is_multiple_of(2);
            let filtered = index.search(&queries[..dim], k, &params, Some(&even)).unwrap();
            assert!(filtered.len() == k && filtered.iter().all(|c| c.row.is_multiple_of(2)));
        }
    }
}

/// A DiskANN segment whose nodes or meta were damaged is refused or detected, never panics.
#[test]
fn diskann_damage_is_detected() {
    let dim = 8;
    let data = random_unit_vectors(500, dim, 3);
    let (bytes, _) = diskann_segment(&data, dim, Metric::Cosine, CodeKind::Pq);
    let layout = SegmentLayout::parse(&bytes).unwrap();
    let nodes = layout.entry(stratovec_formats::segment::SectionKind::DISKANN_NODES).unwrap().offset as usize;
    let mut bad = bytes.to_vec();
    bad[nodes + 100] ^= 0x40;
    let bad = Bytes::from(bad);
    let index = DiskAnnIndex::open(&SegmentBytes::whole(bad.clone()).unwrap(), true, std::sync::Arc::new(bad.clone())).unwrap();
    assert!(index.verify_nodes(&layout).is_err(), "node damage is caught by the nodes CRC");
    // Neighbour lists pointing anywhere never make a search panic.
    let mut wild = bytes.to_vec();
    for b in &mut wild[nodes..nodes + 8192] {
        *b = 0xFF;
    }
    let wild = Bytes::from(wild);
    let index = DiskAnnIndex::open(&SegmentBytes::whole(wild.clone()).unwrap(), false, std::sync::Arc::new(wild.clone())).unwrap();
    let _ = index.search(&data[..dim], 5, &SearchParams::default(), None).unwrap();
    let meta = layout.entry(stratovec_formats::segment::SectionKind::DISKANN_META).unwrap().offset as usize;
    let mut broken = bytes.to_vec();
    broken[meta + 4] = 0;
    broken[meta + 5] = 0;
    let broken = Bytes::from(broken);
    assert!(DiskAnnIndex::open(&SegmentBytes::whole(broken.clone()).unwrap(), false, std::sync::Arc::new(broken.clone())).is_err());
}
