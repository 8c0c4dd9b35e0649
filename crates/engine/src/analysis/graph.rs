//! The dependency graph of one block: transaction `i` depends on `j < i` when `i` reads a
//! location whose last writer before `i` is `j`, built with or without the lazy balance
//! updates ([`UpdateModel`]); and the conflict counts read straight off it.

use alloy_primitives::map::HashMap;

use crate::access::{Location, TxAccess, TxIdx};

/// How balance deltas ([`TxAccess::deltas`]) are treated when building the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UpdateModel {
    /// Deltas are lazy commutative updates: they neither read nor depend on each other, and a
    /// read of the location depends on the last full writer and on every delta writer since.
    Lazy,
    /// Every delta is a plain read-modify-write: a read and a full write of the location.
    Naive,
}

impl UpdateModel {
    /// A short name for tables: `lazy` or `naive`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Lazy => "lazy",
            Self::Naive => "naive",
        }
    }
}

/// One dependency: `dependent` read locations whose value (in part) was written by
/// `dependency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The later transaction, which must wait.
    pub dependent: TxIdx,
    /// The earlier transaction, whose write is read (`dependency < dependent`).
    pub dependency: TxIdx,
    /// Every location causing the edge, sorted by [`Location`]'s order, without duplicates.
    pub locations: Vec<Location>,
}

/// The read-after-write dependency DAG of one block.
///
/// Edges are stored sorted by `(dependent, dependency)`; there are no self edges and no
/// duplicate edges, and every edge points backwards (`dependency < dependent`), so block order
/// is a topological order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyGraph {
    mode: UpdateModel,
    gas: Vec<u64>,
    edges: Vec<Edge>,
    /// `edges[edge_start[i]..edge_start[i + 1]]` are the edges of dependent `i`; length `n + 1`.
    edge_start: Vec<usize>,
    /// `edges[k].dependency` for every `k`, so per-transaction lists can be borrowed as slices.
    dependency_list: Vec<TxIdx>,
}

/// What is known about one location while walking the block in order.
#[derive(Debug, Default)]
struct LocationState {
    /// The last transaction that fully wrote the location.
    last_writer: Option<TxIdx>,
    /// Transactions that applied a lazy delta since `last_writer` (ascending, no duplicates).
    deltas: Vec<TxIdx>,
}

/// Builds the dependency graph of a block's transactions (in block order) under `mode`.
///
/// Each transaction's reads are resolved against the state left by the transactions before
/// it, then its own writes and deltas are applied, so a transaction never depends on itself.
/// A transaction that both fully writes and deltas a location counts as its full writer.
pub fn dependencies(txs: &[TxAccess], mode: UpdateModel) -> DependencyGraph {
    let n = txs.len();
    let accesses: usize = txs
        .iter()
        .map(|t| t.reads.len() + t.writes.len() + t.deltas.len())
        .sum();
    let mut state: HashMap<Location, LocationState> =
        HashMap::with_capacity_and_hasher(accesses / 2, Default::default());

    let mut edges: Vec<Edge> = Vec::new();
    let mut edge_start = Vec::with_capacity(n + 1);
    // (dependency, location) pairs of the current transaction, reused across transactions.
    let mut pairs: Vec<(TxIdx, Location)> = Vec::new();

    for (i, tx) in txs.iter().enumerate() {
        edge_start.push(edges.len());

        // 1. Resolve the reads against the transactions before `i`.
        pairs.clear();
        let naive_reads: &[Location] = match mode {
            UpdateModel::Lazy => &[],
            UpdateModel::Naive => &tx.deltas,
        };
        for &loc in tx.reads.iter().chain(naive_reads) {
            let Some(st) = state.get(&loc) else { continue };
            if let Some(w) = st.last_writer {
                pairs.push((w, loc));
            }
            pairs.extend(st.deltas.iter().map(|&d| (d, loc)));
        }
        pairs.sort_unstable();
        pairs.dedup();
        for &(dep, loc) in &pairs {
            match edges.last_mut() {
                Some(e) if e.dependent == i && e.dependency == dep => e.locations.push(loc),
                _ => edges.push(Edge {
                    dependent: i,
                    dependency: dep,
                    locations: vec![loc],
                }),
            }
        }

        // 2. Apply the transaction's own writes.
        let naive_writes: &[Location] = match mode {
            UpdateModel::Lazy => &[],
            UpdateModel::Naive => &tx.deltas,
        };
        for &loc in tx.writes.iter().chain(naive_writes) {
            let st = state.entry(loc).or_default();
            st.last_writer = Some(i);
            st.deltas.clear();
        }
        if mode == UpdateModel::Lazy {
            for &loc in &tx.deltas {
                let st = state.entry(loc).or_default();
                // A full write by the same transaction absorbs its delta.
                if st.last_writer != Some(i) && st.deltas.last() != Some(&i) {
                    st.deltas.push(i);
                }
            }
        }
    }
    edge_start.push(edges.len());

    let dependency_list = edges.iter().map(|e| e.dependency).collect();
    DependencyGraph {
        mode,
        gas: txs.iter().map(|t| t.gas).collect(),
        edges,
        edge_start,
        dependency_list,
    }
}

impl DependencyGraph {
    /// The update model the graph was built with.
    pub const fn mode(&self) -> UpdateModel {
        self.mode
    }

    /// Number of transactions (nodes).
    pub const fn len(&self) -> usize {
        self.gas.len()
    }

    /// Whether the block has no transactions.
    pub const fn is_empty(&self) -> bool {
        self.gas.is_empty()
    }

    /// Gas of every transaction, in block order (the node weights).
    pub fn gas(&self) -> &[u64] {
        &self.gas
    }

    /// Sum of the gas of all transactions.
    pub fn total_gas(&self) -> u64 {
        self.gas.iter().fold(0u64, |a, &g| a.saturating_add(g))
    }

    /// All edges, sorted by `(dependent, dependency)`.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// The edges whose dependent is `tx`, sorted by dependency (empty if `tx` is out of range).
    pub fn edges_of(&self, tx: TxIdx) -> &[Edge] {
        self.edge_range(tx).map_or(&[], |r| &self.edges[r])
    }

    /// The transactions `tx` depends on, ascending (empty if `tx` is out of range).
    pub fn dependencies_of(&self, tx: TxIdx) -> &[TxIdx] {
        self.edge_range(tx)
            .map_or(&[], |r| &self.dependency_list[r])
    }

    /// Every transaction's dependency list, in block order.
    pub fn dependency_lists(&self) -> Vec<Vec<TxIdx>> {
        (0..self.len())
            .map(|i| self.dependencies_of(i).to_vec())
            .collect()
    }

    fn edge_range(&self, tx: TxIdx) -> Option<std::ops::Range<usize>> {
        let start = *self.edge_start.get(tx)?;
        let end = *self.edge_start.get(tx + 1)?;
        Some(start..end)
    }

    /// Number of transactions with at least one dependency.
    pub fn conflicting_txs(&self) -> usize {
        (0..self.len())
            .filter(|&i| !self.dependencies_of(i).is_empty())
            .count()
    }

    /// Share of transactions with at least one dependency (0.0 for an empty block).
    pub fn conflict_rate(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.conflicting_txs() as f64 / self.len() as f64
        }
    }
}
