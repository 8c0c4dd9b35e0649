//! The archived block: everything one block's replay needs, independent of where it is stored.
//!
//! An [`ArchivedBlock`] is the block itself (header, transactions, ommers, withdrawals), the
//! pre-state of every account it touches and the ancestor hashes BLOCKHASH may ask for (held
//! by the [`PreState`]). It is loaded from a block folder by [`crate::block_dir`] and becomes a
//! row of the Parquet archive; nothing here knows about either layout.

use alloy_consensus::{
    Block, EMPTY_OMMER_ROOT_HASH, Header, Transaction, TxEnvelope,
    proofs::{calculate_ommers_root, calculate_transaction_root, calculate_withdrawals_root},
    transaction::SignerRecoverable,
};
use alloy_primitives::{Address, B256};

use crate::{
    chain::{ChainSpec, Fork},
    error::BlockError,
    pre_state::PreState,
};

/// One block's full input for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedBlock {
    /// EIP-155 chain id of the chain the block belongs to.
    pub chain_id: u64,
    /// The block's hash (keccak of its RLP header), checked by [`ArchivedBlock::check`].
    pub hash: B256,
    /// Header and body. `body.ommers` holds full ommer headers when the archive has them.
    pub block: Block<TxEnvelope>,
    /// Hashes of the block's ommers (uncles). When the archive has only the hashes, the
    /// ommer headers in `block.body.ommers` are empty and uncle rewards cannot be applied.
    pub ommer_hashes: Vec<B256>,
    /// Accounts, storage and ancestor hashes as of the parent block.
    pub pre_state: PreState,
}

impl ArchivedBlock {
    /// The block header.
    pub fn header(&self) -> &Header {
        &self.block.header
    }

    /// Block number.
    pub fn number(&self) -> u64 {
        self.block.header.number
    }

    /// The block's transactions, in order.
    pub fn transactions(&self) -> &[TxEnvelope] {
        &self.block.body.transactions
    }

    /// The fork governing this block under `chain`.
    pub fn fork(&self, chain: &ChainSpec) -> Fork {
        chain.fork_at(self.block.header.number, self.block.header.timestamp)
    }

    /// Whether the ommer headers are archived, so that uncle rewards can be applied.
    pub fn has_ommer_headers(&self) -> bool {
        self.block.body.ommers.len() == self.ommer_hashes.len()
    }

    /// Recovers every transaction's sender from its signature, as a client does. Before
    /// Homestead (EIP-2) high-`s` signatures were valid, so they are accepted there.
    ///
    /// # Errors
    /// [`BlockError::BadSignature`] naming the first transaction whose signature does not
    /// recover.
    pub fn recover_senders(&self, fork: Fork) -> Result<Vec<Address>, BlockError> {
        (0..self.transactions().len())
            .map(|index| self.recover_sender(index, fork))
            .collect()
    }

    /// Recovers the sender of transaction `index` (see [`ArchivedBlock::recover_senders`]).
    ///
    /// # Errors
    /// [`BlockError::BadSignature`] when the signature does not recover;
    /// [`BlockError::Inconsistent`] when `index` is out of range.
    pub fn recover_sender(&self, index: usize, fork: Fork) -> Result<Address, BlockError> {
        let tx = self.transactions().get(index).ok_or_else(|| {
            BlockError::Inconsistent(format!("no transaction {index} in the block"))
        })?;
        let recovered = if fork >= Fork::Homestead {
            tx.recover_signer()
        } else {
            tx.recover_signer_unchecked()
        };
        recovered.map_err(|e| BlockError::BadSignature {
            index,
            hash: *tx.tx_hash(),
            reason: e.to_string(),
        })
    }

    /// Checks that the block is internally consistent: its header hashes to `hash`, and the
    /// transactions, withdrawals and ommers match the roots the header commits to. This proves
    /// the block was decoded exactly; it says nothing about execution.
    ///
    /// # Errors
    /// [`BlockError::RootMismatch`] naming the first root that does not match its part of
    /// the body, then [`BlockError::HeaderHashMismatch`] when the header does not hash to
    /// the block's hash.
    pub fn check(&self) -> Result<(), BlockError> {
        let header = &self.block.header;
        let mismatch = |field: &'static str, expected: B256, actual: B256| {
            if expected == actual {
                Ok(())
            } else {
                Err(BlockError::RootMismatch {
                    field,
                    expected,
                    actual,
                })
            }
        };
        mismatch(
            "transactionsRoot",
            header.transactions_root,
            calculate_transaction_root(self.transactions()),
        )?;
        if let Some(root) = header.withdrawals_root {
            let withdrawals = self
                .block
                .body
                .withdrawals
                .as_ref()
                .map(|w| w.as_slice())
                .unwrap_or_default();
            mismatch(
                "withdrawalsRoot",
                root,
                calculate_withdrawals_root(withdrawals),
            )?;
        }
        let ommers_root = if self.has_ommer_headers() {
            calculate_ommers_root(&self.block.body.ommers)
        } else if self.ommer_hashes.is_empty() {
            EMPTY_OMMER_ROOT_HASH
        } else {
            // Only the ommer hashes are archived: the ommers root cannot be recomputed.
            header.ommers_hash
        };
        mismatch("sha3Uncles", header.ommers_hash, ommers_root)?;
        // Last: a root mismatch names its field; a hash mismatch only says a field changed.
        let computed = header.hash_slow();
        if computed != self.hash {
            return Err(BlockError::HeaderHashMismatch {
                hash: self.hash,
                computed,
            });
        }
        let gas_limits: u64 = self.transactions().iter().map(Transaction::gas_limit).sum();
        if header.gas_used > gas_limits {
            return Err(BlockError::Inconsistent(format!(
                "header gasUsed {} exceeds the transactions' total gas limit {gas_limits}",
                header.gas_used
            )));
        }
        Ok(())
    }
}
