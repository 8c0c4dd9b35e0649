//! Archives from other writers: Spark, DuckDB and pyarrow name list items `element` (arrow-rs
//! writes `item`) and may mark columns nullable, and archives written before the `chain_spec`
//! column lack it; Spark may hand over large strings and binaries. [`conform`] brings such a
//! batch to the archive schema exactly;
//! [`archive_fields`] says whether a file's columns are an archive's. This is the one
//! definition of what the archive accepts.

use arrow_array::{ArrayRef, RecordBatch, make_array, new_null_array};
use arrow_cast::cast;
use arrow_data::ArrayData;
use arrow_schema::{ArrowError, DataType, Fields, SchemaRef};

use crate::{DatasetError, schema::archive_schema};

/// Whether `actual` has the archive's columns, in order, with the archive's types, allowing
/// what other Parquet writers change: the name of list items (`item` here, as arrow-rs
/// writes; `element` from Spark, DuckDB and pyarrow) and nullability.
fn same_fields(actual: &Fields, expected: &Fields) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected.iter())
            .all(|(a, e)| a.name() == e.name() && same_shape(a.data_type(), e.data_type()))
}

fn same_shape(actual: &DataType, expected: &DataType) -> bool {
    match (actual, expected) {
        (DataType::List(a), DataType::List(e)) => same_shape(a.data_type(), e.data_type()),
        (DataType::Struct(a), DataType::Struct(e)) => same_fields(a, e),
        _ => actual == expected,
    }
}

/// Whether `actual` is an archive written before the `chain_spec` column: the archive's
/// columns but the last.
fn lacks_chain_spec(actual: &Fields, expected: &Fields) -> bool {
    expected.last().is_some_and(|f| f.name() == "chain_spec")
        && actual.len() + 1 == expected.len()
        && actual
            .iter()
            .zip(expected.iter())
            .all(|(a, e)| a.name() == e.name() && same_shape(a.data_type(), e.data_type()))
}

/// Whether a file's top-level fields are an archive's, current or older.
pub(crate) fn archive_fields(actual: &Fields, expected: &Fields) -> bool {
    same_fields(actual, expected) || lacks_chain_spec(actual, expected)
}

/// `batch` under the archive schema exactly. This is the one definition of the archive
/// batches every reader accepts (the command-line job's archive folders, and the Spark job's
/// `mapInArrow` batches through the native module):
///
/// * the archive schema itself, as is;
/// * the archive's columns in order, differing only in what other writers change (list item
///   names, nullability): the data is kept, the list and struct types are renamed;
/// * otherwise the archive's columns by name, each cast to the archive's type (Spark hands
///   over large strings and binaries, depending on its settings).
///
/// A batch written before the `chain_spec` column gets a null one (the built-in chain
/// tables). A null where the archive allows none is an error naming the column.
///
/// # Errors
/// [`DatasetError::Schema`] when `batch` is not an archive batch.
pub fn conform(batch: &RecordBatch) -> Result<RecordBatch, DatasetError> {
    let expected = archive_schema()?;
    if batch.schema().fields() == expected.fields() {
        return Ok(batch.clone());
    }
    let columns = if archive_fields(batch.schema().fields(), expected.fields()) {
        let mut columns = batch
            .columns()
            .iter()
            .zip(expected.fields())
            .map(|(column, field)| retype(column.to_data(), field.data_type()).map(make_array))
            .collect::<Result<Vec<_>, _>>()?;
        if columns.len() + 1 == expected.fields().len() {
            columns.push(new_null_array(&DataType::Utf8, batch.num_rows()));
        }
        columns
    } else {
        cast_by_name(batch, &expected)?
    };
    RecordBatch::try_new(expected, columns)
        .map_err(|e| DatasetError::Schema(format!("not an archive batch: {e}")))
}

/// The columns of `expected`, taken from `batch` by name and cast to their types; a missing
/// `chain_spec` is a null column.
fn cast_by_name(batch: &RecordBatch, expected: &SchemaRef) -> Result<Vec<ArrayRef>, DatasetError> {
    let mut columns = Vec::with_capacity(expected.fields().len());
    for field in expected.fields() {
        let Some(column) = batch.column_by_name(field.name()) else {
            if field.name() == "chain_spec" {
                columns.push(new_null_array(field.data_type(), batch.num_rows()));
                continue;
            }
            return Err(DatasetError::Schema(format!(
                "not an archive batch: no column `{}` (it has {:?})",
                field.name(),
                batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
            )));
        };
        let cast = cast(column, field.data_type())
            .map_err(|e| DatasetError::Schema(format!("archive column `{}`: {e}", field.name())))?;
        columns.push(cast);
    }
    Ok(columns)
}

/// `data` with the type `target`, whose layout it already has (checked by [`same_shape`]):
/// children first, then the node itself; buffers are shared, not copied.
fn retype(data: ArrayData, target: &DataType) -> Result<ArrayData, ArrowError> {
    let children = match target {
        DataType::List(item) => data
            .child_data()
            .iter()
            .map(|child| retype(child.clone(), item.data_type()))
            .collect::<Result<Vec<_>, _>>()?,
        DataType::Struct(fields) => data
            .child_data()
            .iter()
            .zip(fields.iter())
            .map(|(child, field)| retype(child.clone(), field.data_type()))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Ok(data),
    };
    data.into_builder()
        .data_type(target.clone())
        .child_data(children)
        .build()
}
