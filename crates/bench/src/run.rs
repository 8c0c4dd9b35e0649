//! `replay-evm bench [--workload NAME|all] [--gas G] [--threads LIST] [--fixtures DIR]
//! [--json] [--plot FILE.svg]`: the parallel engine against plain sequential revm, on
//! generated workloads and on mainnet blocks, in the same run.
//!
//! For each block:
//! 1. load it, or generate it at `--gas` (real signatures: sender recovery is part of the
//!    work of both engines);
//! 2. warm up: one sequential replay, verified against the header (this also pays the
//!    one-time KZG trusted-setup load);
//! 3. peak heap: one sequential replay and one parallel replay per thread count with the
//!    counting allocator armed ([`alloc`]); every parallel result is compared with the
//!    sequential one, and a block whose results differ is reported FAILED and not timed;
//! 4. timing: rounds of one sequential replay then one parallel replay per thread count,
//!    interleaved so that machine noise hits them alike, repeated `--repeat` times and until
//!    `--min-time` has passed; every parallel result is checked again (outside the timed
//!    window). Medians are reported.
//!
//! The sequential baseline is [`replay_sequential`]: alloy-evm's block executor over revm's
//! `State` on the same in-memory pre-state, with the same block rules, not the parallel
//! engine at one thread. CPU time is the process's user plus system time over a run
//! (`getrusage`), every thread included, so CPU over sequential CPU is the wasted work.

use std::{
    io::{IsTerminal, Write},
    num::NonZeroUsize,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use replay_evm::{
    block::ArchivedBlock,
    block_dir::load_block_dir,
    chain::ChainSpec,
    fixtures::fixtures_dir,
    parallel::{Concurrency, ParallelEngine},
    sequential::replay_sequential,
    verify::verify,
    workload::{Workload, generate_gas},
};
use serde_json::{Value, json};

use super::{CliError, Outcome};
use crate::chain_args::ChainArgs;
use crate::output::{duration_us, json_line};

mod alloc;
mod measure;
mod plot;
mod report;

use measure::{Repeat, timed};
use report::{BlockResult, ParallelRun, Source, Summary};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Generated workloads, comma-separated, or `all`. Without --workload and --fixtures:
    /// every workload and the shared mainnet fixtures.
    #[arg(long, value_delimiter = ',', value_name = "NAME|all")]
    workload: Vec<String>,
    /// Gas of each generated block: `1000000000`, `1_000_000_000`, `1e9`, `1G`, `30M`.
    #[arg(long, default_value = "1G", value_parser = parse_gas)]
    gas: u64,
    /// Thread counts of the parallel runs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<NonZeroUsize>,
    /// How the parallel engine runs each block: `adaptive` (it picks Block-STM or in-order
    /// execution with parallel sender recovery, as a client would run it), `block-stm`
    /// (always Block-STM), `in-order` (always in-order execution).
    #[arg(long, value_enum, default_value_t = BenchMode::Adaptive)]
    mode: BenchMode,
    /// Mainnet blocks: a block folder, a folder of block folders, or a fixtures folder
    /// holding `mainnet/` (repeatable).
    #[arg(long, value_name = "DIR")]
    fixtures: Vec<PathBuf>,
    /// The chain of the --fixtures blocks (generated workloads are mainnet Cancun blocks).
    #[command(flatten)]
    chain: ChainArgs,
    /// Print one JSON object per block, then a summary object, instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON lines to this file (with the table on stdout).
    #[arg(long, value_name = "FILE.jsonl")]
    json_file: Option<PathBuf>,
    /// Write an SVG bar chart of the speedups by block and thread count.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Timed runs of each configuration, at least.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Keep repeating until each block's rounds add up to this many seconds (at most 1000
    /// rounds).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    min_time: f64,
    /// Seed of the generated workloads.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BenchMode {
    /// `Concurrency::Adaptive`.
    Adaptive,
    /// `Concurrency::Threads`: Block-STM on every block.
    BlockStm,
    /// `Concurrency::InOrder`.
    InOrder,
}

impl BenchMode {
    fn concurrency(self, threads: NonZeroUsize) -> Concurrency {
        match self {
            Self::Adaptive => Concurrency::Adaptive(threads),
            Self::BlockStm => Concurrency::Threads(threads),
            Self::InOrder => Concurrency::InOrder(threads),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Adaptive => "adaptive",
            Self::BlockStm => "block-stm",
            Self::InOrder => "in-order",
        }
    }
}

/// Parses a gas amount: digits with optional `_`, a `k`/`M`/`G` suffix, or `XeY`.
fn parse_gas(text: &str) -> Result<u64, String> {
    let clean = text.trim().replace('_', "");
    let bad = || format!("`{text}` is not a gas amount (e.g. 30000000, 30M, 1G, 1e9)");
    let (digits, scale) = match clean.char_indices().last() {
        Some((i, 'k' | 'K')) => (&clean[..i], 1_000),
        Some((i, 'm' | 'M')) => (&clean[..i], 1_000_000),
        Some((i, 'g' | 'G')) => (&clean[..i], 1_000_000_000),
        _ => (clean.as_str(), 1),
    };
    let value = if let Some((mantissa, exponent)) = digits.split_once(['e', 'E']) {
        let m: u64 = mantissa.parse().map_err(|_| bad())?;
        let e: u32 = exponent.parse().map_err(|_| bad())?;
        10u64.checked_pow(e).and_then(|p| m.checked_mul(p))
    } else {
        digits.parse::<u64>().ok()
    };
    match value.and_then(|v| v.checked_mul(scale)) {
        Some(0) | None => Err(bad()),
        Some(gas) => Ok(gas),
    }
}

/// What to benchmark, in order.
enum Job {
    Workload(Workload),
    Dir(PathBuf),
}

fn has_block(dir: &Path) -> bool {
    dir.join("block.json").is_file()
}

/// The block folders `dir` names: itself, its `mainnet/` children, or its children; sorted
/// by block number where the names are numbers.
fn block_dirs(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    if has_block(dir) {
        return Ok(vec![dir.to_path_buf()]);
    }
    let root = if dir.join("mainnet").is_dir() {
        dir.join("mainnet")
    } else {
        dir.to_path_buf()
    };
    let entries = std::fs::read_dir(&root)
        .map_err(|e| CliError::Usage(format!("--fixtures {}: {e}", root.display())))?;
    let mut dirs: Vec<(Option<u64>, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| has_block(p))
        .map(|p| {
            let number = p.file_name().and_then(|n| n.to_str()?.parse().ok());
            (number, p)
        })
        .collect();
    if dirs.is_empty() {
        return Err(CliError::Usage(format!(
            "--fixtures {}: no block folders (block.json) there",
            dir.display()
        )));
    }
    dirs.sort();
    Ok(dirs.into_iter().map(|(_, p)| p).collect())
}

fn jobs(args: &Args) -> Result<Vec<Job>, CliError> {
    let mut jobs = Vec::new();
    let mut workloads = Vec::new();
    for name in &args.workload {
        if name.eq_ignore_ascii_case("all") {
            workloads.extend(Workload::ALL);
        } else {
            workloads.push(
                name.parse::<Workload>()
                    .map_err(|e| CliError::Usage(e.to_string()))?,
            );
        }
    }
    let mut fixtures = args.fixtures.clone();
    if args.workload.is_empty() && args.fixtures.is_empty() {
        workloads.extend(Workload::ALL);
        match fixtures_dir() {
            Ok(dir) => fixtures.push(dir),
            Err(e) => eprintln!("note: no mainnet blocks benchmarked: {e}"),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    workloads.retain(|w| seen.insert(*w));
    jobs.extend(workloads.into_iter().map(Job::Workload));
    for dir in &fixtures {
        jobs.extend(block_dirs(dir)?.into_iter().map(Job::Dir));
    }
    Ok(jobs)
}

/// Progress on stderr, when a person is watching.
fn progress(message: impl FnOnce() -> String) {
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = writeln!(err, "bench: {}", message());
    }
}

struct Bench<'a> {
    args: &'a Args,
    threads: Vec<NonZeroUsize>,
    /// The rules of the generated workloads' blocks.
    workload_chain: ChainSpec,
    /// The rules of the --fixtures blocks.
    fixture_chain: ChainSpec,
    engine: ParallelEngine,
    repeat: Repeat,
}

impl Bench<'_> {
    fn prepare(&self, job: &Job, result: &mut BlockResult) -> Result<ArchivedBlock, String> {
        let started = Instant::now();
        let (block, _, retained) = alloc::measure(|| match job {
            Job::Workload(w) => {
                progress(|| format!("{w}: generating {} gas", self.args.gas));
                generate_gas(*w, self.args.seed, self.args.gas).map_err(|e| e.to_string())
            }
            Job::Dir(dir) => {
                load_block_dir(dir, self.fixture_chain.chain_id).map_err(|e| e.to_string())
            }
        });
        let block = block?;
        result.prepare_us = started.elapsed().as_micros() as u64;
        result.input_heap = retained;
        result.number = Some(block.number());
        result.fork = Some(block.fork(self.chain(job)).to_string());
        result.txs = block.transactions().len();
        Ok(block)
    }

    /// The rules `job`'s block replays under.
    fn chain(&self, job: &Job) -> &ChainSpec {
        match job {
            Job::Workload(_) => &self.workload_chain,
            Job::Dir(_) => &self.fixture_chain,
        }
    }

    fn parallel(
        &self,
        block: &ArchivedBlock,
        chain: &ChainSpec,
        threads: NonZeroUsize,
    ) -> Result<replay_evm::parallel::ParallelReplay, String> {
        self.engine
            .replay(block, chain, self.args.mode.concurrency(threads))
            .map_err(|e| format!("parallel at {threads} threads: {e}"))
    }

    /// Steps 2 to 4 of the module doc; fills `result`.
    fn measure(
        &self,
        block: &ArchivedBlock,
        chain: &ChainSpec,
        result: &mut BlockResult,
    ) -> Result<(), String> {
        let name = result.name.clone();
        progress(|| format!("{name}: {} txs; warm-up and checks", result.txs));
        let seq = replay_sequential(block, chain).map_err(|e| e.to_string())?;
        verify(block.header(), &seq).map_err(|e| e.to_string())?;
        result.gas_used = seq.gas_used;

        let (again, peak, _) = alloc::measure(|| replay_sequential(block, chain));
        again.map_err(|e| e.to_string())?;
        result.sequential_peak_heap = peak;
        for &t in &self.threads {
            let (par, peak, _) = alloc::measure(|| self.parallel(block, chain, t));
            let par = par?;
            if let Some(difference) = seq.first_difference(&par.replay) {
                return Err(format!(
                    "the parallel replay at {t} threads differs from the sequential one: \
                     {difference}"
                ));
            }
            result.parallel.push(ParallelRun {
                threads: t.get(),
                used_threads: par.threads,
                mode: par.mode.as_str(),
                samples: Vec::new(),
                executions: Vec::new(),
                validations: Vec::new(),
                aborts: Vec::new(),
                suspensions: Vec::new(),
                verified_runs: 1,
                peak_heap: peak,
            });
        }

        let started = Instant::now();
        let mut rounds = 0;
        while self.repeat.more(rounds, started.elapsed()) {
            progress(|| format!("{name}: round {}", rounds + 1));
            let (replay, sample) = timed(|| replay_sequential(block, chain));
            drop(replay.map_err(|e| e.to_string())?);
            result.sequential.push(sample);
            for (run, &t) in result.parallel.iter_mut().zip(&self.threads) {
                let (par, sample) = timed(|| self.parallel(block, chain, t));
                let par = par?;
                if let Some(difference) = seq.first_difference(&par.replay) {
                    return Err(format!(
                        "the parallel replay at {t} threads differs from the sequential one \
                         (round {}): {difference}",
                        rounds + 1
                    ));
                }
                run.samples.push(sample);
                run.executions.push(par.counters.executions);
                run.validations.push(par.counters.validations);
                run.aborts.push(par.counters.aborts);
                run.suspensions.push(par.counters.suspensions);
                run.verified_runs += 1;
            }
            rounds += 1;
        }
        Ok(())
    }

    fn run_job(&self, job: &Job) -> BlockResult {
        let (source, name, path) = match job {
            Job::Workload(w) => (Source::Workload(*w), w.name().to_owned(), None),
            Job::Dir(dir) => (
                Source::Mainnet,
                dir.file_name()
                    .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into()),
                Some(dir.display().to_string()),
            ),
        };
        let mut result = BlockResult::new(source, name);
        result.path = path;
        let outcome = self.prepare(job, &mut result).and_then(|block| {
            if let Source::Mainnet = source {
                result.name = block.number().to_string();
            }
            self.measure(&block, self.chain(job), &mut result)
        });
        result.error = outcome.err();
        result
    }
}

/// The machine the numbers come from.
fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, m)| m.trim().to_owned());
    let meminfo = read("/proc/meminfo");
    let mem_kib: Option<u64> = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    let load: Vec<f64> = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(NonZeroUsize::get).ok(),
        "memory_bytes": mem_kib.map(|k| k * 1024),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "load_average": load,
    })
}

fn machine_line(machine: &Value) -> String {
    let gib = machine["memory_bytes"].as_u64().unwrap_or_default() as f64 / 1_073_741_824.0;
    let load = |key: &str| -> String {
        machine[key]
            .as_array()
            .map(|a| a.iter().map(Value::to_string).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let end = if machine["load_average_end"].is_array() {
        format!(", at the end {}", load("load_average_end"))
    } else {
        String::new()
    };
    format!(
        "machine: {}, {} cores, {gib:.1} GiB, load average {}{end}",
        machine["cpu"].as_str().unwrap_or("unknown CPU"),
        machine["cores"].as_u64().unwrap_or_default(),
        load("load_average"),
    )
}

/// Gas for humans: `1 Ggas`, `30 Mgas`, else the number.
pub(crate) fn gas_text(gas: u64) -> String {
    match gas {
        g if g >= 1_000_000_000 && g % 1_000_000_000 == 0 => format!("{} Ggas", g / 1_000_000_000),
        g if g >= 1_000_000 && g % 1_000_000 == 0 => format!("{} Mgas", g / 1_000_000),
        g => format!("{g} gas"),
    }
}

fn write_plot(
    path: &Path,
    machine: &Value,
    args: &Args,
    results: &[BlockResult],
    threads: &[usize],
) -> Result<(), CliError> {
    let summary = Summary::new(results, threads, args.gas);
    let group = |r: &BlockResult| plot::Group {
        label: r.name.clone(),
        speedups: threads.iter().map(|&t| r.speedup_at(t)).collect(),
    };
    let mut panels = Vec::new();
    let workloads: Vec<plot::Group> = results
        .iter()
        .filter(|r| matches!(r.source, Source::Workload(_)))
        .map(group)
        .collect();
    if !workloads.is_empty() {
        let mut groups = workloads;
        groups.push(plot::Group {
            label: "geometric mean".into(),
            speedups: summary.workload_geomean.clone(),
        });
        panels.push(plot::Panel {
            title: format!(
                "generated workloads, {} each, real signatures (seed {})",
                gas_text(args.gas),
                args.seed
            ),
            groups,
        });
    }
    let mainnet: Vec<plot::Group> = results
        .iter()
        .filter(|r| r.source == Source::Mainnet)
        .map(group)
        .collect();
    if !mainnet.is_empty() {
        let mut groups = vec![plot::Group {
            label: "geometric mean".into(),
            speedups: summary.mainnet_geomean.clone(),
        }];
        groups.extend(mainnet);
        panels.push(plot::Panel {
            title: format!("mainnet blocks ({})", summary.mainnet_blocks),
            groups,
        });
    }
    let svg = plot::svg(
        &format!(
            "ReplayEVM: parallel engine ({}) speedup over sequential revm (median)",
            args.mode.as_str()
        ),
        &machine_line(machine),
        threads,
        &panels,
    );
    std::fs::write(path, svg)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))
}

pub(crate) fn run(args: Args) -> Result<Outcome, CliError> {
    if !args.min_time.is_finite() || args.min_time < 0.0 {
        return Err(CliError::Usage(
            "--min-time must be a number of seconds >= 0".into(),
        ));
    }
    let mut threads = args.threads.clone();
    let mut seen = std::collections::BTreeSet::new();
    threads.retain(|t| seen.insert(*t));
    let max = threads
        .iter()
        .copied()
        .max()
        .ok_or(CliError::Usage("--threads is empty".into()))?;
    let jobs = jobs(&args)?;
    let bench = Bench {
        args: &args,
        threads: threads.clone(),
        workload_chain: ChainSpec::mainnet(),
        fixture_chain: args.chain.chain()?,
        engine: ParallelEngine::new(max).map_err(|e| CliError::Usage(e.to_string()))?,
        repeat: Repeat {
            min_runs: args.repeat.max(1),
            min_time: Duration::from_secs_f64(args.min_time),
            max_runs: 1000,
        },
    };
    let machine = machine();
    if !args.json {
        println!("{}", machine_line(&machine));
        println!(
            "medians of at least {} runs; sequential = plain revm (alloy-evm block executor); \
             parallel = --mode {}; mem = peak heap growth during the replay",
            bench.repeat.min_runs,
            args.mode.as_str()
        );
        println!("{}", report::header());
    }
    let mut json_file = match &args.json_file {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?,
        )),
        None => None,
    };
    let mut save = |value: &Value| -> Result<(), CliError> {
        if let Some(file) = json_file.as_mut() {
            serde_json::to_writer(&mut *file, value).map_err(std::io::Error::from)?;
            file.write_all(b"\n")?;
            file.flush()?;
        }
        Ok(())
    };
    let mut results = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let result = bench.run_job(job);
        save(&result.to_json())?;
        if args.json {
            json_line(&result.to_json())?;
        } else {
            for row in result.rows() {
                println!("{row}");
            }
        }
        std::io::stdout().flush()?;
        progress(|| {
            let seq = duration_us(result.seq_wall_us());
            format!("{}: done (sequential {seq})", result.name)
        });
        results.push(result);
    }
    let mut machine = machine;
    machine["load_average_end"] = self::machine()["load_average"].clone();
    let thread_counts: Vec<usize> = threads.iter().map(|t| t.get()).collect();
    let summary = Summary::new(&results, &thread_counts, args.gas);
    save(&summary.to_json(machine.clone()))?;
    if args.json {
        json_line(&summary.to_json(machine.clone()))?;
    } else {
        for line in summary.lines() {
            println!("{line}");
        }
        println!(
            "load average at the end: {}",
            machine["load_average_end"]
                .as_array()
                .map(|a| a.iter().map(Value::to_string).collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        );
    }
    if let Some(path) = &args.plot {
        write_plot(path, &machine, &args, &results, &thread_counts)?;
    }
    Ok(if summary.failed == 0 {
        Outcome::Success
    } else {
        Outcome::Failures
    })
}

#[cfg(test)]
mod tests {
    use super::parse_gas;

    #[test]
    fn gas_amounts() {
        assert_eq!(parse_gas("1000000000"), Ok(1_000_000_000));
        assert_eq!(parse_gas("1_000_000_000"), Ok(1_000_000_000));
        assert_eq!(parse_gas("1e9"), Ok(1_000_000_000));
        assert_eq!(parse_gas("1G"), Ok(1_000_000_000));
        assert_eq!(parse_gas("30M"), Ok(30_000_000));
        assert_eq!(parse_gas("2000k"), Ok(2_000_000));
        assert!(parse_gas("0").is_err());
        assert!(parse_gas("lots").is_err());
        assert!(parse_gas("1e30").is_err());
    }
}
