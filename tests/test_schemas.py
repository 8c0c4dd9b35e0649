"""udf/schemas.py reports the Rust writers' schemas (through the extension module), and
they are the schemas of the files the command-line job writes."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import replay_evm_native

from udf import schemas

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("table", schemas.RESULT_TABLES)
def test_result_schemas_equal_the_engines(table):
    assert schemas.arrow_schema(table).equals(replay_evm_native.result_arrow_schema(table))
    assert schemas.measured_columns(table) == replay_evm_native.measured_columns(table)


def test_archive_schema_equals_the_engines():
    assert schemas.arrow_schema("archive").equals(replay_evm_native.archive_arrow_schema())
    assert list(schemas.RESULT_TABLES) == replay_evm_native.RESULT_TABLES


@pytest.mark.parametrize("table", schemas.RESULT_TABLES)
def test_result_schemas_equal_the_cli_jobs_files(cli_results, table):
    files = sorted((cli_results / table).glob("block_range=*/*.parquet"))
    assert files, f"the CLI job wrote no {table} file"
    want = schemas.arrow_schema(table, partition_column=False)
    for path in files[:3]:
        assert pq.read_schema(path).remove_metadata().equals(want), path


def test_archive_schema_equals_the_archive_files(mainnet_archive):
    for path in mainnet_archive.glob("*.parquet"):
        got = pq.read_schema(path).remove_metadata()
        assert got.equals(schemas.arrow_schema("archive")), path


@pytest.mark.parametrize("table", schemas.RESULT_TABLES)
def test_spark_schemas_follow_the_definitions(table):
    from pyspark.sql import types as T

    spark = schemas.spark_schema(table)
    arrow = schemas.arrow_schema(table)
    assert spark.names == arrow.names
    for field, definition in zip(spark.fields, arrow, strict=True):
        assert field.nullable == definition.nullable, field.name
    assert isinstance(spark[schemas.PARTITION_COLUMN].dataType, T.StringType)
    for key in schemas.sort_key(table):
        assert key in spark.names


def test_block_range_names_as_the_cli_job(cli_results):
    names = {p.name for p in (cli_results / "blocks").iterdir()}
    assert f"block_range={schemas.block_range(19_932_703, 10_000)}" in names
    assert schemas.block_range(19_932_703, 10_000) == "00019930000-00019939999"
    assert schemas.block_range(5, 1) == "00000000005-00000000005"


def test_sort_keys_and_partition_columns_come_from_the_definitions():
    assert replay_evm_native.partition_column("archive") is None
    for table in schemas.RESULT_TABLES:
        assert replay_evm_native.partition_column(table) == schemas.PARTITION_COLUMN
        assert schemas.arrow_schema(table, partition_column=False).names == [
            c for c in schemas.column_names(table) if c != schemas.PARTITION_COLUMN
        ]
    for table in schemas.TABLES:
        assert schemas.sort_key(table), table
        assert set(schemas.sort_key(table)) <= set(schemas.column_names(table)), table
    with pytest.raises(ValueError, match="no table"):
        schemas.arrow_schema("nonexistent")


def test_block_range_refuses_a_zero_width():
    with pytest.raises(ValueError, match="at least 1"):
        schemas.block_range(5, 0)


def test_the_notebooks_forks_are_the_engines_in_activation_order():
    from notebooks import common

    assert common.FORKS == tuple(replay_evm_native.FORKS)
    assert common.FORKS[0] == "Frontier"
    assert (
        common.FORKS.index("Byzantium")
        < common.FORKS.index("London")
        < common.FORKS.index("Cancun")
    )
