//! Typed errors of the conformance runners. Each names the file or path it is about.

use std::path::PathBuf;

/// Why a path or a file could not be run at all, by the state-test runner, the parallel
/// comparison or the blockchain-test runner.
///
/// [`crate::run_path`] and [`crate::run_blocktests`] return the path-level variants
/// ([`ConformanceError::NotFound`], [`ConformanceError::Io`],
/// [`ConformanceError::NoJsonFiles`]); a file that cannot be read or parsed does not stop a
/// run but becomes a [`crate::Failure`] whose message is this error's text.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// The path does not exist.
    #[error("{}: no such file or directory", path.display())]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// The path (or a directory below it, or a file) could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A directory with no `.json` file below it.
    #[error("{}: no .json state-test files found", path.display())]
    NoJsonFiles {
        /// The directory searched.
        path: PathBuf,
    },
    /// Thread counts a parallel comparison cannot honour: none given, zero, or more than the
    /// parallel engine's pool holds (the engine would silently run fewer).
    #[error(
        "{}: cannot replay at {requested} threads: the parallel engine's pool has {available} \
         (give one or more thread counts from 1 to {available})",
        path.display()
    )]
    Threads {
        /// The path the comparison was asked to run.
        path: PathBuf,
        /// The offending thread count (0 when none was given).
        requested: usize,
        /// Threads in the engine's pool.
        available: usize,
    },
    /// A file that is not a valid state-test file (malformed JSON, invalid hex, missing
    /// field...). The message carries serde's line and column.
    #[error("{}: invalid state-test JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

impl ConformanceError {
    /// The path the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::NotFound { path }
            | Self::Io { path, .. }
            | Self::NoJsonFiles { path }
            | Self::Threads { path, .. }
            | Self::Json { path, .. } => path,
        }
    }

    /// The error without its leading path, for reports that show the path separately.
    pub fn detail(&self) -> String {
        let full = self.to_string();
        let prefix = format!("{}: ", self.path().display());
        full.strip_prefix(&prefix)
            .map_or_else(|| full.clone(), str::to_owned)
    }
}
