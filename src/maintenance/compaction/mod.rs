//! Compaction: merge committed segments into one, dropping deleted rows, and publish the
//! result as a new manifest version.
//!
//! One merge runs in four steps:
//! 1. **Plan** (state read lock): the policy picks input segments; their committed
//!    tombstones are read from the manifest's tombstone files. Only *committed* deletions
//!    are dropped, so an uncommitted delete or upsert can never become durable early.
//! 2. **Build** (no lock): the live rows are gathered and encoded as Flat, HNSW or DiskANN
//!    ([`build`]), written to a new segment file and opened back from the store.
//! 3. **Publish** (commit lock): the next manifest replaces the inputs by the output and
//!    consolidates all committed tombstones into one file; deletions committed during the
//!    build are carried over to the output's rows. A `Conflict` (another writer published)
//!    is retried against the newer manifest, never overwriting it.
//! 4. **Swap** (state write lock, still under the commit lock): searches switch to the
//!    output atomically; pending tombstones and the PK index are remapped to output rows.
//!
//! Input files are deleted once `retain_versions` newer versions exist and no search holds
//! them ([`Db::delete_retired`]).

mod background;
mod build;
mod policy;
pub(crate) mod signal;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use roaring::RoaringBitmap;
use stratovec_formats::manifest::{Manifest, SegmentMeta, TombstoneFileMeta};
use stratovec_formats::tombstones::{self, Tombstone};

pub use background::{Compactor, CompactorStats};
pub use policy::{CompactionPolicy, MergeAll, SegmentInfo, SizeTiered};
pub use signal::CompactionReport;

use crate::db::load_tombstones;
use crate::read::fetch::fetch_segment;
use crate::version::rows::Rows;
use crate::version::segment::Segment;
use crate::version::state::{Loc, Retired};
use crate::{Db, Error, ErrorKind, Result};
use build::{LiveRows, DROPPED};
use stratovec_formats::names::{segment_name, tombstone_name};

/// Publishing attempts of one merge before a run of conflicts is returned as an error.
const PUBLISH_ATTEMPTS: usize = 4;

/// The inputs of one merge, fixed at plan time.
struct Plan {
    inputs: Vec<Arc<Segment>>,
    /// Committed tombstones of the inputs at plan time (rows left out of the output).
    dead: HashMap<u64, Arc<RoaringBitmap>>,
    output_id: u64,
}

impl Db {
    /// Runs the configured policy ([`crate::DbOptions::compaction`]) until it has nothing
    /// to merge; see [`Db::compact_with`].
    ///
    /// # Errors
    /// As [`Db::compact_with`].
    pub async fn compact(&self) -> Result<CompactionReport> {
        let policy = self.options.compaction.clone();
        self.compact_with(policy.as_ref()).await
    }

    /// Merges the segments `policy` picks, again and again until it picks nothing. Each
    /// merge writes one segment (Flat, HNSW or DiskANN by live rows, see
    /// [`crate::DbOptions::diskann_threshold`]) and publishes one version. Searches, writes
    /// and commits continue meanwhile; a commit waits only while a merge publishes.
    ///
    /// CPU-heavy (an HNSW or DiskANN build): call it where blocking is fine, or use
    /// [`Db::spawn_compactor`].
    ///
    /// # Errors
    /// `ReadOnly`; `InvalidArgument` if the policy names an unknown segment or one twice;
    /// `Conflict` if another writer merged the same inputs or kept publishing first;
    /// `Unavailable` from the store (committed data is unaffected: the current version
    /// still references the inputs).
    pub async fn compact_with(&self, policy: &dyn CompactionPolicy) -> Result<CompactionReport> {
        self.observed_async(crate::metrics::Operation::Compact, async {
            self.writable()?;
            let _one_compaction_at_a_time = self.compaction_lock.lock().await;
            let started = Instant::now();
            let mut report = CompactionReport::default();
            while let Some(plan) = self.plan(policy).await? {
                self.merge(plan, &mut report).await?;
            }
            report.files_deleted = self.delete_retired().await;
            report.seconds = started.elapsed().as_secs_f64();
            if report.merges > 0 {
                self.telemetry.compacted(started.elapsed(), report.bytes_in, report.bytes_out);
                let kinds: Vec<String> = report.outputs.iter().map(|o| o.kind.to_string()).collect();
                tracing::info!(
                    db = self.name(),
                    merges = report.merges,
                    segments_in = report.segments_in,
                    rows_in = report.rows_in,
                    rows_out = report.rows_out,
                    rows_dropped = report.rows_in.saturating_sub(report.rows_out),
                    bytes_in = report.bytes_in,
                    bytes_out = report.bytes_out,
                    outputs = ?kinds,
                    conflicts_retried = report.conflicts_retried,
                    ms = report.seconds * 1e3,
                    "compaction"
                );
                self.record_gauges();
            }
            Ok(report)
        })
        .await
    }

    async fn plan(&self, policy: &dyn CompactionPolicy) -> Result<Option<Plan>> {
        let (infos, segments, manifest) = {
            let s = self.state.read();
            (s.segment_infos(), s.segments.clone(), s.manifest.clone())
        };
        let picked = policy.pick(&infos);
        if picked.is_empty() {
            return Ok(None);
        }
        let mut inputs = Vec::with_capacity(picked.len());
        for id in &picked {
            let seg = segments.iter().find(|s| s.meta.id == *id);
            let seg = seg.ok_or_else(|| Error::invalid(format!("the compaction policy picked unknown segment {id}")))?;
            if inputs.iter().any(|s: &Arc<Segment>| s.meta.id == *id) {
                return Err(Error::invalid(format!("the compaction policy picked segment {id} twice")));
            }
            inputs.push(seg.clone());
        }
        inputs.sort_by_key(|s| segments.iter().position(|x| x.meta.id == s.meta.id));
        let mut dead = load_tombstones(self.store.as_ref(), &manifest).await?;
        dead.retain(|id, _| picked.contains(id));
        if let [only] = inputs.as_slice() {
            if dead.get(&only.meta.id).is_none_or(|d| d.is_empty()) {
                return Ok(None); // rewriting it would change nothing
            }
        }
        let output_id = self.state.write().reserve_id();
        Ok(Some(Plan { inputs, dead, output_id }))
    }

    async fn merge(&self, plan: Plan, report: &mut CompactionReport) -> Result<()> {
        let mut live = build::gather(&plan.inputs, &plan.dead, self.dim)?;
        let kind = build::output_kind(live.ids.len(), self.dim, &self.options);
        let bytes = build::encode(
            &mut live,
            self.indexes.get(kind).map_err(|e| Error::index("compaction output", e))?.as_ref(),
            self.dim,
            self.metric,
        )?;
        let meta = SegmentMeta {
            id: plan.output_id,
            kind,
            file: segment_name(plan.output_id, self.epoch),
            rows: live.ids.len() as u64,
            bytes: bytes.len() as u64,
            min_id: live.ids.iter().copied().min().unwrap_or(0),
            max_id: live.ids.iter().copied().max().unwrap_or(0),
            fields: live.columns.field_index().stats(),
        };
        self.put_new(&meta.file, bytes).await?;
        crash_point!("compact::output_written");
        let fetched = fetch_segment(&self.store, self.options.cache.as_ref(), &self.indexes, &meta).await?;
        let output = Arc::new(Segment::open(fetched, self.dim, self.metric, self.options.verify_on_open)?);
        let (tombstone_bytes, conflicts) = self.publish(&plan, output.clone(), &live).await?;
        report.merges += 1;
        report.segments_in += plan.inputs.len();
        report.rows_in += plan.inputs.iter().map(|s| s.meta.rows).sum::<u64>();
        report.rows_out += output.meta.rows;
        report.bytes_in += plan.inputs.iter().map(|s| s.meta.bytes).sum::<u64>();
        report.bytes_out += output.meta.bytes + tombstone_bytes;
        report.conflicts_retried += conflicts;
        report.outputs.push(output.meta.clone());
        Ok(())
    }

    /// Publishes the merge and swaps it in, under the commit lock. Returns the bytes of the
    /// consolidated tombstone file and the number of conflicts retried.
    async fn publish(&self, plan: &Plan, output: Arc<Segment>, live: &LiveRows) -> Result<(u64, usize)> {
        let _no_commit_meanwhile = self.commit_lock.lock().await;
        let mut base = self.state.read().manifest.clone();
        for attempt in 0..PUBLISH_ATTEMPTS {
            let committed = load_tombstones(self.store.as_ref(), &base).await?;
            if !plan.inputs.iter().all(|i| base.segments.iter().any(|s| s.id == i.meta.id)) {
                let _ = self.store.delete(&output.meta.file).await;
                return Err(Error::new(ErrorKind::Conflict, "another writer already compacted these segments"));
            }
            let (tombstone_id, next_segment_id) = {
                let mut s = self.state.write();
                (s.reserve_id(), s.next_segment_id)
            };
            let (mut manifest, dead) = self.next_manifest(&base, plan, &output.meta, &committed, live, tombstone_id, next_segment_id);
            let tombstone_bytes = match manifest.tombstone_files.first() {
                Some(t) => {
                    let bytes = tombstones::encode(&dead);
                    let len = bytes.len() as u64;
                    self.put_new(&t.file, bytes).await?;
                    crash_point!("compact::tombstones_written");
                    len
                }
                None => 0,
            };
            match self.publish_manifest(base.version, &mut manifest).await {
                Ok(_) => {
                    crash_point!("compact::published");
                    self.swap(&base, plan, output, live, manifest);
                    return Ok((tombstone_bytes, attempt));
                }
                Err(e) if e.kind() == ErrorKind::Conflict && attempt + 1 < PUBLISH_ATTEMPTS => {
                    base = crate::write::publish::newest_manifest(self.store.as_ref(), self.commits.as_ref()).await?;
                    // Never rebase onto a newer writer's version: this writer is fenced. (A
                    // conflict whose newer epoch could not be read came back as Conflict.)
                    if base.epoch > self.epoch {
                        let _ = self.store.delete(&output.meta.file).await;
                        return Err(crate::write::publish::fenced(self.epoch, base.epoch));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The manifest after `base` that replaces the inputs by `output` (at the first input's
    /// position) and holds one consolidated tombstone file; and that file's entries.
    /// Deletions committed since the plan move to the output's rows.
    #[allow(clippy::too_many_arguments)]
    fn next_manifest(
        &self,
        base: &Manifest,
        plan: &Plan,
        output: &SegmentMeta,
        committed: &HashMap<u64, Arc<RoaringBitmap>>,
        live: &LiveRows,
        tombstone_id: u64,
        next_segment_id: u64,
    ) -> (Manifest, Vec<Tombstone>) {
        let is_input = |id: u64| plan.inputs.iter().any(|s| s.meta.id == id);
        let mut segments = Vec::with_capacity(base.segments.len());
        let mut dead = Vec::new();
        for s in &base.segments {
            if !is_input(s.id) {
                segments.push(s.clone());
                let rows = committed.get(&s.id).into_iter().flat_map(|d| d.iter());
                dead.extend(rows.map(|row| Tombstone { segment_id: s.id, row }));
            } else if !segments.iter().any(|x: &SegmentMeta| x.id == output.id) {
                segments.push(output.clone());
            }
        }
        for (input, map) in &live.maps {
            let before = plan.dead.get(input);
            let now = committed.get(input).into_iter().flat_map(|d| d.iter());
            let late = now.filter(|row| before.is_none_or(|b| !b.contains(*row))).map(|row| map[row as usize]);
            dead.extend(late.filter(|&r| r != DROPPED).map(|row| Tombstone { segment_id: output.id, row }));
        }
        dead.sort_unstable();
        let tombstone_files = if dead.is_empty() {
            Vec::new()
        } else {
            vec![TombstoneFileMeta { file: tombstone_name(tombstone_id, self.epoch), count: dead.len() as u64 }]
        };
        let manifest = Manifest {
            version: base.version + 1,
            epoch: self.epoch,
            segments,
            tombstone_files,
            next_segment_id: next_segment_id.max(base.next_segment_id),
            created_unix_ms: crate::write::publish::now_unix_ms(),
            ..base.clone()
        };
        (manifest, dead)
    }

    /// Switches the in-memory state to the published merge: the output replaces the
    /// inputs, and tombstones (committed or pending) and PK entries move to output rows.
    fn swap(&self, base: &Manifest, plan: &Plan, output: Arc<Segment>, live: &LiveRows, manifest: Manifest) {
        let out = output.meta.id;
        let _guard = self.poison_on_panic("swapping in a compaction");
        let mut s = self.state.write();
        crash_point!("compact::swapping");
        let at = s.segments.iter().position(|x| x.meta.id == plan.inputs[0].meta.id).unwrap_or(s.segments.len());
        s.segments.insert(at, output);
        s.segments.retain(|x| !plan.inputs.iter().any(|i| i.meta.id == x.meta.id));
        let map_of = |id: u64| live.maps.iter().find(|(input, _)| *input == id).map(|(_, m)| m);
        let mut out_dead = RoaringBitmap::new();
        for (input, map) in &live.maps {
            for row in s.tombstones.remove(input).into_iter().flat_map(|d| d.iter().collect::<Vec<_>>()) {
                if map[row as usize] != DROPPED {
                    out_dead.insert(map[row as usize]);
                }
            }
        }
        if !out_dead.is_empty() {
            s.tombstones.insert(out, Arc::new(out_dead));
        }
        s.pending_tombstones.retain_mut(|t| match map_of(t.segment_id) {
            Some(map) => {
                *t = Tombstone { segment_id: out, row: map[t.row as usize] };
                t.row != DROPPED
            }
            None => true,
        });
        for (seg, (_, map)) in plan.inputs.iter().zip(&live.maps) {
            for (row, key) in seg.ids.as_slice().iter().enumerate() {
                if let Some(loc) = s.pk.get_mut(key) {
                    if *loc == (Loc::Segment { id: seg.meta.id, row: row as u32 }) {
                        *loc = Loc::Segment { id: out, row: map[row] };
                    }
                }
            }
        }
        let last_version = manifest.version - 1;
        let old_tombstones = base.tombstone_files.iter().map(|t| Retired { file: t.file.clone(), last_version, segment: None });
        let inputs = plan.inputs.iter().map(|i| Retired { file: i.meta.file.clone(), last_version, segment: Some(i.clone()) });
        let retired: Vec<Retired> = old_tombstones.chain(inputs).collect();
        s.retired.extend(retired);
        s.version = manifest.version;
        s.manifest = manifest;
        s.assert_invariants("a compaction");
    }

    /// Deletes retired files once `retain_versions` newer versions exist and no search
    /// holds them; returns how many were deleted. A failed delete is retried next time;
    /// a file left behind is harmless (no retained manifest references it).
    pub(crate) async fn delete_retired(&self) -> usize {
        let due: Vec<Retired> = {
            let mut s = self.state.write();
            let keep = self.options.retain_versions.max(1);
            let version = s.version;
            let (due, kept) = std::mem::take(&mut s.retired).into_iter().partition(|r: &Retired| {
                r.last_version.saturating_add(keep) <= version && r.segment.as_ref().is_none_or(|seg| Arc::strong_count(seg) == 1)
            });
            s.retired = kept;
            due
        };
        let mut deleted = 0;
        for r in due {
            drop(r.segment);
            self.forget_cached(&r.file);
            match self.store.delete(&r.file).await {
                Ok(()) | Err(stratovec_backends::StoreError::NotFound(_)) => {
                    deleted += 1;
                    crash_point!("compact::retired_deleted");
                }
                Err(_) => self.state.write().retired.push(Retired { segment: None, ..r }),
            }
        }
        deleted
    }
}
