//! Dependency hints for Block-STM's first incarnations (`TxExecutor::dependency_hint`): a
//! lower transaction whose writes a transaction is known, or has learned in this block, to
//! read, so that its first incarnation waits for that one to execute instead of running
//! early only to be aborted. A hint only orders first incarnations; it never changes what an
//! incarnation reads or how it is validated, so a wrong hint costs time, never correctness.
//!
//! Two hints, of which the nearer lower transaction wins:
//! - *Same sender*: the nearest of the [`HINT_WINDOW`] transactions below sent by the same
//!   sender, whose nonce it writes and this one reads. A batch of one sender's transactions
//!   (a payout, an exchange's sweep; hundreds in some mainnet blocks) is a chain.
//! - *Hot recipient*: the nearest of the [`HINT_WINDOW`] transactions below with the same
//!   recipient, while that recipient is hot. A contract that creates a contract on every
//!   call (its nonce) or reads its own balance chains every call to it: mainnet 2462997
//!   holds six calls to one contract that each create hundreds of accounts, run two at a
//!   time and aborted in turn. A recipient heats by [`ABORT_HEAT`] each time a validation
//!   aborts a call to it on a read of its own account's fields
//!   ([`DependencyHints::conflicted`]), up to [`MAX_HEAT`], and cools by one with each
//!   call's first incarnation; it is hot while warm, so a contract whose calls conflict
//!   now and then is hot for a few calls after each abort rather than for the rest of the
//!   block.
//! - *Same call to a hot recipient*: the nearest of the [`HINT_WINDOW`] transactions below
//!   that calls the same recipient with the same input, while that recipient is hot from
//!   a conflict on its storage. Which slots a call touches depends on its input, so calls
//!   with one input run one code path over one set of slots: a counter that every plain
//!   payment to a contract increments (mainnet 6196166: 49 payments with no input to one
//!   contract, then 30 and 7 to two others, interleaved, each reading the three slots the
//!   payment before wrote), a `mint()` that takes the next token id. One abort of such a
//!   call on its recipient's slots makes the recipient hot for [`MAX_HEAT`] calls: the
//!   evidence is specific, and a chain that re-learnt its heat every [`ABORT_HEAT`] calls
//!   would pay an abort each time (6196166 at 2 threads, execution-only, medians of 101
//!   alternating replays: 46 aborts a replay without this hint, 27 with [`ABORT_HEAT`], 2
//!   with [`MAX_HEAT`]).
//!
//!   Calls with different inputs are not chained by a conflict on storage: the nearest
//!   lower call is then often not the one a call conflicts with. Votes on four proposals
//!   of one DAO chain per proposal; hinted by recipient alone, each vote waited for the
//!   one below and ran on its values, and every abort of that one cascaded up the chain
//!   (the `dao-votes` workload at 2 threads, execution-only: 11,265 aborts for 17,917
//!   transactions against 416, and 269 ms against 144). Hinted by recipient and input, a
//!   vote waits for the last vote of the same input, on its own proposal. Conflicts on any
//!   other account a call reached teach nothing: calls through a router that met on one
//!   pool do not chain.
//!
//! - *Creating recipient*: the nearest of the [`HINT_WINDOW`] transactions below with the
//!   same recipient, when the recipient's code can create contracts and the last of its
//!   calls to complete did create (or none has completed yet): each creation reads and
//!   writes the creator's nonce, so such calls chain before any of them aborted
//!   (`creators.rs`). A call that completes without creating releases the recipient's
//!   calls, which then chain only when the recipient is hot.
//!
//! # A block that is one sender's chain
//! When one sender sent at least [`CHAIN_SHARE`] of a block's transactions, holding as
//! much of its gas limit (a payout, an exchange's sweep), their nonces chain them: they
//! run one after another on any number of workers, and the rest of the block, a quarter
//! of its transactions and of its gas at most, is all a second worker could run beside
//! them. Such a second worker mostly takes the chain's next transaction and waits on its
//! hint for the one below ([`one_sender_chain`]). Block-STM then runs the block on one
//! worker, when it knows the senders before the loop (execution-only replays; recovering
//! them is the other threads' work otherwise).
//!
//! # Concurrency
//! The recipients' heat is a short list behind a mutex, written when a validation aborts
//! and when a call to a listed recipient starts. An atomic flag says whether the list is
//! empty, so that a block without such a conflict never takes the lock. The flag is
//! `Relaxed`: the list itself is read under the mutex, and a worker that sees a stale
//! `false` runs one first incarnation without the hint, which only costs what the hint
//! would have saved.

use std::sync::{
    Mutex,
    atomic::{AtomicBool, Ordering::Relaxed},
};

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::Address;

use super::{
    creators::{CreatingCode, Creators},
    mv_memory::MvValue,
    read_set::ChangedRead,
    senders::Senders,
    threads::lock,
};
use crate::{
    access::{Location, TxIdx},
    pre_state::PreState,
};

/// How far below a transaction its hints look: senders are recovered in order, so those
/// below are at hand, and a batch's (or a hot contract's) transactions sit together.
const HINT_WINDOW: usize = 8;

/// Recipients whose heat is kept per block at most: a block whose every contract
/// conflicts gains nothing from a longer list to search.
const MAX_RECIPIENTS: usize = 16;

/// The heat a recipient gains when a call to it aborts on its own state: it stays hot for
/// this many calls, unless more abort.
const ABORT_HEAT: u32 = 16;

/// The most heat a recipient holds: it cools within this many calls once they stop
/// aborting.
const MAX_HEAT: u32 = 64;

/// The share of a block's transactions, and of its gas limit, one sender's must hold for
/// the block to count as that sender's chain ([`one_sender_chain`]): three quarters.
const CHAIN_SHARE: (u128, u128) = (3, 4);

/// Whether one sender sent at least [`CHAIN_SHARE`] of `txs` (`senders[i]` sent `txs[i]`;
/// two transactions at least) and those hold as much of their gas limit: a chain through
/// that sender's nonce, beside which a second worker has a quarter of the block at most.
/// Measured on the mainnet fixtures (the twentieth round's official run, execution-only,
/// one thread against two): the four blocks of at least 90% one sender's transactions
/// (89% to 100% of the gas limit) ran faster on one worker than on two (5891667 0.85x
/// against 0.73x, 11814555 0.83x against 0.81x, 12520364 0.88x against 0.80x, 2641321
/// 1.02x against 0.81x); the next, 1796867, is 57% one sender's.
pub(crate) fn one_sender_chain(txs: &[TxEnvelope], senders: &[Address]) -> bool {
    let n = senders.len();
    if n < 2 || txs.len() != n {
        return false;
    }
    // The majority sender by the Boyer-Moore vote, then its share: three quarters is a
    // majority, so the vote finds it if there is one.
    let mut candidate = senders[0];
    let mut votes = 0usize;
    for sender in senders {
        if votes == 0 {
            candidate = *sender;
        }
        if *sender == candidate {
            votes += 1;
        } else {
            votes -= 1;
        }
    }
    // The count first, from the senders alone: the gas limits are read from the
    // transactions, each on lines of its own, which cost raw-transfers at 1 Ggas (47,620
    // transactions, as many senders) 1.2 ms of its set-up at two threads to find no chain
    // (0.09 ms now; erc20-disjoint's 22,591: 0.56 -> 0.04 ms).
    let (part, whole) = CHAIN_SHARE;
    let count = senders
        .iter()
        .filter(|sender| **sender == candidate)
        .count();
    if (count as u128) * whole < n as u128 * part {
        return false;
    }
    let (mut gas, mut total_gas) = (0u128, 0u128);
    for (tx, sender) in txs.iter().zip(senders) {
        let limit = u128::from(tx.gas_limit());
        total_gas += limit;
        if *sender == candidate {
            gas += limit;
        }
    }
    gas * whole >= total_gas * part
}

/// Which calls to a hot recipient its hint chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Calls {
    /// Every call: a call aborted on a read of the recipient's own account fields.
    Every,
    /// Calls with one input only: calls aborted on reads of the recipient's storage.
    SameInput,
}

impl Calls {
    /// The heat one abort of such a call gives its recipient.
    fn abort_heat(self) -> u32 {
        match self {
            Self::Every => ABORT_HEAT,
            Self::SameInput => MAX_HEAT,
        }
    }
}

/// One hot recipient.
#[derive(Debug)]
struct Heat {
    to: Address,
    /// The calls' first incarnations it stays hot for.
    warmth: u32,
    calls: Calls,
}

/// One block's dependency hints (see the module docs).
pub(crate) struct DependencyHints<'a> {
    txs: &'a [TxEnvelope],
    senders: &'a Senders<'a>,
    /// Recipients a validation aborted a call to on a read of their own state, with their
    /// heat and which of their calls chain.
    heat: Mutex<Vec<Heat>>,
    /// Whether `heat` lists any (a fast path; see the module docs).
    any: AtomicBool,
    /// Recipients whose code can create, and whether their calls do (`creators.rs`).
    creators: Creators,
}

impl<'a> DependencyHints<'a> {
    /// No recipient heated yet; the recipients whose code in `pre` can create, listed
    /// (`creating_code` remembers which codes can, across replays).
    pub(crate) fn new(
        txs: &'a [TxEnvelope],
        senders: &'a Senders<'a>,
        pre: &PreState,
        creating_code: &CreatingCode,
    ) -> Self {
        Self {
            txs,
            senders,
            heat: Mutex::default(),
            any: AtomicBool::new(false),
            creators: Creators::scan(txs, pre, HINT_WINDOW, creating_code),
        }
    }

    /// The nearer of the same-sender and hot-recipient hints of transaction `tx`, asked
    /// once, before its first incarnation (a call to a listed recipient cools it).
    pub(crate) fn hint(&self, tx: TxIdx) -> Option<TxIdx> {
        let below = tx.saturating_sub(HINT_WINDOW)..tx;
        let by_sender = self.senders.get(tx).ok().and_then(|sender| {
            below
                .clone()
                .rev()
                .find(|lower| self.senders.get(*lower).is_ok_and(|s| s == sender))
        });
        // A creating recipient chains every call to it, whatever its heat says.
        let hot = self.hot_recipient(tx);
        let chained = match self.recipient(tx) {
            Some(to) if !self.creators.is_empty() && self.creators.creating(to) => {
                Some((to, Calls::Every))
            }
            _ => hot,
        };
        let by_recipient = chained.and_then(|(to, calls)| {
            below.rev().find(|lower| {
                self.recipient(*lower) == Some(to)
                    && (calls == Calls::Every || self.same_input(*lower, tx))
            })
        });
        by_sender.max(by_recipient)
    }

    /// Learns from an abort: transaction `tx`'s incarnation read `changed`, which a lower
    /// transaction has since written. The recipient heats if `changed` is its own: one of
    /// its account's fields (every call to it chains), or one of its slots (calls with the
    /// same input chain).
    pub(crate) fn conflicted(&self, tx: TxIdx, changed: ChangedRead) {
        let (address, calls) = match changed {
            ChangedRead::Account(address) => (address, Calls::Every),
            ChangedRead::Slot(address) => (address, Calls::SameInput),
        };
        if self.recipient(tx) != Some(address) {
            return;
        }
        let mut heat = lock(&self.heat);
        if let Some(listed) = heat.iter_mut().find(|listed| listed.to == address) {
            // Every call chains while a conflict on the account's fields is warm; once the
            // recipient has cooled, the new conflict alone says which calls chain.
            if listed.warmth == 0 || calls == Calls::Every {
                listed.calls = calls;
            }
            listed.warmth = (listed.warmth + calls.abort_heat()).min(MAX_HEAT);
        } else if heat.len() < MAX_RECIPIENTS {
            heat.push(Heat {
                to: address,
                warmth: calls.abort_heat(),
                calls,
            });
        } else {
            return;
        }
        self.any.store(true, Relaxed);
    }

    /// Learns from a completed execution of transaction `tx` that wrote `writes`: whether a
    /// call to a recipient that can create did create (`creators.rs`).
    pub(crate) fn executed(&self, tx: TxIdx, writes: &[(Location, MvValue)]) {
        if self.creators.is_empty() {
            return;
        }
        if let Some(to) = self.recipient(tx) {
            self.creators.executed(to, || {
                writes
                    .iter()
                    .any(|(location, _)| *location == Location::Nonce(to))
            });
        }
    }

    /// `tx`'s recipient and which of its calls chain, if it is hot, cooling it by one.
    fn hot_recipient(&self, tx: TxIdx) -> Option<(Address, Calls)> {
        if !self.any.load(Relaxed) {
            return None;
        }
        let to = self.recipient(tx)?;
        let mut heat = lock(&self.heat);
        let listed = heat.iter_mut().find(|listed| listed.to == to)?;
        let hot = listed.warmth > 0;
        listed.warmth = listed.warmth.saturating_sub(1);
        hot.then_some((to, listed.calls))
    }

    /// Whether transactions `a` and `b` carry the same input (calldata).
    fn same_input(&self, a: TxIdx, b: TxIdx) -> bool {
        match (self.txs.get(a), self.txs.get(b)) {
            (Some(a), Some(b)) => a.input() == b.input(),
            _ => false,
        }
    }

    /// The address transaction `tx` calls; `None` for a contract creation.
    fn recipient(&self, tx: TxIdx) -> Option<Address> {
        self.txs.get(tx).and_then(Transaction::to)
    }
}

#[cfg(test)]
mod tests {
    use alloy_consensus::{Signed, TxLegacy};
    use alloy_primitives::{B256, Bytes, Signature, TxKind, U256};

    use super::*;

    /// Runs `check` on the hints of `txs`, each sent by a sender of its own.
    fn with_hints(txs: &[TxEnvelope], check: impl FnOnce(&DependencyHints<'_>)) {
        let senders: Vec<Address> = (0..txs.len())
            .map(|i| Address::with_last_byte(u8::try_from(i).unwrap_or(u8::MAX)))
            .collect();
        let senders = Senders::Known(&senders);
        check(&DependencyHints::new(
            txs,
            &senders,
            &PreState::new(),
            &CreatingCode::default(),
        ));
    }

    fn call(to: Address) -> TxEnvelope {
        call_with(to, &[])
    }

    fn call_with(to: Address, input: &[u8]) -> TxEnvelope {
        let tx = TxLegacy {
            to: TxKind::Call(to),
            input: input.to_vec().into(),
            ..TxLegacy::default()
        };
        TxEnvelope::Legacy(Signed::new_unchecked(
            tx,
            Signature::test_signature(),
            B256::ZERO,
        ))
    }

    /// Calls of these gas limits, and whether `senders` make them one sender's chain.
    fn chain(senders: &[Address], limits: &[u64]) -> bool {
        let txs: Vec<TxEnvelope> = limits
            .iter()
            .map(|limit| {
                let tx = TxLegacy {
                    to: TxKind::Call(Address::ZERO),
                    gas_limit: *limit,
                    ..TxLegacy::default()
                };
                TxEnvelope::Legacy(Signed::new_unchecked(
                    tx,
                    Signature::test_signature(),
                    B256::ZERO,
                ))
            })
            .collect();
        one_sender_chain(&txs, senders)
    }

    #[test]
    fn a_block_is_one_senders_chain_from_three_quarters_of_its_transactions_and_gas() {
        let (a, b, c) = (
            Address::repeat_byte(0xaa),
            Address::repeat_byte(0xbb),
            Address::repeat_byte(0xcc),
        );
        let even = |n| vec![21_000; n];
        // Three quarters or more of the transactions and of the gas, wherever they sit.
        assert!(chain(&[a, a, a, b], &even(4)));
        assert!(chain(&[b, a, a, a], &even(4)));
        assert!(chain(&[a, b, a, c, a, a, a, a], &even(8)));
        assert!(chain(&[a, a], &even(2)));
        // Fewer transactions: a majority is not enough, nor is the most frequent of several.
        assert!(!chain(&[a, a, b, b], &even(4)));
        assert!(!chain(&[a, b, a, b, a], &even(5)));
        assert!(!chain(&[a, a, a, b, c, a, b], &even(7)));
        assert!(!chain(&[a, b, c], &even(3)));
        // The vote's candidate at the end is not the majority: [a, a, b, b, c] ends on c.
        assert!(!chain(&[a, a, b, b, c], &even(5)));
        // Three quarters of the transactions but not of the gas: the others' work is the
        // block's, and a second worker runs it beside the chain.
        assert!(!chain(&[a, a, a, b], &[21_000, 21_000, 21_000, 1_000_000]));
        assert!(chain(&[a, a, a, b], &[1_000_000, 21_000, 21_000, 300_000]));
        // Gas limits as large as a transaction holds do not overflow the sums.
        assert!(chain(&[a, a, a, b], &[u64::MAX; 4]));
        // A block of fewer than two transactions is no chain, nor are senders that do not
        // match the transactions.
        assert!(!chain(&[a], &even(1)));
        assert!(!chain(&[], &[]));
        assert!(!chain(&[a, a, a], &even(4)));
    }

    #[test]
    fn a_recipient_is_hinted_after_a_conflict_on_its_own_state_only() {
        let (factory, router, pool) = (
            Address::repeat_byte(0xfa),
            Address::repeat_byte(0x40),
            Address::repeat_byte(0x90),
        );
        // Transactions 0..=13: a call to the pool at 0, to the factory at 1, 3, 4 and 13
        // (9 above 4: beyond the window), to the router at the others; distinct senders
        // except 0 and 6.
        let mut to = vec![router; 14];
        for at in [1, 3, 4, 13] {
            to[at] = factory;
        }
        to[0] = pool;
        let txs: Vec<TxEnvelope> = to.iter().map(|to| call(*to)).collect();
        let mut senders: Vec<Address> = (0..14u8).map(Address::with_last_byte).collect();
        senders[6] = senders[0];
        let senders = Senders::Known(&senders);
        let hints =
            DependencyHints::new(&txs, &senders, &PreState::new(), &CreatingCode::default());

        // Before any conflict, only the same-sender hint.
        assert_eq!(hints.hint(6), Some(0));
        assert_eq!(hints.hint(4), None);
        // A conflict on an account the call reached (the pool) teaches nothing, nor one on
        // an account that is not the conflicting transaction's recipient.
        hints.conflicted(5, ChangedRead::Account(pool));
        hints.conflicted(5, ChangedRead::Account(factory));
        hints.conflicted(5, ChangedRead::Slot(factory));
        assert_eq!(hints.hint(4), None);
        assert_eq!(hints.hint(7), None);
        // A conflict on the factory's own account (its nonce), from a call to it: calls to
        // it wait for the nearest lower call within the window.
        hints.conflicted(3, ChangedRead::Account(factory));
        assert_eq!(hints.hint(4), Some(3));
        assert_eq!(hints.hint(3), Some(1));
        assert_eq!(hints.hint(1), None);
        assert_eq!(hints.hint(13), None, "the nearest lower call is 9 below");
        // The router is not hot: its calls are hinted by their sender only.
        assert_eq!(hints.hint(7), None);
        assert_eq!(hints.hint(6), Some(0));
        // Both hints: the nearer lower transaction.
        hints.conflicted(5, ChangedRead::Account(router));
        assert_eq!(hints.hint(6), Some(5));
    }

    #[test]
    fn calls_to_a_recipient_that_creates_chain_before_any_conflict_until_one_does_not_create() {
        let (factory, token) = (Address::repeat_byte(0xfa), Address::repeat_byte(0x70));
        let mut pre = PreState::new();
        // PUSH1 0 three times, CREATE: the factory's code creates.
        let code = Bytes::from_static(&[0x60, 0, 0x60, 0, 0x60, 0, 0xf0]);
        let account = crate::pre_state::PreAccount::new(U256::ZERO, 1, code, Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        pre.insert_account(factory, account);
        // Calls to the factory at 0, 2 and 3, to a token at 1 and 4; distinct senders.
        let txs: Vec<TxEnvelope> = [factory, token, factory, factory, token]
            .iter()
            .map(|to| call(*to))
            .collect();
        let senders: Vec<Address> = (0..5u8).map(Address::with_last_byte).collect();
        let senders = Senders::Known(&senders);
        let hints = DependencyHints::new(&txs, &senders, &pre, &CreatingCode::default());
        assert_eq!(hints.hint(2), Some(0));
        assert_eq!(hints.hint(3), Some(2));
        assert_eq!(hints.hint(4), None, "the token's code does not create");
        // A call that created (wrote the factory's nonce) keeps them chained...
        let nonce = |address| (Location::Nonce(address), MvValue::Nonce(2));
        hints.executed(0, &[nonce(factory)]);
        assert_eq!(hints.hint(3), Some(2));
        // ...one that completed without creating releases them...
        hints.executed(
            2,
            &[(Location::Balance(factory), MvValue::Balance(U256::ZERO))],
        );
        assert_eq!(hints.hint(3), None);
        // ...until a call creates again.
        hints.executed(3, &[nonce(factory)]);
        assert_eq!(hints.hint(3), Some(2));
    }

    #[test]
    fn a_recipient_cools_with_calls_that_do_not_abort() {
        let contract = Address::repeat_byte(0xc0);
        let txs: Vec<TxEnvelope> = (0..4).map(|_| call(contract)).collect();
        with_hints(&txs, |hints| {
            hints.conflicted(1, ChangedRead::Account(contract));
            for _ in 0..ABORT_HEAT {
                assert_eq!(hints.hint(3), Some(2));
            }
            assert_eq!(hints.hint(3), None, "cooled by {ABORT_HEAT} calls");
            // Heat is capped: many aborts keep it hot for MAX_HEAT calls, not more.
            for _ in 0..2 * MAX_HEAT / ABORT_HEAT {
                hints.conflicted(2, ChangedRead::Account(contract));
            }
            let hot_calls = (0..2 * MAX_HEAT)
                .filter(|_| hints.hint(3).is_some())
                .count();
            assert_eq!(hot_calls, MAX_HEAT as usize);
        });
    }

    #[test]
    fn a_conflict_on_a_recipients_storage_chains_its_calls_of_one_input() {
        let (counter, other) = (Address::repeat_byte(0xc0), Address::repeat_byte(0x07));
        // Calls to the counter with input [1] at 0, 2, 4 and 6, with [2] at 1 and 5, with
        // none at 7; a call to another contract with [1] at 3. Distinct senders.
        let calls = [
            (counter, &[1u8][..]),
            (counter, &[2]),
            (counter, &[1]),
            (other, &[1]),
            (counter, &[1]),
            (counter, &[2]),
            (counter, &[1]),
            (counter, &[]),
        ];
        let txs: Vec<TxEnvelope> = calls
            .iter()
            .map(|(to, input)| call_with(*to, input))
            .collect();
        with_hints(&txs, |hints| {
            assert_eq!(hints.hint(4), None);
            // A conflict on a slot of an account that is not the call's recipient teaches
            // nothing.
            hints.conflicted(3, ChangedRead::Slot(counter));
            hints.conflicted(4, ChangedRead::Slot(other));
            assert_eq!(hints.hint(4), None);
            // A call to the counter aborted on its slots: each call to it waits for the nearest
            // lower one with the same input, never for one with another input.
            hints.conflicted(2, ChangedRead::Slot(counter));
            assert_eq!(hints.hint(4), Some(2));
            assert_eq!(hints.hint(6), Some(4));
            assert_eq!(hints.hint(5), Some(1));
            assert_eq!(hints.hint(2), Some(0));
            assert_eq!(hints.hint(1), None, "no lower call with input [2]");
            assert_eq!(hints.hint(7), None, "no lower call without input");
            assert_eq!(hints.hint(3), None, "the other contract is not hot");
            // A conflict on its account's fields then chains every call to it, and a storage
            // conflict while it is warm does not narrow that.
            hints.conflicted(5, ChangedRead::Account(counter));
            hints.conflicted(6, ChangedRead::Slot(counter));
            assert_eq!(hints.hint(7), Some(6));
            assert_eq!(hints.hint(5), Some(4));
        });
    }

    #[test]
    fn a_storage_conflict_after_the_recipient_cooled_chains_calls_of_one_input_only() {
        let counter = Address::repeat_byte(0xc0);
        let txs: Vec<TxEnvelope> = [&[1u8][..], &[2], &[1]]
            .iter()
            .map(|input| call_with(counter, input))
            .collect();
        with_hints(&txs, |hints| {
            hints.conflicted(1, ChangedRead::Account(counter));
            for _ in 0..ABORT_HEAT {
                assert_eq!(hints.hint(2), Some(1));
            }
            assert_eq!(hints.hint(2), None, "cooled");
            hints.conflicted(2, ChangedRead::Slot(counter));
            assert_eq!(hints.hint(2), Some(0));
        });
    }

    #[test]
    fn one_storage_conflict_keeps_calls_of_one_input_hinted_for_max_heat_calls() {
        let counter = Address::repeat_byte(0xc0);
        let txs: Vec<TxEnvelope> = (0..4).map(|_| call(counter)).collect();
        with_hints(&txs, |hints| {
            hints.conflicted(1, ChangedRead::Slot(counter));
            let hot_calls = (0..2 * MAX_HEAT)
                .filter(|_| hints.hint(3).is_some())
                .count();
            assert_eq!(hot_calls, MAX_HEAT as usize);
        });
    }
}
