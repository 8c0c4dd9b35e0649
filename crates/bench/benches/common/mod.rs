//! Helpers of the criterion benches (`cargo bench -p replay-evm-bench`): the blocks they
//! measure, and the check that the parallel engine replays each one exactly as the
//! sequential oracle before it is timed. Bench code, like test code: a bad setting or a
//! failed replay panics, naming it.
//!
//! The one-command suite with a report, memory and CPU figures is `replay-evm-bench`
//! (`replay-evm bench`); these benches are the statistically careful view of the same
//! comparison, for regressions.

use std::{num::NonZeroUsize, path::PathBuf};

use replay_evm::{
    block::ArchivedBlock,
    block_dir::load_block_dir,
    chain::ChainSpec,
    fixtures::mainnet_block_dirs,
    parallel::{Concurrency, ParallelEngine},
    sequential::replay_sequential,
};
use replay_evm_workload::{Workload, generate_gas};

/// Gas of each generated workload block unless `REPLAY_EVM_BENCH_GAS` says otherwise: a
/// mainnet-sized block (criterion repeats every measurement many times).
pub(crate) const DEFAULT_GAS: u64 = 30_000_000;

/// Seed of the generated blocks.
pub(crate) const SEED: u64 = 1;

/// The gas of each generated block: `REPLAY_EVM_BENCH_GAS` (an integer, `_` allowed), or
/// [`DEFAULT_GAS`].
///
/// # Panics
/// When the variable is set but is not a number.
pub(crate) fn bench_gas() -> u64 {
    match std::env::var("REPLAY_EVM_BENCH_GAS") {
        Ok(text) => text
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("REPLAY_EVM_BENCH_GAS={text} is not a gas amount")),
        Err(_) => DEFAULT_GAS,
    }
}

/// Thread counts of the parallel runs: `REPLAY_EVM_BENCH_THREADS` (comma-separated), or 1
/// and 2.
///
/// # Panics
/// When the variable is set but is not a list of positive integers.
pub(crate) fn bench_threads() -> Vec<NonZeroUsize> {
    let text = std::env::var("REPLAY_EVM_BENCH_THREADS").unwrap_or_else(|_| "1,2".to_owned());
    text.split(',')
        .map(|t| {
            t.trim()
                .parse()
                .unwrap_or_else(|_| panic!("REPLAY_EVM_BENCH_THREADS={text}: bad thread count"))
        })
        .collect()
}

/// The generated block of `workload` at [`bench_gas`].
///
/// # Panics
/// When the generator fails (a bug).
pub(crate) fn workload_block(workload: Workload) -> ArchivedBlock {
    generate_gas(workload, SEED, bench_gas()).unwrap_or_else(|e| panic!("{workload}: {e}"))
}

/// The shared mainnet fixtures, as `(block number, block)`.
///
/// # Panics
/// When the fixtures are missing or a block does not load.
pub(crate) fn mainnet_blocks() -> Vec<(u64, ArchivedBlock)> {
    let dirs: Vec<PathBuf> = mainnet_block_dirs().unwrap_or_else(|e| panic!("{e}"));
    dirs.iter()
        .map(|dir| {
            let block = load_block_dir(dir, 1).unwrap_or_else(|e| panic!("{e}"));
            (block.number(), block)
        })
        .collect()
}

/// Replays `block` sequentially and in parallel at every thread count and checks the
/// results are equal. This is also the warm-up (thread pools, caches).
///
/// # Panics
/// When a replay fails or a parallel result differs from the sequential one.
pub(crate) fn check_parallel_equals_sequential(
    name: &str,
    block: &ArchivedBlock,
    chain: &ChainSpec,
    engine: &ParallelEngine,
    threads: &[NonZeroUsize],
) {
    let seq = replay_sequential(block, chain).unwrap_or_else(|e| panic!("{name}: {e}"));
    for &t in threads {
        for concurrency in [Concurrency::Threads(t), Concurrency::Adaptive(t)] {
            let par = engine
                .replay(block, chain, concurrency)
                .unwrap_or_else(|e| panic!("{name}, {concurrency:?}: {e}"));
            if let Some(difference) = seq.first_difference(&par.replay) {
                panic!(
                    "{name}: the parallel replay ({concurrency:?}) differs from the sequential \
                     one: {difference}"
                );
            }
        }
    }
}
