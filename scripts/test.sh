#!/usr/bin/env bash
# The whole test suite: the dependencies' features resolved alike for every package
# (scripts/check-features.py, so that one build of them serves all); formatting, lints and
# docs; the pinned Python environment (scripts/python-env.sh: pyspark, the extension module,
# cargo-nextest) and anvil; every Rust test in release mode under cargo-nextest, the long
# suites and node tests included; then ruff and pytest (the Spark job locally and on a
# standalone cluster, the extension module, the schemas, the notebooks). README.md and .ci/run
# both run this. `cargo test` alone is the quick loop: it skips the #[ignore]d long suites.
set -euo pipefail
cd "$(dirname "$0")/.."

fixtures="${REPLAY_EVM_FIXTURES:-../shared/fixtures}"
if [ ! -d "$fixtures" ]; then
    echo "error: test fixtures not found at $fixtures (set REPLAY_EVM_FIXTURES)" >&2
    exit 1
fi

echo "== feature unification (scripts/check-features.py): one build of the dependencies"
python3 scripts/check-features.py
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (unwrap, expect and panic denied outside tests)"
cargo clippy --release --workspace --all-targets --locked -- -D warnings
echo "== cargo doc (warnings denied)"
# --release: the dependencies' metadata clippy just checked in the release profile serves the
# docs too (in the dev profile every dependency would be checked again).
RUSTDOCFLAGS="-D warnings" cargo doc --release --workspace --no-deps --locked --quiet
echo "== python environment (scripts/python-env.sh): pyspark, the extension module, cargo-nextest"
bash scripts/python-env.sh
echo "== anvil (scripts/anvil.sh), the node of the archive-fetch tests"
bash scripts/anvil.sh >/dev/null
echo "== cargo nextest (release; every test, the long suites and node tests included)"
# Each test in its own process with a deadline (.config/nextest.toml): a hang is a failure.
# `cargo test` alone skips the long suites (#[ignore]); --run-ignored all runs them here.
PATH="$PWD/.venv/bin:$PATH" cargo nextest run --profile ci --release --workspace --locked \
    --run-ignored all --no-tests fail
echo "== doc tests"
cargo test --doc --release --workspace --locked --quiet

echo "== ruff check, ruff format --check (the Spark job, UDFs, notebooks, tests, bench tools)"
python_dirs=(jobs udf notebooks tests crates/bench scripts)
.venv/bin/ruff check "${python_dirs[@]}"
.venv/bin/ruff format --check "${python_dirs[@]}"
echo "== pytest"
# pytest.ini points at tests/; no -m, so every group runs (unit, spark_local, spark_cluster,
# notebook; pytest.ini says how to run one). Exit status 5 (no test collected) fails the run.
# The `replay-evm` binary the Python tests compare with is the one cargo-nextest built above for
# the CLI's own tests: `cargo build -p replay-evm-cli` would resolve the dependencies'
# features for that package alone and build much of the tree again.
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
status=0
REPLAY_EVM_BIN="$target_dir/release/replay-evm" .venv/bin/python -m pytest || status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no test" >&2
fi
exit "$status"
