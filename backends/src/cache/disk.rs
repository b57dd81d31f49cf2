//! The second cache level: blocks as files in a local directory, each checked by a CRC32C
//! when read, surviving restarts, evicted (least recently used first) above a size bound.
//!
//! Layout: `{dir}/blocks-{block size}/{hex(object key)}/{block index}.blk`, each file
//! `crc32c u32 LE` then the block's bytes. Blocks of another block size (a restart with
//! other options) are in another directory and deleted at open: they never serve a read. Files are written to a temporary name and renamed, so a crash leaves either
//! a whole block or none; a block that fails its checksum is deleted and counted as a miss.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use moka::notification::RemovalCause;

use super::BlockKey;

/// Bytes of the checksum in front of each block file.
const CRC_LEN: usize = 4;

/// A size-bounded directory of checksummed blocks.
#[derive(Clone)]
pub(super) struct DiskCache {
    dir: Arc<PathBuf>,
    /// Block key -> file length; evicting an entry deletes its file.
    index: moka::sync::Cache<BlockKey, u32>,
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache").field("dir", &self.dir).field("bytes", &self.index.weighted_size()).finish()
    }
}

impl DiskCache {
    /// Opens (creating) `dir` holding at most `max_bytes` of block files, and indexes the
    /// blocks an earlier process left there.
    pub(super) fn open(root: &Path, block_bytes: u64, max_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(root)?;
        let mine = format!("blocks-{block_bytes}");
        for entry in fs::read_dir(root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("blocks-") && name != mine {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let dir = root.join(mine);
        fs::create_dir_all(&dir)?;
        let dir = Arc::new(dir);
        let evict_dir = dir.clone();
        let index = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_, len: &u32| *len)
            .support_invalidation_closures()
            .eviction_listener(move |key: Arc<BlockKey>, _, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Explicit) {
                    let _ = fs::remove_file(block_file(&evict_dir, &key));
                }
            })
            .build();
        let cache = DiskCache { dir, index };
        cache.load_existing()?;
        Ok(cache)
    }

    fn load_existing(&self) -> io::Result<()> {
        for object in fs::read_dir(self.dir.as_ref())? {
            let object = object?;
            let Some(path) = object.file_name().to_str().and_then(unhex) else { continue };
            let path: Arc<str> = path.into();
            for block in fs::read_dir(object.path())? {
                let block = block?;
                let name = block.file_name();
                let Some(index) = name.to_str().and_then(|n| n.strip_suffix(".blk")).and_then(|n| n.parse().ok()) else {
                    let _ = fs::remove_file(block.path()); // a temporary file of a crashed write
                    continue;
                };
                let len = block.metadata()?.len();
                self.index.insert((path.clone(), index), u32::try_from(len).unwrap_or(u32::MAX));
            }
        }
        self.index.run_pending_tasks();
        Ok(())
    }

    /// The block, or `None` when absent or damaged (a damaged file is deleted).
    pub(super) fn get(&self, key: &BlockKey) -> Option<Bytes> {
        self.index.get(key)?;
        let file = block_file(&self.dir, key);
        match fs::read(&file) {
            Ok(data) if data.len() >= CRC_LEN => {
                let (crc, block) = data.split_at(CRC_LEN);
                if crc32c::crc32c(block).to_le_bytes() == crc {
                    return Some(Bytes::copy_from_slice(block));
                }
                self.index.invalidate(key);
                None
            }
            _ => {
                self.index.invalidate(key);
                None
            }
        }
    }

    /// Whether the block is indexed (without reading or checking its file).
    pub(super) fn contains(&self, key: &BlockKey) -> bool {
        self.index.contains_key(key)
    }

    /// Stores a block; a failure to write only loses the cache entry.
    pub(super) fn put(&self, key: &BlockKey, block: &[u8]) {
        let file = block_file(&self.dir, key);
        let write = || -> io::Result<()> {
            let parent = file.parent().unwrap_or(&self.dir);
            fs::create_dir_all(parent)?;
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            let mut data = Vec::with_capacity(CRC_LEN + block.len());
            data.extend_from_slice(&crc32c::crc32c(block).to_le_bytes());
            data.extend_from_slice(block);
            fs::write(&tmp, &data)?;
            fs::rename(&tmp, &file)
        };
        if write().is_ok() {
            self.index.insert(key.clone(), (CRC_LEN + block.len()) as u32);
        }
    }

    /// Drops every block whose object key `matches` (their files are deleted).
    pub(super) fn forget(&self, matches: impl Fn(&str) -> bool + Send + Sync + 'static) {
        let _ = self.index.invalidate_entries_if(move |k, _| matches(&k.0));
        self.index.run_pending_tasks();
    }

    /// Bytes of block files indexed.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> u64 {
        self.index.run_pending_tasks();
        self.index.weighted_size()
    }
}

fn block_file(dir: &Path, key: &BlockKey) -> PathBuf {
    dir.join(hex(&key.0)).join(format!("{}.blk", key.1))
}

fn hex(path: &str) -> String {
    path.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(name: &str) -> Option<String> {
    if !name.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..name.len()).step_by(2).map(|i| u8::from_str_radix(name.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        assert_eq!(unhex(&hex("db/segments/0001.seg")).as_deref(), Some("db/segments/0001.seg"));
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn blocks_survive_reopen_and_damage_is_a_miss() {
        let d = tempfile::tempdir().unwrap();
        let key: BlockKey = ("a/b.seg".into(), 3);
        {
            let c = DiskCache::open(d.path(), 4096, 1 << 20).unwrap();
            c.put(&key, b"hello");
            assert_eq!(c.get(&key).as_deref(), Some(&b"hello"[..]));
        }
        let c = DiskCache::open(d.path(), 4096, 1 << 20).unwrap();
        assert_eq!(c.get(&key).as_deref(), Some(&b"hello"[..]));
        let file = block_file(&d.path().join("blocks-4096"), &key);
        let mut data = fs::read(&file).unwrap();
        data[CRC_LEN] ^= 1;
        fs::write(&file, data).unwrap();
        assert_eq!(c.get(&key), None);
        assert!(!file.exists(), "a damaged block is deleted");
    }

    #[test]
    fn size_bound_evicts_files() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 4096, 10_000).unwrap();
        for i in 0..20 {
            c.put(&("x".into(), i), &[7u8; 1000]);
        }
        assert!(c.bytes() <= 10_000, "{} bytes indexed", c.bytes());
        let files = fs::read_dir(d.path().join("blocks-4096").join(hex("x"))).unwrap().count() as u64;
        assert!(files * 1004 <= 10_000 + 1004, "{files} files left");
    }

    #[test]
    fn blocks_of_another_block_size_never_serve_a_read() {
        let d = tempfile::tempdir().unwrap();
        let key: BlockKey = ("a/b.seg".into(), 0);
        DiskCache::open(d.path(), 4096, 1 << 20).unwrap().put(&key, b"4 KiB block");
        let other = DiskCache::open(d.path(), 65536, 1 << 20).unwrap();
        assert_eq!(other.get(&key), None, "a restart with another block size starts empty");
        assert!(!d.path().join("blocks-4096").exists(), "and deletes the old blocks");
    }
}
