//! `replay-evm job [--archive ARCHIVE] [--out RESULTS] [--threads LIST]
//! [--partition-blocks N] [--workers K] [--overwrite] [--reproducible]`: the main job.
//! Replays the archive (the generated sample when none is given) in partitions of block
//! ranges on K workers, writes the `blocks`, `transactions`, `conflicts` and `hotspots`
//! datasets (schemas/README.md) and commits each partition in `RESULTS/_checkpoint.json`, so
//! that a re-run resumes. Exit 0 when every block verified, 1 when some failed, 2 when the
//! job could not run.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    sync::Mutex,
    time::Instant,
};

use replay_evm_args::output::duration_us;
use replay_evm_dataset::{
    JobParams,
    job::{ArchiveSource, JobOptions, JobReport, Progress, run_job},
    summary,
};

use crate::exit::{CliError, Outcome};

/// Arguments of `job`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The archive folder (`replay-evm archive import|sample`); the generated sample archive
    /// when omitted.
    #[arg(long, value_name = "ARCHIVE")]
    archive: Option<PathBuf>,
    /// The results folder.
    #[arg(long, value_name = "RESULTS", default_value = "results")]
    out: PathBuf,
    /// Thread counts of each block's parallel replays, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Partition width in block numbers (also the `block_range` of the datasets).
    #[arg(long, default_value_t = 10_000)]
    partition_blocks: u64,
    /// Worker threads, each replaying one partition at a time [default: cores / the largest
    /// thread count, at least 1].
    #[arg(long)]
    workers: Option<usize>,
    /// Replace existing results written with other parameters or another engine version.
    #[arg(long)]
    overwrite: bool,
    /// Write null in every `measured_*` column, so that the outputs are byte-for-byte
    /// reproducible.
    #[arg(long)]
    reproducible: bool,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
}

fn eta(progress: &Progress) -> String {
    progress
        .eta_secs()
        .map_or_else(|| "-".to_owned(), |s| format!("{s:.0}s"))
}

/// Where the run's worker time went: parts that add up to `workers` × wall time, then
/// what analysis, rows and Parquet writing add to one parallel replay of each block.
fn time_line(report: &JobReport, params: &JobParams) -> String {
    let t = report.timings;
    let worker_us = (report.run_secs * 1e6) as u64 * report.workers as u64;
    let parts: Vec<String> = t
        .parts(worker_us)
        .iter()
        .map(|(name, us)| {
            let share = 100.0 * *us as f64 / worker_us.max(1) as f64;
            format!("{name} {} ({share:.0}%)", duration_us(*us))
        })
        .collect();
    let first = params.threads.first().copied().unwrap_or(1);
    format!(
        "time: {} worker(s) x {} wall = {} of worker time: {}\n\
         analysis, rows and Parquet write add {:.1}% to one parallel replay per block (the \
         median run at {first} thread(s), {} in all)",
        report.workers,
        duration_us((report.run_secs * 1e6) as u64),
        duration_us(worker_us),
        parts.join(", "),
        100.0 * (t.analysis_us + t.write_us) as f64 / t.parallel_us.max(1) as f64,
        duration_us(t.parallel_us),
    )
}

/// A conflict rate for the table: `-` where the blocks hold no transaction.
fn rate(value: f64) -> String {
    if value.is_nan() {
        "-".to_owned()
    } else {
        format!("{value:.3}")
    }
}

fn print_report(report: &JobReport, params: &JobParams) {
    println!(
        "\n{:<15} {:>6} {:>6} {:>7} {:>9} {:>6} {:>6} {:>7} {:>6}  measured speedup",
        "fork", "blocks", "failed", "txs", "Mgas", "lazy", "naive", "theory", "list@4"
    );
    for row in &report.summary {
        let measured: Vec<String> = row
            .measured_speedups
            .iter()
            .map(|(t, s)| match s {
                Some(s) => format!("{s:.2}x@{t}"),
                None => format!("-@{t}"),
            })
            .collect();
        if row.label == "all" {
            println!("{}", "-".repeat(96));
        }
        println!(
            "{:<15} {:>6} {:>6} {:>7} {:>9.1} {:>6} {:>6} {:>7.2} {:>6.2}  {}",
            row.label,
            row.blocks,
            row.failed,
            row.txs,
            row.gas as f64 / 1e6,
            rate(row.lazy_conflict_rate),
            rate(row.naive_conflict_rate),
            row.lazy_theoretical_speedup,
            row.lazy_speedup_4,
            measured.join(" ")
        );
    }
    for (column, figure) in [
        ("lazy, naive", "lazy_conflict_rate"),
        ("theory", "lazy_theoretical_speedup"),
        ("list@4", "lazy_speedup_t"),
        ("measured speedup", "measured_speedup"),
    ] {
        println!("  {column}: {}", summary::definition(figure));
    }
    let secs = report.run_secs.max(1e-9);
    println!(
        "\nthis run: {} of {} partitions replayed ({} already committed), {} blocks, {:.1} Mgas \
         in {:.2}s: {:.2} blocks/s, {:.1} Mgas/s",
        report.partitions - report.partitions_skipped,
        report.partitions,
        report.partitions_skipped,
        report.run_blocks,
        report.run_gas as f64 / 1e6,
        report.run_secs,
        report.run_blocks as f64 / secs,
        report.run_gas as f64 / 1e6 / secs,
    );
    if report.run_blocks > 0 {
        println!("{}", time_line(report, params));
    }
    for (number, stage, error) in report.failures.iter().take(20) {
        println!("FAILED {number} ({stage}): {error}");
    }
    if report.failures.len() > 20 {
        println!(
            "... and {} more (see the blocks dataset)",
            report.failures.len() - 20
        );
    }
    println!(
        "{} blocks: {} verified, {} failed; results in {}",
        report.blocks,
        report.blocks - report.failures.len() as u64,
        report.failures.len(),
        report.out.display()
    );
}

pub(crate) fn run(args: Args) -> Result<Outcome, CliError> {
    let params = JobParams {
        threads: args.threads.clone(),
        partition_blocks: args.partition_blocks,
        reproducible: args.reproducible,
    };
    let workers = args.workers.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (cores / params.max_threads().get()).max(1)
    });
    let archive = match &args.archive {
        Some(dir) => ArchiveSource::Dir(dir.clone()),
        None => {
            if !args.quiet {
                eprintln!("no --archive: replaying the generated sample archive");
            }
            ArchiveSource::Sample
        }
    };
    let options = JobOptions {
        archive,
        out: args.out.clone(),
        params: params.clone(),
        workers,
        overwrite: args.overwrite,
    };
    let tty = std::io::stderr().is_terminal();
    let last = Mutex::new(None::<Instant>);
    let show = |p: &Progress| {
        if args.quiet {
            return;
        }
        let all_done = p.blocks_done == p.blocks_total;
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|t| t.elapsed().as_secs_f64() >= if tty { 0.2 } else { 2.0 });
        if !due && !all_done {
            return;
        }
        *last = Some(Instant::now());
        let line = format!(
            "partitions {}/{}  blocks {}/{}  {:.2} blocks/s  {:.1} Mgas/s  ETA {}",
            p.partitions_done,
            p.partitions_total,
            p.blocks_done,
            p.blocks_total,
            p.blocks_per_sec(),
            p.mgas_per_sec(),
            eta(p)
        );
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
    };
    let report = run_job(&options, &show)?;
    if tty && !args.quiet {
        eprintln!();
    }
    print_report(&report, &params);
    Ok(if report.failures.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failures
    })
}
