//! Generating a named workload's block: at a transaction count ([`generate`]) or a gas target
//! ([`generate_gas`]), from the transaction kinds every workload and the mix share.

use alloy_primitives::{Address, Bytes, TxKind, U256};
use replay_evm::block::ArchivedBlock;

use crate::{
    abi,
    builder::{Builder, ETHER, TIMESTAMP},
    contracts::{EXCHANGE, GAME_ITEMS, GOVERNOR, POOL, REGISTRY, TOKEN, TOKEN_B, pool_address},
    error::WorkloadError,
    workload::Workload,
};

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

/// Number of transactions of the sample block [`txs_for_gas`] measures.
const CALIBRATION_TXS: usize = 200;

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

/// A recipient of ETH: a fresh address, which three times in four already has a balance.
pub(crate) fn eth_recipient(b: &mut Builder) -> Address {
    let to = b.rng.address();
    if b.rng.chance(75) {
        let balance = U256::from(b.rng.between(ETHER / 100, 10 * ETHER));
        b.set_balance(to, balance);
    }
    to
}

/// A new sender sends 0.001 to 1 ETH to `to`.
pub(crate) fn eth_transfer(b: &mut Builder, to: Address) {
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
