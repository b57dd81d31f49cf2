//! Batched positional reads through io_uring (feature `io-uring`, Linux 5.6+): the reads of
//! one batch (a DiskANN beam) are submitted with one system call and are in flight on the
//! device together, where `pread` issues them one after another.
//!
//! Each thread has its own ring of [`RING_ENTRIES`] entries and its own aligned buffers;
//! a batch larger than the ring runs in several rounds.
// One of the modules where `unsafe` is allowed (see the workspace lints); every block has a
// `// SAFETY:` comment.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use io_uring::{opcode, types, IoUring};

use crate::aligned::AlignedBuf;

/// Reads in flight per thread.
pub const RING_ENTRIES: u32 = 64;

thread_local! {
    static RING: RefCell<Option<IoUring>> = const { RefCell::new(None) };
    static BUFS: RefCell<Vec<AlignedBuf>> = const { RefCell::new(Vec::new()) };
}

/// Checks that this process may create an io_uring (kernels can disable it, and container
/// seccomp profiles often forbid it).
///
/// # Errors
/// The error of `io_uring_setup(2)`.
pub fn check_available() -> io::Result<()> {
    IoUring::new(2).map(drop)
}

/// Whether this process may use io_uring, checked once.
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| check_available().is_ok())
}

/// Reads `len` bytes at each of `offsets` of `file` and calls `each(i, bytes)` per read, in
/// completion order.
///
/// # Errors
/// The first failed read's error; a read past the end is `UnexpectedEof`.
pub(crate) fn read_batch(file: &File, offsets: &[u64], len: usize, each: &mut dyn FnMut(usize, &[u8])) -> io::Result<()> {
    let len32 = u32::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "read longer than 4 GiB"))?;
    RING.with(|ring| {
        BUFS.with(|bufs| {
            let mut ring_slot = ring.borrow_mut();
            if ring_slot.is_none() {
                *ring_slot = Some(IoUring::new(RING_ENTRIES)?);
            }
            let ring = ring_slot.as_mut().expect("created above");
            let mut bufs = bufs.borrow_mut();
            let slots = offsets.len().min(RING_ENTRIES as usize);
            bufs.retain(|b| b.len() >= len);
            while bufs.len() < slots {
                bufs.push(AlignedBuf::new(len));
            }
            for (round, chunk) in offsets.chunks(RING_ENTRIES as usize).enumerate() {
                let first = round * RING_ENTRIES as usize;
                match read_round(ring, file, chunk, len32, &mut bufs, &mut |i, b| each(first + i, b)) {
                    Ok(()) => {}
                    Err(Failure::Read(e)) => return Err(e),
                    Err(Failure::Ring(e)) => {
                        // Reads may still be in flight: leak their buffers, never reuse them,
                        // and start the next batch on a fresh ring.
                        bufs.drain(..).for_each(std::mem::forget);
                        *ring_slot = None;
                        return Err(e);
                    }
                }
            }
            Ok(())
        })
    })
}

/// Why a round failed.
enum Failure {
    /// A read failed; every read of the round was reaped, the ring is clean.
    Read(io::Error),
    /// The ring failed with reads possibly still in flight.
    Ring(io::Error),
}

/// Submits one read per offset (at most [`RING_ENTRIES`]) and reaps every completion before
/// returning, so no buffer is reused while the kernel may still write it.
fn read_round(
    ring: &mut IoUring,
    file: &File,
    offsets: &[u64],
    len: u32,
    bufs: &mut [AlignedBuf],
    each: &mut dyn FnMut(usize, &[u8]),
) -> Result<(), Failure> {
    let fd = types::Fd(file.as_raw_fd());
    for (i, &offset) in offsets.iter().enumerate() {
        let entry = opcode::Read::new(fd, bufs[i].as_mut_ptr(), len).offset(offset).build().user_data(i as u64);
        // SAFETY: `bufs[i]` owns at least `len` writable bytes and is neither moved, freed
        // nor read until this function has reaped this read's completion below (the caller
        // leaks the buffers if reaping fails); `file` outlives the call, so `fd` stays open.
        unsafe { ring.submission().push(&entry) }.map_err(|_| Failure::Ring(io::Error::other("io_uring submission queue full")))?;
    }
    let mut pending = offsets.len();
    let mut first_error: Option<io::Error> = None;
    while pending > 0 {
        match ring.submit_and_wait(pending) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Ring(e)),
        }
        for cqe in ring.completion() {
            pending -= 1;
            let i = cqe.user_data() as usize;
            let done = cqe.result();
            let buf = bufs[i].as_mut_slice(len as usize);
            let result = if done < 0 {
                Err(io::Error::from_raw_os_error(-done))
            } else if (done as u32) < len {
                // A short read (end of file, or a signal): finish it synchronously.
                file.read_exact_at(&mut buf[done as usize..], offsets[i] + done as u64)
            } else {
                Ok(())
            };
            match result {
                Ok(()) if first_error.is_none() => each(i, buf),
                Ok(()) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    first_error.map_or(Ok(()), |e| Err(Failure::Read(e)))
}
