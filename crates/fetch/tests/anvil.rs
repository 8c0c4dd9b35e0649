//! `archive fetch` against a real node: anvil (scripts/anvil.sh), started here on
//! 127.0.0.1 under shanghai, cancun and prague with chains of hand-written contracts.
//!
//! For each chain: the fetch archives every block; each archived pre-state value is the
//! node's at the parent block; the job replays every block, verified, with parallel equal
//! to sequential; every account a block changed equals the node's after it; the
//! state-getters path (the node refusing `debug_*`) gives the same rows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use std::path::Path;

use alloy_primitives::{B256, keccak256};
use common::*;
use replay_evm::{sequential::replay_sequential, verify::verify};
use replay_evm_dataset::{
    JobParams,
    archive::ArchiveRow,
    job::{ArchiveSource, JobOptions, run_job},
};
use replay_evm_fetch::{FetchOptions, FetchSummary, Method, check::check_archive, fetch};
use serde_json::json;

fn fetched(options: FetchOptions) -> FetchSummary {
    let summary = fetch(options).expect("fetch runs");
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    summary
}

/// Every archived pre-state value (accounts, slots, ancestor hashes) is the node's at the
/// parent block, and every account absent from the pre-state but changed by the block did
/// not exist there.
fn pre_state_matches_node(url: &str, row: &ArchiveRow) {
    let parent = hex(row.number - 1);
    for account in &row.pre_state {
        let (balance, nonce, code) = node_account(url, account.address, &parent);
        assert_eq!(
            (balance, nonce, code.as_slice()),
            (account.balance, account.nonce, account.code.as_ref()),
            "block {} account {}",
            row.number,
            account.address
        );
        for (slot, value) in &account.storage {
            assert_eq!(
                node_slot(url, account.address, *slot, &parent),
                *value,
                "block {} slot {slot} of {}",
                row.number,
                account.address
            );
        }
    }
    for (number, hash) in &row.ancestor_hashes {
        let block = call(url, "eth_getBlockByNumber", json!([hex(*number), false]));
        let node: B256 = serde_json::from_value(block["hash"].clone()).expect("hash");
        assert_eq!(node, *hash, "block {} ancestor {number}", row.number);
    }
}

/// Every account and slot the block's replay changed equals the node's after the block.
fn changes_match_node(url: &str, row: &ArchiveRow) {
    let block = row.to_block().expect("decodes");
    let chain = row.chain().expect("chain");
    let replay = replay_sequential(&block, &chain).expect("replays");
    verify(block.header(), &replay).expect("verifies");
    let tag = hex(row.number);
    for (address, change) in &replay.state_changes.accounts {
        let (balance, nonce, code) = node_account(url, *address, &tag);
        match &change.info {
            Some(info) => {
                assert_eq!(
                    (balance, nonce, keccak256(&code)),
                    (info.balance, info.nonce, info.code_hash),
                    "block {} account {address}",
                    row.number
                );
            }
            None => assert!(
                balance.is_zero() && nonce == 0 && code.is_empty(),
                "block {}: {address} is gone after the replay, not on the node",
                row.number
            ),
        }
        for (slot, value) in &change.storage {
            assert_eq!(
                node_slot(url, *address, *slot, &tag),
                *value,
                "block {} slot {slot} of {address}",
                row.number
            );
        }
    }
}

/// A `blocks` row's (number, next_block_checked, next_block_disagreements,
/// next_block_first_disagreement).
type NextBlockColumns = (i64, bool, Option<i32>, Option<String>);

/// Runs the job on `archive` and returns its report and the `blocks` rows' check columns.
fn job_blocks(archive: &Path) -> (replay_evm_dataset::job::JobReport, Vec<NextBlockColumns>) {
    use arrow_array::{Array, BooleanArray, Int32Array, Int64Array, StringArray};
    let out = tempfile::tempdir().expect("tempdir");
    let report = run_job(
        &JobOptions {
            archive: ArchiveSource::Dir(archive.to_owned()),
            out: out.path().join("results"),
            params: JobParams {
                threads: vec![1, 2, 4],
                partition_blocks: 10_000,
                reproducible: true,
            },
            workers: 1,
            overwrite: false,
        },
        &|_| {},
    )
    .expect("job runs");
    let tables = replay_evm_dataset::tables::read_table(&out.path().join("results"), "blocks")
        .expect("blocks table");
    let mut rows = Vec::new();
    for batch in &tables {
        let column = |name: &str| batch.column_by_name(name).expect(name).clone();
        let (numbers, flags, counts, firsts) = (
            column("block_number"),
            column("next_block_checked"),
            column("next_block_disagreements"),
            column("next_block_first_disagreement"),
        );
        let numbers = numbers.as_any().downcast_ref::<Int64Array>().expect("i64");
        let flags = flags.as_any().downcast_ref::<BooleanArray>().expect("bool");
        let counts = counts.as_any().downcast_ref::<Int32Array>().expect("i32");
        let firsts = firsts.as_any().downcast_ref::<StringArray>().expect("utf8");
        for i in 0..batch.num_rows() {
            rows.push((
                numbers.value(i),
                flags.value(i),
                counts.is_valid(i).then(|| counts.value(i)),
                firsts.is_valid(i).then(|| firsts.value(i).to_owned()),
            ));
        }
    }
    rows.sort_by_key(|r| r.0);
    (report, rows)
}

fn job_verifies(archive: &Path, blocks: u64) {
    let (report, rows) = job_blocks(archive);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.blocks, blocks);
    // Every block but the last was checked against its successor, and agrees with it.
    let checked: Vec<_> = rows.iter().filter(|r| r.1).collect();
    assert_eq!(
        checked.len() as u64,
        blocks - 1,
        "every block but the last is checked"
    );
    assert!(checked.iter().all(|r| r.2 == Some(0)), "{checked:?}");
    assert!(
        !rows.last().expect("rows").1,
        "the last block has no successor"
    );
    a_batch_checks_its_last_block_against_the_look_ahead(archive);
}

/// `replay_batch_with` on the first half of the archive: its last block is checked only
/// when the second half is given as the look-ahead (as the Spark job gives it).
fn a_batch_checks_its_last_block_against_the_look_ahead(archive: &Path) {
    use arrow_array::{Array, BooleanArray};
    let archive = replay_evm_dataset::archive::Archive::open(archive).expect("opens");
    let numbers = archive.numbers();
    assert!(numbers.len() >= 2, "at least two blocks");
    let middle = numbers[(numbers.len() - 1) / 2];
    let first = archive.read_range(numbers[0], middle).expect("first half");
    let rest = archive
        .read_range(middle + 1, *numbers.last().expect("blocks"))
        .expect("second half");
    let params = JobParams {
        threads: vec![2],
        partition_blocks: 10_000,
        reproducible: true,
    };
    let engine =
        replay_evm::parallel::ParallelEngine::new(std::num::NonZeroUsize::MIN).expect("engine");
    for (next, expected) in [(None, false), (Some(&rest), true)] {
        let results = replay_evm_dataset::replay_batch_with(&first, next, &params, &engine, |_| {})
            .expect("replays");
        let flags = results
            .blocks
            .column_by_name("next_block_checked")
            .expect("column")
            .clone();
        let flags = flags.as_any().downcast_ref::<BooleanArray>().expect("bool");
        let last = flags.len() - 1;
        assert!(
            (0..last).all(|i| flags.value(i)),
            "every block but the last"
        );
        assert_eq!(
            flags.value(last),
            expected,
            "the last, with look-ahead: {expected}"
        );
    }
}

/// `archive check` names a pre-state value that is not what the previous block left.
fn a_tampered_pre_state_disagrees(rows: &[ArchiveRow], dir: &Path) {
    let (index, address) = rows
        .windows(2)
        .enumerate()
        .find_map(|(i, pair)| {
            let changes = replay_sequential(
                &pair[0].to_block().expect("decodes"),
                &pair[0].chain().expect("chain"),
            )
            .expect("replays")
            .state_changes;
            pair[1]
                .pre_state
                .iter()
                .find(|a| changes.accounts.contains_key(&a.address))
                .map(|a| (i + 1, a.address))
        })
        .expect("a block reads an account its predecessor changed");
    let mut tampered = rows.to_vec();
    let account = tampered[index]
        .pre_state
        .iter_mut()
        .find(|a| a.address == address)
        .expect("account");
    account.balance += alloy_primitives::U256::from(1);
    let out = dir.join("tampered");
    replay_evm_dataset::archive::write_archive(&out, tampered).expect("write");
    let report = check_archive(&out).expect("check runs");
    assert_eq!(report.disagreements.len(), 1, "{:?}", report.disagreements);
    let d = &report.disagreements[0];
    assert_eq!(
        (d.block, d.address, d.field.as_str()),
        (rows[index - 1].number, address, "balance")
    );
    // The job finds the same disagreement, in the predecessor's `blocks` row.
    let (_, blocks) = job_blocks(&out);
    let row = blocks
        .iter()
        .find(|r| r.0 == i64::try_from(rows[index - 1].number).expect("number"))
        .expect("predecessor row");
    assert_eq!((row.1, row.2), (true, Some(1)), "{row:?}");
    let first = row.3.as_deref().expect("first disagreement");
    assert!(
        first.contains(&address.to_string()) && first.contains("balance"),
        "{first}"
    );
}

fn chain_round_trip(hardfork: &str, cancun: bool, same_block_destroy: bool) {
    let anvil = Anvil::start(hardfork);
    let last = build_chain(&anvil.url, cancun, same_block_destroy);
    let dir = tempfile::tempdir().expect("tempdir");
    let tracer = dir.path().join("tracer");
    let spec = format!("1-{last}");
    let summary = fetched(options(&anvil.url, &spec, &tracer, hardfork));
    assert_eq!(summary.fetched, last);
    assert!(summary.tracer, "anvil serves the prestateTracer");
    let check = summary.check.expect("fetch checks the archive");
    assert!(check.agrees(), "{:?}", check.disagreements);
    assert_eq!(check.pairs, last - 1);
    assert!(
        check.accounts_compared > 0 && check.slots_compared > 0,
        "{check:?}"
    );

    let rows = archive_rows(&tracer);
    assert_eq!(
        rows.iter().map(|r| r.number).collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>()
    );
    assert!(rows.iter().any(|r| r.tx_count >= 10), "a busy block");
    assert!(rows.iter().any(|r| r.tx_count == 0), "an empty block");
    assert!(
        rows.iter().all(|r| r.chain_spec.is_some()),
        "a devnet's archive records its chain spec"
    );
    for row in &rows {
        pre_state_matches_node(&anvil.url, row);
        changes_match_node(&anvil.url, row);
    }
    assert!(
        rows.iter().any(|r| !r.ancestor_hashes.is_empty()),
        "BLOCKHASH read ancestors"
    );
    job_verifies(&tracer, last);
    a_tampered_pre_state_disagrees(&rows, dir.path());

    // The node refusing debug_*: auto falls back to the state getters, same rows.
    let proxy = Proxy::start(
        &anvil.url,
        Faults {
            no_debug: true,
            ..Faults::default()
        },
    );
    let getters = dir.path().join("getters");
    let summary = fetched(options(&proxy.url, &spec, &getters, hardfork));
    assert!(!summary.tracer);
    assert_eq!(archive_rows(&getters), rows);

    // And asked for explicitly, straight from the node.
    let explicit = dir.path().join("explicit");
    let mut opts = options(&anvil.url, &spec, &explicit, hardfork);
    opts.method = Method::StateGetters;
    fetched(opts);
    assert_eq!(archive_rows(&explicit), rows);
}

/// Before Cancun a contract deployed by one transaction and self-destructed by the next in
/// the same block is really deleted: it neither existed before the block nor after it. This
/// chain holds such a block; Block-STM once reported it as an extra changed account
/// (`{info: None, storage_wiped: true}`) where the sequential replay had none.
#[test]
#[ignore = "needs anvil (bash scripts/anvil.sh): run by scripts/test.sh, or with --include-ignored"]
fn shanghai_chain() {
    chain_round_trip("shanghai", false, true);
}

#[test]
#[ignore = "needs anvil (bash scripts/anvil.sh): run by scripts/test.sh, or with --include-ignored"]
fn cancun_chain() {
    chain_round_trip("cancun", true, true);
}

#[test]
#[ignore = "needs anvil (bash scripts/anvil.sh): run by scripts/test.sh, or with --include-ignored"]
fn prague_chain() {
    chain_round_trip("prague", true, true);
}

/// Every generated workload's block (`replay_evm_workload`), its pre-state installed on a
/// fresh anvil with `anvil_set*` (in a block of its own) and its signed transactions sent
/// as they are: the fetched blocks verify, their pre-state is the node's, their changes
/// equal the node's, and the job verifies them.
#[test]
#[ignore = "needs anvil (bash scripts/anvil.sh): run by scripts/test.sh, or with --include-ignored"]
fn generated_workloads() {
    use alloy_eips::eip2718::Encodable2718;
    use replay_evm_workload::{Workload, generate};

    for workload in Workload::ALL {
        let generated = generate(workload, 3, 12).expect("generates");
        let anvil = Anvil::start_with("prague", &["--chain-id", &generated.chain_id.to_string()]);
        let url = anvil.url.as_str();
        let mut calls = Vec::new();
        for (address, account) in generated.pre_state.sorted_accounts() {
            // anvil 1.7.1 makes no EIP-4788/2935 system calls when it mines: the system
            // contracts stay out of its state, as on its own genesis.
            if replay_evm_fetch::state::SYSTEM_CONTRACTS.contains(address) {
                continue;
            }
            calls.push(json!([
                "anvil_setBalance",
                [address, hex_u256(account.balance)]
            ]));
            calls.push(json!(["anvil_setNonce", [address, hex(account.nonce)]]));
            if account.code.is_some() {
                calls.push(json!(["anvil_setCode", [address, account.code_bytes()]]));
            }
            for (slot, value) in &account.storage {
                calls.push(json!([
                    "anvil_setStorageAt",
                    [address, B256::from(*slot), B256::from(*value)]
                ]));
            }
        }
        for c in calls {
            call(url, c[0].as_str().expect("method"), c[1].clone());
        }
        let builder = ChainBuilder::new(url);
        let installed = builder.mine();
        for tx in generated.transactions() {
            let raw = format!("0x{}", hexs(&tx.encoded_2718()));
            call(url, "eth_sendRawTransaction", json!([raw]));
        }
        let number = builder.mine();
        assert_eq!(number, installed + 1);
        let mined = call(url, "eth_getBlockByNumber", json!([hex(number), false]));
        assert_eq!(
            mined["transactions"].as_array().map(Vec::len),
            Some(generated.transactions().len()),
            "{workload}: every transaction mined"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let summary = fetched(options(url, &format!("1-{number}"), dir.path(), "prague"));
        assert_eq!(summary.fetched, number, "{workload}");
        let rows = archive_rows(dir.path());
        for row in &rows {
            pre_state_matches_node(url, row);
            changes_match_node(url, row);
        }
        job_verifies(dir.path(), number);
    }
}

fn hex_u256(value: alloy_primitives::U256) -> String {
    format!("{value:#x}")
}

/// Before Spurious Dragon (EIP-161) an empty account that exists is not one that does not:
/// a CALL with value to the latter costs 25,000 gas more. The getters and the tracer answer
/// zeros for both; the fetch tells them apart by the accounts' proofs.
#[test]
#[ignore = "needs anvil (bash scripts/anvil.sh): run by scripts/test.sh, or with --include-ignored"]
fn homestead_empty_accounts_that_exist() {
    let anvil = Anvil::start("homestead");
    let url = anvil.url.as_str();
    let mut b = ChainBuilder::new(url);
    let legacy = |to: &str, value: u64, data: String| {
        json!({"to": to, "value": hex(value), "data": data, "gas": hex(200_000),
               "gasPrice": hex(2_000_000_000)})
    };
    // CALL(GAS, calldata[0], value 1).
    let runtime = [
        0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x01, 0x60, 0x00, 0x35, 0x5a, 0xf1,
        0x00,
    ];
    let caller = b.send(
        0,
        json!({"data": format!("0x{}", hexs(&initcode(&runtime))), "gas": hex(200_000),
               "gasPrice": hex(2_000_000_000)}),
    );
    let existing = "0x00000000000000000000000000000000000e0001";
    let missing = "0x00000000000000000000000000000000000e0002";
    b.send(1, legacy(existing, 0, "0x".into()));
    b.mine();
    let caller = format!("{caller:#x}");
    for (from, target) in [(2, existing), (3, missing)] {
        let word = format!("0x{:0>64}", target.trim_start_matches("0x"));
        b.send(from, legacy(&caller, 5, word));
    }
    let last = b.mine();

    for method in [Method::Auto, Method::StateGetters] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = options(url, &format!("1-{last}"), dir.path(), "homestead");
        opts.method = method;
        let summary = fetch(opts).expect("fetch runs");
        assert!(summary.failures.is_empty(), "{:?}", summary.failures);
        let rows = archive_rows(dir.path());
        let pre = &rows[rows.len() - 1].pre_state;
        let named = |a: &str| pre.iter().find(|x| format!("{:#x}", x.address) == a);
        let account = named(existing).expect("the existing empty account is archived");
        assert!(account.balance.is_zero() && account.nonce == 0 && account.code.is_empty());
        assert!(
            named(missing).is_none(),
            "a missing account is not archived"
        );
    }
}
