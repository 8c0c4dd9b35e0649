//! Per-block dependency analysis: how parallel a block's transactions could be. One file per
//! part, under `analysis/`.
//!
//! The input is a block's transactions in order, each with the locations it read, fully
//! wrote and changed by a lazy balance delta ([`TxAccess`](crate::access::TxAccess)), taken
//! from Block-STM's last incarnations
//! ([`ParallelReplay::accesses`](crate::parallel::ParallelReplay::accesses)), which read
//! exactly what the in-order execution reads, so the result does not depend on
//! thread timing. Everything here is a pure, deterministic function of that input: hash
//! maps are only used for look-ups and are never iterated to produce output.
//!
//! * [`dependencies`] builds the [`DependencyGraph`] (`graph.rs`): transaction `i` depends on
//!   `j < i` when `i` reads a location whose last writer before `i` is `j`. Only reads create
//!   dependencies (write-after-write and write-after-read are not edges). Under
//!   [`UpdateModel::Lazy`] a balance delta is a commutative update that does not read: a read
//!   of a location depends on its last full writer and on every delta writer since that full
//!   write. Under [`UpdateModel::Naive`] a delta is a plain read-modify-write.
//! * The graph answers the [conflict rate](DependencyGraph::conflict_rate) (`graph.rs`), the
//!   gas-weighted [critical path](DependencyGraph::critical_path) and the
//!   [unbounded speedup](DependencyGraph::theoretical_speedup) (`critical_path.rs`), and the
//!   speedup of a [list schedule on `k` workers](DependencyGraph::speedup_with_threads)
//!   (`list_schedule.rs`).
//! * [`hotspots()`] ranks the locations by how many dependency edges they cause
//!   (`hotspots.rs`).
//! * [`analyse`] computes all of it under both update models at once ([`BlockAnalysis`],
//!   one [`DagSummary`] each; `summary.rs`).
//!
//! Cost: building the graph is linear in the number of accesses plus the number of
//! (edge, location) pairs, up to the sort of each transaction's own edges; scheduling is
//! `O((txs + edges) log txs)` per thread count.

mod critical_path;
mod graph;
mod hotspots;
mod list_schedule;
mod summary;

pub use critical_path::CriticalPath;
pub use graph::{DependencyGraph, Edge, UpdateModel, dependencies};
pub use hotspots::{Hotspot, hotspots};
pub use list_schedule::ThreadSpeedup;
pub use summary::{BlockAnalysis, DagSummary, THREAD_COUNTS, TOP_HOTSPOTS, analyse};
