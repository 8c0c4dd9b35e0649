//! Block-STM's commit phase: the last incarnations' outputs committed in transaction order.
//!
//! When the scheduler is done, every transaction's last incarnation read exactly what a
//! sequential execution would have read (Block-STM's guarantee), so its revm state output
//! is the sequential one except for the lazy parts. The commit phase walks the
//! transactions in order and hands each output to alloy-evm's block executor, after adding
//! the lazy credits to the running balances: the beneficiary's fee, and a plain transfer's
//! value to its recipient. The executor builds the receipts and commits the state exactly as
//! it does for the sequential replay; the caller (`block_stm.rs`) then applies the
//! post-block rules. The pre-block system calls ran on the same executor before the
//! transactions, and their writes form the base state the transactions read. Its `State`
//! records no transitions: the block's state changes are read from the cache at the end
//! (`StateChanges::from_cache`), which keeps bookkeeping nobody reads off the serial path.
//!
//! Each committed transaction also yields its [`TxTrace`]: the read set and write set of
//! its last incarnation.

use alloy_consensus::{Transaction, TxEnvelope, TxType};
use alloy_evm::{
    Evm,
    block::{BlockExecutor, BlockValidationError},
    eth::EthTxResult,
};
use alloy_primitives::{Address, U256, map::AddressMap};
use revm::{
    Database,
    context::result::{HaltReason, ResultAndState},
    state::Account,
};

use super::{
    executor::{LastIncarnations, Slot},
    mv_memory::MvValue,
    replay::TxTrace,
    vm::{BlockContext, Execution},
};
use crate::{
    access::{ReadOrigin, TxIdx},
    block::ArchivedBlock,
    error::{EngineError, ReplayError},
    sequential::{TxOutcome, TxStatus},
};

/// Commits every transaction's last incarnation, in order, through `executor` (alloy-evm's
/// block executor, its pre-block system calls already applied), and returns each
/// transaction's outcome and trace.
///
/// # Errors
/// [`ReplayError::InvalidTransaction`] for the first transaction that is invalid against the
/// state it read or exceeds the block's remaining gas, as the sequential replay reports it;
/// [`ReplayError::Engine`] when a transaction was never executed or the state cannot be
/// read (engine bugs).
pub(crate) fn commit_transactions<X>(
    executor: &mut X,
    slots: LastIncarnations<Execution>,
    block_ctx: &BlockContext<'_>,
    block: &ArchivedBlock,
    senders: &[Address],
) -> Result<(Vec<TxOutcome>, Vec<TxTrace>), ReplayError>
where
    X: BlockExecutor<Result = EthTxResult<HaltReason, TxType>>,
{
    let header = block.header();
    let number = header.number;
    let txs: &[TxEnvelope] = block.transactions();
    let beneficiary = block_ctx.block.beneficiary;
    let mut outcomes = Vec::with_capacity(txs.len());
    let mut traces = Vec::with_capacity(txs.len());
    let mut cumulative_gas = 0u64;
    for (index, ((slot, tx), sender)) in slots.into_iter().zip(txs).zip(senders).enumerate() {
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
    Ok((outcomes, traces))
}

/// The trace of transaction `index` from its last incarnation: its read set with where each
/// value came from, and its write set split into full writes and lazy credits, both sorted.
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
