//! The replay job on one machine: read the archive, split it into partitions by block range,
//! run [`crate::replay_batch`] on each with K worker threads, write the four tables as Parquet and
//! commit each partition in a checkpoint manifest, so that a killed job resumes where it was.
//!
//! # Commit protocol
//! A worker writes a partition's four files under `RESULTS/_tmp/<range>/` and goes on to its
//! next partition without waiting on the disk. The committer (the calling thread, one partition
//! at a time, mostly idle while the workers replay) fsyncs each file, renames it into its hive
//! directory `RESULTS/<table>/block_range=<range>/part-00000.parquet`, fsyncs the directories,
//! then records the partition in `RESULTS/_checkpoint.json`, written to a temporary file,
//! fsynced and renamed over the old one. The rename of the manifest is the commit point: a job
//! killed at any moment leaves committed partitions (complete, in the manifest) and at most
//! some uncommitted files, which the next run removes before redoing those partitions (`_tmp/`,
//! and every `block_range=` directory the manifest does not list). Files are written with fixed
//! settings from rows in a fixed order, so a redone partition is identical to the one an
//! uninterrupted run writes (see [`JobParams::reproducible`] for the measured columns).
//!
//! What must match to resume, and which entries of the results folder the job owns, is
//! [`crate::checkpoint`]'s; the summary is [`crate::summary`]'s.

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

use replay_evm::parallel::ParallelEngine;

use crate::{
    DatasetError,
    archive::{Archive, rows_to_batch, sample_rows},
    checkpoint::{
        ArchiveInfo, CHECKPOINT_FORMAT, Checkpoint, ENGINE_VERSION, FileRecord, PART_FILE,
        PartitionRecord, TEMP_DIR, part_path, partition_dir, prepare, remove,
    },
    params::JobParams,
    parquet,
    partition::BlockRange,
    replay::{BlockTally, replay_batch_with},
    schema::{self, RESULT_TABLES, SCHEMA_VERSION},
    summary::{Summary, SummaryRow, summarise},
};

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
    /// Seconds from the start to the first finished block (`None` before it): the first
    /// block also pays the one-time costs (thread pools, cold caches), so
    /// rates for estimates are measured after it.
    pub first_block_secs: Option<f64>,
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

    /// Estimated seconds left: the blocks left at the rate since the first block finished
    /// (its one-time costs would inflate the estimate several times over on a short job).
    /// `None` until [`Self::ETA_AFTER_BLOCKS`] blocks are done, with time between them.
    pub fn eta_secs(&self) -> Option<f64> {
        let first = self.first_block_secs?;
        let since_first = self.elapsed_secs - first;
        if self.blocks_done < Self::ETA_AFTER_BLOCKS || since_first <= 0.0 {
            return None;
        }
        let rate = (self.blocks_done - 1) as f64 / since_first;
        Some((self.blocks_total - self.blocks_done.min(self.blocks_total)) as f64 / rate)
    }

    /// Blocks done before [`Self::eta_secs`] estimates: the first, then two more to measure
    /// a rate on.
    pub const ETA_AFTER_BLOCKS: u64 = 3;
}

/// Where this run's worker time went (µs, summed over the workers' partitions). The parts
/// [`Timings::parts`] lists do not overlap; with the time the workers spent elsewhere
/// they add up to the workers' total time, `workers` × the run's wall time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Reading the partitions' archive rows.
    pub archive_read_us: u64,
    /// Decoding each block and checking its body against its header.
    pub decode_us: u64,
    /// The sequential replay (the oracle) and its verification against the header.
    pub sequential_us: u64,
    /// Every Block-STM run: one per thread count, compared with the sequential replay, then
    /// the timing rounds (sequential and parallel, interleaved) on blocks too quick to time
    /// once.
    pub parallel_runs_us: u64,
    /// Of `parallel_runs_us`: the median run at the first thread count, per block (what a
    /// replay of the block costs, for the overhead figure).
    pub parallel_us: u64,
    /// Dependency analysis and building the blocks' rows.
    pub analysis_us: u64,
    /// All per-block work: decode, sequential, parallel runs, analysis and what falls
    /// between them.
    pub blocks_us: u64,
    /// The whole replay of the partitions' batches: the blocks, and each batch's time
    /// outside them (decoding the archive's columns, ordering the blocks).
    pub batch_us: u64,
    /// Turning rows into Arrow batches and Parquet files.
    pub write_us: u64,
}

impl Timings {
    /// Adds another partition's timings.
    pub fn add(&mut self, other: &Timings) {
        self.archive_read_us += other.archive_read_us;
        self.decode_us += other.decode_us;
        self.sequential_us += other.sequential_us;
        self.parallel_runs_us += other.parallel_runs_us;
        self.parallel_us += other.parallel_us;
        self.analysis_us += other.analysis_us;
        self.blocks_us += other.blocks_us;
        self.batch_us += other.batch_us;
        self.write_us += other.write_us;
    }

    /// Where `worker_us` of worker time went, as named parts that add up to it exactly:
    /// archive read; decode and checks, sequential replay, parallel runs, analysis and rows
    /// (the blocks' stages); set-up and between stages (the batches' time outside the
    /// stages); Parquet write; and `other` (starting
    /// the workers' thread pools, committing partitions, waiting for the last partition).
    pub fn parts(&self, worker_us: u64) -> [(&'static str, u64); 8] {
        let stages = self.decode_us + self.sequential_us + self.parallel_runs_us + self.analysis_us;
        let batches = self.batch_us.max(stages);
        let named = [
            ("archive read", self.archive_read_us),
            ("decode and checks", self.decode_us),
            ("sequential replay", self.sequential_us),
            ("parallel runs", self.parallel_runs_us),
            ("analysis and rows", self.analysis_us),
            ("set-up and between stages", batches - stages),
            ("Parquet write", self.write_us),
        ];
        let sum: u64 = named.iter().map(|(_, us)| us).sum();
        let [a, b, c, d, e, f, g] = named;
        [
            a,
            b,
            c,
            d,
            e,
            f,
            g,
            ("other", worker_us.saturating_sub(sum)),
        ]
    }
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
    /// Worker threads this run used (each replays one partition at a time).
    pub workers: usize,
    /// Where this run's worker time went.
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
    let fresh = Checkpoint {
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
    let mut checkpoint = prepare(out, fresh, options.overwrite)?;

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
        first_block_us: AtomicU64::new(0),
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
        first_block_secs: match counters.first_block_us.load(Relaxed) {
            0 => None,
            us => Some(us as f64 / 1e6),
        },
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
                                let us = (started.elapsed().as_micros() as u64).max(1);
                                let _ = counters
                                    .first_block_us
                                    .compare_exchange(0, us, Relaxed, Relaxed);
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
                    timings.add(&written.timings);
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
    let Summary {
        rows: summary,
        blocks,
        failures,
    } = summarise(out, &checkpoint)?;
    Ok(JobReport {
        out: out.clone(),
        partitions,
        partitions_skipped: skipped,
        run_blocks: counters.blocks.load(Relaxed),
        run_gas: counters.gas.load(Relaxed),
        run_secs,
        workers,
        timings,
        summary,
        blocks,
        failures,
    })
}

struct Counters {
    /// µs from the start to the first finished block (0 before it).
    first_block_us: AtomicU64,
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
    let batch_started = Instant::now();
    let results = replay_batch_with(&batch, None, params, engine, |tally| {
        record.blocks += 1;
        record.failed += u64::from(!tally.verified);
        record.txs += tally.txs;
        record.gas_used += tally.gas_used;
        timings.decode_us += tally.decode_us;
        timings.sequential_us += tally.sequential_us;
        timings.parallel_runs_us += tally.parallel_runs_us;
        timings.parallel_us += tally.parallel_us;
        timings.analysis_us += tally.analysis_us;
        timings.blocks_us += tally.total_us;
        on_block(tally);
    })?;
    timings.batch_us = batch_started.elapsed().as_micros() as u64;
    let write_started = Instant::now();
    let name = range.name();
    let temp = out.join(TEMP_DIR).join(&name);
    parquet::create_dir(&temp)?;
    for (table, batch) in results.tables() {
        let file_schema = schema::table(table)?.file_schema();
        let path = temp.join(format!("{table}.parquet"));
        let rows = parquet::write_parquet_unsynced(
            &path,
            &file_schema,
            std::slice::from_ref(batch),
            parquet::result_properties_for(batch)?,
        )?;
        record.files.insert(
            table.to_owned(),
            FileRecord {
                path: part_path(table, &range),
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
        let dir = partition_dir(out, table, &written.range);
        // A directory left by an interrupted publish of this partition.
        remove(&dir)?;
        parquet::create_dir(&dir)?;
        let from = temp.join(format!("{table}.parquet"));
        // The worker wrote it without waiting on the disk; it is durable before it is
        // renamed into place and long before the manifest lists it.
        parquet::sync_file(&from)?;
        let to = dir.join(PART_FILE);
        fs::rename(&from, &to).map_err(|e| DatasetError::io(&to, e))?;
        parquet::sync_dir(&dir)?;
        parquet::sync_dir(&out.join(table))?;
    }
    remove(&temp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(blocks_done: u64, elapsed_secs: f64, first_block_secs: Option<f64>) -> Progress {
        Progress {
            blocks_done,
            blocks_total: 20,
            gas_done: 0,
            partitions_done: 0,
            partitions_total: 2,
            elapsed_secs,
            first_block_secs,
        }
    }

    #[test]
    fn the_estimate_leaves_out_the_first_blocks_one_time_costs() {
        // The first block took 3.6 s (thread pools, cold caches), then one every 0.25 s: the
        // rate over the whole run would promise 15 × 1.1 s = 16.5 s for the 15 left.
        assert_eq!(progress(0, 1.0, None).eta_secs(), None);
        assert_eq!(progress(1, 3.6, Some(3.6)).eta_secs(), None);
        assert_eq!(progress(2, 3.85, Some(3.6)).eta_secs(), None);
        let eta = progress(5, 4.6, Some(3.6)).eta_secs().unwrap();
        assert!((eta - 15.0 * 0.25).abs() < 1e-9, "{eta}");
        assert_eq!(progress(20, 8.35, Some(3.6)).eta_secs(), Some(0.0));
    }

    #[test]
    fn the_time_parts_add_up_to_the_worker_time() {
        let t = Timings {
            archive_read_us: 10,
            decode_us: 20,
            sequential_us: 100,
            parallel_runs_us: 300,
            parallel_us: 90,
            analysis_us: 40,
            blocks_us: 480,
            batch_us: 500,
            write_us: 30,
        };
        let parts = t.parts(2 * 300);
        assert_eq!(parts.iter().map(|(_, us)| us).sum::<u64>(), 600);
        assert_eq!(parts[5], ("set-up and between stages", 500 - 460));
        assert_eq!(parts[7], ("other", 600 - 540));
        // Parts measured above the worker time (clock granularity) leave `other` at zero.
        assert_eq!(t.parts(400)[7], ("other", 0));
    }
}
