//! Bad input gets a clear, typed error naming what and where; never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::{fs, path::Path};

use replay_evm::{
    block_dir::load_block_dir,
    chain::ChainSpec,
    error::{LoadError, ReplayError, VerifyError},
    fixtures::fixtures_dir,
    sequential::replay_sequential,
    verify::verify,
};
use serde_json::Value;

/// A Cancun block with 37 transactions; its first sender is 0x9120…8f84 with nonce 0x37a.
const BLOCK: &str = "19426587";
const SENDER: &str = "0x9120416767d5e8a24e656942d59de16260128f84";

/// Copies the block folder into a temporary directory, letting `edit` change one file.
fn tampered(file: &str, edit: impl FnOnce(&mut Value)) -> tempfile::TempDir {
    let source = fixtures_dir()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("mainnet")
        .join(BLOCK);
    let dir = tempfile::tempdir().unwrap();
    for name in ["block.json", "pre_state.json", "block_hashes.json"] {
        fs::copy(source.join(name), dir.path().join(name)).unwrap();
    }
    let path = dir.path().join(file);
    let mut json: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut json);
    fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
    dir
}

fn load_err(dir: &Path) -> LoadError {
    load_block_dir(dir, 1).expect_err("loading must fail")
}

#[test]
fn missing_folder_and_missing_file() {
    let err = load_err(Path::new("/nonexistent/block/folder"));
    assert!(
        err.to_string().contains("/nonexistent/block/folder"),
        "{err}"
    );
    let dir = tampered("block_hashes.json", |_| {});
    fs::remove_file(dir.path().join("pre_state.json")).unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("pre_state.json"), "{err}");
}

#[test]
fn malformed_json_names_file_and_position() {
    let dir = tampered("block.json", |_| {});
    fs::write(dir.path().join("block.json"), "{\"number\": \"0x1\", ").unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, LoadError::Json { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("block.json") && text.contains("malformed JSON") && text.contains("line 1"),
        "{text}"
    );
}

#[test]
fn wrong_types_and_bad_block_numbers() {
    let dir = tampered("pre_state.json", |json| {
        json[SENDER]["balance"] = Value::String("not hex".into());
    });
    let err = load_err(dir.path());
    assert!(err.to_string().contains("pre_state.json"), "{err}");

    let dir = tampered("block_hashes.json", |json| {
        json["ten"] = Value::String(format!("0x{}", "11".repeat(32)));
    });
    let err = load_err(dir.path());
    assert!(
        err.to_string().contains("`ten` is not a block number"),
        "{err}"
    );
}

#[test]
fn a_tampered_transaction_is_caught_before_replay() {
    let dir = tampered("block.json", |json| {
        json["transactions"][3]["value"] = Value::String("0x1".into());
    });
    let err = load_err(dir.path());
    assert!(matches!(err, LoadError::Block { .. }), "{err:?}");
    assert!(
        err.to_string().contains("transactionsRoot mismatch"),
        "{err}"
    );
}

#[test]
fn an_invalid_transaction_names_block_index_and_reason() {
    let dir = tampered("pre_state.json", |json| {
        json[SENDER]["nonce"] = Value::from(7);
    });
    let block = load_block_dir(dir.path(), 1).unwrap();
    let err = replay_sequential(&block, &ChainSpec::mainnet()).expect_err("nonce mismatch");
    assert!(
        matches!(
            err,
            ReplayError::InvalidTransaction {
                number: 19_426_587,
                index: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().to_lowercase().contains("nonce"), "{err}");
}

#[test]
fn a_wrong_pre_state_fails_verification_with_the_field_and_values() {
    // Zero every storage slot: contracts behave differently, so gas and logs change.
    let dir = tampered("pre_state.json", |json| {
        for account in json.as_object_mut().unwrap().values_mut() {
            if let Some(storage) = account.get_mut("storage").and_then(Value::as_object_mut) {
                storage.clear();
            }
        }
    });
    let block = load_block_dir(dir.path(), 1).unwrap();
    let replay = replay_sequential(&block, &ChainSpec::mainnet()).unwrap();
    let err = verify(block.header(), &replay).expect_err("must not verify");
    let VerifyError::Mismatch {
        number,
        field,
        expected,
        actual,
        ..
    } = &err;
    assert_eq!(*number, 19_426_587);
    assert!(
        ["gasUsed", "logsBloom", "receiptsRoot"].contains(field),
        "{err}"
    );
    assert_ne!(expected, actual);
    assert!(err.to_string().contains(field), "{err}");
}

#[test]
fn a_missing_ancestor_hash_is_an_error_not_a_guess() {
    // Block 1796867 (Homestead) executes BLOCKHASH; drop the hashes it needs.
    let source = fixtures_dir().unwrap().join("mainnet");
    let with_blockhash = ["1796867", "2641321", "3356896", "5891667", "8889776"]
        .iter()
        .map(|n| source.join(n))
        .find(|dir| fs::read_to_string(dir.join("block_hashes.json")).is_ok_and(|t| t.len() > 4))
        .expect("a fixture block that uses BLOCKHASH");
    let dir = tempfile::tempdir().unwrap();
    for name in ["block.json", "pre_state.json"] {
        fs::copy(with_blockhash.join(name), dir.path().join(name)).unwrap();
    }
    fs::write(dir.path().join("block_hashes.json"), "{}").unwrap();
    let block = load_block_dir(dir.path(), 1).unwrap();
    let err = replay_sequential(&block, &ChainSpec::mainnet()).expect_err("BLOCKHASH must fail");
    assert!(err.to_string().contains("BLOCKHASH"), "{err}");
}
