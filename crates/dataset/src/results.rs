//! The per-partition work, as one pure function: archive rows in, the four result tables out.
//!
//! [`replay_batch`] takes an Arrow record batch of archive rows (`schemas/archive.json`) and
//! returns one record batch per result table (`schemas/{blocks,transactions,conflicts,
//! hotspots}.json`, partition column included). It is what the command-line job runs on each
//! partition, and what the Spark job runs inside `mapInArrow`: same code, same rows.
//!
//! For each row, in order, stopping at the first failure (which becomes the block's `error`):
//! 1. **decode** the row ([`ArchiveColumns::row`], [`ArchiveRow::to_block`]), resolve the
//!    chain and check the stored fork;
//! 2. **check** the block against its own header roots ([`ArchivedBlock::check`]);
//! 3. **replay** it sequentially (the oracle) and **verify** the replay against the header;
//! 4. replay it in **parallel** at each thread count of [`JobParams::threads`], each run
//!    compared with the oracle (receipts, per-transaction results, state changes);
//! 5. **analyse** the first run's traces ([`analyse`]) and build the block's rows.
//!
//! Rows are sorted by each table's sort key, whatever the input order. Every column except
//! the `measured_*` ones is a pure function of the archive row, `partition_blocks` and the
//! engine version; [`JobParams::reproducible`] nulls the measured ones.

use std::{num::NonZeroUsize, time::Instant};

use alloy_consensus::Transaction;
use alloy_primitives::{Address, B256, U256};
use arrow_array::RecordBatch;
use arrow_schema::{FieldRef, SchemaRef};
use replay_evm::{
    access::{Location, ReadOrigin},
    analysis::{BlockAnalysis, DagSummary, THREAD_COUNTS, UpdateModel, analyse, hotspots},
    block::ArchivedBlock,
    chain::Fork,
    consistency,
    parallel::{Concurrency, ParallelEngine, ParallelReplay},
    sequential::{BlockReplay, TxStatus, replay_sequential},
    state_changes::StateChanges,
    verify::{receipts_root, verify},
};
use serde::{Deserialize, Serialize};

use crate::{
    DatasetError,
    archive::{ArchiveColumns, RowMeta},
    columns::{
        self, bins, bools, f64s, i32s, i64s, opt_bins, opt_bools, opt_f64s, opt_i32s, opt_i64s,
        opt_strs, strs,
    },
    measure::{self, RepeatPolicy, Samples},
    schema,
};

/// The parameters that shape a job's outputs (recorded in its checkpoint; changing them
/// into existing results is refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    /// Thread counts of the parallel replays of each block, in order (each at least 1).
    pub threads: Vec<usize>,
    /// Width of a partition in block numbers: block `n` is in partition
    /// `n - n % partition_blocks`.
    pub partition_blocks: u64,
    /// Null every `measured_*` column, so that the outputs are byte-for-byte reproducible.
    pub reproducible: bool,
}

impl Default for JobParams {
    fn default() -> Self {
        Self {
            threads: vec![1, 2],
            partition_blocks: 10_000,
            reproducible: false,
        }
    }
}

impl JobParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`DatasetError::Usage`] for no thread count, a zero thread count or a zero width.
    pub fn validate(&self) -> Result<(), DatasetError> {
        if self.threads.is_empty() {
            return Err(DatasetError::Usage("--threads is empty".into()));
        }
        if self.threads.contains(&0) {
            return Err(DatasetError::Usage(
                "--threads: 0 is not a thread count".into(),
            ));
        }
        if self.partition_blocks == 0 {
            return Err(DatasetError::Usage(
                "--partition-blocks must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The largest thread count: the size of the engine's pool.
    pub fn max_threads(&self) -> NonZeroUsize {
        self.threads
            .iter()
            .copied()
            .max()
            .and_then(NonZeroUsize::new)
            .unwrap_or(NonZeroUsize::MIN)
    }

    /// The partition holding block `number`.
    pub fn range_of(&self, number: u64) -> BlockRange {
        BlockRange::containing(number, self.partition_blocks)
    }
}

/// A partition: the block numbers `start..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockRange {
    /// First block number.
    pub start: u64,
    /// Last block number (inclusive).
    pub end: u64,
}

impl BlockRange {
    /// The range of width `width` (at least 1) holding `number`.
    pub fn containing(number: u64, width: u64) -> Self {
        let width = width.max(1);
        let start = number - number % width;
        Self {
            start,
            end: start.saturating_add(width - 1),
        }
    }

    /// The partition value, `SSSSSSSSSSS-EEEEEEEEEEE` (11 zero-padded digits each).
    pub fn name(&self) -> String {
        format!("{:011}-{:011}", self.start, self.end)
    }

    /// Parses [`BlockRange::name`].
    pub fn parse(name: &str) -> Option<Self> {
        let (start, end) = name.split_once('-')?;
        Some(Self {
            start: start.parse().ok()?,
            end: end.parse().ok()?,
        })
    }
}

/// The four result tables of one batch of archive rows.
#[derive(Debug, Clone)]
pub struct ResultBatches {
    /// `schemas/blocks.json`.
    pub blocks: RecordBatch,
    /// `schemas/transactions.json`.
    pub transactions: RecordBatch,
    /// `schemas/conflicts.json`.
    pub conflicts: RecordBatch,
    /// `schemas/hotspots.json`.
    pub hotspots: RecordBatch,
}

impl ResultBatches {
    /// The batch of result table `name`.
    pub fn get(&self, name: &str) -> Option<&RecordBatch> {
        match name {
            "blocks" => Some(&self.blocks),
            "transactions" => Some(&self.transactions),
            "conflicts" => Some(&self.conflicts),
            "hotspots" => Some(&self.hotspots),
            _ => None,
        }
    }

    /// (table name, batch) for the four tables, in [`schema::RESULT_TABLES`] order.
    pub fn tables(&self) -> [(&'static str, &RecordBatch); 4] {
        [
            ("blocks", &self.blocks),
            ("transactions", &self.transactions),
            ("conflicts", &self.conflicts),
            ("hotspots", &self.hotspots),
        ]
    }
}

/// Summary figures of one block, for progress and reports (not a table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockTally {
    /// Whether it verified.
    pub verified: bool,
    /// Gas used by the replay (0 when it did not run).
    pub gas_used: u64,
    /// Transactions.
    pub txs: u64,
    /// Wall time of the first parallel run (µs; 0 when it did not run).
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
    warm_up(&columns);
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
        let (output, replayed) = process_row(&columns, i, params, engine);
        on_block(&output.tally);
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
    build_tables(&outputs, params)
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

/// Loads the KZG trusted setup (about 2.5 s, once per process) before any block is timed,
/// when the batch holds a block of a fork with the point-evaluation precompile; otherwise the
/// first such block's sequential replay would pay for it.
fn warm_up(columns: &ArchiveColumns<'_>) {
    let has_kzg = (0..columns.len()).any(|i| {
        columns
            .meta(i)
            .fork
            .parse::<Fork>()
            .is_ok_and(|f| f >= Fork::Cancun)
    });
    if has_kzg {
        let _ = revm::precompile::kzg_point_evaluation::verify_kzg_proof(
            &[0; 48], &[0; 32], &[0; 32], &[0; 48],
        );
    }
}

/// One location of a trace, edge or hotspot.
#[derive(Debug, Clone, Copy)]
struct LocRow {
    kind: &'static str,
    address: Address,
    slot: Option<U256>,
}

impl From<&Location> for LocRow {
    fn from(location: &Location) -> Self {
        Self {
            kind: location.kind(),
            address: location.address(),
            slot: match location {
                Location::Storage(_, slot) => Some(*slot),
                _ => None,
            },
        }
    }
}

#[derive(Debug)]
struct TxRow {
    index: i32,
    hash: B256,
    sender: Address,
    to: Option<Address>,
    tx_type: i32,
    status: &'static str,
    halt_reason: Option<String>,
    gas_limit: i64,
    gas_used: i64,
    logs: i32,
    reads: Vec<(LocRow, Option<i32>)>,
    writes: Vec<LocRow>,
    credits: Vec<LocRow>,
    lazy_dependencies: Vec<i32>,
    naive_dependencies: Vec<i32>,
    on_critical_path: bool,
    incarnations: Option<i32>,
    exec_us: Option<i64>,
}

#[derive(Debug)]
struct EdgeRow {
    mode: &'static str,
    dependent: i32,
    dependency: i32,
    locations: Vec<LocRow>,
}

#[derive(Debug)]
struct HotRow {
    mode: &'static str,
    rank: i32,
    location: LocRow,
    edges: i64,
    dependents: i64,
    txs: i64,
}

#[derive(Debug, Clone, Copy)]
struct ModeRow {
    edges: i64,
    conflicting_txs: i64,
    conflict_rate: f64,
    critical_path_gas: i64,
    critical_path_txs: i64,
    theoretical_speedup: f64,
    speedups: [f64; 4],
    hotspots: i64,
}

#[derive(Debug)]
struct RunRow {
    threads: i32,
    wall_us: i64,
    speedup: f64,
    spread: f64,
    executions: i64,
    validations: i64,
    aborts: i64,
    suspensions: i64,
}

#[derive(Debug)]
struct ReplayRow {
    gas_used: i64,
    logs: i64,
    receipts_root: B256,
    state_diff_hash: B256,
    changed_accounts: i64,
    changed_slots: i64,
    ommer_rewards_applied: bool,
}

#[derive(Debug, Default)]
struct Measured {
    decode_us: Option<i64>,
    sequential_us: Option<i64>,
    repeats: Option<i32>,
    sequential_spread: Option<f64>,
    analysis_us: Option<i64>,
    total_us: Option<i64>,
    runs: Option<Vec<RunRow>>,
}

#[derive(Debug)]
struct BlockRow {
    meta: RowMeta,
    error: Option<(&'static str, String)>,
    tx_count: Option<i32>,
    gas_limit: Option<i64>,
    replay: Option<ReplayRow>,
    receipts_root_checked: Option<bool>,
    accesses: Option<[i64; 3]>,
    lazy: Option<ModeRow>,
    naive: Option<ModeRow>,
    next_block: NextBlock,
    measured: Measured,
}

/// The consistency check of a block against the next one (`consistency::compare`).
#[derive(Debug, Default)]
struct NextBlock {
    /// Whether block n+1 was there to check against (same batch or the look-ahead, same
    /// block range, child of this block) and this block verified.
    checked: bool,
    /// Fields on which this block's post-state and block n+1's pre-state disagree.
    disagreements: Option<i32>,
    /// The first of them, in words.
    first_disagreement: Option<String>,
}

/// What a verified block leaves for the check against the next one.
struct Replayed {
    block: ArchivedBlock,
    changes: StateChanges,
}

#[derive(Debug)]
struct BlockOutput {
    block: BlockRow,
    txs: Vec<TxRow>,
    edges: Vec<EdgeRow>,
    hot: Vec<HotRow>,
    tally: BlockTally,
}

fn micros(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_i32(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn process_row(
    columns: &ArchiveColumns<'_>,
    i: usize,
    params: &JobParams,
    engine: &ParallelEngine,
) -> (BlockOutput, Option<Replayed>) {
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
        tally: BlockTally::default(),
    };
    let replayed = match run_block(columns, i, params, engine, &mut out, started) {
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
    out.tally.verified = out.block.error.is_none();
    out.tally.total_us = u64::try_from(total_us).unwrap_or_default();
    out.block.measured.total_us = Some(total_us);
    if params.reproducible {
        out.block.measured = Measured::default();
        for tx in &mut out.txs {
            tx.incarnations = None;
            tx.exec_us = None;
        }
    }
    (out, replayed)
}

type StageError = (&'static str, String);

fn run_block(
    columns: &ArchiveColumns<'_>,
    i: usize,
    params: &JobParams,
    engine: &ParallelEngine,
    out: &mut BlockOutput,
    started: Instant,
) -> Result<Replayed, StageError> {
    let decode = |e: String| ("decode", e);
    let row = columns.row(i).map_err(decode)?;
    let block = row.to_block().map_err(decode)?;
    out.block.tx_count = Some(to_i32(block.transactions().len()));
    out.block.gas_limit = Some(to_i64(block.header().gas_limit));
    out.tally.txs = block.transactions().len() as u64;
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
    out.block.measured.decode_us = Some(micros(started));

    let seq = replay_sequential(&block, &chain).map_err(|e| ("replay", e.to_string()))?;
    out.tally.gas_used = seq.gas_used;
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

    // Round 1: every parallel run is compared with the sequential replay; the first is
    // analysed. Then more rounds while the block is too quick to time once (`measure`).
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
    samples[0].push(seq.wall_us);
    let mut first_runs = Vec::with_capacity(params.threads.len());
    for (k, &threads) in params.threads.iter().enumerate() {
        let par = parallel(threads)?;
        samples[k + 1].push(par.replay.wall_us);
        first_runs.push(par);
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
    out.tally.parallel_us = samples[1].median();

    let analysis_started = Instant::now();
    let analysis = analyse(&par.accesses());
    add_analysis(out, &block, &seq, &par, &analysis);
    let analysis_us = micros(analysis_started);
    out.block.measured.analysis_us = Some(analysis_us);
    out.tally.analysis_us = u64::try_from(analysis_us).unwrap_or_default();
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
        let mut reads: Vec<(Location, ReadOrigin)> = trace.reads.clone();
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

/// The schema of result table `name` (partition column included).
///
/// # Errors
/// [`DatasetError::Schema`] for an unknown table.
pub fn result_schema(name: &str) -> Result<SchemaRef, DatasetError> {
    Ok(schema::table(name)?.arrow_schema())
}

fn field(schema: &SchemaRef, name: &str) -> Result<FieldRef, DatasetError> {
    schema
        .fields()
        .find(name)
        .map(|(_, f)| f.clone())
        .ok_or_else(|| DatasetError::Schema(format!("schema has no column `{name}`")))
}

/// A `list<struct<kind, address, slot[, origin_tx]>>` column.
fn location_list(
    field: &FieldRef,
    rows: &[Vec<LocRow>],
    origins: Option<&[Vec<Option<i32>>]>,
) -> Result<arrow_array::ArrayRef, DatasetError> {
    let flat: Vec<&LocRow> = rows.iter().flatten().collect();
    let kinds: Vec<&str> = flat.iter().map(|l| l.kind).collect();
    let addresses: Vec<&[u8]> = flat.iter().map(|l| l.address.as_slice()).collect();
    let slots: Vec<Option<[u8; 32]>> = flat
        .iter()
        .map(|l| l.slot.map(|s| s.to_be_bytes::<32>()))
        .collect();
    let mut children = vec![strs(&kinds), bins(&addresses), opt_bins(&slots)];
    if let Some(origins) = origins {
        children.push(opt_i32s(origins.iter().flatten().copied().collect()));
    }
    let items = columns::structs(field, children)?;
    let lengths: Vec<usize> = rows.iter().map(Vec::len).collect();
    columns::list(field, &lengths, items, None)
}

fn int_list(field: &FieldRef, rows: &[&Vec<i32>]) -> Result<arrow_array::ArrayRef, DatasetError> {
    let lengths: Vec<usize> = rows.iter().map(|r| r.len()).collect();
    let items = i32s(rows.iter().flat_map(|r| r.iter().copied()).collect());
    columns::list(field, &lengths, items, None)
}

fn build_tables(
    outputs: &[BlockOutput],
    params: &JobParams,
) -> Result<ResultBatches, DatasetError> {
    let range = |meta: &RowMeta| {
        params
            .range_of(u64::try_from(meta.number).unwrap_or(0))
            .name()
    };
    Ok(ResultBatches {
        blocks: blocks_batch(outputs, &range)?,
        transactions: transactions_batch(outputs, &range)?,
        conflicts: conflicts_batch(outputs, &range)?,
        hotspots: hotspots_batch(outputs, &range)?,
    })
}

fn blocks_batch(
    outputs: &[BlockOutput],
    range: &dyn Fn(&RowMeta) -> String,
) -> Result<RecordBatch, DatasetError> {
    let schema = result_schema("blocks")?;
    let rows: Vec<&BlockRow> = outputs.iter().map(|o| &o.block).collect();
    let replay = |f: &dyn Fn(&ReplayRow) -> i64| -> Vec<Option<i64>> {
        rows.iter().map(|r| r.replay.as_ref().map(f)).collect()
    };
    let mut columns: Vec<(&str, arrow_array::ArrayRef)> = vec![
        (
            "block_range",
            strs(&rows.iter().map(|r| range(&r.meta)).collect::<Vec<_>>()),
        ),
        (
            "block_number",
            i64s(rows.iter().map(|r| r.meta.number).collect()),
        ),
        (
            "block_hash",
            bins(
                &rows
                    .iter()
                    .map(|r| r.meta.hash.as_slice())
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "chain_id",
            i64s(rows.iter().map(|r| r.meta.chain_id).collect()),
        ),
        (
            "timestamp",
            i64s(rows.iter().map(|r| r.meta.timestamp).collect()),
        ),
        (
            "fork",
            strs(
                &rows
                    .iter()
                    .map(|r| r.meta.fork.as_str())
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "verified",
            bools(rows.iter().map(|r| r.error.is_none()).collect()),
        ),
        (
            "error_stage",
            opt_strs(
                &rows
                    .iter()
                    .map(|r| r.error.as_ref().map(|(s, _)| (*s).to_owned()))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "error",
            opt_strs(
                &rows
                    .iter()
                    .map(|r| r.error.as_ref().map(|(_, e)| e.clone()))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "tx_count",
            opt_i32s(rows.iter().map(|r| r.tx_count).collect()),
        ),
        (
            "gas_limit",
            opt_i64s(rows.iter().map(|r| r.gas_limit).collect()),
        ),
        ("gas_used", opt_i64s(replay(&|r| r.gas_used))),
        ("logs", opt_i64s(replay(&|r| r.logs))),
        (
            "receipts_root",
            opt_bins(
                &rows
                    .iter()
                    .map(|r| r.replay.as_ref().map(|p| p.receipts_root))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "receipts_root_checked",
            opt_bools(rows.iter().map(|r| r.receipts_root_checked).collect()),
        ),
        (
            "state_diff_hash",
            opt_bins(
                &rows
                    .iter()
                    .map(|r| r.replay.as_ref().map(|p| p.state_diff_hash))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "changed_accounts",
            opt_i64s(replay(&|r| r.changed_accounts)),
        ),
        ("changed_slots", opt_i64s(replay(&|r| r.changed_slots))),
        (
            "ommer_rewards_applied",
            opt_bools(
                rows.iter()
                    .map(|r| r.replay.as_ref().map(|p| p.ommer_rewards_applied))
                    .collect(),
            ),
        ),
    ];
    for (name, k) in [("reads", 0), ("writes", 1), ("credits", 2)] {
        columns.push((
            name,
            opt_i64s(rows.iter().map(|r| r.accesses.map(|a| a[k])).collect()),
        ));
    }
    for (mode, get) in [
        (
            "lazy",
            (|r: &BlockRow| r.lazy) as fn(&BlockRow) -> Option<ModeRow>,
        ),
        ("naive", |r: &BlockRow| r.naive),
    ] {
        let modes: Vec<Option<ModeRow>> = rows.iter().map(|r| get(r)).collect();
        let ints =
            |f: fn(&ModeRow) -> i64| opt_i64s(modes.iter().map(|m| m.as_ref().map(f)).collect());
        let floats = |f: &dyn Fn(&ModeRow) -> f64| {
            opt_f64s(modes.iter().map(|m| m.as_ref().map(f)).collect())
        };
        let names = mode_columns(mode);
        columns.push((names[0], ints(|m| m.edges)));
        columns.push((names[1], ints(|m| m.conflicting_txs)));
        columns.push((names[2], floats(&|m| m.conflict_rate)));
        columns.push((names[3], ints(|m| m.critical_path_gas)));
        columns.push((names[4], ints(|m| m.critical_path_txs)));
        columns.push((names[5], floats(&|m| m.theoretical_speedup)));
        for k in 0..THREAD_COUNTS.len() {
            columns.push((names[6 + k], floats(&|m| m.speedups[k])));
        }
        columns.push((names[10], ints(|m| m.hotspots)));
    }
    columns.push((
        "next_block_checked",
        bools(rows.iter().map(|r| r.next_block.checked).collect()),
    ));
    columns.push((
        "next_block_disagreements",
        opt_i32s(rows.iter().map(|r| r.next_block.disagreements).collect()),
    ));
    columns.push((
        "next_block_first_disagreement",
        opt_strs(
            &rows
                .iter()
                .map(|r| r.next_block.first_disagreement.clone())
                .collect::<Vec<_>>(),
        ),
    ));
    let measured =
        |f: fn(&Measured) -> Option<i64>| opt_i64s(rows.iter().map(|r| f(&r.measured)).collect());
    columns.push(("measured_decode_us", measured(|m| m.decode_us)));
    columns.push(("measured_sequential_us", measured(|m| m.sequential_us)));
    columns.push((
        "measured_repeats",
        opt_i32s(rows.iter().map(|r| r.measured.repeats).collect()),
    ));
    columns.push((
        "measured_sequential_spread",
        opt_f64s(rows.iter().map(|r| r.measured.sequential_spread).collect()),
    ));
    columns.push(("measured_analysis_us", measured(|m| m.analysis_us)));
    columns.push(("measured_total_us", measured(|m| m.total_us)));

    let runs_field = field(&schema, "measured_runs")?;
    let all_runs: Vec<&RunRow> = rows
        .iter()
        .flat_map(|r| r.measured.runs.iter().flatten())
        .collect();
    let run_items = columns::structs(
        &runs_field,
        vec![
            i32s(all_runs.iter().map(|r| r.threads).collect()),
            i64s(all_runs.iter().map(|r| r.wall_us).collect()),
            f64s(all_runs.iter().map(|r| r.speedup).collect()),
            f64s(all_runs.iter().map(|r| r.spread).collect()),
            i64s(all_runs.iter().map(|r| r.executions).collect()),
            i64s(all_runs.iter().map(|r| r.validations).collect()),
            i64s(all_runs.iter().map(|r| r.aborts).collect()),
            i64s(all_runs.iter().map(|r| r.suspensions).collect()),
        ],
    )?;
    let run_lengths: Vec<usize> = rows
        .iter()
        .map(|r| r.measured.runs.as_ref().map_or(0, Vec::len))
        .collect();
    let run_valid: Vec<bool> = rows.iter().map(|r| r.measured.runs.is_some()).collect();
    columns.push((
        "measured_runs",
        columns::list(&runs_field, &run_lengths, run_items, Some(run_valid))?,
    ));
    columns::batch(&schema, columns)
}

/// The eleven analysis column names of `mode`, in schema order.
fn mode_columns(mode: &str) -> [&'static str; 11] {
    match mode {
        "lazy" => [
            "lazy_edges",
            "lazy_conflicting_txs",
            "lazy_conflict_rate",
            "lazy_critical_path_gas",
            "lazy_critical_path_txs",
            "lazy_theoretical_speedup",
            "lazy_speedup_2",
            "lazy_speedup_4",
            "lazy_speedup_8",
            "lazy_speedup_16",
            "lazy_hotspots",
        ],
        _ => [
            "naive_edges",
            "naive_conflicting_txs",
            "naive_conflict_rate",
            "naive_critical_path_gas",
            "naive_critical_path_txs",
            "naive_theoretical_speedup",
            "naive_speedup_2",
            "naive_speedup_4",
            "naive_speedup_8",
            "naive_speedup_16",
            "naive_hotspots",
        ],
    }
}

fn transactions_batch(
    outputs: &[BlockOutput],
    range: &dyn Fn(&RowMeta) -> String,
) -> Result<RecordBatch, DatasetError> {
    let schema = result_schema("transactions")?;
    let (ranges, numbers, txs) = flatten(outputs, range, |o| &o.txs);
    let reads: Vec<Vec<LocRow>> = txs
        .iter()
        .map(|t| t.reads.iter().map(|(l, _)| *l).collect())
        .collect();
    let origins: Vec<Vec<Option<i32>>> = txs
        .iter()
        .map(|t| t.reads.iter().map(|(_, o)| *o).collect())
        .collect();
    let writes: Vec<Vec<LocRow>> = txs.iter().map(|t| t.writes.clone()).collect();
    let credits: Vec<Vec<LocRow>> = txs.iter().map(|t| t.credits.clone()).collect();
    let lazy: Vec<&Vec<i32>> = txs.iter().map(|t| &t.lazy_dependencies).collect();
    let naive: Vec<&Vec<i32>> = txs.iter().map(|t| &t.naive_dependencies).collect();
    let columns = vec![
        ("block_range", strs(&ranges)),
        ("block_number", i64s(numbers)),
        ("tx_index", i32s(txs.iter().map(|t| t.index).collect())),
        (
            "tx_hash",
            bins(&txs.iter().map(|t| t.hash).collect::<Vec<_>>()),
        ),
        (
            "sender",
            bins(&txs.iter().map(|t| t.sender).collect::<Vec<_>>()),
        ),
        (
            "to",
            opt_bins(&txs.iter().map(|t| t.to).collect::<Vec<_>>()),
        ),
        ("tx_type", i32s(txs.iter().map(|t| t.tx_type).collect())),
        (
            "status",
            strs(&txs.iter().map(|t| t.status).collect::<Vec<_>>()),
        ),
        (
            "halt_reason",
            opt_strs(
                &txs.iter()
                    .map(|t| t.halt_reason.clone())
                    .collect::<Vec<_>>(),
            ),
        ),
        ("gas_limit", i64s(txs.iter().map(|t| t.gas_limit).collect())),
        ("gas_used", i64s(txs.iter().map(|t| t.gas_used).collect())),
        ("logs", i32s(txs.iter().map(|t| t.logs).collect())),
        (
            "reads",
            location_list(&field(&schema, "reads")?, &reads, Some(&origins))?,
        ),
        (
            "writes",
            location_list(&field(&schema, "writes")?, &writes, None)?,
        ),
        (
            "credits",
            location_list(&field(&schema, "credits")?, &credits, None)?,
        ),
        (
            "lazy_dependencies",
            int_list(&field(&schema, "lazy_dependencies")?, &lazy)?,
        ),
        (
            "naive_dependencies",
            int_list(&field(&schema, "naive_dependencies")?, &naive)?,
        ),
        (
            "on_critical_path",
            bools(txs.iter().map(|t| t.on_critical_path).collect()),
        ),
        (
            "measured_incarnations",
            opt_i32s(txs.iter().map(|t| t.incarnations).collect()),
        ),
        (
            "measured_exec_us",
            opt_i64s(txs.iter().map(|t| t.exec_us).collect()),
        ),
    ];
    columns::batch(&schema, columns)
}

/// The rows `rows` picks from each block's output, in block order, with each row's block
/// range and block number alongside.
fn flatten<'a, T>(
    outputs: &'a [BlockOutput],
    range: &dyn Fn(&RowMeta) -> String,
    rows: impl Fn(&'a BlockOutput) -> &'a [T],
) -> (Vec<String>, Vec<i64>, Vec<&'a T>) {
    let (mut ranges, mut numbers, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for output in outputs {
        let name = range(&output.block.meta);
        for row in rows(output) {
            ranges.push(name.clone());
            numbers.push(output.block.meta.number);
            all.push(row);
        }
    }
    (ranges, numbers, all)
}

fn conflicts_batch(
    outputs: &[BlockOutput],
    range: &dyn Fn(&RowMeta) -> String,
) -> Result<RecordBatch, DatasetError> {
    let schema = result_schema("conflicts")?;
    // Lazy before naive, then by (dependent, dependency): the graph's own order.
    let (ranges, numbers, edges) = flatten(outputs, range, |o| &o.edges);
    let locations: Vec<Vec<LocRow>> = edges.iter().map(|e| e.locations.clone()).collect();
    let columns = vec![
        ("block_range", strs(&ranges)),
        ("block_number", i64s(numbers)),
        (
            "mode",
            strs(&edges.iter().map(|e| e.mode).collect::<Vec<_>>()),
        ),
        (
            "dependent_tx",
            i32s(edges.iter().map(|e| e.dependent).collect()),
        ),
        (
            "dependency_tx",
            i32s(edges.iter().map(|e| e.dependency).collect()),
        ),
        (
            "location_count",
            i32s(edges.iter().map(|e| to_i32(e.locations.len())).collect()),
        ),
        (
            "locations",
            location_list(&field(&schema, "locations")?, &locations, None)?,
        ),
    ];
    columns::batch(&schema, columns)
}

fn hotspots_batch(
    outputs: &[BlockOutput],
    range: &dyn Fn(&RowMeta) -> String,
) -> Result<RecordBatch, DatasetError> {
    let schema = result_schema("hotspots")?;
    let (ranges, numbers, hot) = flatten(outputs, range, |o| &o.hot);
    let columns = vec![
        ("block_range", strs(&ranges)),
        ("block_number", i64s(numbers)),
        (
            "mode",
            strs(&hot.iter().map(|h| h.mode).collect::<Vec<_>>()),
        ),
        ("rank", i32s(hot.iter().map(|h| h.rank).collect())),
        (
            "kind",
            strs(&hot.iter().map(|h| h.location.kind).collect::<Vec<_>>()),
        ),
        (
            "address",
            bins(&hot.iter().map(|h| h.location.address).collect::<Vec<_>>()),
        ),
        (
            "slot",
            opt_bins(
                &hot.iter()
                    .map(|h| h.location.slot.map(|s| s.to_be_bytes::<32>()))
                    .collect::<Vec<_>>(),
            ),
        ),
        ("edges", i64s(hot.iter().map(|h| h.edges).collect())),
        (
            "dependents",
            i64s(hot.iter().map(|h| h.dependents).collect()),
        ),
        ("txs", i64s(hot.iter().map(|h| h.txs).collect())),
    ];
    columns::batch(&schema, columns)
}
