//! Where the generated blocks put the project's contracts, and what tests need to know about
//! them: addresses, code hashes and the token's balance slot.

use alloy_primitives::{Address, B256, U256, address, keccak256};

use crate::{abi, builder::seeded_hash};

/// The ERC-20 token of the ERC-20 workloads, and token0 of every AMM pool.
pub const TOKEN: Address = address!("0x00000000000000000000000000000000c0de0001");
/// The second ERC-20 token: token1 of every AMM pool.
pub const TOKEN_B: Address = address!("0x00000000000000000000000000000000c0de0002");
/// The pool of `amm-one-pool` (the many pools are at [`pool_address`]).
pub const POOL: Address = address!("0x00000000000000000000000000000000c0de0003");
/// The game-item (ERC-721-like) contract of `nft-mint`.
pub const GAME_ITEMS: Address = address!("0x00000000000000000000000000000000c0de0004");
/// The governance contract of `dao-votes`.
pub const GOVERNOR: Address = address!("0x00000000000000000000000000000000c0de0005");
/// The supply-chain registry of `supply-chain`.
pub const REGISTRY: Address = address!("0x00000000000000000000000000000000c0de0006");
/// The counter of [`dependency_chain`](crate::dependency_chain).
pub const COUNTER: Address = address!("0x00000000000000000000000000000000c0de0007");
/// The CREATE2 factory of [`selfdestruct_then_redeploy`](crate::selfdestruct_then_redeploy).
pub const FACTORY: Address = address!("0x00000000000000000000000000000000c0de0008");
/// The contract of [`stale_blockhash`](crate::stale_blockhash).
pub const BLOCKHASH_READER: Address = address!("0x00000000000000000000000000000000c0de0009");
/// The exchange hot wallet: the one recipient of `raw-transfers-to-one`, the hot holder of
/// `erc20-hot`.
pub const EXCHANGE: Address = address!("0x000000000000000000000000000000000e8c0001");

/// The address of pool number `index` of `amm-many-pools`.
pub fn pool_address(index: u64) -> Address {
    Address::from_word(seeded_hash("replay-evm workload pool", index))
}

/// The address at which [`FACTORY`] deploys a `Child` with `salt`.
pub fn child_address(salt: B256) -> Address {
    FACTORY.create2(salt, keccak256(&abi::CHILD.creation))
}

/// Keccak-256 of the deployed code of the project's contract `name` (one of `Token`, `Pair`,
/// `GameItems`, `Governor`, `Registry`, `Counter`, `Factory`, `Child`), for assertions on
/// state changes.
pub fn code_hash(name: &str) -> Option<B256> {
    let contract = match name {
        "Token" => &abi::TOKEN,
        "Pair" => &abi::PAIR,
        "GameItems" => &abi::GAME_ITEMS,
        "Governor" => &abi::GOVERNOR,
        "Registry" => &abi::REGISTRY,
        "Counter" => &abi::COUNTER,
        "Factory" => &abi::FACTORY,
        "Child" => &abi::CHILD,
        _ => return None,
    };
    Some(contract.runtime_hash)
}

/// The storage slot of `balanceOf[holder]` in the project's ERC-20 [`TOKEN`] (and
/// [`TOKEN_B`]): keccak256(pad32(holder) . pad32(0)).
pub fn token_balance_slot(holder: Address) -> U256 {
    abi::token::balance_slot(holder)
}

// ---------------------------------------------------------------------------------------
// Transaction kinds, shared by the pure workloads and the mix.
