//! [`JobParams`]: the parameters that shape a job's outputs, shared by the replay of a batch,
//! the checkpoint that records them and the job that runs.

use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

use crate::{DatasetError, partition::BlockRange};

/// The parameters that shape a job's outputs (recorded in its checkpoint; changing them
/// into existing results is refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    /// Thread counts of the parallel replays of each block, in order (each at least 1).
    pub threads: Vec<usize>,
    /// Width of a partition in block numbers: block `n` is in partition
    /// `n - n % partition_blocks`.
    pub partition_blocks: u64,
    /// Null every `measured_*` column, so that the outputs are byte-for-byte reproducible.
    pub reproducible: bool,
}

impl Default for JobParams {
    fn default() -> Self {
        Self {
            threads: vec![1, 2],
            partition_blocks: 10_000,
            reproducible: false,
        }
    }
}

impl JobParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`DatasetError::Usage`] for no thread count, a zero thread count or a zero width.
    pub fn validate(&self) -> Result<(), DatasetError> {
        if self.threads.is_empty() {
            return Err(DatasetError::Usage("--threads is empty".into()));
        }
        if self.threads.contains(&0) {
            return Err(DatasetError::Usage(
                "--threads: 0 is not a thread count".into(),
            ));
        }
        if self.partition_blocks == 0 {
            return Err(DatasetError::Usage(
                "--partition-blocks must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The largest thread count: the size of the engine's pool.
    pub fn max_threads(&self) -> NonZeroUsize {
        self.threads
            .iter()
            .copied()
            .max()
            .and_then(NonZeroUsize::new)
            .unwrap_or(NonZeroUsize::MIN)
    }

    /// The partition holding block `number`.
    pub fn range_of(&self, number: u64) -> BlockRange {
        BlockRange::containing(number, self.partition_blocks)
    }
}
