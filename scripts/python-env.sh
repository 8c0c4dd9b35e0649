#!/usr/bin/env bash
# The pinned Python environment of the Spark job, the notebooks and the Python tests, in
# .venv at the top of the repository (gitignored):
#   1. creates .venv with `python3 -m venv` (Python 3.10 or later; $PYTHON picks another);
#   2. installs requirements.lock (every package pinned) when the lock or the Python changed
#      since the last install (a stamp file in .venv keyed on their hash);
#   3. builds the engine's extension module (crates/python, `replay_evm_native`) with
#      maturin and installs it into .venv (cargo makes this a quick no-op when nothing
#      changed);
#   4. puts the repository on .venv's path (.pth file), so `udf` and `jobs` import.
# With --pack it also builds build/replay-evm-env.tar.gz, the executors' environment that
# `spark-submit.sh --master URL` ships to a cluster (see README.md: what a cluster needs).
# README.md, scripts/test.sh and spark-submit.sh use this script; it is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

pack=false
for arg in "$@"; do
    case "$arg" in
        --pack) pack=true ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "python-env.sh: unknown argument $arg" >&2
            exit 2
            ;;
    esac
done

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "python-env.sh: $python is not Python 3.10 or later (set PYTHON)" >&2
    exit 1
fi

venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
    echo "== creating .venv"
    "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"
pyversion="$("$vpy" -c 'import sys; print(sys.version)')"

hash_of() { sha256sum "$@" | sha256sum | cut -c1-16; }

stamp="$venv/.requirements.stamp"
want="$(hash_of requirements.lock)-$(echo "$pyversion" | sha256sum | cut -c1-8)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== installing requirements.lock into .venv"
    "$vpy" -m pip install --quiet --disable-pip-version-check -r requirements.lock
    echo "$want" >"$stamp"
fi

# The extension module: rebuilt (maturin runs cargo) only when a source it compiles changed.
ext_stamp="$venv/.extension.stamp"
ext_want="$(find Cargo.toml Cargo.lock crates/engine crates/workload/Cargo.toml crates/workload/build.rs crates/workload/src \
    crates/workload/contracts/out crates/dataset crates/python schemas \
    -type f -not -path '*/target/*' -print0 2>/dev/null | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
if [ "$(cat "$ext_stamp" 2>/dev/null)" != "$ext_want" ] ||
    ! "$vpy" -c 'import replay_evm_native' 2>/dev/null; then
    echo "== building the extension module (crates/python) into .venv"
    rm -f "$root"/target/wheels/replay_evm_native-*.whl
    VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" build --release --quiet \
        -m crates/python/Cargo.toml -i "$vpy" -o "$root/target/wheels" >&2
    wheel="$(ls "$root"/target/wheels/replay_evm_native-*.whl)"
    "$vpy" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$wheel"
    echo "$ext_want" >"$ext_stamp"
fi
wheel="$(ls "$root"/target/wheels/replay_evm_native-*.whl 2>/dev/null || true)"

site="$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$root" >"$site/replay_evm_repo.pth"

"$vpy" -c 'import replay_evm_native, pyspark, pyarrow; print(
    f"== .venv ready: replay_evm_native {replay_evm_native.ENGINE_VERSION}, "
    f"pyspark {pyspark.__version__}, pyarrow {pyarrow.__version__}")'

if $pack; then
    if [ -z "$wheel" ]; then
        rm -f "$ext_stamp"
        echo "python-env.sh: the extension's wheel is gone from target/wheels: run again" >&2
        exit 1
    fi
    # The executors' environment: only what a Python worker imports (pyarrow, pandas and
    # their dependencies, the extension module, the udf package), pinned by
    # requirements.lock, not the 1.3 GB of .venv with Spark's jars and Jupyter. Spark's own
    # Python code (pyspark.zip) comes from the cluster's Spark installation.
    build="$root/build"
    env_dir="$build/executor-venv"
    archive="$build/replay-evm-env.tar.gz"
    pack_want="$(hash_of requirements.lock "$wheel" udf/*.py)-$(echo "$pyversion ${REPLAY_EVM_CLUSTER_PYTHON_PREFIX:-}" | sha256sum | cut -c1-8)"
    if [ "$(cat "$build/.pack.stamp" 2>/dev/null)" != "$pack_want" ] || [ ! -f "$archive" ]; then
        echo "== packing the executors' environment into build/replay-evm-env.tar.gz"
        rm -rf "$env_dir" "$archive"
        mkdir -p "$build"
        "$vpy" -m venv --without-pip "$env_dir"
        grep -iE '^(pyarrow|pandas|numpy|python-dateutil|six|tzdata)==' requirements.lock \
            >"$build/executor-requirements.txt"
        "$vpy" -m pip --python "$env_dir/bin/python" install --quiet \
            --disable-pip-version-check --no-deps -r "$build/executor-requirements.txt" "$wheel"
        env_site="$("$env_dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
        cp -r udf "$env_site/udf"
        find "$env_site/udf" -name __pycache__ -prune -exec rm -rf {} +
        "$venv/bin/venv-pack" --quiet -p "$env_dir" -o "$archive" \
            ${REPLAY_EVM_CLUSTER_PYTHON_PREFIX:+--python-prefix "$REPLAY_EVM_CLUSTER_PYTHON_PREFIX"}
        echo "$pack_want" >"$build/.pack.stamp"
    fi
    echo "== $(du -h "$archive" | cut -f1) build/replay-evm-env.tar.gz"
fi
