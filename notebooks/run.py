"""Runs the notebooks headless on a results folder, as CI does.

    .venv/bin/python notebooks/run.py RESULTS [--out DIR] [NOTEBOOK...]

Each notebook is executed with nbclient on a fresh kernel, after a cell setting
``results = RESULTS`` is inserted below its ``parameters`` cell (as papermill does); the
executed copies, with their plots, are written to DIR (default ``build/notebooks``). The
notebooks in the repository are stored without outputs. Exit status 1 if a notebook fails,
with one line per failed notebook: the error of the cell that failed (its exception and
message, without the traceback's colour codes).

The kernel runs over IPC sockets rather than TCP on localhost (no "running over TCP without
encryption" warning), with the debugger's frozen-modules check off
(``PYDEVD_DISABLE_FILE_VALIDATION``): its warnings said nothing about the notebooks.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

#: ANSI escape sequences (colours, cursor moves), as IPython's tracebacks carry them.
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

#: What the kernel's environment adds to this process's.
KERNEL_ENV = {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def notebooks() -> list[Path]:
    """The notebooks, in reading order."""
    return sorted(HERE.glob("[0-9][0-9]_*.ipynb"))


def inject_parameters(notebook: nbformat.NotebookNode, results: str) -> None:
    """Inserts ``results = ...`` after the cell tagged ``parameters``."""
    for i, cell in enumerate(notebook.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            injected = nbformat.v4.new_code_cell(f"results = {results!r}")
            injected.metadata["tags"] = ["injected-parameters"]
            notebook.cells.insert(i + 1, injected)
            return
    raise ValueError("the notebook has no cell tagged `parameters`")


def execute(path: Path, results: str | Path, out_dir: Path, timeout: int = 600) -> Path:
    """Executes notebook ``path`` on ``results``; returns the executed copy's path. Raises
    ``nbclient.exceptions.CellExecutionError`` when a cell fails."""
    notebook = nbformat.read(path, as_version=4)
    inject_parameters(notebook, str(Path(results).resolve()))
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / path.name
    # IPC sockets live in a folder of their own, gone with the kernel.
    with tempfile.TemporaryDirectory(prefix="replay-evm-kernel-") as sockets:
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.km = client.create_kernel_manager()
        client.km.transport = "ipc"
        client.km.ip = str(Path(sockets) / "kernel")
        try:
            client.execute(env={**os.environ, **KERNEL_ENV})
        finally:
            nbformat.write(notebook, out)
    return out


def failure(error: BaseException) -> str:
    """One line saying why a notebook failed: the failing cell's exception and message (a
    ``CellExecutionError`` carries them), else the error's last line; no ANSI escapes."""
    ename, evalue = getattr(error, "ename", None), getattr(error, "evalue", None)
    if ename:
        text = f"{ename}: {evalue}" if evalue else ename
    else:
        lines = str(error).strip().splitlines()
        text = lines[-1] if lines else type(error).__name__
    return " ".join(ANSI.sub("", text).split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="the results folder of a job")
    parser.add_argument("--out", type=Path, default=HERE.parent / "build" / "notebooks")
    parser.add_argument("notebook", nargs="*", type=Path, help="default: all of them")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.notebook or notebooks():
        try:
            out = execute(path, args.results, args.out)
            print(f"ok      {path.name} -> {out}")
        except Exception as e:  # noqa: BLE001 - report every notebook, then fail
            failed += 1
            print(f"FAILED  {path.name}: {failure(e)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
