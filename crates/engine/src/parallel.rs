//! Parallel replay: Block-STM over revm, with EVM-specific lazy updates.
//!
//! - `mv_memory`: the multi-version memory (values per location, transaction and
//!   incarnation; ESTIMATE markers; balance credits).
//! - [`scheduler`]: the collaborative scheduler (execution and validation indices,
//!   dependency suspension, validation waves, the done check).
//! - `vm`: revm over the multi-version memory, read-set recording, write-set extraction
//!   and the lazy beneficiary and transfer credits.
//! - `executor`: Block-STM's worker loop (execute, validate, abort, suspend) over any
//!   transaction executor, with the per-transaction slot of the last incarnation; its
//!   property test runs mock transactions against a sequential baseline.
//! - [`engine`]: the thread pool, revm as the transaction executor, and the commit phase
//!   that materialises the credits and runs the block rules through alloy-evm, in
//!   transaction order; also the choice between Block-STM and in-order execution
//!   ([`ParallelEngine::plan`]).
//! - `senders`: sender recovery shared between threads: ahead of in-order execution, and as
//!   Block-STM's first phase.

pub mod engine;
pub(crate) mod executor;
pub(crate) mod mv_memory;
pub mod scheduler;
pub(crate) mod senders;
pub(crate) mod vm;

pub use engine::{Concurrency, CostModel, Mode, ParallelEngine, ParallelReplay, TxTrace};
pub use scheduler::Counters;
