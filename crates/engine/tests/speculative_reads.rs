//! A read error inside a speculative Block-STM incarnation is that incarnation's outcome,
//! never the block's: only the last, validated incarnation counts.
//!
//! `stale_blockhash`'s readers ask for an ancestor hash the block does not hold only when
//! they run before transaction 0's write is visible, which happens at 2 threads and more
//! (transaction 0 burns ~1.7 Mgas before it writes). Before the fix, such a run failed the
//! whole block with "BLOCKHASH(n) is not in the archived ancestor hashes".

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::num::NonZeroUsize;

use replay_evm::{
    block_dir::load_block_dir,
    chain::ChainSpec,
    fixtures::fixtures_dir,
    parallel::{Concurrency, ParallelEngine},
    pre_state::PreState,
    sequential::replay_sequential,
    verify::verify,
};
use replay_evm_workload::stale_blockhash;

fn n(threads: usize) -> NonZeroUsize {
    NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN)
}

#[test]
fn a_stale_blockhash_read_is_re_executed_not_final() {
    let block = stale_blockhash(1, 32)
        .unwrap_or_else(|e| panic!("{e}"))
        .block;
    let chain = ChainSpec::mainnet();
    let sequential = replay_sequential(&block, &chain).unwrap_or_else(|e| panic!("{e}"));
    verify(block.header(), &sequential).unwrap_or_else(|e| panic!("{e}"));
    let engine = ParallelEngine::new(n(8))
        .unwrap_or_else(|e| panic!("{e}"))
        .with_write_set_check(true);
    let mut aborts = 0;
    for round in 0..10 {
        for threads in [1, 2, 3, 4, 8] {
            let concurrency = Concurrency::Threads(n(threads));
            let parallel = engine
                .replay(&block, &chain, concurrency)
                .unwrap_or_else(|e| panic!("round {round}, {threads} threads: {e}"));
            if let Some(difference) = sequential.first_difference(&parallel.replay) {
                panic!("round {round}, {threads} threads: {difference}");
            }
            aborts += parallel.counters.aborts;
        }
    }
    // The readers that ran early read the flag stale: validation must have caught them.
    assert!(
        aborts > 0,
        "no reader ever ran before transaction 0's write"
    );
}

#[test]
fn a_read_error_of_the_real_execution_is_the_sequential_error_in_every_mode() {
    // A mainnet block that uses BLOCKHASH, with its archived ancestor hashes dropped: the
    // real (sequential) execution cannot run, and every mode must say so as it does.
    let dir = fixtures_dir()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("mainnet/11114732");
    let mut block = load_block_dir(&dir, 1).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !block.pre_state.block_hashes().is_empty(),
        "fixture uses BLOCKHASH"
    );
    let mut pre = PreState::new();
    for (address, account) in block.pre_state.sorted_accounts() {
        pre.insert_account(*address, account.clone());
    }
    block.pre_state = pre;
    let chain = ChainSpec::mainnet();
    let expected = replay_sequential(&block, &chain)
        .err()
        .unwrap_or_else(|| panic!("the sequential replay must fail"))
        .to_string();
    assert!(expected.contains("BLOCKHASH"), "{expected}");
    let engine = ParallelEngine::new(n(8)).unwrap_or_else(|e| panic!("{e}"));
    for threads in [1, 2, 4, 8] {
        for concurrency in [
            Concurrency::Threads(n(threads)),
            Concurrency::InOrder(n(threads)),
            Concurrency::Adaptive(n(threads)),
        ] {
            let error = engine
                .replay(&block, &chain, concurrency)
                .err()
                .unwrap_or_else(|| panic!("{concurrency:?} must fail"));
            assert_eq!(error.to_string(), expected, "{concurrency:?}");
        }
    }
}
