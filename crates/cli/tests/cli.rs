//! The `replay-evm` binary end to end: exit codes, output shapes and clear errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;
use common::{assert_no_panic, replay_evm, text};

use replay_evm::fixtures::{fixtures_dir, mainnet_block_dirs};

#[test]
fn verify_all_mainnet_fixtures_as_json() {
    let dirs = mainnet_block_dirs().unwrap_or_else(|e| panic!("{e}"));
    let mut args = vec!["verify".to_owned(), "--json".to_owned()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = replay_evm(&args);
    assert_no_panic(&output);
    assert!(output.status.success(), "{}", text(&output.stdout));
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 47);
    for line in &lines {
        for key in [
            "number",
            "fork",
            "txs",
            "gas_used",
            "verified",
            "error",
            "receipts_root",
        ] {
            assert!(line.get(key).is_some(), "missing {key} in {line}");
        }
        assert_eq!(line["verified"], true, "{line}");
        assert!(line["error"].is_null());
    }
}

#[test]
fn verify_table_and_failure_exit_code() {
    let block = fixtures_dir().unwrap().join("mainnet/4370000");
    let output = replay_evm(&["verify", &block.display().to_string(), "/no/such/block"]);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("4370000") && stdout.contains("Byzantium"),
        "{stdout}"
    );
    assert!(
        stdout.contains("/no/such/block: not a block folder"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 blocks: 1 verified, 1 failed"),
        "{stdout}"
    );
}

#[test]
fn malformed_json_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.json"), "{ not json").unwrap();
    let output = replay_evm(&["verify", &dir.path().display().to_string()]);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("block.json: malformed JSON"), "{stdout}");
}

#[test]
fn an_edited_header_field_is_named() {
    // A copy of a mainnet block whose header's gasUsed was changed by one.
    let source = fixtures_dir().unwrap().join("mainnet/46147");
    let dir = tempfile::tempdir().unwrap();
    for file in ["block.json", "pre_state.json", "block_hashes.json"] {
        std::fs::copy(source.join(file), dir.path().join(file)).unwrap();
    }
    let path = dir.path().join("block.json");
    let mut block: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    block["gasUsed"] = serde_json::json!("0x5209");
    std::fs::write(&path, block.to_string()).unwrap();
    let output = replay_evm(&["verify", &dir.path().display().to_string()]);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("header hash mismatch"), "{stdout}");
    assert!(
        stdout.contains("gasUsed mismatch: header has 21001, replay gives 21000"),
        "{stdout}"
    );
    assert!(!stdout.contains("body gives"), "{stdout}");
}

#[test]
fn block_folders_take_a_fork_or_a_chain_spec() {
    let block = fixtures_dir().unwrap().join("mainnet/19932703");
    let block = block.display().to_string();
    // A Cancun block under `--fork cancun` (case-insensitive) verifies as under mainnet's table.
    let output = replay_evm(&["verify", &block, "--fork", "CANCUN"]);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert!(text(&output.stdout).contains("Cancun"));
    // The same through a chain-spec file: mainnet's own table as JSON.
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("chain.json");
    let table = serde_json::to_string(&replay_evm::chain::ChainSpec::mainnet()).unwrap();
    std::fs::write(&spec, table).unwrap();
    let spec = spec.display().to_string();
    for command in ["verify", "replay"] {
        let output = replay_evm(&[command, &block, "--chain-spec", &spec]);
        assert_no_panic(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{command}: {}",
            text(&output.stdout)
        );
    }
    // Bad chain options are usage errors naming the option.
    for (option, value, expected) in [
        ("--fork", "notafork", "--fork: unknown fork `notafork`"),
        (
            "--chain-spec",
            "/no/such/file.json",
            "--chain-spec /no/such/file.json",
        ),
        (
            "--chain-id",
            "424242",
            "--chain-id: unknown chain id 424242",
        ),
    ] {
        let output = replay_evm(&["verify", &block, option, value]);
        assert_no_panic(&output);
        assert_eq!(output.status.code(), Some(2), "{option}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(expected), "{option}: {stderr}");
    }
}

#[test]
fn statetest_runs_a_folder_and_prints_the_closing_line() {
    let folder = fixtures_dir()
        .unwrap()
        .join("ethereum-tests/GeneralStateTests/stExample");
    let output = replay_evm(&["statetest", &folder.display().to_string()]);
    assert_no_panic(&output);
    assert!(output.status.success(), "{}", text(&output.stdout));
    let stdout = text(&output.stdout);
    let last = stdout.lines().last().unwrap();
    assert!(
        last.ends_with("skipped") && last.contains(" 0 failed"),
        "{last}"
    );
    // Every skip says why.
    for line in stdout.lines().filter(|l| l.starts_with("SKIP")) {
        assert!(line.contains("]: "), "{line}");
    }
}

#[test]
fn statetest_bad_input() {
    let output = replay_evm(&["statetest", "/no/such/tests"]);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("/no/such/tests"),
        "{}",
        text(&output.stderr)
    );

    let folder = fixtures_dir()
        .unwrap()
        .join("ethereum-tests/GeneralStateTests/stExample");
    let output = replay_evm(&[
        "statetest",
        &folder.display().to_string(),
        "--fork",
        "Atlantis",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("unknown fork `Atlantis`"),
        "{}",
        text(&output.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    std::fs::write(&file, "{\"t\": {\"env\": 1").unwrap();
    let output = replay_evm(&["statetest", &file.display().to_string()]);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("broken.json") && stdout.contains("0 passed, 1 failed"),
        "{stdout}"
    );
}

#[test]
fn no_subcommand_is_a_usage_error() {
    let output = replay_evm(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("Usage"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn replay_compares_parallel_with_sequential_and_reports_json() {
    let block = fixtures_dir().unwrap().join("mainnet/13217637");
    let output = replay_evm(&[
        "replay",
        "--json",
        "--threads",
        "1,2,3",
        &block.display().to_string(),
    ]);
    assert_no_panic(&output);
    assert!(output.status.success(), "{}", text(&output.stdout));
    let row: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(row["number"], 13_217_637);
    assert_eq!(row["verified"], true);
    let seq = &row["sequential"];
    let runs = row["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for run in runs {
        assert_eq!(run["receipts_root"], seq["receipts_root"]);
        assert_eq!(run["state_diff_hash"], seq["state_diff_hash"]);
        assert!(run["aborts"].is_u64() && run["wall_us"].is_u64());
    }
    let (lazy, naive) = (
        row["conflict_rate"].as_f64().unwrap(),
        row["conflict_rate_naive"].as_f64().unwrap(),
    );
    assert!(lazy < naive, "lazy {lazy} naive {naive}");
    assert!(row["theoretical_speedup"].as_f64().unwrap() >= 1.0);
}
