//! Reading a results folder's tables back: the committed partitions only (those the
//! checkpoint lists), in block-range order, with the partition column restored.

use std::{path::Path, sync::Arc};

use arrow_array::{ArrayRef, RecordBatch, StringArray};

use crate::{DatasetError, checkpoint::Checkpoint, parquet, schema};

/// Reads result table `table` of the results folder `out` back: one batch per committed
/// partition, in block-range order, with the partition column restored from the directory
/// name (so each batch has the table's full schema).
///
/// # Errors
/// [`DatasetError::Usage`] when `out` has no manifest; I/O and Parquet errors.
pub fn read_table(out: &Path, table: &str) -> Result<Vec<RecordBatch>, DatasetError> {
    let definition = schema::table(table)?;
    let full = definition.arrow_schema();
    let checkpoint = Checkpoint::load(out)?
        .ok_or_else(|| DatasetError::Usage(format!("{}: no checkpoint manifest", out.display())))?;
    let mut out_batches = Vec::new();
    for (range, record) in &checkpoint.partitions {
        let Some(file) = record.files.get(table) else {
            continue;
        };
        let (_, batches) = parquet::read_parquet(&out.join(&file.path))?;
        for batch in batches {
            let mut columns = Vec::with_capacity(full.fields().len());
            for field in full.fields() {
                if Some(field.name()) == definition.partition_column.as_ref() {
                    let values = vec![range.as_str(); batch.num_rows()];
                    columns.push(Arc::new(StringArray::from(values)) as ArrayRef);
                } else {
                    let column = batch.column_by_name(field.name()).ok_or_else(|| {
                        DatasetError::Schema(format!("{}: no column `{}`", file.path, field.name()))
                    })?;
                    columns.push(column.clone());
                }
            }
            out_batches.push(RecordBatch::try_new(full.clone(), columns)?);
        }
    }
    Ok(out_batches)
}

/// `batch` without the `measured_*` columns of `table`: what must be identical between two
/// runs of the same job.
///
/// # Errors
/// [`DatasetError::Schema`] for an unknown table.
pub fn without_measured(batch: &RecordBatch, table: &str) -> Result<RecordBatch, DatasetError> {
    let measured = schema::table(table)?.measured_columns();
    let keep: Vec<usize> = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !measured.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    Ok(batch.project(&keep)?)
}
