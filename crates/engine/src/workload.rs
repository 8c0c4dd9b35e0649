//! Deterministic, seeded workload generator: synthetic blocks modelled on what users do on
//! chain, for measuring how parallel a block is and testing the engines on known shapes.
//!
//! Every generated block is an ordinary [`ArchivedBlock`] of a Cancun-era mainnet height
//! ([`ChainSpec::mainnet`](crate::chain::ChainSpec::mainnet) applies Cancun rules): EIP-1559
//! transactions on chain id 1, really signed with secp256k1 keys derived from the seed (the
//! engine recovers the senders from the signatures), the pre-state they need (funded senders,
//! the project's contracts from `contracts/` with their storage written directly into the
//! pre-state) and a header that passes [`ArchivedBlock::check`]. The header fields only
//! execution can tell (`gasUsed`, `receiptsRoot`, `logsBloom`) are filled by replaying the
//! block once with [`replay_sequential`](crate::sequential::replay_sequential), so a generated
//! block [`verify`](crate::verify::verify)s like a mainnet one. Every transaction succeeds.
//!
//! The same `(workload, seed, size)` always gives the same block, byte for byte.
//!
//! | workload | what each transaction does | shared state |
//! | --- | --- | --- |
//! | `raw-transfers` | ETH transfer between fresh parties | none |
//! | `raw-transfers-to-one` | ETH transfer to one exchange address | recipient balance |
//! | `erc20-disjoint` | ERC-20 transfer between fresh holders | none (token code only) |
//! | `erc20-hot` | ERC-20 deposit to, or withdrawal via allowance from, one hot wallet | hot wallet's token balance |
//! | `amm-many-pools` | constant-product swap, each in its own pool | none |
//! | `amm-one-pool` | constant-product swap in one pool | the pool's reserves and token balances |
//! | `nft-mint` | ERC-721-like game item mint | the token counter |
//! | `dao-votes` | vote on one of four open proposals | each proposal's tallies |
//! | `supply-chain` | registry item update by its owner, one event each | mostly none (10% re-update an item) |
//! | `mixed-defi` | a fixed mix of all the above | a realistic few hot spots |

mod abi;
mod builder;

use std::{fmt, str::FromStr};

use alloy_primitives::{Address, B256, Bytes, TxKind, U256, address, keccak256};

use self::builder::{Builder, ETHER, TIMESTAMP, seeded_hash};
use crate::{block::ArchivedBlock, error::ReplayError};

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
/// The counter of [`dependency_chain`].
pub const COUNTER: Address = address!("0x00000000000000000000000000000000c0de0007");
/// The CREATE2 factory of [`selfdestruct_then_redeploy`].
pub const FACTORY: Address = address!("0x00000000000000000000000000000000c0de0008");
/// The contract of [`stale_blockhash`].
pub const BLOCKHASH_READER: Address = address!("0x00000000000000000000000000000000c0de0009");
/// The exchange hot wallet: the one recipient of `raw-transfers-to-one`, the hot holder of
/// `erc20-hot`.
pub const EXCHANGE: Address = address!("0x000000000000000000000000000000000e8c0001");

/// Gas limit of an ETH transfer.
const GAS_TRANSFER: u64 = 21_000;
/// Gas limit of an ERC-20 `transfer`.
const GAS_ERC20: u64 = 80_000;
/// Gas limit of an ERC-20 `transferFrom`.
const GAS_ERC20_FROM: u64 = 100_000;
/// Gas limit of a swap.
const GAS_SWAP: u64 = 200_000;
/// Gas limit of a game-item mint.
const GAS_MINT: u64 = 200_000;
/// Gas limit of a vote.
const GAS_VOTE: u64 = 120_000;
/// Gas limit of a registry update.
const GAS_UPDATE: u64 = 100_000;
/// Gas limit of a counter increment.
const GAS_INCREMENT: u64 = 100_000;
/// Gas limit of a contract-creating transaction.
const GAS_CREATE: u64 = 500_000;
/// Gas limit of a factory call (CREATE2 and SELFDESTRUCT inside).
const GAS_FACTORY: u64 = 1_000_000;

/// Number of transactions of the sample block [`txs_for_gas`] measures.
const CALIBRATION_TXS: usize = 200;

/// A workload could not be generated (a bug in the generator or its contracts), or a
/// workload name is unknown.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The generated block does not replay.
    #[error("generated block does not replay: {0}")]
    Replay(#[from] ReplayError),
    /// A generated transaction did not succeed.
    #[error("generated transaction {index} did not succeed: {status}")]
    TxFailed {
        /// Position in the block.
        index: usize,
        /// How it ended.
        status: String,
    },
    /// No workload has this name.
    #[error("unknown workload `{0}` (known: {names})", names = Workload::names().join(", "))]
    Unknown(String),
}

/// A kind of block, modelled on one use case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// ETH transfers, distinct senders and distinct recipients: fully independent.
    RawTransfers,
    /// ETH transfers from distinct senders to one exchange address.
    RawTransfersToOne,
    /// ERC-20 transfers between distinct holders of one token.
    Erc20Disjoint,
    /// ERC-20 transfers that all move the exchange hot wallet's balance: even transactions
    /// deposit to it, odd ones withdraw from it with `transferFrom` under an allowance.
    Erc20HotHolder,
    /// Constant-product swaps, each in its own pool (the two tokens are shared contracts,
    /// but every swap touches other balance slots).
    AmmManyPools,
    /// Constant-product swaps all in one pool.
    AmmOnePool,
    /// Game-item mints: every mint bumps the shared token counter.
    NftMint,
    /// DAO votes on four open proposals: votes on one proposal share its tally slots.
    DaoVotes,
    /// Supply-chain registry updates by the items' owners, one event each; one in ten
    /// transactions updates again an item already updated in the block.
    SupplyChain,
    /// A mixed DeFi block: 20% ETH transfers, 25% ERC-20 transfers, 10% exchange deposits,
    /// 20% swaps in three popular pools, 10% mints, 8% votes, 7% registry updates.
    MixedDefi,
}

impl Workload {
    /// Every workload, in a fixed order.
    pub const ALL: [Self; 10] = [
        Self::RawTransfers,
        Self::RawTransfersToOne,
        Self::Erc20Disjoint,
        Self::Erc20HotHolder,
        Self::AmmManyPools,
        Self::AmmOnePool,
        Self::NftMint,
        Self::DaoVotes,
        Self::SupplyChain,
        Self::MixedDefi,
    ];

    /// The workload's kebab-case name, e.g. `erc20-hot`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::RawTransfers => "raw-transfers",
            Self::RawTransfersToOne => "raw-transfers-to-one",
            Self::Erc20Disjoint => "erc20-disjoint",
            Self::Erc20HotHolder => "erc20-hot",
            Self::AmmManyPools => "amm-many-pools",
            Self::AmmOnePool => "amm-one-pool",
            Self::NftMint => "nft-mint",
            Self::DaoVotes => "dao-votes",
            Self::SupplyChain => "supply-chain",
            Self::MixedDefi => "mixed-defi",
        }
    }

    /// Every workload's name, in [`Workload::ALL`] order.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|w| w.name()).collect()
    }

    /// One line on what the workload's transactions do.
    pub const fn description(self) -> &'static str {
        match self {
            Self::RawTransfers => "ETH transfers between distinct parties (independent)",
            Self::RawTransfersToOne => "ETH transfers from distinct senders to one address",
            Self::Erc20Disjoint => "ERC-20 transfers between distinct holders",
            Self::Erc20HotHolder => "ERC-20 deposits to and withdrawals from one hot wallet",
            Self::AmmManyPools => "constant-product swaps, each in its own pool",
            Self::AmmOnePool => "constant-product swaps in one pool",
            Self::NftMint => "game NFT mints sharing one token counter",
            Self::DaoVotes => "DAO votes on four proposals (shared tallies)",
            Self::SupplyChain => "supply-chain registry updates by item owners, with events",
            Self::MixedDefi => "a deterministic mix of all the other workloads",
        }
    }

    /// The random stream of this workload, so that the same seed draws different choices
    /// in different workloads (the sender keys are the same).
    fn stream(self) -> u64 {
        1 + self as u64
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = WorkloadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|w| w.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| WorkloadError::Unknown(s.to_owned()))
    }
}

/// A hand-built block for engine tests, with the address its assertions are about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The block, ready to replay and verify.
    pub block: ArchivedBlock,
    /// The contract the scenario is about (see each scenario's docs).
    pub contract: Address,
}

/// Generates `txs` transactions of `workload` from `seed`.
///
/// # Errors
/// [`WorkloadError`] only on a bug: the generated block must replay with every transaction
/// succeeding, and the generator checks that it does.
pub fn generate(workload: Workload, seed: u64, txs: usize) -> Result<ArchivedBlock, WorkloadError> {
    let mut b = Builder::new(seed, workload.stream());
    b.reserve_senders(txs);
    match workload {
        Workload::RawTransfers => {
            for _ in 0..txs {
                let to = eth_recipient(&mut b);
                eth_transfer(&mut b, to);
            }
        }
        Workload::RawTransfersToOne => {
            b.set_balance(EXCHANGE, U256::from(5_000 * ETHER));
            for _ in 0..txs {
                eth_transfer(&mut b, EXCHANGE);
            }
        }
        Workload::Erc20Disjoint => {
            install_token(&mut b, TOKEN);
            for _ in 0..txs {
                let to = token_recipient(&mut b, TOKEN);
                erc20_transfer(&mut b, TOKEN, to);
            }
        }
        Workload::Erc20HotHolder => {
            install_token(&mut b, TOKEN);
            fund_hot_wallet(&mut b);
            for i in 0..txs {
                if i % 2 == 0 {
                    erc20_transfer(&mut b, TOKEN, EXCHANGE);
                } else {
                    let to = token_recipient(&mut b, TOKEN);
                    erc20_withdraw(&mut b, TOKEN, EXCHANGE, to);
                }
            }
        }
        Workload::AmmManyPools => {
            install_token(&mut b, TOKEN);
            install_token(&mut b, TOKEN_B);
            for i in 0..txs {
                let mut pool = Pool::install(&mut b, pool_address(i as u64));
                swap(&mut b, &mut pool);
            }
        }
        Workload::AmmOnePool => {
            install_token(&mut b, TOKEN);
            install_token(&mut b, TOKEN_B);
            let mut pool = Pool::install(&mut b, POOL);
            for _ in 0..txs {
                swap(&mut b, &mut pool);
            }
        }
        Workload::NftMint => {
            install_game(&mut b);
            for _ in 0..txs {
                mint(&mut b);
            }
        }
        Workload::DaoVotes => {
            install_governor(&mut b);
            for _ in 0..txs {
                vote(&mut b);
            }
        }
        Workload::SupplyChain => {
            let mut registry = Registry::install(&mut b);
            for _ in 0..txs {
                registry.update(&mut b, true);
            }
        }
        Workload::MixedDefi => mixed_defi(&mut b, txs),
    }
    debug_assert_eq!(b.len(), txs);
    b.finish()
}

/// Generates a block of `workload` from `seed` whose gas used is about `target_gas` (within
/// a few percent): the transaction count is [`txs_for_gas`].
///
/// # Errors
/// As [`generate`].
pub fn generate_gas(
    workload: Workload,
    seed: u64,
    target_gas: u64,
) -> Result<ArchivedBlock, WorkloadError> {
    let txs = txs_for_gas(workload, seed, target_gas)?;
    generate(workload, seed, txs)
}

/// The number of transactions of `workload` that use about `target_gas`, measured on a
/// small sample block of the same seed (at least one transaction).
///
/// # Errors
/// As [`generate`].
pub fn txs_for_gas(workload: Workload, seed: u64, target_gas: u64) -> Result<usize, WorkloadError> {
    let sample = generate(workload, seed, CALIBRATION_TXS)?;
    let per_tx = (sample.header().gas_used / CALIBRATION_TXS as u64).max(1);
    Ok(usize::try_from(target_gas.div_ceil(per_tx))
        .unwrap_or(usize::MAX)
        .max(1))
}

/// A block that deploys a contract and calls it later: transaction 0 is a CREATE of a
/// `Counter` starting at 41, transactions 1 and 2 are unrelated ETH transfers, transaction 3
/// (another sender) calls `increment()` on the new contract, leaving `count` (slot 0) at 42
/// and `lastCaller` (slot 1) at its sender. `contract` is the created address. A parallel
/// engine that runs the call before the deployment sees no code there (and the call
/// "succeeds" doing nothing), so it must detect the dependency.
///
/// # Errors
/// As [`generate`].
pub fn deploy_then_call(seed: u64) -> Result<Scenario, WorkloadError> {
    let mut b = Builder::new(seed, 101);
    b.reserve_senders(4);
    let deployer = b.new_sender();
    let contract = b.address(deployer).create(b.next_nonce(deployer));
    b.push(
        deployer,
        TxKind::Create,
        U256::ZERO,
        abi::counter_init(U256::from(41)),
        GAS_CREATE,
    );
    for _ in 0..2 {
        let to = eth_recipient(&mut b);
        eth_transfer(&mut b, to);
    }
    let caller = b.new_sender();
    b.call(caller, contract, abi::counter_increment(), GAS_INCREMENT);
    Ok(Scenario {
        block: b.finish()?,
        contract,
    })
}

/// A block exercising both SELFDESTRUCT behaviours of Cancun (EIP-6780) on one CREATE2
/// address. The [`FACTORY`] (slot 0: `deployments`, starting at 0) deploys `Child`s
/// (slot 0: `factory`, slot 1: `generation` = the factory's `deployments` at creation) at
/// `contract` = `FACTORY.create2(salt, keccak256(Child init code))`:
///
/// 0. `deployAndDestroy(salt)` with 1 ETH: the child is created and self-destructs in the
///    same transaction, so the account is really deleted (the ether goes back to the sender);
/// 1. `deploy(salt)` with 2 ETH: a new child at the same address, generation 2;
/// 2. `destroy(child)`: self-destruct in a later transaction only sends the 2 ETH to the
///    sender, the code and storage stay;
/// 3. `tryDeploy(salt)`: CREATE2 collides with the surviving child and yields the zero
///    address, without reverting (`deployments` ends at 3).
///
/// # Errors
/// As [`generate`].
pub fn selfdestruct_then_redeploy(seed: u64) -> Result<Scenario, WorkloadError> {
    let mut b = Builder::new(seed, 102);
    b.reserve_senders(4);
    b.install_hashed(FACTORY, &abi::FACTORY.runtime, abi::FACTORY.runtime_hash);
    let salt = seeded_hash("replay-evm workload salt", seed);
    let contract = child_address(salt);
    let steps = [
        (abi::factory_deploy_and_destroy(salt), ETHER),
        (abi::factory_deploy(salt), 2 * ETHER),
        (abi::factory_destroy(contract), 0),
        (abi::factory_try_deploy(salt), 0),
    ];
    for (input, value) in steps {
        let sender = b.new_sender();
        b.push(
            sender,
            TxKind::Call(FACTORY),
            U256::from(value),
            input,
            GAS_FACTORY,
        );
    }
    Ok(Scenario {
        block: b.finish()?,
        contract,
    })
}

/// A block of `txs` transactions from distinct senders, each calling `increment()` on the
/// [`COUNTER`] (which starts at 0): every transaction depends on the one before, and the
/// counter (slot 0) ends at `txs`. `contract` is [`COUNTER`].
///
/// # Errors
/// As [`generate`].
pub fn dependency_chain(seed: u64, txs: usize) -> Result<Scenario, WorkloadError> {
    let mut b = Builder::new(seed, 103);
    b.reserve_senders(txs);
    b.install_hashed(COUNTER, &abi::COUNTER.runtime, abi::COUNTER.runtime_hash);
    for _ in 0..txs {
        let sender = b.new_sender();
        b.call(sender, COUNTER, abi::counter_increment(), GAS_INCREMENT);
    }
    Ok(Scenario {
        block: b.finish()?,
        contract: COUNTER,
    })
}

/// A block whose BLOCKHASH arguments depend on its first transaction: a speculative
/// execution that reads stale state asks for an ancestor hash the real execution never asks
/// for, and that the block (like an archived one) does not hold.
///
/// [`BLOCKHASH_READER`] is hand-assembled. Called with data, it burns about 1.7 Mgas in a
/// loop, then sets its slot 0 (a flag, 0 in the pre-state) to 1. Called without data, it
/// reads the flag and stores `BLOCKHASH(NUMBER + 5)` (a future block: zero, no ancestor
/// read) under the caller's address when the flag is set, `BLOCKHASH(NUMBER - 2)` when not.
/// Transaction 0 sets the flag; the `readers` transactions after it, from distinct senders,
/// read it. In order, no transaction asks for an ancestor hash; a reader that runs before
/// transaction 0's write is visible asks for `NUMBER - 2`, which only a stale read can.
/// `contract` is [`BLOCKHASH_READER`].
///
/// # Errors
/// As [`generate`].
pub fn stale_blockhash(seed: u64, readers: usize) -> Result<Scenario, WorkloadError> {
    // See the doc comment; labels: future 0x11, hash 0x16, setter 0x1b, loop 0x20.
    const CODE: [u8; 48] = alloy_primitives::hex!(
        "36601b57600054601157600243036016565b600543015b403355005b620100005b600190038060205750600160005500"
    );
    let mut b = Builder::new(seed, 104);
    b.reserve_senders(readers + 1);
    b.install(
        BLOCKHASH_READER,
        &revm::bytecode::Bytecode::new_raw(Bytes::from_static(&CODE)),
    );
    let setter = b.new_sender();
    b.call(
        setter,
        BLOCKHASH_READER,
        Bytes::from_static(&[1]),
        3_000_000,
    );
    for _ in 0..readers {
        let reader = b.new_sender();
        b.call(reader, BLOCKHASH_READER, Bytes::new(), 100_000);
    }
    Ok(Scenario {
        block: b.finish()?,
        contract: BLOCKHASH_READER,
    })
}

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

/// A recipient of ETH: a fresh address, which three times in four already has a balance.
fn eth_recipient(b: &mut Builder) -> Address {
    let to = b.rng.address();
    if b.rng.chance(75) {
        let balance = U256::from(b.rng.between(ETHER / 100, 10 * ETHER));
        b.set_balance(to, balance);
    }
    to
}

/// A new sender sends 0.001 to 1 ETH to `to`.
fn eth_transfer(b: &mut Builder, to: Address) {
    let sender = b.new_sender();
    let value = U256::from(b.rng.between(ETHER / 1_000, ETHER));
    b.push(sender, TxKind::Call(to), value, Bytes::new(), GAS_TRANSFER);
}

/// Deploys the ERC-20 at `token`.
fn install_token(b: &mut Builder, token: Address) {
    b.install_hashed(token, &abi::TOKEN.runtime, abi::TOKEN.runtime_hash);
    b.set_slot(
        token,
        abi::token::TOTAL_SUPPLY,
        U256::from(1_000_000_000u128 * ETHER),
    );
}

/// A recipient of `token`: a fresh address, which half the time already holds some.
fn token_recipient(b: &mut Builder, token: Address) -> Address {
    let to = b.rng.address();
    if b.rng.chance(50) {
        let balance = U256::from(b.rng.between(ETHER, 1_000 * ETHER));
        b.set_slot(token, abi::token::balance_slot(to), balance);
    }
    to
}

/// Gives the exchange hot wallet a large [`TOKEN`] balance (enough for any withdrawal).
fn fund_hot_wallet(b: &mut Builder) {
    b.set_balance(EXCHANGE, U256::from(5_000 * ETHER));
    b.set_slot(
        TOKEN,
        abi::token::balance_slot(EXCHANGE),
        U256::from(100_000_000 * ETHER),
    );
}

/// A new sender holding `token` transfers part of its balance to `to`.
fn erc20_transfer(b: &mut Builder, token: Address, to: Address) {
    let sender = b.new_sender();
    let holder = b.address(sender);
    let balance = b.rng.between(10 * ETHER, 100_000 * ETHER);
    b.set_slot(token, abi::token::balance_slot(holder), U256::from(balance));
    let amount = U256::from(b.rng.between(1, balance / 2));
    b.call(sender, token, abi::token_transfer(to, amount), GAS_ERC20);
}

/// A new sender, allowed by `hot` to spend a little more than it takes, moves tokens from
/// `hot` to `to` with `transferFrom`.
fn erc20_withdraw(b: &mut Builder, token: Address, hot: Address, to: Address) {
    let sender = b.new_sender();
    let spender = b.address(sender);
    let amount = b.rng.between(ETHER, 1_000 * ETHER);
    let allowance = amount + b.rng.between(0, amount);
    b.set_slot(
        token,
        abi::token::allowance_slot(hot, spender),
        U256::from(allowance),
    );
    b.call(
        sender,
        token,
        abi::token_transfer_from(hot, to, U256::from(amount)),
        GAS_ERC20_FROM,
    );
}

/// A constant-product pool of [`TOKEN`] and [`TOKEN_B`], with the reserves the generator
/// expects it to have after the swaps queued so far.
struct Pool {
    address: Address,
    reserve0: U256,
    reserve1: U256,
}

impl Pool {
    /// Deploys a pool at `address` with random reserves of 1,000 to 10,000,000 of each token.
    fn install(b: &mut Builder, address: Address) -> Self {
        b.install_hashed(address, &abi::PAIR.runtime, abi::PAIR.runtime_hash);
        let reserve0 = U256::from(b.rng.between(1_000 * ETHER, 10_000_000 * ETHER));
        let reserve1 = U256::from(b.rng.between(1_000 * ETHER, 10_000_000 * ETHER));
        b.set_slot(address, abi::pair::TOKEN0, TOKEN.into_word().into());
        b.set_slot(address, abi::pair::TOKEN1, TOKEN_B.into_word().into());
        b.set_slot(address, abi::pair::RESERVE0, reserve0);
        b.set_slot(address, abi::pair::RESERVE1, reserve1);
        b.set_slot(TOKEN, abi::token::balance_slot(address), reserve0);
        b.set_slot(TOKEN_B, abi::token::balance_slot(address), reserve1);
        Self {
            address,
            reserve0,
            reserve1,
        }
    }
}

/// A new trader, holding the input token and having approved the pool without limit, sells
/// 0.001% to 0.1% of the pool's input reserve. `minAmountOut` is the exact output the
/// generator computes by simulating the pool, so a swap executed against the wrong reserves
/// reverts.
fn swap(b: &mut Builder, pool: &mut Pool) {
    let sender = b.new_sender();
    let trader = b.address(sender);
    let zero_for_one = b.rng.chance(50);
    let (token_in, reserve_in, reserve_out) = if zero_for_one {
        (TOKEN, pool.reserve0, pool.reserve1)
    } else {
        (TOKEN_B, pool.reserve1, pool.reserve0)
    };
    let amount_in = reserve_in / U256::from(b.rng.between(1_000, 100_000));
    let amount_out = abi::pair::amount_out(amount_in, reserve_in, reserve_out);
    let holding = amount_in + U256::from(b.rng.between(0, 100 * ETHER));
    b.set_slot(token_in, abi::token::balance_slot(trader), holding);
    b.set_slot(
        token_in,
        abi::token::allowance_slot(trader, pool.address),
        U256::MAX,
    );
    if zero_for_one {
        pool.reserve0 += amount_in;
        pool.reserve1 -= amount_out;
    } else {
        pool.reserve1 += amount_in;
        pool.reserve0 -= amount_out;
    }
    b.call(
        sender,
        pool.address,
        abi::pair_swap(amount_in, amount_out, zero_for_one),
        GAS_SWAP,
    );
}

/// Deploys the game-item contract with 1,000 to 50,000 items already minted.
fn install_game(b: &mut Builder) {
    b.install_hashed(
        GAME_ITEMS,
        &abi::GAME_ITEMS.runtime,
        abi::GAME_ITEMS.runtime_hash,
    );
    let minted = b.rng.between(1_000, 50_000);
    b.set_slot(GAME_ITEMS, abi::game::TOTAL_MINTED, U256::from(minted));
    // The last item minted before the block, for a realistic neighbourhood.
    let last_owner = b.rng.address();
    b.set_slot(
        GAME_ITEMS,
        abi::game::owner_slot(minted as u64),
        last_owner.into_word().into(),
    );
    b.set_slot(
        GAME_ITEMS,
        abi::game::balance_slot(last_owner),
        U256::from(1),
    );
}

/// A new player mints an item; three in ten players already hold a few.
fn mint(b: &mut Builder) {
    let sender = b.new_sender();
    if b.rng.chance(30) {
        let held = U256::from(b.rng.between(1, 5));
        let player = b.address(sender);
        b.set_slot(GAME_ITEMS, abi::game::balance_slot(player), held);
    }
    b.call(sender, GAME_ITEMS, abi::game_mint(), GAS_MINT);
}

/// Number of open proposals of the governance contract (ids 1 to 4).
const PROPOSALS: u64 = 4;

/// Deploys the governance contract with [`PROPOSALS`] open proposals (three days left, some
/// votes already cast).
fn install_governor(b: &mut Builder) {
    b.install_hashed(GOVERNOR, &abi::GOVERNOR.runtime, abi::GOVERNOR.runtime_hash);
    for id in 1..=PROPOSALS {
        let base = abi::governor::proposal_slot(id);
        let for_votes = U256::from(b.rng.between(1, 1_000_000) * ETHER);
        let against_votes = U256::from(b.rng.between(1, 1_000_000) * ETHER);
        b.set_slot(GOVERNOR, base, for_votes);
        b.set_slot(GOVERNOR, base + U256::from(1), against_votes);
        b.set_slot(
            GOVERNOR,
            base + U256::from(2),
            U256::from(TIMESTAMP + 3 * 86_400),
        );
    }
}

/// A new voter with 1 to 10,000 votes of power votes on a random proposal, 60% in favour.
fn vote(b: &mut Builder) {
    let sender = b.new_sender();
    let voter = b.address(sender);
    let power = U256::from(b.rng.between(1, 10_000) * ETHER);
    b.set_slot(GOVERNOR, abi::governor::power_slot(voter), power);
    let proposal = 1 + b.rng.below(PROPOSALS);
    let support = b.rng.chance(60);
    b.call(
        sender,
        GOVERNOR,
        abi::governor_vote(proposal, support),
        GAS_VOTE,
    );
}

/// The supply-chain registry, with the items updated so far in the block.
struct Registry {
    next_item: u64,
    /// (owner sender, item id, status after the queued updates).
    updated: Vec<(usize, u64, u32)>,
}

impl Registry {
    /// Deploys the registry.
    fn install(b: &mut Builder) -> Self {
        b.install_hashed(REGISTRY, &abi::REGISTRY.runtime, abi::REGISTRY.runtime_hash);
        Self {
            next_item: 1_000_000 + b.rng.below(1_000_000),
            updated: Vec::new(),
        }
    }

    /// An owner moves its item one or more steps forward at a new location. With
    /// `repeats`, one update in ten is of an item already updated in the block (the same
    /// owner, its next nonce); otherwise a new owner updates an item registered earlier.
    fn update(&mut self, b: &mut Builder, repeats: bool) {
        let location = b.rng.b256();
        if repeats && !self.updated.is_empty() && b.rng.chance(10) {
            let index = b.rng.below(self.updated.len() as u64) as usize;
            let (sender, item, status) = &mut self.updated[index];
            *status += 1;
            let input = abi::registry_update(*item, *status, location);
            let sender = *sender;
            b.call(sender, REGISTRY, input, GAS_UPDATE);
            return;
        }
        let sender = b.new_sender();
        let owner = b.address(sender);
        let item = self.next_item;
        self.next_item += 1;
        let status = 1 + b.rng.below(3) as u32;
        let updated_at = TIMESTAMP - b.rng.between(60, 7 * 86_400) as u64;
        let base = abi::registry::item_slot(item);
        b.set_slot(
            REGISTRY,
            base,
            abi::registry::pack(owner, status, updated_at),
        );
        let previous_location = b.rng.b256();
        b.set_slot(REGISTRY, base + U256::from(1), previous_location.into());
        let status = status + 1 + b.rng.below(2) as u32;
        b.call(
            sender,
            REGISTRY,
            abi::registry_update(item, status, location),
            GAS_UPDATE,
        );
        self.updated.push((sender, item, status));
    }
}

/// Number of pools in the mixed block.
const MIXED_POOLS: u64 = 3;

/// The mixed DeFi block: each transaction's kind drawn with fixed weights.
fn mixed_defi(b: &mut Builder, txs: usize) {
    install_token(b, TOKEN);
    install_token(b, TOKEN_B);
    fund_hot_wallet(b);
    let mut pools: Vec<Pool> = (0..MIXED_POOLS)
        .map(|i| Pool::install(b, pool_address(i)))
        .collect();
    install_game(b);
    install_governor(b);
    let mut registry = Registry::install(b);
    for _ in 0..txs {
        match b.rng.below(100) {
            0..20 => {
                let to = eth_recipient(b);
                eth_transfer(b, to);
            }
            20..45 => {
                let to = token_recipient(b, TOKEN);
                erc20_transfer(b, TOKEN, to);
            }
            45..55 => erc20_transfer(b, TOKEN, EXCHANGE),
            55..75 => {
                let pool = b.rng.below(MIXED_POOLS) as usize;
                swap(b, &mut pools[pool]);
            }
            75..85 => mint(b),
            85..93 => vote(b),
            _ => registry.update(b, false),
        }
    }
}
