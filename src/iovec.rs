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

/// Up to three buffers written as one vectored write; owns them while the kernel reads them.
pub struct IoSlices {
    iovecs: [libc::iovec; 3],
    count: usize,
    _owners: [Bytes; 3],
}

impl IoSlices {
    pub fn new(parts: [Bytes; 3]) -> Self {
        let mut iovecs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 3];
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
unsafe impl IoVecBuf for IoSlices {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iovecs.as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.count
    }
}
