//! # ReplayEVM datasets
//!
//! The Parquet side of ReplayEVM: the block archive the job reads, the four result tables it
//! writes, and the job itself as it runs on one machine. The Spark job reuses all of it.
//!
//! | module | what it holds |
//! |---|---|
//! | [`schema`] | the table definitions, loaded from `schemas/*.json` (the single source of truth; `schemas/README.md` is generated from them) |
//! | [`archive`] | [`archive::ArchiveRow`] ⇄ `ArchivedBlock`, archive record batches and folders, `archive import` and `archive sample` |
//! | [`results`] | [`results::replay_batch`]: a batch of archive rows in, the four result tables out; the pure per-partition work |
//! | [`measure`] | how a block's replays are timed: interleaved rounds, repeated on small blocks, medians and spreads |
//! | [`job`] | partitions, workers, progress, the checkpoint manifest, resume, the summary |
//! | [`files`] | fixed Parquet writer settings, atomic writes and renames |
//!
//! The layout of a results folder:
//!
//! ```text
//! RESULTS/_checkpoint.json                 job parameters, versions, committed partitions
//! RESULTS/blocks/block_range=S-E/part-00000.parquet
//! RESULTS/transactions/block_range=S-E/part-00000.parquet
//! RESULTS/conflicts/block_range=S-E/part-00000.parquet
//! RESULTS/hotspots/block_range=S-E/part-00000.parquet
//! RESULTS/_tmp/                            partitions being written (removed on resume)
//! ```

use std::path::{Path, PathBuf};

pub mod archive;
mod columns;
pub mod files;
pub mod job;
pub mod measure;
pub mod results;
pub mod schema;

pub use results::{BlockRange, JobParams, ResultBatches, replay_batch};

/// The engine version recorded in every checkpoint: this crate's version, which the whole
/// workspace (engine included) shares.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything that can stop a dataset operation. A bad block never does: it becomes a row.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Bad arguments, or a request the existing data refuses (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// A table definition, or a batch that does not match one.
    #[error("schema: {0}")]
    Schema(String),
    /// An archive that cannot be opened or written.
    #[error("archive: {0}")]
    Archive(String),
    /// A file-system error, naming the path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An Arrow error.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A Parquet error.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The parallel engine could not start.
    #[error("engine: {0}")]
    Engine(String),
}

impl DatasetError {
    /// An I/O error at `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
