//! The output segment of a compaction: gather the live rows of the inputs, then encode them
//! with the index kind chosen by row count (Flat, HNSW, DiskANN, or the configured
//! `compaction_index`).

use std::collections::HashMap;
use std::sync::Arc;

use roaring::RoaringBitmap;
use stratovec_formats::segment::SegmentKind;
use stratovec_indexes::{BuildInput, IndexFactory, Metric};

use crate::version::rows::RowColumns;
use crate::version::segment::{encode_segment, Segment};
use crate::{DbOptions, Error, ErrorKind, Result};

/// Marks an input row that is not in the output (it was deleted by a committed tombstone).
pub(crate) const DROPPED: u32 = u32::MAX;

/// The live rows of a compaction's inputs, in input order, and where each input row went.
#[derive(Debug)]
pub(crate) struct LiveRows {
    /// User key of each output row.
    pub ids: Vec<u64>,
    /// `ids.len() × dim` values, row-major.
    pub vectors: Vec<f32>,
    /// Per input (same order as the inputs): output row of each input row, or [`DROPPED`].
    pub maps: Vec<(u64, Vec<u32>)>,
    /// Metadata and payload of each output row.
    pub columns: RowColumns,
}

/// Collects the rows of `inputs` not in `dead` (committed tombstones, by segment id).
///
/// # Errors
/// `Unavailable` if a row cannot be read (a DiskANN node read failed).
pub(crate) fn gather(inputs: &[Arc<Segment>], dead: &HashMap<u64, Arc<RoaringBitmap>>, dim: usize) -> Result<LiveRows> {
    let total: usize = inputs.iter().map(|s| s.meta.rows as usize).sum();
    let mut live = LiveRows {
        ids: Vec::with_capacity(total),
        vectors: Vec::with_capacity(total * dim),
        maps: Vec::new(),
        columns: RowColumns::default(),
    };
    for seg in inputs {
        let dead = dead.get(&seg.meta.id);
        let mut map = vec![DROPPED; seg.meta.rows as usize];
        for (row, slot) in map.iter_mut().enumerate() {
            if dead.is_some_and(|d| d.contains(row as u32)) {
                continue;
            }
            let v = seg
                .index
                .vector(row as u32)
                .map_err(|e| Error::index(&seg.meta.file, e))?
                .ok_or_else(|| Error::new(ErrorKind::Corrupt, format!("{}: row {row} is missing from the index", seg.meta.file)))?;
            live.columns.push_from(&seg.rows, row as u32).map_err(|e| Error::format(&seg.meta.file, e))?;
            *slot = live.ids.len() as u32;
            live.ids.push(seg.ids.as_slice()[row]);
            live.vectors.extend_from_slice(&v);
        }
        live.maps.push((seg.meta.id, map));
    }
    Ok(live)
}

/// The index kind a compaction writes for `rows` live rows of `dim` values: Flat below
/// `flat_threshold` when it is set (non-zero), else where the cost model says a graph never
/// pays; otherwise
/// `compaction_index` when set, else DiskANN from `diskann_threshold` rows or
/// `diskann_threshold_bytes` bytes of vectors, and HNSW below both.
pub(crate) fn output_kind(rows: usize, dim: usize, options: &DbOptions) -> SegmentKind {
    let flat = match options.flat_threshold {
        0 => options.cost_model.effective().graph_never_pays(rows as u64, dim),
        threshold => rows < threshold,
    };
    if flat {
        SegmentKind::FLAT
    } else if let Some(kind) = options.compaction_index {
        kind
    } else if rows >= options.diskann_threshold || (rows as u64).saturating_mul(dim as u64 * 4) >= options.diskann_threshold_bytes {
        SegmentKind::DISKANN
    } else {
        SegmentKind::HNSW
    }
}

/// Encodes `live` as a segment built by `factory`. A build that renumbers rows (DiskANN,
/// for locality) has `live.ids`, rows and `live.maps` renumbered to match.
///
/// # Errors
/// `InvalidArgument` for index parameters the build rejects.
pub(crate) fn encode(live: &mut LiveRows, factory: &dyn IndexFactory, dim: usize, metric: Metric) -> Result<Vec<u8>> {
    let invalid = |e: stratovec_indexes::IndexError| Error::invalid(format!("compaction output ({}): {e}", factory.name()));
    let built = factory.build(BuildInput { vectors: &live.vectors, dim, metric }).map_err(invalid)?;
    live.vectors = Vec::new();
    if let Some(order) = built.order() {
        if !is_permutation(order, live.ids.len()) {
            return Err(invalid(stratovec_indexes::IndexError::InvalidArgument(format!(
                "the row order is not a permutation of 0..{}",
                live.ids.len()
            ))));
        }
        renumber(live, order)?;
    }
    let estimate = built.bytes_estimate() + live.ids.len() * 8;
    Ok(encode_segment(factory.kind(), metric, dim, &live.ids, estimate, |w| {
        built.write_sections(w);
        live.columns.write_sections(w);
    }))
}

/// Whether `order` holds each of `0..rows` once.
fn is_permutation(order: &[u32], rows: usize) -> bool {
    let mut seen = vec![false; rows];
    order.len() == rows && order.iter().all(|&r| seen.get_mut(r as usize).is_some_and(|s| !std::mem::replace(s, true)))
}

/// Applies `order[new_row] = old_row` to the keys, the rows and the input row maps.
fn renumber(live: &mut LiveRows, order: &[u32]) -> Result<()> {
    let mut new_of = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of[old as usize] = new as u32;
    }
    live.ids = order.iter().map(|&old| live.ids[old as usize]).collect();
    live.columns = live.columns.permuted(order).map_err(|e| Error::format("compaction output", e))?;
    for (_, map) in &mut live.maps {
        for r in map.iter_mut().filter(|r| **r != DROPPED) {
            *r = new_of[*r as usize];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumber_moves_keys_and_maps_together() {
        let mut columns = RowColumns::default();
        for p in [b"a", b"b", b"c"] {
            columns.push(&Default::default(), p);
        }
        let mut live = LiveRows { ids: vec![10, 11, 12], vectors: Vec::new(), maps: vec![(1, vec![0, DROPPED, 1, 2])], columns };
        renumber(&mut live, &[2, 0, 1]).unwrap();
        assert_eq!(live.ids, vec![12, 10, 11]);
        assert_eq!(live.maps[0].1, vec![1, DROPPED, 2, 0]);
        use crate::version::rows::Rows;
        assert_eq!([0, 1, 2].map(|r| live.columns.payload(r).unwrap()), [b"c".to_vec(), b"a".to_vec(), b"b".to_vec()]);
        for (input_row, &out) in live.maps[0].1.iter().enumerate() {
            if out != DROPPED {
                assert_eq!(live.ids[out as usize], [10, 0, 11, 12][input_row]);
            }
        }
    }

    #[test]
    fn only_permutations_renumber() {
        assert!(is_permutation(&[2, 0, 1], 3));
        assert!(!is_permutation(&[2, 0, 0], 3));
        assert!(!is_permutation(&[3, 0, 1], 3));
        assert!(!is_permutation(&[0, 1], 3));
    }

    #[test]
    fn output_kind_follows_thresholds() {
        let o = DbOptions::default().with_flat_threshold(10).with_diskann_threshold(100);
        let dim = 2000; // a set threshold overrides the cost model
        assert_eq!(output_kind(9, dim, &o), SegmentKind::FLAT);
        assert_eq!(output_kind(10, dim, &o), SegmentKind::HNSW);
        assert_eq!(output_kind(100, dim, &o), SegmentKind::DISKANN);
        let by_cost = DbOptions::default();
        assert_eq!(output_kind(100, 50, &by_cost), SegmentKind::FLAT, "a graph never pays at 100 rows");
        assert_eq!(output_kind(50_000, 50, &by_cost), SegmentKind::HNSW);
        // 1 GiB of vectors: DiskANN below the row threshold too.
        assert_eq!(output_kind(400_000, 768, &by_cost), SegmentKind::DISKANN);
        assert_eq!(output_kind(300_000, 768, &by_cost), SegmentKind::HNSW);
        assert_eq!(output_kind(999_999, 50, &by_cost), SegmentKind::HNSW);
        assert_eq!(output_kind(1_000_000, 50, &by_cost), SegmentKind::DISKANN);
    }
}
