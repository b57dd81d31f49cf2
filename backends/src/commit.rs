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

    /// Published versions still stored, ascending (for time travel and vacuum). The default
    /// knows only the newest one.
    ///
    /// # Errors
    /// [`CommitError::Unavailable`].
    async fn versions(&self) -> Result<Vec<u64>, CommitError> {
        Ok(self.latest().await?.map(|(v, _)| v).into_iter().collect())
    }

    /// Forgets `version` (vacuum), which must not be the newest. The default keeps
    /// everything.
    ///
    /// # Errors
    /// [`CommitError::Unavailable`].
    async fn forget(&self, version: u64) -> Result<(), CommitError> {
        let _ = version;
        Ok(())
    }

    /// Proves, before a writer publishes anything, that the store keeps its promise that
    /// only one of two commits of the same version succeeds. Writers call it when they open.
    /// The default does nothing.
    ///
    /// # Errors
    /// `Unavailable(Rejected)` if the store does not refuse a second create;
    /// `Unavailable` on store failure.
    async fn preflight(&self) -> Result<(), CommitError> {
        Ok(())
    }
}

/// [`CommitStore`] over any [`BlobStore`] with create-only writes: manifest `v` is the object
/// `MANIFEST-{v:020}.bin`, written with [`BlobStore::put_if_absent`].
///
/// `latest` lists the manifests once, then remembers the newest version it saw and probes
/// forward from it (`MANIFEST-{v+1}`, `MANIFEST-{v+2}`, ... until one is missing), so a
/// long-lived writer or replica does not list thousands of manifests per call. Versions are
/// contiguous (`v + 1` is only created after `v`), so the first missing one ends the probe.
/// If the version it remembers was deleted (vacuum), it lists again.
#[derive(Debug, Clone)]
pub struct BlobCommitStore {
    store: Arc<dyn BlobStore>,
    newest_seen: Arc<std::sync::atomic::AtomicU64>,
}

impl BlobCommitStore {
    /// A commit store publishing into `store`.
    pub fn new(store: Arc<dyn BlobStore>) -> Self {
        BlobCommitStore { store, newest_seen: Arc::default() }
    }

    fn saw(&self, version: u64) {
        self.newest_seen.fetch_max(version, std::sync::atomic::Ordering::Relaxed);
    }
}

#[async_trait]
impl CommitStore for BlobCommitStore {
    async fn versions(&self) -> Result<Vec<u64>, CommitError> {
        let names = self.store.list("MANIFEST-").await?;
        let mut v: Vec<u64> = names.iter().filter_map(|n| parse_manifest_name(n)).collect();
        v.sort_unstable();
        Ok(v)
    }

    async fn forget(&self, version: u64) -> Result<(), CommitError> {
        Ok(self.store.delete(&manifest_name(version)).await?)
    }

    async fn latest(&self) -> Result<Option<(u64, Bytes)>, CommitError> {
        let seen = self.newest_seen.load(std::sync::atomic::Ordering::Relaxed);
        // Probe from the newest version seen; if vacuum deleted it, list again.
        let start = match seen {
            0 => None,
            v => match self.load(v).await {
                Ok(bytes) => Some((v, bytes)),
                Err(CommitError::Unavailable(StoreError::NotFound(_))) => None,
                Err(e) => return Err(e),
            },
        };
        let (mut newest, mut bytes) = match start {
            Some(found) => found,
            None => match self.versions().await?.last() {
                None => return Ok(None),
                Some(&v) => (v, self.load(v).await?),
            },
        };
        loop {
            match self.store.get(&manifest_name(newest + 1)).await {
                Ok(next) => (newest, bytes) = (newest + 1, next),
                Err(StoreError::NotFound(_)) => break,
                Err(e) => return Err(e.into()),
            }
        }
        self.saw(newest);
        Ok(Some((newest, bytes)))
    }

    /// Also remembers `version` as seen, so `latest` probes from the newest loaded.
    async fn load(&self, version: u64) -> Result<Bytes, CommitError> {
        let bytes = self.store.get(&manifest_name(version)).await?;
        self.saw(version);
        Ok(bytes)
    }

    /// Creates a scratch object `_stratovec/preflight-*` twice with create-only writes; the
    /// second must fail with `AlreadyExists`. Some S3-compatible stores ignore
    /// `If-None-Match`, and would let two writers publish the same version.
    async fn preflight(&self) -> Result<(), CommitError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = format!("_stratovec/preflight-{nanos}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        self.store.put_if_absent(&path, Bytes::from_static(b"first")).await?;
        let second = self.store.put_if_absent(&path, Bytes::from_static(b"second")).await;
        let _ = self.store.delete(&path).await;
        match second {
            Err(StoreError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(CommitError::Unavailable(e)),
            Ok(()) => Err(CommitError::Unavailable(StoreError::Rejected(
                "the store accepted a second create-only write of the same object (it ignores If-None-Match), \
                 so two writers could publish the same version; use a commit store with real conditional writes \
                 (DynamoDbCommitStore, feature `dynamodb`)"
                    .into(),
            ))),
        }
    }

    async fn try_commit(&self, expected: u64, manifest: Bytes) -> Result<u64, CommitError> {
        let version = expected + 1;
        match self.store.put_if_absent(&manifest_name(version), manifest).await {
            Ok(()) => {
                self.saw(version);
                Ok(version)
            }
            Err(StoreError::AlreadyExists(_)) => Err(CommitError::Conflict { version }),
            Err(e) => Err(CommitError::Unavailable(e)),
        }
    }
}
