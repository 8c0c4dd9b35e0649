#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every Rust test in release mode (the
# conformance suites are slow in debug builds). README.md and .ci/run both run this.
set -euo pipefail
cd "$(dirname "$0")/.."

fixtures="${REPLAY_EVM_FIXTURES:-../shared/fixtures}"
if [ ! -d "$fixtures" ]; then
    echo "error: test fixtures not found at $fixtures (set REPLAY_EVM_FIXTURES)" >&2
    exit 1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --release --workspace --all-targets --locked -- -D warnings
echo "== cargo test (release)"
cargo test --release --workspace --locked
