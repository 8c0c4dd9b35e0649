//! The per-block pipeline, as one pure function: archive rows in, the four result tables out.
//!
//! [`replay_batch`] takes an Arrow record batch of archive rows (`schemas/archive.json`) and
//! returns one record batch per result table (`schemas/{blocks,transactions,conflicts,
//! hotspots}.json`, partition column included). It is what the command-line job runs on each
//! partition, and what the Spark job runs inside `mapInArrow`: same code, same rows.
//!
//! For each row, in order, stopping at the first failure (which becomes the block's `error`):
//! 1. **decode** the row ([`ArchiveColumns::row`], [`ArchiveRow::to_block`](crate::ArchiveRow::to_block)), resolve the
//!    chain and check the stored fork;
//! 2. **check** the block against its own header roots ([`ArchivedBlock::check`]);
//! 3. **replay** it sequentially (the oracle) and **verify** the replay against the header;
//! 4. replay it in **parallel** at each thread count of [`JobParams::threads`], each run
//!    compared with the oracle (receipts, per-transaction results, state changes);
//! 5. **analyse** the first run's traces ([`replay_evm::analysis::analyse`]) and build the block's rows.
//!
//! Rows are sorted by each table's sort key, whatever the input order. Every column except
//! the `measured_*` ones is a pure function of the archive row, `partition_blocks` and the
//! engine version; [`JobParams::reproducible`] nulls the measured ones.

use std::{num::NonZeroUsize, time::Instant};

use crate::{
    DatasetError,
    archive::ArchiveColumns,
    measure::{self, RepeatPolicy, Samples},
    params::JobParams,
    partition::BlockRange,
    tables::{
        ResultBatches, build_tables,
        rows::{
            BlockOutput, BlockRow, EdgeRow, HotRow, LocRow, Measured, ModeRow, NextBlock,
            ReplayRow, RunRow, TxRow, to_i32, to_i64,
        },
    },
};
use alloy_consensus::Transaction;
use arrow_array::RecordBatch;
use replay_evm::{
    access::{Location, ReadOrigin},
    analysis::{BlockAnalysis, DagSummary, THREAD_COUNTS, UpdateModel, analyse, hotspots},
    block::ArchivedBlock,
    consistency,
    parallel::{Concurrency, ParallelEngine, ParallelReplay},
    sequential::{BlockReplay, TxStatus, replay_sequential},
    state_changes::StateChanges,
    verify::{receipts_root, verify},
};

/// Summary figures of one block, for progress and reports (not a table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockTally {
    /// Whether it verified.
    pub verified: bool,
    /// Gas used by the replay (0 when it did not run).
    pub gas_used: u64,
    /// Transactions.
    pub txs: u64,
    /// Decoding the row and checking the body against the header (µs).
    pub decode_us: u64,
    /// The sequential replay and its verification (µs; 0 when it did not run).
    pub sequential_us: u64,
    /// Every parallel run and timing round (µs; 0 when none ran).
    pub parallel_runs_us: u64,
    /// The median parallel run at the first thread count (µs; 0 when it did not run).
    pub parallel_us: u64,
    /// Wall time of analysis and rows (µs).
    pub analysis_us: u64,
    /// Wall time of all the block's work (µs).
    pub total_us: u64,
}

/// Replays every archive row of `batch` and returns the four result tables. See the module
/// docs for the steps; a row that fails any step becomes a `blocks` row with its error.
///
/// # Errors
/// [`DatasetError::Schema`] when `batch` is not an archive batch, or on a bug building a
/// table (a writer that drifted from its schema). Bad rows are never errors.
pub fn replay_batch(
    batch: &RecordBatch,
    params: &JobParams,
    engine: &ParallelEngine,
) -> Result<ResultBatches, DatasetError> {
    replay_batch_with(batch, None, params, engine, |_| {})
}

/// [`replay_batch`], with `next`: archive rows that follow the batch (only the first, in
/// block order, is read, and not replayed), so that the batch's last block can be checked
/// against its successor when a caller splits one block range into several batches, as
/// the Spark job does; and calling `on_block` after each block (for progress).
///
/// Every verified block whose successor (block n+1, child of block n, in the same block
/// range) is in the batch or is `next`'s first row is checked against it
/// ([`replay_evm::consistency::compare`]): the `next_block_*` columns of `blocks`.
///
/// # Errors
/// As [`replay_batch`]; also when `next` is not an archive batch.
pub fn replay_batch_with(
    batch: &RecordBatch,
    next: Option<&RecordBatch>,
    params: &JobParams,
    engine: &ParallelEngine,
    mut on_block: impl FnMut(&BlockTally),
) -> Result<ResultBatches, DatasetError> {
    params.validate()?;
    let columns = ArchiveColumns::new(batch)?;
    let next = next.map(ArchiveColumns::new).transpose()?;
    let width = params.partition_blocks;
    // In block order, so that each block meets its successor right after it.
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by_cached_key(|&i| {
        let meta = columns.meta(i);
        (meta.number, meta.hash)
    });
    let mut outputs: Vec<BlockOutput> = Vec::with_capacity(columns.len());
    let mut previous: Option<Replayed> = None;
    for i in order {
        let (output, tally, replayed) = process_row(&columns, i, params, engine);
        on_block(&tally);
        if let (Some(prev), Some(last)) = (previous.take(), outputs.last_mut()) {
            match &replayed {
                Some(this) => check_next_block(&prev, &this.block, width, &mut last.block),
                None => {
                    if let Some(this) = decoded(&columns, i) {
                        check_next_block(&prev, &this, width, &mut last.block);
                    }
                }
            }
        }
        previous = replayed;
        outputs.push(output);
    }
    if let (Some(prev), Some(last), Some(next)) = (previous, outputs.last_mut(), &next) {
        let first = (0..next.len()).min_by_key(|&i| {
            let meta = next.meta(i);
            (meta.number, meta.hash)
        });
        if let Some(this) = first.and_then(|first| decoded(next, first)) {
            check_next_block(&prev, &this, width, &mut last.block);
        }
    }
    build_tables(&outputs, params.partition_blocks)
}

/// Row `i` decoded, or `None` when it does not decode (then nothing is checked against it).
fn decoded(columns: &ArchiveColumns<'_>, i: usize) -> Option<ArchivedBlock> {
    columns.row(i).ok()?.to_block().ok()
}

/// Checks `prev` (a verified block) against `next`, when `next` is its successor in the same
/// block range (of `width` blocks), and records the result in `row`.
fn check_next_block(prev: &Replayed, next: &ArchivedBlock, width: u64, row: &mut BlockRow) {
    let number = prev.block.number();
    let successor = next.number() == number + 1
        && next.header().parent_hash == prev.block.hash
        && BlockRange::containing(next.number(), width) == BlockRange::containing(number, width);
    if !successor {
        return;
    }
    let comparison = consistency::compare(&prev.block, &prev.changes, next);
    row.next_block = NextBlock {
        checked: true,
        disagreements: Some(i32::try_from(comparison.disagreements.len()).unwrap_or(i32::MAX)),
        first_disagreement: comparison.disagreements.first().map(ToString::to_string),
    };
}

/// What a verified block leaves for the check against the next one.
struct Replayed {
    block: ArchivedBlock,
    changes: StateChanges,
}

fn micros(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX)
}

fn process_row(
    columns: &ArchiveColumns<'_>,
    i: usize,
    params: &JobParams,
    engine: &ParallelEngine,
) -> (BlockOutput, BlockTally, Option<Replayed>) {
    let started = Instant::now();
    let mut out = BlockOutput {
        block: BlockRow {
            meta: columns.meta(i),
            error: None,
            tx_count: None,
            gas_limit: None,
            replay: None,
            receipts_root_checked: None,
            accesses: None,
            lazy: None,
            naive: None,
            next_block: NextBlock::default(),
            measured: Measured::default(),
        },
        txs: Vec::new(),
        edges: Vec::new(),
        hot: Vec::new(),
    };
    let mut tally = BlockTally::default();
    let replayed = match run_block(columns, i, params, engine, &mut out, &mut tally, started) {
        Ok(replayed) => Some(replayed),
        Err(error) => {
            out.block.error = Some(error);
            None
        }
    };
    if out.block.error.is_some() {
        out.txs.clear();
        out.edges.clear();
        out.hot.clear();
    }
    let total_us = micros(started);
    tally.verified = out.block.error.is_none();
    tally.total_us = u64::try_from(total_us).unwrap_or_default();
    out.block.measured.total_us = Some(total_us);
    if params.reproducible {
        out.block.measured = Measured::default();
        for tx in &mut out.txs {
            tx.incarnations = None;
            tx.exec_us = None;
        }
    }
    (out, tally, replayed)
}

type StageError = (&'static str, String);

fn run_block(
    columns: &ArchiveColumns<'_>,
    i: usize,
    params: &JobParams,
    engine: &ParallelEngine,
    out: &mut BlockOutput,
    tally: &mut BlockTally,
    started: Instant,
) -> Result<Replayed, StageError> {
    let decode = |e: String| ("decode", e);
    let row = columns.row(i).map_err(decode)?;
    let block = row.to_block().map_err(decode)?;
    out.block.tx_count = Some(to_i32(block.transactions().len()));
    out.block.gas_limit = Some(to_i64(block.header().gas_limit));
    tally.txs = block.transactions().len() as u64;
    let chain = row.chain().map_err(decode)?;
    let fork = block.fork(&chain);
    if fork.name() != row.fork {
        return Err(decode(format!(
            "fork: the row says {} but the chain's rules give {fork} at block {}",
            row.fork,
            block.number()
        )));
    }
    block.check().map_err(|e| ("check", e.to_string()))?;
    let decode_us = micros(started);
    out.block.measured.decode_us = Some(decode_us);
    tally.decode_us = u64::try_from(decode_us).unwrap_or_default();

    let sequential_started = Instant::now();
    let seq = replay_sequential(&block, &chain).map_err(|e| ("replay", e.to_string()))?;
    tally.gas_used = seq.gas_used;
    out.block.replay = Some(ReplayRow {
        gas_used: to_i64(seq.gas_used),
        logs: to_i64(seq.transactions.iter().map(|t| t.logs as u64).sum()),
        receipts_root: receipts_root(&seq.receipts),
        state_diff_hash: seq.state_changes.hash(),
        changed_accounts: to_i64(seq.state_changes.accounts.len() as u64),
        changed_slots: to_i64(seq.state_changes.slot_count() as u64),
        ommer_rewards_applied: seq.ommer_rewards_applied,
    });
    let verification = verify(block.header(), &seq).map_err(|e| ("verify", e.to_string()))?;
    out.block.receipts_root_checked = Some(verification.receipts_root_checked);
    tally.sequential_us = u64::try_from(micros(sequential_started)).unwrap_or_default();
    let parallel_started = Instant::now();

    // The verification round: every parallel run is compared with the sequential replay; the
    // first is analysed. It also warms the caches and the allocator (the first replay of a
    // block pays page faults and cold code paths the next ones do not), so it is not timed:
    // the timed rounds follow (`measure`), at least one, more while the block is too quick
    // to time once.
    let parallel = |threads: usize| -> Result<ParallelReplay, StageError> {
        let concurrency =
            Concurrency::Threads(NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN));
        let par = engine
            .replay(&block, &chain, concurrency)
            .map_err(|e| ("parallel", format!("at {threads} threads: {e}")))?;
        match seq.first_difference(&par.replay) {
            None => Ok(par),
            Some(difference) => Err((
                "parallel",
                format!(
                    "block {}: the parallel run at {threads} threads differs from the \
                     sequential replay: {difference}",
                    block.number()
                ),
            )),
        }
    };
    let mut samples = vec![Samples::default(); params.threads.len() + 1];
    let mut first_runs = Vec::with_capacity(params.threads.len());
    for &threads in &params.threads {
        first_runs.push(parallel(threads)?);
    }
    let rounds = measure::repeat(&RepeatPolicy::JOB, &mut samples, || {
        let sequential = replay_sequential(&block, &chain)
            .map_err(|e| ("replay", format!("timing round: {e}")))?;
        let mut timings = vec![sequential.wall_us];
        for &threads in &params.threads {
            timings.push(parallel(threads)?.replay.wall_us);
        }
        Ok(timings)
    })?;
    let sequential_us = samples[0].median();
    out.block.measured.sequential_us = Some(to_i64(sequential_us));
    out.block.measured.sequential_spread = Some(samples[0].spread());
    out.block.measured.repeats = Some(i32::try_from(rounds).unwrap_or(i32::MAX));
    let runs = first_runs
        .iter()
        .zip(&samples[1..])
        .map(|(par, timings)| RunRow {
            threads: to_i32(par.threads),
            wall_us: to_i64(timings.median()),
            speedup: sequential_us as f64 / timings.median().max(1) as f64,
            spread: timings.spread(),
            executions: to_i64(par.counters.executions),
            validations: to_i64(par.counters.validations),
            aborts: to_i64(par.counters.aborts),
            suspensions: to_i64(par.counters.suspensions),
        })
        .collect();
    out.block.measured.runs = Some(runs);
    let Some(par) = first_runs.into_iter().next() else {
        return Err(("parallel", "no thread count".into()));
    };
    tally.parallel_us = samples[1].median();
    tally.parallel_runs_us = u64::try_from(micros(parallel_started)).unwrap_or_default();

    let analysis_started = Instant::now();
    let analysis = analyse(&par.accesses());
    add_analysis(out, &block, &seq, &par, &analysis);
    let analysis_us = micros(analysis_started);
    out.block.measured.analysis_us = Some(analysis_us);
    tally.analysis_us = u64::try_from(analysis_us).unwrap_or_default();
    Ok(Replayed {
        block,
        changes: seq.state_changes,
    })
}

fn mode_row(summary: &DagSummary, hot: usize) -> ModeRow {
    let speedup = |t: usize| summary.speedup_at(t).unwrap_or(1.0);
    ModeRow {
        edges: to_i64(summary.edges as u64),
        conflicting_txs: to_i64(summary.conflicting_txs as u64),
        conflict_rate: summary.conflict_rate,
        critical_path_gas: to_i64(summary.critical_path.gas),
        critical_path_txs: to_i64(summary.critical_path.txs.len() as u64),
        theoretical_speedup: summary.theoretical_speedup,
        speedups: [
            speedup(THREAD_COUNTS[0]),
            speedup(THREAD_COUNTS[1]),
            speedup(THREAD_COUNTS[2]),
            speedup(THREAD_COUNTS[3]),
        ],
        hotspots: to_i64(hot as u64),
    }
}

fn add_analysis(
    out: &mut BlockOutput,
    block: &ArchivedBlock,
    seq: &BlockReplay,
    par: &ParallelReplay,
    analysis: &BlockAnalysis,
) {
    let mut totals = [0i64; 3];
    let on_path: std::collections::BTreeSet<usize> =
        analysis.lazy.critical_path.txs.iter().copied().collect();
    for ((tx, outcome), trace) in block
        .transactions()
        .iter()
        .zip(&seq.transactions)
        .zip(&par.traces)
    {
        let mut reads: Vec<(Location, ReadOrigin)> = trace.reads.iter().collect();
        reads.sort_by_key(|(location, _)| *location);
        totals[0] += to_i64(reads.len() as u64);
        totals[1] += to_i64(trace.writes.len() as u64);
        totals[2] += to_i64(trace.credits.len() as u64);
        let deps = |summary: &DagSummary| {
            summary
                .graph
                .dependencies_of(trace.index)
                .iter()
                .map(|d| to_i32(*d))
                .collect()
        };
        out.txs.push(TxRow {
            index: to_i32(trace.index),
            hash: outcome.hash,
            sender: outcome.sender,
            to: tx.to(),
            tx_type: i32::from(tx.tx_type() as u8),
            status: outcome.status.as_str(),
            halt_reason: match &outcome.status {
                TxStatus::Halt(reason) => Some(reason.clone()),
                _ => None,
            },
            gas_limit: to_i64(tx.gas_limit()),
            gas_used: to_i64(outcome.gas_used),
            logs: to_i32(outcome.logs),
            reads: reads
                .iter()
                .map(|(location, origin)| {
                    let origin = match origin {
                        ReadOrigin::PreState => None,
                        ReadOrigin::Tx(t) => Some(to_i32(*t)),
                    };
                    (LocRow::from(location), origin)
                })
                .collect(),
            writes: trace.writes.iter().map(LocRow::from).collect(),
            credits: trace.credits.iter().map(LocRow::from).collect(),
            lazy_dependencies: deps(&analysis.lazy),
            naive_dependencies: deps(&analysis.naive),
            on_critical_path: on_path.contains(&trace.index),
            incarnations: Some(i32::try_from(trace.incarnations).unwrap_or(i32::MAX)),
            exec_us: Some(to_i64(trace.exec_us)),
        });
    }
    out.block.accesses = Some(totals);
    for summary in [&analysis.lazy, &analysis.naive] {
        let mode = summary.mode.as_str();
        for edge in summary.graph.edges() {
            out.edges.push(EdgeRow {
                mode,
                dependent: to_i32(edge.dependent),
                dependency: to_i32(edge.dependency),
                locations: edge.locations.iter().map(LocRow::from).collect(),
            });
        }
        let ranked = hotspots(&summary.graph);
        let row = mode_row(summary, ranked.len());
        match summary.mode {
            UpdateModel::Lazy => out.block.lazy = Some(row),
            UpdateModel::Naive => out.block.naive = Some(row),
        }
        for (rank, hot) in ranked.iter().enumerate() {
            out.hot.push(HotRow {
                mode,
                rank: to_i32(rank + 1),
                location: LocRow::from(&hot.location),
                edges: to_i64(hot.dependencies as u64),
                dependents: to_i64(hot.dependents as u64),
                txs: to_i64(hot.txs as u64),
            });
        }
    }
}
