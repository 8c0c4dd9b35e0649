//! What stops a benchmark run before it can report (exit 2).

/// An error that stops `replay-evm-bench` before its report; a block that fails is a row of
/// the report, not an error.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad arguments that clap could not catch, or a file that cannot be read or written.
    #[error("{0}")]
    Usage(String),
    /// The machine's ceiling could not be set up (its calibration block or thread pools,
    /// `ceiling.rs`).
    #[error("cannot measure the machine's ceiling: {0}")]
    Ceiling(String),
    /// Writing the report failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// The shared chain options' errors (`--chain-id`, `--fork`, `--chain-spec` of the
/// `--fixtures` blocks) are usage errors.
impl From<replay_evm_args::ArgsError> for BenchError {
    fn from(error: replay_evm_args::ArgsError) -> Self {
        Self::Usage(error.to_string())
    }
}
