//! Execution-only replays: the senders recovered beforehand, sequentially and under
//! Block-STM, give the same results as the end-to-end replays (the oracle compares them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::num::NonZeroUsize;

use alloy_primitives::Address;
use replay_evm::{
    block::ArchivedBlock,
    block_dir::load_block_dir,
    chain::ChainSpec,
    error::{EngineError, ReplayError},
    fixtures::fixtures_dir,
    parallel::{ParallelEngine, ParallelReplay},
    sequential::{BlockReplay, replay_sequential, replay_sequential_with_senders},
};

#[test]
fn replays_with_known_senders_equal_the_end_to_end_replays() {
    let chain = ChainSpec::mainnet();
    let engine = ParallelEngine::new(NonZeroUsize::new(4).unwrap()).unwrap();
    for number in ["46147", "9068998", "13217637", "19932703"] {
        let block = mainnet_block(number);
        let oracle = replay_sequential(&block, &chain).unwrap();
        let senders = block.recover_senders(block.fork(&chain)).unwrap();
        let sequential = replay_sequential_with_senders(&block, &chain, &senders).unwrap();
        assert_eq!(oracle.first_difference(&sequential), None, "block {number}");
        for threads in [1, 2, 4] {
            replay_equals_oracle(&engine, &block, threads, &senders, &oracle);
        }
    }
}

/// A mainnet fixture's block.
fn mainnet_block(number: &str) -> ArchivedBlock {
    let dir = fixtures_dir().unwrap().join("mainnet").join(number);
    load_block_dir(&dir, 1).unwrap()
}

/// Block-STM's replay of `block` on `threads` threads with the senders given, checked
/// equal to the `oracle`'s end-to-end replay.
fn replay_equals_oracle(
    engine: &ParallelEngine,
    block: &ArchivedBlock,
    threads: usize,
    senders: &[Address],
    oracle: &BlockReplay,
) -> ParallelReplay {
    let chain = ChainSpec::mainnet();
    let threads = NonZeroUsize::new(threads).unwrap();
    let parallel = engine
        .replay_with_senders(block, &chain, threads, senders)
        .unwrap();
    assert_eq!(
        oracle.first_difference(&parallel.replay),
        None,
        "block {} at {threads} threads",
        block.number()
    );
    parallel
}

#[test]
fn a_sender_list_of_the_wrong_length_is_an_invariant_error() {
    let chain = ChainSpec::mainnet();
    let block = mainnet_block("13217637");
    let mut senders = block.recover_senders(block.fork(&chain)).unwrap();
    senders.pop();
    let engine = ParallelEngine::new(NonZeroUsize::new(2).unwrap()).unwrap();
    let errors = [
        replay_sequential_with_senders(&block, &chain, &senders).unwrap_err(),
        engine
            .replay_with_senders(&block, &chain, NonZeroUsize::MIN, &senders)
            .unwrap_err(),
    ];
    for err in errors {
        assert!(
            matches!(err, ReplayError::Engine(EngineError::Invariant { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains("senders given for"), "{err}");
    }
}

/// A block that is one sender's chain (mainnet 5891667: 380 transactions, 11814555: 579,
/// at least 99% of each from one sender) runs on one worker when its senders are known: a
/// second worker would mostly wait, on each transaction's hint, for the one below it. On
/// one worker every incarnation starts on the committed prefix, so none waits, suspends or
/// is validated, and the result is still the oracle's.
#[test]
fn a_block_that_is_one_senders_chain_runs_on_one_worker() {
    let chain = ChainSpec::mainnet();
    let engine = ParallelEngine::new(NonZeroUsize::new(4).unwrap()).unwrap();
    for number in ["5891667", "11814555"] {
        let block = mainnet_block(number);
        let oracle = replay_sequential(&block, &chain).unwrap();
        let senders = block.recover_senders(block.fork(&chain)).unwrap();
        let first = senders
            .iter()
            .filter(|sender| **sender == senders[0])
            .count();
        assert!(
            first * 100 >= senders.len() * 99,
            "block {number}: {first} of {} transactions from its first sender",
            senders.len()
        );
        for threads in [2, 4] {
            let parallel = replay_equals_oracle(&engine, &block, threads, &senders, &oracle);
            // The replay reports the threads it was given.
            assert_eq!(parallel.threads, threads);
            let counters = parallel.counters;
            assert_eq!(counters.executions, senders.len() as u64, "block {number}");
            assert_eq!(
                (
                    counters.validations,
                    counters.hint_waits,
                    counters.suspensions
                ),
                (0, 0, 0),
                "block {number} at {threads} threads ran on more than one worker"
            );
        }
    }
}
