//! Bad input never panics and never passes silently: each case below yields an error or a
//! failure whose message names the file and what is wrong with it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use replay_evm_conformance::{ConformanceError, Filter, run_file, run_path};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "replay-evm-statetest-{label}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A well-formed state test (a plain value transfer) whose post section is `post`.
fn test_json(post: &str, balance: &str) -> String {
    format!(
        r#"{{
  "transfer": {{
    "env": {{
      "currentCoinbase": "0x2adc25665018aa1fe0e6bc666dac8fc2697ff9ba",
      "currentDifficulty": "0x020000",
      "currentGasLimit": "0x05f5e100",
      "currentNumber": "0x01",
      "currentTimestamp": "0x03e8",
      "currentBaseFee": "0x0a",
      "currentRandom": "0x0000000000000000000000000000000000000000000000000000000000020000"
    }},
    "pre": {{
      "0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b": {{
        "balance": "{balance}", "code": "0x", "nonce": "0x00", "storage": {{}}
      }}
    }},
    "transaction": {{
      "data": ["0x"],
      "gasLimit": ["0x5208"],
      "gasPrice": "0x0a",
      "nonce": "0x00",
      "secretKey": "0x45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8",
      "to": "0x095e7baea6a6c7c4c2dfeb977efac326af552d87",
      "value": ["0x01"]
    }},
    "post": {post}
  }}
}}"#
    )
}

fn post_entry(fork: &str) -> String {
    format!(
        r#"{{"{fork}": [{{
          "hash": "0x0000000000000000000000000000000000000000000000000000000000000000",
          "logs": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
          "indexes": {{"data": 0, "gas": 0, "value": 0}}
        }}]}}"#
    )
}

fn single_failure_message(path: &Path) -> String {
    let report = run_path(path, &Filter::default()).expect("the path exists");
    assert_eq!(report.passed, 0);
    assert_eq!(report.failed.len(), 1, "{:#?}", report.failed);
    let failure = &report.failed[0];
    assert_eq!(failure.file, path);
    failure.to_string()
}

#[test]
fn malformed_json_is_a_failure_naming_the_file_and_position() {
    let dir = TempDir::new("malformed");
    let path = dir.write("broken.json", r#"{"test": {"env": "#);
    let message = single_failure_message(&path);
    assert!(message.contains("broken.json"), "{message}");
    assert!(message.contains("invalid state-test JSON"), "{message}");
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn a_missing_path_is_an_error_naming_it() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("nowhere");
    let error = run_path(&path, &Filter::default()).unwrap_err();
    assert!(
        matches!(error, ConformanceError::NotFound { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("{}: no such file or directory", path.display())
    );

    // Running one missing file directly reports it as a failure, without panicking.
    let report = run_file(&path.join("gone.json"), &Filter::default());
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0]
            .message
            .contains("no such file or directory")
    );
}

#[test]
fn a_folder_without_json_is_an_error() {
    let dir = TempDir::new("empty");
    dir.write("notes.txt", "not a test");
    let error = run_path(&dir.0, &Filter::default()).unwrap_err();
    assert!(
        matches!(error, ConformanceError::NoJsonFiles { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("no .json state-test files found")
    );
}

#[test]
fn an_unknown_fork_fails_and_a_withdrawn_one_is_skipped_with_its_reason() {
    let dir = TempDir::new("forks");
    let path = dir.write(
        "forks.json",
        &test_json(&post_entry("Atlantis"), "0x0de0b6b3a7640000"),
    );
    let message = single_failure_message(&path);
    assert!(message.contains("transfer [Atlantis #0]"), "{message}");
    assert!(message.contains("unknown fork `Atlantis`"), "{message}");

    let path = dir.write(
        "constantinople.json",
        &test_json(&post_entry("Constantinople"), "0x0de0b6b3a7640000"),
    );
    let report = run_path(&path, &Filter::default()).unwrap();
    assert_eq!(
        (report.passed, report.failed.len(), report.skipped.len()),
        (0, 0, 1)
    );
    let skip = &report.skipped[0];
    assert_eq!(
        (skip.name.as_str(), skip.fork.as_str(), skip.index),
        ("transfer", "Constantinople", Some(0))
    );
    assert!(
        skip.reason.contains("unsupported fork `Constantinople`"),
        "{}",
        skip.reason
    );
}

#[test]
fn invalid_hex_is_a_failure_naming_the_value() {
    let dir = TempDir::new("hex");
    let path = dir.write(
        "hex.json",
        &test_json(&post_entry("Cancun"), "0x0de0b6g3a7640000"),
    );
    let message = single_failure_message(&path);
    assert!(message.contains("hex.json"), "{message}");
    assert!(
        message.contains("invalid number `0x0de0b6g3a7640000`"),
        "{message}"
    );
    assert!(message.contains("invalid hex digit `g`"), "{message}");

    let bad_code =
        test_json(&post_entry("Cancun"), "0x01").replace(r#""code": "0x""#, r#""code": "0x6g""#);
    let path = dir.write("code.json", &bad_code);
    let message = single_failure_message(&path);
    assert!(
        message.contains("code.json") && message.contains("invalid state-test JSON"),
        "{message}"
    );
}

#[test]
fn a_wrong_root_is_a_failure_naming_both_roots() {
    let dir = TempDir::new("root");
    let path = dir.write(
        "root.json",
        &test_json(&post_entry("Cancun"), "0x0de0b6b3a7640000"),
    );
    let message = single_failure_message(&path);
    assert!(message.contains("transfer [Cancun #0]"), "{message}");
    assert!(message.contains("state root mismatch: got 0x"), "{message}");
    assert!(
        message.contains(
            "expected 0x0000000000000000000000000000000000000000000000000000000000000000"
        ),
        "{message}"
    );
}

#[test]
fn an_index_out_of_range_is_a_failure() {
    let dir = TempDir::new("index");
    let post = post_entry("Cancun").replace(r#""data": 0"#, r#""data": 7"#);
    let path = dir.write("index.json", &test_json(&post, "0x0de0b6b3a7640000"));
    let message = single_failure_message(&path);
    assert!(
        message.contains("index 7 out of range for transaction.data (length 1)"),
        "{message}"
    );
}

#[test]
fn an_unexpected_outcome_names_both_sides() {
    let dir = TempDir::new("exception");
    // Expected to be rejected, but the sender can pay: the transaction is valid.
    let post = post_entry("Cancun").replace(
        r#""indexes""#,
        r#""expectException": "TR_NoFunds", "indexes""#,
    );
    let path = dir.write("valid.json", &test_json(&post, "0x0de0b6b3a7640000"));
    let message = single_failure_message(&path);
    assert!(
        message.contains("expected exception `TR_NoFunds`"),
        "{message}"
    );
    assert!(
        message.contains("the transaction was valid and executed"),
        "{message}"
    );

    // Not expected to be rejected, but the sender cannot pay.
    let path = dir.write("invalid.json", &test_json(&post_entry("Cancun"), "0x00"));
    let message = single_failure_message(&path);
    assert!(
        message.contains("transaction rejected as invalid"),
        "{message}"
    );
    assert!(message.contains("no exception was expected"), "{message}");
}

#[test]
fn the_fork_filter_selects_entries() {
    let dir = TempDir::new("filter");
    let post = format!(
        "{{{}, {}}}",
        post_entry("Cancun")
            .trim_start_matches('{')
            .trim_end_matches('}'),
        post_entry("Constantinople")
            .trim_start_matches('{')
            .trim_end_matches('}')
    );
    let path = dir.write("filter.json", &test_json(&post, "0x0de0b6b3a7640000"));
    let all = run_path(&path, &Filter::default()).unwrap();
    assert_eq!((all.failed.len(), all.skipped.len()), (1, 1));
    let filter = Filter {
        fork: Some("Shanghai".parse().unwrap()),
        name: None,
    };
    let none = run_path(&path, &filter).unwrap();
    assert_eq!(
        (none.passed, none.failed.len(), none.skipped.len()),
        (0, 0, 0)
    );
}
