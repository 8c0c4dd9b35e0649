//! What the shared options can get wrong after clap has accepted them.

use std::path::PathBuf;

use replay_evm::error::ChainError;

/// An option that clap accepts but that names nothing: an unknown fork or chain id, or a
/// chain-spec file that cannot be read or parsed. The message names the option; each binary
/// reports it as its usage error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// `--fork` names no fork that can run.
    #[error("--fork: {0}")]
    Fork(#[source] ChainError),
    /// `--chain-id` has no built-in fork table.
    #[error("--chain-id: {0}")]
    ChainId(#[source] ChainError),
    /// The `--chain-spec` file cannot be read.
    #[error("--chain-spec {}: {source}", path.display())]
    ChainSpecRead {
        /// The file as given.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// The `--chain-spec` file is not a valid fork table.
    #[error("--chain-spec {}: {source}", path.display())]
    ChainSpecParse {
        /// The file as given.
        path: PathBuf,
        /// What is wrong with it.
        source: ChainError,
    },
}
