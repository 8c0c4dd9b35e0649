//! Peak heap memory of one measurement: the `replay-evm-bench` binary's global allocator
//! (`src/main.rs`) is [`PeakAlloc`], mimalloc (the allocator of every ReplayEVM binary) plus
//! a byte counter that is armed
//! only while a memory measurement runs. In a binary with another allocator [`measure`]
//! counts nothing and reports 0.
//!
//! Disarmed (every timed run, every other subcommand) it costs one relaxed load of a flag
//! that no thread writes, so timing is unaffected. Armed, every allocation, reallocation and
//! free adds its size to a signed `current` counter and raises `peak`; [`measure`] resets
//! both, so the peak is the largest heap growth over the heap at its start, on every thread
//! together (the parallel engine's workers included). Memory freed during the window that
//! was allocated before it makes `current` go below zero, which is the correct net growth.

use std::{
    alloc::{GlobalAlloc, Layout},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed},
    },
};

/// mimalloc, counting while armed: install it with `#[global_allocator]` in the binary that
/// measures.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeakAlloc;

static ARMED: AtomicBool = AtomicBool::new(false);
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// One measurement at a time (tests may run several in one process).
static WINDOW: Mutex<()> = Mutex::new(());

#[inline]
fn grow(bytes: usize) {
    if ARMED.load(Relaxed) {
        let delta = bytes as isize;
        let now = CURRENT.fetch_add(delta, Relaxed) + delta;
        PEAK.fetch_max(now, Relaxed);
    }
}

#[inline]
fn shrink(bytes: usize) {
    if ARMED.load(Relaxed) {
        CURRENT.fetch_sub(bytes as isize, Relaxed);
    }
}

// SAFETY: every method forwards to mimalloc with the caller's arguments unchanged and only
// adds bookkeeping on atomics, which never allocates.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let ptr = unsafe { mimalloc::MiMalloc.alloc(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let ptr = unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let new = unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            shrink(layout.size());
            grow(new_size);
        }
        new
    }
}

/// Runs `f` with the counter armed; returns its value, the peak heap growth in bytes during
/// it, and the heap it left allocated (both over the heap at its start; the second may be
/// negative).
pub(crate) fn measure<T>(f: impl FnOnce() -> T) -> (T, u64, i64) {
    let _window = WINDOW.lock().unwrap_or_else(|p| p.into_inner());
    CURRENT.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    ARMED.store(true, Relaxed);
    let value = f();
    ARMED.store(false, Relaxed);
    let peak = PEAK.load(Relaxed).max(0) as u64;
    let retained = CURRENT.load(Relaxed) as i64;
    (value, peak, retained)
}
