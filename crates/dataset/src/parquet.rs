//! Parquet files and the file-system steps of an atomic commit: fixed writer settings (so
//! the same rows give the same bytes) for the archive and the result tables,
//! write-aside-then-rename, fsync of files and folders, and reading a file back.

use std::{
    fs,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::{
    arrow::{ArrowSchemaConverter, ArrowWriter, arrow_reader::ParquetRecordBatchReaderBuilder},
    basic::{Compression, ZstdLevel},
    file::properties::{EnabledStatistics, WriterProperties, WriterVersion},
    schema::types::ColumnPath,
};

use crate::DatasetError;

/// Rows per row group of the result tables.
pub const RESULT_ROW_GROUP_ROWS: usize = 131_072;

/// Blocks per Parquet row group of the archive: small enough that a reader of one block range
/// skips most of a file, large enough for the columnar encodings to work.
pub const ARCHIVE_ROW_GROUP_BLOCKS: usize = 16;

/// The `created_by` of every file: fixed, so that it never varies between runs.
pub const CREATED_BY: &str = concat!(
    "replay-evm-dataset ",
    env!("CARGO_PKG_VERSION"),
    " (parquet-rs 60.1.0)"
);

/// zstd level of every file: level 3 is zstd's default, within a few percent of level 9's
/// size on these tables at a fraction of its write time; decoding speed does not depend on
/// the level.
const ZSTD_LEVEL: i32 = 3;

fn base_properties() -> parquet::file::properties::WriterPropertiesBuilder {
    let zstd = ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default();
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(zstd))
        .set_created_by(CREATED_BY.to_owned())
        .set_statistics_enabled(EnabledStatistics::Chunk)
}

/// Writer settings of the result tables.
pub fn result_properties() -> WriterProperties {
    result_builder().build()
}

fn result_builder() -> parquet::file::properties::WriterPropertiesBuilder {
    base_properties().set_max_row_group_row_count(Some(RESULT_ROW_GROUP_ROWS))
}

/// Below this many bytes of Arrow data a result column is written uncompressed. zstd's
/// streaming encoder, which the Parquet writer creates for every compressed column chunk,
/// sets up about a megabyte of match tables whatever the chunk's size: below 64 KiB that
/// costs more than encoding the chunk, and saves little, since most of these columns' bytes
/// are hashes and addresses (the 47 mainnet blocks' transactions files, one block a
/// partition: 2.65 MB all compressed, 2.85 MB with this rule, 3.20 MB none; writing them
/// 180 ms -> 130 ms). The choice depends only on the rows, so the same rows give the same
/// bytes; a large partition's columns are all above it.
pub const SMALL_RESULT_BYTES: usize = 64 << 10;

/// Below this many rows a result file is written without dictionary encoding. A dictionary
/// saves bytes only where a column repeats its values, which a few rows seldom do, and the
/// writer pays for it in every leaf column whatever the rows: an encoder with its hash
/// table, a dictionary page beside the data page. A partition of one block writes one row
/// of the `blocks` table's 54 columns. Measured inside the job on the 47 mainnet blocks
/// (one block a partition, three writes of each file with each setting, alternating, in
/// one process; with the 1 MiB write buffer): the `blocks` files took 71 -> 44 ms and
/// 86 -> 60 ms in two runs and shrank from 2.05 to 1.87 MB; the four tables' files took
/// 12% less time and grew by 4% (`transactions` 8.60 -> 9.18 MB, `hotspots` 0.47 -> 0.55
/// MB). With dictionaries off in every file, the `transactions` files grew by half and the
/// `conflicts` files fourfold. The choice depends only on the rows, so the same rows give
/// the same bytes.
pub const DICTIONARY_MIN_ROWS: usize = 64;

/// [`result_properties`] for a file of `batch`: zstd for the leaves of each top-level column
/// of at least [`SMALL_RESULT_BYTES`] of Arrow data, no compression for the others; no
/// dictionaries below [`DICTIONARY_MIN_ROWS`] rows.
///
/// # Errors
/// [`DatasetError::Parquet`] when `batch`'s schema has no Parquet equivalent.
pub fn result_properties_for(batch: &RecordBatch) -> Result<WriterProperties, DatasetError> {
    let leaves = ArrowSchemaConverter::new().convert(&batch.schema())?;
    let mut builder = result_builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(batch.num_rows() >= DICTIONARY_MIN_ROWS);
    let zstd = Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default());
    for (index, leaf) in leaves.columns().iter().enumerate() {
        let root = batch.column(leaves.get_column_root_idx(index)).to_data();
        if root.get_slice_memory_size()? >= SMALL_RESULT_BYTES {
            builder = builder.set_column_compression(leaf.path().clone(), zstd);
        }
    }
    Ok(builder.build())
}

/// Writer settings of the archive: per-block binary values are unique, so dictionary
/// encoding is off for them; contract code repeats across blocks and keeps a dictionary
/// large enough to hold it.
pub fn archive_properties() -> WriterProperties {
    let path = |parts: &[&str]| ColumnPath::new(parts.iter().map(|p| (*p).to_owned()).collect());
    base_properties()
        .set_max_row_group_row_count(Some(ARCHIVE_ROW_GROUP_BLOCKS))
        .set_column_dictionary_enabled(path(&["block_rlp"]), false)
        .set_column_dictionary_enabled(path(&["hash"]), false)
        .set_column_dictionary_page_size_limit(
            path(&["pre_state", "list", "item", "code"]),
            8 << 20,
        )
        .build()
}

/// The `*.parquet` files directly in `dir`, sorted by name.
///
/// # Errors
/// [`DatasetError::Io`] when `dir` cannot be listed.
pub fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let entries = fs::read_dir(dir).map_err(|e| DatasetError::io(dir, e))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    out.sort();
    Ok(out)
}

/// Creates `dir` and its parents.
///
/// # Errors
/// [`DatasetError::Io`].
pub fn create_dir(dir: &Path) -> Result<(), DatasetError> {
    fs::create_dir_all(dir).map_err(|e| DatasetError::io(dir, e))
}

/// fsyncs a folder, so that a rename inside it survives a crash.
///
/// # Errors
/// [`DatasetError::Io`].
pub fn sync_dir(dir: &Path) -> Result<(), DatasetError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| DatasetError::io(dir, e))
}

/// The temporary name a file is written under before it is renamed into place.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `batches` (projected to `schema`'s columns) as one Parquet file at `path`, fsynced.
/// Returns the number of rows.
///
/// # Errors
/// I/O, Arrow and Parquet errors.
pub fn write_parquet(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> Result<usize, DatasetError> {
    let (file, rows) = write_parquet_file(path, schema, batches, props)?;
    file.sync_all().map_err(|e| DatasetError::io(path, e))?;
    Ok(rows)
}

/// [`write_parquet`] without the fsync: the file is complete in the page cache when this
/// returns, and whoever publishes it calls [`sync_file`] before recording it anywhere that
/// must survive a crash. The job's workers write this way, so that a worker goes on to its
/// next partition instead of waiting on the disk (the committer waits instead).
///
/// # Errors
/// I/O, Arrow and Parquet errors.
pub fn write_parquet_unsynced(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> Result<usize, DatasetError> {
    write_parquet_file(path, schema, batches, props).map(|(_, rows)| rows)
}

/// The buffer between the Parquet writer and its file. The writer buffers 8 KiB itself, so
/// a result file of a few tens of kilobytes went to the file system in a system call every
/// 8 KiB; with this buffer most result files are one write.
const WRITE_BUFFER: usize = 1 << 20;

fn write_parquet_file(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> Result<(fs::File, usize), DatasetError> {
    let file = fs::File::create(path).map_err(|e| DatasetError::io(path, e))?;
    let buffered = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut writer = ArrowWriter::try_new(buffered, schema.clone(), Some(props))?;
    let mut rows = 0;
    for batch in batches {
        let projected = project(batch, schema)?;
        rows += projected.num_rows();
        writer.write(&projected)?;
    }
    let file = writer
        .into_inner()?
        .into_inner()
        .map_err(|e| DatasetError::io(path, e.into_error()))?;
    Ok((file, rows))
}

/// fsyncs the file at `path` (written earlier, for example by [`write_parquet_unsynced`]).
///
/// # Errors
/// [`DatasetError::Io`].
pub fn sync_file(path: &Path) -> Result<(), DatasetError> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| DatasetError::io(path, e))
}

/// [`write_parquet`] to a temporary name, then renamed to `path` (readers never see a
/// partial file).
///
/// # Errors
/// As [`write_parquet`].
pub fn write_parquet_atomic(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> Result<usize, DatasetError> {
    let temp = temp_path(path);
    let rows = write_parquet(&temp, schema, batches, props)?;
    fs::rename(&temp, path).map_err(|e| DatasetError::io(path, e))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(rows)
}

/// Writes `bytes` to `path` atomically: a temporary file, fsync, rename, fsync of the folder.
///
/// # Errors
/// [`DatasetError::Io`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DatasetError> {
    let temp = temp_path(path);
    let mut file = fs::File::create(&temp).map_err(|e| DatasetError::io(&temp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| DatasetError::io(&temp, e))?;
    drop(file);
    fs::rename(&temp, path).map_err(|e| DatasetError::io(path, e))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// The columns of `batch` named in `schema`, in `schema`'s order.
///
/// # Errors
/// [`DatasetError::Schema`] when a column is missing.
pub fn project(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, DatasetError> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let indices = schema
        .fields()
        .iter()
        .map(|f| {
            batch
                .schema()
                .index_of(f.name())
                .map_err(|_| DatasetError::Schema(format!("batch has no column `{}`", f.name())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let projected = batch.project(&indices)?;
    Ok(RecordBatch::try_new(
        schema.clone(),
        projected.columns().to_vec(),
    )?)
}

/// Reads a whole Parquet file.
///
/// # Errors
/// I/O and Parquet errors.
pub fn read_parquet(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>), DatasetError> {
    let file = fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let schema = builder.schema().clone();
    let batches = builder
        .with_batch_size(65_536)
        .build()?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, BooleanArray, Int64Array, ListArray};
    use arrow_buffer::OffsetBuffer;
    use arrow_schema::{DataType, Field};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    fn batch(rows: i64) -> RecordBatch {
        let column: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
        RecordBatch::try_from_iter([("n", column)]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The codec of each column chunk of the file `batch` is written to.
    fn codecs_of(batch: &RecordBatch) -> Vec<Compression> {
        chunks_of(batch)
            .into_iter()
            .map(|(codec, _)| codec)
            .collect()
    }

    /// The codec of each column chunk of the file `batch` is written to, and whether the
    /// chunk has a dictionary page; the file read back must hold `batch`'s rows.
    fn chunks_of(batch: &RecordBatch) -> Vec<(Compression, bool)> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("t.parquet");
        let props = result_properties_for(batch).unwrap_or_else(|e| panic!("{e}"));
        let rows = write_parquet(&path, &batch.schema(), std::slice::from_ref(batch), props)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows, batch.num_rows());
        let file = fs::File::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let reader = SerializedFileReader::new(file).unwrap_or_else(|e| panic!("{e}"));
        let group = reader.metadata().row_group(0);
        let chunks = group
            .columns()
            .iter()
            .map(|c| (c.compression(), c.dictionary_page_offset().is_some()))
            .collect();
        let (_, back) = read_parquet(&path).unwrap_or_else(|e| panic!("{e}"));
        let back = arrow_select::concat::concat_batches(&batch.schema(), &back)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, *batch);
        chunks
    }

    #[test]
    fn files_of_few_rows_have_no_dictionary() {
        // Values that repeat, which a dictionary would hold once.
        let repeating = |rows: usize| {
            let column: ArrayRef = Arc::new(Int64Array::from_iter_values(
                (0..rows).map(|i| (i % 4) as i64),
            ));
            RecordBatch::try_from_iter([("n", column)]).unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(
            chunks_of(&repeating(DICTIONARY_MIN_ROWS - 1)),
            [(Compression::UNCOMPRESSED, false)]
        );
        assert_eq!(
            chunks_of(&repeating(DICTIONARY_MIN_ROWS)),
            [(Compression::UNCOMPRESSED, true)]
        );
    }

    #[test]
    fn small_result_columns_are_uncompressed_and_larger_ones_zstd() {
        let small = batch(100);
        assert_eq!(codecs_of(&small), [Compression::UNCOMPRESSED]);
        let large = batch(100_000);
        assert!(matches!(codecs_of(&large)[..], [Compression::ZSTD(_)]));
    }

    #[test]
    fn each_column_is_compressed_by_its_own_size_and_nested_leaves_follow_their_root() {
        let rows = 20_000;
        let big: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
        let small: ArrayRef =
            Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(i % 3 == 0))));
        let items = Arc::new(Field::new("item", DataType::Int64, false));
        let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(1, rows as usize));
        let list: ArrayRef = Arc::new(ListArray::new(items, offsets, big.clone(), None));
        let batch = RecordBatch::try_from_iter([("big", big), ("small", small), ("list", list)])
            .unwrap_or_else(|e| panic!("{e}"));
        let codecs = codecs_of(&batch);
        assert_eq!(codecs.len(), 3);
        assert!(matches!(codecs[0], Compression::ZSTD(_)), "{codecs:?}");
        assert_eq!(codecs[1], Compression::UNCOMPRESSED);
        assert!(matches!(codecs[2], Compression::ZSTD(_)), "{codecs:?}");
        // A slice counts the rows it holds, not the buffers it shares (a list's slice still
        // counts its whole child array: Arrow slices the offsets only).
        let sliced = codecs_of(&batch.slice(0, 100));
        assert_eq!(sliced[..2], [Compression::UNCOMPRESSED; 2]);
    }
}
