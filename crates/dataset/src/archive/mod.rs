//! The block archive: [`ArchivedBlock`](replay_evm::block::ArchivedBlock)s as rows of the
//! `archive` table (`schemas/archive.json`) and as Parquet folders.
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | [`Archive`]: an archive folder (or an in-memory batch), its blocks, the rows of a block range |
//! | `row.rs` | [`ArchiveRow`] ⇄ `ArchivedBlock` |
//! | `write.rs` | [`rows_to_batch`] and [`write_archive`] |
//! | `read.rs` | [`ArchiveColumns`]: typed views of an archive record batch, the unit [`crate::replay_batch`] and the Spark job work on |
//! | `conform.rs` | [`conform`]: archives written by other writers, or before the `chain_spec` column |
//! | `groups.rs` | the row groups read last, decoded, which the partitions of one row group share |
//! | `import.rs` | [`import_block_dirs`]: block folders as rows |
//! | `sample.rs` | [`sample_blocks`]: the generated sample archive |

use std::{
    fs,
    path::{Path, PathBuf},
    sync::Arc,
};

use alloy_primitives::{B256, keccak256};
use arrow_array::{BinaryArray, Int64Array, RecordBatch, UInt32Array};
use parquet::arrow::{ProjectionMask, arrow_reader::ParquetRecordBatchReaderBuilder};

mod conform;
mod groups;
mod import;
mod read;
mod row;
mod sample;
mod write;

pub use crate::parquet::ARCHIVE_ROW_GROUP_BLOCKS;
pub use crate::schema::archive_schema;
use conform::archive_fields;
pub use conform::conform;
use groups::GroupCache;
pub use import::import_block_dirs;
pub use read::{ArchiveColumns, RowMeta};
pub use row::{ArchiveAccount, ArchiveRow};
pub use sample::{SAMPLE_BLOCK_GAS, SAMPLE_FIRST_BLOCK, SAMPLE_SEEDS, sample_blocks, sample_rows};
pub use write::{ARCHIVE_FILE_BLOCKS, rows_to_batch, write_archive};

use crate::{DatasetError, columns, parquet::parquet_files};

/// Where an archive's rows are.
#[derive(Debug, Clone)]
enum Source {
    /// Parquet files; `places[i]` is (file index, row group, row in the row group) of block
    /// `blocks[i]`; `groups` the row groups read last, shared by the archive's clones.
    Files {
        files: Vec<PathBuf>,
        places: Vec<(usize, usize, usize)>,
        groups: Arc<GroupCache>,
    },
    /// One in-memory batch.
    Memory(RecordBatch),
}

/// An archive ready to be read by block range.
#[derive(Debug, Clone)]
pub struct Archive {
    source: Source,
    /// (number, hash) of every row, in row order.
    blocks: Vec<(i64, Vec<u8>)>,
}

impl Archive {
    /// Opens the archive folder `dir`, reading only the `number` and `hash` columns.
    ///
    /// # Errors
    /// [`DatasetError::Archive`] when `dir` has no Parquet file or a file is not an archive.
    pub fn open(dir: &Path) -> Result<Self, DatasetError> {
        if !dir.is_dir() {
            return Err(DatasetError::Archive(format!(
                "{}: no such archive folder",
                dir.display()
            )));
        }
        let files = parquet_files(dir)?;
        if files.is_empty() {
            return Err(DatasetError::Archive(format!(
                "{}: no Parquet files (build one with `replay-evm archive import` or \
                 `replay-evm archive sample`)",
                dir.display()
            )));
        }
        let expected = archive_schema()?;
        let mut blocks = Vec::new();
        let mut places = Vec::new();
        for (f, path) in files.iter().enumerate() {
            let file = fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
            if !archive_fields(builder.schema().fields(), expected.fields()) {
                return Err(DatasetError::Archive(format!(
                    "{}: not an archive file (its schema differs from schemas/archive.json)",
                    path.display()
                )));
            }
            let row_groups = builder.metadata().num_row_groups();
            let roots: Vec<usize> = ["number", "hash"]
                .iter()
                .filter_map(|n| expected.index_of(n).ok())
                .collect();
            for rg in 0..row_groups {
                let file = fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
                let mask = ProjectionMask::roots(builder.parquet_schema(), roots.clone());
                let reader = builder
                    .with_row_groups(vec![rg])
                    .with_projection(mask)
                    .build()?;
                let mut row = 0;
                for batch in reader {
                    let batch = batch?;
                    let numbers = columns::column::<Int64Array>(&batch, "number")?;
                    let hashes = columns::column::<BinaryArray>(&batch, "hash")?;
                    for i in 0..batch.num_rows() {
                        blocks.push((numbers.value(i), hashes.value(i).to_vec()));
                        places.push((f, rg, row));
                        row += 1;
                    }
                }
            }
        }
        Ok(Self {
            source: Source::Files {
                files,
                places,
                groups: Arc::default(),
            },
            blocks,
        })
    }

    /// An archive held in memory as one batch of archive rows.
    ///
    /// # Errors
    /// [`DatasetError::Schema`] when `batch` is not an archive batch.
    pub fn from_batch(batch: RecordBatch) -> Result<Self, DatasetError> {
        let batch = conform(&batch)?;
        let columns = ArchiveColumns::new(&batch)?;
        let blocks = (0..columns.len())
            .map(|i| {
                let meta = columns.meta(i);
                (meta.number, meta.hash)
            })
            .collect();
        Ok(Self {
            source: Source::Memory(batch),
            blocks,
        })
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether the archive holds no block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Every block number, ascending (negative numbers, from a corrupt row, read as 0).
    pub fn numbers(&self) -> Vec<u64> {
        let mut numbers: Vec<u64> = self
            .blocks
            .iter()
            .map(|(n, _)| u64::try_from(*n).unwrap_or(0))
            .collect();
        numbers.sort_unstable();
        numbers
    }

    /// Keccak-256 of every (number, hash) in number order: identifies the archive's content
    /// for the job's checkpoint, without reading the blocks.
    pub fn digest(&self) -> B256 {
        let mut blocks: Vec<&(i64, Vec<u8>)> = self.blocks.iter().collect();
        blocks.sort();
        let mut bytes = Vec::with_capacity(blocks.len() * 40);
        for (number, hash) in blocks {
            bytes.extend_from_slice(&number.to_be_bytes());
            bytes.extend_from_slice(hash);
        }
        keccak256(&bytes)
    }

    /// The rows whose number is in `first..=last`, in archive order.
    ///
    /// # Errors
    /// I/O and Parquet errors.
    pub fn read_range(&self, first: u64, last: u64) -> Result<RecordBatch, DatasetError> {
        // A negative number (a corrupt row) counts as 0, as in `numbers`, so that the row is
        // read by the partition of block 0 and reported there.
        let in_range = |n: i64| {
            let n = u64::try_from(n).unwrap_or(0);
            n >= first && n <= last
        };
        let schema = archive_schema()?;
        let batches: Vec<RecordBatch> = match &self.source {
            Source::Memory(batch) => vec![batch.clone()],
            Source::Files {
                files,
                places,
                groups,
            } => {
                // The wanted rows in archive order, read by row group through the cache:
                // a partition narrower than a row group reuses the group its neighbour read.
                let mut wanted: Vec<(usize, usize, usize)> = self
                    .blocks
                    .iter()
                    .zip(places)
                    .filter(|((n, _), _)| in_range(*n))
                    .map(|(_, p)| *p)
                    .collect();
                wanted.sort_unstable();
                let mut batches = Vec::new();
                for rows in wanted.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
                    let Some((path, &(file, group, _))) =
                        rows.first().and_then(|p| Some((files.get(p.0)?, p)))
                    else {
                        continue;
                    };
                    let whole = groups.group(file, group, || read_group(path, group))?;
                    if rows.len() == whole.num_rows() {
                        // Every row of the group (`wanted` holds each row once, in order).
                        batches.push(whole);
                    } else {
                        let indices: UInt32Array = rows
                            .iter()
                            // A row past u32 (no row group has one) fails `take` as out of bounds.
                            .map(|(_, _, row)| u32::try_from(*row).unwrap_or(u32::MAX))
                            .collect();
                        batches.push(arrow_select::take::take_record_batch(&whole, &indices)?);
                    }
                }
                batches
            }
        };
        let mut filtered = Vec::with_capacity(batches.len());
        for batch in &batches {
            let numbers = columns::column::<Int64Array>(batch, "number")?;
            let mask: arrow_array::BooleanArray = numbers
                .iter()
                .map(|n| Some(n.is_some_and(in_range)))
                .collect();
            filtered.push(arrow_select::filter::filter_record_batch(batch, &mask)?);
        }
        Ok(arrow_select::concat::concat_batches(&schema, &filtered)?)
    }
}

/// Row group `group` of the archive file `path`, all its rows, conformed to the archive
/// schema, as one batch.
fn read_group(path: &Path, group: usize) -> Result<RecordBatch, DatasetError> {
    let file = fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_row_groups(vec![group])
        .with_batch_size(ARCHIVE_ROW_GROUP_BLOCKS)
        .build()?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(conform(&batch?)?);
    }
    Ok(arrow_select::concat::concat_batches(
        &archive_schema()?,
        &batches,
    )?)
}
