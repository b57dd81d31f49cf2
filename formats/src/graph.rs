//! The HNSW graph section ([`crate::segment::SectionKind::HNSW_GRAPH`]).
//!
//! ```text
//! 0   m u32, m0 u32, entry_point u32 (u32::MAX = empty graph), max_level u32
//! 16  rows u64, upper_len u64 (number of u32 words in `upper`)
//! 32  levels: rows × u8 (top level of each node), zero-padded to a multiple of 4 bytes
//!     level0: rows × (m0 + 1) u32: per node [count, neighbour 0, .., neighbour m0-1]
//!     upper_offsets: (rows + 1) u32: start of each node's upper blocks in `upper`
//!     upper: upper_len u32: node i has levels[i] blocks of (m + 1) u32, [count, neighbours..],
//!            the block of level l (1-based) at upper_offsets[i] + (l - 1) × (m + 1)
//! ```
//! All values little-endian. [`GraphLayout::parse`] validates every count and neighbour id,
//! so a search over a parsed graph never indexes out of bounds.

use crate::{read_u32, read_u64, FormatError};

const GRAPH_HEADER_LEN: usize = 32;
/// Largest `m0` accepted (guards hostile input).
pub const MAX_DEGREE: u32 = 4096;
/// Largest level accepted.
pub const MAX_LEVEL: u32 = 64;

/// Byte ranges of a validated graph section (relative to the section start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphLayout {
    /// Max neighbours per node on upper levels.
    pub m: u32,
    /// Max neighbours per node on level 0.
    pub m0: u32,
    /// Entry point node, `None` for an empty graph.
    pub entry_point: Option<u32>,
    /// Top level of the entry point.
    pub max_level: u32,
    /// Number of nodes.
    pub rows: u64,
    /// `levels` array: `rows` bytes.
    pub levels: std::ops::Range<usize>,
    /// `level0` array: `rows × (m0 + 1)` u32.
    pub level0: std::ops::Range<usize>,
    /// `upper_offsets` array: `rows + 1` u32.
    pub upper_offsets: std::ops::Range<usize>,
    /// `upper` array: `upper_len` u32.
    pub upper: std::ops::Range<usize>,
}

/// The parts of a graph to encode; see the module docs for their meaning.
#[derive(Debug, Clone, Copy)]
pub struct GraphParts<'a> {
    /// Max neighbours on upper levels.
    pub m: u32,
    /// Max neighbours on level 0.
    pub m0: u32,
    /// Entry point, `None` for an empty graph.
    pub entry_point: Option<u32>,
    /// Level of the entry point.
    pub max_level: u32,
    /// Level of each node (`rows` entries).
    pub levels: &'a [u8],
    /// Level-0 adjacency, `rows × (m0 + 1)` words.
    pub level0: &'a [u32],
    /// `rows + 1` offsets into `upper`.
    pub upper_offsets: &'a [u32],
    /// Upper-level adjacency blocks.
    pub upper: &'a [u32],
}

fn push_words(out: &mut Vec<u8>, words: &[u32]) {
    out.reserve(words.len() * 4);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

impl GraphParts<'_> {
    /// Encodes the section bytes.
    pub fn encode(&self) -> Vec<u8> {
        let rows = self.levels.len();
        let mut out = Vec::with_capacity(GRAPH_HEADER_LEN + rows + 4 * (self.level0.len() + self.upper.len() + rows + 1));
        out.extend_from_slice(&self.m.to_le_bytes());
        out.extend_from_slice(&self.m0.to_le_bytes());
        out.extend_from_slice(&self.entry_point.unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&self.max_level.to_le_bytes());
        out.extend_from_slice(&(rows as u64).to_le_bytes());
        out.extend_from_slice(&(self.upper.len() as u64).to_le_bytes());
        out.extend_from_slice(self.levels);
        out.resize(out.len().next_multiple_of(4), 0);
        push_words(&mut out, self.level0);
        push_words(&mut out, self.upper_offsets);
        push_words(&mut out, self.upper);
        out
    }
}

fn words(bytes: &[u8], range: std::ops::Range<usize>) -> impl Iterator<Item = u32> + '_ {
    bytes[range].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

fn take(cursor: &mut usize, len: Option<usize>, total: usize) -> Result<std::ops::Range<usize>, FormatError> {
    let end = len.and_then(|l| cursor.checked_add(l)).filter(|e| *e <= total);
    let end = end.ok_or_else(|| FormatError::truncated(len.unwrap_or(usize::MAX), total))?;
    let r = *cursor..end;
    *cursor = end;
    Ok(r)
}

impl GraphLayout {
    /// Parses and fully validates a graph section of a segment with `rows` rows.
    ///
    /// # Errors
    /// `Truncated` when the section is short, `Invalid` for any count, level, offset or
    /// neighbour id out of range.
    pub fn parse(section: &[u8], rows: u64) -> Result<Self, FormatError> {
        let total = section.len();
        if total < GRAPH_HEADER_LEN {
            return Err(FormatError::truncated(GRAPH_HEADER_LEN, total));
        }
        let m = read_u32(section, 0).unwrap_or(0);
        let m0 = read_u32(section, 4).unwrap_or(0);
        let entry = read_u32(section, 8).unwrap_or(0);
        let max_level = read_u32(section, 12).unwrap_or(0);
        let n = read_u64(section, 16).unwrap_or(0);
        let upper_len = read_u64(section, 24).unwrap_or(0);
        if n != rows {
            return Err(FormatError::invalid(format!("graph has {n} nodes, segment has {rows} rows")));
        }
        if m == 0 || m0 == 0 || m0 > MAX_DEGREE || m > MAX_DEGREE || max_level > MAX_LEVEL {
            return Err(FormatError::invalid(format!("graph parameters m={m} m0={m0} max_level={max_level}")));
        }
        let n = usize::try_from(n).map_err(|_| FormatError::invalid("graph rows"))?;
        let mut cursor = GRAPH_HEADER_LEN;
        let levels = take(&mut cursor, Some(n), total)?;
        cursor = cursor.next_multiple_of(4);
        let words_len = |count: Option<usize>| count.and_then(|c| c.checked_mul(4));
        let level0 = take(&mut cursor, words_len(n.checked_mul(m0 as usize + 1)), total)?;
        let upper_offsets = take(&mut cursor, words_len(n.checked_add(1)), total)?;
        let upper = take(&mut cursor, words_len(usize::try_from(upper_len).ok()), total)?;
        if cursor != total {
            return Err(FormatError::invalid(format!("graph section has {} trailing bytes", total - cursor)));
        }
        let layout =
            GraphLayout { m, m0, entry_point: (entry != u32::MAX).then_some(entry), max_level, rows, levels, level0, upper_offsets, upper };
        layout.validate(section, upper_len)?;
        Ok(layout)
    }

    fn validate(&self, s: &[u8], upper_len: u64) -> Result<(), FormatError> {
        let n = self.rows as usize;
        match self.entry_point {
            None if n != 0 => return Err(FormatError::invalid("graph without entry point has nodes")),
            Some(e) if e as usize >= n => return Err(FormatError::invalid(format!("entry point {e} >= rows {n}"))),
            Some(e) if s[self.levels.start + e as usize] as u32 != self.max_level => {
                return Err(FormatError::invalid("entry point level differs from max_level"))
            }
            _ => {}
        }
        let levels = &s[self.levels.clone()];
        if let Some(l) = levels.iter().find(|l| **l as u32 > self.max_level) {
            return Err(FormatError::invalid(format!("node level {l} above max_level {}", self.max_level)));
        }
        Self::validate_blocks(words(s, self.level0.clone()), self.m0, n, "level 0")?;
        let offsets: Vec<u32> = words(s, self.upper_offsets.clone()).collect();
        let block = self.m as u64 + 1;
        let mut expected = 0u64;
        for (i, pair) in offsets.windows(2).enumerate() {
            if pair[0] as u64 != expected || pair[1] as u64 != expected + levels[i] as u64 * block {
                return Err(FormatError::invalid(format!("upper offset of node {i}")));
            }
            expected = pair[1] as u64;
        }
        if expected != upper_len || offsets.first().copied().unwrap_or(1) != 0 && n == 0 {
            return Err(FormatError::invalid("upper offsets do not cover the upper array"));
        }
        Self::validate_blocks(words(s, self.upper.clone()), self.m, n, "upper levels")
    }

    fn validate_blocks(mut it: impl Iterator<Item = u32>, cap: u32, n: usize, what: &str) -> Result<(), FormatError> {
        while let Some(count) = it.next() {
            if count > cap {
                return Err(FormatError::invalid(format!("{what}: neighbour count {count} > {cap}")));
            }
            for (j, nb) in it.by_ref().take(cap as usize).enumerate() {
                if (j as u32) < count && nb as usize >= n {
                    return Err(FormatError::invalid(format!("{what}: neighbour {nb} >= rows {n}")));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        // 3 nodes, m = 2, m0 = 2; node 1 on level 1.
        GraphParts {
            m: 2,
            m0: 2,
            entry_point: Some(1),
            max_level: 1,
            levels: &[0, 1, 0],
            level0: &[2, 1, 2, 2, 0, 2, 1, 1, 0],
            upper_offsets: &[0, 0, 3, 3],
            upper: &[0, 0, 0],
        }
        .encode()
    }

    #[test]
    fn parse_valid() {
        let s = sample();
        let g = GraphLayout::parse(&s, 3).unwrap();
        assert_eq!(g.entry_point, Some(1));
        assert_eq!(g.level0.len(), 9 * 4);
    }

    #[test]
    fn neighbour_out_of_range_is_rejected() {
        let mut s = sample();
        let at = 32 + 4 + 4; // first neighbour of node 0
        s[at..at + 4].copy_from_slice(&7u32.to_le_bytes());
        assert!(matches!(GraphLayout::parse(&s, 3), Err(FormatError::Invalid(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), rows in 0u64..8) {
            let _ = GraphLayout::parse(&bytes, rows);
        }
    }
}
