//! Counting heap allocations per shard, to show what the hot path allocates. Built only with
//! `--features count-allocations` (the binary then installs [`CountingAllocator`]); each shard
//! is one thread, so a thread-local counter is that shard's count, exported as
//! `sluice_allocations_total`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting allocations and reallocations per thread.
pub struct CountingAllocator;

fn count() {
    // try_with: the counter may already be gone while a thread is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made so far by the calling thread (0 unless the counting allocator is installed).
pub fn thread_allocations() -> u64 {
    ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_through_the_allocator_interface() {
        let before = thread_allocations();
        let layout = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: a valid layout; the pointer is freed with the same layout.
        unsafe {
            let p = CountingAllocator.alloc(layout);
            assert!(!p.is_null());
            let p = CountingAllocator.realloc(p, layout, 128);
            CountingAllocator.dealloc(p, Layout::from_size_align(128, 8).unwrap());
        }
        assert_eq!(thread_allocations() - before, 2);
    }
}
