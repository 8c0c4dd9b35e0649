//! EIP-7610, which revm 43 lacks: a contract creation whose target address has storage but no
//! code and a zero nonce must fail as a collision. The runner tells such a case apart from a
//! real mismatch by re-running it with a probe, and skips it with [`EIP7610_SKIP`].

use alloy_primitives::{Address, keccak256};
use revm::{
    Context, InspectCommitEvm, Inspector, MainBuilder, MainContext,
    context::TxEnv,
    context_interface::{ContextTr, JournalTr},
    database::{CacheState, State},
    interpreter::{CreateInputs, CreateOutcome, CreateScheme, interpreter::EthInterpreter},
};

use super::{environment::Environment, model::TestUnit};

/// Why a case whose creation hits a storage-only account cannot pass on revm 43.
pub(crate) const EIP7610_SKIP: &str = "EIP-7610 not implemented by revm 43: a contract creation \
    targets an address that has storage but no code and nonce 0, which must fail as a \
    collision; revm's journal (`create_account_checkpoint`) checks only code and nonce";

/// Re-executes a case with [`Eip7610Probe`] and returns a skip reason when a contract
/// creation targeted an address that, in the pre-state, has storage but neither code nor
/// nonce.
pub(crate) fn collision(
    unit: &TestUnit,
    pre: &CacheState,
    env: &Environment,
    tx: TxEnv,
) -> Option<String> {
    let has_storage_only = unit.pre.values().any(|a| {
        a.code.is_empty() && a.nonce.0.is_zero() && a.storage.values().any(|v| !v.0.is_zero())
    });
    if !has_storage_only {
        return None;
    }
    let mut state = State::builder().with_cached_prestate(pre.clone()).build();
    let probe = Eip7610Probe {
        test: unit,
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
