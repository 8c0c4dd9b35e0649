//! Every way the engine can run a block (Block-STM, in-order execution with parallel sender
//! recovery, and the adaptive choice between them) gives the sequential oracle's result, and
//! the sequential oracle's error when the block is bad.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::num::NonZeroUsize;

use alloy_consensus::{Signed, TxEnvelope};
use alloy_primitives::{Signature, U256};
use replay_evm::{
    block::ArchivedBlock,
    block_dir::load_block_dir,
    chain::{ChainSpec, Fork},
    fixtures::{fixtures_dir, mainnet_block_dirs},
    parallel::{Concurrency, CostModel, Mode, ParallelEngine, Phases},
    sequential::replay_sequential,
    verify::verify,
};
use replay_evm_workload::{
    Workload, dependency_chain, deploy_then_call, execution_requests, generate,
    selfdestruct_then_redeploy,
};

fn n(threads: usize) -> NonZeroUsize {
    NonZeroUsize::new(threads).unwrap()
}

fn engine() -> ParallelEngine {
    ParallelEngine::new(n(8))
        .unwrap()
        .with_write_set_check(true)
}

/// Every mode at several thread counts.
fn concurrencies() -> Vec<Concurrency> {
    let mut all = Vec::new();
    for t in [1, 2, 3, 4, 8] {
        all.extend([
            Concurrency::Threads(n(t)),
            Concurrency::InOrder(n(t)),
            Concurrency::Adaptive(n(t)),
        ]);
    }
    all.push(Concurrency::Auto);
    all
}

fn assert_every_mode_equals_sequential(engine: &ParallelEngine, block: &ArchivedBlock) {
    let chain = ChainSpec::mainnet();
    let name = block.number();
    let seq = replay_sequential(block, &chain).unwrap_or_else(|e| panic!("{e}"));
    for concurrency in concurrencies() {
        let par = engine
            .replay(block, &chain, concurrency)
            .unwrap_or_else(|e| panic!("block {name}, {concurrency:?}: {e}"));
        assert_eq!(
            (par.mode, par.threads),
            engine.plan(concurrency, block),
            "block {name}, {concurrency:?}: ran as planned"
        );
        verify(block.header(), &par.replay).unwrap_or_else(|e| panic!("{concurrency:?}: {e}"));
        let what = format!("block {name}, {concurrency:?} ({})", par.mode.as_str());
        if let Some(difference) = seq.first_difference(&par.replay) {
            panic!("{what}: {difference}");
        }
        match par.mode {
            Mode::BlockStm => {
                assert_eq!(par.traces.len(), block.transactions().len());
                // The phases partition the replay's wall time, less their rounding (under
                // a microsecond each).
                let phases = par.phases.unwrap_or_else(|| panic!("{what}: no phases"));
                let short = par.replay.wall_us.checked_sub(phases.total_us());
                assert!(
                    short.is_some_and(|us| us < Phases::NAMES.len() as u64),
                    "{what}: phases {phases:?} against {} us",
                    par.replay.wall_us
                );
            }
            Mode::InOrder => {
                assert!(par.traces.is_empty());
                assert!(par.phases.is_none(), "{what}");
                assert_eq!(par.counters.executions, block.transactions().len() as u64);
            }
        }
    }
}

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn every_mode_equals_sequential_on_mainnet_blocks() {
    let engine = engine();
    let dirs = mainnet_block_dirs().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dirs.len(), 47, "expected the 47 shared mainnet blocks");
    for dir in dirs {
        let block = load_block_dir(&dir, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_every_mode_equals_sequential(&engine, &block);
    }
}

#[test]
fn every_mode_equals_sequential_on_workloads() {
    let engine = engine();
    for workload in Workload::ALL {
        let block = generate(workload, 11, 120).unwrap_or_else(|e| panic!("{workload}: {e}"));
        assert_every_mode_equals_sequential(&engine, &block);
    }
}

#[test]
fn every_mode_equals_sequential_on_corner_scenarios() {
    let engine = engine();
    for block in [
        deploy_then_call(5).unwrap().block,
        selfdestruct_then_redeploy(5).unwrap().block,
        dependency_chain(5, 64).unwrap().block,
    ] {
        assert_every_mode_equals_sequential(&engine, &block);
    }
}

/// Transactions queue EIP-7002 and EIP-7251 requests in the system contracts, whose storage
/// the post-block system calls then read and dequeue: Block-STM hands those calls the
/// transactions' final state (`FinalDb`) and merges what both changed, at every thread
/// count, as the sequential replay does.
#[test]
fn execution_requests_queued_by_transactions_and_dequeued_after_them_equal_sequential() {
    let chain = ChainSpec::single_fork(1, Fork::Prague);
    let scenario = execution_requests(7, 9).unwrap_or_else(|e| panic!("{e}"));
    let block = scenario.block;
    let seq = replay_sequential(&block, &chain).unwrap_or_else(|e| panic!("{e}"));
    verify(block.header(), &seq).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        seq.requests_hash,
        Some(alloy_eips::eip7685::EMPTY_REQUESTS_HASH),
        "the post-block calls dequeued requests"
    );
    let queue = seq.state_changes.accounts.get(&scenario.contract);
    assert!(
        queue.is_some_and(|change| !change.storage.is_empty()),
        "the request contract's storage changed: {queue:?}"
    );
    let engine = engine();
    for threads in [1, 2, 4] {
        let par = engine
            .replay(&block, &chain, Concurrency::Threads(n(threads)))
            .unwrap_or_else(|e| panic!("{threads} threads: {e}"));
        verify(block.header(), &par.replay).unwrap_or_else(|e| panic!("{threads} threads: {e}"));
        if let Some(difference) = seq.first_difference(&par.replay) {
            panic!("{threads} threads: {difference}");
        }
    }
}

/// The adaptive engine falls back to in-order execution where the cost model says Block-STM
/// would lose: on one thread always, and at two threads on every mainnet fixture, where
/// sender recovery is most of the work.
#[test]
fn adaptive_mode_falls_back_to_in_order_execution() {
    let engine = engine();
    for dir in mainnet_block_dirs().unwrap_or_else(|e| panic!("{e}")) {
        let block = load_block_dir(&dir, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            engine.plan(Concurrency::Adaptive(n(1)), &block),
            (Mode::InOrder, 1)
        );
        assert_eq!(
            engine.plan(Concurrency::Adaptive(n(2)), &block),
            (Mode::InOrder, 2),
            "block {}",
            block.number()
        );
        // Explicit modes are honoured, capped by the pool.
        assert_eq!(
            engine.plan(Concurrency::Threads(n(16)), &block),
            (Mode::BlockStm, 8)
        );
        assert_eq!(
            engine.plan(Concurrency::InOrder(n(3)), &block),
            (Mode::InOrder, 3)
        );
    }
}

#[test]
fn the_cost_model_picks_block_stm_only_for_execution_heavy_blocks_on_several_threads() {
    let model = CostModel::MEASURED;
    // 1,100 transactions of 30 Mgas (a full post-London block): recovery-bound, in order.
    for threads in [2, 4, 8, 16] {
        assert!(!model.block_stm_wins(1_100, 30_000_000, threads));
    }
    // 20 transactions of 30 Mgas (compute-heavy contracts): execution-bound, so in-order
    // execution cannot scale; Block-STM's part that does not shrink with threads (0.57 of
    // the execution) lets it win from 4 threads, not at 2.
    assert!(!model.block_stm_wins(20, 30_000_000, 2));
    assert!(model.block_stm_wins(20, 30_000_000, 4));
    assert!(model.block_stm_wins(20, 30_000_000, 8));
    assert!(model.block_stm_us(20, 30_000_000, 16) < model.block_stm_us(20, 30_000_000, 8));
    // Never for one transaction, whatever the threads.
    assert!(!model.block_stm_wins(1, 30_000_000, 64));
    // In-order mode is never predicted slower than one thread's sequential work.
    let (txs, gas) = (200, 10_000_000);
    assert!(model.in_order_us(txs, gas, 2) <= model.in_order_us(txs, gas, 1));
}

/// A copy of `tx` whose signature recovers no key.
fn unsigned(tx: &TxEnvelope) -> TxEnvelope {
    let bad = Signature::new(U256::ZERO, U256::ZERO, false);
    match tx {
        TxEnvelope::Legacy(s) => {
            TxEnvelope::Legacy(Signed::new_unchecked(s.tx().clone(), bad, *s.hash()))
        }
        TxEnvelope::Eip1559(s) => {
            TxEnvelope::Eip1559(Signed::new_unchecked(s.tx().clone(), bad, *s.hash()))
        }
        other => panic!(
            "fixture transaction of unexpected type {:?}",
            other.tx_type()
        ),
    }
}

/// With an invalid transaction early and a bad signature later, every mode reports what the
/// sequential replay reports: it recovers every sender before executing, so the signature.
#[test]
fn errors_are_the_sequential_replays_in_every_mode() {
    let engine = engine();
    let chain = ChainSpec::mainnet();
    let dir = fixtures_dir()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("mainnet/930196");
    let good = load_block_dir(&dir, 1).unwrap_or_else(|e| panic!("{e}"));
    assert!(good.transactions().len() >= 12);
    let senders = good.recover_senders(good.fork(&chain)).unwrap();

    let mut bad_signature = good.clone();
    bad_signature.block.body.transactions[10] = unsigned(&good.transactions()[10]);
    let mut bad_nonce = good.clone();
    let mut sender = bad_nonce.pre_state.account(&senders[2]).unwrap().clone();
    sender.nonce += 5;
    bad_nonce.pre_state.insert_account(senders[2], sender);
    let mut both = bad_nonce.clone();
    both.block.body.transactions[10] = unsigned(&good.transactions()[10]);

    for (case, block, expect) in [
        ("bad signature", &bad_signature, "transaction 10"),
        ("bad nonce", &bad_nonce, "transaction 2"),
        ("both", &both, "transaction 10"),
    ] {
        let seq = replay_sequential(block, &chain)
            .expect_err(case)
            .to_string();
        assert!(seq.contains(expect), "{case}: {seq}");
        for concurrency in concurrencies() {
            let par = engine
                .replay(block, &chain, concurrency)
                .expect_err(case)
                .to_string();
            assert_eq!(par, seq, "{case}, {concurrency:?}");
        }
    }
}
