//! Heap buffers aligned for O_DIRECT reads, shared by the `pread` and io_uring readers.
// One of the modules where `unsafe` is allowed (see the workspace lints); every block has a
// `// SAFETY:` comment.
#![allow(unsafe_code)]

use std::alloc::{self, Layout};

/// Alignment of O_DIRECT buffers, offsets and lengths.
pub const DIRECT_ALIGN: usize = 4096;

/// A heap buffer aligned to [`DIRECT_ALIGN`] bytes.
pub(crate) struct AlignedBuf {
    ptr: *mut u8,
    len: usize,
}

impl AlignedBuf {
    pub(crate) fn new(len: usize) -> Self {
        let len = len.max(DIRECT_ALIGN).next_multiple_of(DIRECT_ALIGN);
        let layout = Layout::from_size_align(len, DIRECT_ALIGN).expect("aligned layout of a bounded size");
        // SAFETY: `layout` has a non-zero size; a null result is handled below.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            alloc::handle_alloc_error(layout);
        }
        AlignedBuf { ptr, len }
    }

    /// Capacity in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The start of the buffer, for the kernel to write into.
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }

    pub(crate) fn as_mut_slice(&mut self, len: usize) -> &mut [u8] {
        assert!(len <= self.len);
        // SAFETY: `ptr` points to `self.len` initialised (zeroed) bytes owned by `self`,
        // and the `&mut self` borrow makes this the only reference to them.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout.
        unsafe { alloc::dealloc(self.ptr, Layout::from_size_align_unchecked(self.len, DIRECT_ALIGN)) }
    }
}
