//! The archive's `chain_spec` column: rows of chains without a built-in table carry their
//! rules and replay under them; archives written before the column existed still open,
//! their rows reading as the built-in table of their chain id.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::sync::Arc;

use arrow_schema::Schema;
use replay_evm::chain::{ChainSpec, Fork};
use replay_evm_dataset::{
    archive::{Archive, ArchiveColumns, ArchiveRow, archive_schema, rows_to_batch},
    parquet,
};
use replay_evm_workload::{Workload, generate};

fn rows() -> Vec<ArchiveRow> {
    (0..3)
        .map(|seed| {
            let mut block = generate(Workload::ALL[0], seed, 4).expect("generates");
            block.block.header.number += seed;
            block.hash = block.block.header.hash_slow();
            ArchiveRow::from_block(&block).expect("encodes")
        })
        .collect()
}

fn read_all(dir: &std::path::Path) -> Vec<ArchiveRow> {
    let archive = Archive::open(dir).expect("opens");
    let numbers = archive.numbers();
    let batch = archive
        .read_range(numbers[0], numbers[numbers.len() - 1])
        .expect("reads");
    let columns = ArchiveColumns::new(&batch).expect("columns");
    (0..columns.len())
        .map(|i| columns.row(i).expect("row"))
        .collect()
}

#[test]
fn an_archive_without_the_column_reads_as_built_in_chains() {
    let rows = rows();
    assert!(rows.iter().all(|r| r.chain_spec.is_none()));
    let schema = archive_schema().unwrap();
    let old_fields: Vec<_> = schema
        .fields()
        .iter()
        .take(schema.fields().len() - 1)
        .cloned()
        .collect();
    assert_eq!(schema.field(schema.fields().len() - 1).name(), "chain_spec");
    let old = Arc::new(Schema::new(old_fields));
    let dir = tempfile::tempdir().expect("tempdir");
    parquet::write_parquet(
        &dir.path().join("part-00000.parquet"),
        &old,
        &[rows_to_batch(&rows).expect("batch")],
        parquet::archive_properties(),
    )
    .expect("writes");
    let read = read_all(dir.path());
    assert_eq!(read, rows);
    assert_eq!(read[0].chain().expect("mainnet"), ChainSpec::mainnet());
}

#[test]
fn a_chain_spec_travels_with_its_rows() {
    let mut block = generate(Workload::ALL[0], 7, 4).expect("generates");
    let devnet = ChainSpec::single_fork(block.chain_id, Fork::Prague);
    let row = ArchiveRow::from_block_in(&block, &devnet).expect("encodes");
    assert_eq!(row.chain().expect("its chain"), devnet);
    let dir = tempfile::tempdir().expect("tempdir");
    parquet::write_parquet(
        &dir.path().join("part-00000.parquet"),
        &archive_schema().unwrap(),
        &[rows_to_batch(std::slice::from_ref(&row)).expect("batch")],
        parquet::archive_properties(),
    )
    .expect("writes");
    assert_eq!(read_all(dir.path()), vec![row.clone()]);

    // A table of another chain id is refused, when encoding and when decoding.
    let other = ChainSpec::single_fork(block.chain_id + 1, Fork::Prague);
    assert!(ArchiveRow::from_block_in(&block, &other).is_err());
    let mut wrong = row;
    wrong.chain_spec = Some(serde_json::to_string(&other).expect("json"));
    assert!(
        wrong
            .chain()
            .unwrap_err()
            .contains("chain_spec is for chain")
    );
    wrong.chain_spec = Some("{".into());
    assert!(wrong.chain().unwrap_err().starts_with("chain_spec:"));
    block.chain_id = 31_337;
    let unknown = ArchiveRow::from_block(&block);
    assert!(unknown.is_err());
}
