//! `Db::write`: atomic batches of inserts, upserts and deletes with metadata and payloads.

use std::collections::HashMap;

use stratovec_formats::metadata::{self, Metadata};

use crate::record::{Record, WriteBatch, WriteOp};
use crate::vector::prepare;
use crate::{Db, Error, ErrorKind, Result};

/// A record checked and ready to append.
struct Prepared {
    id: u64,
    vector: Vec<f32>,
    data: (Metadata, Vec<u8>),
}

impl Db {
    /// Applies `batch` atomically: every operation or none, in order, visible to searches
    /// together. Durable at the next [`Db::commit`].
    ///
    /// # Errors
    /// `InvalidArgument` (dimension, NaN/Inf, zero vector with cosine, a NaN or badly
    /// named metadata field, a payload over [`crate::DbOptions::max_payload_bytes`]),
    /// `AlreadyExists` for an insert of a live key, `ReadOnly`. On error nothing is applied.
    pub fn write(&self, batch: &WriteBatch) -> Result<()> {
        self.writable()?;
        let prepared: Vec<Option<Prepared>> = batch
            .ops
            .iter()
            .map(|op| match op {
                WriteOp::Insert(r) | WriteOp::Upsert(r) => self.prepare_record(r).map(Some),
                WriteOp::Delete(_) => Ok(None),
            })
            .collect::<Result<_>>()?;
        let mut s = self.state.write();
        // Dry run: which inserts would meet a live key.
        let mut live: HashMap<u64, bool> = HashMap::new();
        for op in &batch.ops {
            match op {
                WriteOp::Insert(r) => {
                    if *live.get(&r.id).unwrap_or(&s.pk.contains_key(&r.id)) {
                        return Err(Error::new(ErrorKind::AlreadyExists, format!("key {} already exists; use upsert to replace it", r.id)));
                    }
                    live.insert(r.id, true);
                }
                WriteOp::Upsert(r) => {
                    live.insert(r.id, true);
                }
                WriteOp::Delete(id) => {
                    live.insert(*id, false);
                }
            }
        }
        // Apply: kill replaced and deleted keys; drop appends a later op of the batch replaced.
        let mut appends: Vec<Option<Prepared>> = Vec::new();
        let mut appended: HashMap<u64, usize> = HashMap::new();
        for (op, p) in batch.ops.iter().zip(prepared) {
            let id = match op {
                WriteOp::Insert(r) | WriteOp::Upsert(r) => r.id,
                WriteOp::Delete(id) => *id,
            };
            match appended.remove(&id) {
                Some(i) => appends[i] = None,
                None => {
                    if let Some(loc) = s.pk.remove(&id) {
                        s.kill(loc);
                    }
                }
            }
            if let Some(p) = p {
                appended.insert(id, appends.len());
                appends.push(Some(p));
            }
        }
        let appends: Vec<Prepared> = appends.into_iter().flatten().collect();
        if appends.is_empty() {
            return Ok(());
        }
        let ids: Vec<u64> = appends.iter().map(|p| p.id).collect();
        let vectors: Vec<f32> = appends.iter().flat_map(|p| p.vector.iter().copied()).collect();
        let data: Vec<(Metadata, Vec<u8>)> = appends.into_iter().map(|p| p.data).collect();
        Self::append(&mut s, &ids, &vectors, &data)
    }

    /// Inserts one record (see [`Db::write`]).
    ///
    /// # Errors
    /// As [`Db::write`].
    pub fn insert_record(&self, record: Record) -> Result<()> {
        self.write(&WriteBatch { ops: vec![WriteOp::Insert(record)] })
    }

    /// Inserts or replaces one record (see [`Db::write`]).
    ///
    /// # Errors
    /// As [`Db::write`].
    pub fn upsert_record(&self, record: Record) -> Result<()> {
        self.write(&WriteBatch { ops: vec![WriteOp::Upsert(record)] })
    }

    fn prepare_record(&self, r: &Record) -> Result<Prepared> {
        let vector = prepare(&r.vector, self.dim, self.metric, &format!("vector of key {}", r.id))?;
        metadata::validate(&r.metadata).map_err(|e| Error::invalid(format!("metadata of key {}: {e}", r.id)))?;
        if r.payload.len() > self.options.max_payload_bytes {
            return Err(Error::invalid(format!(
                "payload of key {} has {} bytes, over the limit of {} (DbOptions::max_payload_bytes)",
                r.id,
                r.payload.len(),
                self.options.max_payload_bytes
            )));
        }
        Ok(Prepared { id: r.id, vector, data: (r.metadata.clone(), r.payload.clone()) })
    }
}
