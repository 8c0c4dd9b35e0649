"""Reading results folders back and comparing them, as the tests do."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from udf import schemas


def read_table(results: str | Path, table: str, *, measured: bool = False) -> pa.Table:
    """Result table ``table`` of ``results`` with the schema of ``schemas/<table>.json``
    (Spark writes every column nullable and names list items ``element``; the cast restores
    the definition), sorted by partition and sort key, without the ``measured_*`` columns
    unless ``measured``."""
    path = Path(results) / table
    schema = schemas.arrow_schema(table)
    if path.is_dir():
        dataset = ds.dataset(
            path,
            format="parquet",
            partitioning=ds.partitioning(
                pa.schema([pa.field(schemas.PARTITION_COLUMN, pa.string())]),
                flavor="hive",
            ),
        )
        data = dataset.to_table().select(schema.names).cast(schema)
    else:
        data = schema.empty_table()
    keys = [schemas.PARTITION_COLUMN, *schemas.sort_key(table)]
    data = data.sort_by([(c, "ascending") for c in keys])
    if not measured:
        data = data.drop_columns(schemas.measured_columns(table))
    return data.combine_chunks()


def filter_blocks(data: pa.Table, numbers) -> pa.Table:
    """The rows of ``data`` whose ``block_number`` is in ``numbers``."""
    import pyarrow.compute as pc

    return data.filter(pc.is_in(data["block_number"], pa.array(sorted(numbers), pa.int64())))


def assert_same_datasets(expected: str | Path, actual: str | Path, *, blocks=None) -> None:
    """The four tables of ``actual`` have the rows of ``expected`` (restricted to the block
    numbers ``blocks`` when given), value for value, the measured columns aside."""
    for table in schemas.RESULT_TABLES:
        want = read_table(expected, table)
        got = read_table(actual, table)
        if blocks is not None:
            want = filter_blocks(want, blocks)
            got = filter_blocks(got, blocks)
        assert got.num_rows == want.num_rows, f"{table}: {got.num_rows} rows, want {want.num_rows}"
        if not got.equals(want):
            for name in want.column_names:
                if not got[name].equals(want[name]):
                    raise AssertionError(f"{table}.{name} differs from the expected dataset")
            raise AssertionError(f"{table} differs from the expected dataset")


def partition_files(results: str | Path, table: str) -> dict[str, list[str]]:
    """The data files of each partition directory of ``table``."""
    root = Path(results) / table
    return {
        d.name: sorted(f.name for f in d.iterdir() if f.suffix == ".parquet")
        for d in sorted(root.iterdir())
        if d.is_dir()
    }
