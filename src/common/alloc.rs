//! The process's allocator (mimalloc), and giving memory back after a burst. mimalloc frees
//! a thread's pages lazily, when that thread allocates again; a worker or logging thread that
//! goes quiet after thousands of streams kept their memory resident (86 MiB after 2,000
//! streams, 46 MiB with the pages collected).
#![expect(unsafe_code, reason = "mimalloc's entry points are C functions")]

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};

/// mimalloc through its plain entry points wherever they give the alignment asked for. The
/// `mimalloc` crate calls the aligned ones for every allocation, and those take a slow path
/// (over-allocating by the alignment) for every block over 1 KiB: read buffers, the JSON
/// parser's buffers, response heads' maps; about 140 instructions more each, three times a
/// request.
pub struct Allocator;

/// Every mimalloc block of at least a word is aligned to a word (blocks are whole words, and
/// pages start aligned to 16 bytes).
fn plain(size: usize, align: usize) -> bool {
    align <= std::mem::size_of::<usize>() && align <= size
}

// SAFETY: each function hands the request to mimalloc, which returns null or a block of at
// least `size` bytes aligned to `align` (the plain entry points only when `plain` says a
// block of that size is), and frees any block it returned, whichever way it was allocated.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: see the impl.
        unsafe {
            match plain(size, align) {
                true => mi_malloc(size),
                false => mi_malloc_aligned(size, align),
            }
        }
        .cast()
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: see the impl.
        unsafe {
            match plain(size, align) {
                true => mi_zalloc(size),
                false => mi_zalloc_aligned(size, align),
            }
        }
        .cast()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator.
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        // SAFETY: `ptr` came from this allocator; see the impl.
        unsafe {
            match plain(new_size, align) {
                true => mi_realloc(ptr.cast::<c_void>(), new_size),
                false => mi_realloc_aligned(ptr.cast::<c_void>(), new_size, align),
            }
        }
        .cast()
    }
}

/// Frees what the calling thread's heap no longer uses. Cheap enough once per quiet spell,
/// not per request.
pub fn collect_quiet_thread() {
    // SAFETY: no arguments beyond a flag; only touches the calling thread's heap.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks come back aligned as asked, through either entry point, and keep their bytes
    /// when they grow.
    #[test]
    fn blocks_are_aligned_as_asked() {
        for (size, align) in [
            (1, 1),
            (8, 8),
            (24, 8),
            (3000, 8),
            (16, 16),
            (48, 16),
            (64, 64),
        ] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a non-zero size; freed with the same allocator.
            unsafe {
                let block = Allocator.alloc(layout);
                assert!(!block.is_null());
                assert_eq!(block as usize % align, 0, "{size} bytes aligned to {align}");
                block.write_bytes(0xab, size);
                let grown = Allocator.realloc(block, layout, size * 40);
                assert_eq!(grown as usize % align, 0);
                assert_eq!(*grown.add(size - 1), 0xab);
                Allocator.dealloc(grown, Layout::from_size_align(size * 40, align).unwrap());
                let zeroed = Allocator.alloc_zeroed(layout);
                assert_eq!(*zeroed.add(size - 1), 0);
                Allocator.dealloc(zeroed, layout);
            }
        }
    }
}
