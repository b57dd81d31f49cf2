//! Records (key, vector, metadata, payload) and atomic write batches.

use stratovec_formats::metadata::{Metadata, Value};

/// One record: a key, its vector (`dim` values), typed metadata and an opaque payload.
///
/// ```
/// use stratovec::Record;
/// let r = Record::new(7, vec![0.1, 0.2]).with("genre", "rock").with("year", 1995).with_payload(b"{...}".to_vec());
/// assert_eq!(r.metadata["year"], 1995.into());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// User key.
    pub id: u64,
    /// The vector, `dim` values.
    pub vector: Vec<f32>,
    /// Named, typed fields (may be empty).
    pub metadata: Metadata,
    /// Opaque bytes stored apart from vectors and metadata (searches never read them), at
    /// most [`crate::DbOptions::max_payload_bytes`].
    pub payload: Vec<u8>,
}

impl Record {
    /// A record without metadata or payload.
    pub fn new(id: u64, vector: impl Into<Vec<f32>>) -> Self {
        Record { id, vector: vector.into(), metadata: Metadata::new(), payload: Vec::new() }
    }

    /// Sets field `name` to `value`.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.metadata.insert(name.to_string(), value.into());
        self
    }

    /// Sets the payload.
    pub fn with_payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }
}

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WriteOp {
    /// Insert; the key must not be live.
    Insert(Record),
    /// Insert or replace.
    Upsert(Record),
    /// Delete if live.
    Delete(u64),
}

/// Inserts, upserts and deletes applied together by [`crate::Db::write`]: all or none, in
/// order (a later operation on a key sees the earlier ones), visible to searches at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    /// The operations, in order.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds an insert.
    pub fn insert(&mut self, r: Record) -> &mut Self {
        self.ops.push(WriteOp::Insert(r));
        self
    }
    /// Adds an upsert.
    pub fn upsert(&mut self, r: Record) -> &mut Self {
        self.ops.push(WriteOp::Upsert(r));
        self
    }
    /// Adds a delete.
    pub fn delete(&mut self, id: u64) -> &mut Self {
        self.ops.push(WriteOp::Delete(id));
        self
    }
    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    /// `true` without operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// What [`crate::Db::get_record`] and searches return besides the key and distance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Include {
    /// The stored vector (normalised for cosine).
    pub vector: bool,
    /// The metadata.
    pub metadata: bool,
    /// The payload.
    pub payload: bool,
}

impl Include {
    /// Everything.
    pub const ALL: Include = Include { vector: true, metadata: true, payload: true };
    /// Only the metadata.
    pub const METADATA: Include = Include { vector: false, metadata: true, payload: false };
}

/// A stored record as read back; fields not asked for in [`Include`] are `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordView {
    /// User key.
    pub id: u64,
    /// The vector, if asked for.
    pub vector: Option<Vec<f32>>,
    /// The metadata, if asked for.
    pub metadata: Option<Metadata>,
    /// The payload, if asked for (empty when none was stored).
    pub payload: Option<Vec<u8>>,
}
