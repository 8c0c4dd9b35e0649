#!/usr/bin/env bash
# Issue 14's benchmark on a machine with more cores: Block-STM at 1, 2, 4, 8 and 16 threads
# against the sequential oracle, on every generated workload and the 47 mainnet fixtures.
#
# Two steps, because that machine (the tool library's `device`) gets a copy of the working
# tree and nothing else, at most 64 MiB of it, and must not build Rust in its few minutes:
#
#   bash scripts/device-bench.sh prepare
#       here: builds `replay-evm-bench` (release), strips it into target/device/ and packs
#       the mainnet fixtures ($REPLAY_EVM_FIXTURES, ../shared/fixtures by default) into
#       target/device/mainnet.tar.gz beside it (about 22 MB together; target/ is ignored,
#       nothing of it is committed). Prints the call to make.
#   bash scripts/device-bench.sh run
#       there, with target/device carried: unpacks the fixtures under /tmp, prints the
#       machine, and runs the two benches into $OUT (tables, JSON lines, the workloads'
#       plot), each under its own time limit so that a slow machine still returns what it
#       measured.
#
# Settings of `run` (environment): DEVICE_BENCH_THREADS (1,2,4,8,16), DEVICE_BENCH_GAS
# (200M: 1 Ggas takes most of a 10-minute call at five thread counts),
# DEVICE_BENCH_WORKLOADS_S and DEVICE_BENCH_MAINNET_S (270 and 240 seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

dir="target/device"
threads="${DEVICE_BENCH_THREADS:-1,2,4,8,16}"
gas="${DEVICE_BENCH_GAS:-200M}"

case "${1:-}" in
prepare)
    fixtures="${REPLAY_EVM_FIXTURES:-../shared/fixtures}"
    if [ ! -d "$fixtures/mainnet" ]; then
        echo "error: no mainnet fixtures at $fixtures/mainnet (set REPLAY_EVM_FIXTURES)" >&2
        exit 1
    fi
    cargo build --release --locked -p replay-evm-bench
    mkdir -p "$dir"
    strip -o "$dir/replay-evm-bench.tmp" target/release/replay-evm-bench
    mv "$dir/replay-evm-bench.tmp" "$dir/replay-evm-bench"
    tar czf "$dir/mainnet.tar.gz.tmp" -C "$fixtures" mainnet
    mv "$dir/mainnet.tar.gz.tmp" "$dir/mainnet.tar.gz"
    du -sh "$dir"/*
    echo "device run: carry [\"$dir\"], command \"bash scripts/device-bench.sh run\", timeout_s 600"
    ;;
run)
    out="${OUT:?OUT must name the folder the results go to}"
    bench="$dir/replay-evm-bench"
    if [ ! -x "$bench" ] || [ ! -f "$dir/mainnet.tar.gz" ]; then
        echo "error: $dir lacks replay-evm-bench or mainnet.tar.gz: run \`$0 prepare\` here and carry $dir" >&2
        exit 1
    fi
    fixtures="$(mktemp -d)"
    tar xzf "$dir/mainnet.tar.gz" -C "$fixtures"
    {
        date -u
        nproc
        lscpu | grep -E 'Model name|^CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|NUMA node\(s\)|L3' || true
        uptime
    } | tee "$out/machine.txt"
    status=0
    timeout "${DEVICE_BENCH_WORKLOADS_S:-270}" "$bench" --workload all --gas "$gas" \
        --threads "$threads" --mode block-stm \
        --json-file "$out/workloads.jsonl" --plot "$out/workloads.svg" \
        >"$out/workloads.txt" 2>"$out/workloads.err" || status=$?
    echo "workloads: exit $status"
    timeout "${DEVICE_BENCH_MAINNET_S:-240}" "$bench" --fixtures "$fixtures" \
        --threads "$threads" --mode block-stm \
        --json-file "$out/mainnet.jsonl" \
        >"$out/mainnet.txt" 2>"$out/mainnet.err" || status=$?
    echo "mainnet: exit $status"
    rm -rf "$fixtures"
    # The summaries, so that the call's output already holds them.
    sed -s -n '/^median speedup/,$p' "$out/workloads.txt" "$out/mainnet.txt"
    exit "$status"
    ;;
*)
    echo "usage: $0 prepare|run (see the comment at the top)" >&2
    exit 2
    ;;
esac
