//! One state-test case as a one-transaction block: the input of the engine's sequential and
//! parallel replays.
//!
//! A state test describes an environment, a pre-state and one transaction; a client executes
//! the same thing as a block holding that transaction. The conversion is:
//!
//! - **header** from `env`: number, timestamp, gas limit, `currentCoinbase` as beneficiary;
//!   the base fee from London on; the difficulty before Paris and `currentRandom` as
//!   `mixHash` (PREVRANDAO) from Paris on; `excessBlobGas` (and the transaction's blob gas as
//!   `blobGasUsed`) and a zero `parentBeaconBlockRoot` from Cancun on; an empty withdrawals
//!   list and its root from Shanghai on; the empty requests hash from Prague on. The parent
//!   hash is the state-test BLOCKHASH value of `number - 1` (see below), so that the
//!   EIP-2935 system call stores the same hash BLOCKHASH returns. `transactionsRoot` is
//!   computed, so [`ArchivedBlock::check`] passes; `stateRoot`, `receiptsRoot` and the logs
//!   bloom are left zero/empty: nothing here verifies a replay against its header, only
//!   replays against each other.
//! - **transaction**: a real signed [`TxEnvelope`] of the case's type (legacy, EIP-2930,
//!   1559, 4844 or 7702) built from the `data`/`gasLimit`/`value` the post entry selects and
//!   signed with the test's `secretKey`, so the engine's sender recovery yields the test's
//!   sender. Legacy transactions are signed without a chain id (pre-EIP-155), as the
//!   ethereum/tests transactions are, so they are valid at every fork; typed ones carry the
//!   test's chain id.
//! - **pre-state** from `pre` (zero storage values dropped: the archive holds non-zero slots).
//! - **ancestor hashes**: state tests run on revm's `EmptyDB`, whose BLOCKHASH answer for
//!   block `n` is `keccak256(decimal string of n)`; the runner ([`crate::run_path`]) gets
//!   exactly those. The 256 ancestors BLOCKHASH can reach are inserted with these values.
//!
//! Some cases cannot be expressed as a block: a field wider than every transaction encoding
//! allows, a blob or set-code transaction without a recipient, a fixture without a secret
//! key. Those are [`Unexpressible::Skip`]s with the concrete reason.

use alloy_consensus::{
    Block, BlockBody, EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH, Header, Transaction, TxEip1559,
    TxEip2930, TxEip4844, TxEip7702, TxEnvelope, TxLegacy, proofs::calculate_transaction_root,
};
use alloy_eips::{
    eip4895::Withdrawals,
    eip7685::EMPTY_REQUESTS_HASH,
    eip7702::{Authorization, SignedAuthorization},
};
use alloy_primitives::{Address, B64, B256, Bytes, TxKind, U256, keccak256};
use k256::ecdsa::SigningKey;
use replay_evm::{
    block::ArchivedBlock,
    chain::{ChainSpec, Fork},
    pre_state::PreState,
};

use super::{
    model::{self, Indexes, TestUnit, pick},
    signing::{sign, signer},
};
use crate::json::Quantity;

/// How many ancestors BLOCKHASH can reach.
const BLOCKHASH_WINDOW: u64 = 256;

/// The BLOCKHASH value of block `number` under the state-test convention (revm's `EmptyDB`).
pub(crate) fn state_test_block_hash(number: u64) -> B256 {
    keccak256(number.to_string().as_bytes())
}

/// Why a case yields no block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unexpressible {
    /// No valid block can carry the case; the reason says why.
    Skip(String),
    /// The fixture is inconsistent (index out of range, a number that does not fit).
    Fail(String),
}

/// A test's fork-independent block parts, prepared once and shared by its post entries.
pub(crate) struct BlockTest<'a> {
    unit: &'a TestUnit,
    chain_id: u64,
    number: u64,
    pre_state: PreState,
    /// The signing key and the sender it yields, or why the transaction cannot be signed.
    signer: Result<(SigningKey, Address), String>,
}

impl<'a> BlockTest<'a> {
    /// Builds the pre-state (with the ancestor hashes) and resolves the chain id and key.
    ///
    /// # Errors
    /// A message when the fixture is inconsistent: a pre-state nonce wider than 64 bits,
    /// code the engine cannot analyse, a chain id or block number that does not fit.
    pub(crate) fn new(unit: &'a TestUnit) -> Result<Self, String> {
        let chain_id = unit.chain_id()?;
        let number = unit.env.current_number.to_u64("env.currentNumber")?;
        let mut pre_state = PreState::new();
        for (address, account) in &unit.pre {
            let account = account.to_engine(&format!("pre-state account {address}"))?;
            pre_state.insert_account(*address, account);
        }
        for ancestor in number.saturating_sub(BLOCKHASH_WINDOW)..number {
            pre_state.insert_block_hash(ancestor, state_test_block_hash(ancestor));
        }
        let signer = match unit.transaction.secret_key {
            None => Err(
                "the fixture gives no `secretKey`, so the transaction cannot be signed \
                         and no block can carry it"
                    .to_owned(),
            ),
            Some(key) => signer(&key, unit.transaction.sender),
        };
        Ok(Self {
            unit,
            chain_id,
            number,
            pre_state,
            signer,
        })
    }

    /// The chain a case of `fork` runs on: every fork up to `fork` active from genesis.
    pub(crate) fn chain(&self, fork: Fork) -> ChainSpec {
        ChainSpec::single_fork(self.chain_id, fork)
    }

    /// The sender the signed transaction recovers to.
    pub(crate) fn sender(&self) -> Option<Address> {
        self.signer.as_ref().ok().map(|(_, sender)| *sender)
    }

    /// The one-transaction block of the post entry `indexes` selects, under `fork`.
    ///
    /// # Errors
    /// [`Unexpressible`] when no block can carry the case, or the fixture is inconsistent.
    pub(crate) fn block(
        &self,
        fork: Fork,
        indexes: Indexes,
    ) -> Result<ArchivedBlock, Unexpressible> {
        let tx = self.transaction(indexes)?;
        let env = &self.unit.env;
        let fail = Unexpressible::Fail;
        let gas_limit = env
            .current_gas_limit
            .to_u64("env.currentGasLimit")
            .map_err(fail)?;
        let timestamp = env
            .current_timestamp
            .to_u64("env.currentTimestamp")
            .map_err(fail)?;
        let base_fee = match env.current_base_fee {
            Some(fee) if fork >= Fork::London => {
                Some(fee.to_u64("env.currentBaseFee").map_err(fail)?)
            }
            // The runner, too, uses a zero base fee when a London-on fixture states none.
            None if fork >= Fork::London => Some(0),
            _ => None,
        };
        let excess_blob_gas = match env.current_excess_blob_gas {
            Some(excess) => excess.to_u64("env.currentExcessBlobGas").map_err(fail)?,
            None => 0,
        };
        let post_merge = fork >= Fork::Paris;
        let cancun = fork >= Fork::Cancun;
        let transactions = vec![tx];
        let header = Header {
            parent_hash: self
                .number
                .checked_sub(1)
                .map_or(B256::ZERO, state_test_block_hash),
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: env.current_coinbase,
            state_root: B256::ZERO,
            transactions_root: calculate_transaction_root(&transactions),
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Default::default(),
            difficulty: if post_merge {
                U256::ZERO
            } else {
                env.current_difficulty.map(|d| d.0).unwrap_or_default()
            },
            number: self.number,
            gas_limit,
            gas_used: 0,
            timestamp,
            extra_data: Bytes::new(),
            mix_hash: if post_merge {
                env.current_random
                    .map(|r| B256::from(r.0))
                    .unwrap_or_default()
            } else {
                B256::ZERO
            },
            nonce: B64::ZERO,
            base_fee_per_gas: base_fee,
            withdrawals_root: (fork >= Fork::Shanghai).then_some(EMPTY_ROOT_HASH),
            blob_gas_used: cancun.then(|| transactions[0].blob_gas_used().unwrap_or_default()),
            excess_blob_gas: cancun.then_some(excess_blob_gas),
            parent_beacon_block_root: cancun.then_some(B256::ZERO),
            requests_hash: (fork >= Fork::Prague).then_some(EMPTY_REQUESTS_HASH),
            block_access_list_hash: None,
            slot_number: None,
        };
        let block = ArchivedBlock {
            chain_id: self.chain_id,
            hash: header.hash_slow(),
            block: Block {
                header,
                body: BlockBody {
                    transactions,
                    ommers: Vec::new(),
                    withdrawals: (fork >= Fork::Shanghai).then(Withdrawals::default),
                },
            },
            ommer_hashes: Vec::new(),
            pre_state: self.pre_state.clone(),
        };
        block.check().map_err(|e| {
            Unexpressible::Fail(format!("the converted block is inconsistent: {e}"))
        })?;
        Ok(block)
    }

    /// The signed transaction `indexes` selects.
    fn transaction(&self, indexes: Indexes) -> Result<TxEnvelope, Unexpressible> {
        let skip = |reason: &str| {
            Err(Unexpressible::Skip(format!(
                "no block can carry it: {reason}"
            )))
        };
        let parts = &self.unit.transaction;
        let (key, _) = self
            .signer
            .as_ref()
            .map_err(|e| Unexpressible::Skip(e.clone()))?;
        let data = pick(&parts.data, indexes.data, "data")
            .map_err(Unexpressible::Fail)?
            .clone();
        let gas_limit =
            *pick(&parts.gas_limit, indexes.gas, "gasLimit").map_err(Unexpressible::Fail)?;
        let value = *pick(&parts.value, indexes.value, "value").map_err(Unexpressible::Fail)?;

        let Quantity::Value(value) = value else {
            return skip("the value is wider than 256 bits");
        };
        let Some(gas_limit) = gas_limit.to_u64() else {
            return skip("the gas limit is wider than 64 bits");
        };
        let Some(nonce) = parts.nonce.to_u64() else {
            return skip("the nonce is wider than 64 bits (EIP-2681)");
        };
        let access_list = parts
            .access_lists
            .get(indexes.data)
            .and_then(Option::as_ref);
        let tx_type = parts
            .tx_type(access_list.is_some())
            .map_err(Unexpressible::Fail)?;
        let max_fee = parts
            .gas_price
            .or(parts.max_fee_per_gas)
            .unwrap_or(Quantity::Value(U256::ZERO));
        let (Some(max_fee), Some(priority_fee), Some(blob_fee)) = (
            max_fee.to_u128(),
            parts
                .max_priority_fee_per_gas
                .map_or(Some(0), Quantity::to_u128),
            parts
                .max_fee_per_blob_gas
                .map_or(Some(0), Quantity::to_u128),
        ) else {
            return skip(
                "a fee is wider than 128 bits, and every transaction type holds its fees as \
                 u128 (revm 43 as well)",
            );
        };
        let access_list = model::access_list(access_list);
        let kind = parts.to.map_or(TxKind::Create, TxKind::Call);
        let chain_id = self.chain_id;
        let signed = match tx_type {
            0 => sign(
                TxLegacy {
                    chain_id: None,
                    nonce,
                    gas_price: max_fee,
                    gas_limit,
                    to: kind,
                    value,
                    input: data,
                },
                key,
            ),
            1 => sign(
                TxEip2930 {
                    chain_id,
                    nonce,
                    gas_price: max_fee,
                    gas_limit,
                    to: kind,
                    value,
                    access_list,
                    input: data,
                },
                key,
            ),
            2 => sign(
                TxEip1559 {
                    chain_id,
                    nonce,
                    gas_limit,
                    max_fee_per_gas: max_fee,
                    max_priority_fee_per_gas: priority_fee,
                    to: kind,
                    value,
                    access_list,
                    input: data,
                },
                key,
            ),
            3 => {
                let Some(to) = parts.to else {
                    return skip(
                        "a blob transaction without `to` (EIP-4844 has no contract creation)",
                    );
                };
                sign(
                    TxEip4844 {
                        chain_id,
                        nonce,
                        gas_limit,
                        max_fee_per_gas: max_fee,
                        max_priority_fee_per_gas: priority_fee,
                        to,
                        value,
                        access_list,
                        blob_versioned_hashes: parts
                            .blob_versioned_hashes
                            .clone()
                            .unwrap_or_default(),
                        max_fee_per_blob_gas: blob_fee,
                        input: data,
                    },
                    key,
                )
            }
            4 => {
                let Some(to) = parts.to else {
                    return skip(
                        "a set-code transaction without `to` (EIP-7702 has no contract creation)",
                    );
                };
                let authorization_list = match self.authorizations() {
                    Ok(list) => list,
                    Err(reason) => return skip(&reason),
                };
                sign(
                    TxEip7702 {
                        chain_id,
                        nonce,
                        gas_limit,
                        max_fee_per_gas: max_fee,
                        max_priority_fee_per_gas: priority_fee,
                        to,
                        value,
                        access_list,
                        authorization_list,
                        input: data,
                    },
                    key,
                )
            }
            other => return skip(&format!("transaction type {other} has no envelope")),
        };
        signed.map_err(Unexpressible::Fail)
    }

    /// The EIP-7702 authorization list, or why a field cannot be encoded.
    fn authorizations(&self) -> Result<Vec<SignedAuthorization>, String> {
        let mut list = Vec::new();
        for (i, auth) in self
            .unit
            .transaction
            .authorization_list
            .iter()
            .flatten()
            .enumerate()
        {
            let (Quantity::Value(chain_id), Some(nonce), Quantity::Value(r), Quantity::Value(s)) =
                (auth.chain_id, auth.nonce.to_u64(), auth.r, auth.s)
            else {
                return Err(format!(
                    "authorization {i}: a field exceeds its bound (EIP-7702)"
                ));
            };
            let parity = auth
                .y_parity
                .or(auth.v)
                .unwrap_or(Quantity::Value(U256::ZERO));
            let y_parity = match parity {
                Quantity::Value(p) => u8::try_from(p).ok(),
                Quantity::Overflow => None,
            };
            let Some(y_parity) = y_parity else {
                return Err(format!(
                    "authorization {i}: y_parity wider than 8 bits (EIP-7702)"
                ));
            };
            let inner = Authorization {
                chain_id,
                address: auth.address,
                nonce,
            };
            list.push(SignedAuthorization::new_unchecked(inner, y_parity, r, s));
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockhash_convention_is_revms_empty_db() {
        use revm::database_interface::{DatabaseRef, EmptyDB};
        for n in [0u64, 1, 255, 1_000_000] {
            assert_eq!(
                state_test_block_hash(n),
                EmptyDB::default().block_hash_ref(n).unwrap()
            );
        }
    }
}
