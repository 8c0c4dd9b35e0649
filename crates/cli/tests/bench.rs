//! `replay-evm bench` runs the `replay-evm-bench` executable (the harness, tested in
//! crates/bench/tests) found beside `replay-evm`, then on PATH: the arguments go through
//! unchanged, its exit code comes back, and without it the error says what was looked for
//! and how to build it. A stand-in script plays the harness, so this test needs no build
//! order between the two crates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(unix)]

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

mod common;
use common::{assert_no_panic, replay_evm, text};

/// A folder holding a copy of `replay-evm`, and the copy's path.
fn lone_replay_evm() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("replay-evm");
    std::fs::copy(env!("CARGO_BIN_EXE_replay-evm"), &exe).unwrap();
    (dir, exe)
}

/// Writes a stand-in `replay-evm-bench` into `dir` that prints its arguments and exits 1.
fn stand_in(dir: &Path) {
    let path = dir.join("replay-evm-bench");
    std::fs::write(&path, "#!/bin/sh\necho \"stand-in: $*\"\nexit 1\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run(exe: &Path, path_var: &str, args: &[&str]) -> Output {
    Command::new(exe)
        .args(args)
        .env("PATH", path_var)
        .output()
        .expect("run replay-evm")
}

#[test]
fn without_the_harness_the_error_names_it_and_how_to_build_it() {
    let (_dir, exe) = lone_replay_evm();
    let output = run(&exe, "", &["bench", "--workload", "raw-transfers"]);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("`replay-evm-bench`"), "{stderr}");
    assert!(
        stderr.contains("cargo build --release -p replay-evm-bench"),
        "{stderr}"
    );
}

#[test]
fn the_harness_beside_it_gets_the_arguments_and_gives_its_exit_code() {
    let (dir, exe) = lone_replay_evm();
    stand_in(dir.path());
    let output = run(
        &exe,
        "",
        &[
            "bench",
            "--workload",
            "raw-transfers",
            "--gas",
            "1M",
            "--help",
        ],
    );
    assert_no_panic(&output);
    assert_eq!(
        text(&output.stdout),
        "stand-in: --workload raw-transfers --gas 1M --help\n"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn the_harness_on_path_is_found_too() {
    let (_dir, exe) = lone_replay_evm();
    let bin = tempfile::tempdir().unwrap();
    stand_in(bin.path());
    let output = run(
        &exe,
        &bin.path().display().to_string(),
        &["bench", "--json"],
    );
    assert_eq!(text(&output.stdout), "stand-in: --json\n");
    assert_eq!(output.status.code(), Some(1));
}

/// The built `replay-evm`: where `cargo build --workspace` has put the real harness beside
/// it, `bench --help` is the harness's help; where it has not, the error says how to build it.
#[test]
fn the_built_replay_evm_runs_the_built_harness_or_says_how_to_build_it() {
    let output = replay_evm(&["bench", "--help"]);
    assert_no_panic(&output);
    let beside = Path::new(env!("CARGO_BIN_EXE_replay-evm")).with_file_name("replay-evm-bench");
    if beside.is_file() {
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert!(
            text(&output.stdout).contains("--workload"),
            "{}",
            text(&output.stdout)
        );
    } else {
        assert_eq!(output.status.code(), Some(2));
        assert!(
            text(&output.stderr).contains("cargo build --release -p replay-evm-bench"),
            "{}",
            text(&output.stderr)
        );
    }
}
