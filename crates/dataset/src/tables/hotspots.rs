//! The `hotspots` table (`schemas/hotspots.json`): the ranked locations of a verified block's
//! conflicts, in each mode.

use arrow_array::RecordBatch;

use crate::{
    DatasetError,
    archive::RowMeta,
    columns::{self, bins, i32s, i64s, opt_bins, strs},
    schema::result_schema,
    tables::rows::{BlockOutput, flatten},
};

/// The `hotspots` rows of `outputs`; `range` gives each block's `block_range` value.
pub(super) fn hotspots_batch(
    outputs: &[BlockOutput],
    range: &dyn Fn(&RowMeta) -> String,
) -> Result<RecordBatch, DatasetError> {
    let schema = result_schema("hotspots")?;
    let (ranges, numbers, hot) = flatten(outputs, range, |o| &o.hot);
    let columns = vec![
        ("block_range", strs(&ranges)),
        ("block_number", i64s(numbers)),
        (
            "mode",
            strs(&hot.iter().map(|h| h.mode).collect::<Vec<_>>()),
        ),
        ("rank", i32s(hot.iter().map(|h| h.rank).collect())),
        (
            "kind",
            strs(&hot.iter().map(|h| h.location.kind).collect::<Vec<_>>()),
        ),
        (
            "address",
            bins(&hot.iter().map(|h| h.location.address).collect::<Vec<_>>()),
        ),
        (
            "slot",
            opt_bins(
                &hot.iter()
                    .map(|h| h.location.slot.map(|s| s.to_be_bytes::<32>()))
                    .collect::<Vec<_>>(),
            ),
        ),
        ("edges", i64s(hot.iter().map(|h| h.edges).collect())),
        (
            "dependents",
            i64s(hot.iter().map(|h| h.dependents).collect()),
        ),
        ("txs", i64s(hot.iter().map(|h| h.txs).collect())),
    ];
    columns::batch(&schema, columns)
}
