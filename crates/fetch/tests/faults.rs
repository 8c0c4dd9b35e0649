//! `archive fetch` when things go wrong: a node behind a proxy that drops connections,
//! delays and answers 429/503; a fetch killed with SIGKILL and run again; bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use common::*;
use replay_evm_fetch::{
    BlockSpec, ChainChoice, FetchError, FetchOptions, Method, fetch, run::FAILURES_FILE,
};

/// The common options under prague, with a shorter request timeout (the proxy's delays are
/// milliseconds; a dropped connection should fail fast).
fn options(url: &str, blocks: &str, out: &Path) -> FetchOptions {
    let mut options = common::options(url, blocks, out, "prague");
    options.rpc.timeout = Duration::from_secs(5);
    options
}

fn prague_chain() -> (Anvil, u64) {
    let anvil = Anvil::start("prague");
    let last = build_chain(&anvil.url, true, true);
    (anvil, last)
}

#[test]
#[ignore = "needs anvil (bash scripts/anvil.sh): run by scripts/test.sh, or with --include-ignored"]
fn a_flaky_node_gives_the_same_archive() {
    let (anvil, last) = prague_chain();
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = format!("1-{last}");
    let clean = dir.path().join("clean");
    let summary = fetch(options(&anvil.url, &spec, &clean)).expect("fetch");
    assert!(summary.failures.is_empty());

    for (seed, method) in [(1, Method::Auto), (2, Method::StateGetters)] {
        let proxy = Proxy::start(
            &anvil.url,
            Faults {
                drop: 80,
                too_many: 80,
                unavailable: 80,
                delay: 150,
                max_delay: Duration::from_millis(200),
                seed,
                ..Faults::default()
            },
        );
        let out = dir.path().join(format!("flaky-{seed}"));
        let mut opts = options(&proxy.url, &spec, &out);
        opts.rpc.max_attempts = 20;
        opts.method = method;
        let summary = fetch(opts).expect("fetch through the proxy");
        assert!(summary.failures.is_empty(), "{:?}", summary.failures);
        assert!(proxy.faults.load(std::sync::atomic::Ordering::Relaxed) > 0);
        assert!(summary.retries > 0, "faults were retried");
        assert_eq!(archive_rows(&out), archive_rows(&clean), "seed {seed}");
    }
}

#[test]
#[ignore = "needs anvil (bash scripts/anvil.sh): run by scripts/test.sh, or with --include-ignored"]
fn a_node_without_batches_gets_single_calls() {
    let (anvil, last) = prague_chain();
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = format!("1-{last}");
    let clean = dir.path().join("clean");
    let summary = fetch(options(&anvil.url, &spec, &clean)).expect("fetch");
    assert!(summary.batches, "anvil takes batches");
    let proxy = Proxy::start(
        &anvil.url,
        Faults {
            no_batch: true,
            ..Faults::default()
        },
    );
    let out = dir.path().join("singles");
    let mut opts = options(&proxy.url, &spec, &out);
    opts.method = Method::StateGetters;
    let summary = fetch(opts).expect("fetch through the proxy");
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert!(!summary.batches, "the client fell back to single calls");
    assert_eq!(archive_rows(&out), archive_rows(&clean));
}

/// The child side of [`a_killed_fetch_resumes_to_the_same_archive`]: a slow fetch, run in
/// a process of its own so that it can be killed. Does nothing unless its parent set
/// FETCH_CHILD_URL.
#[test]
#[ignore = "run by a_killed_fetch_resumes_to_the_same_archive in a child process"]
fn child_fetch() {
    let (Ok(url), Ok(out), Ok(spec)) = (
        std::env::var("FETCH_CHILD_URL"),
        std::env::var("FETCH_CHILD_OUT"),
        std::env::var("FETCH_CHILD_SPEC"),
    ) else {
        return;
    };
    let mut opts = options(&url, &spec, Path::new(&out));
    opts.chunk_blocks = 1;
    opts.rpc.concurrency = 1;
    let summary = fetch(opts).expect("child fetch");
    assert!(summary.failures.is_empty());
}

#[test]
#[ignore = "needs anvil (bash scripts/anvil.sh): run by scripts/test.sh, or with --include-ignored"]
fn a_killed_fetch_resumes_to_the_same_archive() {
    let (anvil, last) = prague_chain();
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = format!("1-{last}");
    let clean = dir.path().join("clean");
    fetch(options(&anvil.url, &spec, &clean)).expect("fetch");

    // A slow node, so that the child is killed mid-fetch.
    let proxy = Proxy::start(
        &anvil.url,
        Faults {
            slow: Duration::from_millis(40),
            ..Faults::default()
        },
    );
    let out = dir.path().join("killed");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["child_fetch", "--exact", "--ignored", "--nocapture"])
        .env("FETCH_CHILD_URL", &proxy.url)
        .env("FETCH_CHILD_OUT", &out)
        .env("FETCH_CHILD_SPEC", &spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    let chunks = |dir: &Path| -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
                    .count()
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while chunks(&out) < 2 && Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the child fetch ended before it was killed: {status}");
        }
        thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let written = chunks(&out);
    assert!(
        (2..last as usize).contains(&written),
        "killed mid-fetch ({written} of {last} chunks written)"
    );

    let mut opts = options(&anvil.url, &spec, &out);
    opts.chunk_blocks = 1;
    let summary = fetch(opts).expect("resumed fetch");
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(
        summary.skipped, written as u64,
        "finished chunks are skipped"
    );
    assert_eq!(summary.fetched, last - written as u64);
    assert_eq!(archive_rows(&out), archive_rows(&clean));

    // Another selection into the same folder is refused (its chunks would mix), unless
    // --overwrite replaces the folder's chunks.
    let err = fetch(options(&anvil.url, "1-3", &out)).expect_err("other chunks");
    assert!(
        err.to_string().contains("not chunks of this selection"),
        "{err}"
    );
    let mut opts = options(&anvil.url, "1-3", &out);
    opts.overwrite = true;
    fetch(opts).expect("overwrite");
    let numbers: Vec<u64> = archive_rows(&out).iter().map(|r| r.number).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
}

#[test]
fn an_unreachable_node_is_a_clear_error() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.1:{port}");
    let err = fetch(options(&url, "1-2", dir.path())).expect_err("nothing listens");
    assert!(matches!(err, FetchError::Node(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("eth_chainId"), "{message}");
    assert!(is_empty_dir(dir.path()));
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut e| e.next().is_none())
}

#[test]
#[ignore = "needs anvil (bash scripts/anvil.sh): run by scripts/test.sh, or with --include-ignored"]
fn bad_selections_and_chains_are_refused() {
    let anvil = Anvil::start("prague");
    let b = ChainBuilder::new(&anvil.url);
    b.mine();
    let head = b.mine();
    let dir = tempfile::tempdir().expect("tempdir");

    for bad in ["", "3-1", "x-2", "0-1", "latest-0", "1,,2"] {
        let err = bad.parse::<BlockSpec>().expect_err(bad);
        assert!(err.to_string().contains("--blocks"), "{err}");
    }
    let err = fetch(options(&anvil.url, "1-99", dir.path())).expect_err("beyond head");
    assert!(
        err.to_string().contains(&format!(
            "block 99 is beyond the node's head (block {head})"
        )),
        "{err}"
    );
    let err = fetch(options(&anvil.url, "latest-9", dir.path())).expect_err("too many");
    assert!(err.to_string().contains("latest-9"), "{err}");

    let mut opts = options(&anvil.url, "1-2", dir.path());
    opts.chain = ChainChoice::Builtin;
    let err = fetch(opts).expect_err("anvil's chain has no built-in table");
    assert!(matches!(err, FetchError::Chain(_)), "{err:?}");
    assert!(err.to_string().contains("31337"), "{err}");
    assert!(err.to_string().contains("--fork"), "{err}");

    let mut spec = replay_evm::chain::ChainSpec::mainnet();
    spec.chain_id = 5;
    let mut opts = options(&anvil.url, "1-2", dir.path());
    opts.chain = ChainChoice::Spec(spec);
    let err = fetch(opts).expect_err("another chain's table");
    assert!(err.to_string().contains("chain id 5"), "{err}");

    // latest-N counts back from the head where the node has no finalized block, and
    // --sample draws from the selection.
    let mut opts = options(&anvil.url, "latest-2", &dir.path().join("latest"));
    opts.sample = Some((1, 3));
    let summary = fetch(opts).expect("latest-2 sampled");
    assert_eq!((summary.selected, summary.fetched), (1, 1));
}

#[test]
#[ignore = "needs anvil (bash scripts/anvil.sh): run by scripts/test.sh, or with --include-ignored"]
fn a_node_error_fails_that_block_only() {
    let (anvil, last) = prague_chain();
    let proxy = Proxy::start(
        &anvil.url,
        Faults {
            fail_block: Some(2),
            ..Faults::default()
        },
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = format!("1-{last}");
    let summary = fetch(options(&proxy.url, &spec, dir.path())).expect("fetch runs");
    assert_eq!(summary.failures.len(), 1, "{:?}", summary.failures);
    let failure = &summary.failures[0];
    assert_eq!((failure.number, failure.stage.as_str()), (2, "block"));
    assert!(
        failure
            .reason
            .contains("the node answered error -32000: injected failure: block 2 is pruned"),
        "{}",
        failure.reason
    );
    let numbers: Vec<u64> = archive_rows(dir.path()).iter().map(|r| r.number).collect();
    let want: Vec<u64> = (1..=last).filter(|n| *n != 2).collect();
    assert_eq!(numbers, want);
    let failures = std::fs::read_to_string(dir.path().join(FAILURES_FILE)).expect("failures");
    assert_eq!(failures.lines().count(), 1);
    assert!(
        failures.contains("injected failure: block 2 is pruned"),
        "{failures}"
    );
}
