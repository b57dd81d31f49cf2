//! [`Db::vacuum`]: deletes manifests outside a [`RetentionPolicy`] and every segment or
//! tombstone file no retained manifest references (left by failed commits, crashed writers
//! or compactions).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use stratovec_formats::manifest::Manifest;

use crate::write::publish::{load_manifest, newest_manifest, now_unix_ms, raise_vacuum_floor};
use crate::{Db, Error, ErrorKind, Result};

/// Which versions [`Db::vacuum`] keeps: the newest `keep_versions`, and every version made
/// within `keep_for` of now. Readers (replicas, `open_at`) of a kept version can still open
/// all of its files; a reader in another process on an older version cannot, so size the
/// policy to the longest time a replica stays on one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Newest versions kept, at least 1. Default 10.
    pub keep_versions: u64,
    /// Versions younger than this are kept (by `created_unix_ms`, the writer's clock);
    /// `Duration::ZERO` keeps none for their age. Default 1 hour.
    pub keep_for: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy { keep_versions: 10, keep_for: Duration::from_secs(3600) }
    }
}

/// What one [`Db::vacuum`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VacuumReport {
    /// Versions kept.
    pub versions_kept: usize,
    /// Manifests deleted.
    pub manifests_deleted: usize,
    /// Segment and tombstone files deleted.
    pub files_deleted: usize,
    /// Unreferenced files kept because a search or scan of this process still reads them,
    /// or because a commit of another writer may be writing them.
    pub files_in_use: usize,
}

impl Db {
    /// Deletes the manifests `policy` does not keep (oldest first), then every file under
    /// `segments/` and `tombstones/` that no kept manifest references: files of failed
    /// commits, of crashed writers, and compaction inputs. A file is kept while a search or
    /// scan of this process holds it, and files with ids at or above the newest manifest's
    /// `next_segment_id` are never touched (a newer writer may be writing them). Runs
    /// between commits and compactions of this writer.
    ///
    /// # Errors
    /// `ReadOnly`; `Fenced` if a newer writer opened the database; `Unavailable` from the
    /// store (what was deleted stays deleted; run it again).
    pub async fn vacuum(&self, policy: &RetentionPolicy) -> Result<VacuumReport> {
        self.writable()?;
        let _no_compaction = self.compaction_lock.lock().await;
        let _no_commit = self.commit_lock.lock().await;
        let newest = newest_manifest(self.store.as_ref(), self.commits.as_ref()).await?;
        if newest.version != self.state.read().version {
            let kind = if newest.epoch > self.epoch { ErrorKind::Fenced } else { ErrorKind::Conflict };
            return Err(Error::new(kind, format!("version {} was published by another writer", newest.version)));
        }
        let next_segment_id = newest.next_segment_id;
        let (kept, dropped) = self.split_versions(policy, newest).await?;
        let mut report = VacuumReport { versions_kept: kept.len(), ..VacuumReport::default() };
        if let Some(&highest) = dropped.iter().max() {
            raise_vacuum_floor(self.store.as_ref(), highest + 1).await?;
        }
        for v in dropped {
            self.commits.forget(v).await.map_err(Error::commit)?;
            report.manifests_deleted += 1;
        }
        let referenced: HashSet<&str> = kept
            .iter()
            .flat_map(|m| m.segments.iter().map(|s| s.file.as_str()).chain(m.tombstone_files.iter().map(|t| t.file.as_str())))
            .collect();
        let in_use = self.files_in_use();
        for dir in ["segments/", "tombstones/"] {
            for file in self.store.list(dir).await.map_err(|e| Error::store(dir, e))? {
                if referenced.contains(file.as_str()) {
                    continue;
                }
                let maybe_in_flight = stratovec_formats::names::file_id(&file).is_none_or(|id| id >= next_segment_id);
                if maybe_in_flight || in_use.contains(&file) {
                    report.files_in_use += 1;
                    continue;
                }
                self.forget_cached(&file);
                match self.store.delete(&file).await {
                    Ok(()) | Err(stratovec_backends::StoreError::NotFound(_)) => report.files_deleted += 1,
                    Err(e) => return Err(Error::store(&file, e)),
                }
            }
        }
        let mut s = self.state.write();
        s.retired.retain(|r| in_use.contains(&r.file));
        tracing::info!(
            db = self.name(),
            versions_kept = report.versions_kept,
            manifests_deleted = report.manifests_deleted,
            files_deleted = report.files_deleted,
            files_in_use = report.files_in_use,
            "vacuum"
        );
        Ok(report)
    }

    /// The manifests to keep (newest first) and the versions to delete. `newest` is the
    /// newest manifest, already loaded; older ones are loaded up to 16 at a time. A version
    /// published after `newest` (by a writer that will fence this one) is never deleted.
    async fn split_versions(&self, policy: &RetentionPolicy, newest: Manifest) -> Result<(Vec<Manifest>, Vec<u64>)> {
        use futures_util::{StreamExt, TryStreamExt};
        let versions = self.commits.versions().await.map_err(Error::commit)?;
        let cutoff = now_unix_ms().saturating_sub(policy.keep_for.as_millis() as u64);
        let keep_newest = policy.keep_versions.max(1) as usize;
        // Collected first: a stream over closures would make `vacuum` not `Send` (rustc).
        let older: Vec<_> =
            versions.iter().rev().filter(|&&v| v < newest.version).map(|&v| load_manifest(self.commits.as_ref(), v)).collect();
        let older: Vec<Manifest> = futures_util::stream::iter(older).buffered(16).try_collect().await?;
        let (mut kept, mut dropped) = (Vec::new(), Vec::new());
        for (n, m) in std::iter::once(newest).chain(older).enumerate() {
            if n < keep_newest || m.created_unix_ms > cutoff {
                kept.push(m);
            } else {
                dropped.push(m.version);
            }
        }
        dropped.reverse();
        Ok((kept, dropped))
    }

    /// Retired files that a search or scan of this process still reads.
    fn files_in_use(&self) -> HashSet<String> {
        let s = self.state.read();
        s.retired.iter().filter(|r| r.segment.as_ref().is_some_and(|seg| Arc::strong_count(seg) > 1)).map(|r| r.file.clone()).collect()
    }
}
