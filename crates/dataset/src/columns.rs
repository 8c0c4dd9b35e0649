//! Building and reading Arrow columns of the types the schemas use, with the nested fields
//! taken from the table definitions so that batches always match them exactly.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int32Array, Int64Array, ListArray,
    RecordBatch, StringArray, StructArray,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, FieldRef, Fields, SchemaRef};

use crate::DatasetError;

pub(crate) fn i64s(values: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

pub(crate) fn opt_i64s(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

pub(crate) fn i32s(values: Vec<i32>) -> ArrayRef {
    Arc::new(Int32Array::from(values))
}

pub(crate) fn opt_i32s(values: Vec<Option<i32>>) -> ArrayRef {
    Arc::new(Int32Array::from(values))
}

pub(crate) fn f64s(values: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

pub(crate) fn opt_f64s(values: Vec<Option<f64>>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

pub(crate) fn bools(values: Vec<bool>) -> ArrayRef {
    Arc::new(BooleanArray::from(values))
}

pub(crate) fn opt_bools(values: Vec<Option<bool>>) -> ArrayRef {
    Arc::new(BooleanArray::from(values))
}

pub(crate) fn strs<S: AsRef<str>>(values: &[S]) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(
        values.iter().map(AsRef::as_ref),
    ))
}

pub(crate) fn opt_strs(values: &[Option<String>]) -> ArrayRef {
    Arc::new(StringArray::from_iter(values.iter().map(Option::as_deref)))
}

pub(crate) fn bins<B: AsRef<[u8]>>(values: &[B]) -> ArrayRef {
    Arc::new(BinaryArray::from_iter_values(
        values.iter().map(AsRef::as_ref),
    ))
}

pub(crate) fn opt_bins<B: AsRef<[u8]>>(values: &[Option<B>]) -> ArrayRef {
    Arc::new(BinaryArray::from_iter(
        values.iter().map(|v| v.as_ref().map(AsRef::as_ref)),
    ))
}

/// The item field and, for a list of structs, the struct's fields, of list column `field`.
pub(crate) fn list_item(field: &FieldRef) -> Result<FieldRef, DatasetError> {
    match field.data_type() {
        DataType::List(item) => Ok(item.clone()),
        other => Err(DatasetError::Schema(format!(
            "column `{}` is {other}, not a list",
            field.name()
        ))),
    }
}

/// The fields of a struct field.
pub(crate) fn struct_fields(field: &FieldRef) -> Result<Fields, DatasetError> {
    match field.data_type() {
        DataType::Struct(fields) => Ok(fields.clone()),
        other => Err(DatasetError::Schema(format!(
            "field `{}` is {other}, not a struct",
            field.name()
        ))),
    }
}

/// A list column from per-row lengths (`lengths[i]` items for row `i`) and the flat items.
pub(crate) fn list(
    field: &FieldRef,
    lengths: &[usize],
    items: ArrayRef,
    nulls: Option<Vec<bool>>,
) -> Result<ArrayRef, DatasetError> {
    let item = list_item(field)?;
    let nulls = nulls.map(arrow_buffer::NullBuffer::from);
    Ok(Arc::new(ListArray::try_new(
        item,
        OffsetBuffer::from_lengths(lengths.iter().copied()),
        items,
        nulls,
    )?))
}

/// A struct array (items of a list of structs) from its columns, in field order.
pub(crate) fn structs(
    list_field: &FieldRef,
    columns: Vec<ArrayRef>,
) -> Result<ArrayRef, DatasetError> {
    let item = list_item(list_field)?;
    let fields = struct_fields(&item)?;
    Ok(Arc::new(StructArray::try_new(fields, columns, None)?))
}

/// Builds a batch of `schema` from named columns, checking that exactly the schema's columns
/// are given, with the schema's types.
pub(crate) fn batch(
    schema: &SchemaRef,
    mut columns: Vec<(&str, ArrayRef)>,
) -> Result<RecordBatch, DatasetError> {
    let mut ordered = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let position = columns
            .iter()
            .position(|(name, _)| *name == field.name())
            .ok_or_else(|| {
                DatasetError::Schema(format!("the writer has no column `{}`", field.name()))
            })?;
        ordered.push(columns.swap_remove(position).1);
    }
    if let Some((name, _)) = columns.first() {
        return Err(DatasetError::Schema(format!(
            "the writer's column `{name}` is not in the schema"
        )));
    }
    Ok(RecordBatch::try_new(schema.clone(), ordered)?)
}

/// Column `name` of `batch`, downcast to `T`.
pub(crate) fn column<'a, T: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a T, DatasetError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| DatasetError::Schema(format!("batch has no column `{name}` of its type")))
}

/// Child `index` of a struct array, downcast to `T`.
pub(crate) fn child<T: Array + 'static>(
    array: &StructArray,
    index: usize,
) -> Result<&T, DatasetError> {
    array
        .columns()
        .get(index)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| DatasetError::Schema(format!("struct has no field {index} of its type")))
}

/// The struct items of a list-of-structs array.
pub(crate) fn list_structs(list: &ListArray) -> Result<&StructArray, DatasetError> {
    list.values()
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| DatasetError::Schema("list items are not structs".into()))
}

/// The field `name` of `schema`.
///
/// # Errors
/// [`DatasetError::Schema`] when `schema` has no such column.
pub(crate) fn field(schema: &SchemaRef, name: &str) -> Result<FieldRef, DatasetError> {
    schema
        .fields()
        .find(name)
        .map(|(_, f)| f.clone())
        .ok_or_else(|| DatasetError::Schema(format!("schema has no column `{name}`")))
}
