//! `replay-evm archive fetch --rpc URL --blocks SPEC --out ARCHIVE`: builds the archive from
//! a JSON-RPC node, every block verified before it is written (crates/fetch). Exit 0 when
//! every selected block is archived and the archive is consistent across blocks (`archive
//! check`), 1 when some failed (listed in ARCHIVE/failures.jsonl) or disagree, 2 when the
//! fetch could not run.

use std::{path::PathBuf, time::Duration};

use replay_evm::chain::{ChainSpec, Fork};
use replay_evm_fetch::{
    BlockSpec, ChainChoice, FetchOptions, Method, fetch, rpc::RpcConfig, run::FAILURES_FILE,
};

use crate::exit::{CliError, Outcome};

/// Arguments of `archive fetch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The node's HTTP JSON-RPC URL (an archive node for blocks older than its state
    /// history).
    #[arg(long, value_name = "URL")]
    rpc: String,
    /// The blocks: `A-B`, lists `A-B,C,D-E`, or `latest-N` (the N blocks up to the node's
    /// finalized block, or its head where it has none).
    #[arg(long, value_name = "SPEC")]
    blocks: String,
    /// The archive folder (created; a re-run resumes it).
    #[arg(long, value_name = "ARCHIVE")]
    out: PathBuf,
    /// Draw K blocks uniformly from SPEC instead of taking them all.
    #[arg(long, value_name = "K")]
    sample: Option<u64>,
    /// Seed of --sample.
    #[arg(long, value_name = "S", default_value_t = 0, requires = "sample")]
    seed: u64,
    /// HTTP requests in flight at most (also the blocks fetched at once).
    #[arg(long, value_name = "N", default_value_t = 8)]
    concurrency: usize,
    /// HTTP requests per second at most [default: unlimited; set it for a third-party
    /// provider, e.g. 10].
    #[arg(long, value_name = "R")]
    requests_per_second: Option<f64>,
    /// Selected blocks per chunk file (the unit of resume).
    #[arg(long, value_name = "K", default_value_t = 128)]
    chunk_blocks: usize,
    /// Replace the folder's chunks instead of resuming.
    #[arg(long)]
    overwrite: bool,
    /// Do not verify each block's replay against its header before writing it.
    #[arg(long)]
    no_verify: bool,
    /// Where pre-states come from: `auto` (the prestateTracer, or the state getters when
    /// the node has no `debug_*`), `prestate-tracer` or `state-getters`.
    #[arg(long, value_name = "METHOD", default_value = "auto")]
    method: Method,
    /// Every block under this fork (a devnet), e.g. `cancun`, `prague`.
    #[arg(long, value_name = "NAME", conflicts_with = "chain_spec")]
    fork: Option<String>,
    /// The chain's fork table (the JSON of `replay_evm::chain::ChainSpec`) for a chain
    /// without a built-in one.
    #[arg(long, value_name = "FILE")]
    chain_spec: Option<PathBuf>,
    /// Time limit of one HTTP request, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout: u64,
    /// Attempts per call before a block fails.
    #[arg(long, value_name = "N", default_value_t = 8)]
    max_attempts: u32,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
}

pub(crate) fn run(args: Args) -> Result<Outcome, CliError> {
    let usage = |e: String| CliError::Usage(e);
    let blocks: BlockSpec = args.blocks.parse().map_err(|e| usage(format!("{e}")))?;
    let chain = match (&args.fork, &args.chain_spec) {
        (Some(name), _) => ChainChoice::Fork(
            name.parse::<Fork>()
                .map_err(|e| usage(format!("--fork: {e}")))?,
        ),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("--chain-spec {}: {e}", path.display())))?;
            ChainChoice::Spec(
                ChainSpec::from_json(&text)
                    .map_err(|e| usage(format!("--chain-spec {}: {e}", path.display())))?,
            )
        }
        (None, None) => ChainChoice::Builtin,
    };
    let mut rpc = RpcConfig::new(args.rpc);
    rpc.concurrency = args.concurrency.max(1);
    rpc.requests_per_second = args.requests_per_second;
    rpc.timeout = Duration::from_secs(args.timeout.max(1));
    rpc.max_attempts = args.max_attempts.max(1);
    let options = FetchOptions {
        rpc,
        blocks,
        sample: args.sample.map(|k| (k, args.seed)),
        out: args.out.clone(),
        chunk_blocks: args.chunk_blocks,
        overwrite: args.overwrite,
        no_verify: args.no_verify,
        method: args.method,
        chain,
        progress_every: (!args.quiet).then_some(Duration::from_secs(5)),
    };
    let summary = fetch(options).map_err(|e| usage(e.to_string()))?;
    println!(
        "fetched {} of {} selected blocks ({} already archived, {} failed) into {} under \
         {} in {:.1}s: {:.1} blocks/s, {:.1} calls/block, {} HTTP requests, {} retries; \
         pre-state from {}{}",
        summary.fetched,
        summary.selected,
        summary.skipped,
        summary.failures.len(),
        args.out.display(),
        summary.chain_name,
        summary.seconds,
        summary.blocks_per_second(),
        summary.calls_per_block(),
        summary.http_requests,
        summary.retries,
        if summary.tracer {
            "the prestateTracer"
        } else {
            "the state getters"
        },
        if summary.batches { ", batched" } else { "" },
    );
    let mut consistent = true;
    if let Some(check) = &summary.check {
        super::check::print_report(&args.out, check);
        consistent = check.agrees();
    }
    if summary.failures.is_empty() && consistent {
        Ok(Outcome::Success)
    } else if summary.failures.is_empty() {
        Ok(Outcome::Failures)
    } else {
        eprintln!(
            "{} block(s) failed: see {}",
            summary.failures.len(),
            args.out.join(FAILURES_FILE).display()
        );
        Ok(Outcome::Failures)
    }
}
