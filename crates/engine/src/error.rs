//! Typed errors of the engine. Each names what failed and where; the CLI and the job render
//! them for humans.

use std::path::PathBuf;

use alloy_primitives::B256;

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

/// An archived block contradicts itself.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BlockError {
    /// A header field that commits to the body does not match the body.
    #[error("{field} mismatch: the header says {expected}, the block's body gives {actual}")]
    RootMismatch {
        /// The header field.
        field: &'static str,
        /// The header's value.
        expected: B256,
        /// The value computed from the body.
        actual: B256,
    },
    /// The header's fields do not hash to the block's hash: a header field was edited (or
    /// decoded wrongly). The roots of the body are checked first, so the field is one the
    /// body does not commit to; `replay-evm verify` replays the block to name it.
    #[error(
        "header hash mismatch: the block's hash is {hash}, but its header fields hash to \
         {computed}: a header field was edited or decoded wrongly"
    )]
    HeaderHashMismatch {
        /// The block's `hash` field.
        hash: B256,
        /// The hash of its header fields.
        computed: B256,
    },
    /// A transaction whose signature does not recover a sender.
    #[error("transaction {index} ({hash}): invalid signature: {reason}")]
    BadSignature {
        /// Position in the block.
        index: usize,
        /// Transaction hash.
        hash: B256,
        /// What the recovery said.
        reason: String,
    },
    /// Any other inconsistency.
    #[error("{0}")]
    Inconsistent(String),
}

/// A block folder could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path is not a directory.
    #[error("{}: not a block folder (no such directory)", .0.display())]
    NotADirectory(PathBuf),
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not valid JSON of the expected shape.
    #[error("{}: malformed JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: serde_json::Error,
    },
    /// A file parses but holds an invalid value.
    #[error("{}: {what}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The block contradicts its own header.
    #[error("{}: {source}", path.display())]
    Block {
        /// The file.
        path: PathBuf,
        /// The inconsistency.
        source: BlockError,
    },
}

/// A block could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The block contradicts itself (e.g. a signature that does not recover).
    #[error("block {number}: {source}")]
    Block {
        /// Block number.
        number: u64,
        /// The inconsistency.
        source: BlockError,
    },
    /// A transaction the state rejects (nonce, balance, gas limit, ...).
    #[error("block {number}: transaction {index} ({hash}) is invalid: {reason}")]
    InvalidTransaction {
        /// Block number.
        number: u64,
        /// Position in the block.
        index: usize,
        /// Transaction hash.
        hash: B256,
        /// revm's or alloy-evm's reason.
        reason: String,
    },
    /// The parallel engine could not give a result (see [`EngineError`]); the block itself
    /// may be fine, and a client would replay it sequentially.
    #[error("parallel engine: {0}")]
    Engine(#[from] EngineError),
    /// A block-level rule (system call, reward, withdrawal, request) failed.
    #[error("block {number}: {stage} failed: {message}")]
    BlockRule {
        /// Block number.
        number: u64,
        /// Which rule.
        stage: &'static str,
        /// What failed.
        message: String,
    },
}

impl ReplayError {
    /// Whether the parallel engine failed rather than the block: a client falls back to the
    /// sequential replay on these, where every other error is the block's own.
    pub fn is_engine_failure(&self) -> bool {
        matches!(self, Self::Engine(_))
    }
}

/// Why the parallel engine could not replay a block, by whose fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The environment: the operating system refused the worker threads.
    #[error("cannot start worker threads: {0}")]
    ThreadsRefused(String),
    /// A worker thread panicked (revm or the engine); the pool survives it.
    #[error("block {number}: {thread} panicked: {message}")]
    WorkerPanic {
        /// Block number.
        number: u64,
        /// Which thread: a Block-STM worker or the in-order executor.
        thread: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The block holds more transactions than Block-STM indexes (its traces pack a
    /// transaction index into 32 bits); the sequential replay has no such limit.
    #[error("block {number}: {count} transactions, more than Block-STM's {max}")]
    TooManyTransactions {
        /// Block number.
        number: u64,
        /// The block's transactions.
        count: usize,
        /// The most Block-STM replays.
        max: usize,
    },
    /// An invariant of the engine broke: a bug in the engine, never the block's fault. It is
    /// returned, not panicked, so that the caller can fall back to the sequential replay.
    #[error("block {number}: engine invariant broken: {what}")]
    Invariant {
        /// Block number.
        number: u64,
        /// Which invariant, and the values that broke it.
        what: String,
    },
}

/// A replay disagrees with the block header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header field the replay recomputes differs.
    #[error(
        "block {number}: {field} mismatch: header has {expected}, replay gives {actual}{}",
        first_tx.map(|i| format!(" (first differing receipt: transaction {i})")).unwrap_or_default()
    )]
    Mismatch {
        /// Block number.
        number: u64,
        /// Header field name (`gasUsed`, `logsBloom`, `receiptsRoot`, `requestsHash`).
        field: &'static str,
        /// The header's value.
        expected: String,
        /// The replay's value.
        actual: String,
        /// The first transaction whose receipt differs, where it can be told.
        first_tx: Option<usize>,
    },
}
