//! A global allocator that backs large allocations with transparent huge pages.
//!
//! A MAC table of a million entries is about 30 MB; reached at random, almost
//! every lookup on 4 KB pages also misses the TLB. Where the kernel's
//! transparent huge pages are in `madvise` mode (the Debian default), asking for
//! them with `madvise(MADV_HUGEPAGE)` cuts the cost of a lookup in a large table
//! by about a quarter (BENCHMARKS.md). The core allocates through `alloc` and
//! knows nothing of this: the program chooses its allocator.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: vswitch_linux::hugepage::HugePageAlloc = vswitch_linux::hugepage::HugePageAlloc;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations from this size up are aligned to 2 MB and advised to use huge pages.
pub const HUGE_THRESHOLD: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// [`System`], with large allocations on transparent huge pages.
#[derive(Debug, Default, Clone, Copy)]
pub struct HugePageAlloc;

// SAFETY: every call is forwarded to `System` with a layout that is valid for it
// (the same size, an alignment that is a power of two no smaller than asked);
// `madvise` only advises on memory this allocation owns.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() < HUGE_THRESHOLD {
            return unsafe { System.alloc(layout) };
        }
        let Ok(huge) = Layout::from_size_align(layout.size(), layout.align().max(HUGE_PAGE)) else {
            return unsafe { System.alloc(layout) };
        };
        let p = unsafe { System.alloc(huge) };
        if !p.is_null() {
            // Advice only: failure (no THP in this kernel) changes nothing.
            unsafe {
                libc::madvise(
                    p.cast(),
                    layout.size() & !(HUGE_PAGE - 1),
                    libc::MADV_HUGEPAGE,
                )
            };
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, huge_layout(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() < HUGE_THRESHOLD {
            return unsafe { System.alloc_zeroed(layout) };
        }
        let p = unsafe { self.alloc(layout) };
        if !p.is_null() {
            unsafe { p.write_bytes(0, layout.size()) };
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.size() < HUGE_THRESHOLD && new_size < HUGE_THRESHOLD {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Crossing or above the threshold: a fresh allocation with the right layout.
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

/// The layout `alloc` really used for `layout`.
fn huge_layout(layout: Layout) -> Layout {
    if layout.size() < HUGE_THRESHOLD {
        return layout;
    }
    Layout::from_size_align(layout.size(), layout.align().max(HUGE_PAGE)).unwrap_or(layout)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn small_and_large_allocations_round_trip() {
        let a = HugePageAlloc;
        for size in [
            16,
            4096,
            HUGE_THRESHOLD - 1,
            HUGE_THRESHOLD,
            3 * HUGE_THRESHOLD + 7,
        ] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            #[allow(unsafe_code)]
            unsafe {
                let p = a.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                if size >= HUGE_THRESHOLD {
                    assert_eq!(
                        p as usize % HUGE_PAGE,
                        0,
                        "large allocations are 2 MB aligned"
                    );
                }
                p.write_bytes(0xab, size);
                let q = a.realloc(p, layout, size * 2 + 1);
                assert!(!q.is_null());
                assert!(std::slice::from_raw_parts(q, size)
                    .iter()
                    .all(|&b| b == 0xab));
                a.dealloc(q, Layout::from_size_align(size * 2 + 1, 8).unwrap());
            }
        }
    }
}
