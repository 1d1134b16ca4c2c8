//! I/O buffers (a leaf): vectored writes of shared byte buffers (a response head and its body, or a
//! chunk's size line, data and CRLF, leave in one `writev`), and read targets that append.
#![expect(
    unsafe_code,
    reason = "monoio's IoVecBuf is an unsafe trait: it hands raw iovecs to the kernel"
)]

use bytes::{Bytes, BytesMut};
use monoio::buf::{IoBufMut, IoVecBuf, SliceMut};

/// The buffer's unused capacity as a read target: monoio reads into a `BytesMut` from its
/// start, which would overwrite the bytes already buffered.
pub fn spare_capacity(buffer: BytesMut) -> SliceMut<BytesMut> {
    let (len, capacity) = (buffer.len(), buffer.capacity());
    buffer.slice_mut(len..capacity)
}

/// Up to `N` buffers written as one vectored write (empty ones are left out); owns them while
/// the kernel reads them.
pub struct IoSlices<const N: usize = 3> {
    iovecs: [libc::iovec; N],
    count: usize,
    _owners: [Bytes; N],
}

impl<const N: usize> IoSlices<N> {
    pub fn new(parts: [Bytes; N]) -> Self {
        let mut iovecs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; N];
        let mut count = 0;
        for part in parts.iter().filter(|part| !part.is_empty()) {
            iovecs[count] = libc::iovec {
                iov_base: part.as_ptr() as *mut _,
                iov_len: part.len(),
            };
            count += 1;
        }
        Self {
            iovecs,
            count,
            _owners: parts,
        }
    }
}

// SAFETY: the iovecs point into the `Bytes` held in `_owners`, whose heap data does not move
// when `IoSlices` moves and lives as long as `IoSlices`.
unsafe impl<const N: usize> IoVecBuf for IoSlices<N> {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iovecs.as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.count
    }
}
