"""The functions Spark runs on the executors, through ``DataFrame.mapInArrow``.

``mapInArrow`` gives one output schema per call, and one archive batch gives rows of four
tables, so the job runs in two steps (see ``jobs/replay_job.py``):

1. :func:`replay_partition` replays each Arrow batch of archive rows with the engine
   (``replay_evm_native.replay_batch``) and returns, for each (table, block range) of the
   result, one row of :data:`PAYLOAD_SCHEMA` whose ``payload`` is that table's rows as an
   Arrow IPC stream;
2. :func:`decode_table` turns the payload rows of one table back into that table's rows.

Before step 1, :func:`block_ranges` (a scalar Arrow UDF) gives every archive row its
``block_range`` by the engine's rule.

Arrow batches cross every boundary whole: Spark to Python (Arrow), Python to Rust (the Arrow
C data interface), and back; the only Python objects are per batch and per payload, never
per row.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

#: The rows of step 1: one per (result table, block range) of a replayed batch, with the
#: number of rows and, for ``blocks``, the number of blocks that verified and their
#: transactions and gas (0 for the other tables), for the job's summary.
PAYLOAD_SCHEMA = (
    "table string, block_range string, rows long, verified long, txs long, gas long, payload binary"
)

_PAYLOAD_ARROW = pa.schema(
    [
        pa.field("table", pa.string()),
        pa.field("block_range", pa.string()),
        pa.field("rows", pa.int64()),
        pa.field("verified", pa.int64()),
        pa.field("txs", pa.int64()),
        pa.field("gas", pa.int64()),
        pa.field("payload", pa.binary()),
    ]
)


class InjectedFailure(RuntimeError):
    """The failure the tests inject into a task's first attempt."""


def _fail_first_attempt(what: str, markers: str) -> None:
    """Fault injection for the tests: the first task attempt to get here for ``what`` fails,
    after creating the marker file ``markers/what`` (atomically, so exactly one does; its
    retry, and every later task, find the marker and go on)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is None or context.attemptNumber() != 0:
        return
    try:
        fd = os.open(
            os.path.join(markers, what.replace(" ", "-")),
            os.O_CREAT | os.O_EXCL | os.O_WRONLY,
        )
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"partition {context.partitionId()}, stage {context.stageId()}, attempt 0\n")
    raise InjectedFailure(f"injected failure: {what}, partition {context.partitionId()}, attempt 0")


def to_ipc(batch: pa.RecordBatch, sink: pa.BufferOutputStream | None = None) -> pa.Buffer | None:
    """``batch`` as an Arrow IPC stream: returned, or appended to ``sink``."""
    own = sink is None
    if own:
        sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue() if own else None


def split_by_range(batch: pa.RecordBatch) -> list[tuple[str, pa.RecordBatch]]:
    """The rows of ``batch`` grouped by ``block_range``, in order of first appearance."""
    if batch.num_rows == 0:
        return []
    ranges = batch.column("block_range")
    values = pc.unique(ranges)
    if len(values) == 1:
        return [(values[0].as_py(), batch)]
    return [(value.as_py(), batch.filter(pc.equal(ranges, value))) for value in values]


def _tally(blocks: pa.RecordBatch) -> tuple[int, int, int]:
    """(verified blocks, their transactions, their gas) of a ``blocks`` batch."""
    verified = blocks.column("verified")

    def total(column: str) -> int:
        kept = pc.filter(blocks.column(column), verified)
        return int(pc.sum(kept).as_py() or 0)

    return (
        int(pc.sum(verified.cast(pa.int64())).as_py() or 0),
        total("tx_count"),
        total("gas_used"),
    )


def pack(results: dict[str, pa.RecordBatch]) -> pa.RecordBatch:
    """The payload rows of one replayed batch: one per (table, block range) with rows. The
    IPC streams are written one after the other into a single buffer, which becomes the
    ``payload`` column's data as it is."""
    columns: dict[str, list] = {name: [] for name in _PAYLOAD_ARROW.names[:-1]}
    offsets = [0]
    sink = pa.BufferOutputStream()
    for table, batch in results.items():
        for block_range, part in split_by_range(batch):
            tally = _tally(part) if table == "blocks" else (0, 0, 0)
            for name, value in zip(
                columns, (table, block_range, part.num_rows, *tally), strict=True
            ):
                columns[name].append(value)
            to_ipc(part, sink)
            offsets.append(sink.tell())
    payload = pa.Array.from_buffers(
        pa.binary(),
        len(offsets) - 1,
        [None, pa.array(offsets, pa.int32()).buffers()[1], sink.getvalue()],
    )
    arrays = [pa.array(values, _PAYLOAD_ARROW.field(name).type) for name, values in columns.items()]
    return pa.RecordBatch.from_arrays([*arrays, payload], schema=_PAYLOAD_ARROW)


def block_ranges(partition_blocks: int) -> Callable[[pa.Array], pa.Array]:
    """For a scalar Arrow UDF (``arrow_udf(..., "string")``): the ``block_range`` of each block
    number, by the engine's rule (:func:`udf.schemas.block_range`), so that the Spark job
    names partitions exactly as the command-line job does."""

    def ranges(numbers: pa.Array) -> pa.Array:
        from udf.schemas import block_range

        return pa.array(
            [None if n is None else block_range(n, partition_blocks) for n in numbers.to_pylist()],
            pa.string(),
        )

    return ranges


def replay_partition(
    threads: list[int],
    partition_blocks: int,
    reproducible: bool = False,
    inject_failure: str | None = None,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Step 1, for ``mapInArrow(..., PAYLOAD_SCHEMA)``: replays archive batches.
    ``inject_failure`` (tests only) is a folder: the first task attempt to produce output
    fails right after it, leaving a marker file there."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import replay_evm_native

        def replay(batch: pa.RecordBatch, following: pa.RecordBatch | None) -> pa.RecordBatch:
            # The next batch of the partition (sorted by block range and number) is the
            # look-ahead: the batch's last block is checked against its successor there, as
            # the CLI job checks it within its whole-partition batch.
            results = replay_evm_native.replay_batch(
                batch, list(threads), partition_blocks, reproducible, following
            )
            return pack(results)

        produced = False
        pending = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if pending is not None:
                yield replay(pending, batch.slice(0, 1))
                if inject_failure and not produced:
                    produced = True
                    _fail_first_attempt("replay", inject_failure)
            pending = batch
        if pending is not None:
            yield replay(pending, None)
            if inject_failure and not produced:
                _fail_first_attempt("replay", inject_failure)

    return run


def decode_table(
    table: str, inject_failure: str | None = None
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Step 2, for ``mapInArrow(..., spark_schema(table))``: the rows of ``table`` carried by
    payload rows (already filtered to ``table``)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import replay_evm_native

        schema = replay_evm_native.result_arrow_schema(table)
        produced = False
        for batch in batches:
            names = batch.column("table")
            payloads = batch.column("payload")
            for i in range(batch.num_rows):
                if names[i].as_py() != table:
                    raise ValueError(f"a {names[i].as_py()} payload in the {table} step")
                with pa.ipc.open_stream(payloads[i].as_buffer()) as reader:
                    for part in reader:
                        yield part if part.schema == schema else part.cast(schema)
                if inject_failure and not produced:
                    produced = True
                    _fail_first_attempt(f"write {table}", inject_failure)

    return run
