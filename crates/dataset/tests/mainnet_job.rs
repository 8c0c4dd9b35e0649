//! The job on the shared mainnet blocks: import them into an archive, run the job, read the
//! four datasets back and check them against the engine's own results; run it again with
//! other worker and thread counts and check that nothing but the measured columns changes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::{
    collections::BTreeMap,
    num::NonZeroUsize,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use arrow_array::{
    Array, BinaryArray, BooleanArray, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray,
};
use replay_evm::{
    analysis::{analyse, hotspots},
    block::ArchivedBlock,
    block_dir::load_block_dir,
    chain::ChainSpec,
    fixtures::mainnet_block_dirs,
    parallel::{Concurrency, ParallelEngine},
    sequential::replay_sequential,
    verify::receipts_root,
};
use replay_evm_dataset::{
    JobParams,
    archive::{Archive, ArchiveColumns, import_block_dirs, write_archive},
    job::{ArchiveSource, JobOptions, JobReport, run_job},
    schema::{self, RESULT_TABLES},
    tables::{read_table, without_measured},
};

struct Fixture {
    _dir: tempfile::TempDir,
    archive: PathBuf,
    blocks: Vec<ArchivedBlock>,
}

/// The mainnet archive, built once per test binary.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dirs = mainnet_block_dirs().unwrap_or_else(|e| panic!("{e}"));
        let (rows, failures) = import_block_dirs(&dirs, 1);
        assert!(failures.is_empty(), "{failures:?}");
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        write_archive(&archive, rows).unwrap();
        let blocks = dirs.iter().map(|d| load_block_dir(d, 1).unwrap()).collect();
        Fixture {
            _dir: dir,
            archive,
            blocks,
        }
    })
}

fn job(out: &Path, params: JobParams, workers: usize) -> JobReport {
    let options = JobOptions {
        archive: ArchiveSource::Dir(fixture().archive.clone()),
        out: out.to_owned(),
        params,
        workers,
        overwrite: false,
    };
    run_job(&options, &|_| {}).unwrap()
}

fn col<'a, T: Array + 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column {name} has another type"))
}

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn archive_rows_decode_to_the_loaded_blocks() {
    let fixture = fixture();
    let archive = Archive::open(&fixture.archive).unwrap();
    assert_eq!(archive.len(), 47);
    let batch = archive.read_range(0, u64::MAX).unwrap();
    let columns = ArchiveColumns::new(&batch).unwrap();
    assert_eq!(columns.len(), 47);
    let mut decoded: Vec<ArchivedBlock> = (0..columns.len())
        .map(|i| columns.row(i).unwrap().to_block().unwrap())
        .collect();
    decoded.sort_by_key(ArchivedBlock::number);
    let mut loaded = fixture.blocks.clone();
    loaded.sort_by_key(ArchivedBlock::number);
    assert!(
        decoded == loaded,
        "the archive does not give back the block folders"
    );
    // A range read returns exactly the blocks of the range.
    let some = archive.read_range(12_000_000, 12_999_999).unwrap();
    let numbers = col::<Int64Array>(&some, "number");
    let mut got: Vec<i64> = numbers.values().to_vec();
    got.sort_unstable();
    assert_eq!(
        got,
        [12047794, 12159808, 12243999, 12244000, 12520364, 12522062]
    );
}

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn mainnet_job_datasets_match_the_engine_and_do_not_depend_on_workers_or_threads() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let report = job(
        &first,
        JobParams {
            threads: vec![1, 2],
            partition_blocks: 10_000,
            reproducible: false,
        },
        2,
    );
    assert_eq!(report.blocks, 47);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.run_blocks, 47);

    let tables: BTreeMap<&str, Vec<RecordBatch>> = RESULT_TABLES
        .iter()
        .map(|t| (*t, read_table(&first, t).unwrap()))
        .collect();
    for (name, batches) in &tables {
        for batch in batches {
            assert_eq!(batch.schema(), schema::table(name).unwrap().arrow_schema());
        }
    }
    let blocks = arrow_select::concat::concat_batches(
        &schema::table("blocks").unwrap().arrow_schema(),
        &tables["blocks"],
    )
    .unwrap();
    assert_eq!(blocks.num_rows(), 47, "one blocks row per block");
    let numbers = col::<Int64Array>(&blocks, "block_number");
    let mut sorted: Vec<i64> = numbers.values().to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 47, "no duplicate block rows");

    let all = |name: &str| {
        arrow_select::concat::concat_batches(
            &schema::table(name).unwrap().arrow_schema(),
            &tables[name],
        )
        .unwrap()
    };
    let (txs, conflicts, hot) = (all("transactions"), all("conflicts"), all("hotspots"));

    let engine = ParallelEngine::new(NonZeroUsize::new(2).unwrap()).unwrap();
    let chain = ChainSpec::mainnet();
    for block in &fixture.blocks {
        let n = block.number() as i64;
        let row = (0..blocks.num_rows())
            .find(|&i| numbers.value(i) == n)
            .unwrap_or_else(|| panic!("no row for block {n}"));
        let seq = replay_sequential(block, &chain).unwrap();
        let par = engine
            .replay(block, &chain, Concurrency::Threads(NonZeroUsize::MIN))
            .unwrap();
        let analysis = analyse(&par.accesses());
        let range = format!("{:011}-{:011}", n - n % 10_000, n - n % 10_000 + 9_999);
        assert_eq!(col::<StringArray>(&blocks, "block_range").value(row), range);
        assert!(col::<BooleanArray>(&blocks, "verified").value(row), "{n}");
        assert!(col::<StringArray>(&blocks, "error").is_null(row));
        assert_eq!(
            col::<BinaryArray>(&blocks, "block_hash").value(row),
            block.hash.as_slice()
        );
        assert_eq!(
            col::<Int32Array>(&blocks, "tx_count").value(row) as usize,
            block.transactions().len()
        );
        assert_eq!(
            col::<Int64Array>(&blocks, "gas_used").value(row) as u64,
            seq.gas_used
        );
        assert_eq!(
            col::<BinaryArray>(&blocks, "receipts_root").value(row),
            receipts_root(&seq.receipts).as_slice()
        );
        assert_eq!(
            col::<BinaryArray>(&blocks, "state_diff_hash").value(row),
            seq.state_changes.hash().as_slice()
        );
        for (mode, summary) in [("lazy", &analysis.lazy), ("naive", &analysis.naive)] {
            let c = |s: &str| format!("{mode}_{s}");
            assert_eq!(
                col::<Float64Array>(&blocks, &c("conflict_rate")).value(row),
                summary.conflict_rate
            );
            assert_eq!(
                col::<Int64Array>(&blocks, &c("edges")).value(row) as usize,
                summary.edges
            );
            assert_eq!(
                col::<Int64Array>(&blocks, &c("critical_path_gas")).value(row) as u64,
                summary.critical_path.gas
            );
            assert_eq!(
                col::<Float64Array>(&blocks, &c("theoretical_speedup")).value(row),
                summary.theoretical_speedup
            );
            assert_eq!(
                Some(col::<Float64Array>(&blocks, &c("speedup_8")).value(row)),
                summary.speedup_at(8)
            );
            // conflicts: one row per edge, with its locations.
            let edges: Vec<usize> = (0..conflicts.num_rows())
                .filter(|&i| {
                    col::<Int64Array>(&conflicts, "block_number").value(i) == n
                        && col::<StringArray>(&conflicts, "mode").value(i) == mode
                })
                .collect();
            assert_eq!(edges.len(), summary.edges, "{n} {mode}");
            for (&i, edge) in edges.iter().zip(summary.graph.edges()) {
                assert_eq!(
                    col::<Int32Array>(&conflicts, "dependent_tx").value(i) as usize,
                    edge.dependent
                );
                assert_eq!(
                    col::<Int32Array>(&conflicts, "dependency_tx").value(i) as usize,
                    edge.dependency
                );
                let locations = col::<ListArray>(&conflicts, "locations").value(i);
                let locations = locations.as_any().downcast_ref::<StructArray>().unwrap();
                assert_eq!(locations.len(), edge.locations.len());
                let addresses = locations
                    .column(1)
                    .as_any()
                    .downcast_ref::<BinaryArray>()
                    .unwrap();
                for (k, location) in edge.locations.iter().enumerate() {
                    assert_eq!(addresses.value(k), location.address().as_slice());
                }
            }
            // hotspots: the full ranking.
            let ranked = hotspots(&summary.graph);
            let rows: Vec<usize> = (0..hot.num_rows())
                .filter(|&i| {
                    col::<Int64Array>(&hot, "block_number").value(i) == n
                        && col::<StringArray>(&hot, "mode").value(i) == mode
                })
                .collect();
            assert_eq!(rows.len(), ranked.len());
            for (&i, h) in rows.iter().zip(&ranked) {
                assert_eq!(col::<StringArray>(&hot, "kind").value(i), h.kind);
                assert_eq!(
                    col::<BinaryArray>(&hot, "address").value(i),
                    h.address.as_slice()
                );
                assert_eq!(
                    col::<Int64Array>(&hot, "edges").value(i) as usize,
                    h.dependencies
                );
            }
        }
        // transactions: one row per transaction, in order, with its trace.
        let rows: Vec<usize> = (0..txs.num_rows())
            .filter(|&i| col::<Int64Array>(&txs, "block_number").value(i) == n)
            .collect();
        assert_eq!(rows.len(), block.transactions().len());
        for ((k, &i), outcome) in rows.iter().enumerate().zip(&seq.transactions) {
            assert_eq!(col::<Int32Array>(&txs, "tx_index").value(i) as usize, k);
            assert_eq!(
                col::<BinaryArray>(&txs, "tx_hash").value(i),
                outcome.hash.as_slice()
            );
            assert_eq!(
                col::<BinaryArray>(&txs, "sender").value(i),
                outcome.sender.as_slice()
            );
            assert_eq!(
                col::<Int64Array>(&txs, "gas_used").value(i) as u64,
                outcome.gas_used
            );
            assert_eq!(
                col::<StringArray>(&txs, "status").value(i),
                outcome.status.as_str()
            );
            let trace = &par.traces[k];
            assert_eq!(
                col::<ListArray>(&txs, "reads").value(i).len(),
                trace.reads.len()
            );
            assert_eq!(
                col::<ListArray>(&txs, "writes").value(i).len(),
                trace.writes.len()
            );
            assert_eq!(
                col::<ListArray>(&txs, "credits").value(i).len(),
                trace.credits.len()
            );
            let deps = col::<ListArray>(&txs, "lazy_dependencies").value(i);
            let deps = deps.as_any().downcast_ref::<Int32Array>().unwrap();
            let want: Vec<i32> = analysis
                .lazy
                .graph
                .dependencies_of(k)
                .iter()
                .map(|d| *d as i32)
                .collect();
            assert_eq!(deps.values().to_vec(), want);
        }
    }

    // Determinism: other workers, other thread counts, everything else equal.
    let second = dir.path().join("second");
    let report = job(
        &second,
        JobParams {
            threads: vec![2],
            partition_blocks: 10_000,
            reproducible: false,
        },
        1,
    );
    assert_eq!(report.blocks, 47);
    for name in RESULT_TABLES {
        let a = read_table(&first, name).unwrap();
        let b = read_table(&second, name).unwrap();
        assert_eq!(a.len(), b.len(), "{name}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                without_measured(x, name).unwrap(),
                without_measured(y, name).unwrap(),
                "{name}: analysis columns differ between worker/thread counts"
            );
        }
    }
}
