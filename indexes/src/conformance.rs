//! Checks that an [`IndexFactory`] and its index behave the way the engine relies on
//! (feature `test-util`), as `stratovec_backends::conformance` does for stores. Run
//! [`index_factory_suite`] in a custom index's tests; it panics with a message naming the
//! broken rule.
//!
//! What it checks, on synthetic clustered data (2,000 rows of 24 dimensions, 50 queries)
//! for each metric:
//! * the built index round-trips through segment bytes: opened from a whole file and,
//!   for factories with on-demand sections, from the other sections plus a positional
//!   reader; kind, dimension, metric and rows match;
//! * `vector(row)` returns the row it was built from (after the factory's row order) and
//!   `None` past the end, and `vectors_of` the same rows;
//! * recall@10 against exact search is at least the floor given;
//! * results are sorted, finite, distinct, and obey a row filter;
//! * a query of the wrong dimension is `DimensionMismatch`, never a panic;
//! * a byte flipped in any section it wrote makes a verified open fail, never panic.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stratovec_formats::segment::{SegmentBytes, SegmentHeader, SegmentWriter};

use crate::{BuildInput, Index, IndexError, IndexFactory, Metric, SearchParams};

/// Rows of the synthetic data set.
pub const ROWS: usize = 2_000;
/// Dimension of the synthetic data set.
pub const DIM: usize = 24;
/// Queries per metric.
pub const QUERIES: usize = 50;
/// `k` of the recall check.
pub const K: usize = 10;

/// What [`index_factory_suite`] measured, per metric.
#[derive(Debug, Clone, PartialEq)]
pub struct ConformanceReport {
    /// `(metric, recall@10)` of the index against exact search.
    pub recall: Vec<(Metric, f64)>,
}

/// Runs every check on `factory` for L2, inner product and cosine; recall@10 must be at
/// least `min_recall` (1.0 for an exact index). Panics on the first broken rule.
pub fn index_factory_suite(factory: &dyn IndexFactory, min_recall: f64) -> ConformanceReport {
    let mut recall = Vec::new();
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        recall.push((metric, check_metric(factory, metric, min_recall)));
    }
    ConformanceReport { recall }
}

/// `rows × DIM` clustered values (normalised for cosine; norms 0.8 to 1.2 for inner product).
pub fn synthetic_rows(rows: usize, metric: Metric, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..16 * DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut out = Vec::with_capacity(rows * DIM);
    for _ in 0..rows {
        let c = rng.random_range(0..16) * DIM;
        let start = out.len();
        out.extend((0..DIM).map(|j| centres[c + j] + rng.random_range(-0.3..0.3)));
        let scale = match metric {
            Metric::L2 => None,
            Metric::Cosine => Some(1.0),
            // Inner product: norms within ±20% of 1, as embeddings scored by inner product
            // usually are (with widely varying norms, graph indexes need a far larger
            // ef_search for the same recall).
            _ => Some(rng.random_range(0.8..1.2)),
        };
        if let Some(scale) = scale {
            let norm = out[start..].iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
            out[start..].iter_mut().for_each(|x| *x *= scale / norm);
        }
    }
    out
}

fn check_metric(factory: &dyn IndexFactory, metric: Metric, min_recall: f64) -> f64 {
    let name = format!("{} ({metric})", factory.name());
    let rows = synthetic_rows(ROWS, metric, 7);
    let built = factory.build(BuildInput { vectors: &rows, dim: DIM, metric }).unwrap_or_else(|e| panic!("{name}: build failed: {e}"));
    let order: Vec<u32> = built.order().map_or_else(|| (0..ROWS as u32).collect(), <[u32]>::to_vec);
    assert_eq!(order.len(), ROWS, "{name}: the row order must cover every row");
    let header = SegmentHeader { kind: factory.kind(), metric, dim: DIM as u32, rows: ROWS as u64 };
    let mut writer = SegmentWriter::new(&header, built.bytes_estimate() + 4096);
    built.write_sections(&mut writer);
    // As the engine does: the keys section follows the index sections.
    let keys: Vec<u8> = order.iter().flat_map(|&r| u64::from(r).to_le_bytes()).collect();
    writer.add_section(stratovec_formats::segment::SectionKind::IDS, &keys);
    let bytes = Bytes::from(writer.finish());
    let file = SegmentBytes::whole(bytes.clone()).unwrap_or_else(|e| panic!("{name}: the sections do not form a segment: {e}"));

    let index = factory.open(&file, None, true).unwrap_or_else(|e| panic!("{name}: open of a whole file failed: {e}"));
    check_shape(&name, factory, index.as_ref(), metric);
    check_vectors(&name, index.as_ref(), &rows, &order);
    let recall = check_search(&name, index.as_ref(), &rows, &order, metric);
    assert!(recall >= min_recall, "{name}: recall@{K} {recall:.3} is below {min_recall}");
    check_on_demand(&name, factory, &file, &bytes, &rows, &order);
    check_damage(&name, factory, &bytes);
    recall
}

fn check_shape(name: &str, factory: &dyn IndexFactory, index: &dyn Index, metric: Metric) {
    assert_eq!(index.kind(), factory.kind(), "{name}: index kind");
    assert_eq!(index.dim(), DIM, "{name}: dim");
    assert_eq!(index.metric(), metric, "{name}: metric");
    assert_eq!(index.rows(), ROWS, "{name}: rows");
}

fn check_vectors(name: &str, index: &dyn Index, rows: &[f32], order: &[u32]) {
    for (row, &input) in order.iter().enumerate() {
        let got = index.vector(row as u32).unwrap_or_else(|e| panic!("{name}: vector({row}) failed: {e}"));
        let got = got.unwrap_or_else(|| panic!("{name}: vector({row}) is None"));
        let want = &rows[input as usize * DIM..][..DIM];
        let close = got.iter().zip(want).all(|(a, b)| (a - b).abs() <= 1e-5 * b.abs().max(1.0));
        assert!(got.len() == DIM && close, "{name}: vector({row}) differs from input row {input}");
    }
    assert!(matches!(index.vector(ROWS as u32), Ok(None)), "{name}: vector(rows) must be None");
    // `vectors_of` agrees with `vector`, row for row, skipping rows out of range.
    let asked: Vec<u32> = (0..ROWS as u32).rev().step_by(7).chain([ROWS as u32]).collect();
    let mut seen = vec![false; asked.len()];
    index
        .vectors_of(&asked, &mut |i, v| {
            let want = index.vector(asked[i]).ok().flatten();
            assert!(want.as_deref() == Some(v), "{name}: vectors_of row {} differs from vector()", asked[i]);
            seen[i] = true;
        })
        .unwrap_or_else(|e| panic!("{name}: vectors_of failed: {e}"));
    assert!(seen[..asked.len() - 1].iter().all(|&s| s) && !seen[asked.len() - 1], "{name}: vectors_of rows passed");
}

/// Exact `K` nearest input rows of `q`.
fn exact(rows: &[f32], q: &[f32], metric: Metric) -> Vec<u32> {
    let kernels = crate::kernels();
    let distance = |r: &[f32]| match metric {
        Metric::L2 => (kernels.l2_sq)(q, r),
        _ => -(kernels.dot)(q, r), // cosine rows and queries are normalised: same ranking
    };
    let mut d: Vec<(f32, u32)> = rows.chunks_exact(DIM).enumerate().map(|(i, r)| (distance(r), i as u32)).collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0));
    d.iter().take(K).map(|x| x.1).collect()
}

fn check_search(name: &str, index: &dyn Index, rows: &[f32], order: &[u32], metric: Metric) -> f64 {
    let queries = synthetic_rows(QUERIES, metric, 11);
    let params = SearchParams::default();
    let even = |row: u32| order[row as usize].is_multiple_of(2);
    let mut found = 0;
    for q in queries.chunks_exact(DIM) {
        let hits = index.search(q, K, &params, None).unwrap_or_else(|e| panic!("{name}: search failed: {e}"));
        check_results(name, &hits);
        let truth: HashSet<u32> = exact(rows, q, metric).into_iter().collect();
        found += hits.iter().filter(|h| truth.contains(&order[h.row as usize])).count();
        let filtered = index.search(q, K, &params, Some(&even)).unwrap_or_else(|e| panic!("{name}: filtered search failed: {e}"));
        check_results(name, &filtered);
        assert!(!filtered.is_empty(), "{name}: a filter accepting half the rows returned nothing");
        assert!(filtered.iter().all(|h| even(h.row)), "{name}: a filtered search returned a rejected row");
    }
    let short = vec![0.5; DIM - 1];
    assert!(
        matches!(index.search(&short, K, &params, None), Err(IndexError::DimensionMismatch { .. })),
        "{name}: a query of the wrong dimension must be DimensionMismatch"
    );
    found as f64 / (QUERIES * K) as f64
}

fn check_results(name: &str, hits: &[crate::Candidate]) {
    assert!(hits.len() <= K, "{name}: more than k results");
    assert!(hits.iter().all(|h| h.distance.is_finite() && (h.row as usize) < ROWS), "{name}: a result is out of range or not finite");
    assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance), "{name}: results are not sorted by distance");
    let distinct: HashSet<u32> = hits.iter().map(|h| h.row).collect();
    assert_eq!(distinct.len(), hits.len(), "{name}: a row is returned twice");
}

/// With on-demand sections: open from the other sections plus a positional reader over the
/// file, and agree with the whole-file index.
fn check_on_demand(name: &str, factory: &dyn IndexFactory, file: &SegmentBytes, bytes: &Bytes, rows: &[f32], order: &[u32]) {
    let on_demand = factory.on_demand_sections();
    if on_demand.is_empty() {
        return;
    }
    let layout = file.layout().clone();
    let sections: Vec<_> = layout
        .sections
        .iter()
        .filter(|e| !on_demand.contains(&e.kind))
        .map(|e| (e.kind, bytes.slice(e.offset as usize..(e.offset + e.len) as usize)))
        .collect();
    let partial = SegmentBytes::from_sections(layout, sections).unwrap_or_else(|e| panic!("{name}: {e}"));
    let reader: Arc<dyn crate::SectorRead> = Arc::new(bytes.clone());
    let index = factory.open(&partial, Some(reader), true).unwrap_or_else(|e| panic!("{name}: open with on-demand sections failed: {e}"));
    assert_eq!(index.rows(), ROWS, "{name}: rows (on demand)");
    check_vectors(name, index.as_ref(), rows, order);
}

/// A byte flipped in the middle of each section: a verified open fails (or, for on-demand
/// sections the open does not read, the first read of the damaged part fails), never panics.
fn check_damage(name: &str, factory: &dyn IndexFactory, bytes: &Bytes) {
    let layout = SegmentBytes::whole(bytes.clone()).map(|f| f.layout().clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let index_sections = layout.sections.iter().filter(|e| e.kind != stratovec_formats::segment::SectionKind::IDS && e.len > 0);
    for entry in index_sections {
        let mut damaged = bytes.to_vec();
        damaged[(entry.offset + entry.len / 2) as usize] ^= 0x5a;
        let Ok(file) = SegmentBytes::whole(Bytes::from(damaged)) else { continue };
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| factory.open(&file, None, true)));
        let opened = opened.unwrap_or_else(|_| panic!("{name}: open of a damaged section {} panicked", entry.kind.name()));
        assert!(opened.is_err(), "{name}: a verified open accepted a damaged section {}", entry.kind.name());
    }
}
