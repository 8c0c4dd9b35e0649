//! What Block-STM's worker loop asks of a transaction executor: run one *incarnation* of one
//! transaction over the multi-version memory and hand back its read set and write set, or say
//! why the incarnation could not complete.
//!
//! The worker loop (`executor.rs`) is written against [`TxExecutor`] only, so it does not
//! know what a transaction is. The engine plugs in revm (`block_stm.rs`, through `vm.rs`);
//! the worker loop's property test plugs in mock transactions whose reads and writes change
//! with every incarnation. Both sides import this file; it imports neither.

use super::{
    mv_memory::{MvMemory, MvValue},
    read_set::{ChangedRead, ReadSet},
};
use crate::access::{Location, TxIdx, Version};

/// What the worker loop needs of one completed incarnation.
pub(crate) trait IncarnationOutput: Send {
    /// The read set: every location read, with what the read observed.
    fn reads(&self) -> &ReadSet;
    /// The write set: every location written, with its value (or credit).
    fn writes(&self) -> &[(Location, MvValue)];

    /// Called by the worker that ran this incarnation once it is known to be its
    /// transaction's last (it started on the committed prefix, see `scheduler.rs`), right
    /// after it was recorded: what the commit needs of it can be built now, while its sets
    /// are in this core's cache, rather than read back cold after the worker loop. Its read
    /// set is never validated again (a validation already under way passes whatever it
    /// finds, as the incarnation is final), so it may be consumed. The write set must stay:
    /// the block's final state is folded from it. The default does nothing.
    fn finalize(&mut self) {}
}

/// Runs one incarnation of one transaction over the multi-version memory.
pub(crate) trait TxExecutor: Sync {
    /// The incarnation's output.
    type Output: IncarnationOutput;

    /// What one worker keeps from one incarnation to its next (the engine's revm EVM), made
    /// once per worker per block.
    type Scratch<'s>
    where
        Self: 's;

    /// A worker's scratch for executing over `mv`.
    fn scratch<'s>(&'s self, mv: &'s MvMemory) -> Self::Scratch<'s>;

    /// Executes incarnation `version` reading through `mv` as transaction `version.tx`,
    /// with the calling worker's `scratch`.
    ///
    /// # Errors
    /// [`Interrupted::Blocked`] when a read met an ESTIMATE (the loop suspends the
    /// transaction on its writer); [`Interrupted::Stale`] when a read made before went stale
    /// (the loop runs the incarnation again); [`Interrupted::Invariant`] when the executor found an
    /// engine bug (the block fails with [`crate::error::EngineError::Invariant`]).
    fn execute<'s>(
        &'s self,
        scratch: &mut Self::Scratch<'s>,
        mv: &'s MvMemory,
        version: Version,
    ) -> Result<Self::Output, Interrupted>;

    /// Work a worker does when the scheduler has no task for it (the engine's executor
    /// recovers a later transaction's sender); returns whether there was any. A worker on a
    /// pool thread does it before its first task, until there is none left, while the
    /// calling thread executes (see "Who executes first" in `executor.rs`). The default has
    /// none, and the worker yields its time slice instead.
    fn idle(&self) -> bool {
        false
    }

    /// A lower transaction whose writes transaction `tx` is known to read before it runs (a
    /// dependency hint): its first incarnation waits for that one to execute, as if it had
    /// read its ESTIMATE, instead of running early only to be aborted. The default knows
    /// none.
    fn dependency_hint(&self, tx: TxIdx) -> Option<TxIdx> {
        let _ = tx;
        None
    }

    /// The transactions `helpers` helper workers execute first, ahead of the block order,
    /// in the order to start them (`early.rs`): a guess at those that run long, which only
    /// changes when they run. Asked once per block, by the first helper. The default starts
    /// none early.
    fn early_starts(&self, helpers: usize) -> Vec<TxIdx> {
        let _ = helpers;
        Vec::new()
    }

    /// Called when a validation aborted an incarnation of transaction `tx` because its read
    /// `changed` no longer observed what it did: what a dependency hint may learn from.
    /// The default ignores it.
    fn conflicted(&self, tx: TxIdx, changed: ChangedRead) {
        let _ = (tx, changed);
    }
}

/// Why an incarnation did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Interrupted {
    /// It read an ESTIMATE of this transaction: it waits for that transaction's
    /// re-execution.
    Blocked(TxIdx),
    /// A lower transaction recorded a write that changes what it had read (`write_log.rs`):
    /// it published nothing, and runs again at once.
    Stale,
    /// An invariant of the multi-version memory broke (for revm, see `VmReadError::WrongKind`
    /// in `vm.rs`).
    Invariant(String),
}
