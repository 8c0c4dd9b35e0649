//! Runs the shared state-test fixtures: the whole ethereum/tests GeneralStateTests folder and
//! the execution-spec-tests Osaka folder. Both must have zero failures.
//!
//! The fixtures are found through `REPLAY_EVM_FIXTURES`, by default `../shared/fixtures`
//! beside the repository. A missing folder fails the test: it never passes silently.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use replay_evm_statetest::{Filter, Report, run_path_with_progress};

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("REPLAY_EVM_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
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
        if n % 250 == 0 {
            eprintln!("{label}: {n} files done ({})", file.file.display());
        }
    })
    .unwrap_or_else(|e| panic!("{label}: {e}"));
    let elapsed = started.elapsed();
    println!("{label}: {} files in {:.1}s", report.files, elapsed.as_secs_f64());
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
            *per_file.entry(failure.file.display().to_string()).or_default() += 1;
        }
        for (file, count) in per_file {
            println!("{label}: {count} failures in {file}");
        }
    }
    report
}

#[test]
fn general_state_tests_pass() {
    let dir = suite_dir("ethereum-tests/GeneralStateTests");
    let report = run_suite("GeneralStateTests", &dir);
    assert!(report.files >= 2_700, "only {} files found under {}", report.files, dir.display());
    assert!(report.passed >= 69_000, "only {} cases passed", report.passed);
    assert!(report.is_success(), "{} cases failed (listed above)", report.failed.len());
}

#[test]
fn eest_osaka_state_tests_pass() {
    let dir = suite_dir("eest/fusaka-devnet-5/state_tests");
    let report = run_suite("EEST fusaka-devnet-5", &dir);
    assert!(report.files >= 30, "only {} files found under {}", report.files, dir.display());
    assert!(report.passed >= 1_200, "only {} cases passed", report.passed);
    assert!(report.is_success(), "{} cases failed (listed above)", report.failed.len());
}
