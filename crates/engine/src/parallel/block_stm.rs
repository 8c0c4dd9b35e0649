//! Block-STM with revm as the transaction executor: one block's replay from start to end.
//!
//! 1. The senders are recovered by the workers inside the worker loop (`senders.rs`): the
//!    workers on pool threads recover them before their first task while the calling
//!    thread executes in order (`executor.rs`, "Who executes first"), so that recovery,
//!    most of a replay's work, overlaps execution (on one thread, all first).
//! 2. alloy-evm's block executor, the one the oracle uses, applies the pre-block system calls
//!    (EIP-2935, EIP-4788) to the pre-state; what they changed is the *base state* every
//!    transaction reads beneath the multi-version memory.
//! 3. The worker loop (`executor.rs`) runs Block-STM over [`RevmTxExecutor`], whose every
//!    incarnation is one revm execution over the multi-version memory (`vm.rs`), on an EVM
//!    each worker builds once per block. A block that is one sender's chain runs on one
//!    worker when its senders are known (`hints::one_sender_chain`). A helper first starts
//!    the transactions whose calldata says they may run long (`early.rs`).
//! 4. The block's final state is folded from the last incarnations' write sets on the
//!    worker threads and diffed against the pre-state there (`final_state.rs`); the
//!    write-set self-check (`write_set_check.rs`) compares it with the multi-version
//!    memory's reads after the last transaction. The block executor's `State` reads it
//!    beneath its own cache from then on ([`FinalDb`]).
//! 5. The last incarnations' sets and then results are taken out of their slots, which
//!    are freed (`commit::take_results`), so that they never add to the receipts and
//!    traces at the replay's peak. The commit phase hands the results in order to the same
//!    block executor (receipts and gas), on the calling thread, after it merged the state
//!    changes (each share of them sorted by the fold), while the other threads build the
//!    traces (`commit.rs`) and then the caller joins them. A final incarnation (one that
//!    started on the committed prefix: every one on one thread) had its trace's read set
//!    and its logs' bloom built by its worker as it finished, while in its core's cache
//!    (`commit::Finalized`); every other receipt is committed with the empty bloom, and its
//!    bloom is computed from the committed logs on every thread and set afterwards
//!    (`receipts.rs`), so that the serial commit runs beside parallel work instead of after
//!    it. The block executor then applies the post-block rules over the final state; what
//!    they change joins the state changes.
//!
//! A block without transactions skips all of this: the in-order executor the sequential
//! replay shares applies its system calls and post-block rules ([`replay_empty`]).
//!
//! The calling thread times these steps as it goes ([`Phases`], in the result: set-up,
//! worker loop, fold, merge and commit beside the traces, the blooms left, finish), so
//! that where a replay's time goes is measured on every replay rather than by a
//! profiler's patch (`replay-evm-bench --phases`).

use std::{collections::BTreeMap, sync::OnceLock, time::Instant};

use alloy_consensus::TxEnvelope;
use alloy_evm::{
    Evm, EvmFactory,
    block::BlockExecutor,
    eth::{EthBlockExecutor, EthEvmFactory},
};
use alloy_primitives::Address;
use revm::database::State;

use super::{
    commit::{TRACE_CHUNK, Taken, commit_transactions, take_results, take_sets, trace_work},
    creators::CreatingCode,
    early::early_starts,
    executor,
    final_state::{FinalDb, Fold, final_state, sorted_changes, state_changes},
    hints::{DependencyHints, one_sender_chain},
    mv_memory::MvMemory,
    pool::WorkerPool,
    read_set::ChangedRead,
    receipts::{BloomedReceipts, fill_remaining_blooms},
    replay::{MAX_TXS, Mode, ParallelReplay, PhaseClock, Phases},
    scheduler::Counters,
    senders::Senders,
    threads::beside,
    tx_executor::{Interrupted, TxExecutor},
    vm::{BaseState, BlockContext, Execution, NewCodes, WorkerVm},
    write_set_check::check_final_state,
};
use crate::{
    access::{TxIdx, Version},
    block::ArchivedBlock,
    chain::{ChainSpec, Fork},
    error::{EngineError, ReplayError},
    sequential::{BlockReplay, Diff, execute_in_order},
    state_changes::AccountChange,
};

/// Written locations from which a block of fewer than two chunks of transactions
/// ([`TRACE_CHUNK`]) still shares its traces with the helpers, when they ran the loop: at
/// about 30 ns a location, 512 are some 15 us of traces, against a microsecond or two to
/// hand them to a helper that is still waiting.
const TRACE_WRITES: usize = 512;

/// How the engine asks for a Block-STM replay.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// Whether the write-set self-check runs on every block (see
    /// `ParallelEngine::with_write_set_check`).
    pub(crate) check_write_sets: bool,
    /// Test-only fault injection: the worker that executes this transaction panics.
    #[cfg(test)]
    pub(crate) panic_at: Option<crate::access::TxIdx>,
}

/// Replays `block` with Block-STM on `threads` threads (the caller and threads of `pool`),
/// recovering the senders first unless `known_senders` gives them.
///
/// # Errors
/// The same [`ReplayError`]s as the sequential replay, plus [`ReplayError::Engine`] when a
/// worker panics or an invariant breaks (the write-set check among them).
pub(crate) fn replay(
    pool: &WorkerPool,
    options: Options,
    creating_code: &CreatingCode,
    block: &ArchivedBlock,
    chain: &ChainSpec,
    threads: usize,
    known_senders: Option<&[Address]>,
) -> Result<ParallelReplay, ReplayError> {
    let mut clock = PhaseClock::start();
    let number = block.number();
    let fork = block.fork(chain);
    let txs = block.transactions();
    if txs.len() > MAX_TXS {
        return Err(EngineError::TooManyTransactions {
            number,
            count: txs.len(),
            max: MAX_TXS,
        }
        .into());
    }
    if let Some(senders) = known_senders {
        crate::sequential::check_senders(block, senders)?;
    }
    if txs.is_empty() {
        return replay_empty(block, chain, threads);
    }
    // Known senders (execution-only timing) are used as given; otherwise the workers recover
    // them as they execute.
    let senders = match known_senders {
        Some(senders) => Senders::Known(senders),
        None => Senders::recovering(block, fork, threads),
    };
    // A block that is one sender's chain runs on one worker when its senders are known
    // (`hints::one_sender_chain`): a second would mostly wait, on each transaction's hint,
    // for the one below it. The replay still reports the threads it was given.
    let given_threads = threads;
    let threads = match &senders {
        Senders::Known(known) if threads > 1 && one_sender_chain(txs, known) => 1,
        _ => threads,
    };
    let workers = executor::workers(threads, txs.len());
    // The helpers wake now, while the caller prepares the loop, so that they spin for it by
    // the time it is posted ("Woken ahead of a job" in `pool.rs`).
    pool.wake(workers - 1);

    // The executor's `State` reads the pre-state, and the block's final state over it once
    // the fold sets it (`final_state.rs`). No transitions: the state changes come from the
    // fold and the cache, and nobody reads transitions.
    let fold_cell = OnceLock::new();
    let mut state = State::builder()
        .with_database_ref(FinalDb::new(&block.pre_state, &fold_cell))
        .build();
    let env = crate::sequential::evm_env(block, chain);
    let (cfg, block_env) = (env.cfg_env.clone(), env.block_env.clone());
    let evm = EthEvmFactory::default().create_evm(&mut state, env);
    let ctx = crate::sequential::execution_ctx(block);
    let mut executor = EthBlockExecutor::new(evm, ctx, chain, BloomedReceipts::default());
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

    // At most about four written locations per transaction (sender balance and nonce, a
    // recipient; the beneficiary's fee credit is in its cell, below), of one account at
    // least (the sender's; a table reserved
    // for more than the block writes is memory held to the end, one that grows rehashes a
    // shard at a time).
    // The beneficiary's fee credits, one a transaction, in cells of their own (`fee_cells.rs`).
    let mv = MvMemory::with_capacity(4 * txs.len(), txs.len(), workers)
        .with_beneficiary(block_ctx.block.beneficiary, txs.len());
    // Beside another worker, an incarnation may run while a lower transaction writes what
    // it read: the write log lets it stop early (`write_log.rs`).
    let mv = if workers > 1 { mv.with_write_log() } else { mv };
    let revm_executor = RevmTxExecutor {
        ctx: &block_ctx,
        txs,
        senders: &senders,
        // One worker runs every transaction after the one below it: nothing to wait for.
        hints: (workers > 1)
            .then(|| DependencyHints::new(txs, &senders, &block.pre_state, creating_code)),
        #[cfg(test)]
        panic_at: options.panic_at,
    };
    let setup_us = clock.lap();
    let run = executor::run(pool, &revm_executor, &mv, txs.len(), threads, number);
    let loop_us = clock.lap();
    // A signature that does not recover is what the sequential replay, which recovers every
    // sender first, reports before anything else.
    let senders = senders
        .into_vec()
        .map_err(|source| ReplayError::Block { number, source })?;
    let (mut slots, counters) = run?;
    // Freeing a large block's multi-version memory takes milliseconds: another thread does
    // it while the fold goes on.
    let large = txs.len() >= 256;
    // The block's final state, folded from the write sets on the worker threads. Without the
    // self-check nothing reads the memory any more, so it is freed meanwhile.
    let invariant = |what| EngineError::Invariant { number, what };
    let fold = if options.check_write_sets {
        let fold = final_state(pool, threads, &block_ctx, &slots, (), false).map_err(invariant)?;
        check_final_state(&block_ctx, &mv, &slots, &fold.state).map_err(invariant)?;
        drop(mv);
        fold
    } else {
        final_state(pool, threads, &block_ctx, &slots, mv, large).map_err(invariant)?
    };
    let Fold {
        state: final_state,
        changes,
    } = fold;
    // The accounts the pre-block system calls loaded are in `State` already: what the
    // transactions wrote to them is committed there. Every other account `State` meets from
    // now on (the post-block rules), it loads from the fold.
    final_state.commit_loaded_to(
        block_ctx.base.overlay.keys(),
        &block_ctx,
        executor.evm_mut().db_mut(),
    );
    if fold_cell.set(final_state).is_err() {
        return Err(invariant("the final state was folded twice".into()).into());
    }
    let fold_us = clock.lap();
    // On the caller, the fold's state changes merged in order and the receipts committed in
    // order (both serial), while the other threads build the traces, which the caller then
    // joins. A receipt is committed with the bloom its transaction's worker built in the
    // loop, or none yet (`receipts.rs`). Helpers from two chunks of traces (65
    // transactions; they are awake, the loop just ended); 256 transactions before, which
    // left the caller alone with the traces of most mainnet blocks (see the fold's
    // threshold in `final_state.rs` for the measurement). A smaller block whose helpers
    // ran the loop shares its traces too, in two chunks a thread, from `TRACE_WRITES`
    // written locations: a few transactions that write thousands of accounts (2462997:
    // 9 transactions, 7,732 locations, a 2016 attack's empty accounts) otherwise left the
    // caller alone with the merge, the commit and the traces one after the other (2462997
    // at 2 threads, medians of 200 replays, six alternating runs of the two builds: the
    // merge 357-386 -> 190-204 us; end to end 2,656-2,712 -> 2,537-2,569 us).
    let Taken {
        sets,
        blooms: known_blooms,
        bloomed,
        writes,
    } = take_sets(&mut slots);
    let results = take_results(slots);
    let heavy = txs.len() <= TRACE_CHUNK
        && executor::workers(threads, txs.len()) > 1
        && writes >= TRACE_WRITES;
    let chunk = if heavy {
        txs.len().div_ceil(2 * threads).clamp(1, TRACE_CHUNK)
    } else {
        TRACE_CHUNK
    };
    let trace_work = trace_work(&sets, chunk);
    executor.receipt_builder.set_blooms(known_blooms);
    let helpers = if trace_work.count() >= 2 {
        threads.saturating_sub(1).min(trace_work.count())
    } else {
        0
    };
    let (changes, outcomes): (BTreeMap<Address, AccountChange>, _) = beside(
        pool,
        helpers,
        || {
            let changes = sorted_changes(changes);
            let outcomes = commit_transactions(&mut executor, results, &block_ctx, block, &senders);
            (changes, outcomes)
        },
        || trace_work.work(),
    );
    let traces = trace_work.into_results();
    let merge_traces_us = clock.lap();
    let outcomes = outcomes?;
    // The blooms the workers did not build, from the committed receipts' logs.
    fill_remaining_blooms(pool, threads, &mut executor.receipts, &bloomed).map_err(invariant)?;
    let receipts_us = clock.lap();
    let traces = traces
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| invariant("a transaction was committed without a trace".into()))?;
    let (_evm, result) = executor.finish().map_err(rule_error("post-block rules"))?;
    let fold = fold_cell
        .get()
        .ok_or_else(|| invariant("the final state was not folded".into()))?;
    let state_changes = state_changes(changes, fold, &state.cache, &block_ctx);
    let finish_us = clock.lap();
    Ok(ParallelReplay {
        replay: BlockReplay {
            number,
            fork,
            transactions: outcomes,
            receipts: result.receipts,
            gas_used: result.gas_used,
            state_changes,
            requests_hash: (fork >= Fork::Prague).then(|| result.requests.requests_hash()),
            ommer_rewards_applied: block.has_ommer_headers(),
            wall_us: clock.elapsed_us(),
        },
        threads: given_threads,
        mode: Mode::BlockStm,
        counters,
        phases: Some(Phases {
            setup_us,
            loop_us,
            fold_us,
            merge_traces_us,
            receipts_us,
            finish_us,
        }),
        traces,
    })
}

/// A block without transactions, replayed by the in-order executor the sequential replay
/// shares: its replay is the pre-block system calls and the post-block rules, and Block-STM
/// has nothing to schedule. Built around no transaction, the multi-version memory, the base
/// state's copy and the fold cost about a microsecond, an eighth of such a block's 7 us
/// sequential replay (mainnet 19910734, the slowest block of the twenty-sixth round's
/// second run at 0.88x).
fn replay_empty(
    block: &ArchivedBlock,
    chain: &ChainSpec,
    threads: usize,
) -> Result<ParallelReplay, ReplayError> {
    let number = block.number();
    let replay = execute_in_order(block, chain, Instant::now(), Diff::Cache, |index| {
        Err(EngineError::Invariant {
            number,
            what: format!("an empty block asked for the sender of transaction {index}"),
        }
        .into())
    })?;
    Ok(ParallelReplay {
        threads,
        mode: Mode::BlockStm,
        counters: Counters::default(),
        // No loop, fold or commit: the whole replay (system calls, post-block rules, state
        // changes) is its finish.
        phases: Some(Phases {
            finish_us: replay.wall_us,
            ..Phases::default()
        }),
        replay,
        traces: Vec::new(),
    })
}

/// The revm executor of Block-STM: one incarnation is one `WorkerVm::execute` on the
/// worker's own EVM.
struct RevmTxExecutor<'a> {
    ctx: &'a BlockContext<'a>,
    txs: &'a [TxEnvelope],
    senders: &'a Senders<'a>,
    /// The dependency hints (`TxExecutor::dependency_hint`); none on one thread.
    hints: Option<DependencyHints<'a>>,
    /// Test-only fault injection: executing this transaction panics.
    #[cfg(test)]
    panic_at: Option<crate::access::TxIdx>,
}

impl TxExecutor for RevmTxExecutor<'_> {
    type Output = Execution;
    type Scratch<'s>
        = WorkerVm<'s>
    where
        Self: 's;

    fn scratch<'s>(&'s self, mv: &'s MvMemory) -> WorkerVm<'s> {
        WorkerVm::new(self.ctx, mv)
    }

    fn execute<'s>(
        &'s self,
        vm: &mut WorkerVm<'s>,
        _: &'s MvMemory,
        version: Version,
    ) -> Result<Execution, Interrupted> {
        let tx = version.tx;
        #[cfg(test)]
        if self.panic_at == Some(tx) {
            injected_fault(tx);
        }
        let sender = match self.senders.get(tx) {
            Ok(sender) => sender,
            // The block fails with this error once the loop is done (see `replay`); the
            // transaction cannot execute meanwhile: an outcome that read and wrote nothing.
            Err(error) => {
                return Ok(Execution {
                    result: Err(error.to_string()),
                    reads: Default::default(),
                    writes: Vec::new(),
                    finalized: None,
                });
            }
        };
        let execution = vm.execute(tx, &self.txs[tx], sender)?;
        if let Some(hints) = &self.hints {
            hints.executed(tx, &execution.writes);
        }
        Ok(execution)
    }

    fn idle(&self) -> bool {
        self.senders.recover_ahead()
    }

    /// The largest calldata (`early.rs`).
    fn early_starts(&self, helpers: usize) -> Vec<TxIdx> {
        early_starts(self.txs, helpers)
    }

    /// The nearer of the same-sender and hot-recipient hints (`hints.rs`).
    fn dependency_hint(&self, tx: TxIdx) -> Option<TxIdx> {
        self.hints.as_ref()?.hint(tx)
    }

    fn conflicted(&self, tx: TxIdx, changed: ChangedRead) {
        if let Some(hints) = &self.hints {
            hints.conflicted(tx, changed);
        }
    }
}

/// Test-only fault injection: the worker executing transaction `tx` panics.
#[cfg(test)]
fn injected_fault(tx: crate::access::TxIdx) -> ! {
    panic!("injected fault in transaction {tx}")
}
