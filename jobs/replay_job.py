"""The replay job on Spark: the command-line ``replay-evm job`` as a Spark application.

    spark-submit jobs/replay_job.py --archive ARCHIVE --out RESULTS [--threads 1,2]
        [--partition-blocks 10000] [--blocks FIRST-LAST] [--reproducible]
        [--batch-blocks 16] [--overwrite]

(``./spark-submit.sh`` runs it locally, on a standalone cluster it starts, or on a cluster.)

What it does, and why:

1. **Read** the archive Parquet (``schemas/archive.json``) with Spark; ``--blocks`` keeps the
   block partitions that range touches, whole (a partition is always replayed and rewritten
   entirely, so a run never leaves half of one).
2. **Partition by block range**: every archive row gets its ``block_range``
   (``--partition-blocks`` wide, by the CLI job's rule: :func:`udf.replay.block_ranges`, an
   Arrow UDF calling the extension module), and the rows are
   hash-partitioned on it into ``--tasks`` Spark partitions (default: four per core, at most
   one per block range), so each block range is replayed and written whole by exactly one
   task: one file per block range and table.
3. **Replay** with the engine in a first ``mapInArrow`` (:func:`udf.replay.replay_partition`),
   which calls the extension module on whole Arrow batches (``--batch-blocks`` archive rows
   each) and returns, per (table, block range), one row holding that table's result rows as
   an Arrow IPC stream: ``mapInArrow`` has one output schema and there are four tables. The
   payloads are persisted (memory and disk), so the blocks replay once for the four tables.
4. **Write** each table with a second ``mapInArrow`` (:func:`udf.replay.decode_table`) that
   decodes its payloads into the table's schema (``schemas/<table>.json``, as the
   extension module reports it; :mod:`udf.schemas`), sorted within each block range by the table's sort key, with
   Spark's Parquet writer (zstd), ``partitionBy("block_range")``: the layout of the CLI job,
   ``RESULTS/<table>/block_range=S-E/part-*.parquet``.

Idempotence: every table is written in ``overwrite`` mode with dynamic partition overwrite
(``spark.sql.sources.partitionOverwriteMode=dynamic``): a run replaces exactly the block
ranges it replayed and leaves the others. Spark's commit protocol publishes a task's files
only when the task commits, so a failed or retried task (or a speculative duplicate) never
adds rows, and re-running the job over the same ranges gives the same rows. A block range
whose blocks have no rows in a table (all failed, or no conflicts) has no directory in that
table; a stale one left by an earlier run is removed.

The ``measured_*`` columns hold wall-clock times and differ between runs; ``--reproducible``
writes null in them, as the CLI's ``--reproducible`` does. Every other column equals the CLI
job's on the same archive (``tests/test_spark_job.py``).

Exit status: 0 when every replayed block verified, 1 when some failed (they are rows of
``blocks`` with their error), 2 when the job could not run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (spark-submit jobs/replay_job.py): the repository holds `udf`.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from udf import schemas
from udf.replay import PAYLOAD_SCHEMA, block_ranges, decode_table, replay_partition

# pyspark 4.3 warns about pandas 3 whenever it plans a pandas or Arrow UDF; the job uses
# Arrow only (mapInArrow), which pandas' version does not affect.
warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)

#: Spark settings the job needs, whatever the cluster's defaults.
JOB_CONF = {
    # Overwrite only the block ranges this run writes.
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.compression.codec": "zstd",
}


class JobError(Exception):
    """A job that cannot run (exit status 2)."""


@dataclass
class JobReport:
    """What a run did."""

    out: str
    ranges: list[str]
    blocks: int = 0
    verified: int = 0
    txs: int = 0
    gas: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    replay_secs: float = 0.0
    total_secs: float = 0.0

    @property
    def failed(self) -> int:
        return self.blocks - self.verified


def parse_threads(text: str) -> list[int]:
    try:
        threads = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of thread counts: {text!r}") from None
    if not threads or any(t < 1 for t in threads):
        raise argparse.ArgumentTypeError(f"thread counts must be at least 1: {text!r}")
    return threads


def parse_blocks(text: str) -> tuple[int | None, int | None]:
    first, sep, last = text.partition("-")
    try:
        if not sep:
            return int(first), int(first)
        return (int(first) if first else None, int(last) if last else None)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--blocks takes FIRST-LAST, FIRST- or -LAST: {text!r}"
        ) from None


def _qualify(spark, path: str) -> str:
    """``path`` as every executor sees it: a local path made absolute (executors of a local
    or standalone cluster run in other folders); a URI (hdfs://, s3a://, file://) as it is."""
    if "://" in path or path.startswith("file:"):
        return path
    default_fs = spark.sparkContext._jsc.hadoopConfiguration().get("fs.defaultFS") or "file:///"
    if default_fs.startswith("file:"):
        return os.path.abspath(path)
    return path


class _Fs:
    """The Hadoop file system of the results folder, through the JVM (any URI Spark reads)."""

    def __init__(self, spark, root: str):
        jvm = spark.sparkContext._jvm
        self._path = jvm.org.apache.hadoop.fs.Path
        self.root = self._path(root)
        self.fs = self.root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def child(self, *parts: str):
        path = self.root
        for part in parts:
            path = self._path(path, part)
        return path

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.child(*parts))

    def list_dirs(self, *parts: str) -> list[str]:
        path = self.child(*parts)
        if not self.fs.exists(path):
            return []
        return [s.getPath().getName() for s in self.fs.listStatus(path) if s.isDirectory()]

    def delete(self, *parts: str) -> None:
        self.fs.delete(self.child(*parts), True)


def _check_results_folder(fs: _Fs, partition_blocks: int, overwrite: bool) -> None:
    """Refuses results the run would corrupt, unless ``overwrite``: the CLI job's (its
    manifest would no longer describe the files) or partitions of another width (blocks
    would be in two ranges)."""
    if fs.exists() and not fs.fs.getFileStatus(fs.root).isDirectory():
        raise JobError(f"results folder {fs.root} is a file, not a folder")
    if overwrite:
        return
    if fs.exists("_checkpoint.json"):
        raise JobError(
            f"{fs.root} holds the command-line job's results (_checkpoint.json): write to "
            "another folder, or pass --overwrite to replace them"
        )
    for table in schemas.RESULT_TABLES:
        for name in fs.list_dirs(table):
            value = name.removeprefix(f"{schemas.PARTITION_COLUMN}=")
            start, _, end = value.partition("-")
            if not (start.isdigit() and end.isdigit()):
                continue
            # A partition of this width is named as its first block's range.
            if value != schemas.block_range(int(start), partition_blocks):
                raise JobError(
                    f"{fs.root}/{table} holds partition {value}, not of --partition-blocks "
                    f"{partition_blocks}: pass the same width, or --overwrite to start again"
                )


@contextmanager
def _input_errors(what: str, path: str):
    """Turns Spark's and the JVM's errors about an input the job cannot use (a missing
    path, a folder that is not Parquet, no permission) into one-line ``JobError``s naming
    ``what`` and ``path``, instead of Java and Python stack traces."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    try:
        yield
    except PySparkException as e:
        reason = _first_line(e.getMessage() if hasattr(e, "getMessage") else str(e))
        if "infer schema" in reason.lower():
            reason = "no Parquet files in it, so it is not a block archive"
        raise JobError(f"cannot use {what} {path}: {reason}") from None
    except Py4JJavaError as e:
        raise JobError(f"cannot use {what} {path}: {_first_line(str(e.java_exception))}") from None


def _first_line(text: str) -> str:
    """The first non-empty line of an error message, without Spark's error-class tag."""
    line = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
    if line.startswith("[") and "] " in line:
        line = line.split("] ", 1)[1]
    return line


def _remove_results(fs: _Fs) -> None:
    """``--overwrite``: the tables (and the CLI job's manifest) go, before the first write."""
    for name in (*schemas.RESULT_TABLES, "_checkpoint.json", "_tmp"):
        if fs.exists(name):
            fs.delete(name)


def session(app_name: str = "replay-evm", master: str | None = None, conf=None):
    """A SparkSession for the job (``master`` and ``conf`` when not given by spark-submit)."""
    from pyspark.sql import SparkSession

    # Python workers run this interpreter (the one with the extension module) unless
    # spark-submit or the environment says otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in {**JOB_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def run_job(
    spark,
    archive: str,
    out: str,
    *,
    threads: list[int] | tuple[int, ...] = (1, 2),
    partition_blocks: int = 10_000,
    blocks: tuple[int | None, int | None] = (None, None),
    reproducible: bool = False,
    batch_blocks: int = 16,
    tasks: int | None = None,
    overwrite: bool = False,
    inject_failure: str | None = None,
    log=print,
) -> JobReport:
    """Runs the job on ``spark`` (see the module docs) and returns what it did."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.functions import arrow_udf

    if partition_blocks < 1:
        raise JobError("--partition-blocks must be at least 1")
    if tasks is not None and tasks < 1:
        raise JobError("--tasks must be at least 1")
    if batch_blocks < 1:
        raise JobError("--batch-blocks must be at least 1")
    threads = [int(t) for t in threads]
    if not threads or min(threads) < 1:
        raise JobError("--threads needs thread counts of at least 1")
    started = time.monotonic()
    for key, value in JOB_CONF.items():
        spark.conf.set(key, value)
    # Archive rows per Arrow batch handed to the engine: the unit of work and of memory.
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_blocks))

    archive = _qualify(spark, archive)
    out = _qualify(spark, out)
    with _input_errors("the results folder", out):
        fs = _Fs(spark, out)
        _check_results_folder(fs, partition_blocks, overwrite)

    with _input_errors("the archive", archive):
        if not _Fs(spark, archive).exists():
            raise JobError(f"archive {archive} not found")
        # Parquet files only: a README or a checksum beside the chunks is not a row.
        rows = spark.read.option("pathGlobFilter", "*.parquet").parquet(archive)
    missing = [c for c in schemas.column_names("archive") if c not in rows.columns]
    if missing:
        raise JobError(f"{archive} is not a block archive: no column {', '.join(missing)}")
    rows = rows.select(*schemas.column_names("archive"))
    first, last = blocks
    # Whole partitions only: widen the requested range to the partitions it touches.
    if first is not None:
        rows = rows.where(F.col("number") >= first - first % partition_blocks)
    if last is not None:
        rows = rows.where(F.col("number") <= last - last % partition_blocks + partition_blocks - 1)
    # As the CLI job names partitions (the engine's rule, through the extension module).
    range_of = arrow_udf(block_ranges(partition_blocks), "string")
    rows = rows.withColumn(schemas.PARTITION_COLUMN, range_of(F.col("number")))
    # The block ranges to replay: one aggregate without grouping (a single small shuffle).
    found = rows.agg(F.collect_set(schemas.PARTITION_COLUMN)).first()
    ranges = sorted(found[0] if found and found[0] else [])
    report = JobReport(out=out, ranges=ranges)
    if not ranges:
        log(f"no archive blocks in the requested range: nothing to do ({archive})")
        report.total_secs = time.monotonic() - started
        return report

    # An explicit number of partitions: adaptive execution keeps it (it merges small shuffle
    # partitions only when the number is Spark's choice). By default a few tasks per core:
    # a task has a fixed cost (about 0.1 s per stage here) that many small block ranges
    # would pay many times, and hash partitioning keeps each range whole in one task anyway.
    default_tasks = 4 * max(spark.sparkContext.defaultParallelism, 1)
    tasks = min(tasks or default_tasks, len(ranges))
    log(
        f"replaying {len(ranges)} block range(s) of {partition_blocks} blocks from {archive} "
        f"in {tasks} task(s) at threads {','.join(map(str, threads))} into {out}"
    )
    by_range = (
        rows.repartition(tasks, schemas.PARTITION_COLUMN)
        .sortWithinPartitions(schemas.PARTITION_COLUMN, "number")
        .select(*schemas.column_names("archive"))
    )
    payloads = by_range.mapInArrow(
        replay_partition(threads, partition_blocks, reproducible, inject_failure),
        PAYLOAD_SCHEMA,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        replay_started = time.monotonic()
        written = (
            payloads.groupBy("table", "block_range")
            .agg(*(F.sum(c).alias(c) for c in ("rows", "verified", "txs", "gas")))
            .collect()
        )
        report.replay_secs = time.monotonic() - replay_started
        with_rows = {(r["table"], r["block_range"]) for r in written if r["rows"] > 0}
        for table in schemas.RESULT_TABLES:
            report.rows[table] = sum(r["rows"] for r in written if r["table"] == table)
        for r in written:
            if r["table"] == "blocks":
                report.blocks += r["rows"]
                report.verified += r["verified"]
                report.txs += r["txs"]
                report.gas += r["gas"]

        if overwrite:
            _remove_results(fs)

        def write(table: str) -> None:
            (
                payloads.where(F.col("table") == table)
                .mapInArrow(decode_table(table, inject_failure), schemas.spark_schema(table))
                .sortWithinPartitions(schemas.PARTITION_COLUMN, *schemas.sort_key(table))
                .write.mode("overwrite")
                .partitionBy(schemas.PARTITION_COLUMN)
                .parquet(f"{out}/{table}")
            )
            # Dynamic overwrite replaces only the ranges with rows: remove what an earlier
            # run left in the replayed ranges that now have none in this table.
            existing = set(fs.list_dirs(table))
            for block_range in ranges:
                name = f"{schemas.PARTITION_COLUMN}={block_range}"
                if (table, block_range) not in with_rows and name in existing:
                    fs.delete(table, name)

        # The four writes run as concurrent Spark jobs, so that one's planning and commit
        # overlap the others' tasks.
        with ThreadPoolExecutor(len(schemas.RESULT_TABLES)) as pool:
            for done in [pool.submit(write, table) for table in schemas.RESULT_TABLES]:
                done.result()
    finally:
        payloads.unpersist()

    if report.failed:
        report.failures = [
            (r[0], r[1], r[2])
            for r in spark.read.parquet(f"{out}/blocks")
            .where(F.col(schemas.PARTITION_COLUMN).isin(ranges) & ~F.col("verified"))
            .select("block_number", "error_stage", "error")
            .orderBy("block_number")
            .collect()
        ]
    report.total_secs = time.monotonic() - started
    return report


def print_report(report: JobReport, spark) -> None:
    secs = max(report.total_secs, 1e-9)
    print(
        f"\n{report.blocks} blocks in {len(report.ranges)} block range(s), {report.txs} "
        f"transactions, {report.gas / 1e6:.1f} Mgas; rows: "
        + ", ".join(f"{t} {n}" for t, n in report.rows.items())
    )
    print(
        f"time: {report.total_secs:.2f}s ({report.replay_secs:.2f}s replaying, the rest "
        f"writing and reading back): {report.blocks / secs:.2f} blocks/s, "
        f"{report.gas / 1e6 / secs:.1f} Mgas/s on {spark.sparkContext.master} "
        f"({spark.sparkContext.defaultParallelism} task slots)"
    )
    for number, stage, error in report.failures[:20]:
        print(f"FAILED {number} ({stage}): {error}")
    if len(report.failures) > 20:
        print(f"... and {len(report.failures) - 20} more (see the blocks dataset)")
    print(
        f"{report.blocks} blocks: {report.verified} verified, {report.failed} failed; "
        f"results in {report.out}"
    )


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="replay_job.py",
        description="The ReplayEVM replay job on Spark: replay an archive in block-range "
        "partitions and write the blocks, transactions, conflicts and hotspots datasets.",
    )
    parser.add_argument("--archive", required=True, help="the archive folder or URI")
    parser.add_argument("--out", required=True, help="the results folder or URI")
    parser.add_argument(
        "--threads",
        type=parse_threads,
        default=[1, 2],
        help="thread counts of each block's parallel replays, comma-separated (default 1,2)",
    )
    parser.add_argument(
        "--partition-blocks",
        type=int,
        default=10_000,
        help="partition width in block numbers: the block_range of the datasets (default 10000)",
    )
    parser.add_argument(
        "--blocks",
        type=parse_blocks,
        default=(None, None),
        metavar="FIRST-LAST",
        help="replay only the block partitions this range touches (FIRST-LAST, FIRST-, "
        "-LAST or N); default: the whole archive",
    )
    parser.add_argument(
        "--reproducible",
        action="store_true",
        help="write null in every measured_* column (as the CLI job's --reproducible)",
    )
    parser.add_argument(
        "--batch-blocks",
        type=int,
        default=16,
        help="archive rows per Arrow batch handed to the engine (default 16)",
    )
    parser.add_argument(
        "--tasks",
        type=int,
        default=None,
        help="Spark partitions (tasks) of the archive; each block range is replayed whole "
        "by one task (default: four per core, at most one per block range)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="remove the results folder's tables first (needed to change --partition-blocks "
        "or to replace the CLI job's results)",
    )
    # Tests only: in the replay and in each table's write, the first task attempt to produce
    # output fails right after it, leaving a marker file in this folder.
    parser.add_argument("--inject-task-failure", metavar="DIR", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    spark = session()
    try:
        report = run_job(
            spark,
            args.archive,
            args.out,
            threads=args.threads,
            partition_blocks=args.partition_blocks,
            blocks=args.blocks,
            reproducible=args.reproducible,
            batch_blocks=args.batch_blocks,
            tasks=args.tasks,
            overwrite=args.overwrite,
            inject_failure=args.inject_task_failure,
        )
        print_report(report, spark)
        return 0 if report.failed == 0 else 1
    except JobError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
