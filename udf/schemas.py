"""The tables of ``schemas/*.json`` as pyarrow and Spark schemas.

The JSON files are the one definition of every table (see ``schemas/README.md``); the Rust
writers build their Arrow schemas from them (``replay_evm_dataset::schema``) and this module
builds the Spark job's from the same files, with the same rules:

* ``bool``, ``int32``, ``int64``, ``float64``, ``utf8``, ``binary`` map to the Arrow and
  Spark types of the same meaning;
* ``{"list": T}`` is a list whose items are named ``item`` and are never null;
* ``{"struct": [...]}`` is a struct of the listed columns, each with its own nullability.

``tests/test_schemas.py`` checks that the result is equal, field for field, to the schemas
the extension module reports and to the Parquet files the command-line job writes.

The JSON is read from ``$REPLAY_EVM_SCHEMAS``, else from ``schemas/`` beside this package
(the repository), else from the copy packed inside the package (``udf/schemas_json/``).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa

#: The four result tables, in output order.
RESULT_TABLES = ("blocks", "transactions", "conflicts", "hotspots")

#: Every table: the archive, then the result tables.
TABLES = ("archive", *RESULT_TABLES)

#: The hive partition column of every result table.
PARTITION_COLUMN = "block_range"

_PRIMITIVES = {
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "utf8": pa.string(),
    "binary": pa.binary(),
}


def schemas_dir() -> Path:
    """The folder holding the table definitions."""
    env = os.environ.get("REPLAY_EVM_SCHEMAS")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    candidates += [here.parent / "schemas", here / "schemas_json"]
    for candidate in candidates:
        if (candidate / "blocks.json").is_file():
            return candidate
    raise FileNotFoundError(
        "the table definitions (schemas/*.json) are not in "
        + ", ".join(str(c) for c in candidates)
        + " (set REPLAY_EVM_SCHEMAS)"
    )


@functools.cache
def definition(table: str) -> dict[str, Any]:
    """The JSON definition of ``table``."""
    if table not in TABLES:
        raise ValueError(f"no table {table!r} (tables: {', '.join(TABLES)})")
    with open(schemas_dir() / f"{table}.json", encoding="utf-8") as f:
        loaded = json.load(f)
    if loaded["table"] != table:
        raise ValueError(f"schemas/{table}.json defines table {loaded['table']!r}")
    return loaded


def _arrow_type(ty: Any) -> pa.DataType:
    if isinstance(ty, str):
        try:
            return _PRIMITIVES[ty]
        except KeyError:
            raise ValueError(f"unknown column type {ty!r}") from None
    if "list" in ty:
        return pa.list_(pa.field("item", _arrow_type(ty["list"]), nullable=False))
    if "struct" in ty:
        return pa.struct([_arrow_field(c) for c in ty["struct"]])
    raise ValueError(f"unknown column type {ty!r}")


def _arrow_field(column: dict[str, Any]) -> pa.Field:
    return pa.field(column["name"], _arrow_type(column["type"]), nullable=column["nullable"])


def arrow_schema(table: str, *, partition_column: bool = True) -> pa.Schema:
    """The Arrow schema of ``table``: with its partition column (as ``replay_batch`` returns
    it and as readers see the dataset) or, with ``partition_column=False``, as the Parquet
    files store it."""
    d = definition(table)
    columns = d["columns"]
    if not partition_column:
        columns = [c for c in columns if c["name"] != d["partition_column"]]
    return pa.schema([_arrow_field(c) for c in columns])


def spark_schema(table: str):
    """The Spark ``StructType`` of ``table``, partition column included."""
    from pyspark.sql import types as T

    primitives = {
        "bool": T.BooleanType(),
        "int32": T.IntegerType(),
        "int64": T.LongType(),
        "float64": T.DoubleType(),
        "utf8": T.StringType(),
        "binary": T.BinaryType(),
    }

    def spark_type(ty: Any):
        if isinstance(ty, str):
            return primitives[ty]
        if "list" in ty:
            return T.ArrayType(spark_type(ty["list"]), containsNull=False)
        return T.StructType([spark_field(c) for c in ty["struct"]])

    def spark_field(column: dict[str, Any]):
        return T.StructField(column["name"], spark_type(column["type"]), column["nullable"])

    return T.StructType([spark_field(c) for c in definition(table)["columns"]])


def column_names(table: str) -> list[str]:
    """The columns of ``table``, in order."""
    return [c["name"] for c in definition(table)["columns"]]


def sort_key(table: str) -> list[str]:
    """The columns the rows of ``table`` are sorted by."""
    return list(definition(table)["sort_key"])


def measured_columns(table: str) -> list[str]:
    """The ``measured_*`` columns of ``table`` (``"deterministic": false``): wall-clock times
    and Block-STM counters, the only columns that may differ between two runs."""
    return [c["name"] for c in definition(table)["columns"] if not c.get("deterministic", True)]


def block_range(number: int, partition_blocks: int) -> str:
    """The ``block_range`` partition value of block ``number``."""
    start = number - number % partition_blocks
    return f"{start:011d}-{start + partition_blocks - 1:011d}"
