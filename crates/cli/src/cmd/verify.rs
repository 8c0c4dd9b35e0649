//! `replay-evm verify <BLOCK_DIR>... [--json]`: replay each block sequentially and verify it
//! against its header. Exits 0 only if every block verified.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use replay_evm::{
    block_dir::{load_block_dir, read_block_dir},
    chain::ChainSpec,
    error::{BlockError, LoadError},
    sequential::replay_sequential,
    verify::verify,
};
use replay_evm_args::{
    ChainArgs,
    output::{duration_us, json_line},
};
use serde_json::json;

use crate::exit::{CliError, Outcome};

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Block folders (block.json, pre_state.json, block_hashes.json).
    #[arg(required = true, value_name = "BLOCK_DIR")]
    blocks: Vec<PathBuf>,
    /// Print one JSON object per block instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    chain: ChainArgs,
}

/// One block's line of the report.
struct Row {
    path: PathBuf,
    number: Option<u64>,
    fork: Option<String>,
    txs: Option<usize>,
    gas_used: Option<u64>,
    wall_us: Option<u64>,
    receipts_root: Option<String>,
    receipts_root_checked: bool,
    error: Option<String>,
}

fn check_one(path: PathBuf, chain: &ChainSpec, chain_id: u64) -> Row {
    let mut row = Row {
        path,
        number: None,
        fork: None,
        txs: None,
        gas_used: None,
        wall_us: None,
        receipts_root: None,
        receipts_root_checked: false,
        error: None,
    };
    let block = match load_block_dir(&row.path, chain_id) {
        Ok(block) => block,
        Err(
            e @ LoadError::Block {
                source: BlockError::HeaderHashMismatch { .. },
                ..
            },
        ) => {
            row.error = Some(format!("{e}; {}", edited_field(&row.path, chain, chain_id)));
            return row;
        }
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
    };
    row.number = Some(block.number());
    row.fork = Some(block.fork(chain).to_string());
    row.txs = Some(block.transactions().len());
    let replay = match replay_sequential(&block, chain) {
        Ok(replay) => replay,
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
    };
    row.gas_used = Some(replay.gas_used);
    row.wall_us = Some(replay.wall_us);
    row.receipts_root = Some(replay_evm::verify::receipts_root(&replay.receipts).to_string());
    match verify(block.header(), &replay) {
        Ok(v) => row.receipts_root_checked = v.receipts_root_checked,
        Err(e) => row.error = Some(e.to_string()),
    }
    row
}

/// Which header field an edit changed, for a block whose header no longer hashes to its
/// hash: the block is replayed anyway, and the fields the replay recomputes (gasUsed,
/// logsBloom, receiptsRoot) are compared with the header.
fn edited_field(path: &Path, chain: &ChainSpec, chain_id: u64) -> String {
    let unchecked = "the replay could not tell which field";
    let Ok(block) = read_block_dir(path, chain_id) else {
        return unchecked.into();
    };
    match replay_sequential(&block, chain) {
        Ok(replay) => match verify(block.header(), &replay) {
            Err(e) => format!("the replay finds the edit: {e}"),
            Ok(_) => "gasUsed, logsBloom and receiptsRoot match the replay, so the edited \
                      field is one the replay does not recompute (e.g. stateRoot, timestamp, \
                      extraData)"
                .into(),
        },
        Err(e) => format!("{unchecked} (it does not replay: {e})"),
    }
}

pub(crate) fn run(args: Args) -> Result<Outcome, CliError> {
    let chain = args.chain.chain()?;
    let mut failed = 0usize;
    let total = args.blocks.len();
    if !args.json {
        println!(
            "{:>10}  {:<15} {:>5} {:>12} {:>9}  verified",
            "number", "fork", "txs", "gas", "time"
        );
    }
    for path in args.blocks {
        let row = check_one(path, &chain, chain.chain_id);
        failed += usize::from(row.error.is_some());
        if args.json {
            json_line(&json!({
                "path": row.path.display().to_string(),
                "number": row.number,
                "fork": row.fork,
                "txs": row.txs,
                "gas_used": row.gas_used,
                "wall_us": row.wall_us,
                "verified": row.error.is_none(),
                "receipts_root": row.receipts_root,
                "receipts_root_checked": row.receipts_root_checked,
                "error": row.error,
            }))?;
        } else {
            let dash = || "-".to_owned();
            let verified = match (&row.error, row.receipts_root_checked) {
                (Some(_), _) => "FAILED",
                (None, true) => "yes",
                (None, false) => "yes (gas, bloom; pre-Byzantium)",
            };
            println!(
                "{:>10}  {:<15} {:>5} {:>12} {:>9}  {verified}",
                row.number.map_or_else(dash, |n| n.to_string()),
                row.fork.clone().unwrap_or_else(dash),
                row.txs.map_or_else(dash, |n| n.to_string()),
                row.gas_used.map_or_else(dash, |n| n.to_string()),
                row.wall_us.map_or_else(dash, duration_us),
            );
            if let Some(error) = &row.error {
                println!("            error: {error}");
            }
        }
        std::io::stdout().flush()?;
    }
    if !args.json {
        println!(
            "{total} blocks: {} verified, {failed} failed",
            total - failed
        );
    }
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::Failures
    })
}
