//! The state-test runner: executes ethereum/tests-format state tests on revm.
//!
//! A state-test file maps test names to tests. Each test has a block environment (`env`), a
//! pre-state (`pre`), a transaction template (`transaction`, whose `data`, `gasLimit` and
//! `value` arrays are indexed by each expected result) and, per fork, a list of expected
//! results (`post`): the post-state root, the hash of the logs and, for invalid
//! transactions, the exception the transaction must be rejected with.
//!
//! For every fork and every expected result the runner builds revm's environment with the
//! engine's fork rules ([`replay_evm::chain::Fork`], [`replay_evm::chain::ChainSpec`]),
//! executes the transaction on a fresh copy of the pre-state, commits it and compares the
//! state root and the logs hash. An expected exception must match a transaction that revm
//! rejects as invalid; the state root is then that of the untouched pre-state.
//!
//! The same fixtures test the engine's parallel replay ([`crate::compare_parallel`]): each
//! case becomes a one-transaction block, replayed by the sequential oracle and by the
//! parallel engine at several thread counts, which must agree.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `mod.rs` | [`run_path`], [`run_file`]: files in parallel, the cases of a file in parallel |
//! | `model.rs` | the JSON shape of a state-test file, and reading one |
//! | `plan.rs` | which tests and forks run, each test prepared once, one job per post entry |
//! | `runner.rs` | one post entry on revm: execute, commit, compare the roots |
//! | `environment.rs` | revm's configuration and block for a fork |
//! | `transaction.rs` | the post entry's transaction, or why no valid one can carry it |
//! | `eip7610.rs` | telling revm 43's missing EIP-7610 collision apart from a mismatch |
//! | `signing.rs` | the sender of a secret key; signing the converted block's transaction |
//! | `block.rs` | one case as a one-transaction block, for the engine |
//! | `parallel.rs` | [`crate::compare_parallel`]: every case, sequential against parallel |
//! | `parallel_case.rs` | one case's comparison |
//! | `parallel_report.rs` | what a comparison found ([`crate::ParallelReport`]) |

mod block;
mod eip7610;
mod environment;
mod model;
mod parallel;
mod parallel_case;
mod parallel_report;
mod plan;
mod runner;
mod signing;
mod transaction;

use std::{path::Path, time::Instant};

use rayon::prelude::*;

use self::{
    model::{Suite, load},
    plan::{Job, plan, prepare},
    runner::{CaseOutcome, PreparedTest},
};
pub use self::{
    parallel::{compare_file, compare_parallel, compare_parallel_with_progress},
    parallel_report::{Agreement, Exclusion, ParallelFileReport, ParallelReport},
};
use crate::{
    error::ConformanceError,
    files::collect_test_files,
    filter::Filter,
    report::{Failure, FileReport, Report, Skip},
    workers::catch_panic,
};

/// Runs every state test under `path` (a `.json` file, or a directory searched recursively
/// for `.json` files) and returns the aggregated, deterministically ordered report.
///
/// # Errors
/// [`ConformanceError::NotFound`] when `path` does not exist, [`ConformanceError::Io`] when a
/// directory cannot be listed and [`ConformanceError::NoJsonFiles`] when a directory holds no
/// `.json` file. A file that cannot be read or parsed does not abort the run: it is reported
/// as a [`Failure`].
pub fn run_path(path: &Path, filter: &Filter) -> Result<Report, ConformanceError> {
    run_path_with_progress(path, filter, &|_| {})
}

/// Like [`run_path`], calling `progress` with each file's report as soon as that file is done.
///
/// Files run in parallel (rayon), so `progress` is called from several threads and in
/// completion order; the returned [`Report`] is ordered by file path regardless.
///
/// # Errors
/// As [`run_path`].
pub fn run_path_with_progress(
    path: &Path,
    filter: &Filter,
    progress: &(dyn Fn(&FileReport) + Sync),
) -> Result<Report, ConformanceError> {
    let files = collect_test_files(path)?;
    let reports: Vec<FileReport> = files
        .par_iter()
        .map(|file| {
            let report = run_file(file, filter);
            progress(&report);
            report
        })
        .collect();
    Ok(Report::from_files(reports))
}

/// Runs every test of one state-test file. Never fails: a file that cannot be read or
/// parsed yields a report with one [`Failure`] naming the file and the error.
pub fn run_file(path: &Path, filter: &Filter) -> FileReport {
    let started = Instant::now();
    let mut report = FileReport::new(path.to_path_buf());
    match load(path) {
        Ok(suite) => run_suite(&suite, filter, &mut report),
        Err(error) => report.failed.push(Failure::of_file(path, error.detail())),
    }
    report.elapsed = started.elapsed();
    report
}

fn run_suite(suite: &Suite, filter: &Filter, report: &mut FileReport) {
    let prepared = prepare(suite, filter, PreparedTest::new);
    let jobs = plan(&prepared, None);

    let outcomes: Vec<CaseOutcome> = jobs
        .par_iter()
        .map(|(_, job)| match job {
            Job::Run(test, fork, entry) => {
                catch_panic(|| test.run(*fork, entry)).unwrap_or_else(CaseOutcome::Fail)
            }
            Job::Skip(reason) => CaseOutcome::Skip(reason.clone()),
            Job::Fail(message) => CaseOutcome::Fail(message.clone()),
        })
        .collect();

    for ((slot, _), outcome) in jobs.iter().zip(outcomes) {
        match outcome {
            CaseOutcome::Pass => report.passed += 1,
            CaseOutcome::Fail(message) => report.failed.push(Failure {
                file: report.file.clone(),
                name: Some(slot.name.to_owned()),
                fork: slot.fork.map(str::to_owned),
                index: slot.index,
                message,
            }),
            CaseOutcome::Skip(reason) => report.skipped.push(Skip {
                file: report.file.clone(),
                name: slot.name.to_owned(),
                fork: slot.fork.unwrap_or_default().to_owned(),
                index: slot.index,
                reason,
            }),
        }
    }
}
