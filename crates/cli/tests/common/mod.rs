//! What every end-to-end test of the `replay-evm` binary needs.

use std::process::{Command, Output};

/// Runs `replay-evm` with `args` and waits for it.
pub(crate) fn replay_evm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replay-evm"))
        .args(args)
        .output()
        .expect("run replay-evm")
}

/// Output bytes as text.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails when the process panicked: errors must be reported, never panics.
pub(crate) fn assert_no_panic(output: &Output) {
    let stderr = text(&output.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}
