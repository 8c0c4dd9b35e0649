//! Replays one block execution-only in a loop, sequential or Block-STM, for a profiler:
//!
//! ```sh
//! cargo build --release -p replay-evm-bench --example exec_loop
//! perf record -g -- target/release/examples/exec_loop raw-transfers 100000000 par 1 20
//! ```
//!
//! Arguments: a workload name or a mainnet block folder, the gas of a generated block, `seq`
//! or `par` (execution-only) or `seq-e2e` or `par-e2e` (senders recovered inside the
//! replay), or `ab` or `ab-e2e` (each round replays both, in alternating order, and the
//! median of the rounds' ratios is printed: on a machine whose speed drifts, a ratio within
//! a round holds where two runs' medians do not), the thread count, the number of replays.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{num::NonZeroUsize, time::Instant};

use replay_evm::{
    block_dir::load_block_dir,
    chain::ChainSpec,
    parallel::{Concurrency, ParallelEngine},
    sequential::{replay_sequential, replay_sequential_with_senders},
};
use replay_evm_workload::{Workload, generate_gas};

/// The allocator of every ReplayEVM binary, so that profiles show what the bench measures.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, what, gas, side, threads, rounds] = &args[..] else {
        panic!("usage: exec_loop WORKLOAD|BLOCK_DIR GAS seq|par THREADS ROUNDS");
    };
    let chain = ChainSpec::mainnet();
    let block = match what.parse::<Workload>() {
        Ok(workload) => generate_gas(workload, 1, gas.parse().unwrap()).unwrap(),
        Err(_) => load_block_dir(std::path::Path::new(what), 1).unwrap(),
    };
    let senders = block.recover_senders(block.fork(&chain)).unwrap();
    let threads = NonZeroUsize::new(threads.parse().unwrap()).unwrap();
    let engine = ParallelEngine::new(threads).unwrap();
    let rounds: u32 = rounds.parse().unwrap();
    let replay = |side: &str| {
        let started = Instant::now();
        match side {
            "seq" => {
                replay_sequential_with_senders(&block, &chain, &senders).unwrap();
            }
            // End to end: the senders recovered inside the replay.
            "seq-e2e" => {
                replay_sequential(&block, &chain).unwrap();
            }
            "par-e2e" => {
                engine
                    .replay(&block, &chain, Concurrency::Threads(threads))
                    .unwrap();
            }
            _ => {
                engine
                    .replay_with_senders(&block, &chain, threads, &senders)
                    .unwrap();
            }
        }
        started.elapsed()
    };
    if let Some(suffix) = side.strip_prefix("ab") {
        let (seq, par) = (format!("seq{suffix}"), format!("par{suffix}"));
        let (mut seqs, mut pars, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (s, p) = if round % 2 == 0 {
                let s = replay(&seq);
                (s, replay(&par))
            } else {
                let p = replay(&par);
                (replay(&seq), p)
            };
            ratios.push(s.as_secs_f64() / p.as_secs_f64());
            seqs.push(s);
            pars.push(p);
        }
        seqs.sort();
        pars.sort();
        ratios.sort_by(f64::total_cmp);
        let mid = seqs.len() / 2;
        println!(
            "{side}: sequential median {:?}, parallel median {:?}, median ratio {:.3}x",
            seqs[mid], pars[mid], ratios[mid]
        );
        return;
    }
    let mut times: Vec<_> = (0..rounds).map(|_| replay(side)).collect();
    times.sort();
    println!(
        "{side}: min {:?}, median {:?} per replay",
        times[0],
        times[times.len() / 2]
    );
}
