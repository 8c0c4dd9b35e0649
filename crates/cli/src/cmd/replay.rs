//! `replay-evm replay <BLOCK_DIR>... [--threads LIST] [--json]`: replay each block
//! sequentially (the oracle, verified against the header) and in parallel at each thread
//! count (each run compared with the oracle), then analyse its dependencies.

use std::{
    num::NonZeroUsize,
    path::{Path, PathBuf},
};

use replay_evm::{
    analysis::analyse,
    block_dir::load_block_dir,
    chain::ChainSpec,
    parallel::{Concurrency, ParallelEngine},
    sequential::replay_sequential,
    verify::{receipts_root, verify},
};
use replay_evm_args::{
    ChainArgs,
    output::{duration_us, json_line},
};
use serde_json::{Value, json};

use crate::exit::{CliError, Outcome};

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Block folders (block.json, pre_state.json, block_hashes.json).
    #[arg(required = true, value_name = "BLOCK_DIR")]
    blocks: Vec<PathBuf>,
    /// Thread counts of the parallel runs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    threads: Vec<NonZeroUsize>,
    /// Print one JSON object per block instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    chain: ChainArgs,
}

fn replay_one(
    path: &Path,
    args: &Args,
    chain: &ChainSpec,
    engine: &ParallelEngine,
) -> Result<Value, String> {
    let block = load_block_dir(path, chain.chain_id).map_err(|e| e.to_string())?;
    let seq = replay_sequential(&block, chain).map_err(|e| e.to_string())?;
    let mut error = verify(block.header(), &seq).err().map(|e| e.to_string());
    let mut runs = Vec::new();
    let mut analysis = None;
    for threads in &args.threads {
        let par = engine
            .replay(&block, chain, Concurrency::Threads(*threads))
            .map_err(|e| e.to_string())?;
        if let Some(difference) = seq.first_difference(&par.replay)
            && error.is_none()
        {
            error = Some(format!(
                "parallel run at {threads} threads diverges from sequential: {difference}"
            ));
        }
        if analysis.is_none() {
            analysis = Some(analyse(&par.accesses()));
        }
        runs.push(json!({
            "threads": par.threads,
            "wall_us": par.replay.wall_us,
            "speedup": seq.wall_us as f64 / par.replay.wall_us.max(1) as f64,
            "receipts_root": receipts_root(&par.replay.receipts).to_string(),
            "state_diff_hash": par.replay.state_changes.hash().to_string(),
            "executions": par.counters.executions,
            "validations": par.counters.validations,
            "aborts": par.counters.aborts,
            "estimate_reads": par.counters.estimate_reads,
            "suspensions": par.counters.suspensions,
            "hint_waits": par.counters.hint_waits,
            "stale_restarts": par.counters.stale_restarts,
            "early_starts": par.counters.early_starts,
            "early_discards": par.counters.early_discards,
        }));
    }
    let analysis = analysis.ok_or("no thread count given")?;
    Ok(json!({
        "number": block.number(),
        "fork": block.fork(chain).to_string(),
        "txs": block.transactions().len(),
        "gas_used": seq.gas_used,
        "verified": error.is_none(),
        "error": error,
        "sequential": {
            "wall_us": seq.wall_us,
            "receipts_root": receipts_root(&seq.receipts).to_string(),
            "state_diff_hash": seq.state_changes.hash().to_string(),
        },
        "runs": runs,
        "conflict_rate": analysis.lazy.conflict_rate,
        "conflict_rate_naive": analysis.naive.conflict_rate,
        "theoretical_speedup": analysis.lazy.theoretical_speedup,
        "theoretical_speedup_naive": analysis.naive.theoretical_speedup,
        "critical_path_gas": analysis.lazy.critical_path.gas,
    }))
}

pub(crate) fn run(args: Args) -> Result<Outcome, CliError> {
    let chain = args.chain.chain()?;
    let max = args
        .threads
        .iter()
        .copied()
        .max()
        .ok_or(CliError::Usage("--threads is empty".into()))?;
    let engine = ParallelEngine::new(max).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut failed = 0usize;
    if !args.json {
        let speedups: Vec<String> = args.threads.iter().map(|t| format!("x@{t}")).collect();
        println!(
            "{:>10} {:>5} {:>11}  {:<8} {:>6} {:>6} {:>7} {:>9}  {}  aborts",
            "number",
            "txs",
            "gas",
            "verified",
            "lazy",
            "naive",
            "theory",
            "seq",
            speedups.join(" ")
        );
    }
    for path in &args.blocks {
        let row = replay_one(path, &args, &chain, &engine).unwrap_or_else(
            |e| json!({"path": path.display().to_string(), "verified": false, "error": e}),
        );
        let ok = row["verified"] == true;
        failed += usize::from(!ok);
        if args.json {
            json_line(&row)?;
            continue;
        }
        if row.get("runs").is_none() {
            println!(
                "{}: FAILED: {}",
                path.display(),
                row["error"].as_str().unwrap_or_default()
            );
            continue;
        }
        let runs = row["runs"].as_array().cloned().unwrap_or_default();
        let speedups: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.2}", r["speedup"].as_f64().unwrap_or_default()))
            .collect();
        let aborts: Vec<String> = runs.iter().map(|r| r["aborts"].to_string()).collect();
        println!(
            "{:>10} {:>5} {:>11}  {:<8} {:>6.3} {:>6.3} {:>7.2} {:>9}  {}  {}",
            row["number"].as_u64().unwrap_or_default(),
            row["txs"].as_u64().unwrap_or_default(),
            row["gas_used"].as_u64().unwrap_or_default(),
            if ok { "yes" } else { "FAILED" },
            row["conflict_rate"].as_f64().unwrap_or_default(),
            row["conflict_rate_naive"].as_f64().unwrap_or_default(),
            row["theoretical_speedup"].as_f64().unwrap_or_default(),
            duration_us(row["sequential"]["wall_us"].as_u64().unwrap_or_default()),
            speedups.join(" "),
            aborts.join("/"),
        );
        if let Some(error) = row["error"].as_str() {
            println!("           error: {error}");
        }
    }
    if !args.json {
        println!(
            "{} blocks: {} verified, {failed} failed",
            args.blocks.len(),
            args.blocks.len() - failed
        );
    }
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::Failures
    })
}
