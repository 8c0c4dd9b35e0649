//! The subcommands, one file each, and the error they share.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

impl Command {
    pub(crate) fn run(self) -> Result<Outcome, CliError> {
        match self {
            Self::Verify(args) => verify::run(args),
            Self::Statetest(args) => statetest::run(args),
            Self::Replay(args) => replay::run(args),
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
    StateTest(#[from] replay_evm_statetest::StateTestError),
    /// Writing the report failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}
