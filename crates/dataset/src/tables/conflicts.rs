//! The `conflicts` table (`schemas/conflicts.json`): one row per dependency edge of a
//! verified block, in each mode.

use arrow_array::RecordBatch;

use crate::{
    DatasetError,
    archive::RowMeta,
    columns::{self, field, i32s, i64s, strs},
    schema::result_schema,
    tables::{
        lists::location_list,
        rows::{BlockOutput, LocRow, flatten, to_i32},
    },
};

/// The `conflicts` rows of `outputs`; `range` gives each block's `block_range` value.
pub(super) fn conflicts_batch(
    outputs: &[BlockOutput],
    range: &dyn Fn(&RowMeta) -> String,
) -> Result<RecordBatch, DatasetError> {
    let schema = result_schema("conflicts")?;
    // Lazy before naive, then by (dependent, dependency): the graph's own order.
    let (ranges, numbers, edges) = flatten(outputs, range, |o| &o.edges);
    let locations: Vec<Vec<LocRow>> = edges.iter().map(|e| e.locations.clone()).collect();
    let columns = vec![
        ("block_range", strs(&ranges)),
        ("block_number", i64s(numbers)),
        (
            "mode",
            strs(&edges.iter().map(|e| e.mode).collect::<Vec<_>>()),
        ),
        (
            "dependent_tx",
            i32s(edges.iter().map(|e| e.dependent).collect()),
        ),
        (
            "dependency_tx",
            i32s(edges.iter().map(|e| e.dependency).collect()),
        ),
        (
            "location_count",
            i32s(edges.iter().map(|e| to_i32(e.locations.len())).collect()),
        ),
        (
            "locations",
            location_list(&field(&schema, "locations")?, &locations, None)?,
        ),
    ];
    columns::batch(&schema, columns)
}
