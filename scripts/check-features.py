#!/usr/bin/env python3
"""Checks that building one package alone resolves every third-party dependency with the same
features as the test suite's build of the whole workspace, so that the two share one compiled
dependency tree (crates/workspace-hack/Cargo.toml says why; scripts/test.sh runs this).

For each package that is built alone (the extension module by maturin, the CLI by the README's
first command, the benchmark harness), compares ``cargo tree -p PACKAGE`` with
``cargo tree --workspace`` (dev-dependencies included, as ``cargo nextest run`` builds them)
and prints, for each difference, the crate and the features to add to crates/workspace-hack.
Exit status 1 when any differ, 2 when cargo fails. Only the Python standard library is used.
"""

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Built alone: maturin builds crates/python; `cargo run -p replay-evm-cli` is the README's
# first command; `cargo run -p replay-evm-bench` the benchmarks'.
ALONE = ["replay-evm-python", "replay-evm-cli", "replay-evm-bench"]


def features(args: list[str]) -> dict[str, set[frozenset[str]]]:
    """Each third-party crate (`name version`) of the tree with the feature sets it is built
    with (one for its normal use, one more where proc macros or build scripts use it)."""
    cmd = ["cargo", "tree", "--locked", "--prefix", "none", "-f", "{p}|{f}", *args]
    result = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"error: `{' '.join(cmd)}` failed:\n{result.stderr}", file=sys.stderr)
        sys.exit(2)
    found: dict[str, set[frozenset[str]]] = defaultdict(set)
    for line in result.stdout.splitlines():
        package, _, feats = line.partition("|")
        parts = package.split()
        # Workspace members (`name vX (/path)`) differ by design: the engine's test-support
        # feature is a dev-dependency of the tests only.
        if len(parts) < 2 or any(p.startswith("(/") for p in parts[2:]):
            continue
        key = f"{parts[0]} {parts[1]}"
        found[key].add(frozenset(f for f in feats.replace("(*)", "").strip().split(",") if f))
    return found


def main() -> int:
    workspace = features(["--workspace", "-e", "normal,build,dev"])
    drift = 0
    for package in ALONE:
        alone = features(["-p", package, "-e", "normal,build"])
        for crate, sets in sorted(alone.items()):
            if crate not in workspace or sets == workspace[crate]:
                continue
            wanted = set().union(*workspace[crate]) - set().union(*sets)
            print(
                f"{package}: {crate} is built with {sorted(map(sorted, sets))} alone and "
                f"{sorted(map(sorted, workspace[crate]))} in the workspace"
                + (f": add features {sorted(wanted)} in crates/workspace-hack" if wanted else "")
            )
            drift += 1
    if drift:
        print(
            f"error: {drift} dependencies resolve differently when a package is built alone; "
            "each difference compiles the dependency and everything above it twice",
            file=sys.stderr,
        )
        return 1
    print(f"features: {', '.join(ALONE)} share the workspace's {len(workspace)} dependencies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
