//! The subcommands, one file each, and the error they share.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

/// How a subcommand that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything checked out: exit 0.
    Success,
    /// The command ran, but some block or test failed: exit 1.
    Failures,
}

impl Outcome {
    pub(crate) fn exit_code(self) -> ExitCode {
        match self {
            Self::Success => ExitCode::SUCCESS,
            Self::Failures => ExitCode::from(1),
        }
    }
}

/// An error that stops a subcommand before it can report (exit 2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Bad arguments that clap could not catch.
    #[error("{0}")]
    Usage(String),
    /// A state-test run that could not start.
    #[error(transparent)]
    StateTest(#[from] replay_evm_conformance::ConformanceError),
    /// A dataset operation that could not start or continue (the job's own failures are
    /// rows, not errors).
    #[error(transparent)]
    Dataset(#[from] replay_evm_dataset::DatasetError),
    /// Writing the report failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}
