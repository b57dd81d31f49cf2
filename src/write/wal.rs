//! The optional write-ahead log ([`Durability::Wal`]): every acknowledged write is appended
//! to a local log file before it is applied, and replayed when the database is opened.
//!
//! One file per memtable generation, `{dir}/{number:020}.wal` (format: FORMAT.md §6).
//! `commit()` starts a new file when it freezes the memtable and deletes the older files
//! once the manifest that holds their rows is published. Replaying a file whose rows were
//! already committed (a crash between publishing and deleting) is harmless: the log holds
//! only upserts and deletes, so applying a prefix of the history twice gives the same keys
//! and values as applying it once.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use stratovec_formats::wal::{self, WalOp};

use crate::{Error, ErrorKind, Result};

/// When a write becomes durable.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Writes are durable when [`crate::Db::commit`] returns (and at automatic commits,
    /// see [`crate::DbOptions::memtable_limit_bytes`]). The default.
    #[default]
    Commit,
    /// Every write is appended to a write-ahead log in a local directory before it is
    /// acknowledged, and replayed on open.
    Wal(WalOptions),
}

/// Where the write-ahead log lives and when it is flushed to the device.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Directory of the log files (created if missing). Use one directory per database; a
    /// writer process holds it alone.
    pub dir: PathBuf,
    /// When log appends are made durable with `fsync`. Default [`SyncPolicy::EveryWrite`].
    pub sync: SyncPolicy,
    /// What open does with a log damaged in the middle (a bad record followed by valid
    /// ones, or by later files): `false` (the default) refuses to open with `Corrupt`
    /// naming the file and offset, so no acknowledged write is dropped unseen; `true` replays
    /// up to the damage and renames the rest to `*.wal.corrupt`. A torn tail (the end of
    /// the last file, cut by a crash) is always cut.
    pub discard_after_corruption: bool,
}

impl WalOptions {
    /// A log in `dir`, fsynced on every write (group commit).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalOptions { dir: dir.into(), sync: SyncPolicy::EveryWrite, discard_after_corruption: false }
    }

    /// Replays a log damaged in the middle up to the damage and sets the rest aside (see
    /// [`WalOptions::discard_after_corruption`]).
    pub fn discarding_after_corruption(mut self) -> Self {
        self.discard_after_corruption = true;
        self
    }

    /// Sets the fsync policy.
    pub fn with_sync(mut self, sync: SyncPolicy) -> Self {
        self.sync = sync;
        self
    }
}

/// The fsync policy of the log. Every policy survives a crash of the process (the bytes
/// are in the OS page cache when a write returns); they differ on power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// A write returns once its record is on the device. Writers that arrive while an
    /// `fsync` runs share the next one (group commit).
    #[default]
    EveryWrite,
    /// A write syncs the log only if the last `fsync` is older than this interval, and a
    /// background thread syncs a quiet tail once the interval has passed: on power loss,
    /// writes of up to about that long before the loss may be missing.
    Interval(Duration),
    /// Never `fsync` (the OS writes back on its own schedule); commits still make data
    /// durable.
    Never,
}

/// The open log of a writer.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    /// Written into the header of every new file ([`stratovec_formats::manifest::Manifest::database_id`]).
    database_id: u128,
    log: Arc<Log>,
    /// Exclusive lock on `{dir}/LOCK`, held while the log is open: one writer per log.
    _lock: File,
    /// Stops the interval syncer when dropped (the thread ends at its next wake-up).
    _syncer: Option<std::sync::mpsc::Sender<()>>,
}

/// The appending side of the log, shared with the interval syncer.
#[derive(Debug)]
struct Log {
    sync: SyncPolicy,
    active: Mutex<Active>,
    /// Highest record sequence known durable, and when the last `fsync` finished. Held
    /// during an `fsync`, so writers arriving meanwhile wait and then find themselves
    /// covered (group commit).
    synced: Mutex<(u64, Instant)>,
    /// Set by the first failed `fsync`: the kernel may have dropped the dirty pages and
    /// cleared the error, so a later `fsync` that succeeds proves nothing ("fsyncgate").
    /// Every later append and sync fails.
    failed: std::sync::atomic::AtomicBool,
}

/// The file being appended to.
#[derive(Debug)]
struct Active {
    number: u64,
    file: Arc<File>,
    /// Sequence of the last record appended (records are numbered from 1 per process).
    last_seq: u64,
}

/// What [`Wal::open`] found to replay, in order.
pub(crate) struct Replay {
    pub records: Vec<Vec<WalOp>>,
    /// Bytes dropped after the first bad record (cut, or in files set aside).
    pub dropped_bytes: u64,
}

fn wal_error(what: impl std::fmt::Display, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Unavailable, format!("write-ahead log: {what}: {e}"))
}

fn file_name(dir: &Path, number: u64) -> PathBuf {
    dir.join(stratovec_formats::names::wal_name(number))
}

/// Log file numbers in `dir`, ascending.
fn list(dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| wal_error(dir.display(), e))? {
        let entry = entry.map_err(|e| wal_error(dir.display(), e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = stratovec_formats::names::parse_wal_name(&name) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl Wal {
    /// Opens the log in `options.dir`: reads every file up to the first torn or corrupt
    /// record, truncates that file there, renames later files to `*.wal.corrupt` (kept for
    /// inspection, never replayed), and starts a new file for appends.
    ///
    /// # Errors
    /// `Unavailable` for I/O errors; `Corrupt` for a file that is not a log (bad magic),
    /// `Incompatible` for an unknown log format version (the writes in it are kept, not
    /// dropped, until a reader that understands them opens the database) or for a file of
    /// another database than `database_id` (nothing is changed; 0 on either side means
    /// unknown and is accepted).
    pub fn open(options: &WalOptions, database_id: u128) -> Result<(Wal, Replay)> {
        let dir = options.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| wal_error(dir.display(), e))?;
        let lock = lock_dir(&dir)?;
        let numbers = list(&dir)?;
        let mut replay = Replay { records: Vec::new(), dropped_bytes: 0 };
        let mut stop_at = None;
        for (i, &n) in numbers.iter().enumerate() {
            let path = file_name(&dir, n);
            let bytes = std::fs::read(&path).map_err(|e| wal_error(path.display(), e))?;
            let (records, valid_len, valid_after) = match wal::read(&bytes) {
                Ok(f) => {
                    check_owner(&path, f.database_id, database_id)?;
                    (f.records, f.valid_len, f.valid_after_stop)
                }
                // A header cut short is a file created just before a crash.
                Err(stratovec_formats::FormatError::Truncated { .. }) => (Vec::new(), 0, false),
                Err(e) => return Err(Error::format(&path.display().to_string(), e)),
            };
            replay.records.extend(records);
            if valid_len < bytes.len() {
                let later_records = || numbers[i + 1..].iter().any(|&m| has_records(&file_name(&dir, m)));
                if !options.discard_after_corruption && (valid_after || later_records()) {
                    return Err(Error::new(
                        ErrorKind::Corrupt,
                        format!(
                            "write-ahead log {} is damaged at byte {valid_len} with acknowledged writes after the damage; \
                             open with WalOptions::discarding_after_corruption() to replay up to it and set the rest aside",
                            path.display()
                        ),
                    ));
                }
                replay.dropped_bytes += (bytes.len() - valid_len) as u64;
                let f = OpenOptions::new().write(true).open(&path).map_err(|e| wal_error(path.display(), e))?;
                f.set_len(valid_len as u64).and_then(|_| f.sync_all()).map_err(|e| wal_error(path.display(), e))?;
                stop_at = Some(i + 1);
                break;
            }
        }
        if let Some(first_unread) = stop_at {
            for &n in &numbers[first_unread..] {
                let path = file_name(&dir, n);
                let to = path.with_extension("wal.corrupt");
                replay.dropped_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                std::fs::rename(&path, &to).map_err(|e| wal_error(path.display(), e))?;
            }
        }
        let next = numbers.last().map_or(1, |n| n + 1);
        let file = Self::create_file(&dir, next, database_id)?;
        let log = Arc::new(Log {
            sync: options.sync,
            active: Mutex::new(Active { number: next, file: Arc::new(file), last_seq: 0 }),
            synced: Mutex::new((0, Instant::now())),
            failed: Default::default(),
        });
        let syncer = match options.sync {
            SyncPolicy::Interval(every) => Some(spawn_syncer(log.clone(), every)?),
            _ => None,
        };
        Ok((Wal { dir, database_id, log, _lock: lock, _syncer: syncer }, replay))
    }

    fn create_file(dir: &Path, number: u64, database_id: u128) -> Result<File> {
        let path = file_name(dir, number);
        let mut f = OpenOptions::new().create_new(true).append(true).open(&path).map_err(|e| wal_error(path.display(), e))?;
        f.write_all(&wal::header(database_id)).map_err(|e| wal_error(path.display(), e))?;
        f.sync_all().map_err(|e| wal_error(path.display(), e))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| wal_error(dir.display(), e))?;
        Ok(f)
    }

    /// Bytes of the log files in the directory (0 if it cannot be listed).
    pub fn bytes(&self) -> u64 {
        let Ok(numbers) = list(&self.dir) else { return 0 };
        numbers.iter().filter_map(|&n| std::fs::metadata(file_name(&self.dir, n)).ok()).map(|m| m.len()).sum()
    }

    /// Appends one framed record; returns its sequence for [`Wal::sync`]. The caller holds
    /// the database's state lock, so log order is apply order.
    ///
    /// # Errors
    /// `Unavailable` when the write fails; the file may then end in a torn record, so the
    /// caller must stop writing (poison the writer).
    pub fn append(&self, record: &[u8]) -> Result<u64> {
        self.log.check()?;
        let mut a = self.log.active.lock();
        (&*a.file).write_all(record).map_err(|e| wal_error(format!("appending to log {}", a.number), e))?;
        a.last_seq += 1;
        Ok(a.last_seq)
    }

    /// Makes record `seq` durable as the policy asks.
    ///
    /// # Errors
    /// `Unavailable` when `fsync` fails; the caller must poison the writer.
    pub fn sync(&self, seq: u64) -> Result<()> {
        self.log.sync(seq, false)
    }

    /// Starts a new file (called as the memtable is frozen, under the state lock) and
    /// returns the number of the last file whose records the frozen memtable holds.
    ///
    /// # Errors
    /// `Unavailable`; the caller must poison the writer.
    pub fn rotate(&self) -> Result<u64> {
        self.log.check()?;
        let mut a = self.log.active.lock();
        if self.log.sync != SyncPolicy::Never {
            a.file.sync_data().map_err(|e| self.log.fail(e))?;
        }
        let old = a.number;
        let file = Self::create_file(&self.dir, old + 1, self.database_id)?;
        crash_point!("wal::rotated");
        *a = Active { number: old + 1, file: Arc::new(file), last_seq: a.last_seq };
        Ok(old)
    }

    /// Deletes the files up to `through` (their rows are in a published manifest).
    pub fn remove_through(&self, through: u64) {
        if let Ok(numbers) = list(&self.dir) {
            for n in numbers.into_iter().filter(|n| *n <= through) {
                // A file left behind is replayed harmlessly and deleted by a later commit.
                let _ = std::fs::remove_file(file_name(&self.dir, n));
            }
        }
    }
}

impl Log {
    /// `Unavailable` once an `fsync` has failed.
    fn check(&self) -> Result<()> {
        if self.failed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Unavailable, "write-ahead log: an earlier fsync failed; reopen the database"));
        }
        Ok(())
    }

    /// Records a failed `fsync` (see [`Log::failed`]) and returns its error.
    fn fail(&self, e: std::io::Error) -> Error {
        self.failed.store(true, std::sync::atomic::Ordering::SeqCst);
        wal_error("fsync", e)
    }

    /// Makes record `seq` durable as the policy asks; `tail` (the interval syncer) syncs
    /// whatever was appended once the interval has passed.
    fn sync(&self, seq: u64, tail: bool) -> Result<()> {
        let mut synced = self.synced.lock();
        self.check()?;
        let seq = if tail { self.active.lock().last_seq } else { seq };
        let due = match self.sync {
            SyncPolicy::Never => false,
            SyncPolicy::EveryWrite => synced.0 < seq,
            SyncPolicy::Interval(d) => synced.0 < seq && synced.1.elapsed() >= d,
        };
        if !due {
            return Ok(());
        }
        let (file, last) = {
            let a = self.active.lock();
            (a.file.clone(), a.last_seq)
        };
        #[cfg(feature = "failpoints")]
        fail::fail_point!("wal::fsync_fails", |_| Err(self.fail(std::io::Error::other("injected fsync failure"))));
        file.sync_data().map_err(|e| self.fail(e))?;
        *synced = (synced.0.max(last), Instant::now());
        Ok(())
    }
}

/// Starts the thread that syncs a quiet tail every `every` ([`SyncPolicy::Interval`]). It
/// stops when the returned sender is dropped, or after a failed `fsync` (recorded in the
/// log, so the next write fails).
fn spawn_syncer(log: Arc<Log>, every: Duration) -> Result<std::sync::mpsc::Sender<()>> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("stratovec-wal-sync".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                if log.sync(0, true).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| wal_error("starting the interval syncer", e))?;
    Ok(stop)
}

/// `Incompatible` if the log file at `path` belongs to another database than `expected`
/// (0 on either side is unknown and accepted: logs written before databases had ids).
fn check_owner(path: &Path, found: u128, expected: u128) -> Result<()> {
    if found == 0 || expected == 0 || found == expected {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Incompatible,
        format!(
            "write-ahead log {} belongs to database {found:032x}, not to this one ({expected:032x}); \
             give each database its own WalOptions::dir",
            path.display()
        ),
    ))
}

/// Takes the exclusive lock of the log directory (`{dir}/LOCK`).
///
/// # Errors
/// `Locked` if another writer holds it; `Unavailable` for I/O errors.
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| wal_error(path.display(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::new(
            ErrorKind::Locked,
            format!("write-ahead log {}: another writer holds it (one directory per database and writer)", dir.display()),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(wal_error(path.display(), e)),
    }
}

/// Whether the log file at `path` holds at least one valid record.
fn has_records(path: &Path) -> bool {
    std::fs::read(path).ok().and_then(|b| wal::read(&b).ok()).is_some_and(|f| !f.records.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With [`SyncPolicy::Interval`], a write that arrives right after an `fsync` is not
    /// synced by itself; the syncer thread syncs that quiet tail once the interval passes.
    #[test]
    fn the_interval_syncer_syncs_a_quiet_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(&WalOptions::new(dir.path()).with_sync(SyncPolicy::Interval(Duration::from_millis(20))), 1).unwrap();
        let seq = wal.append(b"x").unwrap();
        wal.sync(seq).unwrap();
        assert_eq!(wal.log.synced.lock().0, 0, "the interval has not passed: the write returns unsynced");
        let start = Instant::now();
        while wal.log.synced.lock().0 < seq {
            assert!(start.elapsed() < Duration::from_secs(10), "the tail was never synced");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_second_writer_of_the_same_log_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let (first, _) = Wal::open(&WalOptions::new(dir.path()), 1).unwrap();
        let e = Wal::open(&WalOptions::new(dir.path()), 1).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Locked, "{e}");
        drop(first);
        Wal::open(&WalOptions::new(dir.path()), 1).unwrap();
    }
}
