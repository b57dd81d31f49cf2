//! A variable-length column: one byte string per row, for the metadata and payload
//! sections of a segment.
//!
//! ```text
//! 0              count u64                      rows
//! 8              (count + 1) × u64 offsets      offsets[0] = 0, non-decreasing,
//!                                               offsets[count] = data length
//! 8 + 8(count+1) data                           row i = data[offsets[i]..offsets[i + 1]]
//! ```

use crate::{read_u64, FormatError};

/// Builds a column row by row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnBuilder {
    offsets: Vec<u64>,
    data: Vec<u8>,
}

impl ColumnBuilder {
    /// An empty column.
    pub fn new() -> Self {
        ColumnBuilder { offsets: vec![0], data: Vec::new() }
    }

    /// Appends one row.
    pub fn push(&mut self, row: &[u8]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.data.extend_from_slice(row);
        self.offsets.push(self.data.len() as u64);
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// `true` without rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`, `None` past the end.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let (a, b) = (*self.offsets.get(i)?, *self.offsets.get(i + 1)?);
        self.data.get(a as usize..b as usize)
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.offsets.capacity() * 8 + self.data.capacity()
    }

    /// The section bytes (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let offsets: &[u64] = if self.offsets.is_empty() { &[0] } else { &self.offsets };
        let mut out = Vec::with_capacity(8 + offsets.len() * 8 + self.data.len());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for o in offsets {
            out.extend_from_slice(&o.to_le_bytes());
        }
        out.extend_from_slice(&self.data);
        out
    }
}

/// A decoded, validated column over borrowed section bytes.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    count: usize,
    offsets: &'a [u8],
    data: &'a [u8],
}

impl<'a> Column<'a> {
    /// Validates `bytes` as a column of exactly `rows` rows (one pass over the offsets).
    ///
    /// # Errors
    /// `Truncated`, or `Invalid` for a row count other than `rows`, decreasing offsets, or
    /// offsets that do not end at the data length.
    pub fn decode(bytes: &'a [u8], rows: u64) -> Result<Self, FormatError> {
        let c = Self::view(bytes, rows)?;
        let mut prev = 0u64;
        for (i, o) in c.offsets.chunks_exact(8).enumerate() {
            let o = u64::from_le_bytes(o.try_into().expect("8-byte chunk"));
            if (i == 0 && o != 0) || o < prev {
                return Err(FormatError::invalid(format!("column offset {i} ({o}) out of order")));
            }
            prev = o;
        }
        if prev != c.data.len() as u64 {
            return Err(FormatError::invalid(format!("column offsets end at {prev}, data has {} bytes", c.data.len())));
        }
        Ok(c)
    }

    /// Views `bytes` as a column of `rows` rows checking only the header and table length
    /// (O(1)); row reads stay bounds-checked, so damaged offsets give `None` or a wrong
    /// slice, never a panic. Use [`Column::decode`] (or the section CRC) to detect damage.
    ///
    /// # Errors
    /// As [`Column::decode`], except for the offset checks.
    pub fn view(bytes: &'a [u8], rows: u64) -> Result<Self, FormatError> {
        let count = read_u64(bytes, 0).ok_or_else(|| FormatError::truncated(8, bytes.len()))?;
        if count != rows {
            return Err(FormatError::invalid(format!("column of {count} rows in a segment of {rows}")));
        }
        let table = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_add(1)?.checked_mul(8)?.checked_add(8))
            .ok_or_else(|| FormatError::invalid(format!("column row count {count}")))?;
        if bytes.len() < table {
            return Err(FormatError::truncated(table as u64, bytes.len()));
        }
        Ok(Column { count: count as usize, offsets: &bytes[8..table], data: &bytes[table..] })
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.count
    }

    /// `true` without rows.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Row `i`, `None` past the end.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        if i >= self.count {
            return None;
        }
        let (a, b) = (read_u64(self.offsets, i * 8)?, read_u64(self.offsets, i * 8 + 8)?);
        self.data.get(a as usize..b as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(rows in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..50)) {
            let mut b = ColumnBuilder::new();
            for r in &rows {
                b.push(r);
            }
            let bytes = b.encode();
            let c = Column::decode(&bytes, rows.len() as u64).unwrap();
            prop_assert_eq!(c.len(), rows.len());
            for (i, r) in rows.iter().enumerate() {
                prop_assert_eq!(c.get(i), Some(r.as_slice()));
            }
            prop_assert_eq!(c.get(rows.len()), None);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), rows in 0u64..10) {
            if let Ok(c) = Column::decode(&bytes, rows) {
                for i in 0..c.len() + 1 {
                    let _ = c.get(i);
                }
            }
        }
    }

    #[test]
    fn rejects_bad_offsets_and_counts() {
        let mut b = ColumnBuilder::new();
        b.push(b"ab");
        b.push(b"c");
        let good = b.encode();
        assert!(Column::decode(&good, 3).is_err());
        let mut bad = good.clone();
        bad[16] = 9; // offsets[1] beyond offsets[2]
        assert!(Column::decode(&bad, 2).is_err());
        assert!(Column::decode(&good[..good.len() - 1], 2).is_err());
        assert!(Column::decode(&u64::MAX.to_le_bytes(), u64::MAX).is_err());
    }
}
