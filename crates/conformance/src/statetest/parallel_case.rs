//! One state-test case as a one-transaction block, replayed sequentially (the oracle) and by
//! the parallel engine at each thread count (Block-STM) and once in order; the results must be
//! identical.
//!
//! A case passes when, at every thread count, either both replays succeed with no
//! [`replay_evm::sequential::BlockReplay::first_difference`], or both reject the transaction
//! as invalid ([`replay_evm::error::ReplayError::InvalidTransaction`]) for the same block,
//! transaction and reason ([`crate::parallel_check`]). The reason is compared as text; when
//! the texts differ, the case still passes if the *underlying* error is the same and only the
//! engines' wrapping differs (the sequential replay reports alloy-evm's `EVM reported invalid
//! transaction (<hash>): X`, the parallel engine revm's `transaction validation error: X`);
//! such cases are counted in [`crate::Agreement::rejected_reworded`] by underlying error. Any
//! other error, on either side, is a failure: a converted case must always be replayable.
//!
//! Cases that cannot be expressed as a block are skipped with the reason (see `block.rs`);
//! so are post entries of forks revm cannot run (Constantinople). Cases the state-test runner
//! skips for EIP-7610 (revm 43 lacks it) are *compared* here: both engines run the same revm,
//! so their agreement is meaningful even where revm deviates from the spec.

use std::num::NonZeroUsize;

use replay_evm::{
    chain::Fork,
    parallel::{Concurrency, ParallelEngine},
    sequential::replay_sequential,
};

use super::{
    block::{BlockTest, Unexpressible},
    model::PostEntry,
};
use crate::{
    parallel_check::{Agreed, check_parallel},
    workers::catch_panic,
};

/// The outcome of one case.
pub(crate) enum Verdict {
    /// Every parallel replay agreed with the sequential one, in this way.
    Pass(Agreed),
    /// A disagreement, or a converted block that misbehaves, in words.
    Fail(String),
    /// The case cannot be expressed as a block, or is left out; the reason says why.
    Skip(String),
}

/// Converts and compares one case; a panic becomes a failure. The second value notes a
/// sequential validity that differs from the fixture's expectation.
pub(crate) fn run_case(
    test: &BlockTest<'_>,
    fork: Fork,
    entry: &PostEntry,
    engine: &ParallelEngine,
    threads: &[NonZeroUsize],
) -> (Verdict, Option<String>) {
    catch_panic(|| compare_case(test, fork, entry, engine, threads))
        .unwrap_or_else(|message| (Verdict::Fail(message), None))
}

fn compare_case(
    test: &BlockTest<'_>,
    fork: Fork,
    entry: &PostEntry,
    engine: &ParallelEngine,
    threads: &[NonZeroUsize],
) -> (Verdict, Option<String>) {
    let block = match test.block(fork, entry.indexes) {
        Ok(block) => block,
        Err(Unexpressible::Skip(reason)) => return (Verdict::Skip(reason), None),
        Err(Unexpressible::Fail(message)) => return (Verdict::Fail(message), None),
    };
    let chain = test.chain(fork);
    let sequential = replay_sequential(&block, &chain);

    let note = match (&sequential, entry.expect_exception.as_deref()) {
        (Ok(replay), Some(expected)) => Some(format!(
            "the fixture expects `{expected}`, but the block executed the transaction ({:?})",
            replay.transactions.first().map(|t| &t.status)
        )),
        (Err(error), None) => Some(format!(
            "the fixture expects a valid transaction, but the block rejected it: {error}"
        )),
        _ => None,
    };
    if let Ok(replay) = &sequential {
        let sender = replay.transactions.first().map(|t| t.sender);
        if sender != test.sender() {
            let message = format!(
                "the converted block's transaction recovers to {sender:?}, not the test's sender \
                 {:?}",
                test.sender()
            );
            return (Verdict::Fail(message), note);
        }
        if replay.fork != fork {
            let message = format!("the block replayed as {}, not {fork}", replay.fork);
            return (Verdict::Fail(message), note);
        }
    }

    let mut agreed = Agreed::Executed;
    let mut mismatches = Vec::new();
    // Block-STM at every thread count, then in-order mode once: it shares the oracle's
    // executor but takes its state changes from the cache, not the bundle.
    let runs = threads
        .iter()
        .map(|&n| (Concurrency::Threads(n), n))
        .chain(threads.iter().max().map(|&n| (Concurrency::InOrder(n), n)));
    for (concurrency, n) in runs {
        let parallel = engine.replay(&block, &chain, concurrency);
        match check_parallel(&sequential, &parallel, n.get()) {
            Ok(Agreed::Executed) => {}
            Ok(Agreed::Rejected) => {
                if matches!(agreed, Agreed::Executed) {
                    agreed = Agreed::Rejected;
                }
            }
            Ok(reworded @ Agreed::Reworded(_)) => agreed = reworded,
            Err(message) => mismatches.push(format!("{concurrency:?}: {message}")),
        }
    }
    if mismatches.is_empty() {
        (Verdict::Pass(agreed), note)
    } else {
        (Verdict::Fail(mismatches.join("; ")), note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statetest::model::{Indexes, Suite};
    use alloy_primitives::{Address, B256, U256, address, keccak256};
    use replay_evm::parallel::ParallelReplay;

    /// A contract that stores 1 in slot 0 and BLOCKHASH(NUMBER - 1) in slot 1, called by a
    /// legacy transaction (`legacy`) and an EIP-1559 one with an access list (`eip1559`).
    const SUITE: &str = r#"{
      "legacy": {
        "env": {"currentCoinbase": "0x2adc25665018aa1fe0e6bc666dac8fc2697ff9ba",
                "currentGasLimit": "0x05f5e100", "currentNumber": "0x01",
                "currentTimestamp": "0x03e8", "currentDifficulty": "0x020000",
                "currentBaseFee": "0x0a", "currentExcessBlobGas": "0x00",
                "currentRandom": "0x0000000000000000000000000000000000000000000000000000000000020000"},
        "pre": {
          "0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b":
            {"balance": "0x0de0b6b3a7640000", "code": "0x", "nonce": "0x00", "storage": {}},
          "0x1000000000000000000000000000000000000000":
            {"balance": "0x00", "code": "0x60016000556001430340600155", "nonce": "0x00",
             "storage": {"0x05": "0x01", "0x06": "0x00"}}
        },
        "transaction": {"data": ["0x"], "gasLimit": ["0x0186a0"], "value": ["0x00", "0x01"],
          "nonce": "0x00", "gasPrice": "0x0a",
          "secretKey": "0x45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8",
          "sender": "0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b",
          "to": "0x1000000000000000000000000000000000000000"},
        "post": {}
      },
      "eip1559": {
        "env": {"currentCoinbase": "0x2adc25665018aa1fe0e6bc666dac8fc2697ff9ba",
                "currentGasLimit": "0x05f5e100", "currentNumber": "0x0300",
                "currentTimestamp": "0x03e8", "currentBaseFee": "0x0a",
                "currentExcessBlobGas": "0x00",
                "currentRandom": "0x0000000000000000000000000000000000000000000000000000000000020000"},
        "pre": {
          "0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b":
            {"balance": "0x0de0b6b3a7640000", "code": "0x", "nonce": "0x00", "storage": {}},
          "0x1000000000000000000000000000000000000000":
            {"balance": "0x00", "code": "0x60016000556001430340600155", "nonce": "0x00",
             "storage": {}}
        },
        "transaction": {"data": ["0x"], "gasLimit": ["0x0186a0"], "value": ["0x00"],
          "nonce": "0x00", "maxFeePerGas": "0x20", "maxPriorityFeePerGas": "0x02",
          "accessLists": [[{"address": "0x1000000000000000000000000000000000000000",
                            "storageKeys": ["0x0000000000000000000000000000000000000000000000000000000000000000"]}]],
          "secretKey": "0x45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8",
          "to": "0x1000000000000000000000000000000000000000"},
        "post": {}
      }
    }"#;

    const CONTRACT: Address = address!("0x1000000000000000000000000000000000000000");

    fn first_case() -> Indexes {
        Indexes {
            data: 0,
            gas: 0,
            value: 0,
        }
    }

    #[test]
    fn converted_blocks_replay_identically_and_see_the_state_test_block_hashes() {
        let suite: Suite = serde_json::from_str(SUITE).unwrap();
        let engine = ParallelEngine::new(NonZeroUsize::new(2).unwrap()).unwrap();
        let threads = [NonZeroUsize::new(1).unwrap(), NonZeroUsize::new(2).unwrap()];
        let cases = [
            ("legacy", Fork::Frontier, 1u64),
            ("legacy", Fork::Byzantium, 1),
            ("legacy", Fork::Cancun, 1),
            ("legacy", Fork::Prague, 1),
            ("legacy", Fork::Osaka, 1),
            ("eip1559", Fork::London, 0x300),
            ("eip1559", Fork::Prague, 0x300),
        ];
        for (name, fork, number) in cases {
            let test = BlockTest::new(&suite[name]).unwrap();
            let block = test.block(fork, first_case()).unwrap();
            block.check().unwrap();
            let expected_type = if name == "legacy" { 0 } else { 2 };
            assert_eq!(block.transactions()[0].tx_type() as u8, expected_type);
            let chain = test.chain(fork);
            let replay =
                replay_sequential(&block, &chain).unwrap_or_else(|e| panic!("{name} {fork}: {e}"));
            assert_eq!(replay.fork, fork);
            assert_eq!(replay.transactions[0].sender, test.sender().unwrap());
            let storage = &replay.state_changes.accounts[&CONTRACT].storage;
            assert_eq!(storage[&U256::ZERO], U256::from(1), "{name} {fork}");
            let parent_hash = keccak256((number - 1).to_string());
            assert_eq!(
                storage[&U256::from(1)],
                U256::from_be_bytes(parent_hash.0),
                "{name} {fork}"
            );

            let entry: PostEntry = serde_json::from_value(serde_json::json!({
                "hash": B256::ZERO, "logs": B256::ZERO,
                "indexes": {"data": 0, "gas": 0, "value": 0}
            }))
            .unwrap();
            let (verdict, note) = compare_case(&test, fork, &entry, &engine, &threads);
            assert!(
                matches!(verdict, Verdict::Pass(Agreed::Executed)),
                "{name} {fork}"
            );
            assert!(note.is_none());
        }
    }

    /// Differences go through the engine's one rule (`BlockReplay::first_difference`),
    /// which names the first of them.
    #[test]
    fn differences_are_named() {
        let suite: Suite = serde_json::from_str(SUITE).unwrap();
        let test = BlockTest::new(&suite["legacy"]).unwrap();
        let block = test.block(Fork::Cancun, first_case()).unwrap();
        let chain = test.chain(Fork::Cancun);
        let replay = replay_sequential(&block, &chain).unwrap();
        let engine = ParallelEngine::new(NonZeroUsize::MIN).unwrap();
        let parallel = engine
            .replay(&block, &chain, Concurrency::Threads(NonZeroUsize::MIN))
            .unwrap();
        let check = |par: &ParallelReplay| check_parallel(&Ok(replay.clone()), &Ok(par.clone()), 1);
        assert_eq!(check(&parallel), Ok(Agreed::Executed));

        let mut gas = parallel.clone();
        gas.replay.gas_used += 1;
        let message = check(&gas).unwrap_err();
        assert!(message.contains("gas used"), "{message}");

        let mut state = parallel.clone();
        if let Some(change) = state.replay.state_changes.accounts.get_mut(&CONTRACT) {
            change.storage.insert(U256::ZERO, U256::from(2));
        }
        let message = check(&state).unwrap_err();
        assert!(
            message.contains(&format!("state change of {CONTRACT}")),
            "{message}"
        );

        let mut receipts = parallel.clone();
        receipts.replay.receipts.clear();
        let message = check(&receipts).unwrap_err();
        assert!(message.contains("receipts"), "{message}");
    }

    #[test]
    fn unexpressible_cases_are_skipped_with_their_reason() {
        let mut json: serde_json::Value = serde_json::from_str(SUITE).unwrap();
        json["legacy"]["transaction"]["value"][1] =
            serde_json::Value::String(format!("0x:bigint 0x1{}", "0".repeat(64)));
        json["eip1559"]["transaction"]
            .as_object_mut()
            .unwrap()
            .remove("secretKey");
        let suite: Suite = serde_json::from_value(json).unwrap();
        let wide = Indexes {
            value: 1,
            ..first_case()
        };
        let test = BlockTest::new(&suite["legacy"]).unwrap();
        match test.block(Fork::Cancun, wide) {
            Err(Unexpressible::Skip(reason)) => assert!(reason.contains("256 bits"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let test = BlockTest::new(&suite["eip1559"]).unwrap();
        match test.block(Fork::Cancun, first_case()) {
            Err(Unexpressible::Skip(reason)) => assert!(reason.contains("secretKey"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
