//! The crate's one error type.

use std::path::{Path, PathBuf};

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
