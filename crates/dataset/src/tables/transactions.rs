//! The `transactions` table (`schemas/transactions.json`): one row per transaction of a
//! verified block, with its reads, writes, credits and dependencies.

use arrow_array::RecordBatch;

use crate::{
    DatasetError,
    archive::RowMeta,
    columns::{self, bins, bools, field, i32s, i64s, opt_bins, opt_i32s, opt_i64s, opt_strs, strs},
    schema::result_schema,
    tables::{
        lists::{int_list, location_list},
        rows::{BlockOutput, LocRow, flatten},
    },
};

/// The `transactions` rows of `outputs`; `range` gives each block's `block_range` value.
pub(super) fn transactions_batch(
    outputs: &[BlockOutput],
    range: &dyn Fn(&RowMeta) -> String,
) -> Result<RecordBatch, DatasetError> {
    let schema = result_schema("transactions")?;
    let (ranges, numbers, txs) = flatten(outputs, range, |o| &o.txs);
    let reads: Vec<Vec<LocRow>> = txs
        .iter()
        .map(|t| t.reads.iter().map(|(l, _)| *l).collect())
        .collect();
    let origins: Vec<Vec<Option<i32>>> = txs
        .iter()
        .map(|t| t.reads.iter().map(|(_, o)| *o).collect())
        .collect();
    let writes: Vec<Vec<LocRow>> = txs.iter().map(|t| t.writes.clone()).collect();
    let credits: Vec<Vec<LocRow>> = txs.iter().map(|t| t.credits.clone()).collect();
    let lazy: Vec<&Vec<i32>> = txs.iter().map(|t| &t.lazy_dependencies).collect();
    let naive: Vec<&Vec<i32>> = txs.iter().map(|t| &t.naive_dependencies).collect();
    let columns = vec![
        ("block_range", strs(&ranges)),
        ("block_number", i64s(numbers)),
        ("tx_index", i32s(txs.iter().map(|t| t.index).collect())),
        (
            "tx_hash",
            bins(&txs.iter().map(|t| t.hash).collect::<Vec<_>>()),
        ),
        (
            "sender",
            bins(&txs.iter().map(|t| t.sender).collect::<Vec<_>>()),
        ),
        (
            "to",
            opt_bins(&txs.iter().map(|t| t.to).collect::<Vec<_>>()),
        ),
        ("tx_type", i32s(txs.iter().map(|t| t.tx_type).collect())),
        (
            "status",
            strs(&txs.iter().map(|t| t.status).collect::<Vec<_>>()),
        ),
        (
            "halt_reason",
            opt_strs(
                &txs.iter()
                    .map(|t| t.halt_reason.clone())
                    .collect::<Vec<_>>(),
            ),
        ),
        ("gas_limit", i64s(txs.iter().map(|t| t.gas_limit).collect())),
        ("gas_used", i64s(txs.iter().map(|t| t.gas_used).collect())),
        ("logs", i32s(txs.iter().map(|t| t.logs).collect())),
        (
            "reads",
            location_list(&field(&schema, "reads")?, &reads, Some(&origins))?,
        ),
        (
            "writes",
            location_list(&field(&schema, "writes")?, &writes, None)?,
        ),
        (
            "credits",
            location_list(&field(&schema, "credits")?, &credits, None)?,
        ),
        (
            "lazy_dependencies",
            int_list(&field(&schema, "lazy_dependencies")?, &lazy)?,
        ),
        (
            "naive_dependencies",
            int_list(&field(&schema, "naive_dependencies")?, &naive)?,
        ),
        (
            "on_critical_path",
            bools(txs.iter().map(|t| t.on_critical_path).collect()),
        ),
        (
            "measured_incarnations",
            opt_i32s(txs.iter().map(|t| t.incarnations).collect()),
        ),
        (
            "measured_exec_us",
            opt_i64s(txs.iter().map(|t| t.exec_us).collect()),
        ),
    ];
    columns::batch(&schema, columns)
}
