//! Metadata and payload of rows: built in the memtable ([`RowColumns`]), read from a segment
//! ([`StoredRows`]), and filtered through a [`FieldIndex`] either way ([`Rows`]).

use std::sync::OnceLock;

use bytes::Bytes;
use stratovec_formats::column::{Column, ColumnBuilder};
use stratovec_formats::metadata::{decode_row, encode_row, Metadata};
use stratovec_formats::segment::{SectionKind, SegmentBytes, SegmentWriter};
use stratovec_formats::FormatError;

use crate::filter::FieldIndex;
use crate::record::{Include, RecordView};
use crate::{Error, Result};
use stratovec_indexes::Index;

/// Read access to the metadata and payloads of a set of rows.
pub(crate) trait Rows: Sync + std::fmt::Debug {
    /// The field indexes of all rows.
    fn field_index(&self) -> &FieldIndex;
    /// Row `row`'s metadata (empty if none).
    ///
    /// # Errors
    /// A [`FormatError`] if the stored bytes do not decode (never an empty result).
    fn metadata(&self, row: u32) -> Result<Metadata, FormatError>;
    /// Row `row`'s payload (empty if none).
    ///
    /// # Errors
    /// A [`FormatError`] if the stored column is damaged.
    fn payload(&self, row: u32) -> Result<Vec<u8>, FormatError>;
}

/// Metadata and payloads appended row by row (the memtable's, or a compaction output's).
#[derive(Debug, Default)]
pub(crate) struct RowColumns {
    meta: ColumnBuilder,
    payload: ColumnBuilder,
    fields: FieldIndex,
    any_meta: bool,
    any_payload: bool,
}

impl RowColumns {
    /// Appends the next row.
    pub fn push(&mut self, metadata: &Metadata, payload: &[u8]) {
        let row = self.meta.len() as u32;
        self.meta.push(&encode_row(metadata));
        self.payload.push(payload);
        self.fields.add(row, metadata);
        self.fields.set_rows(row + 1);
        self.any_meta |= !metadata.is_empty();
        self.any_payload |= !payload.is_empty();
    }

    /// Appends `n` rows without metadata or payload.
    pub fn push_empty(&mut self, n: usize) {
        for _ in 0..n {
            self.meta.push(&[]);
            self.payload.push(&[]);
        }
        self.fields.set_rows(self.meta.len() as u32);
    }

    /// Appends row `row` of `from`.
    ///
    /// # Errors
    /// As [`Rows::metadata`] and [`Rows::payload`] of `from`; nothing is appended then.
    pub fn push_from(&mut self, from: &dyn Rows, row: u32) -> Result<(), FormatError> {
        let (metadata, payload) = (from.metadata(row)?, from.payload(row)?);
        self.push(&metadata, &payload);
        Ok(())
    }

    /// Sorts the numeric indexes once no more rows come.
    pub fn finish(&mut self) {
        self.fields.finish();
    }

    /// Reorders rows: row `i` of the result is row `order[i]` of `self`.
    ///
    /// # Errors
    /// As [`RowColumns::push_from`].
    pub fn permuted(&self, order: &[u32]) -> Result<RowColumns, FormatError> {
        let mut out = RowColumns::default();
        for &old in order {
            out.push_from(self, old)?;
        }
        out.finish();
        Ok(out)
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.meta.memory_bytes() + self.payload.memory_bytes()
    }

    /// Adds the metadata and payload sections, each only when some row has one.
    pub fn write_sections(&self, w: &mut SegmentWriter) {
        if self.any_meta {
            w.add_section(SectionKind::METADATA, &self.meta.encode());
        }
        if self.any_payload {
            w.add_section(SectionKind::PAYLOAD, &self.payload.encode());
        }
    }
}

impl Rows for RowColumns {
    fn field_index(&self) -> &FieldIndex {
        &self.fields
    }
    fn metadata(&self, row: u32) -> Result<Metadata, FormatError> {
        decode_row(self.meta.get(row as usize).unwrap_or_default()).map_err(|e| row_error("metadata", row, e))
    }
    fn payload(&self, row: u32) -> Result<Vec<u8>, FormatError> {
        Ok(self.payload.get(row as usize).map(<[u8]>::to_vec).unwrap_or_default())
    }
}

/// The metadata and payload sections of an open segment; the field index is built on the
/// first filtered search (one pass over the metadata).
#[derive(Debug)]
pub(crate) struct StoredRows {
    rows: u64,
    meta: Option<Bytes>,
    payload: Option<Bytes>,
    fields: OnceLock<FieldIndex>,
}

impl StoredRows {
    /// Opens the sections of `file` (absent sections mean no metadata or payload). With
    /// `verify`, checksums are checked and every metadata row is decoded.
    ///
    /// # Errors
    /// A [`FormatError`] for a damaged section.
    pub fn open(file: &SegmentBytes, verify: bool) -> Result<Self, FormatError> {
        let rows = file.layout().header.rows;
        let section = |kind| -> Result<Option<Bytes>, FormatError> {
            if file.layout().entry(kind).is_none() {
                return Ok(None);
            }
            let s = file.section(kind, verify)?;
            if verify {
                Column::decode(&s, rows)?;
            } else {
                Column::view(&s, rows)?;
            }
            Ok(Some(s))
        };
        let (meta, payload) = (section(SectionKind::METADATA)?, section(SectionKind::PAYLOAD)?);
        if let (true, Some(m)) = (verify, &meta) {
            let c = Column::view(m, rows)?;
            for i in 0..c.len() {
                decode_row(c.get(i).unwrap_or_default()).map_err(|e| FormatError::Invalid(format!("metadata of row {i}: {e}")))?;
            }
        }
        Ok(StoredRows { rows, meta, payload, fields: OnceLock::new() })
    }

    fn column<'a>(&self, bytes: &'a Option<Bytes>) -> Option<Column<'a>> {
        Column::view(bytes.as_ref()?, self.rows).ok()
    }

    /// The bytes of `row` in a column (`what`), empty for a segment without that column.
    fn cell<'a>(&self, bytes: &'a Option<Bytes>, row: u32, what: &str) -> Result<&'a [u8], FormatError> {
        let Some(b) = bytes else { return Ok(&[]) };
        let column = Column::view(b, self.rows).map_err(|e| row_error(what, row, e))?;
        column.get(row as usize).ok_or_else(|| FormatError::Invalid(format!("{what} of row {row}: past the end")))
    }
}

impl Rows for StoredRows {
    fn field_index(&self) -> &FieldIndex {
        self.fields.get_or_init(|| {
            let mut idx = FieldIndex::default();
            if let Some(c) = self.column(&self.meta) {
                for i in 0..c.len() {
                    if let Some(m) = c.get(i).filter(|b| !b.is_empty()).and_then(|b| decode_row(b).ok()) {
                        idx.add(i as u32, &m);
                    }
                }
            }
            idx.set_rows(self.rows as u32);
            idx.finish();
            idx
        })
    }
    fn metadata(&self, row: u32) -> Result<Metadata, FormatError> {
        decode_row(self.cell(&self.meta, row, "metadata")?).map_err(|e| row_error("metadata", row, e))
    }
    fn payload(&self, row: u32) -> Result<Vec<u8>, FormatError> {
        Ok(self.cell(&self.payload, row, "payload")?.to_vec())
    }
}

fn row_error(what: &str, row: u32, e: FormatError) -> FormatError {
    FormatError::Invalid(format!("{what} of row {row}: {e}"))
}

/// The record of `row` with the parts `include` asks for.
///
/// # Errors
/// `Corrupt` or `Unavailable` naming the key when a part cannot be read.
pub(crate) fn record(index: &dyn Index, rows: &dyn Rows, id: u64, row: u32, include: Include) -> Result<RecordView> {
    let what = || format!("record of key {id}");
    let format = |e| Error::format(&what(), e);
    Ok(RecordView {
        id,
        vector: if include.vector { index.vector(row).map_err(|e| Error::index(&what(), e))?.map(|v| v.into_owned()) } else { None },
        metadata: if include.metadata { Some(rows.metadata(row).map_err(format)?) } else { None },
        payload: if include.payload { Some(rows.payload(row).map_err(format)?) } else { None },
    })
}
