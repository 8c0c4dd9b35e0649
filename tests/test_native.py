"""The extension module: Arrow batches of archive rows in, the four tables out, equal to
the CLI job's rows for the same blocks."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import replay_evm_native

from tests.datasets import filter_blocks, read_table
from udf import schemas
from udf.replay import decode_table, pack

pytestmark = pytest.mark.unit

#: Blocks of three forks, Byzantium to Cancun.
NUMBERS = [5891667, 12244000, 19932703]


@pytest.fixture(scope="module")
def archive_batch(mainnet_archive) -> pa.RecordBatch:
    table = pq.read_table(mainnet_archive)
    table = table.filter(pc.is_in(table["number"], pa.array(NUMBERS, pa.int64())))
    return table.combine_chunks().to_batches()[0]


def spark_shaped(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` as Spark hands it to mapInArrow: every field nullable, list items named
    ``element``, large strings and binaries."""

    def relax(ty: pa.DataType) -> pa.DataType:
        if pa.types.is_list(ty):
            return pa.list_(pa.field("element", relax(ty.value_type), nullable=True))
        if pa.types.is_struct(ty):
            return pa.struct([pa.field(f.name, relax(f.type), nullable=True) for f in ty])
        if pa.types.is_binary(ty):
            return pa.large_binary()
        if pa.types.is_string(ty):
            return pa.large_string()
        return ty

    schema = pa.schema([pa.field(f.name, relax(f.type), nullable=True) for f in batch.schema])
    return batch.cast(schema)


def test_replay_batch_gives_the_cli_jobs_rows(archive_batch, cli_results):
    results = replay_evm_native.replay_batch(archive_batch, [1, 2], 10_000)
    assert list(results) == list(schemas.RESULT_TABLES)
    for table, batch in results.items():
        assert isinstance(batch, pa.RecordBatch)
        assert batch.schema.equals(schemas.arrow_schema(table)), table
        got = pa.Table.from_batches([batch]).drop_columns(schemas.measured_columns(table))
        want = filter_blocks(read_table(cli_results, table), NUMBERS)
        assert got.num_rows == want.num_rows > 0, table
        assert got.equals(want), table
    blocks = results["blocks"]
    assert blocks["verified"].to_pylist() == [True] * len(NUMBERS)
    runs = blocks["measured_runs"].to_pylist()
    assert [[r["threads"] for r in block] for block in runs] == [[1, 2]] * len(NUMBERS)


def test_replay_batch_takes_spark_shaped_batches_and_reproducible_nulls(archive_batch):
    plain = replay_evm_native.replay_batch(archive_batch, [2], 1000, True)
    shaped = replay_evm_native.replay_batch(spark_shaped(archive_batch), [2], 1000, True)
    for table in schemas.RESULT_TABLES:
        assert plain[table].equals(shaped[table]), table
        for column in schemas.measured_columns(table):
            assert plain[table][column].null_count == plain[table].num_rows, column
    assert set(plain["blocks"]["block_range"].to_pylist()) == {
        schemas.block_range(n, 1000) for n in NUMBERS
    }


def test_payloads_round_trip(archive_batch):
    results = replay_evm_native.replay_batch(archive_batch, [1], 1_000_000, True)
    payloads = pack(results)
    assert payloads.schema.names == [
        "table",
        "block_range",
        "rows",
        "verified",
        "txs",
        "gas",
        "payload",
    ]
    blocks = payloads.filter(pc.equal(payloads["table"], "blocks"))
    assert sum(blocks["verified"].to_pylist()) == len(NUMBERS)
    assert sum(blocks["gas"].to_pylist()) == pc.sum(results["blocks"]["gas_used"]).as_py()
    for table in schemas.RESULT_TABLES:
        mine = payloads.filter(pc.equal(payloads["table"], table))
        decoded = list(decode_table(table)(iter([mine])))
        got = pa.Table.from_batches(decoded, schema=schemas.arrow_schema(table))
        want = pa.Table.from_batches([results[table]])
        assert got.equals(want), table
        assert sum(mine["rows"].to_pylist()) == want.num_rows


def test_replay_batch_refuses_what_is_not_an_archive_batch(archive_batch):
    with pytest.raises(ValueError, match="no column `block_rlp`"):
        replay_evm_native.replay_batch(archive_batch.drop_columns(["block_rlp"]), [1], 10)
    with pytest.raises(ValueError, match="--threads"):
        replay_evm_native.replay_batch(archive_batch, [], 10)
    with pytest.raises(ValueError, match="partition-blocks"):
        replay_evm_native.replay_batch(archive_batch, [1], 0)
    nulls = archive_batch.set_column(
        archive_batch.schema.get_field_index("hash"),
        pa.field("hash", pa.binary()),
        pa.array([None] * archive_batch.num_rows, pa.binary()),
    )
    with pytest.raises(ValueError, match="hash"):
        replay_evm_native.replay_batch(nulls, [1], 10)


def test_replay_batch_releases_the_gil(archive_batch):
    ticks = 0
    done = threading.Event()

    def replay():
        try:
            replay_evm_native.replay_batch(archive_batch, [1, 2], 10_000)
        finally:
            done.set()

    thread = threading.Thread(target=replay)
    thread.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    thread.join()
    assert ticks > 10, "the main thread did not run while the blocks replayed"


def test_summarise_is_the_cli_jobs_summary_with_its_weightings(cli_results):
    """One definition of each summary figure: ``summarise`` over the CLI job's ``blocks``
    gives the rows the job prints, conflict rates weighted by transactions (not the mean of
    the blocks' rates), theoretical speedups by gas and measured ones by time."""
    blocks = read_table(cli_results, "blocks", measured=True)
    summary = replay_evm_native.summarise(blocks).to_pandas().set_index("label")
    assert list(summary.index)[-1] == "all"
    frame = blocks.to_pandas()
    ok = frame[frame["verified"]]
    total = summary.loc["all"]
    assert total["blocks"] == len(frame) and total["failed"] == len(frame) - len(ok)
    assert total["txs"] == ok["tx_count"].sum() and total["gas"] == ok["gas_used"].sum()
    weighted = ok["lazy_conflicting_txs"].sum() / ok["tx_count"].sum()
    assert total["lazy_conflict_rate"] == pytest.approx(weighted)
    assert total["naive_conflict_rate"] == pytest.approx(
        ok["naive_conflicting_txs"].sum() / ok["tx_count"].sum()
    )
    assert total["lazy_theoretical_speedup"] == pytest.approx(
        ok["gas_used"].sum() / ok["lazy_critical_path_gas"].sum()
    )
    for fork, part in ok.groupby("fork"):
        assert summary.loc[fork, "txs"] == part["tx_count"].sum()
    runs = ok.explode("measured_runs").dropna(subset=["measured_runs"])
    for threads in (1, 2):
        mine = runs[runs["measured_runs"].map(lambda r, t=threads: r["threads"] == t)]
        walls = mine["measured_runs"].map(lambda r: r["wall_us"])
        expected = mine["measured_sequential_us"].sum() / walls.sum()
        assert total[f"measured_speedup_{threads}"] == pytest.approx(expected)
    # Every figure is defined once, with its weighting, for headers and legends.
    for figure in ("lazy_conflict_rate", "lazy_theoretical_speedup", "measured_speedup"):
        assert "weighted by" in replay_evm_native.SUMMARY_FIGURES[figure]
