//! Read-only replicas: time travel ([`Db::open_at`], [`Db::open_at_time`]) and moving to
//! the newest version ([`ReadOnlyDb::refresh`], [`Refresher`]).

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use stratovec_backends::BlobStore;

use crate::db::{build_pk, commit_store, load_tombstones, open_segments};
use crate::write::publish::{load_manifest, newest_manifest};
use crate::{Db, DbOptions, Error, ErrorKind, ReadOnlyDb, Result};

impl Db {
    /// Opens version `version` read-only (time travel). `refresh` is refused on it.
    ///
    /// # Errors
    /// `NotFound` if that version does not exist or was vacuumed (or one of its files was);
    /// otherwise as [`Db::open`].
    pub async fn open_at(store: Arc<dyn BlobStore>, version: u64, options: DbOptions) -> Result<ReadOnlyDb> {
        let store = crate::metered_store::metered(store, &options);
        let commits = commit_store(&store, &options);
        let manifest = load_manifest(commits.as_ref(), version).await?;
        let mut db = Self::from_manifest(store, commits, manifest, options, true).await?;
        db.pinned = true;
        Ok(ReadOnlyDb::new(db))
    }

    /// Opens, read-only, the newest version made at or before `time` (by its
    /// `created_unix_ms`, the writer's clock). Versions are searched by bisection, which
    /// assumes their times increase with their numbers; versions written before manifest
    /// format 3 count as made at the Unix epoch.
    ///
    /// # Errors
    /// `NotFound` if no stored version is that old; otherwise as [`Db::open_at`].
    pub async fn open_at_time(store: Arc<dyn BlobStore>, time: SystemTime, options: DbOptions) -> Result<ReadOnlyDb> {
        let t = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let commits = commit_store(&store, &options);
        let versions = commits.versions().await.map_err(Error::commit)?;
        let (mut lo, mut hi) = (0, versions.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if load_manifest(commits.as_ref(), versions[mid]).await?.created_unix_ms <= t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let version = match lo {
            0 => {
                return Err(Error::new(ErrorKind::NotFound, format!("no stored version was made at or before {t} ms since the Unix epoch")))
            }
            n => versions[n - 1],
        };
        Self::open_at(store, version, options).await
    }

    /// [`ReadOnlyDb::refresh`].
    pub(crate) async fn refresh(&self) -> Result<u64> {
        if !self.read_only || self.pinned {
            return Err(Error::invalid("refresh is for databases opened with open_read_only"));
        }
        let _one_refresh_at_a_time = self.commit_lock.lock().await;
        let newest = newest_manifest(self.store.as_ref(), self.commits.as_ref()).await?;
        let (current, open) = {
            let s = self.state.read();
            (s.version, s.segments.clone())
        };
        if newest.version <= current {
            self.telemetry.caught_up();
            return Ok(current);
        }
        if newest.dim as usize != self.dim || newest.metric != self.metric {
            return Err(Error::new(ErrorKind::Incompatible, "the newest version has another dimension or metric"));
        }
        let segments = open_segments(&self.store, &self.options, &self.indexes, &newest, &open).await?;
        drop(open);
        let tombstones = load_tombstones(self.store.as_ref(), &newest).await?;
        let pk = build_pk(&segments, &tombstones);
        let mut s = self.state.write();
        s.version = newest.version;
        s.next_segment_id = newest.next_segment_id;
        s.segments = segments;
        s.tombstones = tombstones;
        s.pk = pk;
        s.manifest = newest;
        let version = s.version;
        drop(s);
        self.telemetry.caught_up();
        tracing::info!(db = self.name(), from = current, to = version, "replica refreshed");
        self.record_gauges();
        Ok(version)
    }
}

impl Refresher {
    /// Starts a thread that calls `refresh` every `interval` until the handle is dropped or
    /// `refresh` returns `None` (the database is gone).
    ///
    /// The thread drives the store's futures with `pollster`; the OpenDAL and object_store
    /// backends run their I/O on a runtime of their own, so this works with them too.
    pub(crate) fn spawn(interval: Duration, mut refresh: impl FnMut() -> Option<Result<u64>> + Send + 'static) -> Refresher {
        let (stop, stopped) = channel::<()>();
        let status = Arc::new(Mutex::new(RefresherStats::default()));
        let shared = status.clone();
        let thread = std::thread::Builder::new()
            .name("stratovec-refresh".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let Some(r) = refresh() else { return };
                let mut st = shared.lock();
                st.attempts += 1;
                match r {
                    Ok(v) => st.version = v,
                    Err(e) => {
                        tracing::warn!(kind = e.kind().name(), error = %e, "background refresh failed (retried)");
                        st.last_error = Some(e)
                    }
                }
            })
            .expect("spawning the refresh thread");
        Refresher { stop: Some(stop), thread: Some(thread), status }
    }
}

/// A background refresh thread, from [`ReadOnlyDb::spawn_refresher`].
#[derive(Debug)]
pub struct Refresher {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    status: Arc<Mutex<RefresherStats>>,
}

/// What a [`Refresher`] has done so far.
#[derive(Debug, Clone, Default)]
pub struct RefresherStats {
    /// Refreshes attempted.
    pub attempts: u64,
    /// Version after the last successful refresh (0 before the first).
    pub version: u64,
    /// The last failure, if any (the thread keeps trying).
    pub last_error: Option<Error>,
}

impl Refresher {
    /// Counts and the last error.
    pub fn stats(&self) -> RefresherStats {
        self.status.lock().clone()
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
