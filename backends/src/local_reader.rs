//! [`LocalFileReader`]: positional reads of a local file with `pread(2)`, optionally with
//! O_DIRECT (bypassing the OS page cache, for cold-cache measurements and for data larger
//! than RAM).
// One of the modules where `unsafe` is allowed (see the workspace lints); every block has a
// `// SAFETY:` comment.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use crate::aligned::AlignedBuf;
pub use crate::aligned::DIRECT_ALIGN;
use crate::RandomAccess;

/// `O_DIRECT` on Linux x86_64 and aarch64 (the value differs per architecture).
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86")))]
const O_DIRECT: i32 = 0o40000;
#[cfg(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm")))]
const O_DIRECT: i32 = 0o200000;
#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64", target_arch = "arm"))))]
const O_DIRECT: i32 = 0;

thread_local! {
    static BUF: RefCell<Option<AlignedBuf>> = const { RefCell::new(None) };
}

/// Positional reads of one local file (see the module docs).
#[derive(Debug)]
pub struct LocalFileReader {
    file: File,
    len: u64,
    direct: bool,
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    io_uring: bool,
}

impl LocalFileReader {
    /// Opens `path` for positional reads; with `direct`, through O_DIRECT (then every read
    /// must be 4096-aligned in offset and length).
    ///
    /// # Errors
    /// The error of `open(2)` (O_DIRECT is refused by some file systems, e.g. tmpfs).
    pub fn open(path: &Path, direct: bool) -> io::Result<Self> {
        let mut o = OpenOptions::new();
        o.read(true);
        if direct {
            o.custom_flags(O_DIRECT);
        }
        let file = o.open(path)?;
        let len = file.metadata()?.len();
        Ok(LocalFileReader {
            file,
            len,
            direct,
            #[cfg(all(feature = "io-uring", target_os = "linux"))]
            io_uring: false,
        })
    }

    /// Reads batches through io_uring (all reads of a batch in flight at once) instead of
    /// one `pread` after another.
    ///
    /// # Errors
    /// The error of `io_uring_setup(2)` if this process may not use io_uring.
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub fn with_io_uring(mut self) -> io::Result<Self> {
        crate::uring::check_available()?;
        self.io_uring = true;
        Ok(self)
    }

    fn check_aligned(&self, offsets: &[u64], len: usize) -> io::Result<()> {
        let bad = |o: u64| !o.is_multiple_of(DIRECT_ALIGN as u64) || !len.is_multiple_of(DIRECT_ALIGN);
        match offsets.iter().find(|&&o| self.direct && bad(o)) {
            Some(o) => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("O_DIRECT read of {len} bytes at {o} is not 4096-aligned"))),
            None => Ok(()),
        }
    }
}

impl RandomAccess for LocalFileReader {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_batch(&self, offsets: &[u64], len: usize, each: &mut dyn FnMut(usize, &[u8])) -> io::Result<()> {
        self.check_aligned(offsets, len)?;
        #[cfg(all(feature = "io-uring", target_os = "linux"))]
        if self.io_uring {
            return crate::uring::read_batch(&self.file, offsets, len, each);
        }
        BUF.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().is_none_or(|b| b.len() < len) {
                *slot = Some(AlignedBuf::new(len));
            }
            let buf = slot.as_mut().expect("just filled").as_mut_slice(len);
            for (i, &off) in offsets.iter().enumerate() {
                self.file.read_exact_at(buf, off)?;
                each(i, buf);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ranges_and_refuses_unaligned_direct_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3 * 4096u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let r = LocalFileReader::open(&path, false).unwrap();
        assert_eq!(r.len(), data.len() as u64);
        let mut got = Vec::new();
        r.read_batch(&[4096, 10], 100, &mut |i, b| got.push((i, b.to_vec()))).unwrap();
        assert_eq!(got, vec![(0, data[4096..4196].to_vec()), (1, data[10..110].to_vec())]);
        assert!(r.read_batch(&[3 * 4096 - 10], 100, &mut |_, _| {}).is_err());
        if let Ok(d) = LocalFileReader::open(&path, true) {
            assert!(d.read_batch(&[10], 4096, &mut |_, _| {}).is_err());
            let mut same = false;
            d.read_batch(&[4096], 4096, &mut |_, b| same = b == &data[4096..8192]).unwrap();
            assert!(same);
        }
    }

    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    #[test]
    fn io_uring_reads_equal_pread_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..200 * 4096u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let pread = LocalFileReader::open(&path, false).unwrap();
        let uring = match LocalFileReader::open(&path, false).unwrap().with_io_uring() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("io_uring unavailable here ({e}); only pread was tested");
                return;
            }
        };
        // More reads than the ring holds, unaligned offsets, and one past the end.
        let offsets: Vec<u64> = (0..150u64).map(|i| (i * 7919 * 13) % (199 * 4096)).collect();
        let collect = |r: &LocalFileReader| {
            let mut got = vec![Vec::new(); offsets.len()];
            r.read_batch(&offsets, 4096, &mut |i, b| got[i] = b.to_vec()).unwrap();
            got
        };
        let expected: Vec<Vec<u8>> = offsets.iter().map(|&o| data[o as usize..o as usize + 4096].to_vec()).collect();
        assert_eq!(collect(&pread), expected);
        assert_eq!(collect(&uring), expected);
        assert_eq!(uring.read_batch(&[200 * 4096 - 100], 4096, &mut |_, _| {}).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        if let Ok(direct) = LocalFileReader::open(&path, true).and_then(LocalFileReader::with_io_uring) {
            let mut same = false;
            direct.read_batch(&[8192], 4096, &mut |_, b| same = b == &data[8192..12288]).unwrap();
            assert!(same, "O_DIRECT through io_uring");
        }
    }
}
