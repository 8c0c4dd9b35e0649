//! `archive import`: block folders (such as the shared mainnet fixtures) as archive rows.

use std::path::PathBuf;

use rayon::prelude::*;
use replay_evm::block_dir::load_block_dir;

use crate::archive::row::ArchiveRow;

/// Loads each block folder (checked by [`load_block_dir`]: header hash, transactions,
/// withdrawals and ommers roots, and senders) and encodes it as a row, checking that the row
/// decodes to the same block. Returns the rows, and the folders that failed with why.
pub fn import_block_dirs(
    dirs: &[PathBuf],
    chain_id: u64,
) -> (Vec<ArchiveRow>, Vec<(PathBuf, String)>) {
    let results: Vec<Result<ArchiveRow, String>> = dirs
        .par_iter()
        .map(|dir| {
            let block = load_block_dir(dir, chain_id).map_err(|e| e.to_string())?;
            ArchiveRow::from_block(&block).map_err(|e| e.to_string())
        })
        .collect();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (dir, result) in dirs.iter().zip(results) {
        match result {
            Ok(row) => rows.push(row),
            Err(e) => failures.push((dir.clone(), e)),
        }
    }
    (rows, failures)
}
