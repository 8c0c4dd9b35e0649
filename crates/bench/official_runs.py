"""Issue 14's official runs, one row per round: targets met and the mainnet bound ratios.

Reads the summaries (the last JSON line) of `issue14-<round>-workloads-1g[-second].jsonl`
and `issue14-<round>-mainnet[-second].jsonl` in crates/bench/results/, and recomputes from
each mainnet run's blocks the geometric means of execution-only, the bound and the bound on
the machine (`ceiling::bound_at_ceiling`, from each block's median ceiling) at two threads.
Prints the Markdown table of BENCHMARKS.md's "Every official run since the twenty-eighth
round".

    python3 crates/bench/official_runs.py [--since 28] [--results DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine_bound(bound: float, ceiling: float) -> float:
    """The two-worker list schedule slowed to the ceiling's pace (as `bound_at_ceiling`)."""
    b = min(max(bound, 1.0), 2.0)
    c = min(ceiling, 2.0)
    return 1.0 / ((2.0 / c) * (1.0 - 1.0 / b) + 2.0 / b - 1.0)


def lines(path: Path) -> list[dict]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def summary(path: Path) -> dict | None:
    rows = lines(path)
    return rows[-1] if rows and rows[-1].get("kind") == "summary" else None


def mainnet_ratios(path: Path) -> tuple[float, float, float] | None:
    """Execution-only over the bound, over the bound on the machine, the median ceiling."""
    logs_exec, logs_bound, logs_machine, ceilings = [], [], [], []
    for row in lines(path):
        if row.get("kind") != "block":
            continue
        two = [p for p in row["parallel"] if p["threads"] == 2]
        if not two or "exec_speedup" not in two[0] or "bound" not in two[0]:
            return None
        run = two[0]
        ceiling = run.get("ceiling")
        if ceiling is None and run["bound"] > 1.0:
            return None
        logs_exec.append(math.log(run["exec_speedup"]))
        logs_bound.append(math.log(run["bound"]))
        # A block without a second worker's gain (bound 1) has no ceiling, and needs none.
        at_machine = machine_bound(run["bound"], ceiling) if ceiling is not None else 1.0
        logs_machine.append(math.log(at_machine))
        if ceiling is not None:
            ceilings.append(ceiling)
    if not logs_exec:
        return None
    mean = statistics.fmean
    return (
        math.exp(mean(logs_exec) - mean(logs_bound)),
        math.exp(mean(logs_exec) - mean(logs_machine)),
        statistics.median(ceilings),
    )


def round_key(name: str) -> tuple[int, str]:
    match = re.fullmatch(r"round(\d+)(.*)", name)
    return (int(match.group(1)), match.group(2)) if match else (0, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since", type=int, default=28, help="first round (28)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    rounds = sorted(
        {
            m.group(1)
            for p in args.results.glob("issue14-round*-mainnet*.jsonl")
            if (m := re.fullmatch(r"issue14-(round\d+[a-z]?)-mainnet(-second)?\.jsonl", p.name))
        },
        key=round_key,
    )
    print(
        "| runs | bench targets met (of 11) | mainnet execution-only over the bound "
        "| over the bound on the machine | median ceiling round (mainnet) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name in rounds:
        if round_key(name)[0] < args.since:
            continue
        met, over_bound, over_machine, ceiling = [], [], [], []
        for second in ("", "-second"):
            work = args.results / f"issue14-{name}-workloads-1g{second}.jsonl"
            main_path = args.results / f"issue14-{name}-mainnet{second}.jsonl"
            if not work.exists() or not main_path.exists():
                continue
            sums = [summary(work), summary(main_path)]
            ratios = mainnet_ratios(main_path)
            if None in sums or ratios is None:
                continue
            targets = sums[0]["targets"] + sums[1]["targets"]
            met.append(str(sum(t["met"] for t in targets)))
            over_bound.append(f"{ratios[0]:.3f}")
            over_machine.append(f"{ratios[1]:.2f}")
            ceiling.append(f"{ratios[2]:.2f}x")
        if not met:
            continue
        link = f"crates/bench/results/issue14-{name}-mainnet.txt"
        print(
            f"| [`{name}`]({link}) | {', '.join(met)} | {', '.join(over_bound)} "
            f"| {', '.join(over_machine)} | {', '.join(ceiling)} |"
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the table piped into `head`
        sys.stderr.close()
        sys.exit(0)
