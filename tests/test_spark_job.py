"""The Spark job: locally, on a standalone master and worker on 127.0.0.1 (started by
``./spark-submit.sh --standalone``, and by the test for ``--master URL``), with task retries,
re-runs and corrupt archive rows; its datasets equal the CLI job's on the same archive."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from jobs.replay_job import JobError, run_job
from tests.conftest import REPO, run, spark_submit
from tests.datasets import assert_same_datasets, partition_files, read_table
from udf import schemas

#: A few blocks of the archive, for the shorter runs: one of each era.
SOME_BLOCKS = [46147, 2462997, 5891667, 12244000, 19932703]


@pytest.mark.spark_local
def test_spark_submit_local_equals_the_cli_job(spark_local_results, cli_results):
    out, stdout = spark_local_results
    assert "47 blocks: 47 verified, 0 failed" in stdout, stdout
    assert re.search(r"on local\[\*\] \(\d+ task slots\)", stdout), stdout
    assert_same_datasets(cli_results, out)
    # One file per block range and table, in the CLI job's partition directories.
    for table in schemas.RESULT_TABLES:
        files = partition_files(out, table)
        assert all(len(f) == 1 for f in files.values()), (table, files)
        cli_dirs = set(partition_files(cli_results, table))
        assert set(files) <= cli_dirs, table
    assert set(partition_files(out, "blocks")) == set(partition_files(cli_results, "blocks"))


@pytest.mark.spark_cluster
def test_spark_submit_standalone_equals_the_cli_job(tmp_path, mainnet_archive, cli_results):
    out = tmp_path / "results"
    result = spark_submit(
        "--standalone", "--archive", mainnet_archive, "--out", out, "--threads", "1,2"
    )
    assert "47 blocks: 47 verified, 0 failed" in result.stdout, result.stdout
    assert "on spark://127.0.0.1:" in result.stdout, result.stdout
    assert_same_datasets(cli_results, out)
    # The master and the worker are gone.
    assert "starting a standalone master" in result.stderr
    master = re.search(r"\(spark://127\.0\.0\.1:(\d+),", result.stderr)
    assert master, result.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(master.group(1))), timeout=2).close()


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@contextmanager
def standalone_cluster(tmp_path: Path, cores: int = 2):
    """A Spark standalone master and one worker on 127.0.0.1, from .venv's pyspark; yields
    the master URL."""
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    port, master_ui, worker_ui = _free_ports(3)
    url = f"spark://127.0.0.1:{port}"
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("master", "worker")}  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
            + ["--port", str(port), "--webui-port", str(master_ui)],
            stdout=logs["master"],
            stderr=subprocess.STDOUT,
            env=env,
        ),
        subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1"]
            + ["--webui-port", str(worker_ui), "--cores", str(cores)]
            + ["--work-dir", str(tmp_path / "work"), url],
            stdout=logs["worker"],
            stderr=subprocess.STDOUT,
            env=env,
        ),
    ]
    try:
        deadline = time.monotonic() + 90
        while "Successfully registered with master" not in (tmp_path / "worker.log").read_text():
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                pytest.fail(
                    "the standalone cluster did not start:\n"
                    + (tmp_path / "master.log").read_text()[-3000:]
                    + (tmp_path / "worker.log").read_text()[-3000:]
                )
            time.sleep(0.25)
        yield url
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs.values():
            log.close()


@pytest.mark.spark_cluster
def test_spark_submit_to_a_cluster_url_ships_the_packed_environment(
    tmp_path, mainnet_archive, cli_results
):
    out = tmp_path / "results"
    with standalone_cluster(tmp_path) as url:
        result = spark_submit(
            "--master",
            url,
            "--archive",
            mainnet_archive,
            "--out",
            out,
            "--partition-blocks",
            "10000",
            "--blocks",
            "19930000-19939999",
        )
    assert "3 blocks: 3 verified, 0 failed" in result.stdout, result.stdout
    assert (REPO / "build" / "replay-evm-env.tar.gz").is_file()
    # The executors ran the packed environment's Python, not .venv's.
    logs = "\n".join(p.read_text(errors="replace") for p in (tmp_path / "work").glob("*/*/stderr"))
    assert "environment" in "\n".join(str(p) for p in (tmp_path / "work").glob("*/*/environment"))
    assert "Traceback" not in logs, logs[-3000:]
    in_range = [19932703, 19933122, 19934116]
    assert_same_datasets(cli_results, out, blocks=in_range)
    assert read_table(out, "blocks")["block_number"].to_pylist() == in_range


@pytest.mark.spark_local
def test_failed_tasks_are_retried_without_duplicate_rows(spark, tmp_path, mainnet_archive):
    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "results"
    report = run_job(
        spark,
        str(mainnet_archive),
        str(out),
        threads=[2],
        partition_blocks=1_000_000,
        reproducible=True,
        inject_failure=str(markers),
        log=lambda *_: None,
    )
    # One task failed in the replay and in each table's write, after producing output.
    assert sorted(p.name for p in markers.iterdir()) == sorted(
        ["replay"] + [f"write-{t}" for t in schemas.RESULT_TABLES]
    )
    assert report.blocks == 47 and report.failed == 0
    clean = tmp_path / "clean"
    run_job(
        spark,
        str(mainnet_archive),
        str(clean),
        threads=[2],
        partition_blocks=1_000_000,
        reproducible=True,
        log=lambda *_: None,
    )
    for table in schemas.RESULT_TABLES:
        got = read_table(out, table, measured=True)
        want = read_table(clean, table, measured=True)
        assert got.num_rows == report.rows[table], table
        key = [schemas.PARTITION_COLUMN, *schemas.sort_key(table)]
        assert got.group_by(key).aggregate([]).num_rows == got.num_rows, f"{table}: duplicates"
        # --reproducible: every measured column is null, so the tables are equal whole.
        for column in schemas.measured_columns(table):
            assert got[column].null_count == got.num_rows, column
        assert got.equals(want), table


@pytest.mark.spark_local
def test_rerun_replaces_its_block_ranges_and_keeps_the_others(spark, tmp_path, mainnet_archive):
    out = tmp_path / "results"

    def job(blocks, **kwargs):
        return run_job(
            spark,
            str(mainnet_archive),
            str(out),
            threads=[1],
            partition_blocks=1_000_000,
            blocks=blocks,
            log=lambda *_: None,
            **kwargs,
        )

    first = job((12_000_000, 12_999_999))  # widened to whole partitions
    assert first.ranges == ["00012000000-00012999999"]
    job((19_000_000, None))
    before = {t: read_table(out, t) for t in schemas.RESULT_TABLES}
    files = {t: partition_files(out, t) for t in schemas.RESULT_TABLES}
    again = job((12_500_000, 12_500_000))
    assert again.blocks == first.blocks == 6
    for table in schemas.RESULT_TABLES:
        after = read_table(out, table)
        assert after.equals(before[table]), table
        new_files = partition_files(out, table)
        assert set(new_files) == set(files[table]), table
        assert all(len(f) == 1 for f in new_files.values()), table
        # The re-run wrote new files for its range only.
        ranges = {name for name, f in new_files.items() if f != files[table][name]}
        assert ranges <= {"block_range=00012000000-00012999999"}, (table, ranges)
    with pytest.raises(JobError, match="not of --partition-blocks"):
        run_job(spark, str(mainnet_archive), str(out), partition_blocks=10_000)


@pytest.mark.spark_local
def test_refuses_the_cli_jobs_results_folder_unless_overwrite(
    spark, tmp_path, cli_results, mainnet_archive
):
    with pytest.raises(JobError, match="_checkpoint.json"):
        run_job(spark, str(mainnet_archive), str(cli_results), log=lambda *_: None)
    out = tmp_path / "results"
    shutil.copytree(cli_results, out)
    report = run_job(
        spark,
        str(mainnet_archive),
        str(out),
        blocks=(46147, 46147),
        overwrite=True,
        log=lambda *_: None,
    )
    assert report.ranges == ["00000040000-00000049999"]
    assert not (out / "_checkpoint.json").exists()
    assert read_table(out, "blocks")["block_number"].to_pylist() == [46147]


def corrupt_archive(archive: Path, out: Path) -> list[int]:
    """An archive of seven mainnet blocks, four of them corrupted as the CLI job's test does;
    returns the block numbers."""
    numbers = [46147, 930196, 1150000, 2462997, 4370000, 5891667, 12244000]
    table = pq.read_table(archive)
    rows = table.filter(pc.is_in(table["number"], pa.array(numbers, pa.int64()))).to_pylist()
    by_number = {r["number"]: r for r in rows}
    # Bad encoding: a truncated block.
    by_number[930196]["block_rlp"] = by_number[930196]["block_rlp"][:-7]
    # Bad pre-state encoding: code with an invalid EIP-7702 designator.
    by_number[2462997]["pre_state"][0]["code"] = bytes([0xEF, 0x01, 0x00, 0x01])
    # Wrong pre-state: nobody has any ether, so the first transaction cannot pay.
    for account in by_number[1150000]["pre_state"]:
        account["balance"] = bytes(32)
    # A hash that is not the header's.
    by_number[12244000]["hash"] = by_number[46147]["hash"]
    out.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(rows, schema=schemas.arrow_schema("archive")),
        out / "part-00000.parquet",
        compression="zstd",
        use_compliant_nested_type=False,  # list items named `item`, as the CLI expects
    )
    return numbers


@pytest.mark.spark_local
def test_corrupt_archive_rows_become_failure_rows_as_in_the_cli_job(
    spark, tmp_path, cli, mainnet_archive
):
    archive = tmp_path / "corrupt"
    numbers = corrupt_archive(mainnet_archive, archive)
    cli_out = tmp_path / "cli"
    run(
        [cli, "job", "--archive", archive, "--out", cli_out, "--threads", "2", "-q"],
        ok=(1,),
    )
    out = tmp_path / "spark"
    report = run_job(spark, str(archive), str(out), threads=[2], log=lambda *_: None)
    assert (report.blocks, report.verified) == (7, 3)
    assert [(n, stage) for n, stage, _ in report.failures] == [
        (930196, "decode"),
        (1150000, "replay"),
        (2462997, "decode"),
        (12244000, "check"),
    ]
    assert_same_datasets(cli_out, out)
    blocks = read_table(out, "blocks")
    assert blocks["block_number"].to_pylist() == sorted(numbers)
    errors = dict(zip(blocks["block_number"].to_pylist(), blocks["error"].to_pylist()))
    assert "block_rlp" in errors[930196]
    assert "pre_state" in errors[2462997]
    with_txs = sorted(set(read_table(out, "transactions")["block_number"].to_pylist()))
    assert with_txs == [46147, 4370000, 5891667]
    # The job's exit status says some blocks failed, as the CLI's does.
    result = spark_submit("--cores", "1", "--archive", archive, "--out", tmp_path / "s", ok=(1,))
    assert "7 blocks: 3 verified, 4 failed" in result.stdout, result.stdout
    assert "FAILED 930196 (decode)" in result.stdout


@pytest.mark.spark_local
@pytest.mark.parametrize("case", ["missing archive", "not an archive", "results is a file"])
def test_inputs_the_job_cannot_use_are_one_clear_line_and_exit_2(tmp_path, mainnet_archive, case):
    archive, out = mainnet_archive, tmp_path / "results"
    if case == "missing archive":
        archive = tmp_path / "nonexistent"
        expected = f"error: archive {archive} not found"
    elif case == "not an archive":
        archive = tmp_path / "notes"
        archive.mkdir()
        (archive / "README.txt").write_text("not Parquet")
        expected = f"error: cannot use the archive {archive}: no Parquet files in it"
    else:
        out.write_text("a file")
        expected = f"error: results folder {out} is a file, not a folder"
    result = spark_submit("--archive", archive, "--out", out, ok=(2,))
    # spark-submit merges the Python driver's stderr into its stdout.
    output = result.stdout + result.stderr
    lines = output.strip().splitlines()
    assert any(line.startswith(expected) for line in lines), output
    # No Java or Python stack trace, no Spark start-up log: one clear line, not ~90.
    assert "Traceback" not in output, output
    assert not any(line.lstrip().startswith("at ") for line in lines), output
    assert not any(" INFO " in line for line in lines), output
    assert len(lines) <= 4, output
