//! The pre-state of one block, discovered by replay.
//!
//! [`Known`] holds what has been learnt of the parent block's state: accounts (or that they
//! do not exist), storage slots and ancestor hashes. [`discover`] replays the block with
//! alloy-evm's executor over a [`RecordingDb`] on it: every read is recorded, and every read
//! that [`Known`] cannot answer is a *miss* (answered provisionally as absent, zero). The
//! caller fetches the misses from the node and replays again, until a replay has none: then
//! the recorded reads are exactly the block's pre-state ([`Known::pre_state`]), whatever the
//! source of the values (a prestateTracer result or state getters). Values read are never
//! guessed into the archive: only a complete, miss-free replay's reads are kept.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    convert::Infallible,
};

use alloy_consensus::transaction::Recovered;
use alloy_evm::{
    EvmFactory,
    block::BlockExecutor,
    eth::{EthBlockExecutor, EthEvmFactory, receipt_builder::AlloyReceiptBuilder},
};
use alloy_primitives::{
    Address, B256, U256,
    map::{HashMap, HashSet},
};
use replay_evm::{
    block::ArchivedBlock,
    chain::ChainSpec,
    pre_state::{PreAccount, PreState},
    sequential::{evm_env, execution_ctx},
};
use revm::{
    bytecode::Bytecode, database::State, database_interface::DatabaseRef, state::AccountInfo,
};

/// What is known of the parent block's state.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Accounts by address; `None`: the account does not exist (or is empty, which the
    /// state getters cannot tell apart and the EVM treats alike since EIP-161).
    pub accounts: HashMap<Address, Option<PreAccount>>,
    /// Storage slots.
    pub slots: HashMap<(Address, U256), U256>,
    /// Ancestor hashes.
    pub hashes: BTreeMap<u64, B256>,
}

/// Reads a replay made, or could not answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// Accounts.
    pub accounts: BTreeSet<Address>,
    /// Storage slots.
    pub slots: BTreeSet<(Address, U256)>,
    /// Ancestor block numbers.
    pub hashes: BTreeSet<u64>,
}

impl Reads {
    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.slots.is_empty() && self.hashes.is_empty()
    }

    /// Number of recorded items.
    pub fn len(&self) -> usize {
        self.accounts.len() + self.slots.len() + self.hashes.len()
    }
}

impl Known {
    /// Records an account; `None` (or an empty account) means it does not exist.
    pub fn insert_account(&mut self, address: Address, account: Option<PreAccount>) {
        let account = account.filter(|a| {
            !(a.balance.is_zero() && a.nonce == 0 && a.code.is_none() && a.storage.is_empty())
        });
        self.accounts.insert(address, account);
    }

    /// Records an account that exists but is empty (no balance, nonce or code): before
    /// EIP-161 such an account is not one that does not exist.
    pub fn insert_existing_empty(&mut self, address: Address) {
        let empty = PreAccount::new(U256::ZERO, 0, Default::default(), HashMap::default());
        self.accounts.insert(address, empty.ok());
    }

    /// The pre-state made of exactly `reads`: each read account that exists, with its read
    /// slots that hold a non-zero value, and each read ancestor hash.
    ///
    /// # Errors
    /// A message naming a read that [`Known`] cannot answer (a replay with misses).
    pub fn pre_state(&self, reads: &Reads) -> Result<PreState, String> {
        let mut pre = PreState::new();
        let mut storage: BTreeMap<Address, HashMap<U256, U256>> = BTreeMap::new();
        for (address, slot) in &reads.slots {
            match self.accounts.get(address) {
                Some(None) => continue,
                Some(Some(_)) => {}
                None => return Err(format!("account {address} was never fetched")),
            }
            let value = self
                .slots
                .get(&(*address, *slot))
                .ok_or_else(|| format!("slot {slot:#x} of {address} was never fetched"))?;
            if !value.is_zero() {
                storage.entry(*address).or_default().insert(*slot, *value);
            }
        }
        for address in reads.accounts.iter().chain(storage.keys()) {
            match self.accounts.get(address) {
                Some(Some(account)) => {
                    let mut account = account.clone();
                    account.storage = storage.get(address).cloned().unwrap_or_default();
                    pre.insert_account(*address, account);
                }
                Some(None) => {}
                None => return Err(format!("account {address} was never fetched")),
            }
        }
        for number in &reads.hashes {
            let hash = self
                .hashes
                .get(number)
                .ok_or_else(|| format!("the hash of block {number} was never fetched"))?;
            pre.insert_block_hash(*number, *hash);
        }
        Ok(pre)
    }
}

/// A revm database over [`Known`] that records every read and every miss.
#[derive(Debug)]
pub struct RecordingDb<'a> {
    known: &'a Known,
    reads: RefCell<Reads>,
    misses: RefCell<Reads>,
}

impl<'a> RecordingDb<'a> {
    /// A database answering from `known`.
    pub fn new(known: &'a Known) -> Self {
        Self {
            known,
            reads: RefCell::default(),
            misses: RefCell::default(),
        }
    }

    /// The reads and the misses so far.
    pub fn into_parts(self) -> (Reads, Reads) {
        (self.reads.into_inner(), self.misses.into_inner())
    }
}

impl DatabaseRef for RecordingDb<'_> {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        self.reads.borrow_mut().accounts.insert(address);
        Ok(match self.known.accounts.get(&address) {
            Some(account) => account.as_ref().map(PreAccount::info),
            None => {
                self.misses.borrow_mut().accounts.insert(address);
                None
            }
        })
    }

    fn code_by_hash_ref(&self, _code_hash: B256) -> Result<Bytecode, Self::Error> {
        // Accounts are handed to revm with their code, so it never asks by hash.
        Ok(Bytecode::default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        self.reads.borrow_mut().slots.insert((address, index));
        if let Some(value) = self.known.slots.get(&(address, index)) {
            return Ok(*value);
        }
        match self.known.accounts.get(&address) {
            // A slot of an account that does not exist is zero.
            Some(None) => {}
            Some(Some(_)) => {
                self.misses.borrow_mut().slots.insert((address, index));
            }
            None => {
                let mut misses = self.misses.borrow_mut();
                misses.accounts.insert(address);
                misses.slots.insert((address, index));
            }
        }
        Ok(U256::ZERO)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        self.reads.borrow_mut().hashes.insert(number);
        Ok(match self.known.hashes.get(&number) {
            Some(hash) => *hash,
            None => {
                self.misses.borrow_mut().hashes.insert(number);
                B256::ZERO
            }
        })
    }
}

/// Replays `block` (whose own pre-state is ignored) under `chain` with `senders` over
/// `known`, as the sequential oracle does (alloy-evm's Ethereum block executor: pre-block
/// system calls, the transactions, post-block rules), recording reads and misses.
///
/// Returns the reads, the misses, and the replay's error if it stopped early (with misses,
/// an error is expected: a provisional zero balance makes a transaction invalid).
pub fn discover(
    block: &ArchivedBlock,
    chain: &ChainSpec,
    senders: &[Address],
    known: &Known,
) -> (Reads, Reads, Option<String>) {
    let db = RecordingDb::new(known);
    let error = execute(block, chain, senders, &db).err();
    let (reads, misses) = db.into_parts();
    (reads, misses, error)
}

fn execute(
    block: &ArchivedBlock,
    chain: &ChainSpec,
    senders: &[Address],
    db: &RecordingDb<'_>,
) -> Result<(), String> {
    // The oracle's environment and block context, over the recording database.
    let mut state = State::builder().with_database_ref(db).build();
    let evm = EthEvmFactory::default().create_evm(&mut state, evm_env(block, chain));
    let ctx = execution_ctx(block);
    let mut executor = EthBlockExecutor::new(evm, ctx, chain, AlloyReceiptBuilder::default());
    executor
        .apply_pre_execution_changes()
        .map_err(|e| format!("pre-block system calls: {e}"))?;
    for (index, (tx, sender)) in block.transactions().iter().zip(senders).enumerate() {
        executor
            .execute_transaction(Recovered::new_unchecked(tx, *sender))
            .map_err(|e| format!("transaction {index}: {e}"))?;
    }
    executor
        .finish()
        .map_err(|e| format!("post-block rules: {e}"))?;
    Ok(())
}

/// The addresses every replay of `block` reads besides what its transactions reach: the
/// senders, the recipients, the beneficiary, the withdrawal recipients and the system
/// contracts of EIP-4788, 2935, 7002 and 7251. Fetched up front, so that the first replay
/// already runs far.
pub fn obvious_accounts(block: &ArchivedBlock, senders: &[Address]) -> HashSet<Address> {
    use alloy_consensus::Transaction;
    let mut out: HashSet<Address> = senders.iter().copied().collect();
    out.extend(block.transactions().iter().filter_map(|tx| tx.to()));
    out.insert(block.header().beneficiary);
    if let Some(withdrawals) = &block.block.body.withdrawals {
        out.extend(withdrawals.iter().map(|w| w.address));
    }
    out.extend(SYSTEM_CONTRACTS);
    out
}

/// The system contracts the block rules call (EIP-4788 beacon roots, EIP-2935 history,
/// EIP-7002 withdrawal requests, EIP-7251 consolidation requests). Their storage changes in
/// the pre-block system calls, before any transaction, so a transaction's prestateTracer
/// result may hold post-system-call values: they always come from the state getters.
pub const SYSTEM_CONTRACTS: [Address; 4] = [
    alloy_eips::eip4788::BEACON_ROOTS_ADDRESS,
    alloy_eips::eip2935::HISTORY_STORAGE_ADDRESS,
    alloy_eips::eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    alloy_eips::eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
];
