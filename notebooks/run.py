"""Runs the notebooks headless on a results folder, as CI does.

    .venv/bin/python notebooks/run.py RESULTS [--out DIR] [NOTEBOOK...]

Each notebook is executed with nbclient on a fresh kernel, after a cell setting
``results = RESULTS`` is inserted below its ``parameters`` cell (as papermill does); the
executed copies, with their plots, are written to DIR (default ``build/notebooks``). The
notebooks in the repository are stored without outputs. Exit status 1 if a notebook fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


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
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / path.name
    try:
        client.execute()
    finally:
        nbformat.write(notebook, out)
    return out


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
            print(f"FAILED  {path.name}: {str(e).strip().splitlines()[-1]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
