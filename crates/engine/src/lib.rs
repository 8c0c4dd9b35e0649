//! # ReplayEVM engine
//!
//! Replays archived Ethereum blocks sequentially and in parallel, verifies every replay
//! against the chain, and analyses how parallel each block is.
//!
//! ## The pipeline, and which file holds each part
//!
//! 1. **Input.** An [`block::ArchivedBlock`] is one block's whole input: header and
//!    transactions, the [`pre_state::PreState`] of every account it touches, and the
//!    ancestor hashes BLOCKHASH may ask for. [`block_dir`] loads one from a block folder;
//!    [`block::ArchivedBlock::check`] proves it was decoded exactly (header hash,
//!    transactions, withdrawals and ommers roots). The `replay-evm-workload` crate generates
//!    signed ones.
//! 2. **Rules.** [`chain::ChainSpec`] is a chain as data: its id and the activation of each
//!    hardfork. It picks the [`chain::Fork`] (revm `SpecId`) of a block and drives
//!    alloy-evm's block rules: EIP-2935/4788 system calls before the transactions; EIP-6110,
//!    7002 and 7251 requests, block and ommer rewards, withdrawals and the DAO-fork drain
//!    after them.
//! 3. **Sequential replay, the oracle.** [`sequential`] runs the block exactly as a mainnet
//!    client does: alloy-evm's `EthBlockExecutor` over revm's `State` on the pre-state.
//!    [`verify`] compares its gas used, logs bloom, receipts root and (from Prague on)
//!    requests hash with the header.
//! 4. **Parallel replay.** [`parallel`] is Block-STM (Gelashvili et al., arXiv 2203.06871):
//!    - transactions execute optimistically on worker threads over a *multi-version memory*
//!      (`parallel/mv_memory.rs`) that keeps, per state location, the value written by each
//!      transaction and *incarnation*;
//!    - a read returns the highest write below the reader (or the base state) and is recorded
//!      in the transaction's *read set* with the version it saw (`parallel/read_set.rs`: one
//!      entry per account read, one per slot);
//!    - the *collaborative scheduler* (`parallel/scheduler.rs`) hands out execution and
//!      *validation* tasks from two shared indices; validation re-reads the read set, and a
//!      changed version aborts the incarnation, turns its writes into ESTIMATE markers and
//!      schedules a re-execution with a higher incarnation, plus a validation wave over every
//!      higher transaction (as does a write to a new location that a higher transaction's
//!      read set holds); an execution that reads an ESTIMATE suspends on its writer, and
//!      a long one whose earlier read a lower transaction has since overwritten stops and
//!      starts again at once (`parallel/write_log.rs`);
//!    - the revm glue (`parallel/vm.rs`) is a revm database over the multi-version memory;
//!      it records the read set and turns revm's state output into the write set;
//!    - EVM-specific *lazy updates* keep the beneficiary's fee and plain transfers' credits
//!      out of the read sets, as commutative balance credits; otherwise every transaction
//!      would depend on the previous one through the beneficiary's balance;
//!    - the worker loop (`parallel/executor.rs`) runs execution and validation tasks over any
//!      transaction executor (`parallel/tx_executor.rs`) and keeps each transaction's last
//!      incarnation in its slot; `parallel/block_stm.rs` drives one block with revm as the
//!      executor;
//!    - the block's final state is folded from the last incarnations' write sets on the
//!      worker threads, credits summed in, and diffed against the pre-state there
//!      (`parallel/final_state.rs`); the commit phase (`parallel/commit.rs`) hands every
//!      result in order to the same alloy-evm executor the oracle uses, which builds the
//!      receipts (their blooms computed beforehand on the workers, `parallel/receipts.rs`,
//!      each thread remembering the hashes of the log addresses and topics it met,
//!      `parallel/bloom.rs`) and applies the block rules.
//!
//!    Block-STM is one of two modes. The other, *in-order* mode, runs the oracle's own
//!    executor on the calling thread while the other threads recover senders ahead of it
//!    (`parallel/in_order.rs`, `parallel/senders.rs`): signature recovery is most of a
//!    replay's work (79–89% on the mainnet fixtures) and independent per transaction. The
//!    *adaptive* engine (`ParallelEngine::plan` in `parallel/engine.rs`, `CostModel` in
//!    `parallel/cost_model.rs`) predicts both modes from the transaction count and the
//!    header's gas and runs Block-STM only where it is predicted clearly faster, so it falls
//!    back rather than lose. Research runs (the job, `replay-evm replay`) ask for Block-STM
//!    explicitly: only it yields read and write sets.
//!
//!    Every parallel result is compared with the sequential one: receipts, per-transaction
//!    results and [`state_changes::StateChanges`] must be identical.
//! 5. **Analysis.** [`access`] is the shared vocabulary (locations, versions, read origins);
//!    [`analysis`] builds each block's dependency DAG from the read and write sets of
//!    Block-STM's last incarnations ([`parallel::ParallelReplay::accesses`]), with and
//!    without the lazy updates ([`analysis::UpdateModel`]), one file per measure under
//!    `analysis/`: the graph and its conflict rate (`graph.rs`), the gas-weighted critical
//!    path and unbounded speedup (`critical_path.rs`), list-scheduled speedups at 2–16
//!    threads (`list_schedule.rs`), hotspots (`hotspots.rs`) and the per-block
//!    [`analysis::DagSummary`] (`summary.rs`).
//!
//! 6. **Consistency across blocks.** [`consistency`] compares the state after block n's
//!    replay with block n+1's archived pre-state: the replay checked against the node.
//!
//! Errors are typed ([`error`]) and name the block, the transaction and the file involved.
//! Test fixtures are found through `fixtures`, behind the `test-support` feature (the
//! other crates' tests and the benchmark harness turn it on).

pub mod access;
pub mod analysis;
pub mod block;
pub mod block_dir;
pub mod chain;
pub mod consistency;
pub mod error;
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
pub mod parallel;
pub mod pre_state;
pub mod sequential;
pub mod state_changes;
pub mod verify;
