//! The list columns more than one result table has: locations (`list<struct<kind, address,
//! slot[, origin_tx]>>`) and transaction indices (`list<int32>`).

use arrow_array::ArrayRef;
use arrow_schema::FieldRef;

use crate::{
    DatasetError,
    columns::{self, bins, i32s, opt_bins, opt_i32s, strs},
    tables::rows::LocRow,
};

/// A `list<struct<kind, address, slot[, origin_tx]>>` column.
pub(crate) fn location_list(
    field: &FieldRef,
    rows: &[Vec<LocRow>],
    origins: Option<&[Vec<Option<i32>>]>,
) -> Result<ArrayRef, DatasetError> {
    let flat: Vec<&LocRow> = rows.iter().flatten().collect();
    let kinds: Vec<&str> = flat.iter().map(|l| l.kind).collect();
    let addresses: Vec<&[u8]> = flat.iter().map(|l| l.address.as_slice()).collect();
    let slots: Vec<Option<[u8; 32]>> = flat
        .iter()
        .map(|l| l.slot.map(|s| s.to_be_bytes::<32>()))
        .collect();
    let mut children = vec![strs(&kinds), bins(&addresses), opt_bins(&slots)];
    if let Some(origins) = origins {
        children.push(opt_i32s(origins.iter().flatten().copied().collect()));
    }
    let items = columns::structs(field, children)?;
    let lengths: Vec<usize> = rows.iter().map(Vec::len).collect();
    columns::list(field, &lengths, items, None)
}

/// A `list<int32>` column of transaction indices.
pub(crate) fn int_list(field: &FieldRef, rows: &[&Vec<i32>]) -> Result<ArrayRef, DatasetError> {
    let lengths: Vec<usize> = rows.iter().map(|r| r.len()).collect();
    let items = i32s(rows.iter().flat_map(|r| r.iter().copied()).collect());
    columns::list(field, &lengths, items, None)
}
