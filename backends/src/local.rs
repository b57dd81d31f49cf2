// One of the modules where `unsafe` is allowed (see the workspace lints); every block has a
// `// SAFETY:` comment.
#![allow(unsafe_code)]
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use crate::blob::check_range;
use crate::{validate_path, BlobStore, ObjectMeta, StoreError};

/// Name of the advisory lock file in the store root.
pub const LOCK_FILE: &str = "LOCK";
const TMP_PREFIX: &str = ".tmp-";

/// A [`BlobStore`] on a local directory.
///
/// * `put`: write a temp file beside the target, fsync it, rename over the target, fsync
///   the directory. A crash leaves the old or the new object, plus perhaps a `.tmp-*` file.
/// * `put_if_absent`: write and fsync a temp file, then `link(2)` it to the target, which
///   fails if the target exists, so concurrent creators cannot both win.
/// * `get`: memory-maps the file (zero-copy; objects are never modified in place).
/// * A writer ([`LocalStore::open`]) holds an exclusive advisory lock on `LOCK` for its
///   lifetime; a second writer on the same directory gets [`StoreError::Locked`]. Readers
///   ([`LocalStore::open_read_only`]) take no lock and refuse writes.
///
/// I/O is synchronous inside the async methods (local disk latency is microseconds); the
/// methods never block on other tasks.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    lock: Option<File>,
    tmp_counter: AtomicU64,
    direct_reads: bool,
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    io_uring: bool,
}

impl LocalStore {
    /// Opens (creating if needed) `root` for reading and writing, taking the writer lock.
    ///
    /// The lock is an advisory `flock` on `root/LOCK`, released when the store is dropped
    /// or the process exits (even by SIGKILL). A child process forked while the lock is
    /// held shares it until the child execs or exits, so a process that spawns children
    /// from several threads can briefly see `Locked` for a directory another thread just
    /// released; retry in that case.
    ///
    /// # Errors
    /// [`StoreError::Locked`] if another `LocalStore` (in any process) holds the lock;
    /// [`StoreError::Io`] if the directory cannot be created or the lock file opened.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(|e| StoreError::io(root.display().to_string(), e))?;
        let lock_path = root.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io(lock_path.display().to_string(), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(root.display().to_string())),
            Err(fs::TryLockError::Error(e)) => return Err(StoreError::io(lock_path.display().to_string(), e)),
        }
        sweep_temporary_files(&root).map_err(|e| StoreError::io(root.display().to_string(), e))?;
        Ok(LocalStore {
            root,
            lock: Some(lock),
            tmp_counter: AtomicU64::new(0),
            direct_reads: false,
            #[cfg(all(feature = "io-uring", target_os = "linux"))]
            io_uring: crate::uring::available(),
        })
    }

    /// Opens an existing directory read-only (no lock; writes return `ReadOnly`).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if `root` is not a directory.
    pub fn open_read_only(root: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(StoreError::NotFound(root.display().to_string()));
        }
        Ok(LocalStore {
            root,
            lock: None,
            tmp_counter: AtomicU64::new(0),
            direct_reads: false,
            #[cfg(all(feature = "io-uring", target_os = "linux"))]
            io_uring: crate::uring::available(),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.lock.is_some() {
            Ok(())
        } else {
            Err(StoreError::ReadOnly)
        }
    }

    /// Makes [`BlobStore::random_access`] readers use O_DIRECT (bypass the page cache):
    /// cold reads on every query, for measurements or data much larger than RAM.
    pub fn with_direct_reads(mut self, direct: bool) -> Self {
        self.direct_reads = direct;
        self
    }

    /// Makes [`BlobStore::random_access`] readers submit each batch of reads through
    /// io_uring (see [`crate::LocalFileReader::with_io_uring`]), or not. On by default where
    /// this process may create an io_uring (Linux 5.6+, not forbidden by a seccomp profile):
    /// cold DiskANN searches ran 1.6-2.6× faster than with `pread` (docs/MEASUREMENTS.md),
    /// warm ones alike.
    ///
    /// # Errors
    /// [`StoreError::Io`] if this process may not create an io_uring.
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub fn with_io_uring(mut self, on: bool) -> Result<Self, StoreError> {
        if on {
            crate::uring::check_available().map_err(|e| StoreError::io("io_uring_setup", e))?;
        }
        self.io_uring = on;
        Ok(self)
    }

    fn full(&self, path: &str) -> Result<PathBuf, StoreError> {
        validate_path(path)?;
        if path == LOCK_FILE || path.split('/').any(|c| c.starts_with(TMP_PREFIX)) {
            return Err(StoreError::InvalidPath(path.to_string()));
        }
        Ok(self.root.join(path))
    }

    fn map_err(path: &str, e: std::io::Error) -> StoreError {
        if e.kind() == ErrorKind::NotFound {
            StoreError::NotFound(path.to_string())
        } else {
            StoreError::io(path, e)
        }
    }

    /// Writes `data` to a fresh temp file in the target's directory and fsyncs it.
    fn write_temp(&self, target: &Path, data: &[u8]) -> Result<PathBuf, StoreError> {
        let dir = target.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|e| StoreError::io(dir.display().to_string(), e))?;
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{TMP_PREFIX}{}-{n}", std::process::id()));
        let result = (|| {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(data)?;
            f.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::io(tmp.display().to_string(), e));
        }
        Ok(tmp)
    }

    fn sync_dir(dir: &Path) -> Result<(), StoreError> {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir.display().to_string(), e))
    }

    fn list_dir(&self, dir: &Path, rel: &str, prefix: &str, out: &mut Vec<String>) -> Result<(), StoreError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io(dir.display().to_string(), e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(dir.display().to_string(), e))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if name.starts_with(TMP_PREFIX) || (rel.is_empty() && name == LOCK_FILE) {
                continue;
            }
            let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                let as_prefix = format!("{path}/");
                if as_prefix.starts_with(prefix) || prefix.starts_with(&as_prefix) {
                    self.list_dir(&entry.path(), &path, prefix, out)?;
                }
            } else if path.starts_with(prefix) {
                out.push(path);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl BlobStore for LocalStore {
    fn identity(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        let full = self.full(path)?;
        let file = File::open(&full).map_err(|e| Self::map_err(path, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        if len == 0 {
            return Ok(Bytes::new());
        }
        // SAFETY: stratovec never modifies or truncates an object file after it is renamed
        // into place (writes go to a new temp file and replace it by rename), so the mapped
        // bytes stay valid and unchanged for the life of the map. A foreign process that
        // truncates the file would cause SIGBUS; that is outside the store's contract.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| StoreError::io(path, e))?;
        Ok(Bytes::from_owner(map))
    }

    async fn random_access(&self, path: &str) -> Result<Option<std::sync::Arc<dyn crate::RandomAccess>>, StoreError> {
        let full = self.full(path)?;
        let reader = crate::LocalFileReader::open(&full, self.direct_reads).map_err(|e| Self::map_err(path, e))?;
        #[cfg(all(feature = "io-uring", target_os = "linux"))]
        let reader = if self.io_uring { reader.with_io_uring().map_err(|e| StoreError::io(path, e))? } else { reader };
        Ok(Some(std::sync::Arc::new(reader)))
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let full = self.full(path)?;
        let file = File::open(&full).map_err(|e| Self::map_err(path, e))?;
        let size = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        check_range(path, &range, size)?;
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        file.read_exact_at(&mut buf, range.start).map_err(|e| StoreError::io(path, e))?;
        Ok(Bytes::from(buf))
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        self.writable()?;
        let full = self.full(path)?;
        let tmp = self.write_temp(&full, &data)?;
        if let Err(e) = fs::rename(&tmp, &full) {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::io(path, e));
        }
        Self::sync_dir(full.parent().unwrap_or(&self.root))
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        self.writable()?;
        let full = self.full(path)?;
        let tmp = self.write_temp(&full, &data)?;
        let linked = fs::hard_link(&tmp, &full);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Self::sync_dir(full.parent().unwrap_or(&self.root)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(StoreError::AlreadyExists(path.to_string())),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.writable()?;
        let full = self.full(path)?;
        match fs::remove_file(&full) {
            Ok(()) => Self::sync_dir(full.parent().unwrap_or(&self.root)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        self.list_dir(&self.root, "", prefix, &mut out)?;
        out.sort();
        Ok(out)
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError> {
        let full = self.full(path)?;
        let meta = fs::metadata(&full).map_err(|e| Self::map_err(path, e))?;
        if !meta.is_file() {
            return Err(StoreError::NotFound(path.to_string()));
        }
        Ok(ObjectMeta { path: path.to_string(), size: meta.len() })
    }
}

/// Deletes the `.tmp-*` files under `root` that writers which crashed between writing and
/// renaming left behind. Called at open with the lock held, so no live writer owns them.
fn sweep_temporary_files(root: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(TMP_PREFIX) {
            let _ = fs::remove_file(entry.path());
        } else if entry.file_type()?.is_dir() {
            sweep_temporary_files(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sweeps_temporary_files_of_crashed_writers() {
        let dir = tempfile::tempdir().unwrap();
        drop(LocalStore::open(dir.path()).unwrap());
        fs::create_dir_all(dir.path().join("segments")).unwrap();
        let left = dir.path().join("segments").join(format!("{TMP_PREFIX}999-0"));
        fs::write(&left, b"half a segment").unwrap();
        fs::write(dir.path().join("segments").join("kept.seg"), b"whole").unwrap();
        let _reader = LocalStore::open_read_only(dir.path()).unwrap();
        assert!(left.exists(), "a reader never deletes anything");
        let _store = LocalStore::open(dir.path()).unwrap();
        assert!(!left.exists(), "the writer sweeps it at open");
        assert!(dir.path().join("segments").join("kept.seg").exists());
    }
}
