//! The whole fetch: the node's chain and head, the selection, chunked and resumable
//! archive writing, the failures file, progress and the summary.
//!
//! The selected blocks are cut into chunks of `chunk_blocks` consecutive selected blocks;
//! chunk `blocks-FIRST-LAST.parquet` is written atomically once all its blocks are fetched
//! (the ones that failed are left out and listed in `failures.jsonl`). A re-run with the
//! same selection skips the chunks already written: a killed fetch loses at most the
//! chunks in progress.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_hardforks::{EthereumHardfork, ForkCondition};
use alloy_primitives::{Address, U64, address};
use futures_util::{StreamExt, stream};
use replay_evm::chain::{Activation, ChainSpec, Fork, ForkActivation};
use replay_evm_dataset::{
    archive::{ARCHIVE_ROW_GROUP_BLOCKS, ArchiveRow, archive_schema, rows_to_batch},
    parquet,
};
use serde_json::{Value, json};

use crate::{
    FetchError,
    check::{CheckReport, check_archive},
    node::{BlockFailure, BlockFetcher, Method},
    rpc::{Rpc, RpcConfig},
    spec::{self, BlockSpec},
};

/// The failures file, beside the chunks.
pub const FAILURES_FILE: &str = "failures.jsonl";

/// Which rules the fetched chain follows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ChainChoice {
    /// The built-in table of the node's `eth_chainId` (mainnet, Sepolia, Holesky, Hoodi).
    #[default]
    Builtin,
    /// Every block under one fork (a devnet): [`ChainSpec::single_fork`].
    Fork(Fork),
    /// A table from `--chain-spec FILE`; its chain id must be the node's.
    Spec(ChainSpec),
}

/// What to fetch, from where, into where.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The client's settings (URL, concurrency, rate limit, retries).
    pub rpc: RpcConfig,
    /// `--blocks`.
    pub blocks: BlockSpec,
    /// `--sample K --seed S`.
    pub sample: Option<(u64, u64)>,
    /// The archive folder.
    pub out: PathBuf,
    /// Selected blocks per chunk file.
    pub chunk_blocks: usize,
    /// Remove the folder's chunks and failures first, instead of resuming.
    pub overwrite: bool,
    /// Skip the verification of each replay against its header.
    pub no_verify: bool,
    /// Where pre-states come from.
    pub method: Method,
    /// The chain's rules.
    pub chain: ChainChoice,
    /// Seconds between progress lines on stderr (`None`: no progress lines).
    pub progress_every: Option<Duration>,
}

/// How a fetch went.
#[derive(Debug, Clone, Default)]
pub struct FetchSummary {
    /// The chain the blocks were replayed under.
    pub chain_name: String,
    /// Blocks selected.
    pub selected: u64,
    /// Blocks fetched and written in this run.
    pub fetched: u64,
    /// Blocks of chunks already written by an earlier run.
    pub skipped: u64,
    /// Blocks that failed (this run's, and those of skipped chunks).
    pub failures: Vec<BlockFailure>,
    /// Chunk files written in this run.
    pub chunks_written: usize,
    /// JSON-RPC calls answered.
    pub calls: u64,
    /// HTTP requests sent (batches count once; retries included).
    pub http_requests: u64,
    /// Retried attempts.
    pub retries: u64,
    /// Whether batches were still used at the end.
    pub batches: bool,
    /// Whether the prestateTracer was used (false: the node lacks it, or state getters).
    pub tracer: bool,
    /// Wall time, seconds.
    pub seconds: f64,
    /// The consistency check of the whole archive ([`crate::check`]); `None` with
    /// `--no-verify`.
    pub check: Option<CheckReport>,
}

impl FetchSummary {
    /// Blocks fetched per second in this run.
    pub fn blocks_per_second(&self) -> f64 {
        self.fetched as f64 / self.seconds.max(1e-9)
    }

    /// JSON-RPC calls per fetched block.
    pub fn calls_per_block(&self) -> f64 {
        self.calls as f64 / (self.fetched.max(1)) as f64
    }
}

/// The built-in rules of chain `chain_id`: mainnet ([`ChainSpec::mainnet`]) and the
/// Sepolia, Holesky and Hoodi tables of alloy-hardforks.
pub fn builtin_chain(chain_id: u64) -> Option<ChainSpec> {
    let (name, table, deposit): (&str, Vec<(EthereumHardfork, ForkCondition)>, Address) =
        match chain_id {
            1 => return Some(ChainSpec::mainnet()),
            11_155_111 => (
                "sepolia",
                EthereumHardfork::sepolia().to_vec(),
                address!("0x7f02C3E3c98b133055B8B348B2Ac625669Ed295D"),
            ),
            17_000 => (
                "holesky",
                EthereumHardfork::holesky().to_vec(),
                address!("0x4242424242424242424242424242424242424242"),
            ),
            560_048 => (
                "hoodi",
                EthereumHardfork::hoodi().to_vec(),
                address!("0x00000000219ab540356cBB839Cbe05303d7705Fa"),
            ),
            _ => return None,
        };
    let forks = table
        .into_iter()
        .filter_map(|(fork, condition)| {
            let at = match condition {
                ForkCondition::Block(b) => Activation::Block(b),
                ForkCondition::Timestamp(t) => Activation::Timestamp(t),
                ForkCondition::TTD {
                    activation_block_number,
                    ..
                } => Activation::Block(activation_block_number),
                ForkCondition::Never => return None,
            };
            Some(ForkActivation { fork, at })
        })
        .collect();
    Some(ChainSpec {
        chain_id,
        name: name.to_owned(),
        forks,
        deposit_contract: Some(deposit),
    })
}

/// The rules for chain `chain_id` under `choice`.
///
/// # Errors
/// [`FetchError::Chain`] for an unknown chain without `--fork`/`--chain-spec`, or a
/// `--chain-spec` of another chain id.
pub fn resolve_chain(chain_id: u64, choice: &ChainChoice) -> Result<ChainSpec, FetchError> {
    match choice {
        ChainChoice::Builtin => builtin_chain(chain_id).ok_or_else(|| {
            FetchError::Chain(format!(
                "the node's chain id {chain_id} has no built-in fork table (mainnet, Sepolia, \
                 Holesky and Hoodi have one): pass --fork NAME (every block under one fork, \
                 as on a devnet) or --chain-spec FILE"
            ))
        }),
        ChainChoice::Fork(fork) => Ok(ChainSpec::single_fork(chain_id, *fork)),
        ChainChoice::Spec(spec) if spec.chain_id == chain_id => Ok(spec.clone()),
        ChainChoice::Spec(spec) => Err(FetchError::Chain(format!(
            "--chain-spec is for chain id {} but the node's chain id is {chain_id}",
            spec.chain_id
        ))),
    }
}

fn chunk_name(first: u64, last: u64) -> String {
    format!("blocks-{first:012}-{last:012}.parquet")
}

/// Prepares `out`: creates it, clears it with `overwrite`, removes temporary files left by
/// a killed run, and refuses Parquet files that are not chunks of this selection.
fn prepare_out(out: &Path, planned: &BTreeSet<String>, overwrite: bool) -> Result<(), FetchError> {
    let io = |path: &Path, e: std::io::Error| FetchError::Io(format!("{}: {e}", path.display()));
    fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let entries = fs::read_dir(out).map_err(|e| io(out, e))?;
    let mut foreign = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours =
            (name.starts_with("blocks-") && name.ends_with(".parquet")) || name == FAILURES_FILE;
        if name.ends_with(".tmp") || (overwrite && ours) {
            fs::remove_file(&path).map_err(|e| io(&path, e))?;
        } else if name.ends_with(".parquet") && !planned.contains(&name) {
            foreign.push(name);
        }
    }
    if !foreign.is_empty() {
        foreign.sort();
        return Err(FetchError::Usage(format!(
            "{} holds Parquet files that are not chunks of this selection ({}): choose \
             another --out, or pass --overwrite to replace this folder's chunks",
            out.display(),
            foreign.join(", ")
        )));
    }
    Ok(())
}

fn read_failures(path: &Path) -> Vec<BlockFailure> {
    fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn write_failures(path: &Path, failures: &BTreeMap<u64, BlockFailure>) -> Result<(), FetchError> {
    let mut text = Vec::new();
    for failure in failures.values() {
        serde_json::to_writer(&mut text, failure)
            .map_err(|e| FetchError::Io(format!("{}: {e}", path.display())))?;
        text.push(b'\n');
    }
    parquet::write_atomic(path, &text)?;
    Ok(())
}

fn write_chunk(path: &Path, mut rows: Vec<ArchiveRow>) -> Result<(), FetchError> {
    rows.sort_by_key(|r| r.number);
    let mut batches = Vec::new();
    for group in rows.chunks(ARCHIVE_ROW_GROUP_BLOCKS) {
        batches.push(rows_to_batch(group)?);
    }
    parquet::write_parquet_atomic(
        path,
        &archive_schema()?,
        &batches,
        parquet::archive_properties(),
    )?;
    Ok(())
}

async fn probe(rpc: &Rpc, url: &str) -> Result<(u64, u64), FetchError> {
    let unreachable =
        |e: crate::rpc::RpcFailure| FetchError::Node(format!("cannot use the node at {url}: {e}"));
    let id: U64 = serde_json::from_value(
        rpc.call_with_attempts("eth_chainId", json!([]), 3)
            .await
            .map_err(unreachable)?,
    )
    .map_err(|e| FetchError::Node(format!("{url}: eth_chainId: unexpected answer: {e}")))?;
    let head: U64 = serde_json::from_value(
        rpc.call("eth_blockNumber", json!([]))
            .await
            .map_err(unreachable)?,
    )
    .map_err(|e| FetchError::Node(format!("{url}: eth_blockNumber: unexpected answer: {e}")))?;
    Ok((id.to::<u64>(), head.to::<u64>()))
}

/// The node's finalized block, or `head` where it has none (a devnet such as anvil reports
/// genesis as finalized: that counts as none).
async fn finalized(rpc: &Rpc, head: u64) -> u64 {
    match rpc
        .call("eth_getBlockByNumber", json!(["finalized", false]))
        .await
    {
        Ok(Value::Object(block)) => block
            .get("number")
            .and_then(|n| serde_json::from_value::<U64>(n.clone()).ok())
            .map(|n| n.to::<u64>())
            .filter(|n| *n > 0)
            .map_or(head, |n| n.min(head)),
        _ => head,
    }
}

/// Runs a fetch to its end.
///
/// # Errors
/// [`FetchError`] when the fetch cannot run at all: an unreachable node, a bad selection,
/// an unknown chain, an unusable output folder, a chunk that cannot be written. Blocks
/// that fail are not errors: they are in the summary and the failures file.
pub fn fetch(options: FetchOptions) -> Result<FetchSummary, FetchError> {
    if options.chunk_blocks == 0 {
        return Err(FetchError::Usage(
            "--chunk-blocks must be at least 1".into(),
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| FetchError::Io(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(fetch_async(options))
}

async fn fetch_async(options: FetchOptions) -> Result<FetchSummary, FetchError> {
    let started = Instant::now();
    let rpc = Arc::new(Rpc::new(options.rpc.clone()).map_err(|e| FetchError::Node(e.to_string()))?);
    let (chain_id, head) = probe(&rpc, &options.rpc.url).await?;
    let chain = resolve_chain(chain_id, &options.chain)?;
    let latest = if options.blocks.needs_latest() {
        finalized(&rpc, head).await
    } else {
        head
    };
    let ranges = options.blocks.resolve(latest, head)?;
    let selected = match options.sample {
        Some((k, seed)) => spec::sample(&ranges, k, seed),
        None => spec::blocks(&ranges),
    };
    let chunks: Vec<Vec<u64>> = selected
        .chunks(options.chunk_blocks)
        .map(<[u64]>::to_vec)
        .collect();
    let planned: BTreeSet<String> = chunks
        .iter()
        .map(|c| chunk_name(c[0], c[c.len() - 1]))
        .collect();
    prepare_out(&options.out, &planned, options.overwrite)?;

    // Chunks already written are skipped; their failures are kept.
    let failures_path = options.out.join(FAILURES_FILE);
    let mut pending = Vec::new();
    let mut skipped_blocks = BTreeSet::new();
    for chunk in &chunks {
        let name = chunk_name(chunk[0], chunk[chunk.len() - 1]);
        if options.out.join(&name).is_file() {
            skipped_blocks.extend(chunk.iter().copied());
        } else {
            pending.push(chunk.clone());
        }
    }
    let mut failures: BTreeMap<u64, BlockFailure> = read_failures(&failures_path)
        .into_iter()
        .filter(|f| skipped_blocks.contains(&f.number))
        .map(|f| (f.number, f))
        .collect();
    write_failures(&failures_path, &failures)?;

    let fetcher = Arc::new(BlockFetcher {
        rpc: rpc.clone(),
        chain: Arc::new(chain.clone()),
        method: options.method,
        no_verify: options.no_verify,
        tracer_missing: AtomicBool::new(false),
    });
    let total_pending: u64 = pending.iter().map(|c| c.len() as u64).sum();
    if options.progress_every.is_some() {
        let shown: Vec<String> = ranges
            .iter()
            .take(4)
            .map(|(a, b)| format!("{a}-{b}"))
            .collect();
        eprintln!(
            "chain {} (id {chain_id}, head {head}): {} block(s) selected from {}{}, in {} \
             chunk(s), {} already written; {total_pending} to fetch",
            chain.name,
            selected.len(),
            shown.join(","),
            if ranges.len() > 4 { ",..." } else { "" },
            chunks.len(),
            chunks.len() - pending.len(),
        );
    }
    let (mut done, mut failed) = (0u64, 0u64);
    let mut summary = FetchSummary {
        chain_name: chain.name.clone(),
        selected: selected.len() as u64,
        skipped: skipped_blocks.len() as u64,
        ..FetchSummary::default()
    };

    let concurrency = options.rpc.concurrency.max(1);
    let blocks: Vec<(usize, u64)> = pending
        .iter()
        .enumerate()
        .flat_map(|(c, chunk)| chunk.iter().map(move |n| (c, *n)))
        .collect();
    let mut results = stream::iter(blocks)
        .map(|(c, n)| {
            let fetcher = fetcher.clone();
            let task = tokio::spawn(async move { fetcher.fetch(n).await });
            async move {
                let result = task.await.unwrap_or_else(|e| {
                    Err(BlockFailure {
                        number: n,
                        stage: "panic".into(),
                        reason: format!("the block's task ended abnormally: {e}"),
                    })
                });
                (c, result)
            }
        })
        .buffered(concurrency);
    let mut rows: Vec<ArchiveRow> = Vec::new();
    let mut chunk_failures: Vec<BlockFailure> = Vec::new();
    let mut in_chunk = 0;
    let mut last_progress = Instant::now();
    while let Some((c, result)) = results.next().await {
        match result {
            Ok(row) => rows.push(row),
            Err(failure) => {
                failed += 1;
                eprintln!(
                    "block {}: failed at {}: {}",
                    failure.number, failure.stage, failure.reason
                );
                chunk_failures.push(failure);
            }
        }
        done += 1;
        in_chunk += 1;
        if in_chunk == pending[c].len() {
            let chunk = &pending[c];
            if !rows.is_empty() {
                let path = options
                    .out
                    .join(chunk_name(chunk[0], chunk[chunk.len() - 1]));
                summary.fetched += rows.len() as u64;
                write_chunk(&path, std::mem::take(&mut rows))?;
                summary.chunks_written += 1;
            }
            for f in chunk_failures.drain(..) {
                failures.insert(f.number, f);
            }
            write_failures(&failures_path, &failures)?;
            in_chunk = 0;
        }
        if let Some(every) = options.progress_every
            && (last_progress.elapsed() >= every || done == total_pending)
        {
            last_progress = Instant::now();
            let elapsed = started.elapsed().as_secs_f64();
            let rate = done as f64 / elapsed.max(1e-9);
            let eta = (total_pending - done) as f64 / rate.max(1e-9);
            eprintln!(
                "{done}/{total_pending} blocks ({failed} failed), {rate:.1} blocks/s, \
                 {:.0} requests/s, {} retries, ETA {eta:.0}s",
                rpc.stats.http_requests.load(Ordering::Relaxed) as f64 / elapsed.max(1e-9),
                rpc.stats.retries.load(Ordering::Relaxed),
            );
        }
    }
    drop(results);
    summary.failures = failures.into_values().collect();
    summary.calls = rpc.stats.calls.load(Ordering::Relaxed);
    summary.http_requests = rpc.stats.http_requests.load(Ordering::Relaxed);
    summary.retries = rpc.stats.retries.load(Ordering::Relaxed);
    summary.batches = rpc.batches_enabled();
    summary.tracer =
        options.method != Method::StateGetters && !fetcher.tracer_missing.load(Ordering::Relaxed);
    let _ = std::io::stderr().flush();
    let written = fs::read_dir(&options.out)
        .map(|e| {
            e.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
        })
        .unwrap_or(false);
    if !options.no_verify && written {
        let out = options.out.clone();
        summary.check = Some(
            tokio::task::spawn_blocking(move || check_archive(&out))
                .await
                .map_err(|e| FetchError::Io(format!("archive check: {e}")))??,
        );
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use alloy_hardforks::{EthereumHardfork, EthereumHardforks, ForkCondition};

    use super::*;

    #[test]
    fn builtin_testnets_follow_alloy_hardforks() {
        for (id, table) in [
            (11_155_111, EthereumHardfork::sepolia().to_vec()),
            (17_000, EthereumHardfork::holesky().to_vec()),
            (560_048, EthereumHardfork::hoodi().to_vec()),
        ] {
            let chain = builtin_chain(id).expect("built in");
            assert_eq!(chain.chain_id, id);
            assert!(chain.deposit_contract.is_some());
            for (fork, condition) in table {
                let ours = chain.ethereum_fork_activation(fork);
                match condition {
                    ForkCondition::TTD {
                        activation_block_number,
                        ..
                    } => assert_eq!(ours, ForkCondition::Block(activation_block_number)),
                    other => assert_eq!(ours, other, "{id} {fork}"),
                }
            }
        }
        assert_eq!(builtin_chain(1), Some(ChainSpec::mainnet()));
        assert_eq!(builtin_chain(31_337), None);
    }

    #[test]
    fn chain_choices() {
        assert!(matches!(
            resolve_chain(31_337, &ChainChoice::Builtin),
            Err(FetchError::Chain(_))
        ));
        let devnet = resolve_chain(31_337, &ChainChoice::Fork(Fork::Cancun)).expect("fork");
        assert_eq!(devnet.fork_at(5, 5), Fork::Cancun);
        let table = ChainSpec {
            chain_id: 7,
            ..ChainSpec::mainnet()
        };
        assert_eq!(
            resolve_chain(7, &ChainChoice::Spec(table.clone())).expect("spec"),
            table
        );
        assert!(resolve_chain(8, &ChainChoice::Spec(table)).is_err());
    }
}
