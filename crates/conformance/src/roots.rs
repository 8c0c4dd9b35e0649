//! The two digests a state test checks: the post-state root and the logs hash.

use alloy_primitives::{Address, B256, Log, U256, keccak256};
use alloy_trie::{TrieAccount, root};
use revm::database::CacheState;

/// The Merkle-Patricia root of every existing account of `cache`:
/// `keccak(address) -> rlp(nonce, balance, storage_root, code_hash)`, where each storage trie
/// maps `keccak(slot) -> rlp(value)` over the non-zero slots.
///
/// Accounts that do not exist (never existed, self-destructed, or cleared as empty under
/// EIP-161) carry no `PlainAccount` in revm's cache and are left out.
pub(crate) fn state_root(cache: &CacheState) -> B256 {
    root_of(cache.trie_account().into_iter().map(|(address, account)| {
        let info = &account.info;
        let storage = account.storage.iter().map(|(slot, value)| (*slot, *value));
        (address, info.nonce, info.balance, info.code_hash, storage)
    }))
}

/// The Merkle-Patricia root of `accounts`, each (address, nonce, balance, code hash, slots):
/// `keccak(address) -> rlp(nonce, balance, storage_root, code_hash)`, each storage trie
/// mapping `keccak(slot) -> rlp(value)` over the non-zero slots. The one definition of the
/// state root for the state tests and the block tests.
pub(crate) fn root_of<S: Iterator<Item = (U256, U256)>>(
    accounts: impl Iterator<Item = (Address, u64, U256, B256, S)>,
) -> B256 {
    root::state_root_unhashed(accounts.map(|(address, nonce, balance, code_hash, slots)| {
        let storage = slots
            .filter(|(_, value)| !value.is_zero())
            .map(|(slot, value)| (B256::from(slot), value));
        let trie_account = TrieAccount {
            nonce,
            balance,
            storage_root: root::storage_root_unhashed(storage),
            code_hash,
        };
        (address, trie_account)
    }))
}

/// `keccak256(rlp([log, ...]))`, each log encoded as `[address, [topics...], data]`.
pub(crate) fn logs_hash(logs: &[Log]) -> B256 {
    let mut out = Vec::with_capacity(alloy_rlp::list_length(logs));
    alloy_rlp::encode_list(logs, &mut out);
    keccak256(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, U256, address, b256};
    use revm::state::AccountInfo;

    #[test]
    fn empty_logs_hash_is_rlp_of_empty_list() {
        // keccak256(0xc0), the `logs` value of every test without logs.
        assert_eq!(
            logs_hash(&[]),
            b256!("0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")
        );
    }

    #[test]
    fn empty_state_root() {
        assert_eq!(state_root(&CacheState::new()), alloy_trie::EMPTY_ROOT_HASH);
    }

    #[test]
    fn logs_hash_encodes_address_topics_data() {
        let log = Log::new_unchecked(
            address!("0x1000000000000000000000000000000000000000"),
            vec![B256::with_last_byte(1)],
            Bytes::from_static(&[0xaa]),
        );
        let mut manual = Vec::new();
        alloy_rlp::encode_list(std::slice::from_ref(&log), &mut manual);
        assert_eq!(logs_hash(&[log]), keccak256(manual));
    }

    #[test]
    fn zero_slots_do_not_count() {
        let addr = address!("0x2000000000000000000000000000000000000000");
        let info = AccountInfo {
            balance: U256::from(1),
            ..Default::default()
        };
        let mut with_zero = CacheState::new();
        with_zero.insert_account_with_storage(
            addr,
            info.clone(),
            [(U256::from(1), U256::ZERO)].into_iter().collect(),
        );
        let mut without = CacheState::new();
        without.insert_account(addr, info);
        assert_eq!(state_root(&with_zero), state_root(&without));
    }
}
