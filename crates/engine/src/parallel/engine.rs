//! The parallel engine: a thread pool created once, the Block-STM worker loop, and the
//! commit phase.
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
//! base state the transactions read.

use std::{
    num::NonZeroUsize,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Instant,
};

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_evm::{
    Evm, EvmFactory,
    block::{BlockExecutor, BlockValidationError},
    eth::{EthBlockExecutor, EthEvmFactory, EthTxResult, receipt_builder::AlloyReceiptBuilder},
};
use alloy_primitives::{Address, U256, map::AddressMap};
use revm::{
    Database,
    context::result::ResultAndState,
    database::{State, states::bundle_state::BundleRetention},
    state::Account,
};

use super::{
    mv_memory::{MvMemory, MvValue},
    scheduler::{Counters, Scheduler, Task},
    vm::{self, BaseState, BlockContext, Execution, NewCodes, VmReadError},
};
use crate::{
    access::{Location, ReadOrigin, TxAccess, TxIdx, Version},
    block::ArchivedBlock,
    chain::ChainSpec,
    error::ReplayError,
    sequential::{BlockReplay, TxOutcome, TxStatus},
    state_changes::StateChanges,
};

/// How many threads a block's parallel replay uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// The engine decides: every pool thread, or one (in-order execution, no scheduling
    /// waste) for blocks too small to pay for parallelism.
    Auto,
    /// Exactly this many worker threads (capped by the pool size).
    Threads(NonZeroUsize),
}

/// Blocks with fewer transactions than this run on one thread under [`Concurrency::Auto`].
const MIN_TXS_FOR_PARALLEL: usize = 4;

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
    /// Number of executions (1 when never re-executed).
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
    /// Worker threads used.
    pub threads: usize,
    /// Block-STM's counters.
    pub counters: Counters,
    /// Per-transaction traces.
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

/// Slot of one transaction's latest incarnation.
#[derive(Default)]
struct Slot {
    execution: Option<Execution>,
    incarnation: u32,
    write_locations: Vec<Location>,
    exec_us: u64,
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
            .map_err(|e| ReplayError::Engine(format!("cannot start worker threads: {e}")))?;
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

    fn threads_for(&self, concurrency: Concurrency, txs: usize) -> usize {
        match concurrency {
            Concurrency::Threads(n) => n.get().min(self.max_threads()),
            Concurrency::Auto if txs < MIN_TXS_FOR_PARALLEL => 1,
            Concurrency::Auto => self.max_threads(),
        }
    }

    /// Replays `block` with Block-STM.
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
        let started = Instant::now();
        let header = block.header();
        let number = header.number;
        let fork = block.fork(chain);
        let txs = block.transactions();
        let threads = self.threads_for(concurrency, txs.len());
        let senders = self.recover_senders(block, fork, threads)?;

        let mut state = State::builder()
            .with_database_ref(&block.pre_state)
            .with_bundle_update()
            .build();
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
        let (slots, counters) =
            self.run_block_stm(&block_ctx, &mv, txs, &senders, threads, number)?;
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
                execution,
                incarnation,
                exec_us,
                ..
            } = slot;
            let Some(execution) = execution else {
                return Err(ReplayError::Engine(format!(
                    "block {number}: transaction {index} was never executed (scheduler bug)"
                )));
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
            let result = execution.result.clone().map_err(invalid)?;
            traces.push(trace(index, &execution, incarnation + 1, exec_us));
            let mut evm_state = execution.state;
            let db = executor.evm_mut().db_mut();
            materialise_credits(
                db,
                &mut evm_state,
                execution.lazy_recipient,
                beneficiary,
                execution.fee,
            )
            .map_err(|e| ReplayError::Engine(format!("block {number}: commit: {e}")))?;
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
        .map_err(|e| ReplayError::Engine(format!("block {number}: {e}")))?;
        let (_evm, result) = executor.finish().map_err(rule_error("post-block rules"))?;
        state.merge_transitions(BundleRetention::PlainState);
        let bundle = state.take_bundle();
        Ok(ParallelReplay {
            replay: BlockReplay {
                number,
                fork,
                transactions: outcomes,
                receipts: result.receipts,
                gas_used: result.gas_used,
                state_changes: StateChanges::from_bundle(&bundle, &block.pre_state),
                ommer_rewards_applied: block.has_ommer_headers(),
                wall_us: started.elapsed().as_micros() as u64,
            },
            threads,
            counters,
            traces,
        })
    }

    /// Recovers the senders on `threads` of the pool's threads, in contiguous chunks
    /// (recovery is independent per transaction).
    fn recover_senders(
        &self,
        block: &ArchivedBlock,
        fork: crate::chain::Fork,
        threads: usize,
    ) -> Result<Vec<Address>, ReplayError> {
        let n = block.transactions().len();
        let number = block.number();
        if threads <= 1 || n < 2 {
            return block
                .recover_senders(fork)
                .map_err(|source| ReplayError::Block { number, source });
        }
        let chunk = n.div_ceil(threads);
        let mut parts: Vec<Result<Vec<Address>, crate::error::BlockError>> = Vec::new();
        parts.resize_with(threads, || Ok(Vec::new()));
        self.pool.scope(|scope| {
            for (t, part) in parts.iter_mut().enumerate() {
                scope.spawn(move |_| {
                    let range = (t * chunk).min(n)..((t + 1) * chunk).min(n);
                    *part = range.map(|i| block.recover_sender(i, fork)).collect();
                });
            }
        });
        let mut senders = Vec::with_capacity(n);
        for part in parts {
            senders.extend(part.map_err(|source| ReplayError::Block { number, source })?);
        }
        Ok(senders)
    }

    /// Runs the Block-STM workers until every transaction is executed and validated.
    fn run_block_stm(
        &self,
        ctx: &BlockContext<'_>,
        mv: &MvMemory,
        txs: &[TxEnvelope],
        senders: &[Address],
        threads: usize,
        number: u64,
    ) -> Result<(Vec<Slot>, Counters), ReplayError> {
        let n = txs.len();
        let scheduler = Scheduler::new(n);
        let slots: Vec<Mutex<Slot>> = (0..n).map(|_| Mutex::new(Slot::default())).collect();
        let failure: Mutex<Option<ReplayError>> = Mutex::new(None);
        let stats = [
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
        ];
        let fail = |error: ReplayError| {
            let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(error);
            scheduler.halt();
        };
        let worker = Worker {
            #[cfg(test)]
            panic_at: self.panic_at,
            ctx,
            txs,
            senders,
            mv,
            scheduler: &scheduler,
            slots: &slots,
            stats: &stats,
            number,
        };
        self.pool.scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|_| {
                    let outcome = catch_unwind(AssertUnwindSafe(|| worker.run()));
                    match outcome {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => fail(error),
                        Err(panic) => {
                            let message = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                .unwrap_or_else(|| "unknown panic".to_owned());
                            fail(ReplayError::Engine(format!(
                                "block {number}: a worker thread panicked: {message}"
                            )));
                        }
                    }
                });
            }
        });
        if let Some(error) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(error);
        }
        let counters = Counters {
            executions: stats[0].load(Relaxed),
            validations: stats[1].load(Relaxed),
            aborts: stats[2].load(Relaxed),
            suspensions: stats[3].load(Relaxed),
        };
        let slots = slots
            .into_iter()
            .map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner()))
            .collect();
        Ok((slots, counters))
    }
}

/// What every worker thread shares. The statistics are `Relaxed`: they are only read after
/// the pool's scope has joined every worker, which orders all their updates before the read.
struct Worker<'a> {
    #[cfg(test)]
    panic_at: Option<TxIdx>,
    ctx: &'a BlockContext<'a>,
    txs: &'a [TxEnvelope],
    senders: &'a [Address],
    mv: &'a MvMemory,
    scheduler: &'a Scheduler,
    slots: &'a [Mutex<Slot>],
    stats: &'a [AtomicU64; 4],
    number: u64,
}

impl Worker<'_> {
    fn run(&self) -> Result<(), ReplayError> {
        let mut task = None;
        while !self.scheduler.done() {
            task = match task.take().or_else(|| self.scheduler.next_task()) {
                Some(Task::Execution(version)) => self.execute(version)?,
                Some(Task::Validation(version)) => self.validate(version),
                None => {
                    std::thread::yield_now();
                    None
                }
            };
        }
        Ok(())
    }

    fn execute(&self, version: Version) -> Result<Option<Task>, ReplayError> {
        let tx = version.tx;
        #[cfg(test)]
        if self.panic_at == Some(tx) {
            panic!("injected fault in transaction {tx}");
        }
        loop {
            let started = Instant::now();
            match vm::execute(self.ctx, self.mv, tx, &self.txs[tx], self.senders[tx]) {
                Err(VmReadError::Blocked(blocking)) => {
                    self.stats[3].fetch_add(1, Relaxed);
                    if self.scheduler.add_dependency(tx, blocking) {
                        return Ok(None);
                    }
                }
                Err(VmReadError::PreState(e)) => {
                    return Err(ReplayError::InvalidTransaction {
                        number: self.number,
                        index: tx,
                        hash: *self.txs[tx].tx_hash(),
                        reason: e.to_string(),
                    });
                }
                Ok(execution) => {
                    self.stats[0].fetch_add(1, Relaxed);
                    let exec_us = started.elapsed().as_micros() as u64;
                    let locations: Vec<Location> =
                        execution.writes.iter().map(|(l, _)| *l).collect();
                    let mut slot = self.slots[tx].lock().unwrap_or_else(|p| p.into_inner());
                    let wrote_new =
                        self.mv
                            .record(version, &execution.writes, &slot.write_locations);
                    *slot = Slot {
                        execution: Some(execution),
                        incarnation: version.incarnation,
                        write_locations: locations,
                        exec_us,
                    };
                    drop(slot);
                    return Ok(self.scheduler.finish_execution(version, wrote_new));
                }
            }
        }
    }

    fn validate(&self, version: Version) -> Option<Task> {
        self.stats[1].fetch_add(1, Relaxed);
        let slot = self.slots[version.tx]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let valid = slot.execution.as_ref().is_some_and(|execution| {
            execution.reads.iter().all(|(location, observed)| {
                self.mv.observe(location, version.tx).as_ref() == Some(observed)
            })
        });
        let aborted = !valid && self.scheduler.try_validation_abort(version);
        if aborted {
            self.stats[2].fetch_add(1, Relaxed);
            self.mv.mark_estimates(version.tx, &slot.write_locations);
        }
        drop(slot);
        self.scheduler.finish_validation(version.tx, aborted)
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
