//! What a parallel replay returns: the replay itself (comparable with the sequential one),
//! the mode it ran in, Block-STM's counters, and every transaction's trace (read set and
//! write set of its last incarnation), from which the dependency analysis is built.

use super::scheduler::Counters;
use crate::{
    access::{Location, ReadOrigin, TxAccess, TxIdx},
    sequential::BlockReplay,
};

/// How a block was replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Block-STM: optimistic execution over the multi-version memory, validation,
    /// re-execution, then the in-order commit phase.
    BlockStm,
    /// The transactions executed in order on one thread by the oracle's own executor,
    /// while the other threads recovered senders ahead of it (`parallel/in_order.rs`,
    /// `parallel/senders.rs`). Sender recovery is most of a replay's work, and it is
    /// independent per transaction.
    InOrder,
}

impl Mode {
    /// `block-stm` or `in-order`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlockStm => "block-stm",
            Self::InOrder => "in-order",
        }
    }
}

/// One transaction's trace from its last incarnation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxTrace {
    /// Position in the block.
    pub index: TxIdx,
    /// Read set: each location with where its value came from.
    pub reads: Vec<(Location, ReadOrigin)>,
    /// Locations fully written.
    pub writes: Vec<Location>,
    /// Balances changed by a lazy credit only.
    pub credits: Vec<Location>,
    /// Number of completed executions (1 when never re-executed; a suspended execution
    /// does not count).
    pub incarnations: u32,
    /// Wall time of the last execution, in microseconds.
    pub exec_us: u64,
}

impl TxTrace {
    /// The trace as the dependency analysis sees it, weighted by `gas`.
    pub fn access(&self, gas: u64) -> TxAccess {
        TxAccess {
            gas,
            reads: self.reads.iter().map(|(location, _)| *location).collect(),
            writes: self.writes.clone(),
            deltas: self.credits.clone(),
        }
    }
}

/// The result of a parallel replay.
#[derive(Debug, Clone)]
pub struct ParallelReplay {
    /// Receipts, state changes and per-transaction outcomes, comparable with the sequential
    /// replay's.
    pub replay: BlockReplay,
    /// Threads used.
    pub threads: usize,
    /// Block-STM or in-order execution.
    pub mode: Mode,
    /// Block-STM's counters (in-order: one execution per transaction, nothing else).
    pub counters: Counters,
    /// Per-transaction traces; empty in [`Mode::InOrder`], which records no read or write
    /// sets.
    pub traces: Vec<TxTrace>,
}

impl ParallelReplay {
    /// Every transaction's accesses, weighted by its gas used, for [`crate::analysis`].
    ///
    /// These come from the last incarnations, which Block-STM guarantees read exactly what
    /// the in-order execution reads; so they do not depend on thread timing (a test checks
    /// the analysis is identical at every thread count).
    pub fn accesses(&self) -> Vec<TxAccess> {
        self.traces
            .iter()
            .zip(&self.replay.transactions)
            .map(|(trace, outcome)| trace.access(outcome.gas_used))
            .collect()
    }
}
