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
//! | `import.rs` | [`import_block_dirs`]: block folders as rows |
//! | `sample.rs` | [`sample_blocks`]: the generated sample archive |

use std::{
    fs,
    path::{Path, PathBuf},
};

use alloy_primitives::{B256, keccak256};
use arrow_array::{BinaryArray, Int64Array, RecordBatch};
use parquet::{
    arrow::{
        ProjectionMask,
        arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection},
    },
    file::metadata::PageIndexPolicy,
};

mod conform;
mod import;
mod read;
mod row;
mod sample;
mod write;

pub use crate::parquet::ARCHIVE_ROW_GROUP_BLOCKS;
pub use crate::schema::archive_schema;
use conform::archive_fields;
pub use conform::conform;
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
    /// `blocks[i]`, and `group_rows[f][g]` the number of rows of row group `g` of file `f`.
    Files {
        files: Vec<PathBuf>,
        places: Vec<(usize, usize, usize)>,
        group_rows: Vec<Vec<usize>>,
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
        let mut group_rows = Vec::new();
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
            group_rows.push(
                builder
                    .metadata()
                    .row_groups()
                    .iter()
                    .map(|g| usize::try_from(g.num_rows()).unwrap_or(0))
                    .collect(),
            );
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
                group_rows,
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
                group_rows,
            } => {
                // The wanted rows, by file then row group: only the pages holding them are
                // read (the files carry an offset index).
                let mut wanted: Vec<(usize, usize, usize)> = self
                    .blocks
                    .iter()
                    .zip(places)
                    .filter(|((n, _), _)| in_range(*n))
                    .map(|(_, p)| *p)
                    .collect();
                wanted.sort_unstable();
                let mut batches = Vec::new();
                for (file_index, path) in files.iter().enumerate() {
                    let rows: Vec<(usize, usize)> = wanted
                        .iter()
                        .filter(|(f, _, _)| *f == file_index)
                        .map(|(_, g, r)| (*g, *r))
                        .collect();
                    if rows.is_empty() {
                        continue;
                    }
                    let mut row_groups: Vec<usize> = rows.iter().map(|(g, _)| *g).collect();
                    row_groups.dedup();
                    let mut ranges = Vec::with_capacity(rows.len());
                    let mut offset = 0;
                    for g in &row_groups {
                        ranges.extend(
                            rows.iter()
                                .filter(|(rg, _)| rg == g)
                                .map(|(_, r)| offset + r..offset + r + 1),
                        );
                        offset += group_rows[file_index].get(*g).copied().unwrap_or(0);
                    }
                    let selection =
                        RowSelection::from_consecutive_ranges(ranges.into_iter(), offset);
                    let file = fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
                    let options =
                        ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
                    let reader =
                        ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)?
                            .with_row_groups(row_groups)
                            .with_row_selection(selection)
                            .with_batch_size(ARCHIVE_ROW_GROUP_BLOCKS)
                            .build()?;
                    for batch in reader {
                        batches.push(conform(&batch?)?);
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
