//! The binary's global allocator: mimalloc, built without transparent huge pages.
//!
//! The replays allocate and free many small objects on several threads, which mimalloc
//! serves faster than the system allocator (docs/benchmarks-history.md, item 3). Its
//! `no_thp` feature (the workspace's `Cargo.toml`) keeps it from advising the kernel to back
//! its arenas with 2 MiB pages: with that advice, the first touch of every 2 MiB of an arena
//! zeroed a whole huge page, which took a tenth of a job's time (item 69). `main` also has
//! it keep the memory a replay frees rather than return it to the kernel
//! (`replay_evm_dataset::allocator`, item 87).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The `VmFlags` of the mapping of `smaps` (a `/proc/PID/smaps`) that holds `address`.
    fn vm_flags_at(smaps: &str, address: usize) -> Option<Vec<String>> {
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or_default();
            if let Some((start, end)) = range.split_once('-')
                && let (Ok(start), Ok(end)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                )
            {
                inside = (start..end).contains(&address);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return Some(flags.split_whitespace().map(str::to_owned).collect());
            }
        }
        None
    }

    #[test]
    fn the_allocators_memory_is_not_advised_for_huge_pages() {
        // Small and large blocks, both from the allocator's arenas.
        let small = vec![1_u8; 64];
        let large = vec![1_u8; 4 << 20];
        let smaps = std::fs::read_to_string("/proc/self/smaps")
            .unwrap_or_else(|e| panic!("/proc/self/smaps: {e}"));
        for block in [&small, &large] {
            let address = block.as_ptr() as usize;
            let flags = vm_flags_at(&smaps, address)
                .unwrap_or_else(|| panic!("no mapping in /proc/self/smaps holds {address:#x}"));
            // `hg`: the mapping was advised MADV_HUGEPAGE (proc(5)).
            assert!(
                !flags.iter().any(|f| f == "hg"),
                "the allocator's mapping is advised for huge pages: VmFlags {flags:?}"
            );
        }
    }
}
