//! How a subcommand ends: [`Outcome`] when it ran to its end (exit 0 or 1), or [`CliError`]
//! when it stopped before it could report (exit 2).

use std::process::ExitCode;

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
    /// A conformance run, of state tests (`statetest`) or blockchain tests (`blocktest`), that
    /// could not start: a path that does not exist, cannot be read or holds no `.json` file,
    /// or thread counts the parallel comparison cannot honour. A test file that cannot be
    /// parsed, and a failing test, are reported as failures (exit 1), not as this error.
    #[error(transparent)]
    Conformance(#[from] replay_evm_conformance::ConformanceError),
    /// A dataset operation that could not start or continue (the job's own failures are
    /// rows, not errors).
    #[error(transparent)]
    Dataset(#[from] replay_evm_dataset::DatasetError),
    /// Writing the report failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// The shared options' errors (`--chain-id`, `--fork`, `--chain-spec`) are usage errors.
impl From<replay_evm_args::ArgsError> for CliError {
    fn from(error: replay_evm_args::ArgsError) -> Self {
        Self::Usage(error.to_string())
    }
}
