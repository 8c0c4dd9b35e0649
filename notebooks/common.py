"""The notebooks' shared setup: reading a results folder, the forks in order, the plotting
style and small helpers. Each notebook's setup cell imports it (the notebooks run with their
own folder as the working directory):

    from common import fork_order, reader, short, style

    %matplotlib inline
    style()
    read = reader(results)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pyarrow.dataset as ds
import replay_evm_native

#: The forks the engine replays, in activation order, as the ``fork`` column names them
#: (``replay_evm::chain::Fork``, through the extension module, so the list cannot drift).
FORKS: tuple[str, ...] = tuple(replay_evm_native.FORKS)


def style() -> None:
    """The notebooks' pandas display width and matplotlib figure size and resolution."""
    pd.set_option("display.width", 120)
    plt.rcParams["figure.figsize"] = (10, 4.5)
    plt.rcParams["figure.dpi"] = 90


def read_table(results: str | Path, table: str, columns: list[str] | None = None):
    """One result table of the results folder ``results`` as pandas: every
    ``block_range=...`` partition of RESULTS/<table> (files starting with `_` or `.`, such
    as Spark's _SUCCESS, are skipped)."""
    path = Path(results) / table
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no {table} table; run the job first")
    dataset = ds.dataset(path, format="parquet", partitioning="hive")
    return dataset.to_table(columns=columns).to_pandas()


def reader(results: str | Path) -> Callable[..., pd.DataFrame]:
    """``read(table, columns=None)``: :func:`read_table` on the results folder ``results``."""

    def read(table: str, columns: list[str] | None = None) -> pd.DataFrame:
        return read_table(results, table, columns)

    return read


def fork_order(frame: pd.DataFrame) -> list[str]:
    """The forks of ``frame["fork"]`` in activation order (any name the engine does not know
    last, alphabetically)."""
    present = [f for f in FORKS if f in set(frame["fork"])]
    others = sorted(set(frame["fork"]) - set(present))
    return present + others


def short(address) -> str:
    """0x-hex of a 20-byte address, shortened."""
    h = bytes(address).hex()
    return f"0x{h[:6]}…{h[-4:]}"
