//! `Db::commit`: freeze the memtable, write its segment and the tombstones, publish the next
//! manifest.

use std::sync::Arc;

use bytes::Bytes;
use stratovec_backends::StoreError;
use stratovec_formats::manifest::{Manifest, SegmentMeta, TombstoneFileMeta};
use stratovec_formats::tombstones;

use crate::version::rows::Rows;
use crate::version::segment::Segment;
use crate::version::state::Frozen;
use crate::write::memtable::Memtable;
use crate::{Db, Error, Result};
use stratovec_formats::names::{segment_name, tombstone_name};

impl Db {
    /// Makes every write so far durable and visible to new readers, and returns the new
    /// version (the current one if there was nothing to commit).
    ///
    /// Steps: freeze the memtable (searches keep seeing it), write it as one segment (Flat
    /// below `flat_threshold` rows, otherwise HNSW with the graph already built), write a
    /// tombstone file for deletions, then publish manifest `v + 1` through the
    /// [`stratovec_backends::CommitStore`]. Inserts may continue during the I/O. If any step
    /// fails, the previous version stays the committed one, the frozen rows stay searchable,
    /// and the next `commit()` retries them.
    ///
    /// # Errors
    /// `ReadOnly`; `Conflict` if another writer published first (reopen); `Unavailable` or
    /// `Locked` from the store.
    pub async fn commit(&self) -> Result<u64> {
        self.commit_from(false).await
    }

    /// [`Db::commit`]; `closing`: the final commit of [`Db::close`], allowed on a handle
    /// closed to writes.
    pub(crate) async fn commit_from(&self, closing: bool) -> Result<u64> {
        let writable = || if closing { self.writable_while_closing() } else { self.writable() };
        self.observed_async(crate::metrics::Operation::Commit, async {
            let started = std::time::Instant::now();
            writable()?;
            let _one_commit_at_a_time = self.commit_lock.lock().await;
            let (base, frozen, pending, tombstone_id, next_segment_id, log_through) = {
                let mut s = self.state.write();
                writable()?;
                let fresh = Memtable::new(self.dim, self.metric, self.options.hnsw)?;
                s.freeze(fresh);
                if s.frozen.is_empty() && s.pending_tombstones.is_empty() {
                    *self.auto_commit_failure.lock() = None;
                    return Ok(s.version);
                }
                // Writes from here on go to a new log file; the older files hold exactly the
                // rows and deletions this commit publishes.
                let log_through = match &self.wal {
                    Some(wal) => Some(wal.rotate().map_err(|e| self.poison(e))?),
                    None => None,
                };
                let tombstone_id = if s.pending_tombstones.is_empty() { 0 } else { s.reserve_id() };
                (s.manifest.clone(), s.frozen.clone(), s.pending_tombstones.clone(), tombstone_id, s.next_segment_id, log_through)
            };
            crash_point!("commit::frozen");
            let mut manifest = Manifest {
                version: base.version + 1,
                epoch: self.epoch,
                next_segment_id,
                created_unix_ms: crate::write::publish::now_unix_ms(),
                ..base.clone()
            };
            let mut opened = Vec::with_capacity(frozen.len());
            for f in &frozen {
                let seg = self.write_segment(f).await?;
                manifest.segments.push(seg.meta.clone());
                opened.push(Arc::new(seg));
                crash_point!("commit::segment_written");
            }
            if !pending.is_empty() {
                let file = tombstone_name(tombstone_id, self.epoch);
                self.put_new(&file, tombstones::encode(&pending)).await?;
                manifest.tombstone_files.push(TombstoneFileMeta { file, count: pending.len() as u64 });
                crash_point!("commit::tombstones_written");
            }
            let (rows, bytes) = opened.iter().fold((0, 0), |(r, b), x: &Arc<_>| (r + x.meta.rows, b + x.meta.bytes));
            let version = self.publish_manifest(base.version, &mut manifest).await?;
            crash_point!("commit::published");
            {
                let _guard = self.poison_on_panic("swapping in a commit");
                let mut s = self.state.write();
                crash_point!("commit::swapping");
                s.version = version;
                s.manifest = manifest;
                s.frozen.drain(..frozen.len());
                s.segments.extend(opened);
                s.pending_tombstones.drain(..pending.len());
                s.assert_invariants("a commit");
            }
            if let (Some(wal), Some(through)) = (&self.wal, log_through) {
                wal.remove_through(through);
                crash_point!("commit::log_removed");
            }
            *self.auto_commit_failure.lock() = None;
            self.admission.memory_freed();
            self.telemetry.committed(started.elapsed(), rows, bytes);
            tracing::info!(
                db = self.name(),
                version,
                rows,
                bytes,
                deletes = pending.len(),
                segments = frozen.len(),
                ms = started.elapsed().as_secs_f64() * 1e3,
                "commit"
            );
            self.record_gauges();
            self.compaction_signal.notify();
            self.delete_retired().await;
            Ok(version)
        })
        .await
    }

    /// Writes a new data file (segment or tombstones) create-only, so that no file is ever
    /// replaced. The name carries this writer's epoch, so an existing object of that name
    /// was written by this writer in an earlier, unpublished attempt (a commit that failed
    /// and is retried): the same bytes are kept, other bytes (a torn write) are replaced.
    ///
    /// # Errors
    /// `Unavailable` and the other store errors, naming the file.
    pub(crate) async fn put_new(&self, file: &str, bytes: Vec<u8>) -> Result<()> {
        let bytes = Bytes::from(bytes);
        let err = |e| Error::store(file, e);
        match self.store.put_if_absent(file, bytes.clone()).await {
            Err(StoreError::AlreadyExists(_)) => {}
            other => return other.map_err(err),
        }
        if self.store.get(file).await.map_err(err)? == bytes {
            return Ok(());
        }
        self.store.delete(file).await.map_err(err)?;
        self.store.put_if_absent(file, bytes).await.map_err(err)
    }

    /// Writes the segment of a frozen memtable and opens it back from the store (so searches
    /// run over the stored bytes, e.g. an mmap, and a bad write is caught before publishing).
    async fn write_segment(&self, f: &Frozen) -> Result<Segment> {
        let (kind, bytes) = f
            .memtable
            .encode_segment(self.options.flat_threshold, (self.options.flat_codes, self.options.hnsw_codes))
            .map_err(|e| Error::index("commit", e))?;
        let ids = &f.memtable.ids;
        let meta = SegmentMeta {
            id: f.segment_id,
            kind,
            file: segment_name(f.segment_id, self.epoch),
            rows: ids.len() as u64,
            bytes: bytes.len() as u64,
            min_id: ids.iter().copied().min().unwrap_or(0),
            max_id: ids.iter().copied().max().unwrap_or(0),
            fields: f.memtable.columns.field_index().stats(),
        };
        self.put_new(&meta.file, bytes).await?;
        let fetched = crate::read::fetch::fetch_segment(&self.store, self.options.cache.as_ref(), &self.indexes, &meta).await?;
        Segment::open(fetched, self.dim, self.metric, self.options.verify_on_open)
    }
}
