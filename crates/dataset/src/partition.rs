//! Partitioning by block range: the one definition of the `block_range` rule.
//!
//! Block `n` is in the partition `n - n % width ..= n - n % width + width - 1`, where `width`
//! is the job's `partition_blocks`. The partition's value in the `block_range` column and in
//! the hive folder names (`block_range=SSSSSSSSSSS-EEEEEEEEEEE`) is [`BlockRange::name`]:
//! 11 zero-padded digits each, so that names sort as numbers do.

/// The partition column of the result tables, and the prefix of their partition folders
/// (`block_range=<name>`).
pub const PARTITION_COLUMN: &str = "block_range";

/// A partition: the block numbers `start..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockRange {
    /// First block number.
    pub start: u64,
    /// Last block number (inclusive).
    pub end: u64,
}

impl BlockRange {
    /// The range of width `width` (at least 1) holding `number`.
    pub fn containing(number: u64, width: u64) -> Self {
        let width = width.max(1);
        let start = number - number % width;
        Self {
            start,
            end: start.saturating_add(width - 1),
        }
    }

    /// The partition value, `SSSSSSSSSSS-EEEEEEEEEEE` (11 zero-padded digits each).
    pub fn name(&self) -> String {
        format!("{:011}-{:011}", self.start, self.end)
    }

    /// Parses [`BlockRange::name`].
    pub fn parse(name: &str) -> Option<Self> {
        let (start, end) = name.split_once('-')?;
        Some(Self {
            start: start.parse().ok()?,
            end: end.parse().ok()?,
        })
    }

    /// The name of the partition's folder in each table: `block_range=<name>`.
    pub fn dir_name(&self) -> String {
        format!("{PARTITION_COLUMN}={}", self.name())
    }
}

/// The partition value a partition folder's name holds (`block_range=<value>` gives
/// `<value>`), or `None` for any other name.
pub fn value_of_dir_name(dir_name: &str) -> Option<&str> {
    dir_name
        .strip_prefix(PARTITION_COLUMN)
        .and_then(|rest| rest.strip_prefix('='))
}
