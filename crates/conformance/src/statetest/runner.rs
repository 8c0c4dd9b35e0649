//! Executes one post entry of one test: builds revm's environment from the fixture, runs the
//! transaction on a fresh copy of the pre-state and checks the roots.

use alloy_primitives::{Address, B256, TxKind, U256, keccak256};
use replay_evm::chain::{ChainSpec, Fork};
use revm::{
    Context, ExecuteCommitEvm, InspectCommitEvm, Inspector, MainBuilder, MainContext,
    context::{
        BlockEnv, CfgEnv, TxEnv,
        either::Either,
        result::{EVMError, ExecutionResult},
    },
    context_interface::{
        ContextTr, JournalTr,
        block::BlobExcessGasAndPrice,
        transaction::{Authorization, SignedAuthorization},
    },
    database::{CacheState, State},
    interpreter::{CreateInputs, CreateOutcome, CreateScheme, interpreter::EthInterpreter},
    primitives::{KECCAK_EMPTY, hardfork::SpecId},
    state::{AccountInfo, Bytecode},
};

use crate::{
    statetest::model::{Indexes, PostEntry, Quantity, TestUnit, TxParts},
    roots,
};

/// Why a case whose creation hits a storage-only account cannot pass on revm 43.
pub(crate) const EIP7610_SKIP: &str = "EIP-7610 not implemented by revm 43: a contract creation \
    targets an address that has storage but no code and nonce 0, which must fail as a \
    collision; revm's journal (`create_account_checkpoint`) checks only code and nonce";

/// What happened to one post entry.
#[derive(Debug)]
pub(crate) enum CaseOutcome {
    /// Roots and exception expectation matched.
    Pass,
    /// A mismatch, with a message naming what differs.
    Fail(String),
    /// The case cannot run on revm 43, with the concrete reason.
    Skip(String),
}

/// A test's fork-independent parts, prepared once and shared by all its post entries.
pub(crate) struct PreparedTest<'a> {
    unit: &'a TestUnit,
    pre: CacheState,
    chain_id: u64,
    /// The sender, or why it could not be determined.
    caller: Result<Address, String>,
}

impl<'a> PreparedTest<'a> {
    /// Builds the pre-state and resolves the chain id and the sender.
    pub(crate) fn new(unit: &'a TestUnit) -> Result<Self, String> {
        let mut pre = CacheState::new();
        for (address, account) in &unit.pre {
            let code_hash = if account.code.is_empty() {
                KECCAK_EMPTY
            } else {
                keccak256(&account.code)
            };
            let code = Bytecode::new_raw_checked(account.code.clone())
                .map_err(|e| format!("pre-state account {address}: invalid code: {e}"))?;
            let info = AccountInfo {
                balance: account.balance.0,
                nonce: account
                    .nonce
                    .to_u64(&format!("pre-state account {address} nonce"))?,
                code_hash,
                code: Some(code),
                ..Default::default()
            };
            let storage = account.storage.iter().map(|(k, v)| (k.0, v.0)).collect();
            pre.insert_account_with_storage(*address, info, storage);
        }
        let chain_id = chain_id(unit)?;
        let tx = &unit.transaction;
        let caller = match (tx.sender, tx.secret_key) {
            (Some(sender), _) => Ok(sender),
            (None, Some(key)) => address_from_secret_key(&key),
            (None, None) => Err("transaction has neither `sender` nor `secretKey`".to_owned()),
        };
        Ok(Self {
            unit,
            pre,
            chain_id,
            caller,
        })
    }

    /// Runs one post entry of `fork`.
    pub(crate) fn run(&self, fork: Fork, entry: &PostEntry) -> CaseOutcome {
        let env = match self.environment(fork) {
            Ok(env) => env,
            Err(message) => return CaseOutcome::Fail(message),
        };
        let tx = match self.transaction(entry.indexes) {
            Ok(tx) => tx,
            Err(message) => return CaseOutcome::Fail(message),
        };

        let mut state = State::builder()
            .with_cached_prestate(self.pre.clone())
            .build();
        let executed = match &tx {
            BuiltTx::Valid(tx) => {
                let mut evm = Context::mainnet()
                    .with_cfg(env.cfg.clone())
                    .with_block(env.block.clone())
                    .with_db(&mut state)
                    .build_mainnet();
                match evm.transact_commit(TxEnv::clone(tx)) {
                    Ok(result) => Executed::Valid(result),
                    Err(EVMError::Transaction(e)) => Executed::Invalid(e.to_string()),
                    Err(EVMError::Header(e)) => Executed::Invalid(format!("invalid header: {e}")),
                    Err(e) => return CaseOutcome::Fail(format!("revm error: {e}")),
                }
            }
            BuiltTx::Invalid(reason) => Executed::Invalid(reason.clone()),
        };

        let expected_exception = entry.expect_exception.as_deref();
        let logs = match (&executed, expected_exception) {
            (Executed::Valid(result), None) => result.logs(),
            (Executed::Invalid(_), Some(_)) => &[],
            (Executed::Valid(result), Some(expected)) => {
                return CaseOutcome::Fail(format!(
                    "expected exception `{expected}`, but the transaction was valid and executed \
                     ({})",
                    describe(result)
                ));
            }
            (Executed::Invalid(reason), None) => {
                return CaseOutcome::Fail(format!(
                    "transaction rejected as invalid ({reason}), but no exception was expected"
                ));
            }
        };

        touch_coinbase(&mut state.cache, env.block.beneficiary, env.cfg.spec);

        let mut mismatches = Vec::new();
        let logs_hash = roots::logs_hash(logs);
        if logs_hash != entry.logs {
            mismatches.push(format!(
                "logs hash mismatch: got {logs_hash}, expected {}",
                entry.logs
            ));
        }
        let state_root = roots::state_root(&state.cache);
        if state_root != entry.hash {
            mismatches.push(format!(
                "state root mismatch: got {state_root}, expected {}",
                entry.hash
            ));
        }
        if mismatches.is_empty() {
            return CaseOutcome::Pass;
        }
        if let Executed::Valid(result) = &executed {
            mismatches.push(format!("execution: {}", describe(result)));
        }
        // A mismatch may come from EIP-7610, which revm 43 does not implement: re-run with a
        // probe that sees every contract creation and tell that case apart.
        if let BuiltTx::Valid(tx) = tx
            && let Some(message) = self.eip7610_collision(&env, *tx)
        {
            return CaseOutcome::Skip(message);
        }
        CaseOutcome::Fail(mismatches.join("; "))
    }

    /// Re-executes the case with [`Eip7610Probe`] and returns a skip reason when a contract
    /// creation targeted an address that, in the pre-state, has storage but neither code nor
    /// nonce.
    fn eip7610_collision(&self, env: &Environment, tx: TxEnv) -> Option<String> {
        let has_storage_only = self.unit.pre.values().any(|a| {
            a.code.is_empty() && a.nonce.0.is_zero() && a.storage.values().any(|v| !v.0.is_zero())
        });
        if !has_storage_only {
            return None;
        }
        let mut state = State::builder()
            .with_cached_prestate(self.pre.clone())
            .build();
        let probe = Eip7610Probe {
            test: self.unit,
            hit: None,
        };
        let mut evm = Context::mainnet()
            .with_cfg(env.cfg.clone())
            .with_block(env.block.clone())
            .with_db(&mut state)
            .build_mainnet_with_inspector(probe);
        let _ = evm.inspect_tx_commit(tx);
        evm.inspector.hit.map(|_| EIP7610_SKIP.to_owned())
    }

    /// The revm configuration and block of `fork`.
    fn environment(&self, fork: Fork) -> Result<Environment, String> {
        let spec = fork.spec_id();
        let env = &self.unit.env;
        let mut cfg = CfgEnv::new_with_spec(spec).with_chain_id(self.chain_id);

        let mut block = BlockEnv {
            number: env.current_number.0,
            beneficiary: env.current_coinbase,
            timestamp: env.current_timestamp.0,
            gas_limit: env.current_gas_limit.to_u64("env.currentGasLimit")?,
            // The base fee exists from London on; before, it must not constrain the gas price.
            basefee: match env.current_base_fee {
                Some(fee) if spec.is_enabled_in(SpecId::LONDON) => {
                    fee.to_u64("env.currentBaseFee")?
                }
                _ => 0,
            },
            difficulty: U256::ZERO,
            prevrandao: None,
            blob_excess_gas_and_price: None,
            ..BlockEnv::default()
        };
        if spec.is_enabled_in(SpecId::MERGE) {
            // DIFFICULTY became PREVRANDAO; the header's difficulty is zero.
            let random = env
                .current_random
                .map(|r| B256::from(r.0))
                .unwrap_or_default();
            block.prevrandao = Some(random);
        } else {
            block.difficulty = env.current_difficulty.map(|d| d.0).unwrap_or_default();
        }

        if let Some(mut params) = ChainSpec::single_fork(self.chain_id, fork).blob_params_at(0, 0) {
            // EEST fixtures state the blob schedule they were filled with; it wins.
            let schedule = self
                .unit
                .config
                .as_ref()
                .and_then(|c| c.blob_schedule.as_ref())
                .and_then(|s| s.get(fork.name()));
            if let Some(entry) = schedule {
                params.max_blob_count = entry.max.to_u64("config.blobSchedule max")?;
                params.update_fraction = u128::from(
                    entry
                        .base_fee_update_fraction
                        .to_u64("config.blobSchedule baseFeeUpdateFraction")?,
                );
            }
            if params.update_fraction == 0 {
                return Err("blob base fee update fraction is zero".to_owned());
            }
            // EIP-7594 (Osaka) caps blobs per transaction below the block maximum.
            cfg.set_max_blobs_per_tx(params.max_blobs_per_tx.min(params.max_blob_count));
            cfg.blob_base_fee_update_fraction = u64::try_from(params.update_fraction).ok();
            let excess_blob_gas = match env.current_excess_blob_gas {
                Some(excess) => excess.to_u64("env.currentExcessBlobGas")?,
                None => 0,
            };
            block.blob_excess_gas_and_price = Some(BlobExcessGasAndPrice {
                excess_blob_gas,
                blob_gasprice: params.calc_blob_fee(excess_blob_gas),
            });
        }
        Ok(Environment { cfg, block })
    }

    /// The transaction selected by `indexes`, or why no valid transaction can carry it.
    ///
    /// # Errors
    /// A message when the fixture itself is inconsistent (index out of range, no sender).
    fn transaction(&self, indexes: Indexes) -> Result<BuiltTx, String> {
        let parts = &self.unit.transaction;
        let caller = self.caller.clone()?;
        let data = pick(&parts.data, indexes.data, "data")?.clone();
        let gas_limit = *pick(&parts.gas_limit, indexes.gas, "gasLimit")?;
        let value = *pick(&parts.value, indexes.value, "value")?;

        // Fields that no RLP-encodable transaction can carry make the transaction invalid.
        let Quantity::Value(value) = value else {
            return Ok(BuiltTx::Invalid("value wider than 256 bits".to_owned()));
        };
        let Some(gas_limit) = fits_u64(gas_limit) else {
            return Ok(BuiltTx::Invalid("gas limit wider than 64 bits".to_owned()));
        };
        let Some(nonce) = fits_u64(parts.nonce) else {
            return Ok(BuiltTx::Invalid(
                "nonce wider than 64 bits (EIP-2681)".to_owned(),
            ));
        };

        // EIP-4844 and EIP-7702 transactions encode `to` as a 20-byte address: they have no
        // contract-creation form, so such a transaction cannot exist.
        if parts.to.is_none() {
            if parts.max_fee_per_blob_gas.is_some() {
                return Ok(BuiltTx::Invalid(
                    "blob transaction without `to` (EIP-4844 has no contract creation)".to_owned(),
                ));
            }
            if parts.authorization_list.is_some() {
                return Ok(BuiltTx::Invalid(
                    "set-code transaction without `to` (EIP-7702 has no contract creation)"
                        .to_owned(),
                ));
            }
        }

        let access_list = parts
            .access_lists
            .get(indexes.data)
            .and_then(Option::as_ref);
        let tx_type = tx_type(parts, access_list.is_some())?;

        let max_fee = parts
            .gas_price
            .or(parts.max_fee_per_gas)
            .unwrap_or(Quantity::Value(U256::ZERO));
        let priority_fee = parts.max_priority_fee_per_gas;
        let blob_fee = parts.max_fee_per_blob_gas;
        let blob_hashes = parts.blob_versioned_hashes.clone().unwrap_or_default();
        let (Some(gas_price), Some(gas_priority_fee), Some(max_fee_per_blob_gas)) = (
            fits_u128(max_fee),
            priority_fee.map(fits_u128).unwrap_or(Some(0)),
            blob_fee.map(fits_u128).unwrap_or(Some(0)),
        ) else {
            return self.wide_fee(
                caller,
                gas_limit,
                value,
                max_fee,
                priority_fee,
                blob_fee,
                blob_hashes.len(),
            );
        };

        let mut authorization_list = Vec::new();
        for (i, auth) in parts.authorization_list.iter().flatten().enumerate() {
            let (
                Quantity::Value(chain_id),
                Some(auth_nonce),
                Quantity::Value(r),
                Quantity::Value(s),
            ) = (auth.chain_id, fits_u64(auth.nonce), auth.r, auth.s)
            else {
                return Ok(BuiltTx::Invalid(format!(
                    "authorization {i}: a field exceeds its bound (EIP-7702)"
                )));
            };
            let inner = Authorization {
                chain_id,
                address: auth.address,
                nonce: auth_nonce,
            };
            let parity = auth
                .y_parity
                .or(auth.v)
                .unwrap_or(Quantity::Value(U256::ZERO));
            let Quantity::Value(parity) = parity else {
                return Ok(BuiltTx::Invalid(format!(
                    "authorization {i}: y_parity wider than 8 bits"
                )));
            };
            match u8::try_from(parity) {
                Ok(y_parity) => authorization_list.push(Either::Left(
                    SignedAuthorization::new_unchecked(inner, y_parity, r, s),
                )),
                Err(_) => {
                    return Ok(BuiltTx::Invalid(format!(
                        "authorization {i}: y_parity wider than 8 bits (EIP-7702)"
                    )));
                }
            }
        }
        // revm recovers each signed authority itself and skips invalid ones (EIP-7702).

        let tx = TxEnv {
            tx_type,
            caller,
            gas_limit,
            gas_price,
            kind: parts.to.map_or(TxKind::Create, TxKind::Call),
            value,
            data,
            nonce,
            chain_id: Some(self.chain_id),
            access_list: crate::statetest::model::access_list(access_list),
            gas_priority_fee: priority_fee.map(|_| gas_priority_fee),
            blob_hashes,
            max_fee_per_blob_gas,
            authorization_list,
        };
        Ok(BuiltTx::Valid(Box::new(tx)))
    }
}

impl PreparedTest<'_> {
    /// A fee wider than revm's `u128`. Such a transaction is still well-formed, but the
    /// sender can only pay for it with an astronomically large balance: decide it exactly
    /// with 256-bit arithmetic against the pre-state balance.
    #[allow(clippy::too_many_arguments)]
    fn wide_fee(
        &self,
        caller: Address,
        gas_limit: u64,
        value: U256,
        max_fee: Quantity,
        priority_fee: Option<Quantity>,
        blob_fee: Option<Quantity>,
        blob_count: usize,
    ) -> Result<BuiltTx, String> {
        let (Quantity::Value(max_fee), Quantity::Value(priority), Quantity::Value(blob_fee)) = (
            max_fee,
            priority_fee.unwrap_or(Quantity::Value(U256::ZERO)),
            blob_fee.unwrap_or(Quantity::Value(U256::ZERO)),
        ) else {
            return Ok(BuiltTx::Invalid("fee wider than 256 bits".to_owned()));
        };
        if priority_fee.is_some() && priority > max_fee {
            return Ok(BuiltTx::Invalid(
                "max priority fee per gas exceeds max fee per gas".to_owned(),
            ));
        }
        let balance = self
            .unit
            .pre
            .get(&caller)
            .map(|a| a.balance.0)
            .unwrap_or_default();
        let blob_gas = U256::from(blob_count as u64 * revm::primitives::eip4844::GAS_PER_BLOB);
        let cost = U256::from(gas_limit)
            .checked_mul(max_fee)
            .and_then(|c| c.checked_add(value))
            .and_then(|c| {
                blob_gas
                    .checked_mul(blob_fee)
                    .and_then(|b| c.checked_add(b))
            });
        match cost {
            Some(cost) if cost <= balance => Err(format!(
                "a fee wider than 128 bits that the sender can afford: revm 43 cannot represent it \
                 (max fee {max_fee}, balance {balance})"
            )),
            _ => Ok(BuiltTx::Invalid(format!(
                "insufficient funds: gas limit * max fee per gas (fee {max_fee}) + value exceeds \
                 the sender's balance {balance}"
            ))),
        }
    }
}

/// The revm configuration and block of one fork.
struct Environment {
    cfg: CfgEnv,
    block: BlockEnv,
}

/// A transaction ready for revm, or rejected before it (a field no valid transaction can hold).
enum BuiltTx {
    Valid(Box<TxEnv>),
    Invalid(String),
}

/// The transaction's fate.
enum Executed {
    Valid(ExecutionResult),
    Invalid(String),
}

/// The chain id a test runs under: EEST's `config.chainid`, else `env.currentChainID`, else 1.
pub(crate) fn chain_id(unit: &TestUnit) -> Result<u64, String> {
    match unit.config.as_ref().and_then(|c| c.chainid) {
        Some(id) => id.to_u64("config.chainid"),
        None => match unit.env.current_chain_id {
            Some(id) => id.to_u64("env.currentChainID"),
            None => Ok(1),
        },
    }
}

/// The EIP-2718 type of the transaction: the fixture's explicit `type`, else the newest type
/// whose fields it carries.
pub(crate) fn tx_type(parts: &TxParts, has_access_list: bool) -> Result<u8, String> {
    Ok(match parts.tx_type {
        Some(t) => u8::try_from(t.0).map_err(|_| format!("transaction type {} too large", t.0))?,
        None if parts.authorization_list.is_some() => 4,
        None if parts.max_fee_per_blob_gas.is_some() => 3,
        None if parts.max_fee_per_gas.is_some() => 2,
        None if has_access_list => 1,
        None => 0,
    })
}

pub(crate) fn pick<'t, T>(items: &'t [T], index: usize, field: &str) -> Result<&'t T, String> {
    items.get(index).ok_or_else(|| {
        format!(
            "index {index} out of range for transaction.{field} (length {})",
            items.len()
        )
    })
}

pub(crate) fn fits_u64(q: Quantity) -> Option<u64> {
    match q {
        Quantity::Value(v) => u64::try_from(v).ok(),
        Quantity::Overflow => None,
    }
}

pub(crate) fn fits_u128(q: Quantity) -> Option<u128> {
    match q {
        Quantity::Value(v) => u128::try_from(v).ok(),
        Quantity::Overflow => None,
    }
}

/// Applies the zero-value mining reward that the reference state-test runner (geth's, which
/// filled ethereum/tests) pays to the coinbase after every transaction, valid or not: it
/// touches the coinbase. Before Spurious Dragon a touched account that does not exist is
/// created empty, so an invalid transaction still leaves an empty coinbase account in the
/// state; from Spurious Dragon on (EIP-161) a touched empty account is deleted.
fn touch_coinbase(cache: &mut CacheState, coinbase: Address, spec: SpecId) {
    let existing = cache
        .accounts
        .get(&coinbase)
        .and_then(|a| a.account.as_ref());
    if spec.is_enabled_in(SpecId::SPURIOUS_DRAGON) {
        if existing.is_some_and(|a| a.info.is_empty()) {
            cache.insert_not_existing(coinbase);
        }
    } else if existing.is_none() {
        cache.insert_account(coinbase, AccountInfo::default());
    }
}

/// One line describing an execution result, for failure messages.
fn describe(result: &ExecutionResult) -> String {
    match result {
        ExecutionResult::Success { reason, .. } => {
            format!("success ({reason:?}), gas used {}", result.tx_gas_used())
        }
        ExecutionResult::Revert { .. } => format!("reverted, gas used {}", result.tx_gas_used()),
        ExecutionResult::Halt { reason, .. } => {
            format!("halted ({reason:?}), gas used {}", result.tx_gas_used())
        }
    }
}

/// The address of the secp256k1 key: the last 20 bytes of keccak(uncompressed public key).
pub(crate) fn address_from_secret_key(key: &B256) -> Result<Address, String> {
    let signing = k256::ecdsa::SigningKey::from_slice(key.as_slice())
        .map_err(|e| format!("invalid transaction.secretKey: {e}"))?;
    let point = signing.verifying_key().to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    Ok(Address::from_slice(&hash[12..]))
}

/// An inspector that records the first contract creation whose target address has, in the
/// pre-state, storage but no code and a zero nonce: the EIP-7610 collision revm 43 misses.
/// It only observes; it never alters the creation.
struct Eip7610Probe<'a> {
    test: &'a TestUnit,
    hit: Option<Address>,
}

impl<CTX: ContextTr> Inspector<CTX, EthInterpreter> for Eip7610Probe<'_> {
    fn create(&mut self, context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        if self.hit.is_some() {
            return None;
        }
        // The caller is executing (or is the sender), so it is loaded and warm already.
        let nonce = context
            .journal_mut()
            .load_account(inputs.caller())
            .ok()?
            .data
            .info
            .nonce;
        // Computed here rather than with `inputs.created_address`, which caches its result.
        let target = match inputs.scheme() {
            CreateScheme::Create => inputs.caller().create(nonce),
            CreateScheme::Create2 { salt } => inputs
                .caller()
                .create2(salt.to_be_bytes::<32>(), keccak256(inputs.init_code())),
            CreateScheme::Custom { address } => address,
        };
        let storage_only = self.test.pre.get(&target).is_some_and(|a| {
            a.code.is_empty() && a.nonce.0.is_zero() && a.storage.values().any(|v| !v.0.is_zero())
        });
        if storage_only {
            self.hit = Some(target);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256};

    #[test]
    fn sender_from_secret_key() {
        // The well-known ethereum/tests sender.
        let key = b256!("0x45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8");
        assert_eq!(
            address_from_secret_key(&key).unwrap(),
            address!("0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b")
        );
        assert!(address_from_secret_key(&B256::ZERO).is_err());
    }
}
