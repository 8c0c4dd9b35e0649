//! # ReplayEVM archive builder
//!
//! `replay-evm archive fetch` turns any Ethereum JSON-RPC node (geth, reth, erigon,
//! nethermind, anvil...) into a block archive (`schemas/archive.json`), verifying every
//! block before it is written.
//!
//! - [`spec`]: the `--blocks` selection (`A-B`, lists, `latest-N`) and `--sample K --seed S`.
//! - [`rpc`]: alloy's JSON-RPC client with bounded concurrency, a rate limiter, retries
//!   with backoff and jitter on transient failures, and batches.
//! - [`state`]: the pre-state discovered by replay over a database that records every read
//!   and every miss.
//! - [`node`]: one block: the block and its ommer headers, the pre-state from the
//!   prestateTracer and/or the state getters, completed until the replay misses nothing,
//!   then verified (receipts root, logs bloom, gas) and encoded as an archive row.
//! - [`run`]: the whole fetch: chain rules, chunk files written atomically, resume,
//!   failures file, progress and summary.
//! - [`check`]: consistency across blocks: block n's replayed state changes against block
//!   n+1's archived pre-state.

pub mod check;
pub mod node;
pub mod rpc;
pub mod run;
pub mod spec;
pub mod state;

pub use node::{BlockFailure, Method};
pub use run::{ChainChoice, FetchOptions, FetchSummary, fetch};
pub use spec::{BlockSpec, SpecError};

/// Why a fetch could not run (the CLI exits 2).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A malformed or unsatisfiable `--blocks` selection.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The node cannot be reached or answers nonsense to the first calls.
    #[error("{0}")]
    Node(String),
    /// The chain's rules cannot be determined.
    #[error("{0}")]
    Chain(String),
    /// Bad arguments or output folder.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The archive could not be written or read.
    #[error(transparent)]
    Dataset(#[from] replay_evm_dataset::DatasetError),
}
