//! Publishing manifests: the next version through the [`CommitStore`], lost responses
//! resolved by reading back, and writer fencing by epoch.
//!
//! Every writer claims a new epoch when it opens: it publishes the newest manifest again as
//! the next version with `epoch + 1` ([`claim_epoch`]). A writer that opened earlier still
//! holds the old epoch; its next publish conflicts (its base is no longer the newest
//! version), finds a newer epoch in the newest manifest, and fails with `Fenced` without
//! writing anything over the newer writer's versions.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use stratovec_backends::{CommitError, CommitStore};
use stratovec_formats::manifest::{manifest_name, Manifest};

use crate::{Db, Error, ErrorKind, Result};

/// Attempts of [`claim_epoch`] while other writers keep publishing.
const CLAIM_ATTEMPTS: usize = 8;

/// Milliseconds since the Unix epoch by this machine's clock.
pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The newest manifest, `None` before the first commit.
///
/// # Errors
/// `Unavailable`; `Corrupt`/`Incompatible` if it does not decode or names another version.
pub(crate) async fn latest_manifest(commits: &dyn CommitStore) -> Result<Option<Manifest>> {
    match commits.latest().await.map_err(Error::commit)? {
        None => Ok(None),
        Some((version, bytes)) => decode(version, &bytes).map(Some),
    }
}

/// The newest manifest of a database known to exist.
///
/// # Errors
/// `NotFound` if its manifests disappeared; as [`latest_manifest`].
pub(crate) async fn newest_manifest(commits: &dyn CommitStore) -> Result<Manifest> {
    latest_manifest(commits).await?.ok_or_else(|| Error::new(ErrorKind::NotFound, "the database's manifests disappeared"))
}

/// Manifest `version`.
///
/// # Errors
/// `NotFound` if that version does not exist (or was vacuumed); as [`latest_manifest`].
pub(crate) async fn load_manifest(commits: &dyn CommitStore, version: u64) -> Result<Manifest> {
    let bytes = commits.load(version).await.map_err(Error::commit)?;
    decode(version, &bytes)
}

fn decode(version: u64, bytes: &[u8]) -> Result<Manifest> {
    let m = Manifest::decode(bytes).map_err(|e| Error::format(&manifest_name(version), e))?;
    if m.version != version {
        return Err(Error::new(ErrorKind::Corrupt, format!("{} says it is version {}", manifest_name(version), m.version)));
    }
    Ok(m)
}

/// How one publish ended.
pub(crate) enum Published {
    /// The manifest is the new version.
    Done(u64),
    /// Nothing was published (conflict, fenced, or a failure known to have written nothing).
    Refused(Error),
    /// The store failed and reading back could not tell whether the manifest was published.
    Unknown(Error),
}

/// Publishes `manifest` as version `base + 1` for a writer of `epoch`. A conflict with a
/// newer epoch is `Fenced`; a lost response is resolved by reading the newest version back
/// (ours: done; still `base`: not published).
pub(crate) async fn publish(commits: &dyn CommitStore, base: u64, epoch: u64, manifest: Bytes) -> Published {
    let err = match commits.try_commit(base, manifest.clone()).await {
        Ok(v) => return Published::Done(v),
        Err(e @ CommitError::Conflict { .. }) => {
            return Published::Refused(match latest_manifest(commits).await {
                Ok(Some(m)) if m.epoch > epoch => fenced(epoch, m.epoch),
                _ => Error::commit(e),
            })
        }
        Err(e) => Error::commit(e),
    };
    match commits.latest().await {
        Ok(Some((v, bytes))) if v == base + 1 && bytes == manifest => Published::Done(v),
        Ok(Some((v, _))) if v == base => Published::Refused(err),
        _ => Published::Unknown(err),
    }
}

fn fenced(mine: u64, newer: u64) -> Error {
    Error::new(
        ErrorKind::Fenced,
        format!("a newer writer (epoch {newer}) opened the database after this one (epoch {mine}); reopen to write"),
    )
}

/// Makes the caller the database's writer: publishes the newest manifest again as the next
/// version with `epoch + 1`, retrying while other writers publish first. Checks first that
/// the commit store really refuses a second create ([`CommitStore::preflight`]).
///
/// # Errors
/// `Rejected` from the preflight; `Conflict` if other writers kept winning; `Unavailable`.
pub(crate) async fn claim_epoch(commits: &dyn CommitStore, mut newest: Manifest) -> Result<Manifest> {
    commits.preflight().await.map_err(Error::commit)?;
    for _ in 0..CLAIM_ATTEMPTS {
        let claim = Manifest {
            version: newest.version + 1,
            epoch: newest.epoch + 1,
            created_unix_ms: now_unix_ms(),
            ..newest.clone()
        };
        match publish(commits, newest.version, claim.epoch, Bytes::from(claim.encode())).await {
            Published::Done(_) => return Ok(claim),
            Published::Refused(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::Fenced) => {
                newest = newest_manifest(commits).await?;
            }
            Published::Refused(e) | Published::Unknown(e) => return Err(e),
        }
    }
    Err(Error::new(ErrorKind::Conflict, format!("other writers published {CLAIM_ATTEMPTS} times while this one opened")))
}

impl Db {
    /// Publishes `manifest` as version `base + 1` with this writer's epoch; an unknown
    /// outcome poisons the writer.
    ///
    /// # Errors
    /// `Conflict`, `Fenced`, `Unavailable` (nothing published), or a poisoning `Unavailable`.
    pub(crate) async fn publish_manifest(&self, base: u64, manifest: Vec<u8>) -> Result<u64> {
        match publish(self.commits.as_ref(), base, self.epoch, Bytes::from(manifest)).await {
            Published::Done(v) => Ok(v),
            Published::Refused(e) => Err(e),
            Published::Unknown(e) => Err(self.poison(e)),
        }
    }
}
