//! An archive written by another Parquet writer (Spark, DuckDB and pyarrow name list items
//! `element`, arrow-rs `item`) opens and reads back the same blocks; a file with another
//! schema is refused by name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::{fs, path::Path, sync::Arc};

use arrow_array::{RecordBatch, make_array};
use arrow_data::ArrayData;
use arrow_schema::{DataType, Field, Fields, Schema};
use parquet::arrow::ArrowWriter;
use replay_evm::fixtures::fixtures_dir;
use replay_evm_dataset::archive::{Archive, conform, import_block_dirs, rows_to_batch};

/// `data_type` with every list item named `element`.
fn spark_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::List(item) => DataType::List(Arc::new(Field::new(
            "element",
            spark_type(item.data_type()),
            true,
        ))),
        DataType::Struct(fields) => DataType::Struct(spark_fields(fields)),
        other => other.clone(),
    }
}

fn spark_fields(fields: &Fields) -> Fields {
    fields
        .iter()
        .map(|f| Field::new(f.name(), spark_type(f.data_type()), true))
        .collect()
}

/// `data` relabelled with `target` (the same layout), children first.
fn relabel(data: ArrayData, target: &DataType) -> ArrayData {
    let children: Vec<ArrayData> = match target {
        DataType::List(item) => vec![relabel(data.child_data()[0].clone(), item.data_type())],
        DataType::Struct(fields) => data
            .child_data()
            .iter()
            .zip(fields.iter())
            .map(|(c, f)| relabel(c.clone(), f.data_type()))
            .collect(),
        _ => return data,
    };
    data.into_builder()
        .data_type(target.clone())
        .child_data(children)
        .build()
        .unwrap()
}

/// `batch` as Spark would write it.
fn as_spark(batch: &RecordBatch) -> RecordBatch {
    let schema = Arc::new(Schema::new(spark_fields(batch.schema().fields())));
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| make_array(relabel(c.to_data(), f.data_type())))
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

fn write(path: &Path, batch: &RecordBatch) {
    let file = fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn an_archive_with_element_named_list_items_reads_back_the_same_blocks() {
    let root = fixtures_dir()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("mainnet");
    let dirs: Vec<_> = [930196u64, 12244000, 19932703]
        .iter()
        .map(|n| root.join(n.to_string()))
        .collect();
    let (rows, failures) = import_block_dirs(&dirs, 1);
    assert!(failures.is_empty(), "{failures:?}");
    let ours = rows_to_batch(&rows).unwrap();
    let theirs = as_spark(&ours);
    assert_ne!(
        theirs.schema(),
        ours.schema(),
        "the test must change the schema"
    );

    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("part-00000.parquet"), &theirs);
    let archive = Archive::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(archive.numbers(), vec![930_196, 12_244_000, 19_932_703]);
    let read = archive.read_range(0, u64::MAX).unwrap();
    assert_eq!(read, ours, "same rows under the archive schema");
    // And an in-memory batch in that shape.
    let in_memory = Archive::from_batch(theirs).unwrap();
    assert_eq!(in_memory.read_range(0, u64::MAX).unwrap(), ours);

    // A file with a column missing is not an archive file, and says which file.
    let other = tempfile::tempdir().unwrap();
    let fewer = ours
        .project(&(1..ours.num_columns()).collect::<Vec<_>>())
        .unwrap();
    write(&other.path().join("part-00000.parquet"), &fewer);
    let err = Archive::open(other.path())
        .expect_err("not an archive")
        .to_string();
    assert!(
        err.contains("part-00000.parquet") && err.contains("not an archive file"),
        "{err}"
    );
}

/// `data_type` as Spark may hand it to `mapInArrow`: list items named `element`, every field
/// nullable, large strings and binaries.
fn spark_batch_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::List(item) => DataType::List(Arc::new(Field::new(
            "element",
            spark_batch_type(item.data_type()),
            true,
        ))),
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| Field::new(f.name(), spark_batch_type(f.data_type()), true))
                .collect(),
        ),
        DataType::Binary => DataType::LargeBinary,
        DataType::Utf8 => DataType::LargeUtf8,
        other => other.clone(),
    }
}

#[test]
fn a_spark_shaped_batch_conforms_to_the_archive_schema() {
    let rows: Vec<_> = (0..2)
        .map(|seed| {
            let mut block =
                replay_evm_workload::generate(replay_evm_workload::Workload::ALL[0], seed, 4)
                    .unwrap();
            block.block.header.number += seed;
            block.hash = block.block.header.hash_slow();
            replay_evm_dataset::ArchiveRow::from_block(&block).unwrap()
        })
        .collect();
    let batch = rows_to_batch(&rows).unwrap();
    // Spark's shape, without the `chain_spec` column (an archive written before it).
    let kept = batch.schema().fields().len() - 1;
    let fields: Vec<Field> = batch.schema().fields()[..kept]
        .iter()
        .map(|f| Field::new(f.name(), spark_batch_type(f.data_type()), true))
        .collect();
    let columns = batch.columns()[..kept]
        .iter()
        .zip(&fields)
        .map(|(c, f)| arrow_cast::cast(c, f.data_type()).unwrap())
        .collect();
    let spark = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    assert_eq!(conform(&spark).unwrap(), batch);

    // A column missing is an error naming it.
    let err = conform(&spark.project(&[0, 2]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no column `number`"), "{err}");
}
