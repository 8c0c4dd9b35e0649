//! A block's state changes in a canonical form, so that two replays (sequential and parallel,
//! or two thread counts) can be compared exactly and summarised by one hash.
//!
//! For every account whose state after the block differs from the pre-state: its post
//! balance, nonce and code hash (or `None` when it no longer exists), whether the storage it
//! had before the block was wiped during the block (self-destruct, or re-creation), and the
//! post value of every slot whose value differs from its baseline (zero after a wipe, the
//! pre-state value otherwise), and the code of every account whose code hash the block
//! changed (deployed or delegated), so that the changes can be applied to a full state to
//! carry it to the next block.
//!
//! The form depends only on the state before and after the block, never on the path between
//! them: an account absent before the block has no storage to wipe, so an account created
//! and destroyed within the block (in one transaction or in two) is no change at all, and
//! one created, destroyed and created again is the same change as one created once. revm
//! keeps such accounts in its cache with a "destroyed" status but leaves them out of the
//! bundle, so without this rule [`StateChanges::from_cache`] and
//! [`StateChanges::from_bundle`] would disagree on them.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use revm::{
    bytecode::Bytecode,
    database::{BundleState, CacheState, states::CacheAccount},
    primitives::KECCAK_EMPTY,
    state::AccountInfo,
};

use crate::pre_state::{PreAccount, PreState};

/// An account's identity fields after the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountInfoAfter {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Code hash (the empty-code hash for accounts without code).
    pub code_hash: B256,
}

/// An account's fields and its code when at hand (`None`: not at hand, or the empty code).
pub(crate) type FieldsAndCode<'a> = (AccountInfoAfter, Option<&'a Bytecode>);

impl AccountInfoAfter {
    /// The fields of revm's `info`.
    pub(crate) fn of(info: &AccountInfo) -> Self {
        Self {
            balance: info.balance,
            nonce: info.nonce,
            code_hash: info.code_hash,
        }
    }
}

/// One account's change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountChange {
    /// The account after the block; `None` when it does not exist (self-destructed, or
    /// deleted as empty under EIP-161).
    pub info: Option<AccountInfoAfter>,
    /// Whether the storage the account had before the block was wiped at some point during
    /// the block (never for an account absent before it).
    pub storage_wiped: bool,
    /// Slots whose post value differs from their baseline, with that post value.
    pub storage: BTreeMap<U256, U256>,
    /// The account's code after the block when the block changed its code hash to a
    /// non-empty one (a contract deployed, or an EIP-7702 delegation set); `None` otherwise.
    pub code: Option<Bytes>,
}

impl AccountChange {
    /// One account's change, `None` when it has none: `pre` is the account before the block
    /// (`None`: absent), `info` after it (`None`: absent), `destroyed` whether the block
    /// destroyed it at some point (revm's status), `slots` the present value of every slot
    /// the block touched; `contract` finds code by hash when `info` does not carry it.
    pub(crate) fn of<'a>(
        pre: Option<&PreAccount>,
        info: Option<&'a AccountInfo>,
        destroyed: bool,
        slots: impl Iterator<Item = (U256, U256)>,
        contract: impl Fn(&B256) -> Option<&'a Bytecode>,
    ) -> Option<Self> {
        let after = info.map(|info| (AccountInfoAfter::of(info), info.code.as_ref()));
        Self::of_fields(pre, after, destroyed, slots, contract)
    }

    /// [`AccountChange::of`] from the account's fields after the block and its code when at
    /// hand (`after`), so that no `AccountInfo`, and no copy of its code, is built for it.
    pub(crate) fn of_fields<'a>(
        pre: Option<&PreAccount>,
        after: Option<FieldsAndCode<'a>>,
        destroyed: bool,
        slots: impl Iterator<Item = (U256, U256)>,
        contract: impl Fn(&B256) -> Option<&'a Bytecode>,
    ) -> Option<Self> {
        // Only storage that existed before the block can be wiped (see the module docs).
        let storage_wiped = destroyed && pre.is_some();
        let pre_code_hash = pre.map_or(KECCAK_EMPTY, |a| a.code_hash);
        let code = after
            .filter(|(info, _)| info.code_hash != KECCAK_EMPTY && info.code_hash != pre_code_hash)
            .and_then(|(info, code)| code.or_else(|| contract(&info.code_hash)))
            .map(Bytecode::original_bytes);
        let info = after.map(|(info, _)| info);
        let pre_info = pre.map(PreAccount::fields);
        // An account that does not exist after the block has no storage.
        let storage: BTreeMap<U256, U256> = slots
            .filter(|_| info.is_some())
            .filter(|(slot, present)| {
                let baseline = if storage_wiped {
                    U256::ZERO
                } else {
                    pre.and_then(|a| a.storage.get(slot).copied())
                        .unwrap_or_default()
                };
                *present != baseline
            })
            .collect();
        (info != pre_info || storage_wiped || !storage.is_empty()).then_some(Self {
            info,
            storage_wiped,
            storage,
            code,
        })
    }
}

/// All accounts a block changed, ordered by address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateChanges {
    /// Changed accounts.
    pub accounts: BTreeMap<Address, AccountChange>,
}

impl StateChanges {
    /// Extracts the changes from revm's bundle of a block replayed over `pre` (the state's
    /// transitions merged with [`revm::database::states::bundle_state::BundleRetention::PlainState`]).
    pub fn from_bundle(bundle: &BundleState, pre: &PreState) -> Self {
        Self::from_accounts(
            pre,
            bundle.state.iter().map(|(address, account)| {
                let storage = account
                    .storage
                    .iter()
                    .map(|(slot, value)| (*slot, value.present_value));
                (
                    *address,
                    account.info.as_ref(),
                    account.status.was_destroyed(),
                    storage,
                )
            }),
            |hash| bundle.contracts.get(hash),
        )
    }

    /// Extracts the changes from the cache of revm's `State` after a block replayed over
    /// `pre`, for a state built without transitions (no bundle to merge). The cache holds
    /// every account the block loaded with its present value and the same status flags the
    /// transitions carry, so the result is [`StateChanges::from_bundle`]'s (tests compare the
    /// two on every mainnet block and workload).
    pub fn from_cache(cache: &CacheState, pre: &PreState) -> Self {
        Self::from_cache_accounts(cache, cache.accounts.iter(), pre)
    }

    /// [`StateChanges::from_cache`] for some of the cache's accounts (`accounts`, from
    /// `cache.accounts`): shares of a large cache can be computed on several threads and
    /// their `accounts` appended, since every account's change depends on that account only.
    pub fn from_cache_accounts<'a>(
        cache: &'a CacheState,
        accounts: impl Iterator<Item = (&'a Address, &'a CacheAccount)>,
        pre: &PreState,
    ) -> Self {
        Self::from_accounts(
            pre,
            accounts.map(|(address, cached)| {
                let storage = cached
                    .account
                    .iter()
                    .flat_map(|account| account.storage.iter().map(|(s, v)| (*s, *v)));
                (
                    *address,
                    cached.account.as_ref().map(|a| &a.info),
                    cached.status.was_destroyed(),
                    storage,
                )
            }),
            |hash| cache.contracts.get(hash),
        )
    }

    /// The changes from each account's present info (`None`: absent), whether revm saw it
    /// destroyed, and the present value of every slot it touched; `contract` finds code by
    /// hash when an account's info does not carry it.
    fn from_accounts<'a, S: Iterator<Item = (U256, U256)>>(
        pre: &PreState,
        accounts: impl Iterator<Item = (Address, Option<&'a AccountInfo>, bool, S)>,
        contract: impl Fn(&B256) -> Option<&'a Bytecode>,
    ) -> Self {
        let changes = accounts
            .filter_map(|(address, info, destroyed, slots)| {
                let change =
                    AccountChange::of(pre.account(&address), info, destroyed, slots, &contract)?;
                Some((address, change))
            })
            .collect();
        Self { accounts: changes }
    }

    /// The first account on which `other` differs from these changes, in words (both sides
    /// shown, `absent` where one side does not name the account), or `None` when equal.
    pub fn first_difference(&self, other: &Self) -> Option<String> {
        let addresses: std::collections::BTreeSet<&Address> =
            self.accounts.keys().chain(other.accounts.keys()).collect();
        addresses.into_iter().find_map(|address| {
            let (ours, theirs) = (self.accounts.get(address), other.accounts.get(address));
            (ours != theirs).then(|| {
                let show = |change: Option<&AccountChange>| {
                    change.map_or_else(|| "absent".to_owned(), |c| format!("{c:?}"))
                };
                format!(
                    "state change of {address}: {} against {}",
                    show(ours),
                    show(theirs)
                )
            })
        })
    }

    /// Number of changed storage slots, over all accounts.
    pub fn slot_count(&self) -> usize {
        self.accounts.values().map(|a| a.storage.len()).sum()
    }

    /// Keccak-256 over a canonical byte encoding of the changes: equal changes, equal hash.
    /// The deployed code is left out: it is determined by the code hash, which is in.
    pub fn hash(&self) -> B256 {
        let mut bytes = Vec::with_capacity(self.accounts.len() * 96 + self.slot_count() * 64);
        for (address, change) in &self.accounts {
            bytes.extend_from_slice(address.as_slice());
            match &change.info {
                None => bytes.push(0),
                Some(info) => {
                    bytes.push(1);
                    bytes.extend_from_slice(&info.balance.to_be_bytes::<32>());
                    bytes.extend_from_slice(&info.nonce.to_be_bytes());
                    bytes.extend_from_slice(info.code_hash.as_slice());
                }
            }
            bytes.push(u8::from(change.storage_wiped));
            bytes.extend_from_slice(&(change.storage.len() as u64).to_be_bytes());
            for (slot, value) in &change.storage {
                bytes.extend_from_slice(&slot.to_be_bytes::<32>());
                bytes.extend_from_slice(&value.to_be_bytes::<32>());
            }
        }
        keccak256(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, U256, address, map::AddressMap};
    use revm::{
        Database, DatabaseCommit,
        bytecode::Bytecode,
        database::{State, states::bundle_state::BundleRetention},
        state::{Account, AccountInfo, EvmStorageSlot},
    };

    use super::StateChanges;
    use crate::pre_state::{PreAccount, PreState};

    const CONTRACT: Address = address!("0x00000000000000000000000000000000000c0de1");

    /// One transaction's state output touching `CONTRACT`.
    enum Step {
        /// Created with code and one storage slot.
        Create,
        /// Self-destructed.
        Destroy,
    }

    /// Commits `transactions` (each a list of steps on `CONTRACT`, as one transaction's
    /// journal would end) over `pre`, and returns the changes read from the bundle and from
    /// the cache.
    fn replay(pre: &PreState, transactions: &[&[Step]]) -> (StateChanges, StateChanges) {
        let mut state = State::builder()
            .with_database_ref(pre)
            .with_bundle_update()
            .build();
        for steps in transactions {
            let loaded = state.basic(CONTRACT).unwrap_or_else(|e| panic!("{e}"));
            let mut account = match loaded {
                Some(info) => Account::from(info),
                None => Account::new_not_existing(Default::default()),
            };
            account.mark_touch();
            for step in *steps {
                match step {
                    Step::Create => {
                        account.mark_created();
                        account.info = AccountInfo::new(
                            U256::ZERO,
                            1,
                            alloy_primitives::keccak256([0x00]),
                            Bytecode::new_raw(vec![0x00].into()),
                        );
                        account.storage.insert(
                            U256::from(1),
                            EvmStorageSlot::new_changed(
                                U256::ZERO,
                                U256::from(7),
                                Default::default(),
                            ),
                        );
                    }
                    Step::Destroy => account.mark_selfdestruct(),
                }
            }
            let mut changes = AddressMap::default();
            changes.insert(CONTRACT, account);
            state.commit(changes);
        }
        let cache = StateChanges::from_cache(&state.cache, pre);
        state.merge_transitions(BundleRetention::PlainState);
        (StateChanges::from_bundle(&state.take_bundle(), pre), cache)
    }

    fn pre_with_contract() -> PreState {
        let mut pre = PreState::new();
        let mut storage = alloy_primitives::map::HashMap::default();
        storage.insert(U256::from(2), U256::from(9));
        let account = PreAccount::new(U256::from(5), 1, vec![0x60, 0x00].into(), storage)
            .unwrap_or_else(|e| panic!("{e}"));
        pre.insert_account(CONTRACT, account);
        pre
    }

    #[test]
    fn created_and_destroyed_in_one_block_is_no_change() {
        let pre = PreState::new();
        // In two transactions, and within one.
        for transactions in [
            &[&[Step::Create][..], &[Step::Destroy][..]][..],
            &[&[Step::Create, Step::Destroy][..]][..],
        ] {
            let (bundle, cache) = replay(&pre, transactions);
            assert_eq!(bundle, cache);
            assert!(bundle.accounts.is_empty(), "{bundle:?}");
        }
    }

    #[test]
    fn created_destroyed_and_created_again_is_one_creation() {
        let pre = PreState::new();
        let (once, once_cache) = replay(&pre, &[&[Step::Create]]);
        assert_eq!(once, once_cache);
        let (again, again_cache) =
            replay(&pre, &[&[Step::Create], &[Step::Destroy], &[Step::Create]]);
        assert_eq!(again, again_cache);
        assert_eq!(again, once);
        let change = &again.accounts[&CONTRACT];
        assert!(!change.storage_wiped);
        assert_eq!(change.storage.get(&U256::from(1)), Some(&U256::from(7)));
    }

    #[test]
    fn an_existing_contract_destroyed_is_a_wipe() {
        let pre = pre_with_contract();
        let (bundle, cache) = replay(&pre, &[&[Step::Destroy]]);
        assert_eq!(bundle, cache);
        let change = &bundle.accounts[&CONTRACT];
        assert_eq!(change.info, None);
        assert!(change.storage_wiped);
        assert!(change.storage.is_empty());
        // Destroyed then re-created: wiped, with only the new slot.
        let (bundle, cache) = replay(&pre, &[&[Step::Destroy], &[Step::Create]]);
        assert_eq!(bundle, cache);
        let change = &bundle.accounts[&CONTRACT];
        assert!(change.storage_wiped && change.info.is_some());
        assert_eq!(change.storage.len(), 1);
    }
}
