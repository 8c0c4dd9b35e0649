//! The parallel engine: a thread pool created once, and the choice of mode for each block.
//!
//! # Modes
//! [`Concurrency::Threads`] runs Block-STM (`block_stm.rs`); [`Concurrency::InOrder`] runs
//! the oracle's executor in order while helper threads recover senders ahead of it
//! (`in_order.rs`); the adaptive concurrencies let the [`CostModel`] choose. In both modes
//! the calling thread is one of the workers (`pool.rs`): it starts at once, while its
//! helpers are handed their share, which on small blocks costs more than the work (a
//! 15-transaction block ran at 0.70x with the executor on a pool thread, 1.61x on the
//! caller). The pool therefore holds one thread fewer than the engine runs on: a pool
//! thread more would only wake up with the others, find nothing, and share a core with a
//! worker (mainnet 3356896, 176 transfers, back to back at 2 threads, execution-only: a
//! median 850 µs a replay with two pool threads, the idle one yielding in turn with the
//! busy one; 490 µs with one).

use std::num::NonZeroUsize;

use alloy_primitives::Address;

use super::{
    block_stm,
    cost_model::CostModel,
    creators::CreatingCode,
    in_order,
    pool::WorkerPool,
    replay::{Mode, ParallelReplay},
};
use crate::{
    block::ArchivedBlock,
    chain::ChainSpec,
    error::{EngineError, ReplayError},
};

/// How a block's replay uses the engine's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Block-STM on exactly this many worker threads (capped by the engine's), whatever the
    /// block: the engine under study, with per-transaction traces.
    Threads(NonZeroUsize),
    /// In-order execution on one thread while this many threads in all recover the senders
    /// (see [`Mode::InOrder`]); no traces.
    InOrder(NonZeroUsize),
    /// At most this many threads; the engine picks, per block, Block-STM or in-order
    /// execution, whichever is expected to be faster (see [`ParallelEngine::plan`]). This is
    /// the engine as a client would run it: it falls back rather than lose.
    Adaptive(NonZeroUsize),
    /// [`Concurrency::Adaptive`] over every thread of the engine.
    Auto,
}

/// The parallel engine. Its thread pool, the calling thread's helpers, is created once and
/// reused for every block.
#[derive(Debug)]
pub struct ParallelEngine {
    /// The helpers of the calling thread: `threads - 1` of them.
    pool: WorkerPool,
    /// The most threads a replay runs on, the calling thread included.
    threads: usize,
    /// How Block-STM replays run: whether they also check their write sets against the
    /// sequential commit (and, in tests, where a worker panics).
    block_stm: block_stm::Options,
    /// Which contracts' code can create, remembered across Block-STM replays
    /// (`creators.rs`).
    creating_code: CreatingCode,
}

impl ParallelEngine {
    /// An engine whose replays run on at most `threads` threads: the calling thread and a
    /// pool of `threads - 1` helpers (`pool.rs`).
    ///
    /// # Errors
    /// [`ReplayError::Engine`] when the operating system refuses the threads.
    pub fn new(threads: NonZeroUsize) -> Result<Self, ReplayError> {
        let pool = WorkerPool::new(threads.get() - 1, |i| format!("replay-evm-worker-{i}"))
            .map_err(|e| EngineError::ThreadsRefused(e.to_string()))?;
        Ok(Self {
            pool,
            threads: threads.get(),
            block_stm: block_stm::Options::default(),
            creating_code: CreatingCode::default(),
        })
    }

    /// Turns on the write-set self-check: the block's final state, folded from the write sets
    /// for the commit, is compared at every written location with what the multi-version
    /// memory returns after the last transaction, and a difference is a
    /// [`ReplayError::Engine`]. It proves the memory's reads (credit chains, wipes, topmost
    /// writers) and the fold against each other on every block, at a cost of a few percent
    /// of a replay; the test suites run with it, measurements without.
    pub fn with_write_set_check(mut self, on: bool) -> Self {
        self.block_stm.check_write_sets = on;
        self
    }

    /// The most threads a replay runs on, the calling thread included.
    pub fn max_threads(&self) -> usize {
        self.threads
    }

    /// How `block` is replayed under `concurrency`: the mode and the thread count.
    ///
    /// [`Concurrency::Adaptive`] and [`Concurrency::Auto`] pick the mode the
    /// [`CostModel`] predicts faster. One thread always runs in order: Block-STM on one
    /// thread only adds its bookkeeping to the same work.
    pub fn plan(&self, concurrency: Concurrency, block: &ArchivedBlock) -> (Mode, usize) {
        let cap = |n: NonZeroUsize| n.get().min(self.max_threads());
        let adaptive = |threads: usize| {
            let txs = block.transactions().len();
            let model = CostModel::MEASURED;
            if threads > 1 && model.block_stm_wins(txs, block.header().gas_used, threads) {
                (Mode::BlockStm, threads)
            } else {
                (Mode::InOrder, threads)
            }
        };
        match concurrency {
            Concurrency::Threads(n) => (Mode::BlockStm, cap(n)),
            Concurrency::InOrder(n) => (Mode::InOrder, cap(n)),
            Concurrency::Adaptive(n) => adaptive(cap(n)),
            Concurrency::Auto => adaptive(self.max_threads()),
        }
    }

    /// Replays `block` as [`ParallelEngine::plan`] says.
    ///
    /// # Errors
    /// The same [`ReplayError`]s as the sequential replay, plus [`ReplayError::Engine`] when
    /// a worker panics.
    pub fn replay(
        &self,
        block: &ArchivedBlock,
        chain: &ChainSpec,
        concurrency: Concurrency,
    ) -> Result<ParallelReplay, ReplayError> {
        match self.plan(concurrency, block) {
            (Mode::BlockStm, threads) => self.block_stm(block, chain, threads, None),
            (Mode::InOrder, threads) => in_order::replay(&self.pool, block, chain, threads),
        }
    }
}

impl ParallelEngine {
    /// Block-STM on `threads` threads with the senders already recovered (`senders[i]` sent
    /// transaction `i`): the execution alone, as execution-only benchmarks time it, to
    /// compare with [`crate::sequential::replay_sequential_with_senders`].
    ///
    /// # Errors
    /// As [`ParallelEngine::replay`], and [`EngineError::Invariant`] when `senders` does not
    /// hold one sender per transaction.
    pub fn replay_with_senders(
        &self,
        block: &ArchivedBlock,
        chain: &ChainSpec,
        threads: NonZeroUsize,
        senders: &[Address],
    ) -> Result<ParallelReplay, ReplayError> {
        let (_, threads) = self.plan(Concurrency::Threads(threads), block);
        self.block_stm(block, chain, threads, Some(senders))
    }

    /// Block-STM with this engine's pool, options and code memory, recovering the senders
    /// unless `known_senders` gives them.
    fn block_stm(
        &self,
        block: &ArchivedBlock,
        chain: &ChainSpec,
        threads: usize,
        known_senders: Option<&[Address]>,
    ) -> Result<ParallelReplay, ReplayError> {
        block_stm::replay(
            &self.pool,
            self.block_stm,
            &self.creating_code,
            block,
            chain,
            threads,
            known_senders,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_dir::load_block_dir, fixtures::fixtures_dir};

    fn block(number: &str) -> ArchivedBlock {
        let dir = fixtures_dir()
            .unwrap_or_else(|e| panic!("{e}"))
            .join("mainnet")
            .join(number);
        load_block_dir(&dir, 1).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_worker_panic_is_an_error_not_a_hang() {
        let block = block("13217637");
        let chain = ChainSpec::mainnet();
        let mut engine = ParallelEngine::new(NonZeroUsize::new(2).unwrap()).unwrap();
        engine.block_stm.panic_at = Some(500);
        for threads in [1, 2] {
            let concurrency = Concurrency::Threads(NonZeroUsize::new(threads).unwrap());
            let err = engine
                .replay(&block, &chain, concurrency)
                .expect_err("must fail");
            let text = err.to_string();
            assert!(
                text.contains("worker thread panicked") && text.contains("injected fault"),
                "{text}"
            );
            assert!(
                matches!(
                    err,
                    ReplayError::Engine(EngineError::WorkerPanic {
                        number: 13217637,
                        ..
                    })
                ),
                "{err:?}"
            );
            assert!(err.is_engine_failure());
        }
        // The pool survives and the next block replays normally.
        engine.block_stm.panic_at = None;
        let ok = engine.replay(&block, &chain, Concurrency::Auto).unwrap();
        assert_eq!(ok.replay.transactions.len(), block.transactions().len());
    }

    #[test]
    fn an_empty_block_replays_as_the_sequential_replay_does_and_checks_the_senders_given() {
        // 19910734 holds no transaction; its replay is the beacon-root system call and the
        // withdrawals.
        let block = block("19910734");
        assert!(block.transactions().is_empty());
        let chain = ChainSpec::mainnet();
        let engine = ParallelEngine::new(NonZeroUsize::new(2).unwrap()).unwrap();
        let sequential = crate::sequential::replay_sequential(&block, &chain).unwrap();
        assert!(
            !sequential.state_changes.accounts.is_empty(),
            "withdrawals change state"
        );
        for threads in [1, 2] {
            let threads = NonZeroUsize::new(threads).unwrap();
            let par = engine
                .replay(&block, &chain, Concurrency::Threads(threads))
                .unwrap();
            assert_eq!((par.mode, par.threads), (Mode::BlockStm, threads.get()));
            assert_eq!(par.counters.executions, 0);
            assert!(par.traces.is_empty());
            let phases = par.phases.unwrap_or_default();
            assert_eq!(
                phases.total_us(),
                phases.finish_us,
                "all finish: {phases:?}"
            );
            assert_eq!(sequential.first_difference(&par.replay), None);
            let known = engine
                .replay_with_senders(&block, &chain, threads, &[])
                .unwrap();
            assert_eq!(sequential.first_difference(&known.replay), None);
            // Senders given for transactions the block does not hold are an invariant break.
            let err = engine
                .replay_with_senders(&block, &chain, threads, &[Address::ZERO])
                .expect_err("one sender for no transaction");
            assert!(
                err.to_string()
                    .contains("1 senders given for 0 transactions"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_storage_error_is_an_error_not_a_hang() {
        // Drop the ancestor hashes a BLOCKHASH-using block needs.
        let mut block = block("11114732");
        let needed = block.pre_state.block_hashes().len();
        assert!(needed > 0, "fixture uses BLOCKHASH");
        let mut pre = crate::pre_state::PreState::new();
        for (address, account) in block.pre_state.sorted_accounts() {
            pre.insert_account(*address, account.clone());
        }
        block.pre_state = pre;
        let engine = ParallelEngine::new(NonZeroUsize::new(2).unwrap()).unwrap();
        let concurrency = Concurrency::Threads(NonZeroUsize::new(2).unwrap());
        let err = engine
            .replay(&block, &ChainSpec::mainnet(), concurrency)
            .expect_err("must fail");
        assert!(err.to_string().contains("BLOCKHASH"), "{err}");
    }
}
