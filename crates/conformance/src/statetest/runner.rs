//! Executes one post entry of one test: builds revm's environment from the fixture, runs the
//! transaction on a fresh copy of the pre-state and checks the roots.

use alloy_primitives::{Address, keccak256};
use replay_evm::chain::Fork;
use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    context::{
        TxEnv,
        result::{EVMError, ExecutionResult},
    },
    database::{CacheState, State},
    primitives::{KECCAK_EMPTY, hardfork::SpecId},
    state::{AccountInfo, Bytecode},
};

use super::{
    eip7610,
    environment::environment,
    model::{PostEntry, TestUnit},
    signing::address_from_secret_key,
    transaction::{BuiltTx, transaction},
};
use crate::roots;

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
        let chain_id = unit.chain_id()?;
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
        let env = match environment(self.unit, self.chain_id, fork) {
            Ok(env) => env,
            Err(message) => return CaseOutcome::Fail(message),
        };
        let tx = self
            .caller
            .clone()
            .and_then(|caller| transaction(self.unit, self.chain_id, caller, entry.indexes));
        let tx = match tx {
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
            && let Some(message) = eip7610::collision(self.unit, &self.pre, &env, *tx)
        {
            return CaseOutcome::Skip(message);
        }
        CaseOutcome::Fail(mismatches.join("; "))
    }
}

/// The transaction's fate.
enum Executed {
    Valid(ExecutionResult),
    Invalid(String),
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
