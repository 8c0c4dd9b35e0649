//! The allocator setting of every process that times replays (the `replay-evm` binary, the
//! benchmark harness `replay-evm-bench`, the Python module), each applying it as it starts:
//! mimalloc, their global allocator, keeps the memory a replay frees for the next one instead
//! of returning it to the kernel.
//!
//! mimalloc returns ("purges") free memory to the kernel a second after it was freed
//! (`madvise(MADV_DONTNEED)`), and the next allocation there touches fresh pages, each a
//! page fault. In the benchmark's rounds a sequential replay of a 1-Ggas block took 3,000
//! to 15,000 page faults and a Block-STM one 1,000 to 5,000, re-touching what the purges of
//! the replay before had returned; without purging, a few hundred or none, and the replays
//! were mostly faster, the sequential ones more than the parallel ones (item 87 of
//! docs/benchmarks-history.md has the numbers). The cost: a process's resident memory stays
//! at its high-water mark, which the next replay of a block that size reuses.

/// mimalloc's `mi_option_purge_delay` (`mimalloc.h` of the bundled v3 sources: the 16th
/// entry of `mi_option_e`), which `libmimalloc-sys` 0.1.49 does not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed memory to the kernel (its `purge_delay` option set to
/// -1), for every thread of the process from now on. Call it first thing in `main` (or a
/// module's initialisation): memory purged before it is re-faulted once. A process whose
/// global allocator is not mimalloc is only changed in mimalloc's option table.
pub fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores a value in mimalloc's option table (an atomic store in
    // the C library); mimalloc reads `purge_delay` each time it considers a purge, so setting
    // it at any time is sound, on any thread.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mimalloc's `purge_delay` now.
    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: `mi_option_get` reads mimalloc's option table (initialising it from the
        // environment on first use), which any thread may do at any time.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    /// The option is mimalloc's purge delay (a wrong index would read another option's
    /// default: 1 or 0 for its neighbours), and asking sets it. Each test runs in its own
    /// process under nextest, and this is the module's only test, so nothing set it before.
    #[test]
    fn freed_memory_is_kept_once_asked() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(
                purge_delay(),
                1000,
                "mimalloc v3's default purge delay, in ms"
            );
        }
        keep_freed_memory();
        assert_eq!(purge_delay(), -1);
    }
}
