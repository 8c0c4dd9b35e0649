//! The per-partition function on its own: input order does not matter, `reproducible` nulls
//! exactly the measured columns, a small block's timings are repeated medians, and a batch
//! that is not an archive batch is an error, not a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::{num::NonZeroUsize, sync::Arc};

use arrow_array::{
    Array, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch, StructArray,
};
use replay_evm::{fixtures::fixtures_dir, parallel::ParallelEngine};
use replay_evm_dataset::{
    BlockRange, DatasetError, JobParams,
    archive::{import_block_dirs, rows_to_batch},
    replay_batch,
    schema::{self, RESULT_TABLES},
};

fn rows() -> Vec<replay_evm_dataset::archive::ArchiveRow> {
    let root = fixtures_dir()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("mainnet");
    let dirs: Vec<_> = [46147, 930196, 4864590, 12244000]
        .iter()
        .map(|n: &u64| root.join(n.to_string()))
        .collect();
    let (rows, failures) = import_block_dirs(&dirs, 1);
    assert!(failures.is_empty(), "{failures:?}");
    rows
}

#[test]
fn replay_batch_output_does_not_depend_on_input_order_and_reproducible_nulls_measurements() {
    let rows = rows();
    let mut shuffled = rows.clone();
    shuffled.reverse();
    shuffled.swap(0, 2);
    let engine = ParallelEngine::new(NonZeroUsize::new(2).unwrap()).unwrap();
    let params = JobParams {
        threads: vec![2, 1],
        partition_blocks: 1_000_000,
        reproducible: true,
    };
    let a = replay_batch(&rows_to_batch(&rows).unwrap(), &params, &engine).unwrap();
    let b = replay_batch(&rows_to_batch(&shuffled).unwrap(), &params, &engine).unwrap();
    for name in RESULT_TABLES {
        let (x, y) = (a.get(name).unwrap(), b.get(name).unwrap());
        assert_eq!(x, y, "{name}");
        for measured in schema::table(name).unwrap().measured_columns() {
            let column = x.column_by_name(measured).unwrap();
            assert_eq!(column.null_count(), column.len(), "{name}.{measured}");
        }
    }
    let numbers = a.blocks.column_by_name("block_number").unwrap();
    let numbers = numbers.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(
        numbers.values().to_vec(),
        [46147, 930196, 4864590, 12244000]
    );
    let range = BlockRange::containing(12_244_000, 1_000_000);
    assert_eq!(range.name(), "00012000000-00012999999");
    assert_eq!(BlockRange::parse(&range.name()), Some(range));

    // Without `reproducible`, the measured columns are filled.
    let measured = replay_batch(
        &rows_to_batch(&rows).unwrap(),
        &JobParams {
            reproducible: false,
            ..params
        },
        &engine,
    )
    .unwrap();
    let runs = measured.blocks.column_by_name("measured_runs").unwrap();
    assert_eq!(runs.null_count(), 0);

    // Block 46147 has one transaction: far below 20 ms a round, so its timings are repeated
    // (RepeatPolicy::JOB: until 20 ms in all, at most 50 rounds), and what the columns hold
    // is consistent: a speedup from the two medians, spreads that are ratios.
    let blocks = &measured.blocks;
    let int = |name: &str| {
        blocks
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
            .unwrap_or_else(|| panic!("{name}"))
    };
    let repeats = blocks
        .column_by_name("measured_repeats")
        .and_then(|c| c.as_any().downcast_ref::<Int32Array>().cloned())
        .unwrap();
    let spread = blocks
        .column_by_name("measured_sequential_spread")
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>().cloned())
        .unwrap();
    let numbers = int("block_number");
    let tiny = (0..numbers.len())
        .find(|&i| numbers.value(i) == 46147)
        .unwrap();
    assert!(
        (2..=50).contains(&repeats.value(tiny)),
        "a 1-transaction block is repeated: {}",
        repeats.value(tiny)
    );
    assert!(spread.value(tiny) >= 0.0);
    let sequential_us = int("measured_sequential_us").value(tiny);
    let runs = runs
        .as_any()
        .downcast_ref::<ListArray>()
        .unwrap()
        .value(tiny);
    let runs = runs.as_any().downcast_ref::<StructArray>().unwrap();
    let column = |name: &str| runs.column_by_name(name).unwrap().clone();
    let wall = column("wall_us");
    let wall = wall.as_any().downcast_ref::<Int64Array>().unwrap();
    let speedup = column("speedup");
    let speedup = speedup.as_any().downcast_ref::<Float64Array>().unwrap();
    let run_spread = column("spread");
    let run_spread = run_spread.as_any().downcast_ref::<Float64Array>().unwrap();
    for k in 0..runs.len() {
        let expected = sequential_us as f64 / wall.value(k).max(1) as f64;
        assert!((speedup.value(k) - expected).abs() < 1e-9);
        assert!(run_spread.value(k) >= 0.0);
    }
}

#[test]
fn a_batch_that_is_not_an_archive_batch_is_an_error() {
    let engine = ParallelEngine::new(NonZeroUsize::MIN).unwrap();
    let batch = RecordBatch::try_from_iter([(
        "number",
        Arc::new(Int64Array::from(vec![1i64])) as Arc<dyn Array>,
    )])
    .unwrap();
    let error = replay_batch(&batch, &JobParams::default(), &engine).unwrap_err();
    assert!(matches!(error, DatasetError::Schema(_)), "{error}");
    let bad = JobParams {
        threads: vec![],
        ..JobParams::default()
    };
    let archive = rows_to_batch(&rows()[..1]).unwrap();
    assert!(matches!(
        replay_batch(&archive, &bad, &engine),
        Err(DatasetError::Usage(_))
    ));
}
