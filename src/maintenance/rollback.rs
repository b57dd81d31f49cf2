//! [`Db::open_rolled_back`]: publishes an older version again as the newest one and opens
//! it for writing, to recover from a damaged newest manifest or to undo versions.

use std::sync::Arc;

use stratovec_backends::BlobStore;
use stratovec_formats::manifest::Manifest;

use crate::db::commit_store;
use crate::write::publish::{encode_manifest, load_manifest, now_unix_ms, publish, Published};
use crate::{Db, DbOptions, Error, ErrorKind, Result};

impl Db {
    /// Publishes the content of version `version` again as the next version and opens the
    /// database for writing there (a rollback). Use it when the newest manifest is damaged
    /// (open fails with `Corrupt` naming it) or to undo the versions after `version`.
    ///
    /// Nothing is deleted: the versions after `version` stay readable with
    /// [`Db::open_at`] until vacuum removes them, but their rows are not in the new
    /// version. The new version takes an epoch above every earlier one (epochs never exceed
    /// version numbers), so writers that opened before are fenced.
    ///
    /// # Errors
    /// `NotFound` if `version` does not exist; `Corrupt` if it is damaged too; `Conflict`
    /// if another writer published meanwhile (retry); the errors of [`Db::open`].
    pub async fn open_rolled_back(store: Arc<dyn BlobStore>, version: u64, options: DbOptions) -> Result<Db> {
        let store = crate::metered_store::metered(store, &options);
        let commits = commit_store(&store, &options);
        commits.preflight().await.map_err(Error::commit)?;
        let old = load_manifest(commits.as_ref(), version).await?;
        let newest = commits
            .latest()
            .await
            .map_err(Error::commit)?
            .map(|(v, _)| v)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "no database in this store"))?;
        let mut manifest = Manifest { version: newest + 1, epoch: newest + 1, created_unix_ms: now_unix_ms(), ..old };
        let bytes = encode_manifest(&mut manifest)?;
        match publish(store.as_ref(), commits.as_ref(), newest, manifest.epoch, bytes).await {
            Published::Done(_) => Self::from_manifest(store, commits, manifest, options, false).await,
            Published::Refused(e) | Published::Unknown(e) => Err(e),
        }
    }
}
