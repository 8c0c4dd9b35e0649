//! Where the shared test fixtures live: `$REPLAY_EVM_FIXTURES`, or `../shared/fixtures`
//! beside the repository. Tests call [`fixtures_dir`] and fail loudly when the folder is
//! missing; they never pass silently without data.

use std::path::PathBuf;

/// The environment variable naming the fixtures folder.
pub const FIXTURES_ENV: &str = "REPLAY_EVM_FIXTURES";

/// The fixtures folder, checked to exist.
///
/// # Errors
/// A message naming the folder looked for and the variable that overrides it.
pub fn fixtures_dir() -> Result<PathBuf, String> {
    let dir = match std::env::var_os(FIXTURES_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "test fixtures not found at {}: put the shared fixtures beside the repository or \
             set {FIXTURES_ENV}",
            dir.display()
        ))
    }
}

/// Every block folder under `<fixtures>/mainnet`, sorted by block number.
///
/// # Errors
/// When the fixtures or the mainnet folder are missing or empty.
pub fn mainnet_block_dirs() -> Result<Vec<PathBuf>, String> {
    let root = fixtures_dir()?.join("mainnet");
    let entries = std::fs::read_dir(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut dirs: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let number = e.file_name().to_str()?.parse().ok()?;
            Some((number, e.path()))
        })
        .collect();
    if dirs.is_empty() {
        return Err(format!("no block folders in {}", root.display()));
    }
    dirs.sort();
    Ok(dirs.into_iter().map(|(_, p)| p).collect())
}
