//! `replay-evm blocktest <PATH>... [--threads LIST]`: run ethereum/tests-format blockchain
//! tests. Every block is replayed on the state carried forward, sequentially and in each
//! parallel mode (Block-STM, in-order, adaptive) at each listed thread count; prints
//! failures by name, skips with their reasons, and `N passed, M failed, K skipped`. Exits 0
//! only if nothing failed.

use std::{
    num::NonZeroUsize,
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use replay_evm::parallel::ParallelEngine;
use replay_evm_conformance::run_blocktests;

use crate::exit::{CliError, Outcome};
use crate::filter_args::FilterArgs;

/// Arguments of `blocktest`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Blockchain-test files, or folders searched recursively for `.json` files.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Thread counts of the parallel runs, comma-separated: every block is replayed in each
    /// mode (Block-STM, in-order, adaptive) at each of them.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,4",
        value_name = "LIST"
    )]
    threads: Vec<NonZeroUsize>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Also check every Block-STM write set against the sequential commit (the engine's
    /// self-check; slower).
    #[arg(long)]
    write_set_check: bool,
}

pub(crate) fn run(args: Args) -> Result<Outcome, CliError> {
    let filter = args.filter.filter()?;
    let max = args
        .threads
        .iter()
        .max()
        .copied()
        .ok_or(CliError::Usage("--threads is empty".into()))?;
    let engine = ParallelEngine::new(max)
        .map_err(|e| CliError::Usage(e.to_string()))?
        .with_write_set_check(args.write_set_check);
    let threads: Vec<usize> = args.threads.iter().map(|n| n.get()).collect();
    let started = Instant::now();
    let done = AtomicUsize::new(0);
    let report = run_blocktests(&args.paths, &filter, &engine, &threads, &|file| {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(100) {
            eprintln!("{n} files done ({})", file.file.display());
        }
    })?;
    for skip in &report.report.skipped {
        println!("SKIP {skip}");
    }
    for failure in &report.report.failed {
        println!("FAIL {failure}");
    }
    let list: Vec<String> = report.threads.iter().map(usize::to_string).collect();
    println!(
        "{} files, {} blocks replayed sequentially and {} times in parallel (Block-STM, \
         in-order and adaptive at {} threads) in {:.1}s",
        report.report.files,
        report.blocks,
        report.parallel_replays,
        list.join(","),
        started.elapsed().as_secs_f64()
    );
    println!("{}", report.summary());
    Ok(if report.is_success() {
        Outcome::Success
    } else {
        Outcome::Failures
    })
}
