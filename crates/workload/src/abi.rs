//! The project's contracts as the generator sees them: compiled code (from `contracts/out/`,
//! built by `contracts/build.sh`, embedded by `build.rs`), calldata encoders and the storage slots of the layouts
//! documented in each Solidity source.

use std::sync::LazyLock;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use revm::bytecode::Bytecode;

/// One compiled contract: its deployed code (analysed once) and its init code.
pub(crate) struct Contract {
    /// Deployed (runtime) code, analysed.
    pub(super) runtime: Bytecode,
    /// Keccak-256 of the runtime code.
    pub(super) runtime_hash: B256,
    /// Init (creation) code, constructor arguments not included.
    pub(super) creation: Bytes,
}

impl Contract {
    fn new(runtime: &'static [u8], creation: &'static [u8]) -> Self {
        let runtime = Bytes::from_static(runtime);
        Self {
            runtime_hash: keccak256(&runtime),
            runtime: Bytecode::new_raw(runtime),
            creation: Bytes::from_static(creation),
        }
    }
}

/// The code of `contracts/out/<name>.<kind>.hex`, decoded to bytes by `build.rs` (which
/// also checks that the runtime code is not empty).
macro_rules! compiled {
    ($name:literal, $kind:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".", $kind, ".bin"))
    };
}

macro_rules! contract {
    ($static:ident, $name:literal) => {
        pub(super) static $static: LazyLock<Contract> = LazyLock::new(|| {
            Contract::new(compiled!($name, "runtime"), compiled!($name, "creation"))
        });
    };
}

contract!(TOKEN, "Token");
contract!(PAIR, "Pair");
contract!(GAME_ITEMS, "GameItems");
contract!(GOVERNOR, "Governor");
contract!(REGISTRY, "Registry");
contract!(COUNTER, "Counter");
contract!(FACTORY, "Factory");
contract!(CHILD, "Child");

/// The 4-byte selector of a Solidity function signature.
fn selector(signature: &str) -> [u8; 4] {
    let hash = keccak256(signature.as_bytes());
    [hash[0], hash[1], hash[2], hash[3]]
}

/// Function selectors, computed once.
struct Selectors {
    transfer: [u8; 4],
    transfer_from: [u8; 4],
    swap: [u8; 4],
    mint: [u8; 4],
    vote: [u8; 4],
    update: [u8; 4],
    increment: [u8; 4],
    deploy: [u8; 4],
    deploy_and_destroy: [u8; 4],
    destroy: [u8; 4],
    try_deploy: [u8; 4],
}

static SELECTORS: LazyLock<Selectors> = LazyLock::new(|| Selectors {
    transfer: selector("transfer(address,uint256)"),
    transfer_from: selector("transferFrom(address,address,uint256)"),
    swap: selector("swap(uint256,uint256,bool)"),
    mint: selector("mint()"),
    vote: selector("vote(uint256,bool)"),
    update: selector("update(uint256,uint32,bytes32)"),
    increment: selector("increment()"),
    deploy: selector("deploy(bytes32)"),
    deploy_and_destroy: selector("deployAndDestroy(bytes32)"),
    destroy: selector("destroy(address)"),
    try_deploy: selector("tryDeploy(bytes32)"),
});

/// An ABI word: anything static that encodes to 32 bytes.
pub(crate) trait Word {
    /// The 32-byte ABI encoding.
    fn word(&self) -> B256;
}

impl Word for Address {
    fn word(&self) -> B256 {
        self.into_word()
    }
}

impl Word for U256 {
    fn word(&self) -> B256 {
        B256::from(*self)
    }
}

impl Word for B256 {
    fn word(&self) -> B256 {
        *self
    }
}

impl Word for bool {
    fn word(&self) -> B256 {
        B256::with_last_byte(u8::from(*self))
    }
}

impl Word for u64 {
    fn word(&self) -> B256 {
        B256::from(U256::from(*self))
    }
}

/// Calldata: a selector followed by static arguments.
fn calldata(selector: [u8; 4], args: &[&dyn Word]) -> Bytes {
    let mut data = Vec::with_capacity(4 + 32 * args.len());
    data.extend_from_slice(&selector);
    for arg in args {
        data.extend_from_slice(arg.word().as_slice());
    }
    data.into()
}

/// `Token.transfer(to, value)`.
pub(crate) fn token_transfer(to: Address, value: U256) -> Bytes {
    calldata(SELECTORS.transfer, &[&to, &value])
}

/// `Token.transferFrom(from, to, value)`.
pub(crate) fn token_transfer_from(from: Address, to: Address, value: U256) -> Bytes {
    calldata(SELECTORS.transfer_from, &[&from, &to, &value])
}

/// `Pair.swap(amountIn, minAmountOut, zeroForOne)`.
pub(crate) fn pair_swap(amount_in: U256, min_amount_out: U256, zero_for_one: bool) -> Bytes {
    calldata(
        SELECTORS.swap,
        &[&amount_in, &min_amount_out, &zero_for_one],
    )
}

/// `GameItems.mint()`.
pub(crate) fn game_mint() -> Bytes {
    calldata(SELECTORS.mint, &[])
}

/// `Governor.vote(proposalId, support)`.
pub(crate) fn governor_vote(proposal: u64, support: bool) -> Bytes {
    calldata(SELECTORS.vote, &[&proposal, &support])
}

/// `Registry.update(itemId, status, location)`.
pub(crate) fn registry_update(item: u64, status: u32, location: B256) -> Bytes {
    calldata(SELECTORS.update, &[&item, &u64::from(status), &location])
}

/// `Counter.increment()`.
pub(crate) fn counter_increment() -> Bytes {
    calldata(SELECTORS.increment, &[])
}

/// Init code deploying a Counter that starts at `start`.
pub(crate) fn counter_init(start: U256) -> Bytes {
    let mut code = COUNTER.creation.to_vec();
    code.extend_from_slice(start.word().as_slice());
    code.into()
}

/// `Factory.deploy(salt)`.
pub(crate) fn factory_deploy(salt: B256) -> Bytes {
    calldata(SELECTORS.deploy, &[&salt])
}

/// `Factory.deployAndDestroy(salt)`.
pub(crate) fn factory_deploy_and_destroy(salt: B256) -> Bytes {
    calldata(SELECTORS.deploy_and_destroy, &[&salt])
}

/// `Factory.destroy(child)`.
pub(crate) fn factory_destroy(child: Address) -> Bytes {
    calldata(SELECTORS.destroy, &[&child])
}

/// `Factory.tryDeploy(salt)`.
pub(crate) fn factory_try_deploy(salt: B256) -> Bytes {
    calldata(SELECTORS.try_deploy, &[&salt])
}

/// The slot of `mapping[key]` for a mapping declared at `slot`: keccak256(key . slot).
pub(crate) fn mapping_slot(key: &dyn Word, slot: U256) -> U256 {
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(key.word().as_slice());
    preimage[32..].copy_from_slice(&slot.to_be_bytes::<32>());
    keccak256(preimage).into()
}

/// Token storage.
pub(crate) mod token {
    use super::{Address, U256, mapping_slot};

    /// `balanceOf[holder]`.
    pub(crate) fn balance_slot(holder: Address) -> U256 {
        mapping_slot(&holder, U256::ZERO)
    }

    /// `allowance[owner][spender]`.
    pub(crate) fn allowance_slot(owner: Address, spender: Address) -> U256 {
        mapping_slot(&spender, mapping_slot(&owner, U256::from(1)))
    }

    /// `totalSupply`.
    pub(crate) const TOTAL_SUPPLY: U256 = U256::from_limbs([2, 0, 0, 0]);
}

/// Pair storage.
pub(crate) mod pair {
    use super::U256;

    /// `token0`.
    pub(crate) const TOKEN0: U256 = U256::ZERO;
    /// `token1`.
    pub(crate) const TOKEN1: U256 = U256::from_limbs([1, 0, 0, 0]);
    /// `reserve0`.
    pub(crate) const RESERVE0: U256 = U256::from_limbs([2, 0, 0, 0]);
    /// `reserve1`.
    pub(crate) const RESERVE1: U256 = U256::from_limbs([3, 0, 0, 0]);

    /// `getAmountOut`: the output of selling `amount_in` against the reserves, 0.3% fee.
    pub(crate) fn amount_out(amount_in: U256, reserve_in: U256, reserve_out: U256) -> U256 {
        let with_fee = amount_in * U256::from(997);
        with_fee * reserve_out / (reserve_in * U256::from(1000) + with_fee)
    }
}

/// GameItems storage.
pub(crate) mod game {
    use super::{Address, U256, mapping_slot};

    /// `totalMinted`.
    pub(crate) const TOTAL_MINTED: U256 = U256::ZERO;

    /// `ownerOf[id]`.
    pub(crate) fn owner_slot(id: u64) -> U256 {
        mapping_slot(&id, U256::from(1))
    }

    /// `balanceOf[holder]`.
    pub(crate) fn balance_slot(holder: Address) -> U256 {
        mapping_slot(&holder, U256::from(2))
    }
}

/// Governor storage.
pub(crate) mod governor {
    use super::{Address, U256, mapping_slot};

    /// `votingPower[voter]`.
    pub(crate) fn power_slot(voter: Address) -> U256 {
        mapping_slot(&voter, U256::ZERO)
    }

    /// First slot of `proposals[id]`: forVotes; +1 againstVotes; +2 deadline.
    pub(crate) fn proposal_slot(id: u64) -> U256 {
        mapping_slot(&id, U256::from(1))
    }
}

/// Registry storage.
pub(crate) mod registry {
    use super::{Address, U256, mapping_slot};

    /// First slot of `items[id]` (packed owner, status, updatedAt); +1 is the location.
    pub(crate) fn item_slot(id: u64) -> U256 {
        mapping_slot(&id, U256::ZERO)
    }

    /// The packed first slot of an item: owner | status << 160 | updatedAt << 192.
    pub(crate) fn pack(owner: Address, status: u32, updated_at: u64) -> U256 {
        U256::from_be_slice(owner.as_slice())
            | (U256::from(status) << 160)
            | (U256::from(updated_at) << 192)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_decodes() {
        for contract in [
            &TOKEN,
            &PAIR,
            &GAME_ITEMS,
            &GOVERNOR,
            &REGISTRY,
            &COUNTER,
            &FACTORY,
            &CHILD,
        ] {
            assert!(!contract.runtime.is_empty());
            assert!(contract.creation.len() > contract.runtime.len());
        }
    }

    #[test]
    fn selectors_match_known_values() {
        assert_eq!(SELECTORS.transfer, [0xa9, 0x05, 0x9c, 0xbb]);
        assert_eq!(SELECTORS.transfer_from, [0x23, 0xb8, 0x72, 0xdd]);
    }
}
