#!/usr/bin/env python3
"""Fit the adaptive engine's cost model (`crates/engine/src/parallel/cost_model.rs`) to one
`replay-evm bench --mode block-stm --threads 1,2` run's JSON lines.

    python3 crates/bench/fit_cost_model.py results.jsonl [more.jsonl ...]

Per block, with the sequential replay end to end (`R + E`) and execution-only (`E`), and
Block-STM execution-only at 1 thread (`k E`) and at 2 threads (`(k - c) E / 2 + c E`):

- recovery, µs per transaction: (R + E - E) / txs;
- sequential execution, µs per million gas: E / Mgas;
- `block_stm_work` k: Block-STM at 1 thread over E;
- `block_stm_serial` c: 2 x (Block-STM at 2 threads) / E - k.

Prints the medians over the blocks (blocks of at least 100 transactions, where the fixed
costs of a replay do not dominate), and each source's own.
"""

import json
import statistics
import sys


def fits(lines):
    for line in lines:
        block = json.loads(line)
        if block.get("kind") != "block" or not block.get("verified"):
            continue
        seq = block["sequential"]
        runs = {run["threads"]: run for run in block["parallel"]}
        if 1 not in runs or 2 not in runs or "exec_wall_us" not in seq:
            continue
        e = seq["exec_wall_us"]
        txs, gas = block["txs"], block["gas_used"]
        if txs < 100 or e <= 0 or gas <= 0:
            continue
        k = runs[1]["exec_wall_us"] / e
        yield {
            "source": block["source"],
            "recovery_us_per_tx": (seq["wall_us"] - e) / txs,
            "execution_us_per_mgas": e / (gas / 1e6),
            "block_stm_work": k,
            "block_stm_serial": 2 * runs[2]["exec_wall_us"] / e - k,
        }


def main():
    rows = []
    for path in sys.argv[1:]:
        with open(path) as f:
            rows.extend(fits(f))
    if not rows:
        sys.exit("no block with 1- and 2-thread execution-only runs of >= 100 transactions")
    keys = [k for k in rows[0] if k != "source"]
    groups = {"all": rows}
    for source in sorted({r["source"] for r in rows}):
        groups[source] = [r for r in rows if r["source"] == source]
    for name, group in groups.items():
        medians = ", ".join(f"{k} {statistics.median(r[k] for r in group):.2f}" for k in keys)
        print(f"{name} ({len(group)} blocks): {medians}")


if __name__ == "__main__":
    main()
