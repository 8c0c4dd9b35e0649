//! The workload generator: every generated block is valid, replays with every transaction
//! succeeding, verifies against its own header, is deterministic in its seed, and does what
//! its workload says (which also proves the pre-state storage layouts match the contracts).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use alloy_consensus::Transaction;
use alloy_primitives::{Address, B256, U256};
use replay_evm::{
    block::ArchivedBlock,
    chain::{ChainSpec, Fork},
    sequential::{BlockReplay, TxStatus, replay_sequential},
    verify::verify,
};
use replay_evm_workload::{self as workload, Workload};

/// Checks, replays and verifies `block`, asserting every transaction succeeded.
fn replay_ok(block: &ArchivedBlock) -> BlockReplay {
    block.check().expect("generated block is consistent");
    let chain = ChainSpec::mainnet();
    assert_eq!(block.fork(&chain), Fork::Cancun);
    let replay = replay_sequential(block, &chain).expect("generated block replays");
    let verification = verify(block.header(), &replay).expect("replay matches the header");
    assert!(verification.receipts_root_checked);
    for (index, tx) in replay.transactions.iter().enumerate() {
        assert_eq!(tx.status, TxStatus::Success, "transaction {index}");
    }
    replay
}

/// The post value of `slot` of `address` after the block, or its pre-state value if the
/// block left it alone.
fn slot_after(block: &ArchivedBlock, replay: &BlockReplay, address: Address, slot: U256) -> U256 {
    let pre = block
        .pre_state
        .account(&address)
        .and_then(|a| a.storage.get(&slot).copied());
    match replay.state_changes.accounts.get(&address) {
        Some(change) => match change.storage.get(&slot) {
            Some(value) => *value,
            None if change.storage_wiped => U256::ZERO,
            None => pre.unwrap_or_default(),
        },
        None => pre.unwrap_or_default(),
    }
}

fn slot_before(block: &ArchivedBlock, address: Address, slot: U256) -> U256 {
    block
        .pre_state
        .account(&address)
        .and_then(|a| a.storage.get(&slot).copied())
        .unwrap_or_default()
}

/// The `index`-th 32-byte argument of a transaction's calldata.
fn arg(block: &ArchivedBlock, tx: usize, index: usize) -> B256 {
    let input = block.transactions()[tx].input();
    B256::from_slice(&input[4 + 32 * index..4 + 32 * (index + 1)])
}

#[test]
fn every_workload_generates_a_valid_block_of_succeeding_transactions() {
    const TXS: usize = 120;
    for workload in Workload::ALL {
        let block = workload::generate(workload, 7, TXS).unwrap();
        assert_eq!(block.transactions().len(), TXS, "{workload}");
        let replay = replay_ok(&block);
        let senders = block.recover_senders(Fork::Cancun).unwrap();
        if workload != Workload::SupplyChain {
            let mut distinct = senders.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(
                distinct.len(),
                TXS,
                "{workload}: one transaction per sender"
            );
        }
        println!(
            "{:<22} {:>8} gas/tx  {:>3} accounts changed, {:>4} slots",
            workload.name(),
            block.header().gas_used / TXS as u64,
            replay.state_changes.accounts.len(),
            replay.state_changes.slot_count(),
        );
    }
}

#[test]
fn same_seed_same_block_and_different_seed_different_block() {
    for workload in Workload::ALL {
        let a = workload::generate(workload, 42, 50).unwrap();
        let b = workload::generate(workload, 42, 50).unwrap();
        assert_eq!(a, b, "{workload}");
        assert_eq!(a.hash, b.hash);
        assert_eq!(a.pre_state.sorted_accounts(), b.pre_state.sorted_accounts());
        let c = workload::generate(workload, 43, 50).unwrap();
        assert_ne!(a.hash, c.hash, "{workload}");
        assert_ne!(a.transactions()[0], c.transactions()[0], "{workload}");
    }
}

#[test]
fn an_empty_block_is_valid() {
    let block = workload::generate(Workload::MixedDefi, 1, 0).unwrap();
    assert!(block.transactions().is_empty());
    let replay = replay_ok(&block);
    assert_eq!(replay.gas_used, 0);
}

#[test]
fn workload_names_round_trip() {
    for workload in Workload::ALL {
        assert_eq!(workload.name().parse::<Workload>().unwrap(), workload);
        assert_eq!(workload.to_string(), workload.name());
    }
    assert_eq!(
        "erc20-hot".parse::<Workload>().unwrap(),
        Workload::Erc20HotHolder
    );
    let err = "erc721".parse::<Workload>().unwrap_err().to_string();
    assert!(
        err.contains("unknown workload `erc721`") && err.contains("mixed-defi"),
        "{err}"
    );
}

/// ERC-20 balances are at keccak256(pad(holder) . pad(0)): the transfers debit and credit
/// exactly those slots.
#[test]
fn erc20_balances_live_where_the_generator_writes_them() {
    let block = workload::generate(Workload::Erc20Disjoint, 3, 40).unwrap();
    let replay = replay_ok(&block);
    let senders = block.recover_senders(Fork::Cancun).unwrap();
    for (tx, sender) in senders.iter().enumerate() {
        let to = Address::from_word(arg(&block, tx, 0));
        let amount = U256::from_be_bytes(arg(&block, tx, 1).0);
        let from_slot = workload::token_balance_slot(*sender);
        let to_slot = workload::token_balance_slot(to);
        assert!(!slot_before(&block, workload::TOKEN, from_slot).is_zero());
        assert_eq!(
            slot_after(&block, &replay, workload::TOKEN, from_slot),
            slot_before(&block, workload::TOKEN, from_slot) - amount
        );
        assert_eq!(
            slot_after(&block, &replay, workload::TOKEN, to_slot),
            slot_before(&block, workload::TOKEN, to_slot) + amount
        );
        assert_eq!(replay.receipts[tx].logs().len(), 1, "one Transfer event");
    }
}

/// The hot wallet's balance moves by the deposits minus the withdrawals.
#[test]
fn erc20_hot_wallet_balance_is_shared() {
    let block = workload::generate(Workload::Erc20HotHolder, 5, 60).unwrap();
    let replay = replay_ok(&block);
    let slot = workload::token_balance_slot(workload::EXCHANGE);
    let mut expected = slot_before(&block, workload::TOKEN, slot);
    for tx in 0..60 {
        if tx % 2 == 0 {
            expected += U256::from_be_bytes(arg(&block, tx, 1).0);
        } else {
            assert_eq!(Address::from_word(arg(&block, tx, 0)), workload::EXCHANGE);
            expected -= U256::from_be_bytes(arg(&block, tx, 2).0);
        }
    }
    assert_eq!(slot_after(&block, &replay, workload::TOKEN, slot), expected);
}

/// Swaps carry the exact output the generator simulated as `minAmountOut`: all succeeding
/// proves the reserves and token balances were written where the pair reads them.
#[test]
fn amm_swaps_get_the_simulated_output() {
    for workload in [Workload::AmmOnePool, Workload::AmmManyPools] {
        let block = workload::generate(workload, 11, 80).unwrap();
        let replay = replay_ok(&block);
        // Each swap: pay-in Transfer, pay-out Transfer, Swap.
        assert!(
            replay.receipts.iter().all(|r| r.logs().len() == 3),
            "{workload}"
        );
    }
    let block = workload::generate(Workload::AmmOnePool, 11, 80).unwrap();
    let replay = replay_ok(&block);
    // reserve0 (slot 2) moved by the net token0 flow.
    let reserve0 = U256::from(2);
    assert_ne!(
        slot_after(&block, &replay, workload::POOL, reserve0),
        slot_before(&block, workload::POOL, reserve0)
    );
}

/// Every mint bumps the shared counter (slot 0).
#[test]
fn nft_mints_share_the_counter() {
    let block = workload::generate(Workload::NftMint, 9, 70).unwrap();
    let replay = replay_ok(&block);
    let before = slot_before(&block, workload::GAME_ITEMS, U256::ZERO);
    assert!(!before.is_zero());
    assert_eq!(
        slot_after(&block, &replay, workload::GAME_ITEMS, U256::ZERO),
        before + U256::from(70)
    );
}

/// Votes and registry updates emit one event each; their success proves the voting power,
/// deadline and item owner slots are where the contracts read them.
#[test]
fn dao_votes_and_registry_updates_emit_one_event_each() {
    for workload in [Workload::DaoVotes, Workload::SupplyChain] {
        let block = workload::generate(workload, 13, 90).unwrap();
        let replay = replay_ok(&block);
        assert!(
            replay.receipts.iter().all(|r| r.logs().len() == 1),
            "{workload}"
        );
    }
    let block = workload::generate(Workload::SupplyChain, 13, 200).unwrap();
    let senders = block.recover_senders(Fork::Cancun).unwrap();
    let mut distinct = senders.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() < 200 && distinct.len() > 150,
        "mostly disjoint owners: {}",
        distinct.len()
    );
}

#[test]
fn generate_gas_hits_the_target() {
    for workload in [
        Workload::RawTransfers,
        Workload::Erc20Disjoint,
        Workload::MixedDefi,
    ] {
        let target = 6_000_000;
        let block = workload::generate_gas(workload, 1, target).unwrap();
        let used = block.header().gas_used;
        assert!(
            used.abs_diff(target) * 10 < target,
            "{workload}: {used} gas for a {target} target"
        );
        replay_ok(&block);
    }
}

#[test]
fn deploy_then_call_calls_the_new_contract() {
    let scenario = workload::deploy_then_call(5).unwrap();
    let block = &scenario.block;
    let replay = replay_ok(block);
    assert!(block.transactions()[0].kind().is_create());
    let senders = block.recover_senders(Fork::Cancun).unwrap();
    assert_eq!(
        scenario.contract,
        senders[0].create(block.transactions()[0].nonce())
    );
    assert_eq!(block.transactions()[3].to(), Some(scenario.contract));
    let change = &replay.state_changes.accounts[&scenario.contract];
    let info = change.info.expect("contract exists");
    assert_eq!(info.code_hash, workload::code_hash("Counter").unwrap());
    assert_eq!(change.storage[&U256::ZERO], U256::from(42));
    assert_eq!(
        change.storage[&U256::from(1)],
        U256::from_be_slice(senders[3].as_slice())
    );
}

#[test]
fn selfdestruct_then_redeploy_shows_both_eip6780_behaviours() {
    let scenario = workload::selfdestruct_then_redeploy(5).unwrap();
    let block = &scenario.block;
    let replay = replay_ok(block);
    let child = scenario.contract;
    let deployed = |tx: usize| {
        let log = replay.receipts[tx]
            .logs()
            .iter()
            .find(|l| l.address == workload::FACTORY && l.topics().len() == 2)
            .expect("Deployed event");
        Address::from_word(B256::from_slice(&log.data.data[..32]))
    };
    // 0: created and destroyed in one transaction: deleted, so 1: CREATE2 succeeds again.
    assert_eq!(deployed(0), child);
    assert_eq!(deployed(1), child);
    // 3: the child destroyed in 2 (a later transaction) survived: CREATE2 collides.
    assert_eq!(deployed(3), Address::ZERO);

    let change = &replay.state_changes.accounts[&child];
    let info = change
        .info
        .expect("the redeployed child survives its later self-destruct");
    assert_eq!(info.code_hash, workload::code_hash("Child").unwrap());
    assert_eq!(info.balance, U256::ZERO, "its 2 ETH went to the destroyer");
    assert_eq!(info.nonce, 1);
    assert_eq!(
        change.storage[&U256::ZERO],
        U256::from_be_slice(workload::FACTORY.as_slice())
    );
    assert_eq!(
        change.storage[&U256::from(1)],
        U256::from(2),
        "second generation"
    );
    let factory = &replay.state_changes.accounts[&workload::FACTORY];
    assert_eq!(factory.storage[&U256::ZERO], U256::from(3));

    // The destroyer of transaction 2 received the child's 2 ETH (less its fee).
    let senders = block.recover_senders(Fork::Cancun).unwrap();
    let before = block.pre_state.account(&senders[2]).unwrap().balance;
    let after = replay.state_changes.accounts[&senders[2]]
        .info
        .unwrap()
        .balance;
    assert!(
        after > before + U256::from(19u128 * 10u128.pow(17)),
        "{before} -> {after}"
    );
}

#[test]
fn dependency_chain_counts_every_transaction() {
    let scenario = workload::dependency_chain(5, 64).unwrap();
    let replay = replay_ok(&scenario.block);
    assert_eq!(scenario.contract, workload::COUNTER);
    let change = &replay.state_changes.accounts[&workload::COUNTER];
    assert_eq!(change.storage[&U256::ZERO], U256::from(64));
    assert_eq!(workload::dependency_chain(5, 64).unwrap(), scenario);
}

/// A benchmark-sized block: `cargo test --release -p replay-evm-workload --test workload -- --ignored`.
#[test]
#[ignore = "generates gigagas blocks (seconds each)"]
fn gigagas_blocks_generate_quickly() {
    for workload in [
        Workload::RawTransfers,
        Workload::AmmOnePool,
        Workload::MixedDefi,
    ] {
        let started = std::time::Instant::now();
        let block = workload::generate_gas(workload, 1, 1_000_000_000).unwrap();
        let generated = started.elapsed();
        println!(
            "{workload}: {} txs, {} gas, generated in {generated:?}",
            block.transactions().len(),
            block.header().gas_used
        );
        replay_ok(&block);
    }
}
