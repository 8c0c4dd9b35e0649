//! The table definitions in `schemas/*.json` are the single source of truth: the Rust
//! batches must have exactly their schemas, and `schemas/README.md` must be generated from
//! them. Set `UPDATE_SCHEMAS=1` to regenerate the README.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::{num::NonZeroUsize, path::PathBuf};

use replay_evm::parallel::ParallelEngine;
use replay_evm_dataset::{
    JobParams,
    archive::{ArchiveRow, archive_schema, rows_to_batch},
    replay_batch,
    schema::{self, ColumnType, RESULT_TABLES},
};
use replay_evm_workload::{Workload, generate};

fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/README.md")
}

#[test]
fn schemas_readme_is_generated_from_the_json() {
    let generated = schema::readme().unwrap();
    let path = readme_path();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "schemas/README.md is out of date with schemas/*.json: run \
         `UPDATE_SCHEMAS=1 cargo test -p replay-evm-dataset --test schema`"
    );
}

#[test]
fn every_column_is_documented_and_measured_columns_are_marked() {
    fn check(table: &str, prefix: &str, column: &schema::Column) {
        let name = format!("{table}.{prefix}{}", column.name);
        assert!(
            !column.description.trim().is_empty(),
            "{name}: no description"
        );
        assert!(!column.computed.trim().is_empty(), "{name}: no `computed`");
        let fields = match &column.ty {
            ColumnType::Struct { fields } => Some(fields),
            ColumnType::List { list } => match list.as_ref() {
                ColumnType::Struct { fields } => Some(fields),
                _ => None,
            },
            ColumnType::Primitive(_) => None,
        };
        for field in fields.into_iter().flatten() {
            check(table, &format!("{prefix}{}.", column.name), field);
        }
    }
    let tables = schema::tables().unwrap();
    assert_eq!(
        tables.iter().map(|t| t.table.as_str()).collect::<Vec<_>>(),
        ["archive", "blocks", "transactions", "conflicts", "hotspots"]
    );
    for table in tables {
        assert_eq!(table.schema_version, schema::SCHEMA_VERSION);
        for column in &table.columns {
            check(&table.table, "", column);
            assert_eq!(
                column.name.starts_with("measured_"),
                !column.deterministic,
                "{}.{}: measured columns, and only they, are named measured_*",
                table.table,
                column.name
            );
        }
    }
    for name in RESULT_TABLES {
        let table = schema::table(name).unwrap();
        assert_eq!(table.partition_column.as_deref(), Some("block_range"));
        assert_eq!(table.columns[0].name, "block_range");
        assert_eq!(table.columns[1].name, "block_number");
        assert_eq!(table.sort_key[0], "block_number");
        assert!(
            !table
                .file_schema()
                .fields()
                .iter()
                .any(|f| f.name() == "block_range")
        );
    }
    assert_eq!(schema::table("archive").unwrap().partition_column, None);
}

/// Builds every table from a real replay and checks that each batch's schema is exactly the
/// JSON's: names, order, types, nullability, nested fields.
#[test]
fn rust_batches_have_exactly_the_json_schemas() {
    let blocks = [
        generate(Workload::MixedDefi, 7, 40).unwrap(),
        generate(Workload::AmmOnePool, 7, 10).unwrap(),
    ];
    let rows: Vec<ArchiveRow> = blocks
        .iter()
        .map(|b| ArchiveRow::from_block(b).unwrap())
        .collect();
    let archive = rows_to_batch(&rows).unwrap();
    assert_eq!(archive.schema(), archive_schema().unwrap());
    assert_eq!(
        archive.schema(),
        schema::table("archive").unwrap().arrow_schema()
    );
    let engine = ParallelEngine::new(NonZeroUsize::new(2).unwrap()).unwrap();
    let params = JobParams {
        threads: vec![1, 2],
        ..JobParams::default()
    };
    let results = replay_batch(&archive, &params, &engine).unwrap();
    for (name, batch) in results.tables() {
        let expected = schema::table(name).unwrap().arrow_schema();
        assert_eq!(batch.schema(), expected, "{name}");
        assert!(batch.num_rows() > 0, "{name} is empty");
    }
    // Both generated blocks share a number: the rows still come out sorted and complete.
    assert_eq!(results.blocks.num_rows(), 2);
}
