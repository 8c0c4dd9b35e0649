//! `replay-evm-bench [--workload NAME|all] [--gas G] [--threads LIST] [--fixtures DIR]
//! [--json] [--plot FILE.svg]`: the parallel engine against plain sequential revm, on
//! generated workloads and on mainnet blocks, in the same run.
//!
//! For each block:
//! 1. load it, or generate it at `--gas` (real signatures: sender recovery is part of the
//!    work of both engines);
//! 2. warm up: one sequential replay, verified against the header (this also pays the
//!    one-time costs: thread pools, caches);
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
    process::ExitCode,
    time::{Duration, Instant},
};

use replay_evm::{
    analysis::analyse,
    block::ArchivedBlock,
    block_dir::load_block_dir,
    chain::ChainSpec,
    fixtures::fixtures_dir,
    parallel::{ParallelEngine, ParallelReplay},
    sequential::{replay_sequential, replay_sequential_with_senders},
    verify::verify,
};
use replay_evm_args::output::{duration_us, json_line};
use replay_evm_dataset::measure::RepeatPolicy;
use replay_evm_workload::{Workload, generate_gas};
use serde_json::Value;

use crate::{
    alloc,
    args::{Args, BenchMode},
    ceiling::Ceiling,
    error::BenchError,
    machine::{machine, machine_line},
    measure::timed,
    output::gas_text,
    plot, report,
    report::{BlockResult, ParallelRun, Source},
    summary::Summary,
};

/// The machine's ceiling is measured in a block's first rounds only, this many: a small
/// block runs hundreds of rounds in `--min-time`, and 20 ms of calibration after each
/// would double the run (the 47 mainnet fixtures: 4,091 rounds, 80 s).
const MAX_CEILINGS: usize = 15;

/// How a run that reached its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every block was measured and every parallel result equalled the sequential one: exit 0.
    Success,
    /// Some block failed (it did not load, replay, verify, or its parallel result differed):
    /// exit 1.
    Failures,
}

impl Outcome {
    /// The process exit code.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Self::Success => ExitCode::SUCCESS,
            Self::Failures => ExitCode::from(1),
        }
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
fn block_dirs(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    if has_block(dir) {
        return Ok(vec![dir.to_path_buf()]);
    }
    let root = if dir.join("mainnet").is_dir() {
        dir.join("mainnet")
    } else {
        dir.to_path_buf()
    };
    let entries = std::fs::read_dir(&root)
        .map_err(|e| BenchError::Usage(format!("--fixtures {}: {e}", root.display())))?;
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
        return Err(BenchError::Usage(format!(
            "--fixtures {}: no block folders (block.json) there",
            dir.display()
        )));
    }
    dirs.sort();
    Ok(dirs.into_iter().map(|(_, p)| p).collect())
}

fn jobs(args: &Args) -> Result<Vec<Job>, BenchError> {
    let mut jobs = Vec::new();
    let mut workloads = Vec::new();
    for name in &args.workload {
        if name.eq_ignore_ascii_case("all") {
            workloads.extend(Workload::ALL);
        } else {
            workloads.push(
                name.parse::<Workload>()
                    .map_err(|e| BenchError::Usage(e.to_string()))?,
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
    repeat: RepeatPolicy,
    /// The machine's ceiling, measured beside a block's first rounds of parallel replays.
    ceiling: Ceiling,
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
    ) -> Result<ParallelReplay, String> {
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
        let mut analysis = None;
        for &t in &self.threads {
            let (par, peak, _) = alloc::measure(|| self.parallel(block, chain, t));
            let par = par?;
            if let Some(difference) = seq.first_difference(&par.replay) {
                return Err(format!(
                    "the parallel replay at {t} threads differs from the sequential one: \
                     {difference}"
                ));
            }
            // The dependency graph's bound at this thread count, from the read and write sets
            // of the block's first Block-STM run (analysed once; in-order runs yield none).
            let bound = if par.traces.is_empty() && !block.transactions().is_empty() {
                None
            } else if t.get() == 1 {
                Some(1.0)
            } else {
                analysis
                    .get_or_insert_with(|| analyse(&par.accesses()))
                    .lazy
                    .speedup_at(t.get())
            };
            result.parallel.push(ParallelRun {
                threads: t.get(),
                used_threads: par.threads,
                mode: par.mode.as_str(),
                samples: Vec::new(),
                exec_samples: Vec::new(),
                bound,
                executions: Vec::new(),
                validations: Vec::new(),
                aborts: Vec::new(),
                suspensions: Vec::new(),
                hint_waits: Vec::new(),
                stale_restarts: Vec::new(),
                early_starts: Vec::new(),
                early_discards: Vec::new(),
                ceilings: Vec::new(),
                phases: Vec::new(),
                exec_phases: Vec::new(),
                verified_runs: 1,
                peak_heap: peak,
            });
        }

        // Execution-only timing (`--mode block-stm`): the senders recovered once, before any
        // timer, on both sides, as pevm, Grevm and reth measure.
        let senders = match self.args.mode {
            BenchMode::BlockStm => Some(
                block
                    .recover_senders(block.fork(chain))
                    .map_err(|e| e.to_string())?,
            ),
            _ => None,
        };
        let started = Instant::now();
        let mut rounds = 0;
        // The ceiling's own time does not count towards `--min-time`: it would take rounds
        // from the short blocks.
        let mut calibrating = Duration::ZERO;
        while self
            .repeat
            .more(rounds, started.elapsed().saturating_sub(calibrating))
        {
            progress(|| format!("{name}: round {}", rounds + 1));
            let (replay, sample) = timed(|| replay_sequential(block, chain));
            drop(replay.map_err(|e| e.to_string())?);
            result.sequential.push(sample);
            if let Some(senders) = &senders {
                let (replay, exec) =
                    timed(|| replay_sequential_with_senders(block, chain, senders));
                drop(replay.map_err(|e| e.to_string())?);
                result.sequential_exec.push(exec);
            }
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
                run.hint_waits.push(par.counters.hint_waits);
                run.stale_restarts.push(par.counters.stale_restarts);
                run.early_starts.push(par.counters.early_starts);
                run.early_discards.push(par.counters.early_discards);
                run.phases
                    .extend(par.phases.map(|phases| phases.as_array()));
                run.verified_runs += 1;
                // Every timed replay starts from the same heap: the sequential replays' results
                // are dropped before the next timer starts, and so is this one (a 1-Ggas
                // block's traces are hundreds of megabytes, which the next replay would
                // otherwise take from fresh pages).
                drop(par);
                if let Some(senders) = &senders {
                    let (par, exec) =
                        timed(|| self.engine.replay_with_senders(block, chain, t, senders));
                    let par = par.map_err(|e| format!("execution-only at {t} threads: {e}"))?;
                    if let Some(difference) = seq.first_difference(&par.replay) {
                        return Err(format!(
                            "the execution-only parallel replay at {t} threads differs from \
                             the sequential one: {difference}"
                        ));
                    }
                    run.exec_phases
                        .extend(par.phases.map(|phases| phases.as_array()));
                    drop(par);
                    run.exec_samples.push(exec);
                }
                if t.get() > 1 && run.ceilings.len() < MAX_CEILINGS {
                    let calibration = Instant::now();
                    run.ceilings.push(self.ceiling.measure(t.get(), rounds));
                    calibrating += calibration.elapsed();
                }
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

fn write_plot(
    path: &Path,
    machine: &Value,
    args: &Args,
    results: &[BlockResult],
    threads: &[usize],
) -> Result<(), BenchError> {
    let summary = Summary::new(results, threads, args.gas);
    let group = |r: &BlockResult| plot::Group {
        label: r.name.clone(),
        speedups: threads.iter().map(|&t| r.speedup_at(t)).collect(),
        ceilings: threads.iter().map(|&t| r.ceiling_at(t)).collect(),
    };
    let run_ceilings: Vec<Option<f64>> = summary
        .ceiling
        .iter()
        .map(|c| c.map(|c| c.median))
        .collect();
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
            ceilings: run_ceilings.clone(),
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
            ceilings: run_ceilings,
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
        .map_err(|e| BenchError::Usage(format!("cannot write {}: {e}", path.display())))
}

/// Runs the benchmark `args` describe, printing the table (or JSON lines) as it goes.
///
/// Peak-heap figures are only measured where the binary's global allocator is
/// [`PeakAlloc`](crate::PeakAlloc) (as in `replay-evm-bench`); elsewhere they read 0.
///
/// # Errors
/// [`BenchError`] for arguments that cannot be used (a bad `--min-time`, an empty
/// `--threads`, an unknown workload, a missing `--fixtures` folder, an unreadable chain spec)
/// or output that cannot be written. A block that fails is a row, not an error.
pub fn run(args: Args) -> Result<Outcome, BenchError> {
    if !args.min_time.is_finite() || args.min_time < 0.0 {
        return Err(BenchError::Usage(
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
        .ok_or(BenchError::Usage("--threads is empty".into()))?;
    let jobs = jobs(&args)?;
    let bench = Bench {
        args: &args,
        threads: threads.clone(),
        workload_chain: ChainSpec::mainnet(),
        fixture_chain: args.chain.chain()?,
        engine: ParallelEngine::new(max).map_err(|e| BenchError::Usage(e.to_string()))?,
        ceiling: Ceiling::new(&threads).map_err(BenchError::Ceiling)?,
        repeat: RepeatPolicy {
            min_rounds: u32::try_from(args.repeat).unwrap_or(u32::MAX).max(1),
            min_total: Duration::from_secs_f64(args.min_time),
            max_rounds: 1000,
        },
    };
    let machine = machine();
    if !args.json {
        println!("{}", machine_line(&machine));
        println!(
            "medians of at least {} runs; sequential = plain revm (alloy-evm block executor); \
             parallel = --mode {}; mem = peak heap growth during the replay",
            bench.repeat.min_rounds,
            args.mode.as_str()
        );
        println!("{}", report::header());
    }
    let mut json_file = match &args.json_file {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| BenchError::Usage(format!("cannot write {}: {e}", path.display())))?,
        )),
        None => None,
    };
    let mut save = |value: &Value| -> Result<(), BenchError> {
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
    if args.phases && !args.json {
        println!(
            "\nwhere a Block-STM replay's time goes: the median of each phase (execution-only \
             where measured, else end to end) and its share of their sum; seq: the sequential \
             replay's median, timed alike"
        );
        println!("{}", report::phase_header());
        for result in &results {
            for row in result.phase_rows() {
                println!("{row}");
            }
        }
        println!();
    }
    let mut machine = machine;
    machine["load_average_end"] = crate::machine::machine()["load_average"].clone();
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
