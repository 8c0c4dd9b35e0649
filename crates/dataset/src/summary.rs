//! The summary of a results folder: per fork and in total, over its `blocks` table. One
//! definition of each figure, used by the job's printed table (`replay-evm job`), the
//! extension module (`replay_evm_native.summarise`) and through it the notebooks; each
//! figure's weighting is part of its definition ([`FIGURES`]) and is printed with it.
//!
//! The job reads the committed `blocks` files back (so a resumed job summarises every block,
//! not only its own); the notebooks pass the `blocks` table they read.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};

use replay_evm::analysis::THREAD_COUNTS;

use crate::{DatasetError, checkpoint::Checkpoint, parquet};

/// Every figure of the summary: its column name and its definition, weighting included.
/// The printed table's legend and the notebooks' headers come from here.
pub const FIGURES: [(&str, &str); 9] = [
    ("blocks", "blocks in the results (failed included)"),
    (
        "failed",
        "blocks that failed a step (decode, check, replay, verify, parallel)",
    ),
    ("txs", "transactions of the verified blocks"),
    ("gas", "gas used by the verified blocks"),
    (
        "lazy_conflict_rate",
        "Σ conflicting transactions / Σ transactions, with lazy updates (weighted by \
         transactions: busy blocks count more)",
    ),
    (
        "naive_conflict_rate",
        "Σ conflicting transactions / Σ transactions, without lazy updates (weighted by \
         transactions)",
    ),
    (
        "lazy_theoretical_speedup",
        "Σ gas / Σ lazy critical-path gas: unbounded workers (weighted by gas)",
    ),
    (
        "lazy_speedup_t",
        "Σ gas / Σ (gas / lazy list-schedule speedup on t workers), t = 2, 4, 8, 16: t \
         workers (weighted by gas)",
    ),
    (
        "measured_speedup",
        "Σ sequential time / Σ Block-STM time at each thread count, medians of each block's \
         timed rounds (weighted by time)",
    ),
];

/// The definition of figure `name` in [`FIGURES`] (empty for an unknown name).
pub fn definition(name: &str) -> &'static str {
    FIGURES
        .iter()
        .find(|(figure, _)| *figure == name)
        .map_or("", |(_, text)| text)
}

/// What the summary's rows group the blocks by (then one row of them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One row per fork, in activation order.
    Fork,
    /// One row per calendar year of the blocks' timestamps (UTC), in order.
    Year,
}

/// One line of the summary table: the blocks of one fork (or year), or all of them. The figures are
/// defined in [`FIGURES`].
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// The fork (or year), or `all`.
    pub label: String,
    /// Blocks.
    pub blocks: u64,
    /// Failed blocks.
    pub failed: u64,
    /// Transactions of the verified blocks.
    pub txs: u64,
    /// Gas of the verified blocks.
    pub gas: u64,
    /// Σ lazy conflicting transactions / Σ transactions of the verified blocks (NaN without
    /// transactions).
    pub lazy_conflict_rate: f64,
    /// Σ naive conflicting transactions / Σ transactions.
    pub naive_conflict_rate: f64,
    /// Σ gas / Σ lazy critical-path gas: the speedup of unbounded workers over the blocks.
    pub lazy_theoretical_speedup: f64,
    /// Σ gas / Σ (gas / lazy 4-worker list-schedule speedup).
    pub lazy_speedup_4: f64,
    /// The same at each worker count of [`replay_evm::analysis::THREAD_COUNTS`].
    pub lazy_list_speedups: Vec<(u32, f64)>,
    /// Measured speedup at each thread count: Σ sequential µs / Σ parallel µs (`None` when
    /// the results hold no measurements).
    pub measured_speedups: Vec<(i32, Option<f64>)>,
}

/// The summary of a set of `blocks` rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// One row per group (fork or year) in order, then `all`.
    pub rows: Vec<SummaryRow>,
    /// Blocks summarised.
    pub blocks: u64,
    /// Failed blocks: (number, stage, error), by number.
    pub failures: Vec<(i64, String, String)>,
}

/// Reads the committed `blocks` files of the results folder `out` back and summarises them.
///
/// # Errors
/// A committed file that cannot be read, or is not a `blocks` file.
pub(crate) fn summarise(out: &Path, checkpoint: &Checkpoint) -> Result<Summary, DatasetError> {
    let mut batches = Vec::new();
    for record in checkpoint.partitions.values() {
        if let Some(file) = record.files.get("blocks") {
            batches.extend(parquet::read_parquet(&out.join(&file.path))?.1);
        }
    }
    summarise_batches(&batches, Grouping::Fork)
}

#[derive(Default)]
struct Acc {
    blocks: u64,
    failed: u64,
    txs: u64,
    gas: u64,
    lazy_conflicting: u64,
    naive_conflicting: u64,
    cp_gas: f64,
    /// Per worker count of the list schedules: Σ gas / speedup.
    makespans: BTreeMap<u32, f64>,
    /// Per thread count: (Σ sequential µs, Σ parallel µs) over the measured blocks.
    runs: BTreeMap<i32, (f64, f64)>,
    measured: bool,
}

impl Acc {
    fn add(&mut self, other: &Acc) {
        self.blocks += other.blocks;
        self.failed += other.failed;
        self.txs += other.txs;
        self.gas += other.gas;
        self.lazy_conflicting += other.lazy_conflicting;
        self.naive_conflicting += other.naive_conflicting;
        self.cp_gas += other.cp_gas;
        for (t, m) in &other.makespans {
            *self.makespans.entry(*t).or_default() += m;
        }
        self.measured |= other.measured;
        for (t, (s, p)) in &other.runs {
            let entry = self.runs.entry(*t).or_default();
            entry.0 += s;
            entry.1 += p;
        }
    }

    fn list_speedup(&self, workers: u32) -> f64 {
        let makespan = self.makespans.get(&workers).copied().unwrap_or_default();
        self.gas as f64 / makespan.max(1.0)
    }

    fn row(&self, label: String) -> SummaryRow {
        // A group without transactions has no conflict rate (NaN, printed as `-`).
        let txs = if self.txs == 0 {
            f64::NAN
        } else {
            self.txs as f64
        };
        SummaryRow {
            label,
            blocks: self.blocks,
            failed: self.failed,
            txs: self.txs,
            gas: self.gas,
            lazy_conflict_rate: self.lazy_conflicting as f64 / txs,
            naive_conflict_rate: self.naive_conflicting as f64 / txs,
            lazy_theoretical_speedup: self.gas as f64 / self.cp_gas.max(1.0),
            lazy_speedup_4: self.list_speedup(4),
            lazy_list_speedups: THREAD_COUNTS
                .iter()
                .map(|&t| (t as u32, self.list_speedup(t as u32)))
                .collect(),
            measured_speedups: self
                .runs
                .iter()
                .map(|(t, (seq, par))| (*t, self.measured.then(|| seq / par.max(1.0))))
                .collect(),
        }
    }
}

/// Summarises `blocks` record batches (the columns of `schemas/blocks.json`; extra columns
/// are ignored): one row per fork in activation order, or per year, then `all`.
///
/// # Errors
/// [`DatasetError::Schema`] when a batch lacks a column the summary reads, or has it with
/// another type.
pub fn summarise_batches(batches: &[RecordBatch], by: Grouping) -> Result<Summary, DatasetError> {
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut blocks = 0;
    for batch in batches {
        macro_rules! typed {
            ($name:expr, $t:ty) => {
                batch
                    .column_by_name($name)
                    .ok_or_else(|| DatasetError::Schema(format!("blocks has no `{}`", $name)))?
                    .as_any()
                    .downcast_ref::<$t>()
                    .ok_or_else(|| {
                        DatasetError::Schema(format!("blocks.{} has another type", $name))
                    })?
            };
        }
        let number = typed!("block_number", Int64Array);
        let fork = typed!("fork", StringArray);
        let verified = typed!("verified", BooleanArray);
        let stage = typed!("error_stage", StringArray);
        let error = typed!("error", StringArray);
        let txs = typed!("tx_count", Int32Array);
        let gas = typed!("gas_used", Int64Array);
        let lazy_conflicting = typed!("lazy_conflicting_txs", Int64Array);
        let naive_conflicting = typed!("naive_conflicting_txs", Int64Array);
        let cp = typed!("lazy_critical_path_gas", Int64Array);
        let timestamp = typed!("timestamp", Int64Array);
        let mut list_speedups = Vec::with_capacity(THREAD_COUNTS.len());
        for t in THREAD_COUNTS {
            list_speedups.push((t as u32, typed!(&format!("lazy_speedup_{t}"), Float64Array)));
        }
        let seq = typed!("measured_sequential_us", Int64Array);
        let runs = typed!("measured_runs", ListArray);
        for i in 0..batch.num_rows() {
            blocks += 1;
            let key = match by {
                Grouping::Fork => fork.value(i).to_owned(),
                Grouping::Year => year_of(timestamp.value(i)).to_string(),
            };
            let acc = groups.entry(key).or_default();
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
            acc.lazy_conflicting += lazy_conflicting.value(i).max(0) as u64;
            acc.naive_conflicting += naive_conflicting.value(i).max(0) as u64;
            acc.cp_gas += cp.value(i) as f64;
            for (t, speedup) in &list_speedups {
                *acc.makespans.entry(*t).or_default() += g as f64 / speedup.value(i).max(1e-12);
            }
            if runs.is_valid(i) && seq.is_valid(i) {
                acc.measured = true;
                let list = runs.value(i);
                if let Some(items) = list.as_any().downcast_ref::<StructArray>() {
                    let threads = items
                        .column_by_name("threads")
                        .and_then(|c| c.as_any().downcast_ref::<Int32Array>());
                    let wall = items
                        .column_by_name("wall_us")
                        .and_then(|c| c.as_any().downcast_ref::<Int64Array>());
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
    let mut total = Acc::default();
    let mut rows = Vec::new();
    // Forks in activation order (a name the engine does not know last); years in order.
    let mut ordered: Vec<(&String, &Acc)> = groups.iter().collect();
    ordered.sort_by_key(|(name, _)| match by {
        Grouping::Fork => (
            name.parse::<replay_evm::chain::Fork>()
                .map_or(usize::MAX, |f| f as usize),
            0,
        ),
        Grouping::Year => (0, name.parse::<i64>().unwrap_or(i64::MAX)),
    });
    for (label, acc) in ordered {
        rows.push(acc.row(label.clone()));
        total.add(acc);
    }
    rows.push(total.row("all".to_owned()));
    failures.sort();
    Ok(Summary {
        rows,
        blocks,
        failures,
    })
}

/// The calendar year (UTC) of a Unix timestamp in seconds.
fn year_of(timestamp: i64) -> i64 {
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar), in 400-year
    // eras of 146 097 days.
    let days = timestamp.div_euclid(86_400) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // March = 0
    year_of_era + era * 400 + i64::from(month_index >= 10)
}

/// A column of the summary batch: its name and how a row gives its value.
type Column<T> = (&'static str, fn(&SummaryRow) -> T);

/// The summary as one Arrow record batch, a row per [`SummaryRow`]: `label` (the fork or
/// year, or `all`), the counts and figures of [`FIGURES`] under their names,
/// `lazy_speedup_<t>` for each worker count and `measured_speedup_<t>` for each thread count
/// measured (null where not measured).
///
/// # Errors
/// Only on a bug (columns of unequal length).
pub fn summary_batch(summary: &Summary) -> Result<RecordBatch, DatasetError> {
    let rows = &summary.rows;
    let threads: Vec<i32> = {
        let mut all: Vec<i32> = rows
            .iter()
            .flat_map(|r| r.measured_speedups.iter().map(|(t, _)| *t))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let mut fields = vec![Field::new("label", DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
        rows.iter().map(|r| r.label.as_str()),
    ))];
    let counts: [Column<u64>; 4] = [
        ("blocks", |r| r.blocks),
        ("failed", |r| r.failed),
        ("txs", |r| r.txs),
        ("gas", |r| r.gas),
    ];
    for (name, get) in counts {
        fields.push(Field::new(name, DataType::UInt64, false));
        columns.push(Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(get),
        )));
    }
    let figures: [Column<f64>; 3] = [
        ("lazy_conflict_rate", |r| r.lazy_conflict_rate),
        ("naive_conflict_rate", |r| r.naive_conflict_rate),
        ("lazy_theoretical_speedup", |r| r.lazy_theoretical_speedup),
    ];
    for (name, get) in figures {
        fields.push(Field::new(name, DataType::Float64, false));
        columns.push(Arc::new(Float64Array::from_iter_values(
            rows.iter().map(get),
        )));
    }
    for t in THREAD_COUNTS {
        fields.push(Field::new(
            format!("lazy_speedup_{t}"),
            DataType::Float64,
            false,
        ));
        columns.push(Arc::new(Float64Array::from_iter_values(rows.iter().map(
            |r| {
                r.lazy_list_speedups
                    .iter()
                    .find(|(workers, _)| *workers as usize == t)
                    .map_or(0.0, |(_, s)| *s)
            },
        ))));
    }
    for t in threads {
        fields.push(Field::new(
            format!("measured_speedup_{t}"),
            DataType::Float64,
            true,
        ));
        columns.push(Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
            r.measured_speedups
                .iter()
                .find(|(threads, _)| *threads == t)
                .and_then(|(_, s)| *s)
        }))));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use arrow_array::builder::{Int32Builder, Int64Builder, ListBuilder, StructBuilder};
    use arrow_schema::Fields;

    use super::*;

    /// A `blocks` batch with only the columns the summary reads: (fork, verified, txs, gas,
    /// lazy conflicting, naive conflicting, critical path gas, speedup at 4, sequential µs,
    /// [(threads, wall µs)]).
    type Block = (
        &'static str,
        bool,
        i32,
        i64,
        i32,
        i32,
        i64,
        f64,
        i64,
        Vec<(i32, i64)>,
    );

    fn batch(blocks: &[Block]) -> RecordBatch {
        let run_fields = Fields::from(vec![
            Field::new("threads", DataType::Int32, false),
            Field::new("wall_us", DataType::Int64, false),
        ]);
        let mut runs = ListBuilder::new(StructBuilder::new(
            run_fields.clone(),
            vec![Box::new(Int32Builder::new()), Box::new(Int64Builder::new())],
        ));
        for block in blocks {
            for (threads, wall) in &block.9 {
                let item = runs.values();
                item.field_builder::<Int32Builder>(0)
                    .unwrap()
                    .append_value(*threads);
                item.field_builder::<Int64Builder>(1)
                    .unwrap()
                    .append_value(*wall);
                item.append(true);
            }
            runs.append(true);
        }
        let n = blocks.len() as i64;
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("block_number", Arc::new(Int64Array::from_iter_values(0..n))),
            (
                "fork",
                Arc::new(StringArray::from_iter_values(blocks.iter().map(|b| b.0))),
            ),
            (
                "verified",
                Arc::new(BooleanArray::from_iter(blocks.iter().map(|b| Some(b.1)))),
            ),
            (
                "error_stage",
                Arc::new(StringArray::from_iter_values(blocks.iter().map(|_| ""))),
            ),
            (
                "error",
                Arc::new(StringArray::from_iter_values(blocks.iter().map(|_| ""))),
            ),
            (
                "tx_count",
                Arc::new(Int32Array::from_iter_values(blocks.iter().map(|b| b.2))),
            ),
            (
                "gas_used",
                Arc::new(Int64Array::from_iter_values(blocks.iter().map(|b| b.3))),
            ),
            (
                "lazy_conflicting_txs",
                Arc::new(Int64Array::from_iter_values(
                    blocks.iter().map(|b| i64::from(b.4)),
                )),
            ),
            (
                "naive_conflicting_txs",
                Arc::new(Int64Array::from_iter_values(
                    blocks.iter().map(|b| i64::from(b.5)),
                )),
            ),
            (
                "lazy_critical_path_gas",
                Arc::new(Int64Array::from_iter_values(blocks.iter().map(|b| b.6))),
            ),
            (
                "lazy_speedup_2",
                Arc::new(Float64Array::from_iter_values(
                    blocks.iter().map(|b| b.7.min(2.0)),
                )),
            ),
            (
                "lazy_speedup_4",
                Arc::new(Float64Array::from_iter_values(blocks.iter().map(|b| b.7))),
            ),
            (
                "lazy_speedup_8",
                Arc::new(Float64Array::from_iter_values(blocks.iter().map(|b| b.7))),
            ),
            (
                "lazy_speedup_16",
                Arc::new(Float64Array::from_iter_values(blocks.iter().map(|b| b.7))),
            ),
            (
                "timestamp",
                // One block a year from 2016 on (1 451 606 400 is 2016-01-01T00:00:00Z).
                Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|k| 1_451_606_400 + k * 366 * 86_400),
                )),
            ),
            (
                "measured_sequential_us",
                Arc::new(Int64Array::from_iter_values(blocks.iter().map(|b| b.8))),
            ),
            ("measured_runs", Arc::new(runs.finish())),
        ];
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn conflict_rates_weigh_transactions_and_speedups_weigh_gas_and_time() {
        // A 1-transaction block that conflicts fully and a 9-transaction block without
        // conflicts: the per-block mean would be 0.5; over the transactions it is 0.1.
        let batch = batch(&[
            (
                "Cancun",
                true,
                1,
                1_000,
                1,
                1,
                1_000,
                1.0,
                100,
                vec![(2, 100)],
            ),
            (
                "Cancun",
                true,
                9,
                9_000,
                0,
                9,
                1_000,
                4.0,
                900,
                vec![(2, 300)],
            ),
            ("Cancun", false, 5, 0, 0, 0, 0, 0.0, 0, vec![]),
        ]);
        let summary = summarise_batches(&[batch], Grouping::Fork).unwrap();
        assert_eq!(summary.blocks, 3);
        assert_eq!(summary.failures.len(), 1);
        let [cancun, all] = &summary.rows[..] else {
            panic!("{:?}", summary.rows)
        };
        assert_eq!(cancun.label, "Cancun");
        assert_eq!(
            (cancun.blocks, cancun.failed, cancun.txs, cancun.gas),
            (3, 1, 10, 10_000)
        );
        assert!((cancun.lazy_conflict_rate - 0.1).abs() < 1e-12);
        assert!((cancun.naive_conflict_rate - 1.0).abs() < 1e-12);
        // Σ gas / Σ critical path: 10 000 / 2 000.
        assert!((cancun.lazy_theoretical_speedup - 5.0).abs() < 1e-12);
        // Σ gas / Σ gas/speedup: 10 000 / (1 000 + 2 250).
        assert!((cancun.lazy_speedup_4 - 10_000.0 / 3_250.0).abs() < 1e-9);
        // Σ sequential / Σ parallel: 1 000 / 400, not the mean of 1.0 and 3.0.
        assert_eq!(cancun.measured_speedups, vec![(2, Some(2.5))]);
        assert_eq!(all.label, "all");
        assert_eq!(all.lazy_conflict_rate, cancun.lazy_conflict_rate);
    }

    #[test]
    fn forks_come_in_activation_order_and_the_batch_names_every_figure() {
        let batch = batch(&[
            (
                "Cancun",
                true,
                2,
                100,
                0,
                0,
                100,
                1.0,
                10,
                vec![(1, 10), (4, 5)],
            ),
            (
                "Frontier",
                true,
                2,
                100,
                2,
                2,
                100,
                1.0,
                10,
                vec![(1, 10), (4, 5)],
            ),
        ]);
        let summary = summarise_batches(&[batch], Grouping::Fork).unwrap();
        let labels: Vec<&str> = summary.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["Frontier", "Cancun", "all"]);
        let table = summary_batch(&summary).unwrap();
        let schema = table.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        for (figure, definition) in FIGURES {
            assert!(!definition.is_empty());
            if !figure.ends_with("speedup_t") && figure != "measured_speedup" {
                assert!(names.contains(&figure), "{figure} not in {names:?}");
            }
        }
        for column in [
            "lazy_speedup_2",
            "lazy_speedup_16",
            "measured_speedup_1",
            "measured_speedup_4",
        ] {
            assert!(names.contains(&column), "{column} not in {names:?}");
        }
    }

    #[test]
    fn years_group_by_the_utc_calendar() {
        assert_eq!(year_of(0), 1970);
        assert_eq!(year_of(1_438_269_988), 2015); // mainnet's block 1
        assert_eq!(year_of(1_451_606_399), 2015); // 2015-12-31T23:59:59Z
        assert_eq!(year_of(1_451_606_400), 2016);
        assert_eq!(year_of(1_709_251_199), 2024); // 2024-02-29T23:59:59Z
        assert_eq!(year_of(1_735_689_599), 2024); // 2024-12-31T23:59:59Z
        assert_eq!(year_of(1_735_689_600), 2025);
        let batch = batch(&[
            ("Homestead", true, 2, 100, 1, 2, 100, 1.0, 10, vec![]),
            ("Homestead", true, 2, 100, 0, 2, 100, 1.0, 10, vec![]),
            ("Byzantium", true, 4, 100, 1, 4, 100, 1.0, 10, vec![]),
        ]);
        let summary = summarise_batches(&[batch], Grouping::Year).unwrap();
        let rows: Vec<(&str, u64, f64)> = summary
            .rows
            .iter()
            .map(|r| (r.label.as_str(), r.txs, r.lazy_conflict_rate))
            .collect();
        assert_eq!(
            rows,
            [
                ("2016", 2, 0.5),
                ("2017", 2, 0.0),
                ("2018", 4, 0.25),
                ("all", 8, 0.25)
            ]
        );
    }

    #[test]
    fn a_batch_without_a_column_is_a_schema_error() {
        let batch = batch(&[("Cancun", true, 1, 1, 0, 0, 1, 1.0, 1, vec![])]);
        let without = batch.project(&[0, 1, 2]).unwrap();
        let err = summarise_batches(&[without], Grouping::Fork).unwrap_err();
        assert!(
            err.to_string().contains("blocks has no `error_stage`"),
            "{err}"
        );
    }
}
