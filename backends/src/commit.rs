use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use stratovec_formats::manifest::{manifest_name, parse_manifest_name};
use thiserror::Error;

use crate::{BlobStore, StoreError};

/// Why a commit did not publish.
#[derive(Debug, Error)]
pub enum CommitError {
    /// Another writer published `expected + 1` first. Reload and retry; nothing was written.
    #[error("commit conflict: version {version} was published by another writer")]
    Conflict {
        /// The version that was taken.
        version: u64,
    },
    /// The store failed; the commit may or may not be visible. Retrying is safe: a retry of
    /// the same version either publishes it or reports `Conflict`.
    #[error("commit store unavailable: {0}")]
    Unavailable(#[from] StoreError),
}

/// Publishes database versions atomically.
///
/// Version 0 means "no manifest yet". `try_commit(v, bytes)` publishes version `v + 1` if
/// and only if no version `v + 1` exists; of concurrent callers with the same `v`, exactly one
/// succeeds and the others get [`CommitError::Conflict`].
#[async_trait]
pub trait CommitStore: Send + Sync + Debug {
    /// The newest version and its manifest bytes, `None` before the first commit.
    ///
    /// # Errors
    /// [`CommitError::Unavailable`].
    async fn latest(&self) -> Result<Option<(u64, Bytes)>, CommitError>;

    /// The manifest bytes of `version`.
    ///
    /// # Errors
    /// `Unavailable(NotFound)` if that version does not exist.
    async fn load(&self, version: u64) -> Result<Bytes, CommitError>;

    /// Publishes `manifest` as version `expected + 1`; returns the new version.
    ///
    /// # Errors
    /// [`CommitError::Conflict`] if `expected + 1` exists; `Unavailable` on store failure.
    async fn try_commit(&self, expected: u64, manifest: Bytes) -> Result<u64, CommitError>;
}

/// [`CommitStore`] over any [`BlobStore`] with create-only writes: manifest `v` is the object
/// `MANIFEST-{v:020}.bin`, written with [`BlobStore::put_if_absent`].
#[derive(Debug, Clone)]
pub struct BlobCommitStore {
    store: Arc<dyn BlobStore>,
}

impl BlobCommitStore {
    /// A commit store publishing into `store`.
    pub fn new(store: Arc<dyn BlobStore>) -> Self {
        BlobCommitStore { store }
    }

    /// All published versions, ascending.
    ///
    /// # Errors
    /// `Unavailable` on store failure.
    pub async fn versions(&self) -> Result<Vec<u64>, CommitError> {
        let names = self.store.list("MANIFEST-").await?;
        let mut v: Vec<u64> = names.iter().filter_map(|n| parse_manifest_name(n)).collect();
        v.sort_unstable();
        Ok(v)
    }
}

#[async_trait]
impl CommitStore for BlobCommitStore {
    async fn latest(&self) -> Result<Option<(u64, Bytes)>, CommitError> {
        match self.versions().await?.last() {
            None => Ok(None),
            Some(&v) => Ok(Some((v, self.load(v).await?))),
        }
    }

    async fn load(&self, version: u64) -> Result<Bytes, CommitError> {
        Ok(self.store.get(&manifest_name(version)).await?)
    }

    async fn try_commit(&self, expected: u64, manifest: Bytes) -> Result<u64, CommitError> {
        let version = expected + 1;
        match self.store.put_if_absent(&manifest_name(version), manifest).await {
            Ok(()) => Ok(version),
            Err(StoreError::AlreadyExists(_)) => Err(CommitError::Conflict { version }),
            Err(e) => Err(CommitError::Unavailable(e)),
        }
    }
}
