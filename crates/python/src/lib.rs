//! # `replay_evm_native`: the ReplayEVM engine as a Python extension module
//!
//! What the Spark job's executors call (through the thin wrappers in `udf/`): one Arrow
//! record batch of archive rows in (`schemas/archive.json`), one record batch per result
//! table out (`schemas/{blocks,transactions,conflicts,hotspots}.json`, partition column
//! `block_range` included), computed by the same [`replay_evm_dataset::replay_batch`] as the
//! command-line job, so both jobs write the same rows.
//!
//! Batches cross the boundary through the Arrow C data interface (`arrow::pyarrow`, the
//! `__arrow_c_array__` capsules of pyarrow): no Python object is created per row, and the
//! result buffers are handed to pyarrow without a copy. The GIL is released while the
//! blocks replay.
//!
//! Each Python worker process keeps one [`ParallelEngine`] (a thread pool) per pool size
//! and reuses it for every batch it is given, as the command-line job keeps one per worker.
//!
//! It is also the Python side's one source of the rules the Rust code defines, so that none
//! is written twice: the tables' Arrow schemas, sort keys, partition column and measured
//! columns ([`replay_evm_dataset::schema`], from `schemas/*.json`; `udf/schemas.py` derives
//! the Spark schemas from these), the `block_range` partition value
//! ([`replay_evm_dataset::BlockRange`]) and the engine's forks in activation order
//! ([`replay_evm::chain::Fork`], for the notebooks).

use std::{
    collections::BTreeMap,
    num::NonZeroUsize,
    sync::{Arc, Mutex},
};

use arrow::{
    array::RecordBatch,
    pyarrow::{PyArrowType, ToPyArrow},
};
use pyo3::{
    exceptions::{PyRuntimeError, PyValueError},
    prelude::*,
    types::PyDict,
};
use replay_evm::{chain::Fork, parallel::ParallelEngine};
use replay_evm_dataset::{
    BlockRange, DatasetError, ENGINE_VERSION, JobParams,
    archive::{archive_schema, conform},
    replay_batch_with as replay,
    schema::{self, RESULT_TABLES, SCHEMA_VERSION},
    summary,
};

/// mimalloc, as in the `replay-evm` binary: the replays allocate and free many small objects
/// on several threads. Python's own allocations are unaffected; Arrow buffers handed to
/// pyarrow are freed through their release callback, so by this allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn py_err(e: DatasetError) -> PyErr {
    match e {
        DatasetError::Usage(_) | DatasetError::Schema(_) => PyValueError::new_err(e.to_string()),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

/// The engine of this process with a pool of `threads` workers, created on first use.
fn engine(threads: NonZeroUsize) -> Result<Arc<ParallelEngine>, DatasetError> {
    static ENGINES: Mutex<BTreeMap<usize, Arc<ParallelEngine>>> = Mutex::new(BTreeMap::new());
    let mut engines = ENGINES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(engine) = engines.get(&threads.get()) {
        return Ok(engine.clone());
    }
    let engine =
        Arc::new(ParallelEngine::new(threads).map_err(|e| DatasetError::Engine(e.to_string()))?);
    engines.insert(threads.get(), engine.clone());
    Ok(engine)
}

/// Replays every archive row of `batch` (a `pyarrow.RecordBatch`, or anything exporting
/// `__arrow_c_array__`) sequentially and in parallel at each thread count of `threads`,
/// verifies and analyses it, and returns a dict of the four result tables, each a
/// `pyarrow.RecordBatch` with the table's schema (partition column `block_range` included,
/// computed with `partition_blocks`). A row that fails any step is a `blocks` row with its
/// error, never an exception; `reproducible=True` writes null in every `measured_*` column.
/// `next`, archive rows that follow the batch (the next batch of the same sorted partition),
/// lets the batch's last block be checked against its successor (`next_block_*` columns):
/// only its first row is read, and it is not replayed.
#[pyfunction]
#[pyo3(signature = (batch, threads, partition_blocks, reproducible = false, next = None))]
fn replay_batch<'py>(
    py: Python<'py>,
    batch: PyArrowType<RecordBatch>,
    threads: Vec<usize>,
    partition_blocks: u64,
    reproducible: bool,
    next: Option<PyArrowType<RecordBatch>>,
) -> PyResult<Bound<'py, PyDict>> {
    let params = JobParams {
        threads,
        partition_blocks,
        reproducible,
    };
    params.validate().map_err(py_err)?;
    let engine = engine(params.max_threads()).map_err(py_err)?;
    let input = batch.0;
    let next = next.map(|next| next.0);
    let results = py
        .detach(move || {
            let input = conform(&input)?;
            let next = next.as_ref().map(conform).transpose()?;
            replay(&input, next.as_ref(), &params, &engine, |_| {})
        })
        .map_err(py_err)?;
    let out = PyDict::new(py);
    for (name, batch) in results.tables() {
        out.set_item(name, batch.to_pyarrow(py)?)?;
    }
    Ok(out)
}

/// The summary of a results folder's `blocks` rows, per fork (activation order, `by="fork"`)
/// or per calendar year (`by="year"`), then `all`,
/// as a `pyarrow.RecordBatch`: the same figures, with the same definitions and weightings,
/// as the summary `replay-evm job` prints ([`SUMMARY_FIGURES`](summary::FIGURES) holds
/// each definition). `blocks` is a `pyarrow.Table` or a list of `pyarrow.RecordBatch`es of
/// the `blocks` table (extra columns such as `block_range` are ignored).
#[pyfunction]
#[pyo3(signature = (blocks, by = "fork"))]
fn summarise<'py>(
    py: Python<'py>,
    blocks: &Bound<'py, PyAny>,
    by: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let by = match by {
        "fork" => summary::Grouping::Fork,
        "year" => summary::Grouping::Year,
        other => {
            return Err(PyValueError::new_err(format!(
                "summarise: by={other:?}: expected \"fork\" or \"year\""
            )));
        }
    };
    let batches = if blocks.hasattr("to_batches")? {
        blocks.call_method0("to_batches")?
    } else {
        blocks.clone()
    };
    let batches: Vec<PyArrowType<RecordBatch>> = batches.extract()?;
    let batches: Vec<RecordBatch> = batches.into_iter().map(|b| b.0).collect();
    let summary = summary::summarise_batches(&batches, by).map_err(py_err)?;
    summary::summary_batch(&summary)
        .map_err(py_err)?
        .to_pyarrow(py)
}

/// The Arrow schema of the archive (`schemas/archive.json`), as `pyarrow.Schema`.
#[pyfunction]
fn archive_arrow_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    archive_schema().map_err(py_err)?.as_ref().to_pyarrow(py)
}

/// The Arrow schema of result table `table`, partition column included, as the Rust writers
/// build it from `schemas/<table>.json`.
#[pyfunction]
fn result_arrow_schema<'py>(py: Python<'py>, table: &str) -> PyResult<Bound<'py, PyAny>> {
    let definition = schema::table(table).map_err(py_err)?;
    definition.arrow_schema().as_ref().to_pyarrow(py)
}

/// The Arrow schema of any table (`archive` or a result table), as `pyarrow.Schema`: with
/// its partition column (as `replay_batch` returns the rows and readers see the dataset) or,
/// with `partition_column=False`, as its Parquet files store it.
#[pyfunction]
#[pyo3(signature = (table, partition_column = true))]
fn arrow_schema<'py>(
    py: Python<'py>,
    table: &str,
    partition_column: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let definition = schema::table(table).map_err(py_err)?;
    let schema = if partition_column {
        definition.arrow_schema()
    } else {
        definition.file_schema()
    };
    schema.as_ref().to_pyarrow(py)
}

/// The names of the columns of `table` that hold measurements (`"deterministic": false`).
#[pyfunction]
fn measured_columns(table: &str) -> PyResult<Vec<String>> {
    let definition = schema::table(table).map_err(py_err)?;
    Ok(definition
        .measured_columns()
        .into_iter()
        .map(str::to_owned)
        .collect())
}

/// The columns the rows of `table` are sorted by, in order.
#[pyfunction]
fn sort_key(table: &str) -> PyResult<Vec<String>> {
    Ok(schema::table(table).map_err(py_err)?.sort_key.clone())
}

/// The hive partition column of `table`, or `None` (the archive is not partitioned).
#[pyfunction]
fn partition_column(table: &str) -> PyResult<Option<String>> {
    Ok(schema::table(table)
        .map_err(py_err)?
        .partition_column
        .clone())
}

/// The `block_range` partition value of block `number` with partitions `partition_blocks`
/// wide, `SSSSSSSSSSS-EEEEEEEEEEE`, as both jobs name partitions.
#[pyfunction]
fn block_range(number: u64, partition_blocks: u64) -> PyResult<String> {
    if partition_blocks == 0 {
        return Err(PyValueError::new_err("partition_blocks must be at least 1"));
    }
    Ok(BlockRange::containing(number, partition_blocks).name())
}

/// The native module: `replay_batch`, the schemas it works with, the partition rule and the
/// engine's forks.
#[pymodule]
fn replay_evm_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // As the `replay-evm` binary: the memory a replay frees is kept for the next.
    replay_evm_dataset::allocator::keep_freed_memory();
    m.add_function(wrap_pyfunction!(replay_batch, m)?)?;
    m.add_function(wrap_pyfunction!(archive_arrow_schema, m)?)?;
    m.add_function(wrap_pyfunction!(result_arrow_schema, m)?)?;
    m.add_function(wrap_pyfunction!(arrow_schema, m)?)?;
    m.add_function(wrap_pyfunction!(measured_columns, m)?)?;
    m.add_function(wrap_pyfunction!(sort_key, m)?)?;
    m.add_function(wrap_pyfunction!(partition_column, m)?)?;
    m.add_function(wrap_pyfunction!(block_range, m)?)?;
    m.add_function(wrap_pyfunction!(summarise, m)?)?;
    m.add("ENGINE_VERSION", ENGINE_VERSION)?;
    m.add("SCHEMA_VERSION", SCHEMA_VERSION)?;
    // Every table (archive first), then the result tables, in output order.
    let tables: Vec<&str> = schema::tables()
        .map_err(py_err)?
        .iter()
        .map(|t| t.table.as_str())
        .collect();
    m.add("TABLES", tables)?;
    m.add("RESULT_TABLES", RESULT_TABLES.to_vec())?;
    // The forks the engine replays, oldest first, as the `fork` column names them.
    m.add("FORKS", Fork::ALL.map(Fork::name).to_vec())?;
    // Each summary figure's definition (weighting included), for headers and legends.
    let figures = PyDict::new(m.py());
    for (name, definition) in summary::FIGURES {
        figures.set_item(name, definition)?;
    }
    m.add("SUMMARY_FIGURES", figures)?;
    Ok(())
}
