//! Which segments to merge: the [`CompactionPolicy`] trait, the default size-tiered policy
//! and a merge-everything policy.

use stratovec_formats::segment::SegmentKind;

/// What a policy knows about one committed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Segment id (unique within the database).
    pub id: u64,
    /// Index kind.
    pub kind: SegmentKind,
    /// Rows stored, including deleted ones.
    pub rows: u64,
    /// Rows not deleted by a committed or pending tombstone.
    pub live_rows: u64,
    /// File size in bytes.
    pub bytes: u64,
}

impl SegmentInfo {
    /// Fraction of rows that are deleted, in `0.0..=1.0` (0 for an empty segment).
    pub fn deleted_fraction(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            (self.rows - self.live_rows) as f64 / self.rows as f64
        }
    }
}

/// Chooses the segments one compaction merges into a single new segment.
///
/// [`crate::Db::compact`] calls `pick` repeatedly, merging what it returns, until it returns
/// an empty list (or a single segment that has no deleted rows, which would rewrite it
/// unchanged). Segments come in manifest order (oldest first).
///
/// ```
/// use stratovec::{CompactionPolicy, SegmentInfo};
/// /// Merges everything once there are more than 8 segments.
/// #[derive(Debug)]
/// struct AtMostEight;
/// impl CompactionPolicy for AtMostEight {
///     fn pick(&self, segments: &[SegmentInfo]) -> Vec<u64> {
///         if segments.len() > 8 { segments.iter().map(|s| s.id).collect() } else { Vec::new() }
///     }
/// }
/// assert!(AtMostEight.pick(&[]).is_empty());
/// ```
pub trait CompactionPolicy: Send + Sync + std::fmt::Debug {
    /// Ids of the segments to merge now (each at most once), or an empty list.
    fn pick(&self, segments: &[SegmentInfo]) -> Vec<u64>;
}

/// Size-tiered compaction (the policy of Cassandra's STCS and of LSM trees): segments whose
/// live row counts fall in the same power-of-`fanout` tier are merged once a tier holds
/// `fanout` of them, so every row is rewritten about `log_fanout(total / smallest)` times.
/// A segment with more than `max_deleted_fraction` deleted rows is rewritten on its own to
/// drop them.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeTiered {
    /// Segments per tier that trigger a merge, and the size ratio between tiers. Default 4.
    pub fanout: usize,
    /// Most segments merged at once. Default 32.
    pub max_merge: usize,
    /// Live rows of the smallest tier: segments below this count as tier 0. Default 1,000.
    pub base_rows: u64,
    /// Rewrite a segment alone when more than this fraction of its rows is deleted.
    /// Default 0.3.
    pub max_deleted_fraction: f64,
}

impl Default for SizeTiered {
    fn default() -> Self {
        SizeTiered { fanout: 4, max_merge: 32, base_rows: 1_000, max_deleted_fraction: 0.3 }
    }
}

impl SizeTiered {
    fn tier(&self, live_rows: u64) -> u32 {
        let fanout = self.fanout.max(2) as u64;
        let mut tier = 0;
        let mut bound = self.base_rows.max(1);
        while live_rows >= bound && bound < u64::MAX {
            tier += 1;
            bound = bound.saturating_mul(fanout);
        }
        tier
    }
}

impl CompactionPolicy for SizeTiered {
    fn pick(&self, segments: &[SegmentInfo]) -> Vec<u64> {
        let fanout = self.fanout.max(2);
        let mut by_tier: std::collections::BTreeMap<u32, Vec<&SegmentInfo>> = Default::default();
        for s in segments {
            by_tier.entry(self.tier(s.live_rows)).or_default().push(s);
        }
        if let Some(group) = by_tier.values_mut().find(|g| g.len() >= fanout) {
            group.sort_by_key(|s| (s.live_rows, s.id));
            return group.iter().take(self.max_merge.max(2)).map(|s| s.id).collect();
        }
        segments
            .iter()
            .filter(|s| s.deleted_fraction() > self.max_deleted_fraction)
            .max_by(|a, b| a.deleted_fraction().total_cmp(&b.deleted_fraction()))
            .map(|s| vec![s.id])
            .unwrap_or_default()
    }
}

/// Merges every segment into one (a "major" compaction), dropping all deleted rows; does
/// nothing when there is at most one segment and it has no deleted rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeAll;

impl CompactionPolicy for MergeAll {
    fn pick(&self, segments: &[SegmentInfo]) -> Vec<u64> {
        match segments {
            [] => Vec::new(),
            [one] if one.live_rows == one.rows => Vec::new(),
            _ => segments.iter().map(|s| s.id).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: u64, rows: u64, live: u64) -> SegmentInfo {
        SegmentInfo { id, kind: SegmentKind::FLAT, rows, live_rows: live, bytes: rows * 100 }
    }

    #[test]
    fn size_tiered_merges_a_full_tier_smallest_first() {
        let p = SizeTiered::default();
        let segs = [seg(1, 50_000, 50_000), seg(2, 900, 900), seg(3, 500, 500), seg(4, 700, 700)];
        assert!(p.pick(&segs).is_empty(), "three in tier 0 is below the fanout");
        let mut more = segs.to_vec();
        more.push(seg(5, 100, 100));
        assert_eq!(p.pick(&more), vec![5, 3, 4, 2]);
    }

    #[test]
    fn size_tiered_rewrites_a_mostly_deleted_segment() {
        let p = SizeTiered::default();
        let segs = [seg(1, 10_000, 9_000), seg(2, 10_000, 5_000)];
        assert_eq!(p.pick(&segs), vec![2]);
    }

    #[test]
    fn tiers_grow_by_fanout() {
        let p = SizeTiered::default();
        assert_eq!(p.tier(0), 0);
        assert_eq!(p.tier(999), 0);
        assert_eq!(p.tier(1_000), 1);
        assert_eq!(p.tier(3_999), 1);
        assert_eq!(p.tier(4_000), 2);
        assert!(p.tier(u64::MAX) > p.tier(u64::MAX / 8), "saturating bounds still terminate");
    }

    #[test]
    fn merge_all_skips_a_clean_single_segment() {
        assert!(MergeAll.pick(&[seg(1, 10, 10)]).is_empty());
        assert_eq!(MergeAll.pick(&[seg(1, 10, 9)]), vec![1]);
        assert_eq!(MergeAll.pick(&[seg(1, 10, 10), seg(2, 5, 5)]), vec![1, 2]);
    }
}
