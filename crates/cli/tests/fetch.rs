//! `replay-evm archive fetch` and `archive check` end to end against anvil
//! (scripts/anvil.sh): exit codes 0, 1 and 2, and `job` on the fetched archive with no
//! chain flag (the archive records its chain spec).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;
#[path = "../../fetch/tests/common/mod.rs"]
mod node;

use common::{assert_no_panic, replay_evm, text};
use node::{Anvil, Faults, Proxy, build_chain, free_port};

#[test]
#[ignore = "needs anvil (bash scripts/anvil.sh): run by scripts/test.sh, or with --include-ignored"]
fn fetch_check_and_job_exit_codes() {
    let anvil = Anvil::start("cancun");
    let last = build_chain(&anvil.url, true, true);
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    let archive = archive.to_str().expect("utf-8 path");
    let spec = format!("1-{last}");

    let out = replay_evm(&[
        "archive", "fetch", "--rpc", &anvil.url, "--blocks", &spec, "--out", archive, "--fork",
        "Cancun", "--quiet",
    ]);
    assert_no_panic(&out);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("fetched {last} of {last} selected blocks")),
        "{stdout}"
    );
    assert!(stdout.contains("0 disagreement(s)"), "{stdout}");

    // The same blocks under a --chain-spec table (the README's format).
    let table = dir.path().join("chain.json");
    std::fs::write(
        &table,
        r#"{"chain_id": 31337, "name": "anvil", "deposit_contract": null, "forks": [
            {"fork": "Frontier", "at": {"block": 0}}, {"fork": "Homestead", "at": {"block": 0}},
            {"fork": "Tangerine", "at": {"block": 0}}, {"fork": "SpuriousDragon", "at": {"block": 0}},
            {"fork": "Byzantium", "at": {"block": 0}}, {"fork": "Petersburg", "at": {"block": 0}},
            {"fork": "Istanbul", "at": {"block": 0}}, {"fork": "Berlin", "at": {"block": 0}},
            {"fork": "London", "at": {"block": 0}}, {"fork": "Paris", "at": {"block": 0}},
            {"fork": "Shanghai", "at": {"timestamp": 0}}, {"fork": "Cancun", "at": {"timestamp": 0}}]}"#,
    )
    .expect("chain spec written");
    let tabled = dir.path().join("tabled");
    let out = replay_evm(&[
        "archive",
        "fetch",
        "--rpc",
        &anvil.url,
        "--blocks",
        &spec,
        "--out",
        tabled.to_str().expect("utf-8"),
        "--chain-spec",
        table.to_str().expect("utf-8"),
        "--method",
        "state-getters",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("under anvil"),
        "{}",
        text(&out.stdout)
    );

    let out = replay_evm(&["archive", "check", archive]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains(&format!("{} consecutive pairs", last - 1)),
        "{}",
        text(&out.stdout)
    );

    // The job replays the archive under its recorded chain spec: no flag.
    let results = dir.path().join("results");
    let out = replay_evm(&[
        "job",
        "--archive",
        archive,
        "--out",
        results.to_str().expect("utf-8"),
        "--quiet",
        "--reproducible",
    ]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("{last} blocks: {last} verified, 0 failed")),
        "{}",
        text(&out.stdout)
    );

    // A node error for one block: exit 1, the others written.
    let proxy = Proxy::start(
        &anvil.url,
        Faults {
            fail_block: Some(3),
            ..Faults::default()
        },
    );
    let partial = dir.path().join("partial");
    let out = replay_evm(&[
        "archive",
        "fetch",
        "--rpc",
        &proxy.url,
        "--blocks",
        &spec,
        "--out",
        partial.to_str().expect("utf-8"),
        "--fork",
        "cancun",
        "--quiet",
    ]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("block 3: failed at block: eth_getBlockByNumber: the node answered error -32000: injected failure: block 3 is pruned"),
        "{}",
        text(&out.stderr)
    );

    // Could not run: exit 2 with a message naming the problem.
    let unreachable = format!("http://127.0.0.1:{}", free_port());
    for (args, want) in [
        (
            vec![
                "--rpc",
                unreachable.as_str(),
                "--blocks",
                "1-2",
                "--fork",
                "cancun",
            ],
            "cannot use the node at",
        ),
        (
            vec![
                "--rpc",
                anvil.url.as_str(),
                "--blocks",
                "2-1",
                "--fork",
                "cancun",
            ],
            "the range is reversed",
        ),
        (
            vec![
                "--rpc",
                anvil.url.as_str(),
                "--blocks",
                "1-999",
                "--fork",
                "cancun",
            ],
            "beyond the node's head",
        ),
        (
            vec!["--rpc", anvil.url.as_str(), "--blocks", "1-2"],
            "has no built-in fork table",
        ),
        (
            vec![
                "--rpc",
                anvil.url.as_str(),
                "--blocks",
                "1-2",
                "--fork",
                "atlantis",
            ],
            "unknown fork",
        ),
    ] {
        let bad = dir.path().join("bad");
        let mut all = vec!["archive", "fetch", "--out", bad.to_str().expect("utf-8")];
        all.extend(args);
        let out = replay_evm(&all);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(want),
            "{all:?}: {}",
            text(&out.stderr)
        );
    }
    let out = replay_evm(&[
        "archive",
        "check",
        dir.path().join("none").to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
}
