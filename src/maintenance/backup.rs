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
