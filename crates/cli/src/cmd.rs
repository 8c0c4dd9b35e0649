//! The command line: the subcommands, one file each, and which runs for each name. How a
//! subcommand ends (its outcome or error) is in `exit.rs`.

use clap::{Parser, Subcommand};

use crate::exit::{CliError, Outcome};

mod archive;
mod bench;
mod blocktest;
mod job;
mod replay;
mod statetest;
mod verify;

/// Replay archived Ethereum blocks on revm, sequentially and in parallel, and verify every
/// replay against the chain.
#[derive(Debug, Parser)]
#[command(name = "replay-evm", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Replay blocks sequentially and verify them against their headers.
    Verify(verify::Args),
    /// Replay blocks sequentially and in parallel, compare, and analyse their dependencies.
    Replay(replay::Args),
    /// Run ethereum/tests-format state tests.
    Statetest(statetest::Args),
    /// Run ethereum/tests-format blockchain tests: every block replayed on the state carried
    /// forward, sequentially and in every parallel mode, with state roots and header rules.
    Blocktest(blocktest::Args),
    /// Build a Parquet block archive: from block folders, or the generated sample.
    Archive(archive::Args),
    /// The replay job: replay an archive in partitions, write the result datasets as
    /// Parquet, resumable (see schemas/README.md).
    Job(job::Args),
    /// Benchmark the parallel engine against sequential revm on generated workloads and
    /// mainnet blocks: speedup, Mgas/s, re-executions, CPU time, peak memory.
    Bench(bench::Args),
}

impl Command {
    pub(crate) fn run(self) -> Result<Outcome, CliError> {
        match self {
            Self::Verify(args) => verify::run(args),
            Self::Statetest(args) => statetest::run(args),
            Self::Blocktest(args) => blocktest::run(args),
            Self::Replay(args) => replay::run(args),
            Self::Archive(args) => archive::run(args),
            Self::Job(args) => job::run(args),
            Self::Bench(args) => bench::run(args),
        }
    }
}
