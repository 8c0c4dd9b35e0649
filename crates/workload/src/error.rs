//! Why a workload could not be generated, or a workload name is unknown.

use replay_evm::{chain::Fork, error::ReplayError};

/// A workload could not be generated (a bug in the generator or its contracts), or a
/// workload name is unknown.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The generated block does not replay.
    #[error("generated block does not replay: {0}")]
    Replay(#[from] ReplayError),
    /// A generated transaction did not succeed.
    #[error("generated transaction {index} did not succeed: {status}")]
    TxFailed {
        /// Position in the block.
        index: usize,
        /// How it ended.
        status: String,
    },
    /// No workload has this name.
    #[error("unknown workload `{name}` (known: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A random-block kind needs an opcode the fork does not have.
    #[error("transaction kind {kind} is not available in {fork}")]
    Unavailable {
        /// The kind.
        kind: String,
        /// The fork.
        fork: Fork,
    },
}
