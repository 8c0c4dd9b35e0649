//! The replay job on one machine: read the archive, split it into partitions by block range,
//! run [`replay_batch`] on each with K worker threads, write the four tables as Parquet and
//! commit each partition in a checkpoint manifest, so that a killed job resumes where it was.
//!
//! # Commit protocol
//! A worker writes a partition's four files under `RESULTS/_tmp/<range>/`. The committer (the
//! calling thread, one partition at a time) renames each into its hive directory
//! `RESULTS/<table>/block_range=<range>/part-00000.parquet`, fsyncs the directories, then
//! records the partition in `RESULTS/_checkpoint.json`, written to a temporary file, fsynced
//! and renamed over the old one. The rename of the manifest is the commit point: a job killed
//! at any moment leaves committed partitions (complete, in the manifest) and at most some
//! uncommitted files, which the next run removes before redoing those partitions (`_tmp/`,
//! and every `block_range=` directory the manifest does not list). Files are written with
//! fixed settings from rows in a fixed order, so a redone partition is identical to the one
//! an uninterrupted run writes (see [`JobParams::reproducible`] for the measured columns).
//!
//! # What must match to resume
//! The manifest records the engine version, the schema version, the [`JobParams`] and the
//! archive's identity (block count and the digest of its numbers and hashes). A run whose
//! values differ is refused unless `overwrite` is set, which removes the previous results.
//! The number of workers is not a parameter: it changes how fast, not what, the job writes.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed},
        mpsc,
    },
    time::Instant,
};

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray,
};
use replay_evm::parallel::ParallelEngine;
use serde::{Deserialize, Serialize};

use crate::{
    DatasetError, ENGINE_VERSION,
    archive::{Archive, rows_to_batch, sample_rows},
    files,
    results::{BlockRange, BlockTally, JobParams, replay_batch_with},
    schema::{self, RESULT_TABLES, SCHEMA_VERSION},
};

/// The manifest's file name under the results folder.
pub const CHECKPOINT_FILE: &str = "_checkpoint.json";

/// Where partitions are written before they are published.
pub const TEMP_DIR: &str = "_tmp";

/// The file name of a partition's data in each table.
pub const PART_FILE: &str = "part-00000.parquet";

/// The format version of the manifest itself.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// Where the job's blocks come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveSource {
    /// An archive folder written by `replay-evm archive import` or `archive sample`.
    Dir(PathBuf),
    /// The sample archive, generated in memory ([`crate::archive::sample_blocks`]).
    Sample,
}

/// How to run a job.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// The archive.
    pub archive: ArchiveSource,
    /// The results folder.
    pub out: PathBuf,
    /// The parameters that shape the outputs.
    pub params: JobParams,
    /// Worker threads, each replaying one partition at a time (at least 1).
    pub workers: usize,
    /// Discard existing results whose parameters or versions differ (or any existing
    /// results) instead of refusing.
    pub overwrite: bool,
}

/// The archive's identity, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveInfo {
    /// Number of blocks.
    pub blocks: u64,
    /// Keccak-256 of every (number, hash), in number order.
    pub digest: String,
}

/// One committed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Path relative to the results folder.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
}

/// One committed partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionRecord {
    /// Blocks in the partition.
    pub blocks: u64,
    /// Blocks that failed (decode, check, replay, verify or parallel).
    pub failed: u64,
    /// Transactions of the blocks.
    pub txs: u64,
    /// Gas used by the replayed blocks.
    pub gas_used: u64,
    /// The partition's file in each table.
    pub files: BTreeMap<String, FileRecord>,
}

/// The checkpoint manifest, `RESULTS/_checkpoint.json`. It holds no time or path, so an
/// interrupted and resumed job ends with the same manifest as an uninterrupted one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`].
    pub format: u32,
    /// [`ENGINE_VERSION`] of the job that wrote the results.
    pub engine_version: String,
    /// [`SCHEMA_VERSION`] of the tables.
    pub schema_version: u32,
    /// The job's parameters.
    pub params: JobParams,
    /// The archive replayed.
    pub archive: ArchiveInfo,
    /// Committed partitions, by range name.
    pub partitions: BTreeMap<String, PartitionRecord>,
}

impl Checkpoint {
    /// Reads the manifest of `out`, if there is one.
    ///
    /// # Errors
    /// [`DatasetError::Usage`] for a manifest that does not parse.
    pub fn load(out: &Path) -> Result<Option<Self>, DatasetError> {
        let path = out.join(CHECKPOINT_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                DatasetError::Usage(format!(
                    "{}: not a checkpoint manifest ({e}); use --overwrite to start again",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DatasetError::io(&path, e)),
        }
    }

    /// Writes the manifest atomically.
    ///
    /// # Errors
    /// [`DatasetError::Io`].
    pub fn store(&self, out: &Path) -> Result<(), DatasetError> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| DatasetError::Schema(format!("checkpoint: {e}")))?;
        text.push('\n');
        files::write_atomic(&out.join(CHECKPOINT_FILE), text.as_bytes())
    }

    /// How `self` (existing results) differs from `other` (this run), in words.
    fn differences(&self, other: &Self) -> Vec<String> {
        let (a, b) = (&self.params, &other.params);
        let archive = |c: &Self| {
            format!(
                "{} blocks with digest {}",
                c.archive.blocks, c.archive.digest
            )
        };
        // (what, existing, this run's, how this run's is introduced)
        let fields = [
            (
                "manifest format",
                self.format.to_string(),
                other.format.to_string(),
                "this build writes",
            ),
            (
                "engine version",
                self.engine_version.clone(),
                other.engine_version.clone(),
                "this build is",
            ),
            (
                "schema version",
                self.schema_version.to_string(),
                other.schema_version.to_string(),
                "this build writes",
            ),
            ("--threads", join(&a.threads), join(&b.threads), "this run:"),
            (
                "--partition-blocks",
                a.partition_blocks.to_string(),
                b.partition_blocks.to_string(),
                "this run:",
            ),
            (
                "--reproducible",
                a.reproducible.to_string(),
                b.reproducible.to_string(),
                "this run:",
            ),
            (
                "an archive of",
                archive(self),
                archive(other),
                "this run's:",
            ),
        ];
        fields
            .into_iter()
            .filter(|(_, existing, current, _)| existing != current)
            .map(|(what, existing, current, whose)| {
                format!("{what} {existing} ({whose} {current})")
            })
            .collect()
    }
}

fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A snapshot of the job's progress, passed to the progress callback after every block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Blocks replayed by this run.
    pub blocks_done: u64,
    /// Blocks this run has to replay.
    pub blocks_total: u64,
    /// Gas replayed by this run.
    pub gas_done: u64,
    /// Partitions committed by this run.
    pub partitions_done: u64,
    /// Partitions this run has to replay.
    pub partitions_total: u64,
    /// Seconds since this run started replaying.
    pub elapsed_secs: f64,
}

impl Progress {
    /// Blocks per second so far.
    pub fn blocks_per_sec(&self) -> f64 {
        self.blocks_done as f64 / self.elapsed_secs.max(1e-9)
    }

    /// Millions of gas per second so far.
    pub fn mgas_per_sec(&self) -> f64 {
        self.gas_done as f64 / 1e6 / self.elapsed_secs.max(1e-9)
    }

    /// Estimated seconds left, at the rate so far (`None` before the first block).
    pub fn eta_secs(&self) -> Option<f64> {
        (self.blocks_done > 0).then(|| {
            (self.blocks_total - self.blocks_done.min(self.blocks_total)) as f64
                / self.blocks_per_sec()
        })
    }
}

/// Where this run's time went, summed over its blocks (µs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Reading the partitions' archive rows.
    pub archive_read_us: u64,
    /// The first parallel run of every block (`ParallelEngine::replay`, traces included).
    pub parallel_us: u64,
    /// Dependency analysis and building the blocks' rows.
    pub analysis_us: u64,
    /// All per-block work (decode, check, sequential, every parallel run, analysis, rows).
    pub blocks_us: u64,
    /// Turning rows into Arrow batches and Parquet files.
    pub write_us: u64,
}

/// One line of the summary table: the blocks of one fork, or all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// The fork, or `all`.
    pub label: String,
    /// Blocks.
    pub blocks: u64,
    /// Failed blocks.
    pub failed: u64,
    /// Transactions of the verified blocks.
    pub txs: u64,
    /// Gas of the verified blocks.
    pub gas: u64,
    /// Mean lazy conflict rate of the verified blocks.
    pub lazy_conflict_rate: f64,
    /// Mean naive conflict rate.
    pub naive_conflict_rate: f64,
    /// Σ gas / Σ lazy critical-path gas: the speedup of unbounded workers over the blocks.
    pub lazy_theoretical_speedup: f64,
    /// Σ gas / Σ (gas / lazy 4-worker list-schedule speedup).
    pub lazy_speedup_4: f64,
    /// Measured speedup at each thread count: Σ sequential µs / Σ parallel µs (`None` when
    /// the results hold no measurements).
    pub measured_speedups: Vec<(i32, Option<f64>)>,
}

/// What a job did.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// The results folder.
    pub out: PathBuf,
    /// Partitions of the archive.
    pub partitions: usize,
    /// Partitions already committed by an earlier run, skipped.
    pub partitions_skipped: usize,
    /// Blocks this run replayed.
    pub run_blocks: u64,
    /// Gas this run replayed.
    pub run_gas: u64,
    /// Wall time of this run's replaying (seconds, from the first partition to the last
    /// commit).
    pub run_secs: f64,
    /// Where this run's time went.
    pub timings: Timings,
    /// The summary over every committed block, by fork then in total.
    pub summary: Vec<SummaryRow>,
    /// Blocks in the results.
    pub blocks: u64,
    /// Failed blocks in the results: (number, stage, error).
    pub failures: Vec<(i64, String, String)>,
}

/// A partition to replay.
#[derive(Debug, Clone, Copy)]
struct Planned {
    range: BlockRange,
    blocks: u64,
}

/// A partition written aside, ready to publish.
struct Written {
    range: BlockRange,
    record: PartitionRecord,
    timings: Timings,
}

fn open_archive(source: &ArchiveSource) -> Result<Archive, DatasetError> {
    match source {
        ArchiveSource::Dir(dir) => Archive::open(dir),
        ArchiveSource::Sample => Archive::from_batch(rows_to_batch(&sample_rows()?)?),
    }
}

/// Paths the job owns under the results folder (what `overwrite` removes).
fn owned_entries(out: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = RESULT_TABLES.iter().map(|t| out.join(t)).collect();
    entries.push(out.join(TEMP_DIR));
    entries.push(out.join(CHECKPOINT_FILE));
    entries.push(files::temp_path(&out.join(CHECKPOINT_FILE)));
    entries
}

fn remove(path: &Path) -> Result<(), DatasetError> {
    let result = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DatasetError::io(path, e)),
    }
}

fn partition_dir(out: &Path, table: &str, range: &str) -> PathBuf {
    out.join(table).join(format!("block_range={range}"))
}

/// Brings `out` to a state where exactly the manifest's partitions are published: removes
/// `_tmp/` and every partition directory the manifest does not list, and forgets committed
/// partitions whose files are gone.
fn clean(out: &Path, checkpoint: &mut Checkpoint) -> Result<(), DatasetError> {
    remove(&out.join(TEMP_DIR))?;
    remove(&files::temp_path(&out.join(CHECKPOINT_FILE)))?;
    checkpoint
        .partitions
        .retain(|_, record| record.files.values().all(|f| out.join(&f.path).is_file()));
    for table in RESULT_TABLES {
        let dir = out.join(table);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let committed = name
                .strip_prefix("block_range=")
                .is_some_and(|range| checkpoint.partitions.contains_key(range));
            if !committed {
                remove(&entry.path())?;
            }
        }
    }
    Ok(())
}

/// Runs (or resumes) a job. `progress` is called after every block, from the worker threads.
///
/// # Errors
/// [`DatasetError::Usage`] for bad options, or existing results the run may not continue
/// (other parameters, versions or archive, without `overwrite`); I/O and Parquet errors.
/// Blocks that fail are not errors: they are rows, counted in the report.
pub fn run_job(
    options: &JobOptions,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<JobReport, DatasetError> {
    options.params.validate()?;
    if options.workers == 0 {
        return Err(DatasetError::Usage("--workers must be at least 1".into()));
    }
    let archive = open_archive(&options.archive)?;
    let numbers = archive.numbers();
    if let Some(pair) = numbers.windows(2).find(|w| w[0] == w[1]) {
        return Err(DatasetError::Usage(format!(
            "the archive holds block {} twice",
            pair[0]
        )));
    }
    let out = &options.out;
    let mut checkpoint = Checkpoint {
        format: CHECKPOINT_FORMAT,
        engine_version: ENGINE_VERSION.to_owned(),
        schema_version: SCHEMA_VERSION,
        params: options.params.clone(),
        archive: ArchiveInfo {
            blocks: numbers.len() as u64,
            digest: archive.digest().to_string(),
        },
        partitions: BTreeMap::new(),
    };
    let existing = Checkpoint::load(out)?;
    match existing {
        _ if options.overwrite => {
            for entry in owned_entries(out) {
                remove(&entry)?;
            }
        }
        Some(existing) => {
            let differences = existing.differences(&checkpoint);
            if !differences.is_empty() {
                return Err(DatasetError::Usage(format!(
                    "{} holds results of another job: it was written with {}. Run with \
                     --overwrite to replace them, or choose another --out",
                    out.display(),
                    differences.join("; ")
                )));
            }
            checkpoint.partitions = existing.partitions;
        }
        None => {
            if let Some(entry) = owned_entries(out).iter().find(|e| e.exists()) {
                return Err(DatasetError::Usage(format!(
                    "{} has no checkpoint manifest but holds {}: run with --overwrite to \
                     replace it, or choose another --out",
                    out.display(),
                    entry.display()
                )));
            }
        }
    }
    files::create_dir(out)?;
    clean(out, &mut checkpoint)?;
    checkpoint.store(out)?;

    // Plan the partitions.
    let mut planned: BTreeMap<BlockRange, u64> = BTreeMap::new();
    for &n in &numbers {
        *planned.entry(options.params.range_of(n)).or_default() += 1;
    }
    let partitions = planned.len();
    let todo: Vec<Planned> = planned
        .iter()
        .filter(|(range, _)| !checkpoint.partitions.contains_key(&range.name()))
        .map(|(range, blocks)| Planned {
            range: *range,
            blocks: *blocks,
        })
        .collect();
    let skipped = partitions - todo.len();

    let started = Instant::now();
    let blocks_total: u64 = todo.iter().map(|p| p.blocks).sum();
    let counters = Counters {
        blocks: AtomicU64::new(0),
        gas: AtomicU64::new(0),
        partitions: AtomicU64::new(0),
    };
    let snapshot = |counters: &Counters| Progress {
        blocks_done: counters.blocks.load(Relaxed),
        blocks_total,
        gas_done: counters.gas.load(Relaxed),
        partitions_done: counters.partitions.load(Relaxed),
        partitions_total: todo.len() as u64,
        elapsed_secs: started.elapsed().as_secs_f64(),
    };
    let mut timings = Timings::default();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<DatasetError>> = Mutex::new(None);
    let (sender, receiver) = mpsc::channel::<Written>();
    let workers = options.workers.min(todo.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let (todo, next, stop, first_error, counters, archive) =
                (&todo, &next, &stop, &first_error, &counters, &archive);
            let snapshot = &snapshot;
            scope.spawn(move || {
                let result = (|| -> Result<(), DatasetError> {
                    let engine = ParallelEngine::new(options.params.max_threads())
                        .map_err(|e| DatasetError::Engine(e.to_string()))?;
                    while !stop.load(Relaxed) {
                        let Some(planned) = todo.get(next.fetch_add(1, Relaxed)) else {
                            break;
                        };
                        let written = run_partition(
                            archive,
                            out,
                            &options.params,
                            &engine,
                            planned.range,
                            &|tally| {
                                counters.blocks.fetch_add(1, Relaxed);
                                counters.gas.fetch_add(tally.gas_used, Relaxed);
                                progress(&snapshot(counters));
                            },
                        )?;
                        if sender.send(written).is_err() {
                            break;
                        }
                    }
                    Ok(())
                })();
                if let Err(e) = result {
                    stop.store(true, Relaxed);
                    let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(e);
                }
            });
        }
        drop(sender);
        // The committer: publish each partition, then record it.
        for written in receiver {
            if stop.load(Relaxed) {
                continue;
            }
            match publish(out, &written) {
                Ok(()) => {
                    checkpoint
                        .partitions
                        .insert(written.range.name(), written.record.clone());
                    if let Err(e) = checkpoint.store(out) {
                        stop.store(true, Relaxed);
                        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                        continue;
                    }
                    let t = written.timings;
                    timings.archive_read_us += t.archive_read_us;
                    timings.parallel_us += t.parallel_us;
                    timings.analysis_us += t.analysis_us;
                    timings.blocks_us += t.blocks_us;
                    timings.write_us += t.write_us;
                    counters.partitions.fetch_add(1, Relaxed);
                    progress(&snapshot(&counters));
                }
                Err(e) => {
                    stop.store(true, Relaxed);
                    let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    remove(&out.join(TEMP_DIR))?;
    let run_secs = started.elapsed().as_secs_f64();
    let (summary, blocks, failures) = summarise(out, &checkpoint)?;
    Ok(JobReport {
        out: out.clone(),
        partitions,
        partitions_skipped: skipped,
        run_blocks: counters.blocks.load(Relaxed),
        run_gas: counters.gas.load(Relaxed),
        run_secs,
        timings,
        summary,
        blocks,
        failures,
    })
}

struct Counters {
    blocks: AtomicU64,
    gas: AtomicU64,
    partitions: AtomicU64,
}

/// Replays one partition and writes its four files under `_tmp/<range>/`.
fn run_partition(
    archive: &Archive,
    out: &Path,
    params: &JobParams,
    engine: &ParallelEngine,
    range: BlockRange,
    on_block: &dyn Fn(&BlockTally),
) -> Result<Written, DatasetError> {
    let mut timings = Timings::default();
    let read_started = Instant::now();
    let batch = archive.read_range(range.start, range.end)?;
    timings.archive_read_us = read_started.elapsed().as_micros() as u64;
    let mut record = PartitionRecord {
        blocks: 0,
        failed: 0,
        txs: 0,
        gas_used: 0,
        files: BTreeMap::new(),
    };
    let results = replay_batch_with(&batch, None, params, engine, |tally| {
        record.blocks += 1;
        record.failed += u64::from(!tally.verified);
        record.txs += tally.txs;
        record.gas_used += tally.gas_used;
        timings.parallel_us += tally.parallel_us;
        timings.analysis_us += tally.analysis_us;
        timings.blocks_us += tally.total_us;
        on_block(tally);
    })?;
    let write_started = Instant::now();
    let name = range.name();
    let temp = out.join(TEMP_DIR).join(&name);
    files::create_dir(&temp)?;
    for (table, batch) in results.tables() {
        let file_schema = schema::table(table)?.file_schema();
        let path = temp.join(format!("{table}.parquet"));
        let rows = files::write_parquet(
            &path,
            &file_schema,
            std::slice::from_ref(batch),
            files::result_properties(),
        )?;
        record.files.insert(
            table.to_owned(),
            FileRecord {
                path: format!("{table}/block_range={name}/{PART_FILE}"),
                rows: rows as u64,
            },
        );
    }
    timings.write_us = write_started.elapsed().as_micros() as u64;
    Ok(Written {
        range,
        record,
        timings,
    })
}

/// Moves a written partition's files into their hive directories.
fn publish(out: &Path, written: &Written) -> Result<(), DatasetError> {
    let name = written.range.name();
    let temp = out.join(TEMP_DIR).join(&name);
    for table in RESULT_TABLES {
        let dir = partition_dir(out, table, &name);
        // A directory left by an interrupted publish of this partition.
        remove(&dir)?;
        files::create_dir(&dir)?;
        let from = temp.join(format!("{table}.parquet"));
        let to = dir.join(PART_FILE);
        fs::rename(&from, &to).map_err(|e| DatasetError::io(&to, e))?;
        files::sync_dir(&dir)?;
        files::sync_dir(&out.join(table))?;
    }
    remove(&temp)
}

/// The summary rows, the number of blocks, and the failures (number, stage, error).
type Summary = (Vec<SummaryRow>, u64, Vec<(i64, String, String)>);

/// Reads the committed `blocks` files back for the summary.
fn summarise(out: &Path, checkpoint: &Checkpoint) -> Result<Summary, DatasetError> {
    #[derive(Default)]
    struct Acc {
        blocks: u64,
        failed: u64,
        txs: u64,
        gas: u64,
        lazy_rate: f64,
        naive_rate: f64,
        cp_gas: f64,
        makespan4: f64,
        sequential_us: f64,
        runs: BTreeMap<i32, (f64, f64)>,
        measured: bool,
    }
    let mut by_fork: BTreeMap<String, Acc> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut blocks = 0;
    for record in checkpoint.partitions.values() {
        let Some(file) = record.files.get("blocks") else {
            continue;
        };
        let (_, batches) = files::read_parquet(&out.join(&file.path))?;
        for batch in &batches {
            let col = |name: &str| {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| DatasetError::Schema(format!("blocks has no `{name}`")))
            };
            let downcast =
                |name: &str| -> Result<&dyn Array, DatasetError> { Ok(col(name)?.as_ref()) };
            macro_rules! typed {
                ($name:expr, $t:ty) => {
                    downcast($name)?
                        .as_any()
                        .downcast_ref::<$t>()
                        .ok_or_else(|| DatasetError::Schema(format!("blocks.{}", $name)))?
                };
            }
            let number = typed!("block_number", Int64Array);
            let fork = typed!("fork", StringArray);
            let verified = typed!("verified", BooleanArray);
            let stage = typed!("error_stage", StringArray);
            let error = typed!("error", StringArray);
            let txs = typed!("tx_count", Int32Array);
            let gas = typed!("gas_used", Int64Array);
            let lazy_rate = typed!("lazy_conflict_rate", Float64Array);
            let naive_rate = typed!("naive_conflict_rate", Float64Array);
            let cp = typed!("lazy_critical_path_gas", Int64Array);
            let s4 = typed!("lazy_speedup_4", Float64Array);
            let seq = typed!("measured_sequential_us", Int64Array);
            let runs = typed!("measured_runs", ListArray);
            for i in 0..batch.num_rows() {
                blocks += 1;
                let acc = by_fork.entry(fork.value(i).to_owned()).or_default();
                acc.blocks += 1;
                if !verified.value(i) {
                    acc.failed += 1;
                    failures.push((
                        number.value(i),
                        stage.value(i).to_owned(),
                        error.value(i).to_owned(),
                    ));
                    continue;
                }
                let g = gas.value(i).max(0) as u64;
                acc.txs += txs.value(i).max(0) as u64;
                acc.gas += g;
                acc.lazy_rate += lazy_rate.value(i);
                acc.naive_rate += naive_rate.value(i);
                acc.cp_gas += cp.value(i) as f64;
                acc.makespan4 += g as f64 / s4.value(i).max(1e-12);
                if runs.is_valid(i) && seq.is_valid(i) {
                    acc.measured = true;
                    acc.sequential_us += seq.value(i) as f64;
                    let list = runs.value(i);
                    if let Some(items) = list.as_any().downcast_ref::<StructArray>() {
                        let threads = items.column(0).as_any().downcast_ref::<Int32Array>();
                        let wall = items.column(1).as_any().downcast_ref::<Int64Array>();
                        if let (Some(threads), Some(wall)) = (threads, wall) {
                            for k in 0..items.len() {
                                let entry = acc.runs.entry(threads.value(k)).or_default();
                                entry.0 += seq.value(i) as f64;
                                entry.1 += wall.value(k) as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    let row = |label: String, acc: &Acc| {
        let ok = (acc.blocks - acc.failed).max(1) as f64;
        SummaryRow {
            label,
            blocks: acc.blocks,
            failed: acc.failed,
            txs: acc.txs,
            gas: acc.gas,
            lazy_conflict_rate: acc.lazy_rate / ok,
            naive_conflict_rate: acc.naive_rate / ok,
            lazy_theoretical_speedup: acc.gas as f64 / acc.cp_gas.max(1.0),
            lazy_speedup_4: acc.gas as f64 / acc.makespan4.max(1.0),
            measured_speedups: acc
                .runs
                .iter()
                .map(|(t, (seq, par))| (*t, acc.measured.then(|| seq / par.max(1.0))))
                .collect(),
        }
    };
    let mut total = Acc::default();
    let mut rows = Vec::new();
    // Forks in activation order.
    let mut forks: Vec<(&String, &Acc)> = by_fork.iter().collect();
    forks.sort_by_key(|(name, _)| {
        name.parse::<replay_evm::chain::Fork>()
            .map_or(usize::MAX, |f| f as usize)
    });
    for (fork, acc) in forks {
        rows.push(row(fork.clone(), acc));
        total.blocks += acc.blocks;
        total.failed += acc.failed;
        total.txs += acc.txs;
        total.gas += acc.gas;
        total.lazy_rate += acc.lazy_rate;
        total.naive_rate += acc.naive_rate;
        total.cp_gas += acc.cp_gas;
        total.makespan4 += acc.makespan4;
        total.measured |= acc.measured;
        for (t, (s, p)) in &acc.runs {
            let entry = total.runs.entry(*t).or_default();
            entry.0 += s;
            entry.1 += p;
        }
    }
    rows.push(row("all".to_owned(), &total));
    failures.sort();
    Ok((rows, blocks, failures))
}

/// Reads result table `table` of the results folder `out` back: one batch per committed
/// partition, in block-range order, with the partition column restored from the directory
/// name (so each batch has the table's full schema).
///
/// # Errors
/// [`DatasetError::Usage`] when `out` has no manifest; I/O and Parquet errors.
pub fn read_table(out: &Path, table: &str) -> Result<Vec<RecordBatch>, DatasetError> {
    let definition = schema::table(table)?;
    let full = definition.arrow_schema();
    let checkpoint = Checkpoint::load(out)?
        .ok_or_else(|| DatasetError::Usage(format!("{}: no checkpoint manifest", out.display())))?;
    let mut out_batches = Vec::new();
    for (range, record) in &checkpoint.partitions {
        let Some(file) = record.files.get(table) else {
            continue;
        };
        let (_, batches) = files::read_parquet(&out.join(&file.path))?;
        for batch in batches {
            let mut columns = Vec::with_capacity(full.fields().len());
            for field in full.fields() {
                if Some(field.name()) == definition.partition_column.as_ref() {
                    let values = vec![range.as_str(); batch.num_rows()];
                    columns.push(std::sync::Arc::new(StringArray::from(values)) as ArrayRef);
                } else {
                    let column = batch.column_by_name(field.name()).ok_or_else(|| {
                        DatasetError::Schema(format!("{}: no column `{}`", file.path, field.name()))
                    })?;
                    columns.push(column.clone());
                }
            }
            out_batches.push(RecordBatch::try_new(full.clone(), columns)?);
        }
    }
    Ok(out_batches)
}

/// `batch` without the `measured_*` columns of `table`: what must be identical between two
/// runs of the same job.
///
/// # Errors
/// [`DatasetError::Schema`] for an unknown table.
pub fn without_measured(batch: &RecordBatch, table: &str) -> Result<RecordBatch, DatasetError> {
    let measured = schema::table(table)?.measured_columns();
    let keep: Vec<usize> = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !measured.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    Ok(batch.project(&keep)?)
}
