"""crates/bench/official_runs.py, the table of issue 14's official runs in BENCHMARKS.md."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parent.parent / "crates" / "bench" / "official_runs.py"
spec = importlib.util.spec_from_file_location("official_runs", SCRIPT)
official_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(official_runs)


def test_the_bound_on_the_machine_meets_the_bound_and_the_ceiling_at_their_ends():
    mb = official_runs.machine_bound
    assert mb(1.6, 2.0) == pytest.approx(1.6)  # a machine that scales: the bound itself
    assert mb(2.0, 1.5) == pytest.approx(1.5)  # a perfectly parallel block: the ceiling
    assert mb(1.0, 1.3) == pytest.approx(1.0)  # a chain: nothing to gain
    assert mb(3.0, 2.5) == pytest.approx(2.0)  # two workers, whatever the inputs say
    assert 1.0 < mb(1.6, 1.5) < min(1.6, 1.5)


def write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def block(exec_speedup: float, bound: float, ceiling: float | None) -> dict:
    two = {"threads": 2, "exec_speedup": exec_speedup, "bound": bound, "ceiling": ceiling}
    return {"kind": "block", "parallel": [{"threads": 1, "exec_speedup": 1.0}, two]}


def summary(*met: bool) -> dict:
    return {"kind": "summary", "targets": [{"met": m} for m in met]}


def test_a_round_row_counts_the_targets_met_and_the_geometric_means(tmp_path):
    write(tmp_path / "issue14-round40-workloads-1g.jsonl", [summary(True, False)])
    write(
        tmp_path / "issue14-round40-mainnet.jsonl",
        [block(1.5, 2.0, 1.5), block(1.0, 1.0, None), summary(True)],
    )
    # A run cut short (no summary) and an earlier round are left out.
    write(tmp_path / "issue14-round40-workloads-1g-second.jsonl", [])
    write(tmp_path / "issue14-round40-mainnet-second.jsonl", [block(1.5, 2.0, 1.5)])
    write(tmp_path / "issue14-round12-workloads-1g.jsonl", [summary(True)])
    write(tmp_path / "issue14-round12-mainnet.jsonl", [block(1.5, 2.0, 1.5), summary(True)])
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--results", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert len(out) == 3, out
    # Execution-only sqrt(1.5) against a bound of sqrt(2) (0.866) and, the first block's
    # ceiling being 1.5 (its bound on the machine 1.5), against sqrt(1.5) on the machine.
    assert out[2] == (
        "| [`round40`](crates/bench/results/issue14-round40-mainnet.txt) "
        "| 2 | 0.866 | 1.00 | 1.50x |"
    )


def test_the_committed_runs_give_the_table_in_benchmarks_md():
    out = subprocess.run(
        [sys.executable, str(SCRIPT)], check=True, capture_output=True, text=True
    ).stdout
    benchmarks = (SCRIPT.parent.parent.parent / "BENCHMARKS.md").read_text()
    assert out.strip() in benchmarks
