//! Physical backups: [`Db::snapshot_to`] copies one consistent version to another store.

use stratovec_backends::{BlobCommitStore, BlobStore, CommitStore};

use crate::{Db, Error, ErrorKind, Result};

/// What [`Db::snapshot_to`] copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotReport {
    /// The version copied; the target's only version has this number.
    pub version: u64,
    /// Segment and tombstone files copied.
    pub files: usize,
    /// Bytes copied (files and manifest).
    pub bytes: u64,
}

impl Db {
    /// Copies this database's current committed version into `target`: its segment and
    /// tombstone files first, then its manifest under the same version number, published
    /// with a create-only write. `Db::open(target)` then opens exactly this version (a
    /// writer there continues from it). Uncommitted writes are not copied. Works on
    /// read-only replicas too; the source store is only read.
    ///
    /// # Errors
    /// `AlreadyExists` if `target` already holds a database; `NotFound` if a file of the
    /// version was deleted meanwhile (retry; it cannot happen within `retain_versions`);
    /// `Unavailable` from either store.
    pub async fn snapshot_to(&self, target: std::sync::Arc<dyn BlobStore>) -> Result<SnapshotReport> {
        let (manifest, _held) = {
            let s = self.state.read();
            (s.manifest.clone(), s.segments.clone())
        };
        let commits = BlobCommitStore::new(target.clone());
        if commits.latest().await.map_err(Error::commit)?.is_some() {
            return Err(Error::new(ErrorKind::AlreadyExists, "the target store already holds a database"));
        }
        let mut report = SnapshotReport { version: manifest.version, ..SnapshotReport::default() };
        let files = manifest.segments.iter().map(|s| &s.file).chain(manifest.tombstone_files.iter().map(|t| &t.file));
        for file in files {
            let bytes = self.store.get(file).await.map_err(|e| Error::store(file, e))?;
            report.bytes += bytes.len() as u64;
            target.put(file, bytes).await.map_err(|e| Error::store(file, e))?;
            report.files += 1;
        }
        let encoded = bytes::Bytes::from(manifest.encode());
        report.bytes += encoded.len() as u64;
        commits.try_commit(manifest.version - 1, encoded).await.map_err(Error::commit)?;
        Ok(report)
    }
}

/// What [`Db::backup_to`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupReport {
    /// The version the destination now holds (the source's current one).
    pub version: u64,
    /// The version the destination held before (0 for an empty one).
    pub previous_version: u64,
    /// Segment and tombstone files copied.
    pub files_copied: usize,
    /// Files of the version the destination already held (copied by an earlier backup).
    pub files_skipped: usize,
    /// Bytes copied (files and manifest).
    pub bytes_copied: u64,
    /// Duration, s.
    pub seconds: f64,
}

impl Db {
    /// Backs up the current committed version into `target` incrementally: segment and
    /// tombstone files are immutable and named uniquely, so only the files of this version
    /// that `target` lacks are copied (each checked against its checksums first), then
    /// the version's manifest is written last, create-only. Repeated backups after a small
    /// change copy only the new files; every version backed up stays restorable from
    /// `target` (`Db::open_at`, `stratovec restore --version`). An empty `target` gets a
    /// full copy.
    ///
    /// # Errors
    /// `Conflict` if `target` holds another database (another `database_id`); `Corrupt` if
    /// a source file fails its checksum (nothing of this version is published in `target`);
    /// `NotFound` if a file was vacuumed meanwhile (retry); `Unavailable` from either store.
    pub async fn backup_to(&self, target: std::sync::Arc<dyn BlobStore>) -> Result<BackupReport> {
        let r = self.backup_unobserved(target).await;
        self.telemetry.backed_up(&r);
        r
    }

    async fn backup_unobserved(&self, target: std::sync::Arc<dyn BlobStore>) -> Result<BackupReport> {
        let started = std::time::Instant::now();
        let (manifest, _held) = {
            let s = self.state.read();
            (s.manifest.clone(), s.segments.clone())
        };
        let commits = BlobCommitStore::new(target.clone());
        let mut report = BackupReport { version: manifest.version, ..BackupReport::default() };
        if let Some((v, bytes)) = commits.latest().await.map_err(Error::commit)? {
            let theirs = stratovec_formats::manifest::Manifest::decode(&bytes)
                .map_err(|e| Error::new(ErrorKind::Corrupt, format!("the backup's newest manifest (version {v}): {e}")))?;
            if theirs.database_id != manifest.database_id && theirs.database_id != 0 && manifest.database_id != 0 {
                return Err(Error::new(ErrorKind::Conflict, "the destination holds a backup of another database"));
            }
            report.previous_version = v;
            if v >= manifest.version {
                report.seconds = started.elapsed().as_secs_f64();
                return Ok(report);
            }
        }
        let segments = manifest.segments.iter().map(|s| (&s.file, Some(s.bytes)));
        let files = segments.chain(manifest.tombstone_files.iter().map(|t| (&t.file, None)));
        for (file, size) in files {
            match target.head(file).await {
                Ok(meta) if size.is_none_or(|s| s == meta.size) => {
                    report.files_skipped += 1;
                    continue;
                }
                Ok(_) | Err(stratovec_backends::StoreError::NotFound(_)) => {}
                Err(e) => return Err(Error::store(file, e)),
            }
            let bytes = self.store.get(file).await.map_err(|e| Error::store(file, e))?;
            check_file(file, &bytes, size.is_some())?;
            report.bytes_copied += bytes.len() as u64;
            target.put(file, bytes).await.map_err(|e| Error::store(file, e))?;
            report.files_copied += 1;
        }
        let encoded = bytes::Bytes::from(manifest.encode());
        report.bytes_copied += encoded.len() as u64;
        commits.try_commit(manifest.version - 1, encoded).await.map_err(Error::commit)?;
        report.seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            db = self.name(),
            version = report.version,
            previous = report.previous_version,
            copied = report.files_copied,
            skipped = report.files_skipped,
            bytes = report.bytes_copied,
            ms = report.seconds * 1e3,
            "backup"
        );
        Ok(report)
    }
}

/// Checks a file's checksums before it is copied into a backup.
fn check_file(file: &str, bytes: &[u8], segment: bool) -> Result<()> {
    let checked = if segment {
        stratovec_formats::segment::SegmentLayout::parse(bytes).and_then(|l| l.verify(bytes))
    } else {
        stratovec_formats::tombstones::decode(bytes).map(|_| ())
    };
    checked.map_err(|e| Error::new(ErrorKind::Corrupt, format!("{file}: {e} (not copied)")))
}
