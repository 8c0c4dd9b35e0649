//! Sequential replay: the oracle every parallel run is compared with.
//!
//! This is plain revm driven by alloy-evm's Ethereum block executor, exactly as a mainnet
//! client executes a block: pre-block system calls (EIP-2935 block hashes, EIP-4788 beacon
//! root), the transactions in order, each committed before the next, then the post-block rules
//! (EIP-6110/7002/7251 requests, block and ommer rewards, withdrawals, the DAO-fork drain).
//! The state is revm's `State` over the archived [`PreState`](crate::pre_state::PreState).

use std::{borrow::Cow, time::Instant};

use alloy_consensus::ReceiptEnvelope;
use alloy_consensus::transaction::Recovered;
use alloy_eips::eip2718::Encodable2718;
use alloy_evm::{
    EvmEnv, EvmFactory,
    block::BlockExecutor,
    eth::{
        EthBlockExecutionCtx, EthBlockExecutor, EthEvmFactory, receipt_builder::AlloyReceiptBuilder,
    },
};
use alloy_primitives::{Address, B256};
use revm::{
    context::result::ExecutionResult,
    database::{State, states::bundle_state::BundleRetention},
};

use crate::{
    block::ArchivedBlock,
    chain::{ChainSpec, Fork},
    error::{EngineError, ReplayError},
    state_changes::StateChanges,
};

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    /// Executed to completion.
    Success,
    /// Reverted (REVERT opcode); state changes undone, gas charged.
    Revert,
    /// Halted exceptionally (out of gas, invalid opcode...); all gas charged.
    Halt(String),
}

impl TxStatus {
    /// How revm's result ended.
    pub fn of(result: &ExecutionResult) -> Self {
        match result {
            ExecutionResult::Success { .. } => Self::Success,
            ExecutionResult::Revert { .. } => Self::Revert,
            ExecutionResult::Halt { reason, .. } => Self::Halt(format!("{reason:?}")),
        }
    }

    /// A short name for tables: `success`, `revert` or `halt`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Revert => "revert",
            Self::Halt(_) => "halt",
        }
    }
}

/// One transaction's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOutcome {
    /// Transaction hash.
    pub hash: B256,
    /// Sender recovered from the signature.
    pub sender: Address,
    /// How it ended.
    pub status: TxStatus,
    /// Gas charged to the sender (after refunds).
    pub gas_used: u64,
    /// Number of logs emitted.
    pub logs: usize,
}

/// The result of replaying one block.
#[derive(Debug, Clone)]
pub struct BlockReplay {
    /// Block number.
    pub number: u64,
    /// Governing fork.
    pub fork: Fork,
    /// Per-transaction results, in block order.
    pub transactions: Vec<TxOutcome>,
    /// Receipts, typed per the fork (EIP-2718 envelopes from Berlin on).
    pub receipts: Vec<ReceiptEnvelope>,
    /// Total gas used by the transactions.
    pub gas_used: u64,
    /// State changes of the whole block, block rules included.
    pub state_changes: StateChanges,
    /// The EIP-7685 hash of the requests the block rules produced (deposits, withdrawal and
    /// consolidation requests), from Prague on; `None` before.
    pub requests_hash: Option<B256>,
    /// Whether ommer (uncle) rewards could be applied. False when the block has ommers but
    /// the archive holds only their hashes; the receipts are unaffected either way.
    pub ommer_rewards_applied: bool,
    /// Wall time of the replay (sender recovery, execution and block rules), in microseconds.
    pub wall_us: u64,
}

impl BlockReplay {
    /// The first way `other` differs from this replay, in words, or `None` when the two are
    /// identical in everything a replay determines: fork, gas used, every transaction's
    /// outcome, every receipt, the requests hash and the state changes (wall time aside).
    ///
    /// This is the one definition of "parallel equals sequential": the engine's tests, the
    /// conformance runners, the CLI and the datasets all compare through it.
    pub fn first_difference(&self, other: &Self) -> Option<String> {
        if (self.number, self.fork) != (other.number, other.fork) {
            return Some(format!(
                "block {} under {} against block {} under {}",
                self.number, self.fork, other.number, other.fork
            ));
        }
        let count = |what: &str, ours: usize, theirs: usize| {
            (ours != theirs).then(|| format!("{ours} {what} against {theirs}"))
        };
        if let Some(difference) = count(
            "transactions",
            self.transactions.len(),
            other.transactions.len(),
        )
        .or_else(|| count("receipts", self.receipts.len(), other.receipts.len()))
        {
            return Some(difference);
        }
        for (index, (ours, theirs)) in self
            .transactions
            .iter()
            .zip(&other.transactions)
            .enumerate()
        {
            if ours != theirs {
                return Some(format!("transaction {index}: {ours:?} against {theirs:?}"));
            }
        }
        for (index, (ours, theirs)) in self.receipts.iter().zip(&other.receipts).enumerate() {
            if ours != theirs {
                return Some(format!("receipt {index}: {ours:?} against {theirs:?}"));
            }
        }
        if self.gas_used != other.gas_used {
            return Some(format!(
                "gas used {} against {}",
                self.gas_used, other.gas_used
            ));
        }
        if self.requests_hash != other.requests_hash {
            return Some(format!(
                "requests hash {:?} against {:?}",
                self.requests_hash, other.requests_hash
            ));
        }
        self.state_changes.first_difference(&other.state_changes)
    }
}

/// The EVM environment (fork, chain id, block fields, blob fee) of `block` under `chain`.
pub fn evm_env(block: &ArchivedBlock, chain: &ChainSpec) -> EvmEnv {
    let header = block.header();
    EvmEnv::for_eth_block(
        header,
        chain,
        block.chain_id,
        chain.blob_params_at(header.number, header.timestamp),
    )
}

/// What alloy-evm's block executor needs of `block` besides its transactions: parent hash and
/// beacon root (system calls), ommers and withdrawals (post-block rules).
pub fn execution_ctx(block: &ArchivedBlock) -> EthBlockExecutionCtx<'_> {
    let header = block.header();
    EthBlockExecutionCtx {
        parent_hash: header.parent_hash,
        parent_beacon_block_root: header.parent_beacon_block_root,
        ommers: &block.block.body.ommers,
        withdrawals: block
            .block
            .body
            .withdrawals
            .as_ref()
            .map(|w| Cow::Borrowed(w.as_slice())),
        extra_data: header.extra_data.clone(),
        tx_count_hint: Some(block.transactions().len()),
        slot_number: header.slot_number,
    }
}

/// Turns a failed block rule of block `number` into a [`ReplayError::BlockRule`].
pub(crate) fn rule_error(
    number: u64,
    stage: &'static str,
) -> impl FnOnce(alloy_evm::block::BlockExecutionError) -> ReplayError {
    move |e| ReplayError::BlockRule {
        number,
        stage,
        message: e.to_string(),
    }
}

/// Replays `block` sequentially under `chain`'s rules.
///
/// # Errors
/// [`ReplayError`] when a signature does not recover, a transaction is invalid against the
/// state (nonce, balance, gas limit...), a block rule fails, or the pre-state cannot answer a
/// read (a missing ancestor hash).
pub fn replay_sequential(
    block: &ArchivedBlock,
    chain: &ChainSpec,
) -> Result<BlockReplay, ReplayError> {
    let started = Instant::now();
    let number = block.number();
    let fork = block.fork(chain);
    let senders = block
        .recover_senders(fork)
        .map_err(|source| ReplayError::Block { number, source })?;
    execute_in_order(block, chain, started, Diff::Bundle, |index| {
        Ok(senders[index])
    })
}

/// [`replay_sequential`] with the senders already recovered (`senders[i]` sent transaction
/// `i`): the execution alone, as execution-only benchmarks time it (sender recovery is
/// independent per transaction and most of a replay's work on mainnet blocks).
///
/// # Errors
/// As [`replay_sequential`], and [`EngineError::Invariant`] when `senders` does not hold one
/// sender per transaction.
pub fn replay_sequential_with_senders(
    block: &ArchivedBlock,
    chain: &ChainSpec,
    senders: &[Address],
) -> Result<BlockReplay, ReplayError> {
    check_senders(block, senders)?;
    execute_in_order(block, chain, Instant::now(), Diff::Bundle, |index| {
        Ok(senders[index])
    })
}

/// That `senders` holds one sender per transaction of `block`.
pub(crate) fn check_senders(block: &ArchivedBlock, senders: &[Address]) -> Result<(), ReplayError> {
    let txs = block.transactions().len();
    if senders.len() == txs {
        return Ok(());
    }
    Err(ReplayError::Engine(EngineError::Invariant {
        number: block.number(),
        what: format!("{} senders given for {txs} transactions", senders.len()),
    }))
}

/// How [`execute_in_order`] extracts the block's state changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Diff {
    /// As a client does: `State` records a transition per commit, merged into a bundle at
    /// the end ([`StateChanges::from_bundle`]). The oracle's way.
    Bundle,
    /// From `State`'s cache, with no transitions recorded or merged
    /// ([`StateChanges::from_cache`]): the parallel engine's in-order mode, which needs only
    /// the changes. Recording and merging the transitions is serial work: on the 1-Ggas
    /// ERC-20 workload the merge alone takes 23–33 ms of a 1.2 s replay.
    Cache,
}

/// Executes `block` in order on this thread, the senders coming from `sender` (called once
/// per transaction, in order, just before it executes): the whole sequential replay except
/// sender recovery. The parallel engine's in-order mode calls it with senders that other
/// threads recover meanwhile, so both modes share every line of execution.
pub(crate) fn execute_in_order(
    block: &ArchivedBlock,
    chain: &ChainSpec,
    started: Instant,
    diff: Diff,
    mut sender: impl FnMut(usize) -> Result<Address, ReplayError>,
) -> Result<BlockReplay, ReplayError> {
    let header = block.header();
    let fork = block.fork(chain);
    let builder = State::builder().with_database_ref(&block.pre_state);
    let mut state = match diff {
        Diff::Bundle => builder.with_bundle_update().build(),
        Diff::Cache => builder.build(),
    };
    let evm = EthEvmFactory::default().create_evm(&mut state, evm_env(block, chain));
    let mut executor = EthBlockExecutor::new(
        evm,
        execution_ctx(block),
        chain,
        AlloyReceiptBuilder::default(),
    );
    let rule_error = |stage| rule_error(header.number, stage);
    executor
        .apply_pre_execution_changes()
        .map_err(rule_error("pre-block system calls"))?;

    let mut transactions = Vec::with_capacity(block.transactions().len());
    for (index, tx) in block.transactions().iter().enumerate() {
        let sender = sender(index)?;
        let mut status = TxStatus::Success;
        let gas = executor
            .execute_transaction_with_result_closure(Recovered::new_unchecked(tx, sender), |r| {
                status = TxStatus::of(&r.result.result);
            })
            .map_err(|e| ReplayError::InvalidTransaction {
                number: header.number,
                index,
                hash: *tx.tx_hash(),
                reason: e.to_string(),
            })?;
        let logs = executor.receipts().last().map_or(0, |r| r.logs().len());
        transactions.push(TxOutcome {
            hash: tx.trie_hash(),
            sender,
            status,
            gas_used: gas.tx_gas_used(),
            logs,
        });
    }

    let (_evm, result) = executor.finish().map_err(rule_error("post-block rules"))?;
    let state_changes = match diff {
        Diff::Bundle => {
            state.merge_transitions(BundleRetention::PlainState);
            StateChanges::from_bundle(&state.take_bundle(), &block.pre_state)
        }
        Diff::Cache => StateChanges::from_cache(&state.cache, &block.pre_state),
    };
    Ok(BlockReplay {
        number: header.number,
        fork,
        transactions,
        receipts: result.receipts,
        gas_used: result.gas_used,
        state_changes,
        requests_hash: (fork >= Fork::Prague).then(|| result.requests.requests_hash()),
        ommer_rewards_applied: block.has_ommer_headers(),
        wall_us: started.elapsed().as_micros() as u64,
    })
}
