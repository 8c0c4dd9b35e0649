//! ReplayEVM state-test runner: executes ethereum/tests-format state tests on revm.
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
//! Nothing is dropped silently: every case is counted as passed, failed (with a message
//! naming what differs) or skipped (with the concrete reason it cannot run on revm 43).
//!
//! [`compare_parallel`] uses the same fixtures to test the engine's parallel replay: each
//! case becomes a one-transaction block (a header from `env`, the transaction signed with
//! the test's `secretKey`, the pre-state and the state-test BLOCKHASH values), which is
//! replayed by the sequential oracle and by the parallel engine at several thread counts;
//! receipts, per-transaction outcomes, gas used and state changes must be identical.
//!
//! [`run_blocktests`] runs ethereum/tests BlockchainTests: whole chains of blocks replayed
//! sequentially and in every parallel mode on the state carried from block to block, with
//! the header rules, the state root of every block and the expected post-state checked (see
//! the `blocktest` module).
//!
//! ```no_run
//! use std::path::Path;
//! use replay_evm_conformance::{Filter, run_path};
//!
//! let report = run_path(Path::new("GeneralStateTests"), &Filter::default())?;
//! println!("{}", report.summary());
//! for failure in &report.failed {
//!     println!("FAIL {failure}");
//! }
//! # Ok::<(), replay_evm_conformance::StateTestError>(())
//! ```


mod blocktest;

mod error;

mod report;
mod roots;
mod statetest;

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
    time::Instant,
};

use rayon::prelude::*;
use replay_evm::{chain::Fork, error::ChainError};

pub use crate::{
    blocktest::{BlockTestReport, run_blocktests},
    statetest::compare::{
        Agreement, Exclusion, ParallelFileReport, ParallelReport, compare_file, compare_parallel,
        compare_parallel_with_progress,
    },
    error::StateTestError,
    report::{Failure, FileReport, Filter, Report, Skip},
};
use crate::{
    statetest::model::{PostEntry, Suite, TestUnit},
    statetest::runner::{CaseOutcome, PreparedTest},
};

/// Runs every state test under `path` (a `.json` file, or a directory searched recursively
/// for `.json` files) and returns the aggregated, deterministically ordered report.
///
/// # Errors
/// [`StateTestError::NotFound`] when `path` does not exist, [`StateTestError::Io`] when a
/// directory cannot be listed and [`StateTestError::NoJsonFiles`] when a directory holds no
/// `.json` file. A file that cannot be read or parsed does not abort the run: it is reported
/// as a [`Failure`].
pub fn run_path(path: &Path, filter: &Filter) -> Result<Report, StateTestError> {
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
) -> Result<Report, StateTestError> {
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

/// The state-test files under `path`: `path` itself when it is a file, otherwise every
/// `.json` file below it, recursively, sorted by path.
///
/// # Errors
/// As [`run_path`].
pub fn collect_test_files(path: &Path) -> Result<Vec<PathBuf>, StateTestError> {
    let metadata = std::fs::metadata(path).map_err(|source| io_error(path, source))?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let io = |source| StateTestError::Io {
            path: dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let entry_path = entry.path();
            // `metadata` follows symlinks, so linked folders and files are walked too.
            let meta = std::fs::metadata(&entry_path).map_err(|source| StateTestError::Io {
                path: entry_path.clone(),
                source,
            })?;
            if meta.is_dir() {
                pending.push(entry_path);
            } else if entry_path.extension().is_some_and(|e| e == "json") {
                files.push(entry_path);
            }
        }
    }
    if files.is_empty() {
        return Err(StateTestError::NoJsonFiles {
            path: path.to_path_buf(),
        });
    }
    files.sort();
    Ok(files)
}

/// Runs every test of one state-test file. Never fails: a file that cannot be read or
/// parsed yields a report with one [`Failure`] naming the file and the error.
pub fn run_file(path: &Path, filter: &Filter) -> FileReport {
    let started = Instant::now();
    let mut report = FileReport::new(path.to_path_buf());
    match load(path) {
        Ok(suite) => run_suite(&suite, filter, &mut report),
        Err(error) => report.failed.push(Failure {
            file: path.to_path_buf(),
            name: None,
            fork: None,
            index: None,
            message: error.detail(),
        }),
    }
    report.elapsed = started.elapsed();
    report
}

/// An I/O error on `path`: [`StateTestError::NotFound`] when it does not exist.
fn io_error(path: &Path, source: std::io::Error) -> StateTestError {
    if source.kind() == std::io::ErrorKind::NotFound {
        StateTestError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        StateTestError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn load(path: &Path) -> Result<Suite, StateTestError> {
    let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
    serde_json::from_slice(&bytes).map_err(|source| StateTestError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// One post entry to account for, with `T` the prepared test it runs against (the
/// sequential runner's and the parallel comparison's differ).
pub(crate) enum Job<'a, T> {
    /// Execute it with this test's prepared state.
    Run(&'a T, Fork, &'a PostEntry),
    /// Already decided: it cannot run.
    Skip(String),
    /// Already decided: it is broken.
    Fail(String),
}

/// Where a job's outcome goes in the report.
pub(crate) struct Slot<'a> {
    pub(crate) name: &'a str,
    pub(crate) fork: Option<&'a str>,
    pub(crate) index: Option<usize>,
}

/// A selected test of a file: its name, its unit, its selected forks, and its prepared
/// state or why it could not be prepared.
pub(crate) type Prepared<'a, T> = (
    &'a str,
    &'a TestUnit,
    Vec<(&'a String, Result<Fork, ChainError>)>,
    Result<T, String>,
);

/// Prepares every test of `suite` that `filter` selects (with at least one selected fork).
/// Everything is prepared before any case runs, so that the cases of all tests of a file
/// can run in parallel: one file (e.g. VMTests/vmPerformance/loopMul.json) can dominate a
/// run.
pub(crate) fn prepare<'a, T>(
    suite: &'a Suite,
    filter: &Filter,
    prepare: impl Fn(&'a TestUnit) -> Result<T, String>,
) -> Vec<Prepared<'a, T>> {
    let mut prepared = Vec::new();
    for (name, unit) in suite {
        if !filter.matches_name(name) {
            continue;
        }
        let forks = selected_forks(unit, filter);
        if !forks.is_empty() {
            prepared.push((name.as_str(), unit, forks, prepare(unit)));
        }
    }
    prepared
}

/// One job per post entry of every prepared test, with where its outcome goes: a test that
/// could not be prepared is one failure; with `excluded`, every entry is skipped for that
/// reason; an unsupported fork is a skip, any other fork error a failure.
pub(crate) fn plan<'a, T>(
    prepared: &'a [Prepared<'a, T>],
    excluded: Option<&str>,
) -> Vec<(Slot<'a>, Job<'a, T>)> {
    let mut jobs = Vec::new();
    for (name, unit, forks, test) in prepared {
        if let (None, Err(message)) = (excluded, test) {
            let slot = Slot {
                name,
                fork: None,
                index: None,
            };
            jobs.push((slot, Job::Fail(message.clone())));
            continue;
        }
        for (key, fork) in forks {
            for (index, entry) in unit.post[*key].iter().enumerate() {
                let slot = Slot {
                    name,
                    fork: Some(key.as_str()),
                    index: Some(index),
                };
                let job = match (excluded, test, fork) {
                    (Some(reason), _, _) => Job::Skip(reason.to_owned()),
                    (None, _, Err(error @ ChainError::UnsupportedFork { .. })) => {
                        Job::Skip(error.to_string())
                    }
                    (None, _, Err(error)) => Job::Fail(error.to_string()),
                    (None, Ok(test), Ok(fork)) => Job::Run(test, *fork, entry),
                    (None, Err(message), Ok(_)) => Job::Fail(message.clone()),
                };
                jobs.push((slot, job));
            }
        }
    }
    jobs
}

fn run_suite(suite: &Suite, filter: &Filter, report: &mut FileReport) {
    let prepared = prepare(suite, filter, PreparedTest::new);
    let jobs = plan(&prepared, None);

    let outcomes: Vec<CaseOutcome> = jobs
        .par_iter()
        .map(|(_, job)| match job {
            Job::Run(test, fork, entry) => run_case(test, *fork, entry),
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

/// The post keys of `unit` that `filter` selects, with their parsed forks: forks in
/// activation order, then names that do not parse, by name.
fn selected_forks<'a>(
    unit: &'a TestUnit,
    filter: &Filter,
) -> Vec<(&'a String, Result<Fork, ChainError>)> {
    let mut forks: Vec<_> = unit
        .post
        .keys()
        .map(|key| (key, key.parse::<Fork>()))
        .filter(|(_, fork)| match (filter.fork, fork) {
            (None, _) => true,
            (Some(wanted), Ok(fork)) => wanted == *fork,
            (Some(_), Err(_)) => false,
        })
        .collect();
    forks.sort_by(|(ka, a), (kb, b)| match (a, b) {
        (Ok(a), Ok(b)) => a.cmp(b),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => ka.cmp(kb),
    });
    forks
}

/// Runs one case; a panic inside revm becomes a failure rather than aborting the run.
fn run_case(test: &PreparedTest<'_>, fork: Fork, entry: &PostEntry) -> CaseOutcome {
    catch_unwind(AssertUnwindSafe(|| test.run(fork, entry))).unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        CaseOutcome::Fail(format!("panicked: {text}"))
    })
}
