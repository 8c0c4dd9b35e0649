"""Shared fixtures of the Python tests: the CLI binary, the mainnet archive and the CLI
job's results on it, the Spark job's results through ``./spark-submit.sh``, and one
in-process SparkSession (a process holds one SparkContext)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: Spark settings of every test session and submission: no UIs, no progress bars.
QUIET_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "WARN",
}


#: The test groups of pytest.ini's ``markers``: every test carries exactly one.
GROUPS = ("unit", "spark_local", "spark_cluster", "notebook")


def pytest_collection_modifyitems(config, items):
    """Fails the run when a test is in no group, or in two, so ``-m GROUP`` selections
    together always cover the whole suite."""
    wrong = [
        f"{item.nodeid}: {groups or 'no group'}"
        for item in items
        if len(groups := [g for g in GROUPS if item.get_closest_marker(g)]) != 1
    ]
    if wrong:
        raise pytest.UsageError(
            f"every test needs exactly one of the markers {', '.join(GROUPS)} "
            "(pytest.ini):\n" + "\n".join(wrong)
        )


def fixtures_dir() -> Path:
    path = Path(os.environ.get("REPLAY_EVM_FIXTURES", REPO.parent / "shared" / "fixtures"))
    if not (path / "mainnet").is_dir():
        pytest.fail(f"test fixtures not found at {path} (set REPLAY_EVM_FIXTURES)")
    return path


def mainnet_block_dirs() -> list[Path]:
    root = fixtures_dir() / "mainnet"
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: int(p.name))


def run(cmd: list[str], *, ok=(0,), env=None, timeout=900) -> subprocess.CompletedProcess:
    """Runs ``cmd``, failing the test with its output unless its status is in ``ok``."""
    result = subprocess.run(
        [str(c) for c in cmd],
        check=False,  # the status is checked below, and the output shown
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if result.returncode not in ok:
        pytest.fail(
            f"{' '.join(map(str, cmd))} exited {result.returncode}\n--- stdout\n"
            f"{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def spark_submit(*args, ok=(0,)) -> subprocess.CompletedProcess:
    """``./spark-submit.sh ARGS`` with the tests' quiet Spark settings."""
    conf = " ".join(f"--conf {k}={v}" for k, v in QUIET_CONF.items())
    return run(
        [REPO / "spark-submit.sh", *args],
        ok=ok,
        env={"SPARK_SUBMIT_ARGS": f"{os.environ.get('SPARK_SUBMIT_ARGS', '')} {conf}"},
    )


@pytest.fixture(scope="session")
def cli() -> Path:
    """The ``replay-evm`` binary, built from the same sources as the extension module.
    $REPLAY_EVM_BIN names one already built (scripts/test.sh passes the one cargo-nextest
    built for the CLI's tests); without it, ``cargo build --release -p replay-evm-cli``."""
    if "REPLAY_EVM_BIN" in os.environ:
        path = Path(os.environ["REPLAY_EVM_BIN"])
        if not path.is_file():
            pytest.fail(f"REPLAY_EVM_BIN={path}: no such file (build it, or unset it)")
        return path
    run(["cargo", "build", "--release", "--locked", "-p", "replay-evm-cli"], timeout=3600)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return (target if target.is_absolute() else REPO / target) / "release" / "replay-evm"


@pytest.fixture(scope="session")
def mainnet_archive(tmp_path_factory, cli) -> Path:
    """The archive of the 47 shared mainnet blocks."""
    out = tmp_path_factory.mktemp("archive") / "mainnet"
    run([cli, "archive", "import", *mainnet_block_dirs(), "--out", out])
    return out


@pytest.fixture(scope="session")
def cli_results(tmp_path_factory, cli, mainnet_archive) -> Path:
    """The CLI job's results on the mainnet archive (threads 1,2)."""
    out = tmp_path_factory.mktemp("cli") / "results"
    run(
        [
            cli,
            "job",
            "--archive",
            mainnet_archive,
            "--out",
            out,
            "--threads",
            "1,2",
            "-q",
        ]
    )
    return out


@pytest.fixture(scope="session")
def spark_local_results(tmp_path_factory, mainnet_archive) -> tuple[Path, str]:
    """``./spark-submit.sh`` (local mode, every core) on the mainnet archive: (results, its
    standard output)."""
    out = tmp_path_factory.mktemp("spark-local") / "results"
    result = spark_submit("--archive", mainnet_archive, "--out", out, "--threads", "1,2")
    return out, result.stdout


@pytest.fixture(scope="session")
def spark():
    """One in-process SparkSession, local[2] with two attempts per task (``local[N,F]``:
    local mode retries a failed task only with F > 1)."""
    from jobs.replay_job import session

    spark = session("replay-evm-tests", master="local[2,2]", conf=QUIET_CONF)
    yield spark
    spark.stop()
