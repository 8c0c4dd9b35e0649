//! Every state-test case as a one-transaction block, replayed sequentially (the oracle) and by
//! the parallel engine at several thread counts; the results must be identical.
//!
//! A case passes when, at every thread count, either both replays succeed with equal
//! receipts, per-transaction outcomes, gas used and state changes, or both reject the
//! transaction as invalid ([`ReplayError::InvalidTransaction`]) for the same block,
//! transaction and reason. The reason is compared as text; when the texts differ, the case
//! still passes if the *underlying* error is the same and only the engines' wrapping differs
//! (the sequential replay reports alloy-evm's `EVM reported invalid transaction (<hash>): X`,
//! the parallel engine revm's `transaction validation error: X`); such cases are counted in
//! [`Agreement::rejected_reworded`] by underlying error. Any other error, on either side, is
//! a failure: a converted case must always be replayable.
//!
//! Cases that cannot be expressed as a block are skipped with the reason (see
//! [`crate::statetest::block`]); so are post entries of forks revm cannot run (Constantinople). Cases the
//! state-test runner skips for EIP-7610 (revm 43 lacks it) are *compared* here: both engines
//! run the same revm, so their agreement is meaningful even where revm deviates from the spec.

use std::{
    collections::BTreeMap,
    num::NonZeroUsize,
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use replay_evm::{
    chain::Fork,
    error::ReplayError,
    parallel::{Concurrency, ParallelEngine, ParallelReplay},
    sequential::{BlockReplay, replay_sequential},
};

use crate::{
    Failure, FileReport, Filter, Job, Report, Skip, Slot, StateTestError,
    statetest::block::{BlockTest, Unexpressible},
    collect_test_files, load,
    statetest::model::{PostEntry, Suite},
    plan, prepare,
};

/// How the passing cases agreed, and where the sequential replay's validity differs from the
/// fixture's expectation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agreement {
    /// Passed cases whose transaction executed in every replay.
    pub executed: usize,
    /// Passed cases whose transaction every replay rejected with the same error text.
    pub rejected: usize,
    /// Passed cases rejected with the same underlying error but differently worded messages:
    /// underlying error (numbers and hashes masked) -> number of cases.
    pub rejected_reworded: BTreeMap<String, usize>,
    /// Cases (passed or failed) whose sequential replay executed a transaction the fixture
    /// expects to be rejected, or rejected one it expects to execute. Informational: a block
    /// applies block rules a state test does not (e.g. the transaction gas limit against the
    /// block gas limit is checked by the block executor first).
    pub validity_differs: Vec<Failure>,
}

impl Agreement {
    fn merge(&mut self, other: Self) {
        self.executed += other.executed;
        self.rejected += other.rejected;
        for (kind, count) in other.rejected_reworded {
            *self.rejected_reworded.entry(kind).or_default() += count;
        }
        self.validity_differs.extend(other.validity_differs);
    }

    /// Passed cases rejected with differently worded messages, over all underlying errors.
    pub fn reworded(&self) -> usize {
        self.rejected_reworded.values().sum()
    }
}

/// The outcome of comparing one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParallelFileReport {
    /// Passed, failed and skipped cases.
    pub report: FileReport,
    /// How the passed cases agreed.
    pub agreement: Agreement,
}

/// The outcome of comparing many files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParallelReport {
    /// Passed, failed and skipped cases, ordered by file.
    pub report: Report,
    /// How the passed cases agreed.
    pub agreement: Agreement,
    /// The thread counts every compared case was replayed at.
    pub threads: Vec<usize>,
}

/// Files left out of a comparison: every case of a file whose path contains `path_contains`
/// is counted as skipped, with `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// Text the file's path must contain (use `/` as the separator).
    pub path_contains: String,
    /// Why those files are not compared.
    pub reason: String,
}

/// Replays every state-test case under `path` (a file, or a folder searched recursively) as a
/// one-transaction block, sequentially and with `engine` at each of `threads`, and compares.
///
/// # Errors
/// As [`crate::run_path`], plus [`StateTestError::Threads`] when `threads` is empty, holds
/// zero, or asks for more threads than `engine`'s pool has (the engine would silently run
/// fewer).
pub fn compare_parallel(
    path: &Path,
    filter: &Filter,
    engine: &ParallelEngine,
    threads: &[usize],
) -> Result<ParallelReport, StateTestError> {
    compare_parallel_with_progress(path, filter, engine, threads, &[], &|_| {})
}

/// Like [`compare_parallel`], leaving out the files `exclusions` name (their cases are
/// counted as skipped, with the exclusion's reason) and calling `progress` with each file's
/// report when it is done.
///
/// Files run one after another, in path order; the cases of a file are spread over two
/// threads per available core. These are plain threads, not rayon tasks: a rayon worker that
/// waits for the engine's pool steals other cases meanwhile and nests them on its stack
/// without bound.
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
) -> Result<ParallelReport, StateTestError> {
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
            report.failed.push(file_failure(path, error.detail()));
            ParallelFileReport {
                report,
                agreement: Agreement::default(),
            }
        }
    }
}

/// `threads` as thread counts `engine` can honour.
///
/// # Errors
/// [`StateTestError::Threads`] naming `path` when `threads` is empty, holds zero or asks for
/// more than the pool has.
pub(crate) fn thread_counts(
    path: &Path,
    engine: &ParallelEngine,
    threads: &[usize],
) -> Result<Vec<NonZeroUsize>, StateTestError> {
    let available = engine.max_threads();
    let bad = |requested: usize| StateTestError::Threads {
        path: path.to_path_buf(),
        requested,
        available,
    };
    if threads.is_empty() {
        return Err(bad(0));
    }
    threads
        .iter()
        .map(|&n| {
            NonZeroUsize::new(n)
                .filter(|n| n.get() <= available)
                .ok_or_else(|| bad(n))
        })
        .collect()
}

pub(crate) fn file_failure(path: &Path, message: String) -> Failure {
    Failure {
        file: path.to_path_buf(),
        name: None,
        fork: None,
        index: None,
        message,
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
            .push(file_failure(path, error.detail())),
    }
    report.report.elapsed = started.elapsed();
    report
}

/// How one case agreed.
pub(crate) enum Agreed {
    Executed,
    Rejected,
    /// Same underlying error (masked), differently worded.
    Reworded(String),
}

enum Verdict {
    Pass(Agreed),
    Fail(String),
    Skip(String),
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

/// Runs the jobs on two plain threads per available core, and returns their verdicts in job
/// order.
fn run_jobs(
    jobs: &[(Slot<'_>, Job<'_, BlockTest<'_>>)],
    engine: &ParallelEngine,
    threads: &[NonZeroUsize],
) -> Vec<(Verdict, Option<String>)> {
    let run = |job: &Job<'_, BlockTest<'_>>| match job {
        Job::Run(test, fork, entry) => run_case(test, *fork, entry, engine, threads),
        Job::Skip(reason) => (Verdict::Skip(reason.clone()), None),
        Job::Fail(message) => (Verdict::Fail(message.clone()), None),
    };
    let runnable = jobs
        .iter()
        .filter(|(_, job)| matches!(job, Job::Run(..)))
        .count();
    // Two per core: a replay's hand-offs to the engine's pool leave a core idle while threads
    // wake up, and a second case fills it (measured on two cores, GeneralStateTests without
    // vmPerformance: 243 s with one worker, 213 s with one per core, 195 s with two per core).
    let workers = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .saturating_mul(2)
        .min(runnable);
    if workers <= 1 {
        return jobs.iter().map(|(_, job)| run(job)).collect();
    }
    let next = AtomicUsize::new(0);
    let mut verdicts: Vec<Option<(Verdict, Option<String>)>> = Vec::new();
    verdicts.resize_with(jobs.len(), || None);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((_, job)) = jobs.get(i) else { break };
                        mine.push((i, run(job)));
                    }
                    mine
                })
            })
            .collect();
        for handle in handles {
            // `run_case` catches panics, so a worker only dies of an abort.
            for (i, verdict) in handle.join().unwrap_or_default() {
                verdicts[i] = Some(verdict);
            }
        }
    });
    verdicts
        .into_iter()
        .map(|verdict| {
            verdict.unwrap_or_else(|| (Verdict::Fail("its worker thread died".to_owned()), None))
        })
        .collect()
}

/// Converts and compares one case; a panic becomes a failure. The second value notes a
/// sequential validity that differs from the fixture's expectation.
fn run_case(
    test: &BlockTest<'_>,
    fork: Fork,
    entry: &PostEntry,
    engine: &ParallelEngine,
    threads: &[NonZeroUsize],
) -> (Verdict, Option<String>) {
    catch_unwind(AssertUnwindSafe(|| {
        compare_case(test, fork, entry, engine, threads)
    }))
    .unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        (Verdict::Fail(format!("panicked: {text}")), None)
    })
}

fn compare_case(
    test: &BlockTest<'_>,
    fork: Fork,
    entry: &PostEntry,
    engine: &ParallelEngine,
    threads: &[NonZeroUsize],
) -> (Verdict, Option<String>) {
    let block = match test.block(fork, entry.indexes) {
        Ok(block) => block,
        Err(Unexpressible::Skip(reason)) => return (Verdict::Skip(reason), None),
        Err(Unexpressible::Fail(message)) => return (Verdict::Fail(message), None),
    };
    let chain = test.chain(fork);
    let sequential = replay_sequential(&block, &chain);

    let note = match (&sequential, entry.expect_exception.as_deref()) {
        (Ok(replay), Some(expected)) => Some(format!(
            "the fixture expects `{expected}`, but the block executed the transaction ({:?})",
            replay.transactions.first().map(|t| &t.status)
        )),
        (Err(error), None) => Some(format!(
            "the fixture expects a valid transaction, but the block rejected it: {error}"
        )),
        _ => None,
    };
    if let Ok(replay) = &sequential {
        let sender = replay.transactions.first().map(|t| t.sender);
        if sender != test.sender() {
            let message = format!(
                "the converted block's transaction recovers to {sender:?}, not the test's sender \
                 {:?}",
                test.sender()
            );
            return (Verdict::Fail(message), note);
        }
        if replay.fork != fork {
            let message = format!("the block replayed as {}, not {fork}", replay.fork);
            return (Verdict::Fail(message), note);
        }
    }

    let mut agreed = Agreed::Executed;
    let mut mismatches = Vec::new();
    // Block-STM at every thread count, then in-order mode once: it shares the oracle's
    // executor but takes its state changes from the cache, not the bundle.
    let runs = threads
        .iter()
        .map(|&n| (Concurrency::Threads(n), n))
        .chain(threads.iter().max().map(|&n| (Concurrency::InOrder(n), n)));
    for (concurrency, n) in runs {
        let parallel = engine.replay(&block, &chain, concurrency);
        match compare(&sequential, &parallel, n.get()) {
            Ok(Agreed::Executed) => {}
            Ok(Agreed::Rejected) => {
                if matches!(agreed, Agreed::Executed) {
                    agreed = Agreed::Rejected;
                }
            }
            Ok(reworded @ Agreed::Reworded(_)) => agreed = reworded,
            Err(message) => mismatches.push(format!("{concurrency:?}: {message}")),
        }
    }
    if mismatches.is_empty() {
        (Verdict::Pass(agreed), note)
    } else {
        (Verdict::Fail(mismatches.join("; ")), note)
    }
}

/// Compares one parallel replay at `threads` with the sequential one.
pub(crate) fn compare(
    sequential: &Result<BlockReplay, ReplayError>,
    parallel: &Result<ParallelReplay, ReplayError>,
    threads: usize,
) -> Result<Agreed, String> {
    match (sequential, parallel) {
        (Ok(seq), Ok(par)) => {
            if par.threads != threads {
                return Err(format!("the engine ran {} threads", par.threads));
            }
            compare_replays(seq, &par.replay).map(|()| Agreed::Executed)
        }
        (
            Err(ReplayError::InvalidTransaction {
                number,
                index,
                hash,
                reason,
            }),
            Err(ReplayError::InvalidTransaction {
                number: p_number,
                index: p_index,
                hash: p_hash,
                reason: p_reason,
            }),
        ) => {
            if (number, index, hash) != (p_number, p_index, p_hash) {
                return Err(format!(
                    "both reject a transaction, but not the same: sequential block {number} tx \
                     {index} ({hash}), parallel block {p_number} tx {p_index} ({p_hash})"
                ));
            }
            if reason == p_reason {
                return Ok(Agreed::Rejected);
            }
            let (seq_core, par_core) = (underlying(reason), underlying(p_reason));
            if seq_core == par_core {
                Ok(Agreed::Reworded(mask_numbers(&seq_core)))
            } else {
                Err(format!(
                    "both reject the transaction, for different reasons: sequential `{reason}`, \
                     parallel `{p_reason}`"
                ))
            }
        }
        (Err(seq), Err(par)) => Err(format!(
            "the block cannot be replayed: sequential `{seq}`, parallel `{par}`"
        )),
        (Ok(seq), Err(par)) => Err(format!(
            "the parallel replay failed (`{par}`) where the sequential one executed the \
             transaction ({:?})",
            seq.transactions.first().map(|t| &t.status)
        )),
        (Err(seq), Ok(par)) => Err(format!(
            "the parallel replay executed the transaction ({:?}) where the sequential one \
             failed (`{seq}`)",
            par.replay.transactions.first().map(|t| &t.status)
        )),
    }
}

/// Names every field in which two successful replays differ.
fn compare_replays(seq: &BlockReplay, par: &BlockReplay) -> Result<(), String> {
    let mut diffs = Vec::new();
    if seq.transactions != par.transactions {
        diffs.push(format!(
            "transactions differ: sequential {:?}, parallel {:?}",
            seq.transactions, par.transactions
        ));
    }
    if seq.receipts != par.receipts {
        let first = seq
            .receipts
            .iter()
            .zip(&par.receipts)
            .position(|(a, b)| a != b)
            .unwrap_or(seq.receipts.len().min(par.receipts.len()));
        diffs.push(format!(
            "receipts differ (first at {first}): sequential {:?}, parallel {:?}",
            seq.receipts.get(first),
            par.receipts.get(first)
        ));
    }
    if seq.gas_used != par.gas_used {
        diffs.push(format!(
            "gas used differs: sequential {}, parallel {}",
            seq.gas_used, par.gas_used
        ));
    }
    if seq.state_changes != par.state_changes {
        let (a, b) = (&seq.state_changes.accounts, &par.state_changes.accounts);
        let address = a
            .keys()
            .chain(b.keys())
            .find(|address| a.get(*address) != b.get(*address));
        diffs.push(match address {
            Some(address) => format!(
                "state changes differ (first at {address}): sequential {:?}, parallel {:?}",
                a.get(address),
                b.get(address)
            ),
            None => "state changes differ".to_owned(),
        });
    }
    if seq.requests_hash != par.requests_hash {
        diffs.push(format!(
            "requests hash differs: sequential {:?}, parallel {:?}",
            seq.requests_hash, par.requests_hash
        ));
    }
    if seq.fork != par.fork || seq.number != par.number {
        diffs.push(format!(
            "block identity differs: sequential {} at {}, parallel {} at {}",
            seq.number, seq.fork, par.number, par.fork
        ));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

/// The error an invalid-transaction message wraps, without the engine's wording: alloy-evm's
/// `EVM reported invalid transaction (<hash>): X` and revm's `transaction validation error: X`
/// both give `X`; the block gas check, which both engines word differently, gives one form.
fn underlying(reason: &str) -> String {
    if let Some(rest) = reason.strip_prefix("EVM reported invalid transaction (")
        && let Some((_, error)) = rest.split_once("): ")
    {
        return error.to_owned();
    }
    if let Some(error) = reason.strip_prefix("transaction validation error: ") {
        return error.to_owned();
    }
    if let Some(rest) = reason.strip_prefix("transaction gas limit ") {
        for wording in [
            " is more than blocks available gas ",
            " is more than the block's available gas ",
        ] {
            if let Some((limit, available)) = rest.split_once(wording) {
                return format!(
                    "transaction gas limit {limit} is more than the block's available gas \
                     {available}"
                );
            }
        }
    }
    reason.to_owned()
}

/// `text` with every run of digits (and hex after `0x`) replaced by `N`, to group messages.
fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            if c == '0' && chars.peek() == Some(&'x') {
                chars.next();
                while chars.peek().is_some_and(char::is_ascii_hexdigit) {
                    chars.next();
                }
            }
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('N');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statetest::model::Indexes;
    use alloy_primitives::{Address, B256, U256, address, keccak256};

    /// A contract that stores 1 in slot 0 and BLOCKHASH(NUMBER - 1) in slot 1, called by a
    /// legacy transaction (`legacy`) and an EIP-1559 one with an access list (`eip1559`).
    const SUITE: &str = r#"{
      "legacy": {
        "env": {"currentCoinbase": "0x2adc25665018aa1fe0e6bc666dac8fc2697ff9ba",
                "currentGasLimit": "0x05f5e100", "currentNumber": "0x01",
                "currentTimestamp": "0x03e8", "currentDifficulty": "0x020000",
                "currentBaseFee": "0x0a", "currentExcessBlobGas": "0x00",
                "currentRandom": "0x0000000000000000000000000000000000000000000000000000000000020000"},
        "pre": {
          "0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b":
            {"balance": "0x0de0b6b3a7640000", "code": "0x", "nonce": "0x00", "storage": {}},
          "0x1000000000000000000000000000000000000000":
            {"balance": "0x00", "code": "0x60016000556001430340600155", "nonce": "0x00",
             "storage": {"0x05": "0x01", "0x06": "0x00"}}
        },
        "transaction": {"data": ["0x"], "gasLimit": ["0x0186a0"], "value": ["0x00", "0x01"],
          "nonce": "0x00", "gasPrice": "0x0a",
          "secretKey": "0x45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8",
          "sender": "0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b",
          "to": "0x1000000000000000000000000000000000000000"},
        "post": {}
      },
      "eip1559": {
        "env": {"currentCoinbase": "0x2adc25665018aa1fe0e6bc666dac8fc2697ff9ba",
                "currentGasLimit": "0x05f5e100", "currentNumber": "0x0300",
                "currentTimestamp": "0x03e8", "currentBaseFee": "0x0a",
                "currentExcessBlobGas": "0x00",
                "currentRandom": "0x0000000000000000000000000000000000000000000000000000000000020000"},
        "pre": {
          "0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b":
            {"balance": "0x0de0b6b3a7640000", "code": "0x", "nonce": "0x00", "storage": {}},
          "0x1000000000000000000000000000000000000000":
            {"balance": "0x00", "code": "0x60016000556001430340600155", "nonce": "0x00",
             "storage": {}}
        },
        "transaction": {"data": ["0x"], "gasLimit": ["0x0186a0"], "value": ["0x00"],
          "nonce": "0x00", "maxFeePerGas": "0x20", "maxPriorityFeePerGas": "0x02",
          "accessLists": [[{"address": "0x1000000000000000000000000000000000000000",
                            "storageKeys": ["0x0000000000000000000000000000000000000000000000000000000000000000"]}]],
          "secretKey": "0x45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8",
          "to": "0x1000000000000000000000000000000000000000"},
        "post": {}
      }
    }"#;

    const CONTRACT: Address = address!("0x1000000000000000000000000000000000000000");

    fn first_case() -> Indexes {
        Indexes {
            data: 0,
            gas: 0,
            value: 0,
        }
    }

    #[test]
    fn converted_blocks_replay_identically_and_see_the_state_test_block_hashes() {
        let suite: Suite = serde_json::from_str(SUITE).unwrap();
        let engine = ParallelEngine::new(NonZeroUsize::new(2).unwrap()).unwrap();
        let threads = [NonZeroUsize::new(1).unwrap(), NonZeroUsize::new(2).unwrap()];
        let cases = [
            ("legacy", Fork::Frontier, 1u64),
            ("legacy", Fork::Byzantium, 1),
            ("legacy", Fork::Cancun, 1),
            ("legacy", Fork::Prague, 1),
            ("legacy", Fork::Osaka, 1),
            ("eip1559", Fork::London, 0x300),
            ("eip1559", Fork::Prague, 0x300),
        ];
        for (name, fork, number) in cases {
            let test = BlockTest::new(&suite[name]).unwrap();
            let block = test.block(fork, first_case()).unwrap();
            block.check().unwrap();
            let expected_type = if name == "legacy" { 0 } else { 2 };
            assert_eq!(block.transactions()[0].tx_type() as u8, expected_type);
            let chain = test.chain(fork);
            let replay =
                replay_sequential(&block, &chain).unwrap_or_else(|e| panic!("{name} {fork}: {e}"));
            assert_eq!(replay.fork, fork);
            assert_eq!(replay.transactions[0].sender, test.sender().unwrap());
            let storage = &replay.state_changes.accounts[&CONTRACT].storage;
            assert_eq!(storage[&U256::ZERO], U256::from(1), "{name} {fork}");
            let parent_hash = keccak256((number - 1).to_string());
            assert_eq!(
                storage[&U256::from(1)],
                U256::from_be_bytes(parent_hash.0),
                "{name} {fork}"
            );

            let entry: PostEntry = serde_json::from_value(serde_json::json!({
                "hash": B256::ZERO, "logs": B256::ZERO,
                "indexes": {"data": 0, "gas": 0, "value": 0}
            }))
            .unwrap();
            let (verdict, note) = compare_case(&test, fork, &entry, &engine, &threads);
            assert!(
                matches!(verdict, Verdict::Pass(Agreed::Executed)),
                "{name} {fork}"
            );
            assert!(note.is_none());
        }
    }

    #[test]
    fn differences_are_named() {
        let suite: Suite = serde_json::from_str(SUITE).unwrap();
        let test = BlockTest::new(&suite["legacy"]).unwrap();
        let block = test.block(Fork::Cancun, first_case()).unwrap();
        let replay = replay_sequential(&block, &test.chain(Fork::Cancun)).unwrap();
        assert_eq!(compare_replays(&replay, &replay.clone()), Ok(()));

        let mut gas = replay.clone();
        gas.gas_used += 1;
        let message = compare_replays(&replay, &gas).unwrap_err();
        assert!(message.contains("gas used differs"), "{message}");

        let mut state = replay.clone();
        if let Some(change) = state.state_changes.accounts.get_mut(&CONTRACT) {
            change.storage.insert(U256::ZERO, U256::from(2));
        }
        let message = compare_replays(&replay, &state).unwrap_err();
        assert!(
            message.contains(&format!("state changes differ (first at {CONTRACT})")),
            "{message}"
        );

        let mut receipts = replay.clone();
        receipts.receipts.clear();
        let message = compare_replays(&replay, &receipts).unwrap_err();
        assert!(message.contains("receipts differ"), "{message}");
    }

    #[test]
    fn unexpressible_cases_are_skipped_with_their_reason() {
        let mut json: serde_json::Value = serde_json::from_str(SUITE).unwrap();
        json["legacy"]["transaction"]["value"][1] =
            serde_json::Value::String(format!("0x:bigint 0x1{}", "0".repeat(64)));
        json["eip1559"]["transaction"]
            .as_object_mut()
            .unwrap()
            .remove("secretKey");
        let suite: Suite = serde_json::from_value(json).unwrap();
        let wide = Indexes {
            value: 1,
            ..first_case()
        };
        let test = BlockTest::new(&suite["legacy"]).unwrap();
        match test.block(Fork::Cancun, wide) {
            Err(Unexpressible::Skip(reason)) => assert!(reason.contains("256 bits"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let test = BlockTest::new(&suite["eip1559"]).unwrap();
        match test.block(Fork::Cancun, first_case()) {
            Err(Unexpressible::Skip(reason)) => assert!(reason.contains("secretKey"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn underlying_errors_ignore_the_wrapping() {
        let seq = "EVM reported invalid transaction (0xab12): lack of funds (1) for max fee (2)";
        let par = "transaction validation error: lack of funds (1) for max fee (2)";
        assert_eq!(underlying(seq), underlying(par));
        assert_eq!(
            underlying("transaction gas limit 5 is more than blocks available gas 4"),
            underlying("transaction gas limit 5 is more than the block's available gas 4")
        );
        assert_ne!(
            underlying("transaction gas limit 5 is more than blocks available gas 4"),
            underlying(
                "transaction validation error: caller gas limit exceeds the block gas limit"
            )
        );
        assert_eq!(
            mask_numbers("lack of funds (10) for max fee (0x2a) at 7"),
            "lack of funds (N) for max fee (N) at N"
        );
    }
}
