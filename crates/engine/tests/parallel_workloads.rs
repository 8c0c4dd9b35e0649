//! Generated blocks of every workload, plus deploy-then-call, self-destruct then redeploy and
//! a dependency chain: the parallel engine equals the sequential oracle at several thread
//! counts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::num::NonZeroUsize;

use replay_evm::{
    block::ArchivedBlock,
    chain::ChainSpec,
    parallel::{Concurrency, ParallelEngine},
    sequential::replay_sequential,
    verify::verify,
};
use replay_evm_workload::{
    Workload, dependency_chain, deploy_then_call, generate, selfdestruct_then_redeploy,
};

fn assert_parallel_equals_sequential(name: &str, block: &ArchivedBlock, engine: &ParallelEngine) {
    let chain = ChainSpec::mainnet();
    let seq = replay_sequential(block, &chain).unwrap_or_else(|e| panic!("{name}: {e}"));
    for threads in [1, 2, 3, 4, 8] {
        let par = engine
            .replay(
                block,
                &chain,
                Concurrency::Threads(NonZeroUsize::new(threads).unwrap()),
            )
            .unwrap_or_else(|e| panic!("{name} at {threads} threads: {e}"));
        verify(block.header(), &par.replay).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(difference) = seq.first_difference(&par.replay) {
            panic!("{name} at {threads} threads: {difference}");
        }
    }
}

#[test]
fn every_workload_equals_sequential() {
    let engine = ParallelEngine::new(NonZeroUsize::new(8).unwrap())
        .unwrap()
        .with_write_set_check(true);
    for workload in Workload::ALL {
        let block = generate(workload, 7, 150).unwrap_or_else(|e| panic!("{workload}: {e}"));
        assert_parallel_equals_sequential(workload.name(), &block, &engine);
    }
}

/// A transaction's trace is its last incarnation's read and write sets, which Block-STM makes
/// the sequential execution's: the same at every thread count, whether the worker built it
/// as the incarnation finished (every one at one thread, those on the committed prefix at
/// more) or the commit built it after the worker loop.
#[test]
fn traces_do_not_depend_on_the_thread_count() {
    let chain = ChainSpec::mainnet();
    let engine = ParallelEngine::new(NonZeroUsize::new(8).unwrap()).unwrap();
    let replay = |block: &ArchivedBlock, threads: usize| {
        let n = NonZeroUsize::new(threads).unwrap();
        engine
            .replay(block, &chain, Concurrency::Threads(n))
            .unwrap_or_else(|e| panic!("{threads} threads: {e}"))
    };
    for workload in Workload::ALL {
        let block = generate(workload, 5, 300).unwrap_or_else(|e| panic!("{workload}: {e}"));
        let one = replay(&block, 1);
        assert_eq!(one.traces.len(), block.transactions().len());
        for trace in &one.traces {
            assert_eq!(
                trace.incarnations, 1,
                "{workload}, transaction {}: one thread never re-executes",
                trace.index
            );
        }
        // The comparison sees a trace that lost a write.
        let mut changed = one.clone();
        let last = changed.traces.last_mut().unwrap();
        last.writes.pop().unwrap();
        let difference = one.first_trace_difference(&changed).unwrap();
        assert!(
            difference.contains("writes differ"),
            "{workload}: {difference}"
        );
        for threads in [2, 3, 4, 8] {
            if let Some(difference) = one.first_trace_difference(&replay(&block, threads)) {
                panic!("{workload} at {threads} threads: {difference}");
            }
        }
    }
}

/// As measurements run it: without the self-check, on blocks large enough (at least 256
/// transactions, 4,096 writes) that the memory is freed on another thread while the final
/// state is folded in several shares.
#[test]
fn large_workload_blocks_equal_sequential_without_the_self_check() {
    let engine = ParallelEngine::new(NonZeroUsize::new(8).unwrap()).unwrap();
    for workload in [
        Workload::RawTransfers,
        Workload::MixedDefi,
        Workload::AmmOnePool,
    ] {
        let block = generate(workload, 11, 1200).unwrap_or_else(|e| panic!("{workload}: {e}"));
        assert_parallel_equals_sequential(workload.name(), &block, &engine);
    }
}

#[test]
fn corner_scenarios_equal_sequential() {
    let engine = ParallelEngine::new(NonZeroUsize::new(8).unwrap())
        .unwrap()
        .with_write_set_check(true);
    let scenarios = [
        ("deploy-then-call", deploy_then_call(3).unwrap().block),
        (
            "selfdestruct-then-redeploy",
            selfdestruct_then_redeploy(3).unwrap().block,
        ),
        ("dependency-chain", dependency_chain(3, 64).unwrap().block),
    ];
    for (name, block) in &scenarios {
        assert_parallel_equals_sequential(name, block, &engine);
    }
}
