//! [`ArchiveRow`]: one row of the archive table in owned form, and its conversion to and
//! from an [`ArchivedBlock`]. [`ArchiveRow::from_block`] encodes a block (and proves the
//! encoding lossless by decoding it back); [`ArchiveRow::to_block`] decodes one, failing with
//! a message (never a panic) on any corrupt field. The encoding of each column is justified
//! in `schemas/README.md`.

use alloy_consensus::{Block, TxEnvelope};
use alloy_primitives::{Address, B256, Bytes, U256, map::HashMap};
use alloy_rlp::Decodable;
use replay_evm::{
    block::ArchivedBlock,
    chain::ChainSpec,
    pre_state::{PreAccount, PreState},
};

use crate::DatasetError;

/// One account of the pre-state column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveAccount {
    /// Address.
    pub address: Address,
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Deployed code (empty for none).
    pub code: Bytes,
    /// Non-zero storage slots, sorted by slot.
    pub storage: Vec<(U256, U256)>,
}

/// One row of the archive, in owned form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRow {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Timestamp (seconds).
    pub timestamp: u64,
    /// Fork name under the chain's rules.
    pub fork: String,
    /// Number of transactions.
    pub tx_count: u32,
    /// Header gas used.
    pub gas_used: u64,
    /// Consensus RLP of the block (header, transactions, ommer headers, withdrawals).
    pub block_rlp: Vec<u8>,
    /// Ommer hashes.
    pub ommer_hashes: Vec<B256>,
    /// The pre-state, sorted by address.
    pub pre_state: Vec<ArchiveAccount>,
    /// Ancestor hashes, ascending by number.
    pub ancestor_hashes: Vec<(u64, B256)>,
    /// The chain's rules as JSON ([`ChainSpec`]); `None`: the built-in table of `chain_id`.
    pub chain_spec: Option<String>,
}

impl ArchiveRow {
    /// Encodes `block`, then decodes the row back and checks that it gives `block` again.
    ///
    /// # Errors
    /// [`DatasetError::Archive`] for a chain without a built-in table, a nonce above
    /// `i64::MAX`, or an encoding that does not round-trip.
    pub fn from_block(block: &ArchivedBlock) -> Result<Self, DatasetError> {
        let chain = ChainSpec::by_id(block.chain_id)
            .map_err(|e| DatasetError::Archive(format!("block {}: {e}", block.number())))?;
        Self::from_block_in(block, &chain)
    }

    /// [`ArchiveRow::from_block`] for a block of `chain`, which the row records (in
    /// `chain_spec`) unless it is the built-in table of the block's chain id.
    ///
    /// # Errors
    /// [`DatasetError::Archive`] for a chain whose id is not the block's, a nonce above
    /// `i64::MAX`, or an encoding that does not round-trip.
    pub fn from_block_in(block: &ArchivedBlock, chain: &ChainSpec) -> Result<Self, DatasetError> {
        if chain.chain_id != block.chain_id {
            return Err(DatasetError::Archive(format!(
                "block {}: the chain spec is for chain {}, the block is of chain {}",
                block.number(),
                chain.chain_id,
                block.chain_id
            )));
        }
        let chain_spec = match ChainSpec::by_id(block.chain_id) {
            Ok(builtin) if builtin == *chain => None,
            _ => Some(serde_json::to_string(chain).map_err(|e| {
                DatasetError::Archive(format!("block {}: chain spec: {e}", block.number()))
            })?),
        };
        let header = block.header();
        let pre_state = block
            .pre_state
            .sorted_accounts()
            .into_iter()
            .map(|(address, account)| {
                let mut storage: Vec<(U256, U256)> =
                    account.storage.iter().map(|(k, v)| (*k, *v)).collect();
                storage.sort_unstable();
                ArchiveAccount {
                    address: *address,
                    balance: account.balance,
                    nonce: account.nonce,
                    code: account.code_bytes(),
                    storage,
                }
            })
            .collect::<Vec<_>>();
        if let Some(account) = pre_state.iter().find(|a| a.nonce > i64::MAX as u64) {
            return Err(DatasetError::Archive(format!(
                "block {}: account {} has nonce {}, above the archive's int64 range",
                block.number(),
                account.address,
                account.nonce
            )));
        }
        let row = Self {
            chain_id: block.chain_id,
            number: header.number,
            hash: block.hash,
            timestamp: header.timestamp,
            fork: block.fork(chain).name().to_owned(),
            tx_count: u32::try_from(block.transactions().len()).unwrap_or(u32::MAX),
            gas_used: header.gas_used,
            block_rlp: alloy_rlp::encode(&block.block),
            ommer_hashes: block.ommer_hashes.clone(),
            pre_state,
            ancestor_hashes: block
                .pre_state
                .block_hashes()
                .iter()
                .map(|(n, h)| (*n, *h))
                .collect(),
            chain_spec,
        };
        match row.to_block() {
            Ok(decoded) if decoded == *block => Ok(row),
            Ok(_) => Err(DatasetError::Archive(format!(
                "block {}: the archive row does not decode to the same block",
                block.number()
            ))),
            Err(e) => Err(DatasetError::Archive(format!(
                "block {}: the archive row does not decode: {e}",
                block.number()
            ))),
        }
    }

    /// The chain whose rules the row's block is replayed under: its `chain_spec`, or the
    /// built-in table of its chain id.
    ///
    /// # Errors
    /// A message when `chain_spec` is not a valid table or is for another chain id, or the
    /// chain id has no built-in table.
    pub fn chain(&self) -> Result<ChainSpec, String> {
        match &self.chain_spec {
            Some(json) => {
                let chain = ChainSpec::from_json(json).map_err(|e| format!("chain_spec: {e}"))?;
                if chain.chain_id != self.chain_id {
                    return Err(format!(
                        "chain_spec is for chain {} but the row's chain_id is {}",
                        chain.chain_id, self.chain_id
                    ));
                }
                Ok(chain)
            }
            None => ChainSpec::by_id(self.chain_id).map_err(|e| {
                format!("{e} (the row has no chain_spec; re-fetch it with --fork or --chain-spec)")
            }),
        }
    }

    /// Decodes the block. Checks only the encoding (and that the RLP's number is the row's);
    /// [`ArchivedBlock::check`] checks the block against its header.
    ///
    /// # Errors
    /// A message naming the corrupt column.
    pub fn to_block(&self) -> Result<ArchivedBlock, String> {
        let mut rlp = self.block_rlp.as_slice();
        let block = Block::<TxEnvelope>::decode(&mut rlp)
            .map_err(|e| format!("block_rlp: not a valid RLP block: {e}"))?;
        if !rlp.is_empty() {
            return Err(format!(
                "block_rlp: {} trailing bytes after the block",
                rlp.len()
            ));
        }
        if block.header.number != self.number {
            return Err(format!(
                "block_rlp holds block {} but the row's number is {}",
                block.header.number, self.number
            ));
        }
        let mut pre_state = PreState::new();
        for account in &self.pre_state {
            let storage: HashMap<U256, U256> = account.storage.iter().copied().collect();
            let pre = PreAccount::new(
                account.balance,
                account.nonce,
                account.code.clone(),
                storage,
            )
            .map_err(|e| format!("pre_state: account {}: {e}", account.address))?;
            pre_state.insert_account(account.address, pre);
        }
        for (number, hash) in &self.ancestor_hashes {
            pre_state.insert_block_hash(*number, *hash);
        }
        Ok(ArchivedBlock {
            chain_id: self.chain_id,
            hash: self.hash,
            block,
            ommer_hashes: self.ommer_hashes.clone(),
            pre_state,
        })
    }
}
