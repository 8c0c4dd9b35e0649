//! The ethereum/tests BlockchainTests runner on the shared fixtures, and on bad input.
//!
//! `valid_blocks` and `invalid_blocks` run the whole ValidBlocks and InvalidBlocks folders:
//! every block replayed sequentially and in each parallel mode (Block-STM, in-order,
//! adaptive) at each thread count of `REPLAY_EVM_BLOCKTEST_THREADS` (default `1,2,3,4,8`,
//! the full sweep: about 10 s on 2 cores). Both must have zero failures. The other tests derive
//! broken variants of real fixtures (in a temporary folder) and check that each is reported
//! as the failure or skip it is, by name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::{
    num::NonZeroUsize,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use replay_evm::parallel::ParallelEngine;
use replay_evm_conformance::{BlockTestReport, ConformanceError, Filter, run_blocktests};
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("REPLAY_EVM_FIXTURES") {
        // A relative setting is read from the workspace root, as scripts/test.sh reads it.
        Some(dir) => workspace.join(dir),
        None => workspace.join("../shared/fixtures"),
    }
}

fn blockchain_tests(relative: &str) -> PathBuf {
    let path = fixtures_dir()
        .join("ethereum-tests/BlockchainTests")
        .join(relative);
    assert!(
        path.exists(),
        "blockchain-test fixtures not found at {}: set REPLAY_EVM_FIXTURES to the shared \
         fixtures folder (the one holding ethereum-tests/)",
        path.display()
    );
    path
}

fn thread_counts() -> Vec<usize> {
    let text = std::env::var("REPLAY_EVM_BLOCKTEST_THREADS").unwrap_or_else(|_| "1,2,3,4,8".into());
    text.split(',')
        .map(|n| {
            n.trim()
                .parse()
                .unwrap_or_else(|e| panic!("REPLAY_EVM_BLOCKTEST_THREADS `{text}`: {e}"))
        })
        .collect()
}

fn engine(threads: &[usize]) -> ParallelEngine {
    let max = threads.iter().copied().max().unwrap_or(1);
    ParallelEngine::new(NonZeroUsize::new(max).unwrap())
        .unwrap()
        .with_write_set_check(true)
}

fn run(paths: &[PathBuf], threads: &[usize]) -> BlockTestReport {
    run_blocktests(
        paths,
        &Filter::default(),
        &engine(threads),
        threads,
        &|_| {},
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a fixtures folder, printing the counts, the time, every skip reason and the
/// failures (at most 100), and asserts that nothing failed.
fn run_suite(label: &str, relative: &str) {
    let threads = thread_counts();
    let dir = blockchain_tests(relative);
    let started = Instant::now();
    let done = AtomicUsize::new(0);
    let report = run_blocktests(
        std::slice::from_ref(&dir),
        &Filter::default(),
        &engine(&threads),
        &threads,
        &|_| {
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(50) {
                eprintln!("{label}: {n} files done");
            }
        },
    )
    .unwrap_or_else(|e| panic!("{label}: {e}"));
    println!(
        "{label}: {} files, {} blocks, {} parallel replays at threads {:?} in {:.1}s",
        report.report.files,
        report.blocks,
        report.parallel_replays,
        report.threads,
        started.elapsed().as_secs_f64()
    );
    println!("{label}: {}", report.summary());
    for (reason, count) in report.report.skip_reasons() {
        println!("{label}: skipped {count}: {reason}");
    }
    for failure in report.report.failed.iter().take(100) {
        println!("{label}: FAIL {failure}");
    }
    assert!(report.report.passed > 0, "{label}: nothing passed");
    assert!(report.blocks > 0 && report.parallel_replays >= report.blocks * 3 * threads.len());
    assert!(
        report.is_success(),
        "{label}: {} failures",
        report.report.failed.len()
    );
}

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn valid_blocks() {
    run_suite("ValidBlocks", "ValidBlocks");
}

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn invalid_blocks() {
    run_suite("InvalidBlocks", "InvalidBlocks");
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "replay-evm-blocktest-{label}-{}-{n}",
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

/// The one test named `name` of a fixture file, as JSON.
fn fixture_test(file: &str, name: &str) -> Value {
    let path = blockchain_tests(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut suite: Value = serde_json::from_str(&text).unwrap();
    suite[name].take()
}

/// Runs `test` alone (as file `name`.json) at 1 and 2 threads.
fn run_one(dir: &TempDir, name: &str, test: &Value) -> BlockTestReport {
    let suite = serde_json::json!({ name: test });
    let path = dir.write(&format!("{name}.json"), &suite.to_string());
    run(&[path], &[1, 2])
}

const VALID_FILE: &str = "ValidBlocks/bcExample/basefeeExample.json";
const VALID_NAME: &str = "basefeeExample_Cancun";
const INVALID_FILE: &str = "InvalidBlocks/bcStateTests/transactionFromNotExistingAccount.json";
const INVALID_NAME: &str = "transactionFromNotExistingAccount_Berlin";

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn the_unchanged_fixtures_pass() {
    let dir = TempDir::new("unchanged");
    for (file, name) in [(VALID_FILE, VALID_NAME), (INVALID_FILE, INVALID_NAME)] {
        let report = run_one(&dir, name, &fixture_test(file, name));
        assert_eq!(
            (report.report.passed, report.report.failed.len()),
            (1, 0),
            "{name}: {:?}",
            report.report.failed
        );
        // Every block replayed sequentially, and in three modes at two thread counts.
        assert_eq!(report.parallel_replays, report.blocks * 6, "{name}");
    }
}

#[test]
fn a_wrong_post_state_fails_naming_the_account() {
    let dir = TempDir::new("post");
    let mut test = fixture_test(VALID_FILE, VALID_NAME);
    let post = test["postState"].as_object_mut().unwrap();
    let (address, account) = post.iter_mut().next().unwrap();
    let address = address.clone();
    account["balance"] = Value::String("0x01".into());
    let report = run_one(&dir, VALID_NAME, &test);
    assert_eq!(report.report.failed.len(), 1);
    let message = report.report.failed[0].to_string();
    assert!(
        message.contains(VALID_NAME)
            && message.contains("post-state differs")
            && message.to_lowercase().contains(&address.to_lowercase()),
        "{message}"
    );

    // The same state given only as its root.
    let mut test = fixture_test(VALID_FILE, VALID_NAME);
    test.as_object_mut().unwrap().remove("postState");
    test["postStateHash"] = Value::String(format!("0x{}", "11".repeat(32)));
    let report = run_one(&dir, VALID_NAME, &test);
    let message = report.report.failed[0].to_string();
    assert!(message.contains("postStateHash"), "{message}");
}

#[test]
fn a_valid_block_expected_invalid_fails() {
    let dir = TempDir::new("expected");
    let mut test = fixture_test(VALID_FILE, VALID_NAME);
    test["blocks"][0]["expectException"] = Value::String("InvalidStateRoot".into());
    let report = run_one(&dir, VALID_NAME, &test);
    let message = report.report.failed[0].to_string();
    assert!(
        message.contains("expected `InvalidStateRoot`, but the block was imported"),
        "{message}"
    );
}

#[test]
fn a_rejection_of_another_kind_fails() {
    let dir = TempDir::new("kind");
    let mut test = fixture_test(INVALID_FILE, INVALID_NAME);
    test["blocks"][0]["expectException"] = Value::String("InvalidNumber".into());
    let report = run_one(&dir, INVALID_NAME, &test);
    let message = report.report.failed[0].to_string();
    assert!(
        message.contains(
            "expected `InvalidNumber`, but the block was rejected as: invalid \
             transaction"
        ),
        "{message}"
    );

    // An exception name the runner does not know cannot be judged: a skip, not a pass.
    test["blocks"][0]["expectException"] = Value::String("SomeFutureException".into());
    let report = run_one(&dir, INVALID_NAME, &test);
    assert_eq!(report.report.skipped.len(), 1, "{:?}", report.report);
    assert!(
        report.report.skipped[0]
            .reason
            .contains("SomeFutureException")
    );
}

#[test]
fn wrong_head_and_networks() {
    let dir = TempDir::new("head");
    let mut test = fixture_test(VALID_FILE, VALID_NAME);
    test["lastblockhash"] = Value::String(format!("0x{}", "22".repeat(32)));
    let report = run_one(&dir, VALID_NAME, &test);
    assert!(
        report.report.failed[0]
            .message
            .contains("is not an imported block"),
        "{:?}",
        report.report.failed
    );

    let mut test = fixture_test(VALID_FILE, VALID_NAME);
    test["network"] = Value::String("Constantinople".into());
    let report = run_one(&dir, VALID_NAME, &test);
    assert_eq!(report.report.skipped.len(), 1);
    assert!(report.report.skipped[0].reason.contains("Constantinople"));

    test["network"] = Value::String("Atlantis".into());
    let report = run_one(&dir, VALID_NAME, &test);
    assert!(
        report.report.failed[0]
            .message
            .contains("unknown fork `Atlantis`")
    );

    // A block replayed under the wrong fork's rules is rejected, and the test fails.
    test["network"] = Value::String("London".into());
    let report = run_one(&dir, VALID_NAME, &test);
    assert_eq!(report.report.failed.len(), 1, "{:?}", report.report);
}

#[test]
fn bad_input_is_an_error_or_a_failure_naming_the_file() {
    let threads = [1, 2];
    let engine = engine(&threads);
    let none = Filter::default();
    let missing = PathBuf::from("/no/such/BlockchainTests");
    let error = run_blocktests(
        std::slice::from_ref(&missing),
        &none,
        &engine,
        &threads,
        &|_| {},
    )
    .unwrap_err();
    assert!(
        matches!(error, ConformanceError::NotFound { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("/no/such/BlockchainTests"));

    let dir = TempDir::new("bad");
    let broken = dir.write(
        "broken.json",
        "{\n  \"t\": {\n    \"network\": \"Cancun\",\n  }\n}\n",
    );
    let report = run_blocktests(
        std::slice::from_ref(&broken),
        &none,
        &engine,
        &threads,
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.report.failed.len(), 1);
    let message = report.report.failed[0].to_string();
    assert!(
        message.contains("broken.json")
            && message.contains("invalid blockchain-test JSON")
            && message.contains("line 4"),
        "{message}"
    );

    // A test whose fields are missing is a failure of that file too.
    let shapeless = dir.write("shapeless.json", r#"{"t": {"network": "Cancun"}}"#);
    let report = run_blocktests(&[shapeless], &none, &engine, &threads, &|_| {}).unwrap();
    assert!(report.report.failed[0].message.contains("missing field"));

    for bad in [&[][..], &[0][..], &[3][..]] {
        let error = run_blocktests(std::slice::from_ref(&broken), &none, &engine, bad, &|_| {})
            .unwrap_err();
        assert!(
            matches!(error, ConformanceError::Threads { .. }),
            "{bad:?}: {error}"
        );
    }
}
