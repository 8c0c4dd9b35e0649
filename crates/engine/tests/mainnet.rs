//! Every shared mainnet block replays sequentially and verifies against its header, and the
//! parallel engine equals the sequential oracle on it at every thread count.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::num::NonZeroUsize;

use replay_evm::{
    block::ArchivedBlock,
    block_dir::load_block_dir,
    chain::ChainSpec,
    fixtures::mainnet_block_dirs,
    parallel::{Concurrency, ParallelEngine, ParallelReplay},
    sequential::{BlockReplay, replay_sequential},
    verify::verify,
};

fn load_all() -> Vec<ArchivedBlock> {
    let dirs = mainnet_block_dirs().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dirs.len(), 47, "expected the 47 shared mainnet blocks");
    dirs.iter()
        .map(|d| load_block_dir(d, 1).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The shared fixture block `number`, alone.
fn load_one(number: u64) -> ArchivedBlock {
    let dir = mainnet_block_dirs()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .find(|d| d.ends_with(number.to_string()))
        .unwrap_or_else(|| panic!("block {number} among the shared fixtures"));
    load_block_dir(&dir, 1).unwrap_or_else(|e| panic!("{e}"))
}

/// `block` replayed by Block-STM on `threads` threads.
fn replay_at(
    engine: &ParallelEngine,
    block: &ArchivedBlock,
    chain: &ChainSpec,
    threads: usize,
) -> ParallelReplay {
    engine
        .replay(
            block,
            chain,
            Concurrency::Threads(NonZeroUsize::new(threads).unwrap()),
        )
        .unwrap_or_else(|e| panic!("block {} at {threads} threads: {e}", block.number()))
}

fn assert_same(number: u64, threads: usize, seq: &BlockReplay, par: &BlockReplay) {
    if let Some(difference) = seq.first_difference(par) {
        panic!("block {number} at {threads} threads: {difference}");
    }
}

#[test]
fn every_mainnet_block_verifies_sequentially() {
    let chain = ChainSpec::mainnet();
    let mut checked_roots = 0;
    for block in load_all() {
        let replay = replay_sequential(&block, &chain).unwrap_or_else(|e| panic!("{e}"));
        let verification = verify(block.header(), &replay).unwrap_or_else(|e| panic!("{e}"));
        checked_roots += usize::from(verification.receipts_root_checked);
        assert_eq!(replay.transactions.len(), block.transactions().len());
    }
    // Byzantium (4,370,000) on: receipts roots are fully checked.
    assert_eq!(checked_roots, 36);
}

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn parallel_equals_sequential_at_every_thread_count() {
    let chain = ChainSpec::mainnet();
    let engine = ParallelEngine::new(NonZeroUsize::new(8).unwrap())
        .unwrap()
        .with_write_set_check(true);
    for block in load_all() {
        let seq = replay_sequential(&block, &chain).unwrap_or_else(|e| panic!("{e}"));
        for threads in [1, 2, 3, 4, 8] {
            let par = replay_at(&engine, &block, &chain, threads);
            assert_eq!(par.threads, threads);
            verify(block.header(), &par.replay)
                .unwrap_or_else(|e| panic!("{threads} threads: {e}"));
            assert_same(block.number(), threads, &seq, &par.replay);
            assert_eq!(par.traces.len(), block.transactions().len());
        }
    }
}

/// Replays every block many times with varying thread counts and modes. The default round count keeps
/// CI bounded; `REPLAY_EVM_STRESS_ROUNDS` raises it.
#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn stress_mainnet_blocks_with_varying_threads() {
    let rounds: usize = std::env::var("REPLAY_EVM_STRESS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let chain = ChainSpec::mainnet();
    let engine = ParallelEngine::new(NonZeroUsize::new(8).unwrap())
        .unwrap()
        .with_write_set_check(true);
    for block in load_all() {
        let seq = replay_sequential(&block, &chain).unwrap_or_else(|e| panic!("{e}"));
        for round in 0..rounds {
            let threads = [2, 3, 4, 5, 6, 7, 8][round % 7];
            let n = NonZeroUsize::new(threads).unwrap();
            // Block-STM most rounds; every fourth, in-order and adaptive mode in turn.
            let concurrency = match round % 8 {
                3 => Concurrency::InOrder(n),
                7 => Concurrency::Adaptive(n),
                _ => Concurrency::Threads(n),
            };
            let par = engine
                .replay(&block, &chain, concurrency)
                .unwrap_or_else(|e| panic!("round {round}, {concurrency:?}: {e}"));
            assert_same(block.number(), threads, &seq, &par.replay);
        }
    }
}

/// The dependency analysis comes from the last incarnations' read and write sets; it must not
/// depend on the thread count, and the lazy updates must never add conflicts.
#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn analysis_is_independent_of_thread_count() {
    use replay_evm::analysis::analyse;
    let chain = ChainSpec::mainnet();
    let engine = ParallelEngine::new(NonZeroUsize::new(4).unwrap())
        .unwrap()
        .with_write_set_check(true);
    let mut rates = Vec::new();
    for block in load_all() {
        let one = replay_at(&engine, &block, &chain, 1);
        let reference = analyse(&one.accesses());
        for threads in [2, 4] {
            let par = replay_at(&engine, &block, &chain, threads);
            if let Some(difference) = one.first_trace_difference(&par) {
                panic!(
                    "block {} at {threads} threads: {difference}",
                    block.number()
                );
            }
            assert_eq!(
                analyse(&par.accesses()),
                reference,
                "block {}",
                block.number()
            );
        }
        assert!(reference.naive.conflict_rate >= reference.lazy.conflict_rate);
        rates.push((
            block.number(),
            reference.lazy.conflict_rate,
            reference.naive.conflict_rate,
        ));
    }
    // Real blocks: the lazy updates remove most conflicts.
    let lazy: f64 = rates.iter().map(|r| r.1).sum::<f64>() / rates.len() as f64;
    let naive: f64 = rates.iter().map(|r| r.2).sum::<f64>() / rates.len() as f64;
    println!(
        "mean conflict rate over {} blocks: lazy {lazy:.3}, naive {naive:.3}",
        rates.len()
    );
    assert!(naive > lazy);
}

/// Block 12,520,364 is 650 transactions of one sender among 660: a chain through the sender's
/// nonce. At 2 threads its transactions wait for the one below (the dependency hint) rather
/// than run early and be aborted, and the replay still equals the sequential one. A replay
/// whose helper got no CPU (a loaded machine: the caller then executes the chain alone)
/// waits on no hint, so the test replays until one does, up to `REPLAYS` times.
#[test]
fn one_senders_batch_waits_on_its_hints() {
    const REPLAYS: usize = 50;
    let chain = ChainSpec::mainnet();
    let block = load_one(12_520_364);
    let seq = replay_sequential(&block, &chain).unwrap_or_else(|e| panic!("{e}"));
    let engine = ParallelEngine::new(NonZeroUsize::new(2).unwrap()).unwrap();
    let mut waits = 0;
    for _ in 0..REPLAYS {
        let par = replay_at(&engine, &block, &chain, 2);
        assert_same(block.number(), 2, &seq, &par.replay);
        waits += par.counters.hint_waits;
        if waits > 0 {
            break;
        }
    }
    assert!(
        waits > 0,
        "no transaction waited on its hint in {REPLAYS} replays"
    );
}

/// Block 2,462,997 (the 2016 attacks) is 9 transactions that write 7,732 locations, mostly
/// empty accounts touched by self-destructs: too few transactions for two chunks of traces,
/// enough writes that the helpers build them beside the commit. The traces are one
/// thread's, and the replay the sequential one, at every thread count.
#[test]
fn a_few_transactions_of_many_writes_share_their_traces() {
    let chain = ChainSpec::mainnet();
    let block = load_one(2_462_997);
    let seq = replay_sequential(&block, &chain).unwrap_or_else(|e| panic!("{e}"));
    let engine = ParallelEngine::new(NonZeroUsize::new(4).unwrap()).unwrap();
    let replay = |threads: usize| {
        let par = replay_at(&engine, &block, &chain, threads);
        assert_same(block.number(), threads, &seq, &par.replay);
        par
    };
    let one = replay(1);
    let writes: usize = one
        .traces
        .iter()
        .map(|t| t.writes.len() + t.credits.len())
        .sum();
    assert!(writes >= 4096, "block 2462997 writes {writes} locations");
    for threads in [2, 3, 4] {
        if let Some(difference) = one.first_trace_difference(&replay(threads)) {
            panic!("at {threads} threads: {difference}");
        }
    }
}

/// Block 19,932,703's last transaction verifies a proof (BN254 pairings: 4.5% of the
/// block's gas, more than half its execution time), and block 17,034,869's largest calldata
/// are swaps that read what lower transactions write. With their senders known, a helper
/// starts them ahead of the block order (`early.rs`): held back until the block order
/// reaches them, or given up when stale. Each replay equals the sequential one, and its
/// traces one thread's, at every thread count; a replay whose helper got no CPU starts
/// nothing early, so each block replays until one did, up to `REPLAYS` times.
#[test]
fn long_transactions_start_early_and_change_nothing() {
    const REPLAYS: usize = 50;
    let chain = ChainSpec::mainnet();
    let engine = ParallelEngine::new(NonZeroUsize::new(4).unwrap()).unwrap();
    for number in [19_932_703, 17_034_869] {
        let block = load_one(number);
        let senders = block
            .recover_senders(block.fork(&chain))
            .unwrap_or_else(|e| panic!("{e}"));
        let seq = replay_sequential(&block, &chain).unwrap_or_else(|e| panic!("{e}"));
        let replay = |threads: usize| {
            let threads_given = NonZeroUsize::new(threads).unwrap();
            let par = engine
                .replay_with_senders(&block, &chain, threads_given, &senders)
                .unwrap_or_else(|e| panic!("block {number} at {threads} threads: {e}"));
            assert_same(number, threads, &seq, &par.replay);
            par
        };
        let one = replay(1);
        assert_eq!(one.counters.early_starts, 0, "block {number}: one thread");
        let mut early = 0;
        for round in 0..REPLAYS {
            for threads in [2, 3, 4] {
                let par = replay(threads);
                if let Some(difference) = one.first_trace_difference(&par) {
                    panic!("block {number} at {threads} threads: {difference}");
                }
                early += par.counters.early_starts;
            }
            if early > 0 && round >= 2 {
                break;
            }
        }
        assert!(early > 0, "block {number}: nothing started early");
    }
}
