//! The parallel engine: a thread pool created once, the choice of mode, the Block-STM worker
//! loop and commit phase, and in-order mode.
//!
//! # Modes
//! [`Concurrency::Threads`] runs Block-STM; [`Concurrency::InOrder`] runs the oracle's
//! executor in order while helper threads recover senders ahead of it; the adaptive
//! concurrencies let the [`CostModel`] choose. In both modes the calling thread is one of
//! the workers (`in_place_scope`): it starts at once, while pool threads wake up, which on
//! small blocks costs more than the work (a 15-transaction block ran at 0.70x with the
//! executor on a pool thread, 1.61x on the caller).
//!
//! # Commit phase
//! When the scheduler is done, every transaction's last incarnation read exactly what a
//! sequential execution would have read (Block-STM's guarantee), so its revm state output
//! is the sequential one except for the lazy parts. The commit phase walks the
//! transactions in order and hands each output to alloy-evm's block executor, after adding
//! the lazy credits to the running balances: the beneficiary's fee, and a plain transfer's
//! value to its recipient. The executor builds the receipts and commits the state exactly as
//! it does for the sequential replay, then applies the post-block rules. The pre-block
//! system calls ran on the same executor before the transactions, and their writes form the
//! base state the transactions read. Its `State` records no transitions: the block's state
//! changes are read from the cache at the end (`StateChanges::from_cache`), which keeps
//! bookkeeping nobody reads off the serial path.

use std::{
    num::NonZeroUsize,
    panic::{AssertUnwindSafe, catch_unwind},
    time::Instant,
};

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_evm::{
    Evm, EvmFactory,
    block::{BlockExecutor, BlockValidationError},
    eth::{EthBlockExecutor, EthEvmFactory, EthTxResult, receipt_builder::AlloyReceiptBuilder},
};
use alloy_primitives::{Address, U256, map::AddressMap};
use revm::{Database, context::result::ResultAndState, database::State, state::Account};

use super::{
    executor::{self, Slot, TxExecutor, panic_message},
    mv_memory::{MvMemory, MvValue},
    scheduler::Counters,
    senders::SenderPipeline,
    vm::{self, BaseState, BlockContext, Execution, Interrupted, NewCodes},
};
use crate::{
    access::{Location, ReadOrigin, TxAccess, TxIdx, Version},
    block::ArchivedBlock,
    chain::{ChainSpec, Fork},
    error::{EngineError, ReplayError},
    sequential::{BlockReplay, Diff, TxOutcome, TxStatus, execute_in_order},
    state_changes::StateChanges,
};

/// How a block's replay uses the engine's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Block-STM on exactly this many worker threads (capped by the pool size), whatever the
    /// block: the engine under study, with per-transaction traces.
    Threads(NonZeroUsize),
    /// In-order execution on one thread while this many threads in all recover the senders
    /// (see [`Mode::InOrder`]); no traces.
    InOrder(NonZeroUsize),
    /// At most this many threads; the engine picks, per block, Block-STM or in-order
    /// execution, whichever is expected to be faster (see [`ParallelEngine::plan`]). This is
    /// the engine as a client would run it: it falls back rather than lose.
    Adaptive(NonZeroUsize),
    /// [`Concurrency::Adaptive`] over every pool thread.
    Auto,
}

/// How a block was replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Block-STM: optimistic execution over the multi-version memory, validation,
    /// re-execution, then the in-order commit phase.
    BlockStm,
    /// The transactions executed in order on one thread by the oracle's own executor,
    /// while the other threads recovered senders ahead of it (`parallel/senders.rs`). Sender
    /// recovery is most of a replay's work, and it is independent per transaction.
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

/// The cost model behind [`Concurrency::Adaptive`]: predicted wall time of each mode from
/// the block's transaction count (sender recovery) and gas used (execution), both known
/// before the replay (the gas from the archived header).
///
/// With `R` the recovery work, `E` the sequential execution work and `t` threads:
/// - in-order mode overlaps recovery with execution, so it takes `max(E, (R + E) / t)`;
/// - Block-STM recovers on `t` threads, then spends `k·E` of work (execution over the
///   multi-version memory, validation, commit), of which `c·E` is the serial commit phase:
///   `(R + (k − c)·E) / t + c·E`, before any re-execution.
///
/// Block-STM is chosen only when it is predicted at least `margin` faster, so that a doubt
/// falls back to in-order execution, which does the sequential replay's work with recovery
/// spread over the threads. The model only picks the mode: a wrong header gas (a corrupt
/// archive row) can make the replay slower, never different.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    /// Sender recovery, µs per transaction.
    pub recovery_us_per_tx: f64,
    /// Sequential execution, µs per million gas.
    pub execution_us_per_mgas: f64,
    /// Block-STM's work over the sequential execution's (`k`).
    pub block_stm_work: f64,
    /// The serial commit phase over the sequential execution (`c`).
    pub block_stm_serial: f64,
    /// Block-STM must be predicted faster than in-order by this factor (below 1).
    pub margin: f64,
}

impl CostModel {
    /// Measured on the 2-core development machine (see BENCHMARKS.md): recovery ~45 µs a
    /// transaction (secp256k1 public-key recovery and the signing hash); execution ~0.3 µs
    /// per thousand gas (amm-many-pools and the post-London mainnet blocks); Block-STM's
    /// execution and commit phases 1.75x the sequential execution, of which the commit phase
    /// alone is 0.6x.
    pub const MEASURED: Self = Self {
        recovery_us_per_tx: 45.0,
        execution_us_per_mgas: 300.0,
        block_stm_work: 1.75,
        block_stm_serial: 0.6,
        margin: 0.9,
    };

    /// Predicted wall time of in-order mode, in µs.
    pub fn in_order_us(&self, txs: usize, gas: u64, threads: usize) -> f64 {
        let (r, e) = self.work_us(txs, gas);
        e.max((r + e) / threads.max(1) as f64)
    }

    /// Predicted wall time of Block-STM without re-executions, in µs.
    pub fn block_stm_us(&self, txs: usize, gas: u64, threads: usize) -> f64 {
        let (r, e) = self.work_us(txs, gas);
        let parallel = r + (self.block_stm_work - self.block_stm_serial) * e;
        parallel / threads.max(1) as f64 + self.block_stm_serial * e
    }

    /// Whether Block-STM is predicted faster than in-order by the margin.
    pub fn block_stm_wins(&self, txs: usize, gas: u64, threads: usize) -> bool {
        txs > 1
            && self.block_stm_us(txs, gas, threads)
                < self.margin * self.in_order_us(txs, gas, threads)
    }

    fn work_us(&self, txs: usize, gas: u64) -> (f64, f64) {
        (
            txs as f64 * self.recovery_us_per_tx,
            gas as f64 / 1e6 * self.execution_us_per_mgas,
        )
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

/// The parallel engine. Its thread pool is created once and reused for every block.
#[derive(Debug)]
pub struct ParallelEngine {
    pool: rayon::ThreadPool,
    /// Whether every replay also checks its write sets against the sequential commit.
    check_write_sets: bool,
    /// Test-only fault injection: the worker that executes this transaction panics.
    #[cfg(test)]
    panic_at: Option<TxIdx>,
}

impl ParallelEngine {
    /// An engine with `threads` worker threads (at least one).
    ///
    /// # Errors
    /// [`ReplayError::Engine`] when the operating system refuses the threads.
    pub fn new(threads: NonZeroUsize) -> Result<Self, ReplayError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.get())
            .thread_name(|i| format!("replay-evm-worker-{i}"))
            .build()
            .map_err(|e| EngineError::ThreadsRefused(e.to_string()))?;
        Ok(Self {
            pool,
            check_write_sets: false,
            #[cfg(test)]
            panic_at: None,
        })
    }

    /// Turns on the write-set self-check: after the commit phase, every location any
    /// transaction wrote is read back from the multi-version memory and compared with the
    /// committed state, and a difference is a [`ReplayError::Engine`]. It proves the write-set
    /// extraction and the lazy credits on every block, at a cost of a few percent of a replay
    /// (on the serial path); the test suites run with it, measurements without.
    pub fn with_write_set_check(mut self, on: bool) -> Self {
        self.check_write_sets = on;
        self
    }

    /// Number of threads in the pool.
    pub fn max_threads(&self) -> usize {
        self.pool.current_num_threads()
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
            (Mode::BlockStm, threads) => self.replay_block_stm(block, chain, threads),
            (Mode::InOrder, threads) => self.replay_in_order(block, chain, threads),
        }
    }

    /// In-order execution by the oracle's executor on one thread, while `threads` threads
    /// in all (that one included) recover the senders.
    fn replay_in_order(
        &self,
        block: &ArchivedBlock,
        chain: &ChainSpec,
        threads: usize,
    ) -> Result<ParallelReplay, ReplayError> {
        let started = Instant::now();
        let number = block.number();
        let txs = block.transactions().len();
        let pipeline = SenderPipeline::new(block, block.fork(chain));
        let run = || {
            execute_in_order(block, chain, started, Diff::Cache, |index| {
                pipeline
                    .sender(index)
                    .map_err(|source| ReplayError::Block { number, source })
            })
            // The sequential replay recovers every sender before it executes anything, so a
            // bad signature anywhere is the error it reports first.
            .map_err(|error| match pipeline.first_error() {
                Some(source) => ReplayError::Block { number, source },
                None => error,
            })
        };
        // The executor is the calling thread, whose caches hold the block; the helpers are
        // pool threads, and start recovering as soon as they wake.
        let replay = match self
            .with_recovery_helpers(&pipeline, threads, || catch_unwind(AssertUnwindSafe(run)))
        {
            Ok(replay) => replay?,
            Err(panic) => {
                return Err(EngineError::WorkerPanic {
                    number,
                    thread: "the in-order executor",
                    message: panic_message(panic.as_ref()),
                }
                .into());
            }
        };
        let counters = Counters {
            executions: txs as u64,
            ..Counters::default()
        };
        Ok(ParallelReplay {
            replay,
            threads,
            mode: Mode::InOrder,
            counters,
            traces: Vec::new(),
        })
    }

    /// Replays `block` with Block-STM on `threads` worker threads.
    fn replay_block_stm(
        &self,
        block: &ArchivedBlock,
        chain: &ChainSpec,
        threads: usize,
    ) -> Result<ParallelReplay, ReplayError> {
        let started = Instant::now();
        let header = block.header();
        let number = header.number;
        let fork = block.fork(chain);
        let txs = block.transactions();
        let senders = self.recover_senders(block, fork, threads)?;

        // No transitions: the commit phase is serial, and the state changes come from the
        // cache (`StateChanges::from_cache`, as in in-order mode).
        let mut state = State::builder().with_database_ref(&block.pre_state).build();
        let env = crate::sequential::evm_env(block, chain);
        let (cfg, block_env) = (env.cfg_env.clone(), env.block_env.clone());
        let evm = EthEvmFactory::default().create_evm(&mut state, env);
        let ctx = crate::sequential::execution_ctx(block);
        let mut executor = EthBlockExecutor::new(evm, ctx, chain, AlloyReceiptBuilder::default());
        let rule_error = |stage| crate::sequential::rule_error(number, stage);
        executor
            .apply_pre_execution_changes()
            .map_err(rule_error("pre-block system calls"))?;

        // The base state: pre-state plus what the system calls changed.
        let overlay = executor
            .evm_mut()
            .db_mut()
            .cache
            .accounts
            .iter()
            .map(|(address, cached)| {
                let info = cached.account.as_ref().map(|a| a.info.clone());
                let storage = cached
                    .account
                    .as_ref()
                    .map(|a| a.storage.clone())
                    .unwrap_or_default();
                (*address, (info, storage.into_iter().collect()))
            })
            .collect();
        let block_ctx = BlockContext {
            base: BaseState {
                pre: &block.pre_state,
                overlay,
            },
            cfg,
            block: block_env,
            codes: NewCodes::default(),
        };

        let mv = MvMemory::new();
        let revm_executor = RevmTxExecutor {
            ctx: &block_ctx,
            txs,
            senders: &senders,
            #[cfg(test)]
            panic_at: self.panic_at,
        };
        let (slots, counters) =
            executor::run(&self.pool, &revm_executor, &mv, txs.len(), threads, number)?;
        let written: Vec<Location> = if self.check_write_sets {
            let mut all: Vec<Location> = slots
                .iter()
                .flat_map(|slot| slot.write_locations.iter().copied())
                .collect();
            all.sort_unstable();
            all.dedup();
            all
        } else {
            Vec::new()
        };

        // Commit phase, in transaction order.
        let beneficiary = block_ctx.block.beneficiary;
        let mut outcomes = Vec::with_capacity(txs.len());
        let mut traces = Vec::with_capacity(txs.len());
        let mut cumulative_gas = 0u64;
        for (index, ((slot, tx), sender)) in slots.into_iter().zip(txs).zip(&senders).enumerate() {
            let Slot {
                output: execution,
                executions,
                exec_us,
                ..
            } = slot;
            let Some(execution) = execution else {
                return Err(EngineError::Invariant {
                    number,
                    what: format!("transaction {index} was never executed"),
                }
                .into());
            };
            let invalid = |reason: String| ReplayError::InvalidTransaction {
                number,
                index,
                hash: *tx.tx_hash(),
                reason,
            };
            // The block's gas limit is checked before the transaction's own validity, as the
            // oracle's executor does.
            let available = header.gas_limit.saturating_sub(cumulative_gas);
            let cap = revm::context::Cfg::tx_gas_limit_cap(&block_ctx.cfg);
            if tx.gas_limit().min(cap) > available {
                return Err(invalid(
                    BlockValidationError::TransactionGasLimitMoreThanAvailableBlockGas {
                        transaction_gas_limit: tx.gas_limit(),
                        block_available_gas: available,
                    }
                    .to_string(),
                ));
            }
            traces.push(trace(index, &execution, executions, exec_us));
            let Execution {
                result,
                state: mut evm_state,
                ..
            } = execution;
            let result = result.map_err(invalid)?;
            let db = executor.evm_mut().db_mut();
            materialise_credits(
                db,
                &mut evm_state,
                execution.lazy_recipient,
                beneficiary,
                execution.fee,
            )
            .map_err(|e| EngineError::Invariant {
                number,
                what: format!("the commit phase could not read the state: {e}"),
            })?;
            outcomes.push(TxOutcome {
                hash: *tx.tx_hash(),
                sender: *sender,
                status: TxStatus::of(&result),
                gas_used: 0,
                logs: result.logs().len(),
            });
            let gas = executor.commit_transaction(EthTxResult {
                result: ResultAndState::new(result, evm_state),
                blob_gas_used: tx.blob_gas_used().unwrap_or_default(),
                tx_type: tx.tx_type(),
            });
            cumulative_gas += gas.tx_gas_used();
            if let Some(outcome) = outcomes.last_mut() {
                outcome.gas_used = gas.tx_gas_used();
            }
        }
        // Every location the transactions wrote must read, in the multi-version memory after
        // the last transaction, what the committed state holds: this checks the write sets
        // (and the lazy credits) against the sequential commit.
        check_final_state(
            &block_ctx,
            &mv,
            txs.len(),
            &written,
            executor.evm_mut().db_mut(),
        )
        .map_err(|what| EngineError::Invariant { number, what })?;
        let (_evm, result) = executor.finish().map_err(rule_error("post-block rules"))?;
        Ok(ParallelReplay {
            replay: BlockReplay {
                number,
                fork,
                transactions: outcomes,
                receipts: result.receipts,
                gas_used: result.gas_used,
                state_changes: StateChanges::from_cache(&state.cache, &block.pre_state),
                requests_hash: (fork >= Fork::Prague).then(|| result.requests.requests_hash()),
                ommer_rewards_applied: block.has_ommer_headers(),
                wall_us: started.elapsed().as_micros() as u64,
            },
            threads,
            mode: Mode::BlockStm,
            counters,
            traces,
        })
    }

    /// Recovers every sender on `threads` threads (the caller and pool threads), each
    /// claiming the next unrecovered transaction, so that a pool thread that wakes late
    /// leaves no chunk behind.
    fn recover_senders(
        &self,
        block: &ArchivedBlock,
        fork: Fork,
        threads: usize,
    ) -> Result<Vec<Address>, ReplayError> {
        let number = block.number();
        let pipeline = SenderPipeline::new(block, fork);
        self.with_recovery_helpers(&pipeline, threads, || pipeline.help());
        pipeline
            .into_senders()
            .map_err(|source| ReplayError::Block { number, source })
    }

    /// Runs `work` on the calling thread while pool threads help `pipeline` recover senders:
    /// `threads` threads in all, but no more helpers than there are other transactions.
    fn with_recovery_helpers<R>(
        &self,
        pipeline: &SenderPipeline<'_>,
        threads: usize,
        work: impl FnOnce() -> R,
    ) -> R {
        let helpers = threads
            .saturating_sub(1)
            .min(pipeline.len().saturating_sub(1));
        if helpers == 0 {
            return work();
        }
        self.pool.in_place_scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(|_| pipeline.help());
            }
            work()
        })
    }
}

/// The revm executor of Block-STM: one incarnation is one `vm::execute`.
struct RevmTxExecutor<'a> {
    ctx: &'a BlockContext<'a>,
    txs: &'a [TxEnvelope],
    senders: &'a [Address],
    /// Test-only fault injection: executing this transaction panics.
    #[cfg(test)]
    panic_at: Option<TxIdx>,
}

impl TxExecutor for RevmTxExecutor<'_> {
    type Output = Execution;

    fn execute(&self, mv: &MvMemory, version: Version) -> Result<Execution, Interrupted> {
        let tx = version.tx;
        #[cfg(test)]
        if self.panic_at == Some(tx) {
            panic!("injected fault in transaction {tx}");
        }
        vm::execute(self.ctx, mv, tx, &self.txs[tx], self.senders[tx])
    }
}

fn trace(index: TxIdx, execution: &Execution, incarnations: u32, exec_us: u64) -> TxTrace {
    let mut writes = Vec::new();
    let mut credits = Vec::new();
    for (location, value) in &execution.writes {
        if matches!(value, MvValue::BalanceCredit(_)) {
            credits.push(*location);
        } else {
            writes.push(*location);
        }
    }
    // revm's state output is a hash map: sort for a deterministic trace.
    writes.sort_unstable();
    credits.sort_unstable();
    TxTrace {
        index,
        reads: execution
            .reads
            .iter()
            .map(|(location, observed)| {
                (
                    *location,
                    observed
                        .writer()
                        .map_or(ReadOrigin::PreState, ReadOrigin::Tx),
                )
            })
            .collect(),
        writes,
        credits,
        incarnations,
        exec_us,
    }
}

/// Compares, location by location, the multi-version memory as a transaction after the last
/// would read it with the committed state.
fn check_final_state<DB: Database>(
    ctx: &BlockContext<'_>,
    mv: &MvMemory,
    n: usize,
    written: &[Location],
    state: &mut DB,
) -> Result<(), String> {
    let mut reader = vm::VmDb::reader(n, mv, &ctx.base, &ctx.codes);
    let mut committed_infos: AddressMap<Option<revm::state::AccountInfo>> = AddressMap::default();
    let db_error = |e: DB::Error| format!("final-state check: state read failed: {e}");
    for location in written {
        let address = location.address();
        let mismatch = |what: &str, parallel: String, sequential: String| {
            Err(format!(
                "write set disagrees with the sequential commit at {location:?}: {what} is \
                 {parallel} in parallel, {sequential} sequentially"
            ))
        };
        let exists = reader.exists(address).map_err(|e| e.to_string())?;
        let committed = match committed_infos.get(&address) {
            Some(info) => info.clone(),
            None => {
                let info = state.basic(address).map_err(db_error)?;
                committed_infos.insert(address, info.clone());
                info
            }
        };
        let Some(info) = committed else {
            if exists {
                return mismatch("existence", "true".into(), "false".into());
            }
            continue;
        };
        if !exists {
            return mismatch("existence", "false".into(), "true".into());
        }
        match location {
            Location::Existence(_) => {}
            Location::Balance(_) => {
                let balance = reader.balance(address).map_err(|e| e.to_string())?;
                if balance != info.balance {
                    return mismatch("balance", balance.to_string(), info.balance.to_string());
                }
            }
            Location::Nonce(_) => {
                let nonce = reader.nonce(address).map_err(|e| e.to_string())?;
                if nonce != info.nonce {
                    return mismatch("nonce", nonce.to_string(), info.nonce.to_string());
                }
            }
            Location::Code(_) => {
                let (hash, _) = reader.code(address).map_err(|e| e.to_string())?;
                if hash != info.code_hash {
                    return mismatch("code hash", hash.to_string(), info.code_hash.to_string());
                }
            }
            Location::Storage(_, slot) => {
                let value = reader.storage(address, *slot).map_err(|e| e.to_string())?;
                let committed = state.storage(address, *slot).map_err(db_error)?;
                if value != committed {
                    return mismatch("storage", value.to_string(), committed.to_string());
                }
            }
        }
    }
    Ok(())
}

/// Adds the lazy credits of one transaction to the running state before it is committed:
/// the recipient's received value on top of its current balance, and the beneficiary's fee
/// (touching it, as revm's `reward_beneficiary` does).
fn materialise_credits<DB: Database>(
    db: &mut DB,
    evm_state: &mut AddressMap<Account>,
    lazy_recipient: Option<Address>,
    beneficiary: Address,
    fee: U256,
) -> Result<(), DB::Error> {
    // The state commit needs every account it changes loaded first, as sequential
    // execution would have loaded it.
    for address in evm_state.keys() {
        db.basic(*address)?;
    }
    if let Some(recipient) = lazy_recipient {
        let current = db.basic(recipient)?.map(|i| i.balance).unwrap_or_default();
        if let Some(account) = evm_state.get_mut(&recipient) {
            account.info.balance = current + account.info.balance;
        }
    }
    match evm_state.get_mut(&beneficiary) {
        Some(account) if account.is_touched() => account.info.balance += fee,
        _ => {
            let mut account = match db.basic(beneficiary)? {
                Some(info) => Account::from(info),
                None => Account::new_not_existing(Default::default()),
            };
            account.info.balance += fee;
            account.mark_touch();
            evm_state.insert(beneficiary, account);
        }
    }
    Ok(())
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
        engine.panic_at = Some(500);
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
        engine.panic_at = None;
        let ok = engine.replay(&block, &chain, Concurrency::Auto).unwrap();
        assert_eq!(ok.replay.transactions.len(), block.transactions().len());
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
