//! The `blocks` table (`schemas/blocks.json`): one row per block, verified or not.

use arrow_array::{ArrayRef, RecordBatch};
use replay_evm::analysis::THREAD_COUNTS;

use crate::{
    DatasetError,
    archive::RowMeta,
    columns::{
        self, bins, bools, f64s, field, i32s, i64s, opt_bins, opt_bools, opt_f64s, opt_i32s,
        opt_i64s, opt_strs, strs,
    },
    schema::result_schema,
    tables::rows::{BlockOutput, BlockRow, Measured, ModeRow, ReplayRow, RunRow},
};

/// The `blocks` rows of `outputs`; `range` gives each block's `block_range` value.
pub(super) fn blocks_batch(
    outputs: &[BlockOutput],
    range: &dyn Fn(&RowMeta) -> String,
) -> Result<RecordBatch, DatasetError> {
    let schema = result_schema("blocks")?;
    let rows: Vec<&BlockRow> = outputs.iter().map(|o| &o.block).collect();
    let replay = |f: &dyn Fn(&ReplayRow) -> i64| -> Vec<Option<i64>> {
        rows.iter().map(|r| r.replay.as_ref().map(f)).collect()
    };
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        (
            "block_range",
            strs(&rows.iter().map(|r| range(&r.meta)).collect::<Vec<_>>()),
        ),
        (
            "block_number",
            i64s(rows.iter().map(|r| r.meta.number).collect()),
        ),
        (
            "block_hash",
            bins(
                &rows
                    .iter()
                    .map(|r| r.meta.hash.as_slice())
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "chain_id",
            i64s(rows.iter().map(|r| r.meta.chain_id).collect()),
        ),
        (
            "timestamp",
            i64s(rows.iter().map(|r| r.meta.timestamp).collect()),
        ),
        (
            "fork",
            strs(
                &rows
                    .iter()
                    .map(|r| r.meta.fork.as_str())
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "verified",
            bools(rows.iter().map(|r| r.error.is_none()).collect()),
        ),
        (
            "error_stage",
            opt_strs(
                &rows
                    .iter()
                    .map(|r| r.error.as_ref().map(|(s, _)| (*s).to_owned()))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "error",
            opt_strs(
                &rows
                    .iter()
                    .map(|r| r.error.as_ref().map(|(_, e)| e.clone()))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "tx_count",
            opt_i32s(rows.iter().map(|r| r.tx_count).collect()),
        ),
        (
            "gas_limit",
            opt_i64s(rows.iter().map(|r| r.gas_limit).collect()),
        ),
        ("gas_used", opt_i64s(replay(&|r| r.gas_used))),
        ("logs", opt_i64s(replay(&|r| r.logs))),
        (
            "receipts_root",
            opt_bins(
                &rows
                    .iter()
                    .map(|r| r.replay.as_ref().map(|p| p.receipts_root))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "receipts_root_checked",
            opt_bools(rows.iter().map(|r| r.receipts_root_checked).collect()),
        ),
        (
            "state_diff_hash",
            opt_bins(
                &rows
                    .iter()
                    .map(|r| r.replay.as_ref().map(|p| p.state_diff_hash))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "changed_accounts",
            opt_i64s(replay(&|r| r.changed_accounts)),
        ),
        ("changed_slots", opt_i64s(replay(&|r| r.changed_slots))),
        (
            "ommer_rewards_applied",
            opt_bools(
                rows.iter()
                    .map(|r| r.replay.as_ref().map(|p| p.ommer_rewards_applied))
                    .collect(),
            ),
        ),
    ];
    for (name, k) in [("reads", 0), ("writes", 1), ("credits", 2)] {
        columns.push((
            name,
            opt_i64s(rows.iter().map(|r| r.accesses.map(|a| a[k])).collect()),
        ));
    }
    for (mode, get) in [
        (
            "lazy",
            (|r: &BlockRow| r.lazy) as fn(&BlockRow) -> Option<ModeRow>,
        ),
        ("naive", |r: &BlockRow| r.naive),
    ] {
        let modes: Vec<Option<ModeRow>> = rows.iter().map(|r| get(r)).collect();
        let ints =
            |f: fn(&ModeRow) -> i64| opt_i64s(modes.iter().map(|m| m.as_ref().map(f)).collect());
        let floats = |f: &dyn Fn(&ModeRow) -> f64| {
            opt_f64s(modes.iter().map(|m| m.as_ref().map(f)).collect())
        };
        let names = mode_columns(mode);
        columns.push((names[0], ints(|m| m.edges)));
        columns.push((names[1], ints(|m| m.conflicting_txs)));
        columns.push((names[2], floats(&|m| m.conflict_rate)));
        columns.push((names[3], ints(|m| m.critical_path_gas)));
        columns.push((names[4], ints(|m| m.critical_path_txs)));
        columns.push((names[5], floats(&|m| m.theoretical_speedup)));
        for k in 0..THREAD_COUNTS.len() {
            columns.push((names[6 + k], floats(&|m| m.speedups[k])));
        }
        columns.push((names[10], ints(|m| m.hotspots)));
    }
    columns.push((
        "next_block_checked",
        bools(rows.iter().map(|r| r.next_block.checked).collect()),
    ));
    columns.push((
        "next_block_disagreements",
        opt_i32s(rows.iter().map(|r| r.next_block.disagreements).collect()),
    ));
    columns.push((
        "next_block_first_disagreement",
        opt_strs(
            &rows
                .iter()
                .map(|r| r.next_block.first_disagreement.clone())
                .collect::<Vec<_>>(),
        ),
    ));
    let measured =
        |f: fn(&Measured) -> Option<i64>| opt_i64s(rows.iter().map(|r| f(&r.measured)).collect());
    columns.push(("measured_decode_us", measured(|m| m.decode_us)));
    columns.push(("measured_sequential_us", measured(|m| m.sequential_us)));
    columns.push((
        "measured_repeats",
        opt_i32s(rows.iter().map(|r| r.measured.repeats).collect()),
    ));
    columns.push((
        "measured_sequential_spread",
        opt_f64s(rows.iter().map(|r| r.measured.sequential_spread).collect()),
    ));
    columns.push(("measured_analysis_us", measured(|m| m.analysis_us)));
    columns.push(("measured_total_us", measured(|m| m.total_us)));

    let runs_field = field(&schema, "measured_runs")?;
    let all_runs: Vec<&RunRow> = rows
        .iter()
        .flat_map(|r| r.measured.runs.iter().flatten())
        .collect();
    let run_items = columns::structs(
        &runs_field,
        vec![
            i32s(all_runs.iter().map(|r| r.threads).collect()),
            i64s(all_runs.iter().map(|r| r.wall_us).collect()),
            f64s(all_runs.iter().map(|r| r.speedup).collect()),
            f64s(all_runs.iter().map(|r| r.spread).collect()),
            i64s(all_runs.iter().map(|r| r.executions).collect()),
            i64s(all_runs.iter().map(|r| r.validations).collect()),
            i64s(all_runs.iter().map(|r| r.aborts).collect()),
            i64s(all_runs.iter().map(|r| r.suspensions).collect()),
        ],
    )?;
    let run_lengths: Vec<usize> = rows
        .iter()
        .map(|r| r.measured.runs.as_ref().map_or(0, Vec::len))
        .collect();
    let run_valid: Vec<bool> = rows.iter().map(|r| r.measured.runs.is_some()).collect();
    columns.push((
        "measured_runs",
        columns::list(&runs_field, &run_lengths, run_items, Some(run_valid))?,
    ));
    columns::batch(&schema, columns)
}

/// The eleven analysis column names of `mode`, in schema order.
fn mode_columns(mode: &str) -> [&'static str; 11] {
    match mode {
        "lazy" => [
            "lazy_edges",
            "lazy_conflicting_txs",
            "lazy_conflict_rate",
            "lazy_critical_path_gas",
            "lazy_critical_path_txs",
            "lazy_theoretical_speedup",
            "lazy_speedup_2",
            "lazy_speedup_4",
            "lazy_speedup_8",
            "lazy_speedup_16",
            "lazy_hotspots",
        ],
        _ => [
            "naive_edges",
            "naive_conflicting_txs",
            "naive_conflict_rate",
            "naive_critical_path_gas",
            "naive_critical_path_txs",
            "naive_theoretical_speedup",
            "naive_speedup_2",
            "naive_speedup_4",
            "naive_speedup_8",
            "naive_speedup_16",
            "naive_hotspots",
        ],
    }
}
