//! `replay-evm blocktest` end to end: the closing line, exit codes and clear errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;
use common::{assert_no_panic, replay_evm, text};

use replay_evm::fixtures::fixtures_dir;

#[test]
fn blocktest_runs_folders_in_every_mode_and_prints_the_closing_line() {
    let tests = fixtures_dir()
        .unwrap()
        .join("ethereum-tests/BlockchainTests");
    let valid = tests.join("ValidBlocks/bcExample");
    let invalid = tests.join("InvalidBlocks/bcEIP3675");
    let output = replay_evm(&[
        "blocktest",
        "--threads",
        "1,2",
        &valid.display().to_string(),
        &invalid.display().to_string(),
    ]);
    assert_no_panic(&output);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let last = lines.last().unwrap();
    assert!(
        last.ends_with("skipped") && last.contains(" 0 failed") && !last.starts_with("0 passed"),
        "{last}"
    );
    let info = lines[lines.len() - 2];
    assert!(
        info.contains("blocks replayed sequentially") && info.contains("at 1,2 threads"),
        "{info}"
    );
}

#[test]
fn blocktest_bad_input() {
    let output = replay_evm(&["blocktest", "/no/such/blocktests"]);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("/no/such/blocktests"),
        "{}",
        text(&output.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    std::fs::write(
        &file,
        "{\"t\": {\n  \"network\": \"Cancun\",\n  \"blocks\": [}",
    )
    .unwrap();
    let output = replay_evm(&["blocktest", &file.display().to_string()]);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("FAIL")
            && stdout.contains("broken.json")
            && stdout.contains("line 3")
            && stdout.trim_end().ends_with("0 passed, 1 failed, 0 skipped"),
        "{stdout}"
    );

    for bad in [["--threads", "0"], ["--fork", "Atlantis"]] {
        let output = replay_evm(&["blocktest", bad[0], bad[1], &file.display().to_string()]);
        assert_no_panic(&output);
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
    }
}
