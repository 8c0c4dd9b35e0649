//! Runs the shared state-test fixtures: the whole ethereum/tests GeneralStateTests folder and
//! the execution-spec-tests Osaka folder. Both must have zero failures.
//!
//! The fixtures are found through `REPLAY_EVM_FIXTURES` (absolute, or relative to the
//! workspace root), by default `../shared/fixtures` beside the repository. A missing folder
//! fails the test: it never passes silently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use replay_evm_conformance::{Filter, Report, run_path, run_path_with_progress};

fn fixtures_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("REPLAY_EVM_FIXTURES") {
        // A relative setting is read from the workspace root, as scripts/test.sh reads it.
        Some(dir) => workspace.join(dir),
        None => workspace.join("../shared/fixtures"),
    }
}

fn suite_dir(relative: &str) -> PathBuf {
    let dir = fixtures_dir().join(relative);
    assert!(
        dir.is_dir(),
        "state-test fixtures not found at {}: set REPLAY_EVM_FIXTURES to the shared fixtures \
         folder (the one holding ethereum-tests/ and eest/)",
        dir.display()
    );
    dir
}

/// Runs a folder, printing progress every 250 files, the counts, the time and every skip
/// reason, then the failures (at most 100) if any.
fn run_suite(label: &str, dir: &Path) -> Report {
    let started = Instant::now();
    let done = AtomicUsize::new(0);
    let report = run_path_with_progress(dir, &Filter::default(), &|file| {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(250) {
            eprintln!("{label}: {n} files done ({})", file.file.display());
        }
    })
    .unwrap_or_else(|e| panic!("{label}: {e}"));
    let elapsed = started.elapsed();
    println!(
        "{label}: {} files in {:.1}s",
        report.files,
        elapsed.as_secs_f64()
    );
    println!("{label}: {}", report.summary());
    for (reason, count) in report.skip_reasons() {
        println!("{label}: skipped {count}: {reason}");
    }
    for failure in report.failed.iter().take(100) {
        println!("{label}: FAIL {failure}");
    }
    if report.failed.len() > 100 {
        let mut per_file: std::collections::BTreeMap<_, usize> = Default::default();
        for failure in &report.failed {
            *per_file
                .entry(failure.file.display().to_string())
                .or_default() += 1;
        }
        for (file, count) in per_file {
            println!("{label}: {count} failures in {file}");
        }
    }
    report
}

/// Runs a whole suite and checks it is complete (at least `min_files` files and
/// `min_passed` cases) and that no case failed.
fn assert_suite_passes(label: &str, relative: &str, min_files: usize, min_passed: usize) {
    let dir = suite_dir(relative);
    let report = run_suite(label, &dir);
    assert!(
        report.files >= min_files,
        "only {} files found under {}",
        report.files,
        dir.display()
    );
    assert!(
        report.passed >= min_passed,
        "only {} cases passed",
        report.passed
    );
    assert!(
        report.is_success(),
        "{} cases failed (listed above)",
        report.failed.len()
    );
}

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn general_state_tests_pass() {
    assert_suite_passes(
        "GeneralStateTests",
        "ethereum-tests/GeneralStateTests",
        2_700,
        69_000,
    );
}

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn eest_osaka_state_tests_pass() {
    assert_suite_passes(
        "EEST fusaka-devnet-5",
        "eest/fusaka-devnet-5/state_tests",
        30,
        1_200,
    );
}

/// Replaces the last hex digit of a `0x…` string with another one.
fn flip_last_digit(value: &mut serde_json::Value) {
    let text = value.as_str().expect("a hex string").to_owned();
    let last = if text.ends_with('0') { '1' } else { '0' };
    *value = serde_json::Value::String(format!("{}{last}", &text[..text.len() - 1]));
}

/// Guards against a runner that passes vacuously: a real fixture passes as is, and fails in
/// every case once its expected state roots (or logs hashes) are altered.
#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn altered_expectations_fail() {
    let files = [
        "ethereum-tests/GeneralStateTests/stExample/add11.json",
        "ethereum-tests/GeneralStateTests/stLogTests/log1_logMemsizeZero.json",
        "eest/fusaka-devnet-5/state_tests/osaka/eip7939_count_leading_zeros/count_leading_zeros/clz_gas_cost.json",
    ];
    let scratch = std::env::temp_dir().join(format!(
        "replay-evm-statetest-altered-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&scratch).unwrap();
    for relative in files {
        let source = fixtures_dir().join(relative);
        assert!(
            source.is_file(),
            "fixture {} not found: set REPLAY_EVM_FIXTURES",
            source.display()
        );
        let original = run_path(&source, &Filter::default()).unwrap();
        assert!(
            original.is_success() && original.passed > 0,
            "{relative}: {}",
            original.summary()
        );

        let text = std::fs::read_to_string(&source).unwrap();
        for (field, expected) in [
            ("hash", "state root mismatch"),
            ("logs", "logs hash mismatch"),
        ] {
            let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
            for test in json.as_object_mut().unwrap().values_mut() {
                for entries in test["post"].as_object_mut().unwrap().values_mut() {
                    for entry in entries.as_array_mut().unwrap() {
                        flip_last_digit(&mut entry[field]);
                    }
                }
            }
            let altered = scratch.join("altered.json");
            std::fs::write(&altered, json.to_string()).unwrap();
            let report = run_path(&altered, &Filter::default()).unwrap();
            assert_eq!(report.passed, 0, "{relative} with altered {field}");
            assert_eq!(
                report.failed.len(),
                original.passed,
                "{relative} with altered {field}"
            );
            for failure in &report.failed {
                assert!(failure.message.contains(expected), "{failure}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
