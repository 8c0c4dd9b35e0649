//! The checkpoint manifest (`RESULTS/_checkpoint.json`) and the results folder it governs.
//!
//! # What must match to resume
//! The manifest records the engine version, the schema version, the [`JobParams`] and the
//! archive's identity (block count and the digest of its numbers and hashes). A run whose
//! values differ is refused unless `overwrite` is set, which removes the previous results.
//! The number of workers is not a parameter: it changes how fast, not what, the job writes.
//!
//! # Which entries of a results folder the job owns
//! [`owned_entries`]: the four table folders, `_tmp/`, the manifest and its temporary name.
//! Nothing else in the folder is ever touched. On resume, [`clean`] removes `_tmp/` and every
//! partition folder the manifest does not list; [`prepare`] applies the whole rule (refuse,
//! overwrite or resume) before a run. This is the one definition of the rule; the Spark job is
//! meant to call it through the native module.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    DatasetError,
    params::JobParams,
    parquet,
    partition::{self, BlockRange},
    schema::RESULT_TABLES,
};

/// The engine version recorded in every checkpoint: this crate's version, which the whole
/// workspace (engine included) shares.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The manifest's file name under the results folder.
pub const CHECKPOINT_FILE: &str = "_checkpoint.json";

/// Where partitions are written before they are published.
pub const TEMP_DIR: &str = "_tmp";

/// The file name of a partition's data in each table.
pub const PART_FILE: &str = "part-00000.parquet";

/// The format version of the manifest itself.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// The archive's identity, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveInfo {
    /// Number of blocks.
    pub blocks: u64,
    /// Keccak-256 of every (number, hash), in number order.
    pub digest: String,
}

/// One committed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Path relative to the results folder.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
}

/// One committed partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionRecord {
    /// Blocks in the partition.
    pub blocks: u64,
    /// Blocks that failed (decode, check, replay, verify or parallel).
    pub failed: u64,
    /// Transactions of the blocks.
    pub txs: u64,
    /// Gas used by the replayed blocks.
    pub gas_used: u64,
    /// The partition's file in each table.
    pub files: BTreeMap<String, FileRecord>,
}

/// The checkpoint manifest, `RESULTS/_checkpoint.json`. It holds no time or path, so an
/// interrupted and resumed job ends with the same manifest as an uninterrupted one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`].
    pub format: u32,
    /// [`ENGINE_VERSION`] of the job that wrote the results.
    pub engine_version: String,
    /// [`SCHEMA_VERSION`](crate::schema::SCHEMA_VERSION) of the tables.
    pub schema_version: u32,
    /// The job's parameters.
    pub params: JobParams,
    /// The archive replayed.
    pub archive: ArchiveInfo,
    /// Committed partitions, by range name.
    pub partitions: BTreeMap<String, PartitionRecord>,
}

impl Checkpoint {
    /// Reads the manifest of `out`, if there is one.
    ///
    /// # Errors
    /// [`DatasetError::Usage`] for a manifest that does not parse.
    pub fn load(out: &Path) -> Result<Option<Self>, DatasetError> {
        let path = out.join(CHECKPOINT_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                DatasetError::Usage(format!(
                    "{}: not a checkpoint manifest ({e}); use --overwrite to start again",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DatasetError::io(&path, e)),
        }
    }

    /// Writes the manifest atomically.
    ///
    /// # Errors
    /// [`DatasetError::Io`].
    pub fn store(&self, out: &Path) -> Result<(), DatasetError> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| DatasetError::Schema(format!("checkpoint: {e}")))?;
        text.push('\n');
        parquet::write_atomic(&out.join(CHECKPOINT_FILE), text.as_bytes())
    }

    /// How `self` (existing results) differs from `other` (this run), in words: what
    /// refuses a resume.
    pub fn differences(&self, other: &Self) -> Vec<String> {
        let (a, b) = (&self.params, &other.params);
        let archive = |c: &Self| {
            format!(
                "{} blocks with digest {}",
                c.archive.blocks, c.archive.digest
            )
        };
        // (what, existing, this run's, how this run's is introduced)
        let fields = [
            (
                "manifest format",
                self.format.to_string(),
                other.format.to_string(),
                "this build writes",
            ),
            (
                "engine version",
                self.engine_version.clone(),
                other.engine_version.clone(),
                "this build is",
            ),
            (
                "schema version",
                self.schema_version.to_string(),
                other.schema_version.to_string(),
                "this build writes",
            ),
            ("--threads", join(&a.threads), join(&b.threads), "this run:"),
            (
                "--partition-blocks",
                a.partition_blocks.to_string(),
                b.partition_blocks.to_string(),
                "this run:",
            ),
            (
                "--reproducible",
                a.reproducible.to_string(),
                b.reproducible.to_string(),
                "this run:",
            ),
            (
                "an archive of",
                archive(self),
                archive(other),
                "this run's:",
            ),
        ];
        fields
            .into_iter()
            .filter(|(_, existing, current, _)| existing != current)
            .map(|(what, existing, current, whose)| {
                format!("{what} {existing} ({whose} {current})")
            })
            .collect()
    }
}

fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The entries of the results folder `out` that the job owns: the four table folders,
/// `_tmp/`, the manifest and the manifest's temporary name. `overwrite` removes exactly
/// these; without a manifest, any of them existing makes a run refuse the folder.
pub fn owned_entries(out: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = RESULT_TABLES.iter().map(|t| out.join(t)).collect();
    entries.push(out.join(TEMP_DIR));
    entries.push(out.join(CHECKPOINT_FILE));
    entries.push(parquet::temp_path(&out.join(CHECKPOINT_FILE)));
    entries
}

/// Removes the file or folder `path`, if it exists.
///
/// # Errors
/// [`DatasetError::Io`].
pub fn remove(path: &Path) -> Result<(), DatasetError> {
    let result = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DatasetError::io(path, e)),
    }
}

/// The folder of partition `range` in result table `table` of `out`.
pub fn partition_dir(out: &Path, table: &str, range: &BlockRange) -> PathBuf {
    out.join(table).join(range.dir_name())
}

/// The path, relative to the results folder, of partition `range`'s file in `table`, as the
/// manifest records it.
pub fn part_path(table: &str, range: &BlockRange) -> String {
    format!("{table}/{}/{PART_FILE}", range.dir_name())
}

/// Brings `out` to a state where exactly the manifest's partitions are published: removes
/// `_tmp/` and every partition directory the manifest does not list, and forgets committed
/// partitions whose files are gone.
///
/// # Errors
/// [`DatasetError::Io`].
pub fn clean(out: &Path, checkpoint: &mut Checkpoint) -> Result<(), DatasetError> {
    remove(&out.join(TEMP_DIR))?;
    remove(&parquet::temp_path(&out.join(CHECKPOINT_FILE)))?;
    checkpoint
        .partitions
        .retain(|_, record| record.files.values().all(|f| out.join(&f.path).is_file()));
    for table in RESULT_TABLES {
        let dir = out.join(table);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let committed = partition::value_of_dir_name(&name)
                .is_some_and(|range| checkpoint.partitions.contains_key(range));
            if !committed {
                remove(&entry.path())?;
            }
        }
    }
    Ok(())
}

/// Readies the results folder `out` for a run whose manifest is `fresh` (no partitions):
/// with `overwrite`, removes the [`owned_entries`]; otherwise resumes the existing manifest
/// when it matches `fresh` ([`Checkpoint::differences`]), or refuses. Then [`clean`]s the
/// folder and stores the manifest. Returns the manifest the run continues, with the
/// partitions already committed.
///
/// # Errors
/// [`DatasetError::Usage`] when `out` holds results of another job, or entries the job owns
/// without a manifest, and `overwrite` is not set; I/O errors.
pub fn prepare(out: &Path, fresh: Checkpoint, overwrite: bool) -> Result<Checkpoint, DatasetError> {
    let mut checkpoint = fresh;
    let existing = Checkpoint::load(out)?;
    match existing {
        _ if overwrite => {
            for entry in owned_entries(out) {
                remove(&entry)?;
            }
        }
        Some(existing) => {
            let differences = existing.differences(&checkpoint);
            if !differences.is_empty() {
                return Err(DatasetError::Usage(format!(
                    "{} holds results of another job: it was written with {}. Run with \
                     --overwrite to replace them, or choose another --out",
                    out.display(),
                    differences.join("; ")
                )));
            }
            checkpoint.partitions = existing.partitions;
        }
        None => {
            if let Some(entry) = owned_entries(out).iter().find(|e| e.exists()) {
                return Err(DatasetError::Usage(format!(
                    "{} has no checkpoint manifest but holds {}: run with --overwrite to \
                     replace it, or choose another --out",
                    out.display(),
                    entry.display()
                )));
            }
        }
    }
    parquet::create_dir(out)?;
    clean(out, &mut checkpoint)?;
    checkpoint.store(out)?;
    Ok(checkpoint)
}
