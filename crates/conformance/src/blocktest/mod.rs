//! The ethereum/tests BlockchainTests runner: whole chains replayed on revm by the engine,
//! sequentially and in every parallel mode, with the state carried from block to block.
//!
//! For each test the runner decodes the genesis block and builds the full genesis state
//! from `pre` (its root must be the genesis `stateRoot`), then imports the blocks in order.
//! Each block's RLP is decoded as a client does; its header is checked against its parent
//! and its ommers against its ancestors (`header.rs`), its body against its
//! header (`ArchivedBlock::check`); it is then replayed by the sequential oracle on the
//! parent's full state, and by the parallel engine in Block-STM, in-order and adaptive mode
//! at each requested thread count, all of which must agree (`import.rs`). The
//! replay is verified against the header (gas used, logs bloom, receipts root), its state
//! changes are applied to the parent's state and the new state's root must be the header's
//! `stateRoot` (`state.rs`). A block with `expectException` must be rejected,
//! with a reason of the kind the exception names (`rejection.rs`). Finally
//! `lastblockhash` must be the imported head and its state the expected post-state.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `mod.rs` | [`run_blocktests`]: files on the worker threads, the tests of a file in order |
//! | `model.rs` | the JSON shape of a blockchain-test file, and reading one |
//! | `network.rs` | the `network` names, transitions included |
//! | `runner.rs` | one test: the chain of imported blocks, the head and its post-state |
//! | `import.rs` | one block: checks, sequential and parallel replays, verification |
//! | `header.rs` | the header rules against the parent |
//! | `difficulty.rs` | the difficulty formulas before the merge |
//! | `ommers.rs` | the ommer rules against the ancestors |
//! | `rejection.rs` | why a block is rejected, and the exception names each reason answers |
//! | `state.rs` | the full state carried from block to block, and its root |
//! | `report.rs` | [`BlockTestReport`]: what a run found |
//!
//! ```no_run
//! use std::{num::NonZeroUsize, path::PathBuf};
//! use replay_evm::parallel::ParallelEngine;
//! use replay_evm_conformance::{Filter, run_blocktests};
//!
//! let engine = ParallelEngine::new(NonZeroUsize::new(4).ok_or("no threads")?)?;
//! let paths = [PathBuf::from("BlockchainTests/ValidBlocks")];
//! let report = run_blocktests(&paths, &Filter::default(), &engine, &[1, 2, 4], &|_| {})?;
//! println!("{}", report.summary());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod difficulty;
mod header;
mod import;
mod model;
mod network;
mod ommers;
mod rejection;
mod report;
mod runner;
mod state;

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use replay_evm::parallel::{Concurrency, ParallelEngine};

pub use self::report::BlockTestReport;
use self::{
    model::load,
    network::Network,
    report::Tally,
    runner::{TestOutcome, parallel_runs, run_test},
};
use crate::{
    error::ConformanceError,
    files::collect_test_files,
    filter::Filter,
    parallel_check::thread_counts,
    report::{Failure, FileReport, Report, Skip},
    workers::{catch_panic, map_on_workers, worker_count},
};

/// Runs every blockchain test under `paths` (files, or folders searched recursively for
/// `.json` files) that `filter` selects, replaying every block sequentially and with
/// `engine` in each parallel mode at each of `threads`; `progress` is called with each
/// file's report when it is done.
///
/// Files run on two plain threads per available core (see `workers.rs`). A
/// `filter.fork` selects the tests whose network ends at that fork.
///
/// # Errors
/// [`ConformanceError::NotFound`], [`ConformanceError::Io`] or [`ConformanceError::NoJsonFiles`]
/// for a path that cannot be run, and [`ConformanceError::Threads`] when `threads` is empty,
/// holds zero or asks for more threads than `engine` has. A file that cannot be read or
/// parsed does not stop the run: it is a [`Failure`] naming the file, line and column.
pub fn run_blocktests(
    paths: &[PathBuf],
    filter: &Filter,
    engine: &ParallelEngine,
    threads: &[usize],
    progress: &(dyn Fn(&FileReport) + Sync),
) -> Result<BlockTestReport, ConformanceError> {
    let first = paths.first().map_or(Path::new(""), PathBuf::as_path);
    let counts = thread_counts(first, engine, threads)?;
    let mut files = Vec::new();
    for path in paths {
        files.extend(collect_test_files(path)?);
    }
    let runs = parallel_runs(&counts);
    let results = map_on_workers(&files, worker_count(files.len()).max(1), |file| {
        let (report, tally) = run_file(file, filter, engine, &runs);
        progress(&report);
        (report, tally)
    });
    let mut tally = Tally::default();
    let mut reports = Vec::with_capacity(results.len());
    for (file, result) in files.iter().zip(results) {
        // A worker only dies of an abort (each test's panics are caught): its files are lost.
        let (report, file_tally) = result.unwrap_or_else(|| {
            let mut report = FileReport::new(file.clone());
            let message = "its worker thread died".to_owned();
            report.failed.push(Failure::of_file(file, message));
            (report, Tally::default())
        });
        tally.blocks += file_tally.blocks;
        tally.parallel_replays += file_tally.parallel_replays;
        reports.push(report);
    }
    Ok(BlockTestReport {
        report: Report::from_files(reports),
        blocks: tally.blocks,
        parallel_replays: tally.parallel_replays,
        threads: counts.iter().map(|n| n.get()).collect(),
    })
}

/// Runs every selected test of one file, in name order. Never fails: a file that cannot be
/// read or parsed yields one [`Failure`] naming it.
fn run_file(
    path: &Path,
    filter: &Filter,
    engine: &ParallelEngine,
    runs: &[(Concurrency, usize)],
) -> (FileReport, Tally) {
    let started = Instant::now();
    let mut report = FileReport::new(path.to_path_buf());
    let mut tally = Tally::default();
    let suite = match load(path) {
        Ok(suite) => suite,
        Err(message) => {
            report.failed.push(Failure::of_file(path, message));
            report.elapsed = started.elapsed();
            return (report, tally);
        }
    };
    for (name, test) in &suite {
        if !filter.matches_name(name) || !matches_fork(filter, &test.network) {
            continue;
        }
        let outcome =
            catch_panic(|| run_test(test, engine, runs, &mut tally)).unwrap_or_else(|message| {
                TestOutcome::Fail {
                    block: None,
                    message,
                }
            });
        match outcome {
            TestOutcome::Pass => report.passed += 1,
            TestOutcome::Fail { block, message } => report.failed.push(Failure {
                file: path.to_path_buf(),
                name: Some(name.clone()),
                fork: Some(test.network.clone()),
                index: block,
                message,
            }),
            TestOutcome::Skip(reason) => report.skipped.push(Skip {
                file: path.to_path_buf(),
                name: name.clone(),
                fork: test.network.clone(),
                index: None,
                reason,
            }),
        }
    }
    report.elapsed = started.elapsed();
    (report, tally)
}

/// Whether a test on `network` is selected by `filter.fork`: its last fork is that fork.
fn matches_fork(filter: &Filter, network: &str) -> bool {
    let Some(wanted) = filter.fork else {
        return true;
    };
    Network::with_chain_id(network, 1).is_ok_and(|n| n.fork_at(u64::MAX, u64::MAX) == wanted)
}
