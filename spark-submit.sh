#!/usr/bin/env bash
# Submits the Spark replay job (jobs/replay_job.py) in one of three modes:
#
#   ./spark-submit.sh [--cores N] JOB_ARGS...             local mode, on every core (or N)
#   ./spark-submit.sh --standalone [--cores N] JOB_ARGS... starts a Spark standalone master
#                            and one worker on 127.0.0.1 from the installed Spark (pyspark in
#                            .venv), submits to them, and stops them afterwards
#   ./spark-submit.sh --master URL JOB_ARGS...            submits to an existing cluster,
#                            shipping the executors' Python environment (with the extension
#                            module) as build/replay-evm-env.tar.gz through --archives
#
# JOB_ARGS are the job's: --archive A --out R [--threads 1,2] [--partition-blocks N]
# [--blocks FIRST-LAST] [--reproducible] [--batch-blocks N] [--tasks N] [--overwrite]
# (`./spark-submit.sh --help-job` lists them). Extra spark-submit options go in
# $SPARK_SUBMIT_ARGS (word-split), e.g. SPARK_SUBMIT_ARGS="--executor-memory 8g".
# The Python environment comes from scripts/python-env.sh (run here; a no-op when up to
# date). The exit status is the job's: 0 all blocks verified, 1 some failed, 2 error.
set -euo pipefail
repo="$(cd "$(dirname "$0")" && pwd)"

mode=local
master_url=""
cores=""
job_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --standalone) mode=standalone ;;
        --master)
            [ $# -ge 2 ] || { echo "spark-submit.sh: --master needs a URL" >&2; exit 2; }
            mode=cluster
            master_url="$2"
            shift
            ;;
        --master=*) mode=cluster; master_url="${1#--master=}" ;;
        --cores)
            [ $# -ge 2 ] || { echo "spark-submit.sh: --cores needs a number" >&2; exit 2; }
            cores="$2"
            shift
            ;;
        --cores=*) cores="${1#--cores=}" ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        --help-job) job_args+=(--help) ;;
        *) job_args+=("$1") ;;
    esac
    shift
done
if [ -n "$cores" ] && ! [[ "$cores" =~ ^[1-9][0-9]*$ ]]; then
    echo "spark-submit.sh: --cores takes a positive number, not $cores" >&2
    exit 2
fi

if [ "$mode" = cluster ]; then
    "$repo/scripts/python-env.sh" --pack >&2
else
    "$repo/scripts/python-env.sh" >&2
fi
venv="$repo/.venv"
vpy="$venv/bin/python"
SPARK_HOME="$("$vpy" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
export SPARK_HOME

submit=("$SPARK_HOME/bin/spark-submit")
# Spark's INFO lines drown the job's own: warnings only, from the JVM's start (conf/); a
# --driver-java-options or spark.log.level in $SPARK_SUBMIT_ARGS sets another.
conf=(--conf spark.pyspark.driver.python="$vpy" --conf spark.log.level=WARN
    --driver-java-options "-Dlog4j2.configurationFile=file:$repo/conf/log4j2.properties")
if [ ! -t 2 ]; then
    conf+=(--conf spark.ui.showConsoleProgress=false)
fi
# shellcheck disable=SC2206
extra=(${SPARK_SUBMIT_ARGS:-})

case "$mode" in
    local)
        export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
        exec "${submit[@]}" --master "local[${cores:-*}]" "${conf[@]}" \
            --conf spark.pyspark.python="$vpy" "${extra[@]}" \
            "$repo/jobs/replay_job.py" "${job_args[@]}"
        ;;

    standalone)
        export SPARK_LOCAL_IP=127.0.0.1
        work="$(mktemp -d "${TMPDIR:-/tmp}/replay-evm-standalone.XXXXXX")"
        read -r master_port master_ui worker_ui < <("$vpy" -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
        master="spark://127.0.0.1:$master_port"
        master_pid=""
        worker_pid=""
        stop() {
            local status=$?
            for pid in $worker_pid $master_pid; do
                kill "$pid" 2>/dev/null || true
            done
            for pid in $worker_pid $master_pid; do
                wait "$pid" 2>/dev/null || true
            done
            if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
                echo "spark-submit.sh: standalone logs kept in $work" >&2
            else
                rm -rf "$work"
            fi
            exit "$status"
        }
        trap stop EXIT
        trap 'exit 130' INT TERM
        echo "== starting a standalone master ($master, UI http://127.0.0.1:$master_ui) and a worker" >&2
        "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
            --host 127.0.0.1 --port "$master_port" --webui-port "$master_ui" \
            >"$work/master.log" 2>&1 &
        master_pid=$!
        "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
            --host 127.0.0.1 --webui-port "$worker_ui" --work-dir "$work/work" \
            ${cores:+--cores "$cores"} "$master" \
            >"$work/worker.log" 2>&1 &
        worker_pid=$!
        for _ in $(seq 1 240); do
            if grep -q "Successfully registered with master" "$work/worker.log" 2>/dev/null; then
                break
            fi
            if ! kill -0 "$master_pid" 2>/dev/null || ! kill -0 "$worker_pid" 2>/dev/null; then
                echo "spark-submit.sh: the standalone master or worker stopped:" >&2
                tail -20 "$work/master.log" "$work/worker.log" >&2
                exit 2
            fi
            sleep 0.25
        done
        if ! grep -q "Successfully registered with master" "$work/worker.log"; then
            echo "spark-submit.sh: the worker did not register with the master in 60 s" >&2
            tail -20 "$work/master.log" "$work/worker.log" >&2
            exit 2
        fi
        status=0
        "${submit[@]}" --master "$master" "${conf[@]}" \
            --conf spark.pyspark.python="$vpy" "${extra[@]}" \
            "$repo/jobs/replay_job.py" "${job_args[@]}" || status=$?
        exit "$status"
        ;;

    cluster)
        # PySpark's "Python Package Management" way for venvs: the packed environment is
        # unpacked as ./environment in every executor's working folder. The driver runs
        # here (client mode), on .venv.
        exec "${submit[@]}" --master "$master_url" "${conf[@]}" \
            --archives "$repo/build/replay-evm-env.tar.gz#environment" \
            --conf spark.pyspark.python=./environment/bin/python \
            "${extra[@]}" \
            "$repo/jobs/replay_job.py" "${job_args[@]}"
        ;;
esac
