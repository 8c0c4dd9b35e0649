//! The machine's ceiling for EVM execution, round by round, beside Block-STM's
//! execution-only speedup on a block:
//!
//! ```sh
//! cargo build --release -p replay-evm-bench --example exec_ceiling
//! target/release/examples/exec_ceiling erc20-disjoint 200000000 2 40
//! ```
//!
//! Arguments: a workload, the gas of its block, the thread count, the number of rounds.
//! The bench's own ceiling (`ceiling.rs`) is sender recovery, work that stays in each core's
//! cache. This one is the sequential engine itself on independent work: a calibration block
//! of the same workload (40 Mgas, another seed) cut into one part per thread, the parts
//! replayed one after the other on one thread and then one on each thread of a pool at once,
//! sharing nothing but the process. No parallel engine could beat that ratio on that work
//! at that moment. Each round then times the sequential and the Block-STM replay of the
//! block (senders recovered before the clock, as the bench's execution-only timing), and
//! the program prints both ratios of every round, their medians and their correlation.
//!
//! The workload's senders must not depend on one another across the parts (every part
//! must replay without a failed transaction): raw-transfers, erc20-disjoint, amm-many-pools.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{num::NonZeroUsize, time::Instant};

use replay_evm::{
    block::ArchivedBlock,
    chain::ChainSpec,
    parallel::ParallelEngine,
    sequential::{TxStatus, replay_sequential_with_senders},
};
use replay_evm_workload::{Workload, generate_gas};

/// The allocator of every ReplayEVM binary, so that the probe measures what the bench does.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gas of the calibration block: about 15 ms of sequential replay of erc20-disjoint here.
const CALIBRATION_GAS: u64 = 40_000_000;

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, workload, gas, threads, rounds] = &args[..] else {
        panic!("usage: exec_ceiling WORKLOAD GAS THREADS ROUNDS");
    };
    let chain = ChainSpec::mainnet();
    let workload: Workload = workload.parse().unwrap();
    let threads = NonZeroUsize::new(threads.parse().unwrap()).unwrap();
    let rounds: usize = rounds.parse().unwrap();

    // The calibration block, one part per thread, each with its senders.
    let calibration = generate_gas(workload, 2, CALIBRATION_GAS).unwrap();
    let senders = calibration
        .recover_senders(calibration.fork(&chain))
        .unwrap();
    let per_part = senders.len().div_ceil(threads.get());
    let parts: Vec<(ArchivedBlock, &[_])> = senders
        .chunks(per_part)
        .enumerate()
        .map(|(i, part_senders)| {
            let mut part = calibration.clone();
            part.block.body.transactions = calibration.transactions()
                [i * per_part..i * per_part + part_senders.len()]
                .to_vec();
            let replay = replay_sequential_with_senders(&part, &chain, part_senders).unwrap();
            assert!(
                replay
                    .transactions
                    .iter()
                    .all(|tx| matches!(tx.status, TxStatus::Success)),
                "part {i} of the calibration block has a failed transaction: its senders \
                 depend on another part's"
            );
            (part, part_senders)
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.get())
        .build()
        .unwrap();

    let block = generate_gas(workload, 1, gas.parse().unwrap()).unwrap();
    let block_senders = block.recover_senders(block.fork(&chain)).unwrap();
    let engine = ParallelEngine::new(threads).unwrap();

    let (mut ceilings, mut speedups) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let started = Instant::now();
        for (part, part_senders) in &parts {
            replay_sequential_with_senders(part, &chain, part_senders).unwrap();
        }
        let one = started.elapsed().as_secs_f64();
        let started = Instant::now();
        pool.broadcast(|ctx| {
            if let Some((part, part_senders)) = parts.get(ctx.index()) {
                replay_sequential_with_senders(part, &chain, part_senders).unwrap();
            }
        });
        let many = started.elapsed().as_secs_f64();

        let started = Instant::now();
        replay_sequential_with_senders(&block, &chain, &block_senders).unwrap();
        let sequential = started.elapsed().as_secs_f64();
        let started = Instant::now();
        engine
            .replay_with_senders(&block, &chain, threads, &block_senders)
            .unwrap();
        let parallel = started.elapsed().as_secs_f64();

        ceilings.push(one / many);
        speedups.push(sequential / parallel);
        println!(
            "round {round}: execution ceiling {:.3}x, Block-STM execution-only {:.3}x",
            one / many,
            sequential / parallel
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mc, ms) = (mean(&ceilings), mean(&speedups));
    let covariance: f64 = ceilings
        .iter()
        .zip(&speedups)
        .map(|(c, s)| (c - mc) * (s - ms))
        .sum();
    let spread = |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>().sqrt();
    println!(
        "medians: execution ceiling {:.3}x, Block-STM execution-only {:.3}x; correlation {:.2}",
        median(&ceilings),
        median(&speedups),
        covariance / (spread(&ceilings, mc) * spread(&speedups, ms)).max(1e-12)
    );
}
