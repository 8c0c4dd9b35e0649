//! [`compare_parallel`]: every state-test case as a one-transaction block, replayed
//! sequentially (the oracle) and by the parallel engine at several thread counts; the results
//! must be identical ([`crate::parallel_check`]).
//!
//! Files run one after another; the cases of a file are planned like the sequential runner's
//! (`plan.rs`), converted to blocks (`block.rs`) and compared one by one
//! (`parallel_case.rs`) on the runners' worker threads.

use std::{num::NonZeroUsize, path::Path, time::Instant};

use replay_evm::parallel::ParallelEngine;

use super::{
    block::BlockTest,
    model::{Suite, load},
    parallel_case::{Verdict, run_case},
    parallel_report::{Agreement, Exclusion, ParallelFileReport, ParallelReport},
    plan::{Job, Slot, plan, prepare},
};
use crate::{
    error::ConformanceError,
    files::collect_test_files,
    filter::Filter,
    parallel_check::{Agreed, thread_counts},
    report::{Failure, FileReport, Report, Skip},
    workers::{map_on_workers, worker_count},
};

/// Replays every state-test case under `path` (a file, or a folder searched recursively) as a
/// one-transaction block, sequentially and with `engine` at each of `threads`, and compares.
///
/// # Errors
/// As [`crate::run_path`], plus [`ConformanceError::Threads`] when `threads` is empty, holds
/// zero, or asks for more threads than `engine`'s pool has (the engine would silently run
/// fewer).
pub fn compare_parallel(
    path: &Path,
    filter: &Filter,
    engine: &ParallelEngine,
    threads: &[usize],
) -> Result<ParallelReport, ConformanceError> {
    compare_parallel_with_progress(path, filter, engine, threads, &[], &|_| {})
}

/// Like [`compare_parallel`], leaving out the files `exclusions` name (their cases are
/// counted as skipped, with the exclusion's reason) and calling `progress` with each file's
/// report when it is done.
///
/// Files run one after another, in path order; the cases of a file are spread over two
/// plain threads per available core (see `workers.rs`).
///
/// # Errors
/// As [`compare_parallel`].
pub fn compare_parallel_with_progress(
    path: &Path,
    filter: &Filter,
    engine: &ParallelEngine,
    threads: &[usize],
    exclusions: &[Exclusion],
    progress: &(dyn Fn(&ParallelFileReport) + Sync),
) -> Result<ParallelReport, ConformanceError> {
    let counts = thread_counts(path, engine, threads)?;
    let files = collect_test_files(path)?;
    let mut agreement = Agreement::default();
    let mut file_reports = Vec::with_capacity(files.len());
    for file in &files {
        let display = file.to_string_lossy().replace('\\', "/");
        let excluded = exclusions
            .iter()
            .find(|e| display.contains(&e.path_contains))
            .map(|e| e.reason.as_str());
        let report = compare_file_inner(file, filter, engine, &counts, excluded);
        progress(&report);
        agreement.merge(report.agreement);
        file_reports.push(report.report);
    }
    Ok(ParallelReport {
        report: Report::from_files(file_reports),
        agreement,
        threads: threads.to_vec(),
    })
}

/// Compares every case of one state-test file (see [`compare_parallel`]). Never fails: a file
/// that cannot be read or parsed, or bad thread counts, yield one [`Failure`].
pub fn compare_file(
    path: &Path,
    filter: &Filter,
    engine: &ParallelEngine,
    threads: &[usize],
) -> ParallelFileReport {
    match thread_counts(path, engine, threads) {
        Ok(counts) => compare_file_inner(path, filter, engine, &counts, None),
        Err(error) => {
            let mut report = FileReport::new(path.to_path_buf());
            report.failed.push(Failure::of_file(path, error.detail()));
            ParallelFileReport {
                report,
                agreement: Agreement::default(),
            }
        }
    }
}

fn compare_file_inner(
    path: &Path,
    filter: &Filter,
    engine: &ParallelEngine,
    threads: &[NonZeroUsize],
    excluded: Option<&str>,
) -> ParallelFileReport {
    let started = Instant::now();
    let mut report = ParallelFileReport {
        report: FileReport::new(path.to_path_buf()),
        agreement: Agreement::default(),
    };
    match load(path) {
        Ok(suite) => compare_suite(&suite, filter, engine, threads, excluded, &mut report),
        Err(error) => report
            .report
            .failed
            .push(Failure::of_file(path, error.detail())),
    }
    report.report.elapsed = started.elapsed();
    report
}

fn compare_suite(
    suite: &Suite,
    filter: &Filter,
    engine: &ParallelEngine,
    threads: &[NonZeroUsize],
    excluded: Option<&str>,
    out: &mut ParallelFileReport,
) {
    // Prepare every selected test first, then spread all the file's cases over the workers.
    let prepared = prepare(suite, filter, |unit| match excluded {
        Some(_) => Err(String::new()),
        None => BlockTest::new(unit),
    });
    let jobs = plan(&prepared, excluded);

    let verdicts = run_jobs(&jobs, engine, threads);

    let file = out.report.file.clone();
    for ((slot, _), (verdict, note)) in jobs.iter().zip(verdicts) {
        let failure = |message| Failure {
            file: file.clone(),
            name: Some(slot.name.to_owned()),
            fork: slot.fork.map(str::to_owned),
            index: slot.index,
            message,
        };
        if let Some(message) = note {
            out.agreement.validity_differs.push(failure(message));
        }
        match verdict {
            Verdict::Pass(agreed) => {
                out.report.passed += 1;
                match agreed {
                    Agreed::Executed => out.agreement.executed += 1,
                    Agreed::Rejected => out.agreement.rejected += 1,
                    Agreed::Reworded(kind) => {
                        *out.agreement.rejected_reworded.entry(kind).or_default() += 1;
                    }
                }
            }
            Verdict::Fail(message) => out.report.failed.push(failure(message)),
            Verdict::Skip(reason) => out.report.skipped.push(Skip {
                file: file.clone(),
                name: slot.name.to_owned(),
                fork: slot.fork.unwrap_or_default().to_owned(),
                index: slot.index,
                reason,
            }),
        }
    }
}

/// Runs the jobs on two plain threads per available core (see [`crate::workers`]), and
/// returns their verdicts in job order.
fn run_jobs(
    jobs: &[(Slot<'_>, Job<'_, BlockTest<'_>>)],
    engine: &ParallelEngine,
    threads: &[NonZeroUsize],
) -> Vec<(Verdict, Option<String>)> {
    let runnable = jobs
        .iter()
        .filter(|(_, job)| matches!(job, Job::Run(..)))
        .count();
    let verdicts = map_on_workers(jobs, worker_count(runnable), |(_, job)| match job {
        Job::Run(test, fork, entry) => run_case(test, *fork, entry, engine, threads),
        Job::Skip(reason) => (Verdict::Skip(reason.clone()), None),
        Job::Fail(message) => (Verdict::Fail(message.clone()), None),
    });
    verdicts
        .into_iter()
        .map(|verdict| {
            verdict.unwrap_or_else(|| (Verdict::Fail("its worker thread died".to_owned()), None))
        })
        .collect()
}
