//! Parallel replay: Block-STM over revm, with EVM-specific lazy updates, and in-order
//! execution with parallel sender recovery; the engine picks between them per block.
//!
//! One file per part, from the public face down to the shared machinery:
//! - [`engine`]: [`ParallelEngine`] (the thread pool, created once) and [`Concurrency`];
//!   [`ParallelEngine::plan`] picks the mode of each block.
//! - `cost_model`: [`CostModel`], the predicted wall time of each mode behind the adaptive
//!   choice.
//! - `replay`: what a replay returns: [`ParallelReplay`], its [`Mode`], and every
//!   transaction's [`TxTrace`] (read set and write set of its last incarnation).
//! - `in_order`: in-order mode, the oracle's executor on the calling thread while the other
//!   threads recover senders ahead of it.
//! - `block_stm`: one block under Block-STM from start to end, with revm as the transaction
//!   executor: sender recovery, the pre-block system calls (the base state), the worker
//!   loop, the final state, the commit phase, the write-set check and the post-block rules.
//! - `final_state`: the block's final state folded from the write sets on the worker
//!   threads and diffed against the pre-state there; the database of revm's `State` for
//!   the post-block rules.
//! - `commit`: the commit phase, which hands each last incarnation's result to alloy-evm's
//!   block executor in transaction order (receipts and gas).
//! - `receipts`: the commit's receipt builder, with the logs' blooms computed on the worker
//!   threads.
//! - `bloom`: a receipt's logs bloom, each thread remembering the hashes of the log
//!   addresses and topics it met.
//! - `write_log`: the locations each recorded or aborted incarnation wrote, from which an
//!   incarnation still running tells early that one of its reads went stale.
//! - `write_set_check`: the optional self-check of the folded final state against the
//!   multi-version memory's reads ([`ParallelEngine::with_write_set_check`]).
//! - `executor`: Block-STM's worker loop (execute, validate, abort, suspend) over any
//!   transaction executor, with the per-transaction slot of the last incarnation; its
//!   property test runs mock transactions against a sequential baseline.
//! - `early`: the transactions a helper starts ahead of the block order, whose calldata
//!   (proofs, signatures) says they may run long.
//! - `hints`: dependency hints that order first incarnations: the same sender's, and a
//!   recipient's once a conflict on its own account showed its calls chain; and whether a
//!   block is one sender's chain, which then runs on one worker when its senders are known.
//! - `creators`: the recipients whose code can create contracts, whose calls chain through
//!   their nonce before any of them aborted (a hint `hints` gives).
//! - `tx_executor`: what the worker loop asks of a transaction executor (one incarnation's
//!   read and write sets, or why it was interrupted).
//! - `vm`: revm over the multi-version memory, write-set extraction and the lazy
//!   beneficiary and transfer credits.
//! - `read_set`: an incarnation's read set, one entry per account read and one per slot,
//!   and the worker's buffer that records it.
//! - [`scheduler`]: the collaborative scheduler (execution and validation indices,
//!   dependency suspension, validation waves, the done check).
//! - `mv_memory`: the multi-version memory (values per location, transaction and
//!   incarnation; ESTIMATE markers; balance credits).
//! - `mv_arena`: where the multi-version memory keeps each location's entries: one arena
//!   per shard, freed a chunk at a time.
//! - `fee_cells`: where it keeps the beneficiary's fee credits: a cell per transaction,
//!   apart from the shared entries every worker would otherwise write.
//! - `threads`: work after the worker loop spread over the replay's threads.
//! - `pool`: the calling thread's helper threads, which spin a short while for their next
//!   work before they park.
//! - `senders`: sender recovery shared between threads: ahead of in-order execution, and
//!   inside Block-STM's worker loop.

mod block_stm;
mod bloom;
mod commit;
mod cost_model;
mod creators;
mod early;
pub mod engine;
mod executor;
mod fee_cells;
mod final_state;
mod hints;
mod in_order;
mod mv_arena;
mod mv_memory;
mod pool;
mod read_set;
mod receipts;
mod replay;
pub mod scheduler;
mod senders;
mod threads;
mod tx_executor;
mod vm;
mod write_log;
mod write_set_check;

pub use cost_model::CostModel;
pub use engine::{Concurrency, ParallelEngine};
pub use replay::{Mode, ParallelReplay, Phases, TraceReads, TxTrace};
pub use scheduler::Counters;
