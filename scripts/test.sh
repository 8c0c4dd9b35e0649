#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every Rust test in release mode (the
# conformance suites are slow in debug builds), then the Python side: the pinned environment
# (scripts/python-env.sh), ruff, and pytest (the Spark job locally and on a standalone
# cluster, the extension module, the schemas, the notebooks). README.md and .ci/run both run
# this.
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
echo "== anvil (scripts/anvil.sh), the node of the archive-fetch tests"
bash scripts/anvil.sh >/dev/null
echo "== cargo test (release)"
cargo test --release --workspace --locked

echo "== python environment (scripts/python-env.sh)"
bash scripts/python-env.sh
echo "== ruff check, ruff format --check (the Spark job, UDFs, notebooks, tests, bench tools)"
python_dirs=(jobs udf notebooks tests crates/bench)
.venv/bin/ruff check "${python_dirs[@]}"
.venv/bin/ruff format --check "${python_dirs[@]}"
echo "== pytest"
# pytest.ini points at tests/; no -m, so every group runs (unit, spark_local, spark_cluster,
# notebook; pytest.ini says how to run one). Exit status 5 (no test collected) fails the run.
status=0
.venv/bin/python -m pytest || status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no test" >&2
fi
exit "$status"
