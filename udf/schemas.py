"""The tables of ``schemas/*.json`` as pyarrow and Spark schemas, and the ``block_range`` rule.

The JSON files are the one definition of every table (see ``schemas/README.md``). The Rust
code reads them (``replay_evm_dataset::schema``) and the engine's extension module
``replay_evm_native`` reports what it built: the Arrow schemas, sort keys, partition columns
and measured columns. This module takes all of them from there, and derives the Spark
``StructType`` from the Arrow schema with pyspark's own converter
(``pyspark.sql.pandas.types.from_arrow_schema``: a list whose items are never null becomes an
``ArrayType`` with ``containsNull=False``, a struct a ``StructType`` with each field's
nullability), so no table is mapped to types twice. The partition value of a block
(:func:`block_range`) is the Rust rule too (``replay_evm_dataset::BlockRange``).

``tests/test_schemas.py`` checks that the result is equal, field for field, to the Parquet
files the command-line job writes.
"""

from __future__ import annotations

import functools

import pyarrow as pa
import replay_evm_native as native

#: The four result tables, in output order.
RESULT_TABLES: tuple[str, ...] = tuple(native.RESULT_TABLES)

#: Every table: the archive, then the result tables.
TABLES: tuple[str, ...] = tuple(native.TABLES)

#: The hive partition column of every result table.
PARTITION_COLUMN: str = native.partition_column(RESULT_TABLES[0])


def _check(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"no table {table!r} (tables: {', '.join(TABLES)})")


@functools.cache
def arrow_schema(table: str, *, partition_column: bool = True) -> pa.Schema:
    """The Arrow schema of ``table``: with its partition column (as ``replay_batch`` returns
    it and as readers see the dataset) or, with ``partition_column=False``, as the Parquet
    files store it."""
    _check(table)
    return native.arrow_schema(table, partition_column)


def spark_schema(table: str):
    """The Spark ``StructType`` of ``table``, partition column included."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema(table))


def column_names(table: str) -> list[str]:
    """The columns of ``table``, in order."""
    return list(arrow_schema(table).names)


def sort_key(table: str) -> list[str]:
    """The columns the rows of ``table`` are sorted by."""
    _check(table)
    return list(native.sort_key(table))


def measured_columns(table: str) -> list[str]:
    """The ``measured_*`` columns of ``table`` (``"deterministic": false``): wall-clock times
    and Block-STM counters, the only columns that may differ between two runs."""
    _check(table)
    return list(native.measured_columns(table))


def block_range(number: int, partition_blocks: int) -> str:
    """The ``block_range`` partition value of block ``number``."""
    return native.block_range(number, partition_blocks)
