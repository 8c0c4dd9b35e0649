//! # ReplayEVM datasets
//!
//! The Parquet side of ReplayEVM: the block archive the job reads, the four result tables it
//! writes, and the job itself as it runs on one machine. The Spark job reuses all of it.
//!
//! The pipeline, one stage a module: the **archive** is read by block range; each
//! **partition** of blocks is **replayed** (sequential oracle, parallel runs, analysis);
//! the per-block rows are encoded as the four result **tables**; the **job** writes them as
//! Parquet and commits each partition in the **checkpoint**; the **summary** is read back from
//! the committed `blocks` files.
//!
//! | module | what it holds |
//! |---|---|
//! | [`schema`] | the table definitions, loaded from `schemas/*.json` (the single source of truth; `schemas/README.md` is generated from them) |
//! | [`archive`] | the block archive: [`archive::Archive`] (the folder, read by block range) in `archive/mod.rs`; `row.rs` [`ArchiveRow`] ⇄ `ArchivedBlock`; `write.rs` rows to record batches and folders; `read.rs` [`archive::ArchiveColumns`], typed views of a batch; `conform.rs` archives from other writers; `import.rs` block folders; `sample.rs` the generated sample |
//! | [`partition`] | [`BlockRange`]: which partition a block is in, and the `block_range` value and folder name |
//! | [`replay`] | [`replay_batch`]: a batch of archive rows in, the four result tables out (decode, check, replay, verify, parallel runs, analysis) |
//! | [`params`] | [`JobParams`]: thread counts, partition width, reproducibility |
//! | [`measure`] | how a block's replays are timed: interleaved rounds, repeated on small blocks, medians and spreads |
//! | [`allocator`] | the allocator setting of every process that times replays (the `replay-evm` binary, the benchmark harness, the Python module): memory a replay frees is kept for the next |
//! | [`tables`] | [`ResultBatches`] and one encoder per result table (`blocks.rs`, `transactions.rs`, `conflicts.rs`, `hotspots.rs`); `read.rs` reads a results folder's tables back |
//! | [`checkpoint`] | the manifest `_checkpoint.json`, what must match to resume, and which entries of a results folder the job owns ([`checkpoint::owned_entries`], [`checkpoint::clean`]) |
//! | [`job`] | the run loop: partitions, workers, progress, the commit of each partition |
//! | [`summary`] | the summary table of a job, read back from the committed `blocks` files |
//! | [`parquet`] | fixed Parquet writer settings, atomic writes and renames, reading a file back |
//! | [`error`] | [`DatasetError`] |
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

pub mod allocator;
pub mod archive;
pub mod checkpoint;
mod columns;
pub mod error;
pub mod job;
pub mod measure;
pub mod params;
pub mod parquet;
pub mod partition;
pub mod replay;
pub mod schema;
pub mod summary;
pub mod tables;

pub use archive::{Archive, ArchiveRow};
pub use checkpoint::ENGINE_VERSION;
pub use error::DatasetError;
pub use params::JobParams;
pub use partition::BlockRange;
pub use replay::{replay_batch, replay_batch_with};
pub use tables::ResultBatches;
