//! Criterion benches: every generated workload (at `REPLAY_EVM_BENCH_GAS`, a 30-Mgas block
//! by default) and every shared mainnet fixture, each replayed by plain sequential revm and
//! by the parallel engine at each of `REPLAY_EVM_BENCH_THREADS` (1 and 2 by default), both
//! as Block-STM on every block (`block-stm/T`) and as the adaptive engine, which picks
//! Block-STM or in-order execution with parallel sender recovery (`adaptive/T`).
//! Every block's parallel result is checked equal to the sequential one before it is timed.
//!
//! `cargo bench -p replay-evm-bench`; one group: `cargo bench -p replay-evm-bench -- mainnet`.
//! Throughput is reported in gas (criterion prints it as elements/s: gas/s).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measurement tool, not library code
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::{hint::black_box, num::NonZeroUsize, time::Duration};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use replay_evm::{
    block::ArchivedBlock,
    chain::ChainSpec,
    parallel::{Concurrency, ParallelEngine},
    sequential::replay_sequential,
};
use replay_evm_workload::Workload;

mod common;
use common::{bench_threads, check_parallel_equals_sequential, mainnet_blocks, workload_block};

fn engine(threads: &[NonZeroUsize]) -> ParallelEngine {
    let max = threads.iter().copied().max().unwrap_or(NonZeroUsize::MIN);
    ParallelEngine::new(max).unwrap_or_else(|e| panic!("{e}"))
}

/// Benches one block: sequential, then parallel at each thread count.
fn bench_block(
    c: &mut Criterion,
    group: &str,
    name: &str,
    block: &ArchivedBlock,
    engine: &ParallelEngine,
    threads: &[NonZeroUsize],
) {
    let chain = ChainSpec::mainnet();
    check_parallel_equals_sequential(name, block, &chain, engine, threads);
    let mut g = c.benchmark_group(format!("{group}/{name}"));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(block.header().gas_used));
    g.bench_function("sequential", |b| {
        b.iter(|| replay_sequential(black_box(block), &chain).unwrap_or_else(|e| panic!("{e}")));
    });
    for &t in threads {
        for (label, concurrency) in [
            ("block-stm", Concurrency::Threads(t)),
            ("adaptive", Concurrency::Adaptive(t)),
        ] {
            g.bench_with_input(BenchmarkId::new(label, t), &concurrency, |b, &c| {
                b.iter(|| {
                    engine
                        .replay(black_box(block), &chain, c)
                        .unwrap_or_else(|e| panic!("{e}"))
                });
            });
        }
    }
    g.finish();
}

fn workloads(c: &mut Criterion) {
    let threads = bench_threads();
    let engine = engine(&threads);
    for workload in Workload::ALL {
        let block = workload_block(workload);
        bench_block(c, "workload", workload.name(), &block, &engine, &threads);
    }
}

fn mainnet(c: &mut Criterion) {
    let threads = bench_threads();
    let engine = engine(&threads);
    for (number, block) in mainnet_blocks() {
        bench_block(c, "mainnet", &number.to_string(), &block, &engine, &threads);
    }
}

criterion_group!(benches, workloads, mainnet);
criterion_main!(benches);
