//! Where the job's time goes, against bare parallel replay:
//! `cargo run --release -p replay-evm-dataset --example overhead -- ARCHIVE [THREADS] [ROUNDS]`.
//!
//! Runs the per-partition function `replay_batch` over the whole archive `ROUNDS` times
//! (default 5, after a warm-up round) with one thread count, then writes
//! its four tables as Parquet. Every part is timed directly, block by block, in the same run
//! (so a busy machine slows them alike): `ParallelEngine::replay` (the bare parallel replay,
//! which always records the traces), the dependency analysis with the block's rows, the
//! Arrow batches (the rest of `replay_batch`), the Parquet write, and everything else the
//! job does per block (decode, check, sequential oracle, verification, hashes, comparison).
//! Prints the median round.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measurement tool, not library code

use std::{num::NonZeroUsize, path::PathBuf, time::Instant};

use replay_evm::parallel::ParallelEngine;
use replay_evm_dataset::{
    DatasetError, JobParams, archive::Archive, parquet, replay_batch_with, schema,
};

#[derive(Debug, Clone, Copy, Default)]
struct Round {
    parallel: f64,
    analysis: f64,
    blocks: f64,
    arrow: f64,
    write: f64,
    gas: u64,
    count: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let archive = PathBuf::from(
        args.next()
            .ok_or("usage: overhead ARCHIVE [THREADS] [ROUNDS]")?,
    );
    let threads: usize = args.next().map_or(Ok(1), |t| t.parse())?;
    let rounds: usize = args.next().map_or(Ok(5), |t| t.parse())?;
    let threads = NonZeroUsize::new(threads).ok_or("THREADS must be at least 1")?;
    let engine = ParallelEngine::new(threads)?;
    let batch = Archive::open(&archive)?.read_range(0, u64::MAX)?;
    let params = JobParams {
        threads: vec![threads.get()],
        ..JobParams::default()
    };
    let dir = std::env::temp_dir().join(format!("replay-evm-overhead-{}", std::process::id()));
    parquet::create_dir(&dir)?;

    let mut results = Vec::new();
    for round in 0..=rounds {
        let mut r = Round::default();
        let started = Instant::now();
        let batches = replay_batch_with(&batch, None, &params, &engine, |t| {
            r.parallel += t.parallel_us as f64 / 1e6;
            r.analysis += t.analysis_us as f64 / 1e6;
            r.blocks += t.total_us as f64 / 1e6;
            r.gas += t.gas_used;
            r.count += 1;
        })?;
        r.arrow = started.elapsed().as_secs_f64() - r.blocks;
        let started = Instant::now();
        for (name, batch) in batches.tables() {
            parquet::write_parquet(
                &dir.join(format!("{name}.parquet")),
                &schema::table(name)?.file_schema(),
                std::slice::from_ref(batch),
                parquet::result_properties_for(batch)?,
            )?;
        }
        r.write = started.elapsed().as_secs_f64();
        if round > 0 {
            results.push(r);
        }
    }
    std::fs::remove_dir_all(&dir).map_err(|e| DatasetError::io(&dir, e))?;
    results.sort_by(|a, b| {
        let overhead = |r: &Round| (r.analysis + r.arrow + r.write) / r.parallel;
        overhead(a).total_cmp(&overhead(b))
    });
    let r = results[results.len() / 2];

    let (n, mgas) = (r.count as f64, r.gas as f64 / 1e6);
    println!(
        "{} blocks, {mgas:.1} Mgas, parallel replay at {threads} thread(s), median of {rounds} rounds",
        r.count
    );
    let line = |what: &str, secs: f64| {
        println!(
            "{what:<56} {:>8.1} ms  {:>6.1} blocks/s  {:>6.1} Mgas/s  {:>6.1}% of bare",
            secs * 1e3,
            n / secs,
            mgas / secs,
            100.0 * secs / r.parallel
        );
    };
    let rest = r.blocks - r.parallel - r.analysis;
    line(
        "ParallelEngine::replay (bare; traces always recorded)",
        r.parallel,
    );
    line("dependency analysis and the blocks' rows", r.analysis);
    line("Arrow batches of the four tables", r.arrow);
    line("Parquet write of the four tables", r.write);
    line("decode, check, sequential oracle, verify, hashes", rest);
    line(
        "all: replay_batch + Parquet write",
        r.blocks + r.arrow + r.write,
    );
    println!(
        "tracing output (analysis, rows, Arrow, Parquet) over bare parallel replay: +{:.1}%",
        100.0 * (r.analysis + r.arrow + r.write) / r.parallel
    );
    Ok(())
}
