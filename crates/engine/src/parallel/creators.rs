//! Recipients whose calls create contracts: a dependency hint known before any transaction
//! of the block has run (`hints.rs` asks it).
//!
//! A contract that creates a contract (CREATE or CREATE2) increments its own nonce, and
//! reads it first. Two calls to it that both create are therefore a chain through that
//! nonce, whatever else they touch. Block-STM's second worker runs the next such call beside
//! the one below it and is aborted when the lower one writes the nonce; the hot-recipient
//! hint learns from that first abort, by which time the next call has started too. Mainnet
//! 2462997 (six calls to one contract, each creating hundreds of accounts) and 2688148 (four
//! calls to one contract) ran slower on two workers than on one for that reason, as did
//! the mint calls of gas tokens, which create a contract each.
//!
//! Before the worker loop, [`Creators::scan`] lists the block's recipients that are called
//! at least twice within the hint window and whose code in the pre-state holds a CREATE or
//! CREATE2 opcode (revm's opcode iterator, so that PUSH data does not count). A listed
//! recipient starts out *creating*: a call to it waits for the nearest lower call to it.
//! Every execution of a call to it that completes then tells whether the recipient creates
//! ([`Creators::executed`]): a call that wrote the recipient's nonce keeps its calls chained,
//! one that did not releases them until a later call creates again. Code that holds the
//! opcode on a path few calls take (a factory's rarely used function, constructor or
//! metadata bytes) thus costs one wait before its first call completes. Code deployed in the
//! block, and a proxy whose implementation creates through DELEGATECALL, are not listed:
//! their calls are left to the hot-recipient hint, which learns from aborts.
//!
//! Walking a contract's code costs about as much as executing a small transaction (a block
//! of 237 transactions calls 12 contracts twice within the window, 63 KB of code), so
//! whether a code holds either opcode is remembered by its hash across the engine's
//! replays ([`CreatingCode`]), as a client keeps analysed code: the contracts a block calls
//! twice are mostly those every block calls.
//!
//! A hint orders first incarnations only; a wrong one costs time, never correctness.
//!
//! # Concurrency
//! The list is built on the calling thread before the worker loop and never changes
//! afterwards; each entry's state is one atomic byte, written by the worker whose execution
//! completed and read before a first incarnation. `Relaxed` suffices: nothing else is
//! published through it, and a worker that reads a stale state orders one first incarnation
//! by an outdated observation, which costs a wait or an abort, never a wrong value.
//! [`CreatingCode`] is a map behind a mutex, taken once per replay by the calling thread
//! before the loop (replays on other threads of the same engine take it in turn).

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
};

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::{Address, B256};
use revm::bytecode::{
    Bytecode,
    opcode::{CREATE, CREATE2},
};

use super::threads::lock;
use crate::pre_state::PreState;

/// Code hashes remembered at most: about 2 MB of map; past it the map starts afresh.
const MAX_REMEMBERED: usize = 65_536;

/// Whether a code holds a CREATE or CREATE2 opcode, by code hash, remembered across the
/// replays of one engine (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct CreatingCode {
    by_hash: Mutex<HashMap<B256, bool>>,
}

impl CreatingCode {
    /// Whether `code`, of hash `hash`, holds CREATE or CREATE2 as an opcode (not as PUSH
    /// data; legacy code only: an EIP-7702 delegation runs another account's code).
    fn creates(map: &mut HashMap<B256, bool>, hash: B256, code: &Bytecode) -> bool {
        if let Some(known) = map.get(&hash) {
            return *known;
        }
        let creates = code
            .iter_opcodes()
            .any(|opcode| opcode == CREATE || opcode == CREATE2);
        if map.len() >= MAX_REMEMBERED {
            map.clear();
        }
        map.insert(hash, creates);
        creates
    }
}

/// The block's recipients whose code can create, each with whether its calls are taken to
/// create (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Creators {
    /// Sorted by address; `true` while the recipient's calls are taken to create.
    listed: Vec<(Address, AtomicBool)>,
}

impl Creators {
    /// Lists the recipients of `txs` called at least twice within `window` transactions of
    /// each other whose code in `pre` holds a CREATE or CREATE2 opcode (asking `known`
    /// first).
    pub(crate) fn scan(
        txs: &[TxEnvelope],
        pre: &PreState,
        window: usize,
        known: &CreatingCode,
    ) -> Self {
        let mut repeated: Vec<Address> = Vec::new();
        for (tx, envelope) in txs.iter().enumerate() {
            let Some(to) = envelope.to() else { continue };
            let below = &txs[tx.saturating_sub(window)..tx];
            if below.iter().any(|lower| lower.to() == Some(to)) {
                repeated.push(to);
            }
        }
        if repeated.is_empty() {
            return Self::default();
        }
        repeated.sort_unstable();
        repeated.dedup();
        let mut map = lock(&known.by_hash);
        let listed = repeated
            .into_iter()
            .filter(|address| {
                pre.account(address).is_some_and(|account| {
                    account.code.as_ref().is_some_and(|code| {
                        CreatingCode::creates(&mut map, account.code_hash, code)
                    })
                })
            })
            .map(|address| (address, AtomicBool::new(true)))
            .collect();
        Self { listed }
    }

    /// Whether no recipient is listed (most blocks): nothing to ask or learn.
    pub(crate) fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// Whether calls to `to` are taken to create, so that each waits for the one below.
    pub(crate) fn creating(&self, to: Address) -> bool {
        self.entry(to)
            .is_some_and(|creating| creating.load(Relaxed))
    }

    /// Learns from a completed execution of a call to `to`: whether it wrote `to`'s nonce
    /// (asked only when `to` is listed).
    pub(crate) fn executed(&self, to: Address, wrote_nonce: impl FnOnce() -> bool) {
        if let Some(creating) = self.entry(to) {
            creating.store(wrote_nonce(), Relaxed);
        }
    }

    fn entry(&self, to: Address) -> Option<&AtomicBool> {
        self.listed
            .binary_search_by(|(address, _)| address.cmp(&to))
            .ok()
            .map(|at| &self.listed[at].1)
    }
}

#[cfg(test)]
mod tests {
    use alloy_consensus::{Signed, TxLegacy};
    use alloy_primitives::{B256, Bytes, Signature, TxKind, U256};

    use super::*;
    use crate::pre_state::PreAccount;

    fn call(to: Address) -> TxEnvelope {
        let tx = TxLegacy {
            to: TxKind::Call(to),
            ..TxLegacy::default()
        };
        TxEnvelope::Legacy(Signed::new_unchecked(
            tx,
            Signature::test_signature(),
            B256::ZERO,
        ))
    }

    fn with_code(pre: &mut PreState, address: Address, code: &[u8]) {
        let account = PreAccount::new(
            U256::ZERO,
            1,
            Bytes::copy_from_slice(code),
            Default::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        pre.insert_account(address, account);
    }

    #[test]
    fn recipients_called_twice_in_the_window_whose_code_creates_are_listed() {
        let [factory, deployer, token, rare, once] =
            [0xfa, 0xde, 0x70, 0x0a, 0x01].map(Address::repeat_byte);
        let mut pre = PreState::new();
        // PUSH1 0, PUSH1 0, PUSH1 0, CREATE; PUSH1 0 ... CREATE2; a CREATE byte inside PUSH2
        // data only; CREATE for a recipient called once.
        with_code(&mut pre, factory, &[0x60, 0, 0x60, 0, 0x60, 0, 0xf0, 0x00]);
        with_code(
            &mut pre,
            deployer,
            &[0x60, 0, 0x60, 0, 0x60, 0, 0x60, 0, 0xf5],
        );
        with_code(&mut pre, token, &[0x61, 0xf0, 0xf5, 0x00]);
        with_code(&mut pre, once, &[0xf0]);
        // `rare` has no code in the pre-state (deployed in the block, or an EOA).
        let to = [
            factory, token, deployer, factory, once, token, rare, deployer, rare,
        ];
        let txs: Vec<TxEnvelope> = to.iter().map(|to| call(*to)).collect();
        let known = CreatingCode::default();
        let creators = Creators::scan(&txs, &pre, 8, &known);
        assert!(creators.creating(factory));
        assert!(creators.creating(deployer));
        assert!(
            !creators.creating(token),
            "0xf0 and 0xf5 only as PUSH2 data"
        );
        assert!(!creators.creating(once), "called once");
        assert!(!creators.creating(rare), "no code");
        // Outside the window the second call is not a repeat.
        assert!(Creators::scan(&txs, &pre, 2, &known).is_empty());
        // What each code holds is remembered by its hash: four codes walked, and a later
        // scan asks the map first (a wrong entry planted for the token's hash is believed).
        let by_hash = |address: Address| pre.account(&address).map(|a| a.code_hash);
        let remembered = lock(&known.by_hash).clone();
        assert_eq!(
            remembered.len(),
            3,
            "factory, deployer and token: `once` is called once"
        );
        assert_eq!(
            by_hash(token).and_then(|h| remembered.get(&h).copied()),
            Some(false)
        );
        if let Some(hash) = by_hash(token) {
            lock(&known.by_hash).insert(hash, true);
        }
        assert!(Creators::scan(&txs, &pre, 8, &known).creating(token));
    }

    #[test]
    fn a_call_that_did_not_write_the_nonce_releases_its_recipient_until_one_does() {
        let factory = Address::repeat_byte(0xfa);
        let mut pre = PreState::new();
        with_code(&mut pre, factory, &[0x60, 0, 0x60, 0, 0x60, 0, 0xf0]);
        let txs = vec![call(factory), call(factory)];
        let creators = Creators::scan(&txs, &pre, 8, &CreatingCode::default());
        assert!(creators.creating(factory));
        creators.executed(factory, || false);
        assert!(!creators.creating(factory));
        creators.executed(factory, || true);
        assert!(creators.creating(factory));
        // A recipient that is not listed learns nothing.
        let other = Address::repeat_byte(0x07);
        creators.executed(other, || true);
        assert!(!creators.creating(other));
    }
}
