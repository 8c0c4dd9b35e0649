//! The pre-state of an archived block: every account and storage slot the block touches, as
//! of its parent, plus the ancestor hashes BLOCKHASH may ask for.
//!
//! [`PreState`] is the read-only base layer of every replay: the sequential oracle reads it
//! through revm's `State`, the parallel engine falls through to it when no transaction below
//! the reader wrote a location. Anything absent from it is, by the archive's contract, an
//! account that does not exist or a slot that holds zero. Only ancestor hashes are never
//! guessed: a BLOCKHASH for a number the archive does not hold is an error, not `keccak(n)`.

use std::collections::BTreeMap;

use alloy_primitives::{
    Address, B256, Bytes, U256, keccak256,
    map::{AddressMap, B256Map, HashMap},
};
use revm::{
    bytecode::Bytecode,
    database_interface::{DBErrorMarker, DatabaseRef},
    primitives::KECCAK_EMPTY,
    state::AccountInfo,
};

use crate::state_changes::AccountInfoAfter;

/// One account as of the parent block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreAccount {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Keccak-256 of `code`'s original bytes, or the empty-code hash.
    pub code_hash: B256,
    /// Analysed bytecode (legacy jump table, or EIP-7702 delegation), if the account has code.
    pub code: Option<Bytecode>,
    /// Non-zero storage slots the block touches.
    pub storage: HashMap<U256, U256>,
}

impl PreAccount {
    /// An account from its raw parts. `code` is analysed here, once.
    ///
    /// # Errors
    /// When `code` starts with the EIP-7702 designator prefix but is not a valid designator.
    pub fn new(
        balance: U256,
        nonce: u64,
        code: Bytes,
        storage: HashMap<U256, U256>,
    ) -> Result<Self, String> {
        let (code_hash, code) = if code.is_empty() {
            (KECCAK_EMPTY, None)
        } else {
            let hash = keccak256(&code);
            let analysed = Bytecode::new_raw_checked(code).map_err(|e| format!("bad code: {e}"))?;
            (hash, Some(analysed))
        };
        Ok(Self {
            balance,
            nonce,
            code_hash,
            code,
            storage,
        })
    }

    /// The account's code as deployed (empty when it has none).
    pub fn code_bytes(&self) -> Bytes {
        self.code
            .as_ref()
            .map(Bytecode::original_bytes)
            .unwrap_or_default()
    }

    /// revm's view of the account (code included, so revm never asks by hash).
    ///
    /// An account without code gets revm's `Bytecode::default()`, one process-wide `Arc`
    /// that every thread clones, so the parallel engine's workers count references on its
    /// line. Item 16 (docs/benchmarks-history.md) once gave each thread its own copy; revm
    /// 43 builds even `Bytecode::new_legacy` of no bytes as the shared default, and a truly
    /// separate copy (built from the default's parts) measured level: the 47 mainnet blocks
    /// at 2 threads, execution-only, 100 replays of each alternating in one process,
    /// geometric mean of the ratios 1.003 (0.983 to 1.030). revm itself clones the default
    /// for every absent account it loads, and its `AccountInfo::is_default` tells the
    /// default by pointer (an account loaded with it keeps no copy of its original info),
    /// so the shared one is kept.
    pub fn info(&self) -> AccountInfo {
        AccountInfo::new(
            self.balance,
            self.nonce,
            self.code_hash,
            self.code.clone().unwrap_or_default(),
        )
    }

    /// Its balance, nonce and code hash.
    pub(crate) fn fields(&self) -> AccountInfoAfter {
        AccountInfoAfter {
            balance: self.balance,
            nonce: self.nonce,
            code_hash: self.code_hash,
        }
    }
}

/// The accounts and ancestor hashes one block's replay starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreState {
    accounts: AddressMap<PreAccount>,
    codes: B256Map<Bytecode>,
    block_hashes: BTreeMap<u64, B256>,
}

impl PreState {
    /// An empty pre-state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) an account.
    pub fn insert_account(&mut self, address: Address, account: PreAccount) {
        if let Some(code) = &account.code {
            self.codes.insert(account.code_hash, code.clone());
        }
        self.accounts.insert(address, account);
    }

    /// Records the hash of ancestor block `number`.
    pub fn insert_block_hash(&mut self, number: u64, hash: B256) {
        self.block_hashes.insert(number, hash);
    }

    /// The account at `address`, if the block's pre-state holds it.
    pub fn account(&self, address: &Address) -> Option<&PreAccount> {
        self.accounts.get(address)
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether no account is held.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Accounts sorted by address (a deterministic order for encoding and hashing).
    pub fn sorted_accounts(&self) -> Vec<(&Address, &PreAccount)> {
        let mut accounts: Vec<_> = self.accounts.iter().collect();
        accounts.sort_unstable_by_key(|(address, _)| **address);
        accounts
    }

    /// Ancestor hashes, by block number.
    pub fn block_hashes(&self) -> &BTreeMap<u64, B256> {
        &self.block_hashes
    }
}

/// A read the pre-state cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreStateError {
    /// BLOCKHASH asked for an ancestor the archive does not hold.
    #[error("BLOCKHASH({0}) is not in the archived ancestor hashes")]
    MissingBlockHash(u64),
    /// revm asked for code by a hash no pre-state account has.
    #[error("no code with hash {0} in the pre-state")]
    MissingCode(B256),
}

impl DBErrorMarker for PreStateError {}

impl DatabaseRef for PreState {
    type Error = PreStateError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.accounts.get(&address).map(PreAccount::info))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        self.codes
            .get(&code_hash)
            .cloned()
            .ok_or(PreStateError::MissingCode(code_hash))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        Ok(self
            .accounts
            .get(&address)
            .and_then(|account| account.storage.get(&index).copied())
            .unwrap_or_default())
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        self.block_hashes
            .get(&number)
            .copied()
            .ok_or(PreStateError::MissingBlockHash(number))
    }
}
