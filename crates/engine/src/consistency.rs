//! Consistency across blocks: for consecutive blocks n and n+1, the state after block n (its
//! pre-state with its replayed state changes applied) must equal block n+1's archived
//! pre-state on every account and slot that both name. This checks a replay's state changes
//! against the node the archive came from, which receipts cannot: a wrong balance or slot
//! written by block n shows up as a disagreement with what the node served for block n+1.
//!
//! "Both name" is all that can be compared: an archived pre-state holds only what its block
//! touches, and only non-zero slots, so an account or slot absent from block n+1's pre-state
//! may simply be one that block does not touch.

use std::fmt;

use alloy_primitives::{Address, U256};

use crate::{block::ArchivedBlock, pre_state::PreAccount, state_changes::StateChanges};

/// One field on which block n's post-state and block n+1's pre-state disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// Block n.
    pub block: u64,
    /// The account.
    pub address: Address,
    /// `exists`, `balance`, `nonce`, `code_hash` or `slot 0x...`.
    pub field: String,
    /// The value after block n (its replay).
    pub after: String,
    /// The value in block n+1's archived pre-state.
    pub next_pre_state: String,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "block {} -> {}: {} {}: {} after block {}, {} in block {}'s pre-state",
            self.block,
            self.block + 1,
            self.address,
            self.field,
            self.after,
            self.block,
            self.next_pre_state,
            self.block + 1
        )
    }
}

/// What comparing one pair of blocks found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Accounts compared (balance, nonce and code hash together).
    pub accounts_compared: u64,
    /// Slots compared.
    pub slots_compared: u64,
    /// Every disagreement, by address then field.
    pub disagreements: Vec<Disagreement>,
}

/// Compares the state after `block` (whose replay changed `changes`) with `next`'s archived
/// pre-state, on every account and slot that both name. `next` is meant to be block
/// `block.number() + 1`; the caller checks that.
pub fn compare(block: &ArchivedBlock, changes: &StateChanges, next: &ArchivedBlock) -> Comparison {
    let number = block.number();
    let mut comparison = Comparison::default();
    let disagree = |address: Address, field: String, after: String, pre: String| Disagreement {
        block: number,
        address,
        field,
        after,
        next_pre_state: pre,
    };
    for (address, pre_next) in next.pre_state.sorted_accounts() {
        let address = *address;
        let change = changes.accounts.get(&address);
        let before = block.pre_state.account(&address);
        let after = match (change, before) {
            (Some(change), _) => match change.info {
                Some(info) => (info.balance, info.nonce, info.code_hash),
                None => {
                    comparison.disagreements.push(disagree(
                        address,
                        "exists".into(),
                        "no (gone after the block)".into(),
                        "yes".into(),
                    ));
                    continue;
                }
            },
            (None, Some(before)) => (before.balance, before.nonce, before.code_hash),
            // Neither block n's pre-state nor its changes name the account.
            (None, None) => continue,
        };
        comparison.accounts_compared += 1;
        for (field, ours, theirs) in info_fields(after, pre_next) {
            if ours != theirs {
                comparison
                    .disagreements
                    .push(disagree(address, field.into(), ours, theirs));
            }
        }
        let mut slots: Vec<(&U256, &U256)> = pre_next.storage.iter().collect();
        slots.sort_unstable();
        for (slot, value) in slots {
            let named_before = || before.and_then(|a| a.storage.get(slot).copied());
            let after = match change {
                Some(change) => change.storage.get(slot).copied().or_else(|| {
                    if change.storage_wiped {
                        Some(U256::ZERO)
                    } else {
                        named_before()
                    }
                }),
                None => named_before(),
            };
            if let Some(after) = after {
                comparison.slots_compared += 1;
                if after != *value {
                    comparison.disagreements.push(disagree(
                        address,
                        format!("slot {slot:#x}"),
                        format!("{after:#x}"),
                        format!("{value:#x}"),
                    ));
                }
            }
        }
    }
    comparison
}

/// Balance, nonce and code hash after block n and in block n+1's pre-state, as text.
fn info_fields(
    after: (U256, u64, alloy_primitives::B256),
    pre: &PreAccount,
) -> [(&'static str, String, String); 3] {
    [
        ("balance", after.0.to_string(), pre.balance.to_string()),
        ("nonce", after.1.to_string(), pre.nonce.to_string()),
        ("code_hash", after.2.to_string(), pre.code_hash.to_string()),
    ]
}
