//! A tombstone file: rows of earlier segments deleted (or replaced by an upsert) in one
//! commit.
//!
//! ```text
//! 0   magic "STRVTOMB"
//! 8   format_version u32
//! 12  crc32c u32 of the bytes from offset 24 to the end
//! 16  count u64
//! 24  count × (segment_id u64, row u32), 12 bytes each
//! ```

use crate::{checksum, read_u32, read_u64, FormatError};

/// Magic at offset 0.
pub const MAGIC: &[u8; 8] = b"STRVTOMB";
/// Format version written and read by this crate.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 24;
const ENTRY_LEN: usize = 12;

/// One deleted row: `row` of segment `segment_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tombstone {
    /// Segment that holds the row.
    pub segment_id: u64,
    /// Row within the segment.
    pub row: u32,
}

/// Encodes a tombstone file.
pub fn encode(tombstones: &[Tombstone]) -> Vec<u8> {
    let mut body = Vec::with_capacity(tombstones.len() * ENTRY_LEN);
    for t in tombstones {
        body.extend_from_slice(&t.segment_id.to_le_bytes());
        body.extend_from_slice(&t.row.to_le_bytes());
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&checksum(&body).to_le_bytes());
    out.extend_from_slice(&(tombstones.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decodes a tombstone file.
///
/// # Errors
/// `Truncated`, `BadMagic`, `UnsupportedVersion`, `Checksum`, or `Invalid` when the length
/// does not match the count.
pub fn decode(bytes: &[u8]) -> Result<Vec<Tombstone>, FormatError> {
    if bytes.len() < HEADER_LEN {
        return Err(FormatError::truncated(HEADER_LEN, bytes.len()));
    }
    if &bytes[0..8] != MAGIC {
        return Err(FormatError::BadMagic { expected: "STRVTOMB" });
    }
    let version = read_u32(bytes, 8).unwrap_or(0);
    if version != FORMAT_VERSION {
        return Err(FormatError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
    }
    let count = read_u64(bytes, 16).unwrap_or(0);
    let body = &bytes[HEADER_LEN..];
    if Some(body.len() as u64) != count.checked_mul(ENTRY_LEN as u64) {
        return Err(FormatError::invalid(format!("tombstone file of {} bytes for {count} entries", bytes.len())));
    }
    let stored = read_u32(bytes, 12).unwrap_or(0);
    let computed = checksum(body);
    if stored != computed {
        return Err(FormatError::Checksum { what: "tombstones".into(), stored, computed });
    }
    Ok(body
        .chunks_exact(ENTRY_LEN)
        .map(|c| Tombstone { segment_id: read_u64(c, 0).unwrap_or(0), row: read_u32(c, 8).unwrap_or(0) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(v in proptest::collection::vec((any::<u64>(), any::<u32>()), 0..50)) {
            let t: Vec<Tombstone> = v.into_iter().map(|(segment_id, row)| Tombstone { segment_id, row }).collect();
            prop_assert_eq!(decode(&encode(&t)).unwrap(), t);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
