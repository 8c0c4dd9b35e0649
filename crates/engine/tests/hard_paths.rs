//! Proof that Block-STM's hard paths run: on contended workloads at 4 and 8 threads, repeated,
//! validations abort incarnations, executions read ESTIMATE markers and suspend on their
//! writer, and every one of those runs still equals the sequential replay.
//!
//! The equality suites alone cannot show this: on a machine with few cores they may pass with
//! nearly serial execution, where nothing is ever aborted. The counters come from
//! [`ParallelReplay::counters`](replay_evm::parallel::ParallelReplay): `aborts` counts
//! incarnations aborted by a failed validation, `estimate_reads` reads that met an ESTIMATE,
//! and `suspensions` the executions that then waited for the writer (an ESTIMATE read whose
//! writer has already re-executed restarts at once instead).
//!
//! Thread timing decides how often the hard paths occur, never whether the result is right:
//! a workload is repeated until both counters have been seen (at most [`MAX_REPEATS`] times
//! per thread count), so the assertion is about what happened, not about how fast.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::num::NonZeroUsize;

use replay_evm::{
    block::ArchivedBlock,
    chain::ChainSpec,
    parallel::{Concurrency, Counters, Mode, ParallelEngine},
    sequential::{BlockReplay, replay_sequential},
    verify::verify,
};
use replay_evm_workload::{Workload, dependency_chain, generate};

/// Repeats of one block at one thread count, at least.
const MIN_REPEATS: usize = 5;
/// Repeats of one block at one thread count, at most, while a counter is still unseen.
const MAX_REPEATS: usize = 200;
/// Thread counts under test.
const THREADS: [usize; 2] = [4, 8];

/// The sum of the counters of several runs.
fn add(total: &mut Counters, run: &Counters) {
    total.executions += run.executions;
    total.validations += run.validations;
    total.aborts += run.aborts;
    total.estimate_reads += run.estimate_reads;
    total.suspensions += run.suspensions;
}

/// Replays `block` with Block-STM at 4 and 8 threads, repeatedly, checking every run against
/// the sequential replay, and returns the counters summed over all runs plus the number of
/// runs.
fn run_repeatedly(
    engine: &ParallelEngine,
    name: &str,
    block: &ArchivedBlock,
    stop_when_seen: bool,
) -> (Counters, usize) {
    let chain = ChainSpec::mainnet();
    let seq = replay_sequential(block, &chain).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut total = Counters::default();
    let mut runs = 0;
    for threads in THREADS {
        let concurrency = Concurrency::Threads(NonZeroUsize::new(threads).unwrap());
        let mut here = Counters::default();
        for repeat in 0..MAX_REPEATS {
            let par = engine
                .replay(block, &chain, concurrency)
                .unwrap_or_else(|e| panic!("{name} at {threads} threads, run {repeat}: {e}"));
            assert_eq!(par.mode, Mode::BlockStm);
            assert_eq!(par.threads, threads);
            assert_equal(name, threads, repeat, &seq, &par.replay);
            verify(block.header(), &par.replay)
                .unwrap_or_else(|e| panic!("{name} at {threads} threads, run {repeat}: {e}"));
            add(&mut here, &par.counters);
            runs += 1;
            let seen = here.aborts > 0 && here.estimate_reads > 0 && here.suspensions > 0;
            if repeat + 1 >= MIN_REPEATS && (seen || !stop_when_seen) {
                break;
            }
        }
        println!(
            "{name} at {threads} threads: {} txs, executions {}, validations {}, aborts {}, \
             ESTIMATE reads {}, suspensions {}",
            block.transactions().len(),
            here.executions,
            here.validations,
            here.aborts,
            here.estimate_reads,
            here.suspensions
        );
        add(&mut total, &here);
    }
    (total, runs)
}

fn assert_equal(name: &str, threads: usize, repeat: usize, seq: &BlockReplay, par: &BlockReplay) {
    if let Some(difference) = seq.first_difference(par) {
        panic!("{name} at {threads} threads, run {repeat}: {difference}");
    }
}

fn engine() -> ParallelEngine {
    ParallelEngine::new(NonZeroUsize::new(8).unwrap())
        .unwrap()
        .with_write_set_check(true)
}

/// The contended blocks: every transaction depends on an earlier one through shared storage.
fn contended_blocks() -> Vec<(&'static str, ArchivedBlock)> {
    vec![
        ("dependency-chain", dependency_chain(21, 96).unwrap().block),
        (
            "amm-one-pool",
            generate(Workload::AmmOnePool, 21, 120).unwrap(),
        ),
        (
            "erc20-hot",
            generate(Workload::Erc20HotHolder, 21, 120).unwrap(),
        ),
    ]
}

/// Every contended block aborts incarnations and re-executes transactions at 4 and 8
/// threads; over all of them, executions read ESTIMATE markers and suspend on their writers.
/// (ESTIMATE reads need an aborted transaction that has not re-executed yet when a later one
/// reads its location, a narrower window than an abort's: on a loaded two-core machine one
/// workload alone can go dozens of runs without one, so they are asserted over all three.)
#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn contended_blocks_abort_read_estimates_and_suspend() {
    let engine = engine();
    let mut all = Counters::default();
    let mut all_runs = 0;
    for (name, block) in contended_blocks() {
        let (total, runs) = run_repeatedly(&engine, name, &block, true);
        let txs = block.transactions().len() as u64;
        assert!(
            total.aborts > 0,
            "{name}: no incarnation was aborted in {runs} runs ({total:?})"
        );
        assert!(
            total.executions > txs * runs as u64,
            "{name}: no transaction was re-executed in {runs} runs ({total:?})"
        );
        add(&mut all, &total);
        all_runs += runs;
    }
    println!("contended blocks, {all_runs} runs: {all:?}");
    assert!(
        all.estimate_reads > 0,
        "no read met an ESTIMATE in {all_runs} runs ({all:?})"
    );
    assert!(
        all.suspensions > 0,
        "no execution suspended on a writer in {all_runs} runs ({all:?})"
    );
}

/// Transfers to one address conflict only through the recipient's balance, which the lazy
/// credits keep out of the read sets: they must equal sequential at every repeat (their
/// counters are printed, not asserted).
#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn transfers_to_one_address_equal_sequential_when_repeated() {
    let engine = engine();
    for workload in [Workload::RawTransfersToOne, Workload::MixedDefi] {
        let block = generate(workload, 21, 150).unwrap();
        let (total, runs) = run_repeatedly(&engine, workload.name(), &block, false);
        assert_eq!(runs, MIN_REPEATS * THREADS.len());
        assert!(total.executions >= block.transactions().len() as u64 * runs as u64);
    }
}
