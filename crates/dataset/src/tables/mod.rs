//! The four result tables (`schemas/{blocks,transactions,conflicts,hotspots}.json`): built
//! from the per-block rows of a batch (`rows.rs`), one encoder a table, and read back from a
//! results folder ([`read_table`]).
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | [`ResultBatches`], and `build_tables`: every table of a batch |
//! | `rows.rs` | the rows of one block, as the replay pipeline builds them |
//! | `blocks.rs`, `transactions.rs`, `conflicts.rs`, `hotspots.rs` | one encoder per table |
//! | `lists.rs` | the list columns several tables share (locations, transaction indices) |
//! | `read.rs` | [`read_table`] and [`without_measured`]: the tables of a results folder, read back |

use arrow_array::RecordBatch;

mod blocks;
mod conflicts;
mod hotspots;
mod lists;
mod read;
pub(crate) mod rows;
mod transactions;

pub use read::{read_table, without_measured};

use crate::{DatasetError, archive::RowMeta, partition::BlockRange, tables::rows::BlockOutput};

/// The four result tables of one batch of archive rows.
#[derive(Debug, Clone)]
pub struct ResultBatches {
    /// `schemas/blocks.json`.
    pub blocks: RecordBatch,
    /// `schemas/transactions.json`.
    pub transactions: RecordBatch,
    /// `schemas/conflicts.json`.
    pub conflicts: RecordBatch,
    /// `schemas/hotspots.json`.
    pub hotspots: RecordBatch,
}

impl ResultBatches {
    /// The batch of result table `name`.
    pub fn get(&self, name: &str) -> Option<&RecordBatch> {
        match name {
            "blocks" => Some(&self.blocks),
            "transactions" => Some(&self.transactions),
            "conflicts" => Some(&self.conflicts),
            "hotspots" => Some(&self.hotspots),
            _ => None,
        }
    }

    /// (table name, batch) for the four tables, in [`crate::schema::RESULT_TABLES`] order.
    pub fn tables(&self) -> [(&'static str, &RecordBatch); 4] {
        [
            ("blocks", &self.blocks),
            ("transactions", &self.transactions),
            ("conflicts", &self.conflicts),
            ("hotspots", &self.hotspots),
        ]
    }
}

/// The four tables of a batch's block outputs (in block order), with each row's
/// `block_range` for partitions of `partition_blocks` blocks.
pub(crate) fn build_tables(
    outputs: &[BlockOutput],
    partition_blocks: u64,
) -> Result<ResultBatches, DatasetError> {
    let range = |meta: &RowMeta| {
        BlockRange::containing(u64::try_from(meta.number).unwrap_or(0), partition_blocks).name()
    };
    Ok(ResultBatches {
        blocks: blocks::blocks_batch(outputs, &range)?,
        transactions: transactions::transactions_batch(outputs, &range)?,
        conflicts: conflicts::conflicts_batch(outputs, &range)?,
        hotspots: hotspots::hotspots_batch(outputs, &range)?,
    })
}
