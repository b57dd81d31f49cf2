//! Publishing manifests: the next version through the [`CommitStore`], lost responses
//! resolved by reading back, and writer fencing by epoch.
//!
//! Every writer claims a new epoch when it opens: it publishes the newest manifest again as
//! the next version with `epoch + 1` ([`claim_epoch`]). A writer that opened earlier still
//! holds the old epoch; its next publish conflicts (its base is no longer the newest
//! version), finds a newer epoch in the newest manifest, and fails with `Fenced` without
//! writing anything over the newer writer's versions.
//!
//! Vacuum deletes old manifests, which frees their version slots: a writer paused for
//! longer than the retention window could then create a manifest in a freed slot and
//! succeed. Vacuum therefore first raises the *vacuum floor* (the object [`VACUUM_FLOOR`],
//! the lowest version it may have kept), and every publish reads the floor after it
//! succeeds: a version below the floor is taken back and the writer, fenced, gets `Fenced`
//! and is poisoned (it cannot tell a publish into a freed slot from one that a newer writer
//! built on and then vacuumed). The floor is raised before any slot is freed, so a publish
//! into a freed slot always sees it.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use stratovec_backends::{BlobStore, CommitError, CommitStore, StoreError};
use stratovec_formats::manifest::{manifest_name, Manifest};

use crate::{Db, Error, ErrorKind, Result};

/// Attempts of [`claim_epoch`] while other writers keep publishing.
const CLAIM_ATTEMPTS: usize = 8;

/// Milliseconds since the Unix epoch by this machine's clock.
pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A new random, nonzero database id ([`Manifest::database_id`]): two hashes keyed by the
/// standard library's per-process random keys (from the operating system), over the clock
/// and the process id.
pub(crate) fn new_database_id() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let half = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.finish() as u128
    };
    (half(1) << 64 | half(2)).max(1)
}

/// The newest manifest, `None` before the first commit.
///
/// A commit store may answer with a version below the vacuum floor: one it remembered and
/// probed forward from, past a publish that was taken back after landing in a slot vacuum
/// freed. The newest version is never below the floor (vacuum never deletes the newest),
/// so such an answer is replaced by the newest version the store lists.
///
/// # Errors
/// `Unavailable`; `Corrupt`/`Incompatible` if it does not decode or names another version.
pub(crate) async fn latest_manifest(store: &dyn BlobStore, commits: &dyn CommitStore) -> Result<Option<Manifest>> {
    let Some((mut version, mut bytes)) = commits.latest().await.map_err(Error::commit)? else { return Ok(None) };
    if version < vacuum_floor(store).await? {
        let listed = commits.versions().await.map_err(Error::commit)?;
        if let Some(&newest) = listed.last().filter(|&&v| v > version) {
            (version, bytes) = (newest, commits.load(newest).await.map_err(Error::commit)?);
        }
    }
    decode(version, &bytes).map(Some).map_err(|e| damaged_newest(version, e))
}

/// The newest manifest of a database known to exist.
///
/// # Errors
/// `NotFound` if its manifests disappeared; as [`latest_manifest`].
pub(crate) async fn newest_manifest(store: &dyn BlobStore, commits: &dyn CommitStore) -> Result<Manifest> {
    latest_manifest(store, commits).await?.ok_or_else(|| Error::new(ErrorKind::NotFound, "the database's manifests disappeared"))
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

/// `e` (the newest manifest does not decode) with what to do about it.
fn damaged_newest(version: u64, e: Error) -> Error {
    if !matches!(e.kind(), ErrorKind::Corrupt) || version <= 1 {
        return e;
    }
    let before = version - 1;
    Error::new(
        ErrorKind::Corrupt,
        format!(
            "{}; the newest version ({version}) is damaged: read version {before} with Db::open_at(store, {before}, ..), \
             or make it the newest again with Db::open_rolled_back(store, {before}, ..) (README: Recovery)",
            e.message()
        ),
    )
}

// The object holding the vacuum floor: a decimal version number. Every version below it
// may have been deleted by vacuum; no version below it is ever published again.
pub(crate) use stratovec_formats::names::VACUUM_FLOOR;

/// The vacuum floor, 0 if no vacuum ever ran.
///
/// # Errors
/// `Unavailable` from the store; `Corrupt` if the object is not a number.
pub(crate) async fn vacuum_floor(store: &dyn BlobStore) -> Result<u64> {
    match store.get(VACUUM_FLOOR).await {
        Ok(b) => std::str::from_utf8(&b)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| Error::new(ErrorKind::Corrupt, format!("{VACUUM_FLOOR} is not a version number"))),
        Err(StoreError::NotFound(_)) => Ok(0),
        Err(e) => Err(Error::store(VACUUM_FLOOR, e)),
    }
}

/// Raises the vacuum floor to `floor` (never lowers it). Vacuum calls it before it deletes
/// any manifest below `floor`.
///
/// # Errors
/// As [`vacuum_floor`], and the store's write errors.
pub(crate) async fn raise_vacuum_floor(store: &dyn BlobStore, floor: u64) -> Result<()> {
    if vacuum_floor(store).await? < floor {
        store.put(VACUUM_FLOOR, Bytes::from(floor.to_string())).await.map_err(|e| Error::store(VACUUM_FLOOR, e))?;
    }
    Ok(())
}

/// Encodes `manifest` for publishing, so that it always decodes again: if it is larger than
/// the decoder accepts ([`stratovec_formats::manifest::MAX_PAYLOAD`]), the field statistics
/// of its largest segments are dropped (those segments are then never pruned by a filter,
/// which is always correct) until it fits. The bytes are decoded once as a check.
///
/// # Errors
/// `InvalidArgument` if it does not fit even without statistics or does not decode (nothing
/// is published).
pub(crate) fn encode_manifest(manifest: &mut Manifest) -> Result<Bytes> {
    use stratovec_formats::manifest::MAX_PAYLOAD;
    let mut bytes = manifest.encode();
    if bytes.len() > MAX_PAYLOAD as usize {
        let mut by_size: Vec<(usize, usize)> = manifest
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| (s.fields.as_ref().map_or(0, |f| f.iter().map(stats_bytes).sum()), i))
            .collect();
        by_size.sort_unstable_by(|a, b| b.cmp(a));
        let mut excess = bytes.len() - MAX_PAYLOAD as usize;
        for (size, i) in by_size {
            if excess == 0 || size == 0 {
                break;
            }
            manifest.segments[i].fields = None;
            excess = excess.saturating_sub(size);
        }
        bytes = manifest.encode();
    }
    Manifest::decode(&bytes).map_err(|e| {
        Error::invalid(format!(
            "refusing to publish version {}: its manifest ({} bytes) would not decode: {e}",
            manifest.version,
            bytes.len()
        ))
    })?;
    Ok(Bytes::from(bytes))
}

/// A lower bound of the bytes `s` adds to an encoded manifest.
fn stats_bytes(s: &stratovec_formats::manifest::FieldStats) -> usize {
    let scalar = |v: &stratovec_formats::metadata::Scalar| match v {
        stratovec_formats::metadata::Scalar::Str(t) => t.len(),
        _ => 1,
    };
    s.name.len() + s.distinct.as_ref().map_or(0, |d| d.iter().map(scalar).sum())
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
/// (ours: done; still `base`: not published). A version below the vacuum floor is taken
/// back and its outcome is unknown (`Fenced`; see the module docs).
pub(crate) async fn publish(store: &dyn BlobStore, commits: &dyn CommitStore, base: u64, epoch: u64, manifest: Bytes) -> Published {
    let version = match try_publish(store, commits, base, epoch, manifest).await {
        Published::Done(v) => v,
        other => return other,
    };
    match vacuum_floor(store).await {
        Ok(floor) if floor > version => {
            // A newer writer vacuumed below `floor`: either this version landed in a slot
            // it had freed (invisible below the newest), or it was published first and the
            // newer writer built on it and then vacuumed it. Nothing tells the two apart,
            // so the outcome is unknown (the writer is fenced either way). Taking the
            // version back is right in both cases: nothing refers to it.
            let _ = commits.forget(version).await;
            let newer = match latest_manifest(store, commits).await {
                Ok(Some(m)) => m.epoch,
                _ => epoch + 1,
            };
            Published::Unknown(Error::new(
                ErrorKind::Fenced,
                format!(
                    "a newer writer (epoch {newer}) vacuumed the versions below {floor} while this writer (epoch {epoch}) \
                     published version {version}: whether this commit is in the newest version is unknown; reopen to write"
                ),
            ))
        }
        Ok(_) => Published::Done(version),
        Err(e) => Published::Unknown(e),
    }
}

async fn try_publish(store: &dyn BlobStore, commits: &dyn CommitStore, base: u64, epoch: u64, manifest: Bytes) -> Published {
    let err = match commits.try_commit(base, manifest.clone()).await {
        Ok(v) => return Published::Done(v),
        Err(e @ CommitError::Conflict { .. }) => {
            return Published::Refused(match latest_manifest(store, commits).await {
                Ok(Some(m)) if m.epoch > epoch => fenced(epoch, m.epoch),
                Ok(_) => Error::commit(e),
                // Whether a newer writer fenced this one is unknown: not a conflict a
                // caller may rebase on.
                Err(read) => {
                    Error::new(ErrorKind::Unavailable, format!("{}; then reading the newest manifest failed: {read}", Error::commit(e)))
                }
            });
        }
        Err(e) => Error::commit(e),
    };
    match commits.latest().await {
        Ok(Some((v, bytes))) if v == base + 1 && bytes == manifest => Published::Done(v),
        // Still at `base`: not published, unless a vacuum deleted the versions after it
        // (then a newer writer may have built on ours): read the floor after the probe.
        Ok(Some((v, _))) if v == base && vacuum_floor(store).await.is_ok_and(|floor| floor <= base) => Published::Refused(err),
        _ => Published::Unknown(err),
    }
}

/// The error of a writer of epoch `mine` that a writer of epoch `newer` fenced.
pub(crate) fn fenced(mine: u64, newer: u64) -> Error {
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
pub(crate) async fn claim_epoch(store: &dyn BlobStore, commits: &dyn CommitStore, mut newest: Manifest) -> Result<Manifest> {
    commits.preflight().await.map_err(Error::commit)?;
    for _ in 0..CLAIM_ATTEMPTS {
        let mut claim = Manifest {
            version: newest.version + 1,
            epoch: newest.epoch + 1,
            created_unix_ms: now_unix_ms(),
            // Databases created before manifest format 4 get their id from the first writer.
            database_id: if newest.database_id == 0 { new_database_id() } else { newest.database_id },
            ..newest.clone()
        };
        let bytes = encode_manifest(&mut claim)?;
        match publish(store, commits, newest.version, claim.epoch, bytes).await {
            Published::Done(_) => return Ok(claim),
            Published::Refused(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::Fenced) => {
                newest = newest_manifest(store, commits).await?;
            }
            Published::Refused(e) | Published::Unknown(e) => return Err(e),
        }
    }
    Err(Error::new(ErrorKind::Conflict, format!("other writers published {CLAIM_ATTEMPTS} times while this one opened")))
}

impl Db {
    /// Publishes `manifest` as version `base + 1` with this writer's epoch (encoded by
    /// [`encode_manifest`], which may drop field statistics to fit); an unknown outcome
    /// poisons the writer.
    ///
    /// # Errors
    /// `InvalidArgument` from [`encode_manifest`]; `Conflict`, `Fenced`, `Unavailable`
    /// (nothing published), or a poisoning `Unavailable`.
    pub(crate) async fn publish_manifest(&self, base: u64, manifest: &mut Manifest) -> Result<u64> {
        let bytes = encode_manifest(manifest)?;
        match publish(self.store.as_ref(), self.commits.as_ref(), base, self.epoch, bytes).await {
            Published::Done(v) => Ok(v),
            Published::Refused(e) => Err(e),
            Published::Unknown(e) => Err(self.poison(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use stratovec_formats::manifest::{FieldStats, SegmentMeta, MAX_DISTINCT, MAX_PAYLOAD, MAX_STAT_FIELDS, MAX_STAT_STRING};
    use stratovec_formats::metadata::Scalar;
    use stratovec_formats::segment::SegmentKind;
    use stratovec_indexes::Metric;

    use super::*;

    /// Statistics at every writer bound, over enough segments to pass the decoder's limit:
    /// the largest lose their statistics and the manifest still decodes.
    #[test]
    fn a_manifest_over_the_decoder_limit_drops_statistics_until_it_fits() {
        let fields: Vec<FieldStats> = (0..MAX_STAT_FIELDS)
            .map(|f| FieldStats {
                name: format!("field{f:04}"),
                present: 1,
                numbers: None,
                distinct: Some((0..MAX_DISTINCT).map(|d| Scalar::Str(format!("{d:02}{}", "s".repeat(MAX_STAT_STRING - 2)))).collect()),
            })
            .collect();
        let segment = |id: u64| SegmentMeta {
            id,
            kind: SegmentKind::FLAT,
            file: format!("segments/{id:020}.seg"),
            rows: 1,
            bytes: 100,
            min_id: 0,
            max_id: 0,
            fields: Some(fields.clone()),
        };
        let mut m = Manifest {
            version: 7,
            epoch: 1,
            dim: 4,
            metric: Metric::L2,
            reader_features: 0,
            writer_features: 0,
            segments: (1..=140).map(segment).collect(),
            tombstone_files: Vec::new(),
            next_segment_id: 141,
            created_unix_ms: 0,
            database_id: 1,
        };
        assert!(m.encode().len() > MAX_PAYLOAD as usize, "the test starts over the limit");
        let bytes = encode_manifest(&mut m).unwrap();
        assert!(bytes.len() <= MAX_PAYLOAD as usize);
        let dropped = m.segments.iter().filter(|s| s.fields.is_none()).count();
        assert!(dropped > 0 && dropped < 140, "only some segments lose statistics: {dropped}");
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);
    }
}
