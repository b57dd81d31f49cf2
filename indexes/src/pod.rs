use bytes::Bytes;

/// A read-only array of plain numbers (`f32`, `u32`, `u64`, `u8`) that is either borrowed
/// zero-copy from segment bytes (e.g. an mmap) or owned.
///
/// Segment sections are little-endian and 64-byte aligned. On a little-endian machine with
/// aligned bytes the array is a view of the bytes; otherwise it is decoded into a vector.
#[derive(Debug, Clone)]
pub enum PodSlice<T: bytemuck::Pod> {
    /// A zero-copy view of bytes (aligned for `T`, length a multiple of `size_of::<T>()`).
    Shared(Bytes),
    /// Decoded values.
    Owned(Vec<T>),
}

impl<T: bytemuck::Pod> PodSlice<T> {
    /// Wraps little-endian `bytes`; `None` if the length is not a multiple of the item size.
    pub fn from_le_bytes(bytes: Bytes) -> Option<Self> {
        let size = std::mem::size_of::<T>();
        if !bytes.len().is_multiple_of(size) {
            return None;
        }
        if cfg!(target_endian = "little") && bytemuck::try_cast_slice::<u8, T>(&bytes).is_ok() {
            return Some(PodSlice::Shared(bytes));
        }
        let mut out: Vec<T> = vec![T::zeroed(); bytes.len() / size];
        let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut out);
        for (d, s) in dst.chunks_exact_mut(size).zip(bytes.chunks_exact(size)) {
            d.copy_from_slice(s);
            if cfg!(target_endian = "big") {
                d.reverse();
            }
        }
        Some(PodSlice::Owned(out))
    }

    /// The values.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match self {
            // Alignment and length were checked in `from_le_bytes`.
            PodSlice::Shared(b) => bytemuck::cast_slice(b),
            PodSlice::Owned(v) => v,
        }
    }
}
