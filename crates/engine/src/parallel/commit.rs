//! Block-STM's commit phase: the last incarnations committed in transaction order.
//!
//! When the scheduler is done, every transaction's last incarnation read exactly what a
//! sequential execution would have read (Block-STM's guarantee), so its result (status,
//! gas, logs) is the sequential one. The commit phase walks the transactions in order,
//! checks each against the block's remaining gas and its own validity as the oracle's
//! executor does, and hands each result to alloy-evm's block executor, which builds the
//! receipts exactly as it does for the sequential replay. The state is not committed here
//! per transaction: the block's final state is folded from the write sets
//! (`final_state.rs`), and the executor's `State` reads it when the caller (`block_stm.rs`)
//! applies the post-block rules.
//!
//! Every transaction also yields its [`TxTrace`]: the read set and write set of its last
//! incarnation, built on the worker threads ([`trace_work`]).

use alloy_consensus::{Transaction, TxEnvelope, TxType};
use alloy_evm::{
    block::{BlockExecutor, BlockValidationError},
    eth::EthTxResult,
};
use alloy_primitives::{Address, Bloom};
use revm::context::result::{ExecutionResult, HaltReason, ResultAndState};

use std::sync::Mutex;

use super::{
    executor::LastIncarnations,
    mv_memory::MvValue,
    read_set::ReadSet,
    receipts::Blooms,
    replay::{TraceReads, TxTrace},
    threads::{Chunks, lock},
    vm::{BlockContext, Execution},
};
use crate::{
    access::{Location, TxIdx, sort_locations},
    block::ArchivedBlock,
    error::{EngineError, ReplayError},
    sequential::{TxOutcome, TxStatus},
};

/// One transaction's result, taken out of its slot for the commit: `None` when it was never
/// executed (an engine bug the commit reports).
pub(crate) type TxResult = Option<Result<ExecutionResult, String>>;

/// What the commit needs of a final incarnation besides its result, built by the worker
/// that ran it (`IncarnationOutput::finalize`) while its read set and logs were in that
/// core's cache: after the worker loop they are read back cold, and on one thread, where
/// every incarnation is final, that cost more than the work itself. The trace's write sets
/// are built after the loop as for any other transaction: the write set stays until then
/// (the block's final state is folded from it), and a copy of its locations held from the
/// loop on would raise the replay's peak memory.
#[derive(Debug)]
pub(crate) struct Finalized {
    /// The trace's read set (the incarnation's own is freed).
    pub(crate) reads: TraceReads,
    /// The logs' bloom, or that it is left to the units shared after the loop.
    pub(crate) bloom: FinalBloom,
}

/// A final incarnation's bloom, as its worker left it.
#[derive(Debug)]
pub(crate) enum FinalBloom {
    /// Built (`receipts::bloom_of`: `None` without logs).
    Built(Option<Box<Bloom>>),
    /// Left to the units every thread shares after the loop (`receipts::bloom_shared`):
    /// too many logs for one worker to build alone.
    Shared,
}

/// One transaction's read set, write set and execution counts, taken out of its slot for
/// its trace, with the trace's read set instead when its worker built it already.
pub(crate) type Sets = Mutex<Option<TraceSets>>;

/// What one transaction's trace is built from.
#[derive(Debug)]
pub(crate) struct TraceSets {
    /// Its last incarnation's read set, or the trace's.
    input: TraceInput,
    /// Its last incarnation's write set.
    writes: Vec<(Location, MvValue)>,
    /// Its completed executions.
    executions: u32,
    /// Its last execution's wall time, in microseconds.
    exec_us: u64,
}

/// Where a trace's read set comes from.
#[derive(Debug)]
pub(crate) enum TraceInput {
    /// The incarnation's read set.
    Reads(ReadSet),
    /// The trace's, built by the incarnation's worker ([`Finalized`]).
    Traced(TraceReads),
}

/// What [`take_sets`] takes out of the slots.
pub(crate) struct Taken {
    /// Every transaction's sets (`None` for one never executed).
    pub(crate) sets: Vec<Sets>,
    /// The blooms the workers built, by transaction index, ascending.
    pub(crate) blooms: Blooms,
    /// Whether transaction `i`'s bloom is known already (in `blooms`, or empty).
    pub(crate) bloomed: Vec<bool>,
    /// The write sets' locations, all transactions together: how much work the traces are.
    pub(crate) writes: usize,
}

/// Takes every transaction's read set, write set, execution counts and what its worker
/// finalized out of its slot, leaving its result for [`take_results`].
pub(crate) fn take_sets(slots: &mut LastIncarnations<Execution>) -> Taken {
    let mut blooms = Blooms::new();
    let mut bloomed = Vec::with_capacity(slots.len());
    let mut writes = 0;
    let sets = slots
        .iter_mut()
        .enumerate()
        .map(|(index, slot)| {
            let mut known = false;
            let sets = slot.output.as_mut().map(|execution| {
                let input = match execution.finalized.take() {
                    Some(finalized) => {
                        let Finalized { reads, bloom } = *finalized;
                        known = matches!(bloom, FinalBloom::Built(_));
                        if let FinalBloom::Built(Some(bloom)) = bloom {
                            blooms.push((index, *bloom));
                        }
                        TraceInput::Traced(reads)
                    }
                    None => TraceInput::Reads(std::mem::take(&mut execution.reads)),
                };
                writes += execution.writes.len();
                TraceSets {
                    input,
                    writes: std::mem::take(&mut execution.writes),
                    executions: slot.executions,
                    exec_us: slot.exec_us,
                }
            });
            bloomed.push(known);
            Mutex::new(sets)
        })
        .collect();
    Taken {
        sets,
        blooms,
        bloomed,
        writes,
    }
}

/// Takes every transaction's result out of its slot, after [`take_sets`], and frees the
/// slots: their array would otherwise be held beside the receipts and traces, which the
/// commit builds next, at the replay's peak. The results are taken last because the sets'
/// pass frees what the workers finalized (their boxes) first, which the results would
/// otherwise be held beside.
pub(crate) fn take_results(slots: LastIncarnations<Execution>) -> Vec<TxResult> {
    slots
        .into_iter()
        .map(|slot| slot.output.map(|execution| execution.result))
        .collect()
}

/// Transactions a chunk of [`trace_work`] at most.
pub(crate) const TRACE_CHUNK: usize = 64;

/// Every transaction's trace from its `sets` (taken by [`take_sets`]), as work any thread
/// can share, `chunk` transactions a chunk; `None` for a transaction never executed. Each
/// read set is freed as soon as its trace is built.
pub(crate) fn trace_work(sets: &[Sets], chunk: usize) -> Chunks<'_, Option<TxTrace>> {
    Chunks::new(sets.len(), chunk, move |index| {
        let sets = lock(&sets[index]).take();
        sets.map(|sets| {
            let reads = match sets.input {
                TraceInput::Reads(reads) => TraceReads::of(&reads),
                TraceInput::Traced(reads) => reads,
            };
            trace(index, reads, sets.writes, sets.executions, sets.exec_us)
        })
    })
}

/// Commits every transaction's result, in order, through `executor` (alloy-evm's block
/// executor, its pre-block system calls already applied): the receipts and gas, not the
/// state (see the module docs). Returns each transaction's outcome.
///
/// # Errors
/// [`ReplayError::InvalidTransaction`] for the first transaction that is invalid against the
/// state it read or exceeds the block's remaining gas, as the sequential replay reports it;
/// [`ReplayError::Engine`] when a transaction was never executed (an engine bug).
pub(crate) fn commit_transactions<X>(
    executor: &mut X,
    results: Vec<TxResult>,
    block_ctx: &BlockContext<'_>,
    block: &ArchivedBlock,
    senders: &[Address],
) -> Result<Vec<TxOutcome>, ReplayError>
where
    X: BlockExecutor<Result = EthTxResult<HaltReason, TxType>>,
{
    let header = block.header();
    let number = header.number;
    let txs: &[TxEnvelope] = block.transactions();
    let mut outcomes = Vec::with_capacity(txs.len());
    let mut cumulative_gas = 0u64;
    for (index, ((result, tx), sender)) in results.into_iter().zip(txs).zip(senders).enumerate() {
        let Some(result) = result else {
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
        let result = result.map_err(invalid)?;
        let (status, logs) = (TxStatus::of(&result), result.logs().len());
        // The receipt and the gas; the state is committed once for the block.
        let gas = executor.commit_transaction(EthTxResult {
            result: ResultAndState::new(result, Default::default()),
            blob_gas_used: tx.blob_gas_used().unwrap_or_default(),
            tx_type: tx.tx_type(),
        });
        cumulative_gas += gas.tx_gas_used();
        outcomes.push(TxOutcome {
            hash: *tx.tx_hash(),
            sender: *sender,
            status,
            gas_used: gas.tx_gas_used(),
            logs,
        });
    }
    Ok(outcomes)
}

/// The trace of transaction `index` from its last incarnation's `reads` (as the trace
/// keeps them) and `writes`: its write set split into full writes and lazy credits, both
/// sorted.
fn trace(
    index: TxIdx,
    reads: TraceReads,
    writes: Vec<(Location, MvValue)>,
    incarnations: u32,
    exec_us: u64,
) -> TxTrace {
    // Exactly sized: the trace is part of the replay's result and outlives the write set,
    // whose buffer holds each location with its value.
    let is_credit = |value: &MvValue| matches!(value, MvValue::BalanceCredit(_));
    let n_credits = writes.iter().filter(|(_, value)| is_credit(value)).count();
    let mut credits = Vec::with_capacity(n_credits);
    let mut full = Vec::with_capacity(writes.len() - n_credits);
    for (location, value) in writes {
        if is_credit(&value) {
            credits.push(location);
        } else {
            full.push(location);
        }
    }
    let mut writes = full;
    // revm's state output is a hash map: sort for a deterministic trace.
    sort_locations(&mut writes);
    sort_locations(&mut credits);
    TxTrace {
        index,
        reads,
        writes,
        credits,
        incarnations,
        exec_us,
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Bloom;

    use super::{FinalBloom, Finalized, TraceInput, TraceSets, take_results, take_sets};
    use crate::parallel::{executor::Slot, read_set::ReadSet, replay::TraceReads, vm::Execution};

    fn executed(result: &str, finalized: Option<FinalBloom>, executions: u32) -> Slot<Execution> {
        Slot {
            output: Some(Execution {
                result: Err(result.into()),
                reads: ReadSet::default(),
                writes: Vec::new(),
                finalized: finalized.map(|bloom| {
                    Box::new(Finalized {
                        reads: TraceReads::of(&ReadSet::default()),
                        bloom,
                    })
                }),
            }),
            incarnation: 0,
            executions,
            exec_us: u64::from(executions) * 10,
        }
    }

    /// Each slot's sets, counts, known bloom and then result are taken in index order; a
    /// slot never executed yields none of them, and a bloom left to the shared units or
    /// never built is not known.
    #[test]
    fn taking_moves_every_slot_out_in_order() {
        let bloom = Bloom::repeat_byte(0x5a);
        let slots = vec![
            executed("first", None, 1),
            Slot::default(),
            executed("third", Some(FinalBloom::Built(Some(Box::new(bloom)))), 2),
            executed("fourth", Some(FinalBloom::Shared), 3),
            executed("fifth", Some(FinalBloom::Built(None)), 4),
        ];
        let mut slots = slots;
        let taken = take_sets(&mut slots);
        let results: Vec<_> = take_results(slots)
            .iter()
            .map(|result| result.as_ref().map(|r| r.clone().unwrap_err()))
            .collect();
        let named = |s: &str| Some(s.to_string());
        assert_eq!(
            results,
            [
                named("first"),
                None,
                named("third"),
                named("fourth"),
                named("fifth")
            ]
        );
        assert_eq!(taken.bloomed, [false, false, true, false, true]);
        assert_eq!(taken.blooms, [(2, bloom)]);
        let sets: Vec<_> = taken
            .sets
            .into_iter()
            .map(|sets| sets.into_inner().unwrap())
            .collect();
        let counts: Vec<_> = sets
            .iter()
            .map(|sets| sets.as_ref().map(|s| (s.executions, s.exec_us)))
            .collect();
        assert_eq!(
            counts,
            [
                Some((1, 10)),
                None,
                Some((2, 20)),
                Some((3, 30)),
                Some((4, 40))
            ]
        );
        let traced: Vec<_> = sets
            .iter()
            .flatten()
            .map(|TraceSets { input, .. }| matches!(input, TraceInput::Traced(_)))
            .collect();
        assert_eq!(traced, [false, true, true, true]);
    }
}
