"""The notebooks' shared setup: reading a results folder, the forks in order, the plotting
style and small helpers: names for well-known mainnet addresses (``data/mainnet_labels.csv``),
addresses and storage slots as text, fork marks on a time axis, and the job's summary figures
(:func:`summary`, defined once in Rust). Each notebook's setup cell imports it (the notebooks
run with their own folder as the working directory):

    from common import label, reader, style, summary

    %matplotlib inline
    style()
    read = reader(results)
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import pyarrow.dataset as ds
import replay_evm_native

HERE = Path(__file__).resolve().parent

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


#: Well-known mainnet addresses and the public page naming each (data/README.md).
LABELS_CSV = HERE / "data" / "mainnet_labels.csv"


def hex_address(address) -> str:
    """An address (20 bytes as read from Parquet, or 0x-hex text in any case) as lowercase
    0x-hex, all 40 digits."""
    if isinstance(address, str):
        text = address.lower().removeprefix("0x")
        bytes.fromhex(text)  # a ValueError for anything that is not hex
    else:
        text = bytes(address).hex()
    if len(text) != 40:
        raise ValueError(f"not a 20-byte address: 0x{text}")
    return "0x" + text


@cache
def labels() -> dict[str, str]:
    """``{0x-hex address: label}`` from :data:`LABELS_CSV`."""
    with LABELS_CSV.open(newline="") as f:
        return {row["address"]: row["label"] for row in csv.DictReader(f)}


def short(address) -> str:
    """An address shortened for a plot, without its label: ``0xc02aaa39…6cc2``."""
    h = hex_address(address)
    return f"{h[:10]}…{h[-4:]}"


def label(address) -> str:
    """An address for a plot: its label and the shortened address, ``WETH (0xc02aaa39…6cc2)``,
    or the shortened address alone when it is not in :data:`LABELS_CSV`. ``None`` (a
    contract creation's recipient) is ``contract creation``."""
    if address is None:
        return "contract creation"
    name = labels().get(hex_address(address))
    return f"{name} ({short(address)})" if name else short(address)


def full(address) -> str:
    """An address for a table: 0x-hex, all 40 digits (``None``: empty)."""
    return "" if address is None else hex_address(address)


def slot_hex(slot, digits: int = 16) -> str:
    """A storage slot (32 bytes) as 0x-hex without leading zeros (``0x5``); a slot longer
    than ``digits`` hex digits, such as a mapping entry's hash, is cut in the middle with an
    ellipsis (``0x2e1a6f07…83c4d21e``)."""
    if slot is None:
        return ""
    h = bytes(slot).hex().lstrip("0") or "0"
    if len(h) > digits:
        h = f"{h[: digits // 2]}…{h[-(digits // 2) :]}"
    return "0x" + h


#: Each summary figure's definition, weighting included (``replay_evm_dataset::summary``).
SUMMARY_FIGURES: dict[str, str] = dict(replay_evm_native.SUMMARY_FIGURES)


def summary(results: str | Path, by: str = "fork") -> pd.DataFrame:
    """The summary ``replay-evm job`` prints, from its one definition
    (``replay_evm_native.summarise``): one row per fork in activation order (``by="year"``:
    per calendar year), then ``all``, indexed by ``label``. Conflict rates are Σ conflicting
    transactions / Σ transactions, theoretical speedups Σ gas / Σ (gas / speedup), measured
    ones Σ sequential time / Σ Block-STM time (:data:`SUMMARY_FIGURES`)."""
    path = Path(results) / "blocks"
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no blocks table; run the job first")
    table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
    return replay_evm_native.summarise(table, by=by).to_pandas().set_index("label")


def count_labels(names: Iterable, counts: Iterable, unit: str = "blocks") -> list[str]:
    """Tick labels carrying the number behind each point: ``Frontier\n3 blocks``."""
    return [
        f"{name}\n{n:,} {unit if n != 1 else unit.rstrip('s')}" for name, n in zip(names, counts)
    ]


def mark_forks(ax, starts: pd.Series, fontsize: float = 7.5) -> int:
    """Marks each fork's first block on a time axis: a dotted vertical line at
    ``starts[fork]`` (a date) and the fork's name above the axes, in as many staggered rows as
    it takes for no two names to overlap. Set the x limits first. Returns the number of rows
    (for the title's padding)."""
    fig = ax.figure
    to_px = ax.transData.transform
    px_per_pt = fig.dpi / 72
    rows: list[float] = []  # the right edge, in pixels, of the last name in each row
    placed = []
    for fork, start in starts.sort_values().items():
        x = to_px((mdates.date2num(pd.Timestamp(start).to_pydatetime()), 0))[0]
        half = len(str(fork)) * fontsize * 0.62 * px_per_pt / 2 + 3
        row = next((i for i, right in enumerate(rows) if x - half > right), len(rows))
        if row == len(rows):
            rows.append(0.0)
        rows[row] = x + half
        placed.append((fork, start, row))
    step = fontsize * 1.6 * px_per_pt / ax.bbox.height  # one row, in axes fractions
    transform = ax.get_xaxis_transform()
    for fork, start, row in placed:
        ax.axvline(start, color="grey", lw=0.6, ls=":", zorder=0)
        top = 1.0 + step * (row + 0.3)
        ax.plot(
            [start, start],
            [1.0, top],
            color="grey",
            lw=0.6,
            ls=":",
            transform=transform,
            clip_on=False,
        )
        ax.text(
            start,
            top,
            fork,
            fontsize=fontsize,
            ha="center",
            va="bottom",
            transform=transform,
            clip_on=False,
        )
    return len(rows)
