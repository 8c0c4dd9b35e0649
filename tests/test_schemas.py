"""udf/schemas.py builds the same schemas from schemas/*.json as the Rust writers."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import replay_evm_native

from udf import schemas


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
