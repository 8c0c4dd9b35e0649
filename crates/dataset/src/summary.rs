//! The summary a job prints: per fork and in total, read back from the committed `blocks`
//! files of a results folder (so a resumed job summarises every block, not only its own).

use std::{collections::BTreeMap, path::Path};

use arrow_array::{
    Array, BooleanArray, Float64Array, Int32Array, Int64Array, ListArray, StringArray, StructArray,
};

use crate::{DatasetError, checkpoint::Checkpoint, parquet};

/// One line of the summary table: the blocks of one fork, or all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// The fork, or `all`.
    pub label: String,
    /// Blocks.
    pub blocks: u64,
    /// Failed blocks.
    pub failed: u64,
    /// Transactions of the verified blocks.
    pub txs: u64,
    /// Gas of the verified blocks.
    pub gas: u64,
    /// Mean lazy conflict rate of the verified blocks.
    pub lazy_conflict_rate: f64,
    /// Mean naive conflict rate.
    pub naive_conflict_rate: f64,
    /// Σ gas / Σ lazy critical-path gas: the speedup of unbounded workers over the blocks.
    pub lazy_theoretical_speedup: f64,
    /// Σ gas / Σ (gas / lazy 4-worker list-schedule speedup).
    pub lazy_speedup_4: f64,
    /// Measured speedup at each thread count: Σ sequential µs / Σ parallel µs (`None` when
    /// the results hold no measurements).
    pub measured_speedups: Vec<(i32, Option<f64>)>,
}

/// The summary rows, the number of blocks, and the failures (number, stage, error).
pub(crate) type Summarised = (Vec<SummaryRow>, u64, Vec<(i64, String, String)>);

/// Reads the committed `blocks` files back for the summary.
pub(crate) fn summarise(out: &Path, checkpoint: &Checkpoint) -> Result<Summarised, DatasetError> {
    #[derive(Default)]
    struct Acc {
        blocks: u64,
        failed: u64,
        txs: u64,
        gas: u64,
        lazy_rate: f64,
        naive_rate: f64,
        cp_gas: f64,
        makespan4: f64,
        sequential_us: f64,
        runs: BTreeMap<i32, (f64, f64)>,
        measured: bool,
    }
    let mut by_fork: BTreeMap<String, Acc> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut blocks = 0;
    for record in checkpoint.partitions.values() {
        let Some(file) = record.files.get("blocks") else {
            continue;
        };
        let (_, batches) = parquet::read_parquet(&out.join(&file.path))?;
        for batch in &batches {
            let col = |name: &str| {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| DatasetError::Schema(format!("blocks has no `{name}`")))
            };
            let downcast =
                |name: &str| -> Result<&dyn Array, DatasetError> { Ok(col(name)?.as_ref()) };
            macro_rules! typed {
                ($name:expr, $t:ty) => {
                    downcast($name)?
                        .as_any()
                        .downcast_ref::<$t>()
                        .ok_or_else(|| DatasetError::Schema(format!("blocks.{}", $name)))?
                };
            }
            let number = typed!("block_number", Int64Array);
            let fork = typed!("fork", StringArray);
            let verified = typed!("verified", BooleanArray);
            let stage = typed!("error_stage", StringArray);
            let error = typed!("error", StringArray);
            let txs = typed!("tx_count", Int32Array);
            let gas = typed!("gas_used", Int64Array);
            let lazy_rate = typed!("lazy_conflict_rate", Float64Array);
            let naive_rate = typed!("naive_conflict_rate", Float64Array);
            let cp = typed!("lazy_critical_path_gas", Int64Array);
            let s4 = typed!("lazy_speedup_4", Float64Array);
            let seq = typed!("measured_sequential_us", Int64Array);
            let runs = typed!("measured_runs", ListArray);
            for i in 0..batch.num_rows() {
                blocks += 1;
                let acc = by_fork.entry(fork.value(i).to_owned()).or_default();
                acc.blocks += 1;
                if !verified.value(i) {
                    acc.failed += 1;
                    failures.push((
                        number.value(i),
                        stage.value(i).to_owned(),
                        error.value(i).to_owned(),
                    ));
                    continue;
                }
                let g = gas.value(i).max(0) as u64;
                acc.txs += txs.value(i).max(0) as u64;
                acc.gas += g;
                acc.lazy_rate += lazy_rate.value(i);
                acc.naive_rate += naive_rate.value(i);
                acc.cp_gas += cp.value(i) as f64;
                acc.makespan4 += g as f64 / s4.value(i).max(1e-12);
                if runs.is_valid(i) && seq.is_valid(i) {
                    acc.measured = true;
                    acc.sequential_us += seq.value(i) as f64;
                    let list = runs.value(i);
                    if let Some(items) = list.as_any().downcast_ref::<StructArray>() {
                        let threads = items.column(0).as_any().downcast_ref::<Int32Array>();
                        let wall = items.column(1).as_any().downcast_ref::<Int64Array>();
                        if let (Some(threads), Some(wall)) = (threads, wall) {
                            for k in 0..items.len() {
                                let entry = acc.runs.entry(threads.value(k)).or_default();
                                entry.0 += seq.value(i) as f64;
                                entry.1 += wall.value(k) as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    let row = |label: String, acc: &Acc| {
        let ok = (acc.blocks - acc.failed).max(1) as f64;
        SummaryRow {
            label,
            blocks: acc.blocks,
            failed: acc.failed,
            txs: acc.txs,
            gas: acc.gas,
            lazy_conflict_rate: acc.lazy_rate / ok,
            naive_conflict_rate: acc.naive_rate / ok,
            lazy_theoretical_speedup: acc.gas as f64 / acc.cp_gas.max(1.0),
            lazy_speedup_4: acc.gas as f64 / acc.makespan4.max(1.0),
            measured_speedups: acc
                .runs
                .iter()
                .map(|(t, (seq, par))| (*t, acc.measured.then(|| seq / par.max(1.0))))
                .collect(),
        }
    };
    let mut total = Acc::default();
    let mut rows = Vec::new();
    // Forks in activation order.
    let mut forks: Vec<(&String, &Acc)> = by_fork.iter().collect();
    forks.sort_by_key(|(name, _)| {
        name.parse::<replay_evm::chain::Fork>()
            .map_or(usize::MAX, |f| f as usize)
    });
    for (fork, acc) in forks {
        rows.push(row(fork.clone(), acc));
        total.blocks += acc.blocks;
        total.failed += acc.failed;
        total.txs += acc.txs;
        total.gas += acc.gas;
        total.lazy_rate += acc.lazy_rate;
        total.naive_rate += acc.naive_rate;
        total.cp_gas += acc.cp_gas;
        total.makespan4 += acc.makespan4;
        total.measured |= acc.measured;
        for (t, (s, p)) in &acc.runs {
            let entry = total.runs.entry(*t).or_default();
            entry.0 += s;
            entry.1 += p;
        }
    }
    rows.push(row("all".to_owned(), &total));
    failures.sort();
    Ok((rows, blocks, failures))
}
