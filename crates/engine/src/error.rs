//! Typed errors of the engine. Each names what failed and where; the CLI and the job render
//! them for humans.

use std::path::PathBuf;

use alloy_primitives::{B256, Bloom};

/// A chain table could not be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChainError {
    /// A fork name nobody defines.
    #[error("unknown fork `{0}`")]
    UnknownFork(String),
    /// A fork that exists but that revm cannot execute.
    #[error("unsupported fork `{fork}`: {reason}")]
    UnsupportedFork {
        /// The fork as named.
        fork: String,
        /// Why it cannot run.
        reason: &'static str,
    },
    /// A chain id with no built-in table.
    #[error("unknown chain id {0}: pass its hardfork table as JSON")]
    UnknownChain(u64),
    /// A chain table that is not valid JSON of the expected shape.
    #[error("invalid chain table: {0}")]
    Json(String),
}
