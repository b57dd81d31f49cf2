//! DiskANN node layout (Subramanya et al., "DiskANN: Fast Accurate Billion-point Nearest
//! Neighbor Search on a Single Node", NeurIPS 2019).
//!
//! Each row is one *node*: its full-precision vector followed by its neighbour list, so
//! one read gives both the exact distance for reranking and the next hop. Nodes are packed
//! into 4096-byte sectors and never straddle a sector boundary:
//!
//! ```text
//! node   = vector: dim × f32 | degree: u32 | neighbours: max_degree × u32 (first `degree` used)
//! node_len = 4 × dim + 4 + 4 × max_degree
//! node_len <= 4096: nodes_per_sector = 4096 / node_len, node i in sector i / nodes_per_sector
//!                   at byte (i % nodes_per_sector) × node_len (sectors_per_node = 1)
//! node_len >  4096: nodes_per_sector = 1, sectors_per_node = ceil(node_len / 4096),
//!                   node i starts at sector i × sectors_per_node
//! ```
//!
//! The nodes section starts at a multiple of 4096 in the file (so O_DIRECT reads are
//! aligned) and holds `ceil(rows / nodes_per_sector) × sectors_per_node` sectors. The meta
//! section ([`DiskAnnMeta`], 32 bytes) records the parameters. The optional node CRC
//! section ([`NodeCrcs`]) holds the CRC32C of every node, so nodes fetched by range (from
//! object storage, through the cache) are checked without reading the whole nodes section.

use crate::{read_u32, FormatError};

/// Bytes per sector (the unit of every node read).
pub const SECTOR_LEN: usize = 4096;
/// Length of the meta section in bytes.
pub const META_LEN: usize = 32;

/// The DiskANN meta section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskAnnMeta {
    /// Row where every search starts (the medoid).
    pub entry: u32,
    /// Maximum out-degree `R`.
    pub max_degree: u32,
    /// Bytes per node: `4 × dim + 4 + 4 × max_degree`.
    pub node_len: u32,
    /// Nodes per sector (1 when a node spans several sectors).
    pub nodes_per_sector: u32,
    /// Sectors per node read (1 unless `node_len > 4096`).
    pub sectors_per_node: u32,
    /// Pruning parameter `alpha` used at build (informational).
    pub alpha: f32,
    /// Build beam width `L` (informational).
    pub build_l: u32,
}

impl DiskAnnMeta {
    /// The layout of `dim`-dimensional nodes with out-degree `max_degree`.
    pub fn new(dim: usize, max_degree: usize, entry: u32, alpha: f32, build_l: usize) -> Self {
        let node_len = 4 * dim + 4 + 4 * max_degree;
        let (nodes_per_sector, sectors_per_node) =
            if node_len <= SECTOR_LEN { (SECTOR_LEN / node_len, 1) } else { (1, node_len.div_ceil(SECTOR_LEN)) };
        DiskAnnMeta {
            entry,
            max_degree: max_degree as u32,
            node_len: node_len as u32,
            nodes_per_sector: nodes_per_sector as u32,
            sectors_per_node: sectors_per_node as u32,
            alpha,
            build_l: build_l as u32,
        }
    }

    /// Bytes of the nodes section for `rows` rows.
    pub fn nodes_len(&self, rows: u64) -> u64 {
        rows.div_ceil(self.nodes_per_sector as u64) * self.sectors_per_node as u64 * SECTOR_LEN as u64
    }

    /// Byte offset of the first sector holding `row`, from the start of the nodes section.
    pub fn sector_offset(&self, row: u32) -> u64 {
        (row / self.nodes_per_sector) as u64 * self.sectors_per_node as u64 * SECTOR_LEN as u64
    }

    /// Bytes read per node: `sectors_per_node × 4096`.
    pub fn read_len(&self) -> usize {
        self.sectors_per_node as usize * SECTOR_LEN
    }

    /// Byte offset of `row`'s node within the bytes read at [`DiskAnnMeta::sector_offset`].
    pub fn offset_in_read(&self, row: u32) -> usize {
        (row % self.nodes_per_sector) as usize * self.node_len as usize
    }

    /// Encodes the 32-byte meta section.
    pub fn encode(&self) -> [u8; META_LEN] {
        let mut b = [0u8; META_LEN];
        for (i, v) in [self.entry, self.max_degree, self.node_len, self.nodes_per_sector, self.sectors_per_node].into_iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        b[20..24].copy_from_slice(&self.alpha.to_le_bytes());
        b[24..28].copy_from_slice(&self.build_l.to_le_bytes());
        b
    }

    /// Decodes and validates the meta section of a segment of `rows` rows of dimension
    /// `dim` whose nodes section is `nodes_len` bytes.
    ///
    /// # Errors
    /// `Truncated` for a short section; `Invalid` when a field disagrees with `dim`, `rows`
    /// or the nodes section length.
    pub fn decode(bytes: &[u8], dim: usize, rows: u64, nodes_len: u64) -> Result<Self, FormatError> {
        if bytes.len() != META_LEN {
            return Err(FormatError::truncated(META_LEN, bytes.len()));
        }
        let f = |i: usize| read_u32(bytes, 4 * i).unwrap_or(0);
        let meta = DiskAnnMeta {
            entry: f(0),
            max_degree: f(1),
            node_len: f(2),
            nodes_per_sector: f(3),
            sectors_per_node: f(4),
            alpha: f32::from_bits(f(5)),
            build_l: f(6),
        };
        let degree = meta.max_degree as usize;
        if degree == 0 || degree > 1 << 16 {
            return Err(FormatError::invalid(format!("DiskANN max degree {degree}")));
        }
        let want = DiskAnnMeta::new(dim, degree, meta.entry, meta.alpha, meta.build_l as usize);
        if meta != want {
            return Err(FormatError::invalid(format!("DiskANN meta {meta:?} disagrees with dim {dim} (expected {want:?})")));
        }
        if rows > 0 && meta.entry as u64 >= rows {
            return Err(FormatError::invalid(format!("DiskANN entry {} of {rows} rows", meta.entry)));
        }
        if meta.nodes_len(rows) != nodes_len {
            return Err(FormatError::invalid(format!(
                "DiskANN nodes section of {nodes_len} bytes, {rows} rows need {}",
                meta.nodes_len(rows)
            )));
        }
        Ok(meta)
    }

    /// Splits the node starting at `bytes` (at least `node_len` bytes) into its vector bytes
    /// (`4 × dim`, little-endian f32) and its neighbour list (degree clamped to
    /// `max_degree`; neighbours are not range-checked here).
    ///
    /// # Errors
    /// `Truncated` when `bytes` is shorter than a node.
    pub fn split_node<'a>(&self, bytes: &'a [u8], dim: usize) -> Result<(&'a [u8], NeighborIter<'a>), FormatError> {
        let node = bytes.get(..self.node_len as usize).ok_or_else(|| FormatError::truncated(self.node_len as usize, bytes.len()))?;
        let (vector, rest) = node.split_at(4 * dim);
        let degree = (read_u32(rest, 0).unwrap_or(0)).min(self.max_degree) as usize;
        Ok((vector, NeighborIter { bytes: &rest[4..4 + 4 * degree] }))
    }
}

/// The DiskANN node CRC section: the CRC32C of each node's `node_len` bytes, in row
/// order, as u32 little-endian (`4 × rows` bytes; kept in RAM, 4 bytes per row).
#[derive(Debug, Clone)]
pub struct NodeCrcs {
    crcs: Vec<u32>,
    meta: DiskAnnMeta,
}

impl NodeCrcs {
    /// The section bytes for the `rows` nodes of `nodes` (a nodes section laid out by
    /// `meta`).
    pub fn encode(meta: &DiskAnnMeta, nodes: &[u8], rows: u32) -> Vec<u8> {
        let node = |row: u32| &nodes[meta.sector_offset(row) as usize + meta.offset_in_read(row)..][..meta.node_len as usize];
        (0..rows).flat_map(|row| crate::checksum(node(row)).to_le_bytes()).collect()
    }

    /// Decodes the section of a segment of `rows` rows laid out by `meta`.
    ///
    /// # Errors
    /// `Invalid` when its length is not 4 bytes per row.
    pub fn decode(bytes: &[u8], meta: &DiskAnnMeta, rows: u64) -> Result<Self, FormatError> {
        if bytes.len() as u64 != rows.saturating_mul(4) {
            return Err(FormatError::invalid(format!("DiskANN node CRC section of {} bytes for {rows} rows", bytes.len())));
        }
        let crcs = bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok(NodeCrcs { crcs, meta: *meta })
    }

    /// Checks the node of `row` in `read`, the bytes read for it at
    /// [`DiskAnnMeta::sector_offset`].
    ///
    /// # Errors
    /// `Checksum` when they do not match; `Invalid` for a row past the section;
    /// `Truncated` for a short read.
    pub fn check(&self, row: u32, read: &[u8]) -> Result<(), FormatError> {
        let stored = *self.crcs.get(row as usize).ok_or_else(|| FormatError::invalid(format!("node {row}: no CRC")))?;
        let at = self.meta.offset_in_read(row);
        let len = self.meta.node_len as usize;
        let node = read.get(at..at + len).ok_or_else(|| FormatError::truncated(at + len, read.len()))?;
        let computed = crate::checksum(node);
        if stored != computed {
            return Err(FormatError::Checksum { what: format!("DiskANN node of row {row}"), stored, computed });
        }
        Ok(())
    }
}

/// Writes node `vector` + `neighbors` into `out` (`node_len` bytes).
pub fn encode_node(out: &mut [u8], vector: &[f32], neighbors: &[u32]) {
    let mut at = 0;
    for v in vector {
        out[at..at + 4].copy_from_slice(&v.to_le_bytes());
        at += 4;
    }
    out[at..at + 4].copy_from_slice(&(neighbors.len() as u32).to_le_bytes());
    at += 4;
    for n in neighbors {
        out[at..at + 4].copy_from_slice(&n.to_le_bytes());
        at += 4;
    }
}

/// The neighbours of a node (little-endian u32 row numbers).
#[derive(Debug, Clone)]
pub struct NeighborIter<'a> {
    bytes: &'a [u8],
}

impl Iterator for NeighborIter<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        let (head, rest) = self.bytes.split_at_checked(4)?;
        self.bytes = rest;
        Some(u32::from_le_bytes([head[0], head[1], head[2], head[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn meta_round_trips_and_nodes_fit((dim, degree, rows) in (1usize..2000, 1usize..200, 1u64..10_000)) {
            let m = DiskAnnMeta::new(dim, degree, (rows - 1) as u32, 1.2, 100);
            let back = DiskAnnMeta::decode(&m.encode(), dim, rows, m.nodes_len(rows)).unwrap();
            prop_assert_eq!(back, m);
            let last = (rows - 1) as u32;
            let end = m.sector_offset(last) as usize + m.offset_in_read(last) + m.node_len as usize;
            prop_assert!(end as u64 <= m.nodes_len(rows));
            prop_assert!(m.offset_in_read(last) + m.node_len as usize <= m.read_len());
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), dim in 0usize..100, rows in 0u64..100, len in 0u64..1 << 20) {
            let _ = DiskAnnMeta::decode(&bytes, dim, rows, len);
        }
    }

    #[test]
    fn node_round_trip() {
        let m = DiskAnnMeta::new(3, 4, 0, 1.2, 10);
        let mut buf = vec![0u8; m.node_len as usize];
        encode_node(&mut buf, &[1.0, 2.0, 3.0], &[7, 9]);
        let (v, n) = m.split_node(&buf, 3).unwrap();
        assert_eq!(v, [1f32.to_le_bytes(), 2f32.to_le_bytes(), 3f32.to_le_bytes()].concat());
        assert_eq!(n.collect::<Vec<_>>(), vec![7, 9]);
        buf[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(m.split_node(&buf, 3).unwrap().1.count(), 4);
        assert!(m.split_node(&buf[..10], 3).is_err());
    }
}
