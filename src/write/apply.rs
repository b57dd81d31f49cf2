//! The write path: every write (insert, upsert, delete, batch, delete by filter) becomes a
//! [`Changes`] list, is logged when a write-ahead log is on, applied to the memtable under
//! the state lock, synced per the log's policy, and may trigger an automatic commit.

use std::collections::{HashMap, HashSet};

use parking_lot::{RwLockUpgradableReadGuard, RwLockWriteGuard};
use stratovec_formats::metadata::{self, Metadata};
use stratovec_formats::wal::{RecordBuilder, WalOp};

use crate::record::{Record, WriteBatch, WriteOp};
use crate::vector::{prepare, prepare_in_place};
use crate::version::state::{Loc, State};
use crate::{Db, Error, ErrorKind, Result};

/// One write, in order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change {
    /// Insert or replace: the `i`-th put of [`Changes`].
    Put(usize),
    /// Delete a key.
    Delete(u64),
}

/// Writes applied atomically: puts (keys, prepared vectors, optional metadata and
/// payloads) and deletes, in order.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub ops: Vec<Change>,
    pub ids: Vec<u64>,
    /// `ids.len() × dim` prepared values.
    pub vectors: Vec<f32>,
    /// Empty, or the metadata and payload of each put.
    pub data: Vec<(Metadata, Vec<u8>)>,
}

impl Changes {
    fn puts(ids: Vec<u64>, vectors: Vec<f32>) -> Changes {
        Changes { ops: (0..ids.len()).map(Change::Put).collect(), ids, vectors, data: Vec::new() }
    }

    fn deletes(ids: impl IntoIterator<Item = u64>) -> Changes {
        Changes { ops: ids.into_iter().map(Change::Delete).collect(), ..Changes::default() }
    }

    /// The write-ahead log record of these changes.
    ///
    /// # Errors
    /// `InvalidArgument` for a batch over the log's 4 GiB record limit.
    fn record(&self, dim: usize) -> Result<Vec<u8>> {
        let mut b = RecordBuilder::default();
        let empty = (Metadata::new(), Vec::new());
        for op in &self.ops {
            match *op {
                Change::Put(i) => {
                    let (m, p) = self.data.get(i).unwrap_or(&empty);
                    b.upsert(self.ids[i], &self.vectors[i * dim..(i + 1) * dim], m, p);
                }
                Change::Delete(id) => b.delete(id),
            }
        }
        b.finish().map_err(|e| Error::invalid(e.to_string()))
    }

    /// Changes from a replayed log record; vectors are checked (dimension, finite) but not
    /// normalised again.
    pub fn from_log(ops: Vec<WalOp>, dim: usize) -> Result<Changes> {
        let mut c = Changes::default();
        for op in ops {
            match op {
                WalOp::Upsert { id, vector, metadata, payload } => {
                    if vector.len() != dim || vector.iter().any(|x| !x.is_finite()) {
                        return Err(Error::new(
                            ErrorKind::Corrupt,
                            format!(
                                "log record for key {id} has a vector of dimension {} or a non-finite value (database dimension {dim})",
                                vector.len()
                            ),
                        ));
                    }
                    c.ops.push(Change::Put(c.ids.len()));
                    c.ids.push(id);
                    c.vectors.extend_from_slice(&vector);
                    c.data.push((metadata, payload));
                }
                WalOp::Delete { id } => c.ops.push(Change::Delete(id)),
            }
        }
        Ok(c)
    }

    /// Applies the changes to the memtable and PK index in one step (log replay):
    /// [`Changes::append`], link, [`Pending::finish`].
    pub fn apply(self, s: &mut State, dim: usize) -> Result<()> {
        let pending = self.append(s, dim)?;
        s.memtable.graph.link_rows(pending.rows.clone());
        pending.finish(s);
        Ok(())
    }

    /// The key of each op.
    fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.ops.iter().map(|op| match *op {
            Change::Put(i) => self.ids[i],
            Change::Delete(id) => id,
        })
    }

    /// Appends the puts that no later op of the list replaces or deletes to the memtable,
    /// unlinked and invisible to searches. The caller links [`Pending::rows`] (searches may
    /// run meanwhile, no other write may) and then calls [`Pending::finish`].
    ///
    /// # Errors
    /// `InvalidArgument` from the memtable (too many rows); nothing is appended.
    pub fn append(self, s: &mut State, dim: usize) -> Result<Pending> {
        let mut keep = vec![false; self.ids.len()];
        let mut last_put: HashMap<u64, usize> = HashMap::new();
        for (op, id) in self.ops.iter().zip(self.keys()) {
            if let Some(i) = last_put.remove(&id) {
                keep[i] = false;
            }
            if let Change::Put(i) = *op {
                last_put.insert(id, i);
                keep[i] = true;
            }
        }
        let keys: Vec<u64> = self.keys().collect();
        if self.ids.is_empty() {
            return Ok(Pending { keys, ids: Vec::new(), rows: 0..0 });
        }
        let (ids, vectors, data) = if keep.iter().all(|k| *k) {
            (self.ids, self.vectors, self.data)
        } else {
            let rows: Vec<usize> = (0..self.ids.len()).filter(|i| keep[*i]).collect();
            let ids = rows.iter().map(|&i| self.ids[i]).collect();
            let vectors = rows.iter().flat_map(|&i| self.vectors[i * dim..(i + 1) * dim].iter().copied()).collect();
            let mut data = self.data;
            let data = if data.is_empty() { data } else { rows.iter().map(|&i| std::mem::take(&mut data[i])).collect() };
            (ids, vectors, data)
        };
        let rows = s.memtable.append(&ids, &vectors, &data)?;
        Ok(Pending { keys, ids, rows })
    }
}

/// Changes whose rows are in the memtable but not yet visible: [`Pending::finish`] kills
/// the rows of replaced and deleted keys and points the PK index at the new rows.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The key of every op, in order.
    keys: Vec<u64>,
    /// The keys of the appended rows, in row order.
    ids: Vec<u64>,
    /// The appended memtable rows (to link before finishing).
    pub rows: std::ops::Range<u32>,
}

impl Pending {
    /// Makes the changes visible (under the write lock, in one step for searches).
    pub fn finish(self, s: &mut State) {
        for id in &self.keys {
            if let Some(loc) = s.pk.remove(id) {
                s.kill(loc);
            }
        }
        s.memtable.publish();
        for (row, id) in self.rows.zip(&self.ids) {
            s.pk.insert(*id, Loc::Memtable(row));
        }
    }
}

impl Db {
    /// Applies `batch` atomically: every operation or none, in order, visible to searches
    /// together. Durable when it returns with [`crate::Durability::Wal`], otherwise at the
    /// next commit.
    ///
    /// # Errors
    /// `InvalidArgument` (dimension, NaN/Inf, zero vector with cosine, a NaN or badly
    /// named metadata field, metadata that breaks [`crate::DbOptions::schema`], a payload
    /// over [`crate::DbOptions::max_payload_bytes`]), `AlreadyExists` for an insert of a
    /// live key, `ReadOnly`, `Poisoned`; `Unavailable` if the log write fails. On error
    /// nothing is applied.
    pub fn write(&self, batch: &WriteBatch) -> Result<()> {
        self.observed(crate::metrics::Operation::Write, || {
            self.ready_to_write()?;
            let mut changes = Changes::default();
            for op in &batch.ops {
                match op {
                    WriteOp::Insert(r) | WriteOp::Upsert(r) => {
                        let vector = self.prepare_record(r)?;
                        changes.ops.push(Change::Put(changes.ids.len()));
                        changes.ids.push(r.id);
                        changes.vectors.extend_from_slice(&vector);
                        changes.data.push((r.metadata.clone(), r.payload.clone()));
                    }
                    WriteOp::Delete(id) => changes.ops.push(Change::Delete(*id)),
                }
            }
            let record = self.log_record(&changes)?;
            let s = self.state.write();
            // Dry run: which inserts would meet a live key.
            let mut live: HashMap<u64, bool> = HashMap::new();
            for op in &batch.ops {
                match op {
                    WriteOp::Insert(r) => {
                        if *live.get(&r.id).unwrap_or(&s.pk.contains_key(&r.id)) {
                            return Err(exists(r.id));
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
            self.apply_changes(s, record, changes)
        })
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

    /// Inserts one vector (`dim` values) under key `id`.
    ///
    /// # Errors
    /// `InvalidArgument` (dimension, NaN/Inf, zero vector with cosine), `AlreadyExists` if
    /// `id` is live, `ReadOnly`, `Poisoned`, `Unavailable` (log write).
    pub fn insert(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.insert_batch(&[id], vector)
    }

    /// Inserts `ids.len()` vectors (`vectors` holds `ids.len() × dim` values, row-major),
    /// linking them into the memtable graph in parallel. All or nothing: on error nothing is
    /// inserted.
    ///
    /// # Errors
    /// As [`Db::insert`]; also `InvalidArgument` for duplicate keys within the batch.
    pub fn insert_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        self.observed(crate::metrics::Operation::Insert, || {
            self.ready_to_write()?;
            let changes = Changes::puts(ids.to_vec(), self.prepare_batch(ids, vectors)?);
            let record = self.log_record(&changes)?;
            let s = self.state.write();
            if let Some(id) = ids.iter().find(|id| s.pk.contains_key(id)) {
                return Err(exists(*id));
            }
            self.apply_changes(s, record, changes)
        })
    }

    /// Inserts or replaces the vector of `id` (the old row, if any, is tombstoned).
    ///
    /// # Errors
    /// As [`Db::insert`], except that an existing key is replaced.
    pub fn upsert(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.upsert_batch(&[id], vector)
    }

    /// Inserts or replaces `ids.len()` vectors (`vectors` holds `ids.len() × dim` values,
    /// row-major; old rows of the keys are tombstoned), linking them into the memtable graph
    /// in parallel. All or nothing: on error nothing is applied.
    ///
    /// # Errors
    /// As [`Db::insert_batch`], except that existing keys are replaced.
    pub fn upsert_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        self.observed(crate::metrics::Operation::Upsert, || {
            self.ready_to_write()?;
            let changes = Changes::puts(ids.to_vec(), self.prepare_batch(ids, vectors)?);
            let record = self.log_record(&changes)?;
            self.apply_changes(self.state.write(), record, changes)
        })
    }

    /// Deletes `id`; returns whether it was live.
    ///
    /// # Errors
    /// `ReadOnly`, `Poisoned`, `Unavailable` (log write).
    pub fn delete(&self, id: u64) -> Result<bool> {
        self.observed(crate::metrics::Operation::Delete, || {
            self.ready_to_write()?;
            let changes = Changes::deletes([id]);
            let record = self.log_record(&changes)?;
            let s = self.state.write();
            let live = s.pk.contains_key(&id);
            if live {
                self.apply_changes(s, record, changes)?;
            }
            Ok(live)
        })
    }

    /// Deletes the live keys of `victims` (found under the same lock `s`).
    pub(crate) fn delete_keys(&self, s: RwLockWriteGuard<'_, State>, victims: Vec<u64>) -> Result<()> {
        if victims.is_empty() {
            return Ok(());
        }
        let changes = Changes::deletes(victims);
        let record = self.log_record(&changes)?;
        self.apply_changes(s, record, changes)
    }

    fn log_record(&self, changes: &Changes) -> Result<Option<Vec<u8>>> {
        self.wal.as_ref().map(|_| changes.record(self.dim)).transpose()
    }

    /// Logs (if a log is on) and applies `changes` under the lock `s`, then syncs the log
    /// and commits automatically if the memtable passed its limit.
    /// Checks that this handle may write, and, after a failed automatic commit, commits
    /// first: memory stays bounded by the memtable limit while the store fails.
    ///
    /// # Errors
    /// As [`Db::writable`]; the automatic commit's error while it keeps failing (nothing of
    /// the write is applied).
    pub(crate) fn ready_to_write(&self) -> Result<()> {
        self.writable()?;
        if self.auto_commit_failure.lock().is_some() {
            if let Err(e) = pollster::block_on(self.commit()) {
                *self.auto_commit_failure.lock() = Some(e.clone());
                return Err(e);
            }
        }
        self.wait_for_memory()
    }

    fn apply_changes(&self, mut s: RwLockWriteGuard<'_, State>, record: Option<Vec<u8>>, changes: Changes) -> Result<()> {
        if self.options.max_rows.is_some() {
            let new_keys = changes.ids.iter().filter(|id| !s.pk.contains_key(id)).count();
            self.check_rows(s.pk.len(), new_keys)?;
        }
        let seq = match (&self.wal, record) {
            (Some(wal), Some(record)) => Some(wal.append(&record).map_err(|e| self.poison(e))?),
            _ => None,
        };
        crash_point!("write::logged");
        let _guard = self.poison_on_panic("applying a write");
        crash_point!("write::applying");
        let pending = changes.append(&mut s, self.dim).map_err(|e| if seq.is_some() { self.poison(e) } else { e })?;
        if !pending.rows.is_empty() {
            // Link with searches running beside (an upgradable read excludes other
            // writers, commits and compactions, not readers), then publish at once.
            let linking = RwLockWriteGuard::downgrade_to_upgradable(s);
            crash_point!("write::linking");
            linking.memtable.graph.link_rows(pending.rows.clone());
            s = RwLockUpgradableReadGuard::upgrade(linking);
        }
        pending.finish(&mut s);
        let full = self.options.memtable_limit_bytes.is_some_and(|limit| s.memtable.memory_bytes() >= limit);
        drop(s);
        if let (Some(wal), Some(seq)) = (&self.wal, seq) {
            wal.sync(seq).map_err(|e| self.poison(e))?;
        }
        if full {
            // The write is applied (and logged); a failed automatic commit leaves its rows
            // frozen and searchable, and the next write retries it (see `ready_to_write`).
            if let Err(e) = pollster::block_on(self.commit()) {
                *self.auto_commit_failure.lock() = Some(e);
            }
        }
        Ok(())
    }

    fn prepare_record(&self, r: &Record) -> Result<Vec<f32>> {
        let vector = prepare(&r.vector, self.dim, self.metric, &format!("vector of key {}", r.id))?;
        metadata::validate(&r.metadata)
            .and_then(|()| metadata::check_write_limits(&r.metadata))
            .map_err(|e| Error::invalid(format!("metadata of key {}: {e}", r.id)))?;
        if let Some(schema) = &self.options.schema {
            schema.check(&r.metadata).map_err(|e| Error::invalid(format!("metadata of key {}: {e}", r.id)))?;
        }
        if r.payload.len() > self.options.max_payload_bytes {
            return Err(Error::invalid(format!(
                "payload of key {} has {} bytes, over the limit of {} (DbOptions::max_payload_bytes)",
                r.id,
                r.payload.len(),
                self.options.max_payload_bytes
            )));
        }
        Ok(vector)
    }

    fn prepare_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<Vec<f32>> {
        if vectors.len() != ids.len() * self.dim {
            return Err(Error::invalid(format!(
                "{} keys need {} values (dimension {}), got {}",
                ids.len(),
                ids.len() * self.dim,
                self.dim,
                vectors.len()
            )));
        }
        if ids.len() > 1 {
            let mut seen = HashSet::with_capacity(ids.len());
            if let Some(id) = ids.iter().find(|id| !seen.insert(**id)) {
                return Err(Error::invalid(format!("key {id} appears twice in the batch")));
            }
        }
        let mut out = vectors.to_vec();
        for (id, v) in ids.iter().zip(out.chunks_exact_mut(self.dim)) {
            prepare_in_place(v, self.dim, self.metric, &format!("vector of key {id}"))?;
        }
        Ok(out)
    }
}

fn exists(id: u64) -> Error {
    Error::new(ErrorKind::AlreadyExists, format!("key {id} already exists; use upsert to replace it"))
}
