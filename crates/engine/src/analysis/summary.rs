//! Everything measured about a block's dependencies, under both update models at once: the
//! numbers the `replay` command prints and the job's tables hold.

use super::{
    critical_path::CriticalPath,
    graph::{DependencyGraph, UpdateModel, dependencies},
    hotspots::{Hotspot, hotspots},
    list_schedule::ThreadSpeedup,
};
use crate::access::TxAccess;

/// The thread counts [`analyse`] simulates with list scheduling.
pub const THREAD_COUNTS: [usize; 4] = [2, 4, 8, 16];

/// How many hotspots a [`DagSummary`] keeps.
pub const TOP_HOTSPOTS: usize = 10;

/// Everything measured about a block under one [`UpdateModel`].
#[derive(Debug, Clone, PartialEq)]
pub struct DagSummary {
    /// The update model the graph was built with.
    pub mode: UpdateModel,
    /// The dependency graph.
    pub graph: DependencyGraph,
    /// Number of transactions.
    pub txs: usize,
    /// Number of dependency edges.
    pub edges: usize,
    /// Sum of the transactions' gas.
    pub total_gas: u64,
    /// Number of transactions with at least one dependency.
    pub conflicting_txs: usize,
    /// Share of transactions with at least one dependency.
    pub conflict_rate: f64,
    /// The gas-weighted critical path.
    pub critical_path: CriticalPath,
    /// Total gas / critical-path gas: the speedup with unboundedly many workers.
    pub theoretical_speedup: f64,
    /// List-scheduling speedups at each of [`THREAD_COUNTS`], in that order.
    pub speedups: Vec<ThreadSpeedup>,
    /// The [`TOP_HOTSPOTS`] locations causing the most edges, ranked as by [`hotspots`].
    pub hotspots: Vec<Hotspot>,
}

impl DagSummary {
    /// Computes the summary of a block under `mode`.
    pub fn new(txs: &[TxAccess], mode: UpdateModel) -> Self {
        let graph = dependencies(txs, mode);
        let critical_path = graph.critical_path();
        let total_gas = graph.total_gas();
        let theoretical_speedup = if total_gas == 0 {
            1.0
        } else {
            total_gas as f64 / critical_path.gas.max(1) as f64
        };
        let mut hot = hotspots(&graph);
        hot.truncate(TOP_HOTSPOTS);
        Self {
            mode,
            txs: graph.len(),
            edges: graph.edges().len(),
            total_gas,
            conflicting_txs: graph.conflicting_txs(),
            conflict_rate: graph.conflict_rate(),
            theoretical_speedup,
            speedups: graph.speedups(&THREAD_COUNTS),
            critical_path,
            hotspots: hot,
            graph,
        }
    }

    /// The list-scheduling speedup recorded for `threads` workers, if it was simulated.
    pub fn speedup_at(&self, threads: usize) -> Option<f64> {
        self.speedups
            .iter()
            .find(|s| s.threads == threads)
            .map(|s| s.speedup)
    }
}

/// A block analysed with lazy deltas and with every delta as a read-modify-write.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockAnalysis {
    /// With [`UpdateModel::Lazy`].
    pub lazy: DagSummary,
    /// With [`UpdateModel::Naive`].
    pub naive: DagSummary,
}

/// Analyses a block's transactions (in block order) in both modes.
pub fn analyse(txs: &[TxAccess]) -> BlockAnalysis {
    BlockAnalysis {
        lazy: DagSummary::new(txs, UpdateModel::Lazy),
        naive: DagSummary::new(txs, UpdateModel::Naive),
    }
}
