//! The full state a test's chain carries from block to block, and its Merkle-Patricia root.
//!
//! A [`WorldState`] holds every account of the chain at one block, with all its non-zero
//! storage. Each block is replayed on a [`PreState`] built from its parent's world state
//! (plus the hashes of the ancestors on its own branch); the replay's
//! [`StateChanges`] are then applied to a copy of the parent's world state to give the
//! block's own, whose root ([`WorldState::root`], alloy-trie) must be the header's
//! `stateRoot`.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, map::HashMap};
use replay_evm::{
    pre_state::{PreAccount, PreState},
    state_changes::StateChanges,
};
use revm::primitives::KECCAK_EMPTY;

use crate::{json, roots};

/// Every account of a chain at one block, sorted by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WorldState {
    accounts: BTreeMap<Address, PreAccount>,
}

impl WorldState {
    /// The state a fixture lists (`pre` or `postState`); zero storage values are dropped.
    ///
    /// # Errors
    /// A message naming the account whose nonce does not fit in 64 bits or whose code the
    /// engine cannot analyse.
    pub(crate) fn from_fixture(
        accounts: &BTreeMap<Address, json::PreAccount>,
    ) -> Result<Self, String> {
        let mut state = Self::default();
        for (address, account) in accounts {
            let account = account.to_engine(&format!("account {address}"))?;
            state.accounts.insert(*address, account);
        }
        Ok(state)
    }

    /// The pre-state of a block whose parent has this state, with `ancestors` (number ->
    /// hash) as the hashes BLOCKHASH may ask for.
    pub(crate) fn pre_state(&self, ancestors: &[(u64, B256)]) -> PreState {
        let mut pre = PreState::new();
        for (address, account) in &self.accounts {
            pre.insert_account(*address, account.clone());
        }
        for (number, hash) in ancestors {
            pre.insert_block_hash(*number, *hash);
        }
        pre
    }

    /// This state with a block's `changes` applied: removed accounts dropped, wiped storage
    /// cleared, then every changed field and slot set.
    ///
    /// # Errors
    /// A message when the changes give an account a new code hash without its code, or code
    /// that does not hash to it: the replay's changes are inconsistent.
    pub(crate) fn apply(&self, changes: &StateChanges) -> Result<Self, String> {
        let mut next = self.clone();
        for (address, change) in &changes.accounts {
            let Some(info) = change.info else {
                next.accounts.remove(address);
                continue;
            };
            let previous = next.accounts.remove(address);
            let mut storage = match previous.as_ref() {
                Some(account) if !change.storage_wiped => account.storage.clone(),
                _ => HashMap::default(),
            };
            for (slot, value) in &change.storage {
                if value.is_zero() {
                    storage.remove(slot);
                } else {
                    storage.insert(*slot, *value);
                }
            }
            let old_code_hash = previous.as_ref().map_or(KECCAK_EMPTY, |a| a.code_hash);
            let account = if info.code_hash == old_code_hash {
                let code = previous.and_then(|a| a.code);
                PreAccount {
                    balance: info.balance,
                    nonce: info.nonce,
                    code_hash: info.code_hash,
                    code,
                    storage,
                }
            } else {
                let code = match (&change.code, info.code_hash == KECCAK_EMPTY) {
                    (_, true) => Bytes::new(),
                    (Some(code), false) => code.clone(),
                    (None, false) => {
                        return Err(format!(
                            "the replay changed the code hash of {address} to {} without \
                             giving the code",
                            info.code_hash
                        ));
                    }
                };
                let account = PreAccount::new(info.balance, info.nonce, code, storage)
                    .map_err(|e| format!("account {address}: {e}"))?;
                if account.code_hash != info.code_hash {
                    return Err(format!(
                        "the replay gives {address} code hashing to {}, not its code hash {}",
                        account.code_hash, info.code_hash
                    ));
                }
                account
            };
            next.accounts.insert(*address, account);
        }
        Ok(next)
    }

    /// The state root ([`crate::roots::root_of`]).
    pub(crate) fn root(&self) -> B256 {
        roots::root_of(self.accounts.iter().map(|(address, account)| {
            let storage = account.storage.iter().map(|(slot, value)| (*slot, *value));
            (
                *address,
                account.nonce,
                account.balance,
                account.code_hash,
                storage,
            )
        }))
    }

    /// The first difference from `expected`, naming the account and the field; `None` when
    /// both hold the same accounts with the same balances, nonces, code and storage.
    pub(crate) fn difference(&self, expected: &Self) -> Option<String> {
        let addresses = self.accounts.keys().chain(expected.accounts.keys());
        for address in addresses {
            let (ours, theirs) = (self.accounts.get(address), expected.accounts.get(address));
            let text = match (ours, theirs) {
                (Some(_), None) => format!("account {address} exists, but the fixture has none"),
                (None, Some(_)) => format!("account {address} is missing"),
                (Some(a), Some(b)) => match account_difference(a, b) {
                    Some(field) => format!("account {address}: {field}"),
                    None => continue,
                },
                (None, None) => continue,
            };
            return Some(text);
        }
        None
    }
}

fn account_difference(ours: &PreAccount, expected: &PreAccount) -> Option<String> {
    if ours.balance != expected.balance {
        return Some(format!(
            "balance {}, expected {}",
            ours.balance, expected.balance
        ));
    }
    if ours.nonce != expected.nonce {
        return Some(format!("nonce {}, expected {}", ours.nonce, expected.nonce));
    }
    if ours.code_hash != expected.code_hash {
        return Some(format!(
            "code hash {}, expected {}",
            ours.code_hash, expected.code_hash
        ));
    }
    let slots: BTreeMap<_, _> = ours
        .storage
        .keys()
        .chain(expected.storage.keys())
        .map(|slot| {
            let value = |s: &HashMap<U256, U256>| s.get(slot).copied().unwrap_or_default();
            (*slot, (value(&ours.storage), value(&expected.storage)))
        })
        .collect();
    slots
        .into_iter()
        .find(|(_, (a, b))| a != b)
        .map(|(slot, (a, b))| format!("storage slot {slot:#x} is {a:#x}, expected {b:#x}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, keccak256};
    use replay_evm::state_changes::{AccountChange, AccountInfoAfter};

    const A: Address = address!("0x1000000000000000000000000000000000000001");
    const B: Address = address!("0x1000000000000000000000000000000000000002");

    fn account(balance: u64, code: &[u8], storage: &[(u64, u64)]) -> PreAccount {
        let storage = storage
            .iter()
            .map(|(s, v)| (U256::from(*s), U256::from(*v)))
            .collect();
        PreAccount::new(
            U256::from(balance),
            1,
            Bytes::copy_from_slice(code),
            storage,
        )
        .unwrap()
    }

    fn state(accounts: Vec<(Address, PreAccount)>) -> WorldState {
        WorldState {
            accounts: accounts.into_iter().collect(),
        }
    }

    #[test]
    fn empty_state_has_the_empty_root() {
        assert_eq!(WorldState::default().root(), alloy_trie::EMPTY_ROOT_HASH);
    }

    #[test]
    fn changes_remove_wipe_deploy_and_set_slots() {
        let before = state(vec![
            (A, account(5, &[0x00], &[(1, 1), (2, 2)])),
            (B, account(7, &[], &[])),
        ]);
        let code = Bytes::from_static(&[0x60, 0x00]);
        let mut changes = StateChanges::default();
        changes.accounts.insert(
            A,
            AccountChange {
                info: Some(AccountInfoAfter {
                    balance: U256::from(9),
                    nonce: 1,
                    code_hash: keccak256(&code),
                }),
                storage_wiped: true,
                storage: [(U256::from(3), U256::from(3))].into_iter().collect(),
                code: Some(code.clone()),
            },
        );
        changes.accounts.insert(B, AccountChange::default());
        let after = before.apply(&changes).unwrap();
        let expected = state(vec![(A, account(9, &code, &[(3, 3)]))]);
        assert_eq!(after.difference(&expected), None);
        assert_eq!(after.root(), expected.root());
        assert_ne!(after.root(), before.root());

        // A new code hash without its code is an inconsistency, not a guess.
        changes.accounts.get_mut(&A).unwrap().code = None;
        assert!(
            before
                .apply(&changes)
                .unwrap_err()
                .contains("without giving the code")
        );
    }

    #[test]
    fn differences_name_the_account_and_field() {
        let ours = state(vec![(A, account(5, &[], &[(1, 1)]))]);
        let slot = state(vec![(A, account(5, &[], &[(1, 2)]))]);
        let message = ours.difference(&slot).unwrap();
        assert!(
            message.contains(&A.to_string()) && message.contains("storage slot 0x1"),
            "{message}"
        );
        let missing = state(vec![(B, account(5, &[], &[]))]);
        assert!(
            ours.difference(&missing)
                .unwrap()
                .contains("exists, but the fixture has none")
        );
        assert_eq!(ours.difference(&ours.clone()), None);
    }
}
