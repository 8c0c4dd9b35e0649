#!/usr/bin/env python3
"""Collapse `perf script` stacks of a `replay-evm bench` run into phases of the parallel
engine and of the sequential replay, as shares of on-CPU samples (see BENCHMARKS.md).

    perf record -F 1000 --call-graph dwarf,16384 -o bench.data -- \
        target/release/replay-evm-bench --workload mixed-defi --gas 100M --threads 2 \
        --repeat 3 --min-time 0
    perf script -i bench.data -F comm,ip,sym | python3 crates/bench/perf_phases.py

Stacks with `replay_sequential` are the baseline (the generator's own header-filling
replay lands there too); stacks under `ParallelEngine::replay` on the calling thread are the
engine's serial part (commit phase, checks, state diff) and, since the caller is one of the
workers, its share of the parallel part; the pool's threads are the rest of the parallel
part (sender recovery, Block-STM execution and validation, in-order execution, idling).
"""

import collections
import sys

samples = []  # (comm, [frames leaf->root])
comm = None
frames = []
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.strip():
        if comm is not None:
            samples.append((comm, frames))
        comm = None
        frames = []
        continue
    if not line.startswith((" ", "\t")):
        comm = line.split()[0]
        frames = []
    else:
        parts = line.strip().split(None, 1)
        frames.append(parts[1] if len(parts) > 1 else parts[0])
if comm is not None:
    samples.append((comm, frames))


def has(frames, pat):
    return any(pat in f for f in frames)


PAR_MAIN = [
    ("check_final_state", "check_final_state (post-commit write-set check)"),
    ("materialise_credits", "commit: materialise_credits"),
    ("commit_transaction", "commit: alloy-evm commit_transaction (receipts, state)"),
    ("StateChanges::from_bundle", "state changes diff"),
    ("from_bundle", "state changes diff"),
    ("merge_transitions", "merge_transitions/bundle"),
    ("apply_pre_execution_changes", "pre-block system calls"),
    ("recover_sender", "sender recovery"),
    ("BTreeSet", "written-location set"),
    ("btree", "written-location set"),
    ("execute_in_order", "in-order execution"),
    ("MvMemory::record", "execute: mv record writes"),
    ("mv_memory", "execute: mv memory reads"),
    ("vm::execute", "execute: revm + glue"),
    ("run_block_stm", "Block-STM worker, other (scheduler, validation, idling)"),
    ("drop_in_place", "drops/frees"),
    ("free", "drops/frees"),
]
WORKER = [
    ("recover_sender", "sender recovery"),
    ("execute_in_order", "in-order execution"),
    ("Worker::validate", "validation"),
    ("MvMemory::record", "execute: mv record writes"),
    ("mv_memory", "execute: mv memory reads"),
    ("VmDb", "execute: vm db glue"),
    ("vm::execute", "execute: revm + glue"),
    ("Worker::execute", "execute: other"),
    ("next_task", "scheduler"),
    ("Scheduler", "scheduler"),
    ("sched_yield", "idle: yield_now spin"),
    ("yield_now", "idle: yield_now spin"),
    ("rayon_core", "rayon idle/steal"),
]
SEQ = [
    ("recover_sender", "sender recovery"),
    ("commit_transaction", "commit"),
    ("execute_transaction", "execute"),
    ("from_bundle", "state changes diff"),
    ("merge_transitions", "merge"),
]


def classify(rules, frames, default):
    # leaf-first scan of rules in priority order
    for pat, name in rules:
        if has(frames, pat):
            return name
    return default


buckets = collections.Counter()
for comm, frames in samples:
    if has(frames, "replay_sequential"):
        buckets[("sequential", classify(SEQ, frames, "other"))] += 1
    elif (
        has(frames, "ParallelEngine::replay")
        or has(frames, "ParallelEngine$GT$6replay")
        or has(frames, "engine14ParallelEngine6replay")
    ):
        buckets[("parallel main thread", classify(PAR_MAIN, frames, "other"))] += 1
    elif comm.startswith("replay-evm-work") or has(frames, "rayon"):
        buckets[("parallel workers", classify(WORKER, frames, "other"))] += 1
    elif has(frames, "workload") or has(frames, "generate"):
        buckets[("generator", "")] += 1
    else:
        buckets[("other", comm)] += 1

total = sum(buckets.values())
by_group = collections.Counter()
for (g, _), n in buckets.items():
    by_group[g] += n
for g, gn in by_group.most_common():
    print(f"{g:<24} {gn:7d} samples {100 * gn / total:5.1f}%")
    for (gg, name), n in sorted(buckets.items(), key=lambda kv: -kv[1]):
        if gg == g:
            print(f"    {name:<58} {n:7d} {100 * n / gn:5.1f}% of group")
