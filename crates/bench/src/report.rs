//! What one benchmarked block yields, its table rows and JSON line, and the summary with
//! the targets.

use serde_json::{Value, json};

use super::measure::{Sample, geomean, median};
use crate::output::duration_us;

/// Where a block came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A generated workload.
    Workload(replay_evm::workload::Workload),
    /// A block folder (a mainnet fixture).
    Mainnet,
}

/// Independent workloads, expected to scale (target 1.9x at 2 threads); every other
/// workload has a hot spot (target: never below 0.95x).
pub(crate) fn is_independent(workload: replay_evm::workload::Workload) -> bool {
    use replay_evm::workload::Workload::{AmmManyPools, Erc20Disjoint, RawTransfers};
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
    pub(crate) executions: Vec<u64>,
    pub(crate) validations: Vec<u64>,
    pub(crate) aborts: Vec<u64>,
    pub(crate) suspensions: Vec<u64>,
    /// Runs whose result was compared with the sequential one and found equal.
    pub(crate) verified_runs: usize,
    pub(crate) peak_heap: u64,
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

    /// Speedup at `threads`, when measured.
    pub(crate) fn speedup_at(&self, threads: usize) -> Option<f64> {
        if !self.ok() {
            return None;
        }
        self.parallel
            .iter()
            .find(|r| r.threads == threads)
            .map(|r| self.speedup(r))
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
                    "mgas_per_s": self.mgas_per_s(wall_us),
                    "cpu_ratio": ratio(cpu(&run.samples), seq_cpu),
                    "peak_heap_bytes": run.peak_heap,
                    "mem_ratio": self.mem_ratio(run),
                    "executions": median(&run.executions),
                    "validations": median(&run.validations),
                    "aborts": median(&run.aborts),
                    "suspensions": median(&run.suspensions),
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
                    "{} {:>4} {:>9} {:>8} {:>7.2}x {:>7.1} {:>8.3} {:>6.2}x {:>8} {:>6.2}x  {}",
                    if i == 0 { &head } else { &blank },
                    run.threads,
                    run.mode,
                    duration_us(wall_us),
                    self.speedup(run),
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
}

/// The table header, matching [`BlockResult::rows`].
pub(crate) fn header() -> String {
    format!(
        "{:<22} {:>6} {:>11} {:>8} {:>7} {:>8} {:>4} {:>9} {:>8} {:>8} {:>7} {:>8} {:>7} {:>8} {:>7}  {}",
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

/// One of the targets, as measured.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) name: String,
    /// The measured value (a speedup, or a memory ratio).
    pub(crate) measured: f64,
    pub(crate) threshold: f64,
    /// Whether the measured value must be at least (true) or at most (false) the threshold.
    pub(crate) at_least: bool,
    pub(crate) detail: String,
}

impl Target {
    pub(crate) fn met(&self) -> bool {
        if self.at_least {
            self.measured >= self.threshold
        } else {
            self.measured <= self.threshold
        }
    }

    /// How far from the threshold, as text (`by 0.31x (16%)`).
    pub(crate) fn gap(&self) -> String {
        let gap = (self.measured - self.threshold).abs();
        format!(
            "by {gap:.2}x ({:.0}% of the target)",
            100.0 * gap / self.threshold
        )
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "target": self.name,
            "measured": self.measured,
            "threshold": self.threshold,
            "at_least": self.at_least,
            "met": self.met(),
            "detail": self.detail,
        })
    }

    pub(crate) fn line(&self) -> String {
        let cmp = if self.at_least { ">=" } else { "<=" };
        let verdict = if self.met() {
            "MET   ".to_owned()
        } else {
            "MISSED".to_owned()
        };
        let gap = if self.met() {
            String::new()
        } else {
            format!(", missed {}", self.gap())
        };
        format!(
            "  [{verdict}] {}: {:.2}x {cmp} {:.2}x{gap}\n           {}",
            self.name, self.measured, self.threshold, self.detail
        )
    }
}

fn listed(items: &[(String, f64)]) -> String {
    items
        .iter()
        .map(|(name, v)| format!("{name} {v:.2}x"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn worst(items: &[(String, f64)], lowest: bool) -> Option<(String, f64)> {
    items
        .iter()
        .cloned()
        .reduce(|a, b| if (b.1 < a.1) == lowest { b } else { a })
}

/// The summary of a run: geometric means per thread count and the targets.
pub(crate) struct Summary {
    pub(crate) threads: Vec<usize>,
    pub(crate) workload_geomean: Vec<Option<f64>>,
    pub(crate) mainnet_geomean: Vec<Option<f64>>,
    pub(crate) mainnet_slowest: Vec<Option<(String, f64)>>,
    pub(crate) mainnet_blocks: usize,
    pub(crate) targets: Vec<Target>,
    pub(crate) blocks: usize,
    pub(crate) failed: usize,
}

/// At-least target on the worst of `items`.
fn worst_target(name: &str, items: &[(String, f64)], threshold: f64) -> Option<Target> {
    let (block, value) = worst(items, true)?;
    Some(Target {
        name: name.to_owned(),
        measured: value,
        threshold,
        at_least: true,
        detail: format!("worst {block}; {}", listed(items)),
    })
}

/// At-least target on the geometric mean of `items`.
fn geomean_target(name: &str, items: &[(String, f64)], threshold: f64) -> Option<Target> {
    let values: Vec<f64> = items.iter().map(|(_, s)| *s).collect();
    let measured = geomean(&values)?;
    let slowest = worst(items, true)
        .map(|(b, v)| format!("; slowest {b} {v:.2}x"))
        .unwrap_or_default();
    Some(Target {
        name: format!("{name} ({} blocks)", items.len()),
        measured,
        threshold,
        at_least: true,
        detail: format!(
            "{} of {} blocks at or above {threshold:.2}x{slowest}",
            values.iter().filter(|s| **s >= threshold).count(),
            items.len()
        ),
    })
}

fn speedups(
    results: &[BlockResult],
    threads: usize,
    keep: impl Fn(&BlockResult) -> bool,
) -> Vec<(String, f64)> {
    results
        .iter()
        .filter(|r| keep(r))
        .filter_map(|r| Some((r.name.clone(), r.speedup_at(threads)?)))
        .collect()
}

fn is_mainnet(r: &BlockResult) -> bool {
    r.source == Source::Mainnet
}

fn workload_where(r: &BlockResult, pick: impl Fn(replay_evm::workload::Workload) -> bool) -> bool {
    matches!(r.source, Source::Workload(w) if pick(w))
}

impl Summary {
    pub(crate) fn new(results: &[BlockResult], threads: &[usize], gas: u64) -> Self {
        let values = |v: &[(String, f64)]| v.iter().map(|(_, s)| *s).collect::<Vec<_>>();
        let workload_geomean = threads
            .iter()
            .map(|&t| {
                geomean(&values(&speedups(results, t, |r| {
                    matches!(r.source, Source::Workload(_))
                })))
            })
            .collect();
        let mainnet_geomean = threads
            .iter()
            .map(|&t| geomean(&values(&speedups(results, t, is_mainnet))))
            .collect();
        let mainnet_slowest = threads
            .iter()
            .map(|&t| worst(&speedups(results, t, is_mainnet), true))
            .collect();
        let mainnet_2 = speedups(results, 2, is_mainnet);
        let mainnet_1 = speedups(results, 1, is_mainnet);
        let memory: Vec<(String, f64)> = results
            .iter()
            .filter(|r| r.ok() && matches!(r.source, Source::Workload(_)))
            .flat_map(|r| {
                r.parallel
                    .iter()
                    .map(|run| (format!("{}@{}", r.name, run.threads), r.mem_ratio(run)))
            })
            .collect();
        let within_5 = 1.0 / 1.05;
        let targets = [
            worst_target(
                "independent workloads at 2 threads",
                &speedups(results, 2, |r| workload_where(r, is_independent)),
                1.9,
            ),
            worst_target(
                "hot-spot workloads at 2 threads",
                &speedups(results, 2, |r| workload_where(r, |w| !is_independent(w))),
                0.95,
            ),
            geomean_target(
                "mainnet fixtures at 2 threads, geometric mean",
                &mainnet_2,
                1.5,
            ),
            worst_target(
                "mainnet fixtures at 2 threads, slowest block",
                &mainnet_2,
                0.97,
            ),
            worst_target(
                "generated workloads at 1 thread, within 5% of sequential",
                &speedups(results, 1, |r| matches!(r.source, Source::Workload(_))),
                within_5,
            ),
            geomean_target(
                "mainnet fixtures at 1 thread, within 5% of sequential (geometric mean)",
                &mainnet_1,
                within_5,
            ),
            worst(&memory, false).map(|(block, value)| Target {
                name: format!(
                    "peak heap of a {} block, parallel over sequential",
                    super::gas_text(gas)
                ),
                measured: value,
                threshold: 1.5,
                at_least: false,
                detail: format!("worst {block}; {}", listed(&memory)),
            }),
        ]
        .into_iter()
        .flatten()
        .collect();
        Self {
            threads: threads.to_vec(),
            workload_geomean,
            mainnet_geomean,
            mainnet_slowest,
            mainnet_blocks: results.iter().filter(|r| is_mainnet(r)).count(),
            targets,
            blocks: results.len(),
            failed: results.iter().filter(|r| !r.ok()).count(),
        }
    }

    pub(crate) fn to_json(&self, machine: Value) -> Value {
        let by_threads = |values: &[Option<f64>]| -> Value {
            self.threads
                .iter()
                .zip(values)
                .filter_map(|(t, v)| Some((t.to_string(), json!((*v)?))))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let slowest: serde_json::Map<String, Value> = self
            .threads
            .iter()
            .zip(&self.mainnet_slowest)
            .filter_map(|(t, s)| {
                let (block, speedup) = s.as_ref()?;
                Some((t.to_string(), json!({"block": block, "speedup": speedup})))
            })
            .collect();
        json!({
            "kind": "summary",
            "threads": self.threads,
            "blocks": self.blocks,
            "failed": self.failed,
            "workloads": {"geomean_speedup": by_threads(&self.workload_geomean)},
            "mainnet": {
                "blocks": self.mainnet_blocks,
                "geomean_speedup": by_threads(&self.mainnet_geomean),
                "slowest": slowest,
            },
            "targets": self.targets.iter().map(Target::to_json).collect::<Vec<_>>(),
            "machine": machine,
        })
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let cols: Vec<String> = self
            .threads
            .iter()
            .map(|t| format!("{:>10}", format!("{t} thr")))
            .collect();
        out.push(format!(
            "{:<34}{}",
            "median speedup over sequential",
            cols.join("")
        ));
        let fmt =
            |v: &Option<f64>| v.map_or_else(|| format!("{:>10}", "-"), |s| format!("{:>9.2}x", s));
        if self.workload_geomean.iter().any(Option::is_some) {
            let v: Vec<String> = self.workload_geomean.iter().map(fmt).collect();
            out.push(format!(
                "{:<34}{}",
                "  workloads, geometric mean",
                v.join("")
            ));
        }
        if self.mainnet_geomean.iter().any(Option::is_some) {
            let v: Vec<String> = self.mainnet_geomean.iter().map(fmt).collect();
            out.push(format!(
                "{:<34}{}",
                format!("  mainnet ({}), geometric mean", self.mainnet_blocks),
                v.join("")
            ));
            let v: Vec<String> = self
                .mainnet_slowest
                .iter()
                .map(|s| fmt(&s.as_ref().map(|(_, v)| *v)))
                .collect();
            out.push(format!("{:<34}{}", "  mainnet, slowest block", v.join("")));
        }
        if !self.targets.is_empty() {
            out.push("targets".to_owned());
            out.extend(self.targets.iter().map(Target::line));
        }
        out.push(format!(
            "{} blocks: {} verified parallel == sequential, {} failed",
            self.blocks,
            self.blocks - self.failed,
            self.failed
        ));
        out
    }
}
