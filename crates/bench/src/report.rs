//! What one benchmarked block yields: its measurements, table rows and JSON line (the
//! summary of a run is `summary.rs`).

use replay_evm::parallel::Phases;
use replay_evm_args::output::duration_us;
use replay_evm_dataset::measure::median;
use replay_evm_workload::Workload;
use serde_json::{Value, json};

use crate::{
    ceiling::bound_at_ceiling,
    measure::{Sample, Spread},
};

/// Where a block came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A generated workload.
    Workload(Workload),
    /// A block folder (a mainnet fixture).
    Mainnet,
}

/// Independent workloads, expected to scale (target 1.9x at 2 threads); every other
/// workload has a hot spot (target: never below 0.95x).
pub(crate) fn is_independent(workload: Workload) -> bool {
    use Workload::{AmmManyPools, Erc20Disjoint, RawTransfers};
    matches!(workload, RawTransfers | Erc20Disjoint | AmmManyPools)
}

/// The parallel engine at one thread count.
#[derive(Debug, Clone)]
pub(crate) struct ParallelRun {
    /// Thread count asked for.
    pub(crate) threads: usize,
    /// Worker threads the engine used.
    pub(crate) used_threads: usize,
    /// How the engine ran the block (`block-stm` or `in-order`).
    pub(crate) mode: &'static str,
    pub(crate) samples: Vec<Sample>,
    /// Execution-only samples: Block-STM with the senders recovered before the timer
    /// (`--mode block-stm` only; empty otherwise).
    pub(crate) exec_samples: Vec<Sample>,
    /// The block's lazy list-scheduled speedup at this thread count (its dependency graph's
    /// bound), when the run yielded read and write sets.
    pub(crate) bound: Option<f64>,
    pub(crate) executions: Vec<u64>,
    pub(crate) validations: Vec<u64>,
    pub(crate) aborts: Vec<u64>,
    pub(crate) suspensions: Vec<u64>,
    pub(crate) hint_waits: Vec<u64>,
    /// Executions stopped early on a read the write log showed stale (`Counters`).
    pub(crate) stale_restarts: Vec<u64>,
    /// Transactions a helper started ahead of the block order (`Counters`).
    pub(crate) early_starts: Vec<u64>,
    /// Early starts given up or discarded as stale (`Counters`).
    pub(crate) early_discards: Vec<u64>,
    /// The machine's ceiling at this thread count, one a round of the block's first
    /// (`ceiling.rs`, `run::MAX_CEILINGS`); empty at one thread.
    pub(crate) ceilings: Vec<f64>,
    /// Each end-to-end Block-STM run's phases ([`Phases::as_array`]); empty in-order.
    pub(crate) phases: Vec<[u64; 6]>,
    /// The same for the execution-only runs.
    pub(crate) exec_phases: Vec<[u64; 6]>,
    /// Runs whose result was compared with the sequential one and found equal.
    pub(crate) verified_runs: usize,
    pub(crate) peak_heap: u64,
}

impl ParallelRun {
    /// The machine's ceiling at this thread count: the median of the rounds' (`ceiling.rs`);
    /// `None` at one thread.
    pub(crate) fn ceiling(&self) -> Option<f64> {
        Spread::of(self.ceilings.clone()).map(|spread| spread.median)
    }

    /// The bound on the machine as the ceiling measured it ([`bound_at_ceiling`]): at two
    /// threads only, where both were measured.
    pub(crate) fn machine_bound(&self) -> Option<f64> {
        bound_at_ceiling(self.bound?, self.ceiling()?, self.threads)
    }
}

/// One benchmarked block.
#[derive(Debug, Clone)]
pub(crate) struct BlockResult {
    pub(crate) source: Source,
    /// Workload name, or block number.
    pub(crate) name: String,
    pub(crate) path: Option<String>,
    pub(crate) number: Option<u64>,
    pub(crate) fork: Option<String>,
    pub(crate) txs: usize,
    pub(crate) gas_used: u64,
    /// Heap held by the loaded (or generated) block.
    pub(crate) input_heap: i64,
    /// Time to load or generate the block.
    pub(crate) prepare_us: u64,
    pub(crate) sequential: Vec<Sample>,
    /// Execution-only sequential samples: senders recovered before the timer.
    pub(crate) sequential_exec: Vec<Sample>,
    pub(crate) sequential_peak_heap: u64,
    pub(crate) parallel: Vec<ParallelRun>,
    pub(crate) error: Option<String>,
}

fn wall(samples: &[Sample]) -> u64 {
    median(&samples.iter().map(|s| s.wall_us).collect::<Vec<_>>())
}

fn cpu(samples: &[Sample]) -> u64 {
    median(&samples.iter().map(|s| s.cpu_us).collect::<Vec<_>>())
}

/// The median of each phase over `runs`, `None` without a run.
fn phase_medians(runs: &[[u64; 6]]) -> Option<[u64; 6]> {
    (!runs.is_empty()).then(|| {
        std::array::from_fn(|phase| median(&runs.iter().map(|run| run[phase]).collect::<Vec<_>>()))
    })
}

/// Phase medians as a JSON object by phase name (null without a run).
fn phases_json(runs: &[[u64; 6]]) -> Value {
    match phase_medians(runs) {
        Some(medians) => Value::Object(
            Phases::NAMES
                .iter()
                .zip(medians)
                .map(|(name, us)| ((*name).to_owned(), json!(us)))
                .collect(),
        ),
        None => Value::Null,
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl BlockResult {
    pub(crate) fn new(source: Source, name: String) -> Self {
        Self {
            source,
            name,
            path: None,
            number: None,
            fork: None,
            txs: 0,
            gas_used: 0,
            input_heap: 0,
            prepare_us: 0,
            sequential: Vec::new(),
            sequential_exec: Vec::new(),
            sequential_peak_heap: 0,
            parallel: Vec::new(),
            error: None,
        }
    }

    pub(crate) fn ok(&self) -> bool {
        self.error.is_none() && !self.sequential.is_empty()
    }

    pub(crate) fn seq_wall_us(&self) -> u64 {
        wall(&self.sequential)
    }

    fn mgas_per_s(&self, wall_us: u64) -> f64 {
        if wall_us == 0 {
            0.0
        } else {
            self.gas_used as f64 / wall_us as f64
        }
    }

    /// Median speedup of `run` over sequential revm.
    pub(crate) fn speedup(&self, run: &ParallelRun) -> f64 {
        ratio(self.seq_wall_us(), wall(&run.samples))
    }

    /// Median execution-only speedup of `run` (senders recovered before the timer on both
    /// sides), when measured.
    pub(crate) fn exec_speedup(&self, run: &ParallelRun) -> Option<f64> {
        (!run.exec_samples.is_empty() && !self.sequential_exec.is_empty())
            .then(|| ratio(wall(&self.sequential_exec), wall(&run.exec_samples)))
    }

    /// The verified run at `threads`, if any.
    fn run_at(&self, threads: usize) -> Option<&ParallelRun> {
        if !self.ok() {
            return None;
        }
        self.parallel.iter().find(|r| r.threads == threads)
    }

    /// Speedup at `threads`, when measured.
    pub(crate) fn speedup_at(&self, threads: usize) -> Option<f64> {
        self.run_at(threads).map(|r| self.speedup(r))
    }

    /// Execution-only speedup at `threads`, when measured.
    pub(crate) fn exec_speedup_at(&self, threads: usize) -> Option<f64> {
        self.run_at(threads).and_then(|r| self.exec_speedup(r))
    }

    /// The machine's ceiling at `threads` (the median of the block's rounds), when
    /// measured.
    pub(crate) fn ceiling_at(&self, threads: usize) -> Option<f64> {
        self.run_at(threads).and_then(ParallelRun::ceiling)
    }

    /// The block's bound at `threads` (its lazy list-scheduled speedup), when computed.
    pub(crate) fn bound_at(&self, threads: usize) -> Option<f64> {
        self.run_at(threads).and_then(|r| r.bound)
    }

    /// The block's bound at `threads` on the machine as measured
    /// ([`ParallelRun::machine_bound`]).
    pub(crate) fn machine_bound_at(&self, threads: usize) -> Option<f64> {
        self.run_at(threads).and_then(ParallelRun::machine_bound)
    }

    fn reexecutions_per_tx(&self, run: &ParallelRun) -> f64 {
        let executions = median(&run.executions);
        if self.txs == 0 {
            0.0
        } else {
            executions.saturating_sub(self.txs as u64) as f64 / self.txs as f64
        }
    }

    pub(crate) fn mem_ratio(&self, run: &ParallelRun) -> f64 {
        ratio(run.peak_heap, self.sequential_peak_heap)
    }

    /// The block's JSON line.
    pub(crate) fn to_json(&self) -> Value {
        let seq_wall = self.seq_wall_us();
        let seq_cpu = cpu(&self.sequential);
        let runs: Vec<Value> = self
            .parallel
            .iter()
            .map(|run| {
                let wall_us = wall(&run.samples);
                json!({
                    "threads": run.threads,
                    "used_threads": run.used_threads,
                    "mode": run.mode,
                    "wall_us": wall_us,
                    "wall_us_runs": run.samples.iter().map(|s| s.wall_us).collect::<Vec<_>>(),
                    "cpu_us": cpu(&run.samples),
                    "speedup": self.speedup(run),
                    "exec_wall_us": (!run.exec_samples.is_empty()).then(|| wall(&run.exec_samples)),
                    "exec_speedup": self.exec_speedup(run),
                    "bound": run.bound,
                    "ceiling": run.ceiling(),
                    "machine_bound": run.machine_bound(),
                    "ceiling_runs": run.ceilings,
                    "mgas_per_s": self.mgas_per_s(wall_us),
                    "cpu_ratio": ratio(cpu(&run.samples), seq_cpu),
                    "peak_heap_bytes": run.peak_heap,
                    "mem_ratio": self.mem_ratio(run),
                    "executions": median(&run.executions),
                    "validations": median(&run.validations),
                    "aborts": median(&run.aborts),
                    "suspensions": median(&run.suspensions),
                    "hint_waits": median(&run.hint_waits),
                    "stale_restarts": median(&run.stale_restarts),
                    "early_starts": median(&run.early_starts),
                    "early_discards": median(&run.early_discards),
                    "phases_us": phases_json(&run.phases),
                    "exec_phases_us": phases_json(&run.exec_phases),
                    "reexecutions_per_tx": self.reexecutions_per_tx(run),
                    "verified_runs": run.verified_runs,
                    "verified": self.error.is_none() && run.verified_runs > 0,
                })
            })
            .collect();
        json!({
            "kind": "block",
            "source": match self.source {
                Source::Workload(_) => "workload",
                Source::Mainnet => "mainnet",
            },
            "name": self.name,
            "independent": match self.source {
                Source::Workload(w) => Some(is_independent(w)),
                Source::Mainnet => None,
            },
            "path": self.path,
            "number": self.number,
            "fork": self.fork,
            "txs": self.txs,
            "gas_used": self.gas_used,
            "input_heap_bytes": self.input_heap,
            "prepare_us": self.prepare_us,
            "repeats": self.sequential.len(),
            "verified": self.ok(),
            "error": self.error,
            "sequential": {
                "wall_us": seq_wall,
                "wall_us_runs": self.sequential.iter().map(|s| s.wall_us).collect::<Vec<_>>(),
                "exec_wall_us": (!self.sequential_exec.is_empty())
                    .then(|| wall(&self.sequential_exec)),
                "cpu_us": seq_cpu,
                "mgas_per_s": self.mgas_per_s(seq_wall),
                "peak_heap_bytes": self.sequential_peak_heap,
            },
            "parallel": runs,
        })
    }

    /// The block's table rows: one per thread count.
    pub(crate) fn rows(&self) -> Vec<String> {
        if !self.ok() {
            return vec![format!(
                "{:<22} FAILED: {}",
                self.name,
                self.error.as_deref().unwrap_or("no measurement")
            )];
        }
        let seq_wall = self.seq_wall_us();
        let seq_cpu = cpu(&self.sequential);
        let head = format!(
            "{:<22} {:>6} {:>11} {:>8} {:>7.1} {:>8}",
            self.name,
            self.txs,
            self.gas_used,
            duration_us(seq_wall),
            self.mgas_per_s(seq_wall),
            bytes(self.sequential_peak_heap),
        );
        let blank = " ".repeat(head.len());
        self.parallel
            .iter()
            .enumerate()
            .map(|(i, run)| {
                let wall_us = wall(&run.samples);
                format!(
                    "{} {:>4} {:>9} {:>8} {:>7.2}x {:>7} {:>6} {:>7} {:>7.1} {:>8.3} {:>6.2}x {:>8} {:>6.2}x  {}",
                    if i == 0 { &head } else { &blank },
                    run.threads,
                    run.mode,
                    duration_us(wall_us),
                    self.speedup(run),
                    self.exec_speedup(run)
                        .map_or_else(|| "-".to_owned(), |s| format!("{s:.2}x")),
                    run.bound.map_or_else(|| "-".to_owned(), |b| format!("{b:.2}x")),
                    run.ceiling()
                        .map_or_else(|| "-".to_owned(), |c| format!("{c:.2}x")),
                    self.mgas_per_s(wall_us),
                    self.reexecutions_per_tx(run),
                    ratio(cpu(&run.samples), seq_cpu),
                    bytes(run.peak_heap),
                    self.mem_ratio(run),
                    if run.verified_runs > 0 { "yes" } else { "no" },
                )
            })
            .collect()
    }

    /// The rows of the `--phases` table: for each Block-STM run, the sequential replay's
    /// median and the median of each phase of its execution-only replays (end-to-end ones,
    /// and the end-to-end sequential median, without them), each also as a share of their
    /// sum.
    pub(crate) fn phase_rows(&self) -> Vec<String> {
        if !self.ok() {
            return Vec::new();
        }
        self.parallel
            .iter()
            .filter_map(|run| {
                let (timing, medians, sequential) = match phase_medians(&run.exec_phases) {
                    Some(medians) => ("exec", medians, &self.sequential_exec),
                    None => ("e2e", phase_medians(&run.phases)?, &self.sequential),
                };
                let total: u64 = medians.iter().sum();
                let cells: Vec<String> = medians
                    .iter()
                    .map(|us| {
                        format!(
                            "{:>8} {:>3.0}%",
                            duration_us(*us),
                            100.0 * *us as f64 / total.max(1) as f64
                        )
                    })
                    .collect();
                Some(phase_line(
                    [
                        &self.name,
                        &run.threads.to_string(),
                        timing,
                        &duration_us(wall(sequential)),
                        &duration_us(total),
                    ],
                    &cells,
                ))
            })
            .collect()
    }
}

/// The header of the `--phases` table, matching [`BlockResult::phase_rows`].
pub(crate) fn phase_header() -> String {
    let names: Vec<String> = Phases::NAMES
        .iter()
        .map(|name| format!("{name:>13}"))
        .collect();
    phase_line(["block", "thr", "timing", "seq", "sum"], &names)
}

/// One line of the `--phases` table: the block, thread count, timing, sequential median
/// and sum, then one cell a phase.
fn phase_line(head: [&str; 5], cells: &[String]) -> String {
    let [block, threads, timing, seq, sum] = head;
    format!(
        "{block:<22} {threads:>4} {timing:>6} {seq:>8} {sum:>8}  {}",
        cells.join(" ")
    )
}

/// The table header, matching [`BlockResult::rows`].
pub(crate) fn header() -> String {
    format!(
        "{:<22} {:>6} {:>11} {:>8} {:>7} {:>8} {:>4} {:>9} {:>8} {:>8} {:>7} {:>6} {:>7} {:>7} {:>8} {:>7} {:>8} {:>7}  {}",
        "block",
        "txs",
        "gas",
        "seq",
        "Mgas/s",
        "seq mem",
        "thr",
        "mode",
        "parallel",
        "speedup",
        "exec",
        "bound",
        "ceiling",
        "Mgas/s",
        "reexec/tx",
        "cpu/seq",
        "par mem",
        "mem/seq",
        "equal"
    )
}

/// Bytes for humans (`812B`, `14.2KiB`, `3.1MiB`, `1.20GiB`).
pub(crate) fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n}B"),
        1024..1_048_576 => format!("{:.1}KiB", n as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1}MiB", n as f64 / 1_048_576.0),
        _ => format!("{:.2}GiB", n as f64 / 1_073_741_824.0),
    }
}
