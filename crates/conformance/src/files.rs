//! Finding and reading fixture files: both runners take files or folders searched recursively
//! for `.json` files.

use std::path::{Path, PathBuf};

use crate::error::ConformanceError;

/// The test files under `path`: `path` itself when it is a file, otherwise every `.json` file
/// below it, recursively (following links), sorted by path.
///
/// # Errors
/// [`ConformanceError::NotFound`] when `path` does not exist, [`ConformanceError::Io`] when a
/// directory cannot be listed and [`ConformanceError::NoJsonFiles`] when a directory holds no
/// `.json` file.
pub fn collect_test_files(path: &Path) -> Result<Vec<PathBuf>, ConformanceError> {
    let metadata = std::fs::metadata(path).map_err(|source| io_error(path, source))?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let io = |source| ConformanceError::Io {
            path: dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let entry_path = entry.path();
            // `metadata` follows symlinks, so linked folders and files are walked too.
            let meta = std::fs::metadata(&entry_path).map_err(|source| ConformanceError::Io {
                path: entry_path.clone(),
                source,
            })?;
            if meta.is_dir() {
                pending.push(entry_path);
            } else if entry_path.extension().is_some_and(|e| e == "json") {
                files.push(entry_path);
            }
        }
    }
    if files.is_empty() {
        return Err(ConformanceError::NoJsonFiles {
            path: path.to_path_buf(),
        });
    }
    files.sort();
    Ok(files)
}

/// The bytes of the file at `path`.
///
/// # Errors
/// As [`io_error`].
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, ConformanceError> {
    std::fs::read(path).map_err(|source| io_error(path, source))
}

/// An I/O error on `path`: [`ConformanceError::NotFound`] when it does not exist,
/// [`ConformanceError::Io`] otherwise.
fn io_error(path: &Path, source: std::io::Error) -> ConformanceError {
    if source.kind() == std::io::ErrorKind::NotFound {
        ConformanceError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        ConformanceError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
