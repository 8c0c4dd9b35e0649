//! `replay-evm archive import <BLOCK_DIR>... --out ARCHIVE`, `replay-evm archive fetch`
//! (archive/fetch.rs), `replay-evm archive check` (archive/check.rs) and
//! `replay-evm archive sample --out ARCHIVE`: build the Parquet block archive the job reads
//! (`schemas/archive.json`), from block folders or from the workload generator.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use replay_evm_dataset::archive::{ArchiveRow, import_block_dirs, sample_rows, write_archive};

use crate::exit::{CliError, Outcome};

mod check;
mod fetch;

/// Arguments of `archive`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Import block folders (block.json, pre_state.json, block_hashes.json). Each block is
    /// checked (header hash, transactions, withdrawals and ommers roots, senders) and its
    /// row decoded back before it is written; a block that fails is reported and left out.
    Import {
        /// Block folders.
        #[arg(required = true, value_name = "BLOCK_DIR")]
        blocks: Vec<PathBuf>,
        /// The archive folder to create.
        #[arg(long, value_name = "ARCHIVE")]
        out: PathBuf,
        /// Chain id of the blocks.
        #[arg(long, default_value_t = 1)]
        chain_id: u64,
    },
    /// Build the archive from a JSON-RPC node: each block with its pre-state (prestateTracer
    /// or state getters), verified before it is written, in resumable chunk files.
    Fetch(fetch::Args),
    /// Check an archive's consistency across blocks: block n's replayed state changes
    /// against block n+1's archived pre-state.
    Check(check::Args),
    /// Write the sample archive: every generated workload at two seeds, about 15 Mgas each.
    Sample {
        /// The archive folder to create.
        #[arg(long, value_name = "ARCHIVE")]
        out: PathBuf,
    },
}

fn write(out: &Path, rows: Vec<ArchiveRow>, started: Instant) -> Result<(), CliError> {
    let blocks = rows.len();
    let txs: u64 = rows.iter().map(|r| u64::from(r.tx_count)).sum();
    let files = write_archive(out, rows)?;
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "wrote {} ({} file(s), {blocks} blocks, {txs} transactions, {:.1} MiB) in {:.1}s",
        out.display(),
        files.len(),
        bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub(crate) fn run(args: Args) -> Result<Outcome, CliError> {
    let started = Instant::now();
    match args.command {
        Command::Import {
            blocks,
            out,
            chain_id,
        } => {
            let (rows, failures) = import_block_dirs(&blocks, chain_id);
            for (dir, error) in &failures {
                eprintln!("{}: not imported: {error}", dir.display());
            }
            if rows.is_empty() {
                return Err(CliError::Usage("no block could be imported".into()));
            }
            write(&out, rows, started)?;
            if failures.is_empty() {
                Ok(Outcome::Success)
            } else {
                eprintln!("{} block folder(s) not imported", failures.len());
                Ok(Outcome::Failures)
            }
        }
        Command::Fetch(args) => fetch::run(args),
        Command::Check(args) => check::run(args),
        Command::Sample { out } => {
            write(&out, sample_rows()?, started)?;
            Ok(Outcome::Success)
        }
    }
}
