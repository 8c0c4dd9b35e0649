//! Per-block dependency analysis: how parallel a block's transactions could be.
//!
//! The input is a block's transactions in order, each with the locations it read, fully wrote
//! and changed by a lazy balance delta ([`TxAccess`]), as recorded by the sequential oracle so
//! the result does not depend on thread timing. Everything here is a pure, deterministic
//! function of that input: hash maps are only used for look-ups and are never iterated to
//! produce output.
//!
//! * [`dependencies`] builds the [`DependencyGraph`]: transaction `i` depends on `j < i` when
//!   `i` reads a location whose last writer before `i` is `j`. Only reads create dependencies
//!   (write-after-write and write-after-read are not edges). In [`Mode::Lazy`] a balance delta
//!   is a commutative update that does not read: a read of a location depends on its last
//!   full writer and on every delta writer since that full write. In [`Mode::Naive`] a delta is
//!   a plain read-modify-write.
//! * The graph answers the [conflict rate](DependencyGraph::conflict_rate), the gas-weighted
//!   [critical path](DependencyGraph::critical_path), the
//!   [unbounded speedup](DependencyGraph::theoretical_speedup) and the speedup of a
//!   [list schedule on `k` workers](DependencyGraph::speedup_with_threads).
//! * [`hotspots`] ranks the locations by how many dependency edges they cause.
//! * [`analyse`] computes all of it for both modes at once ([`BlockAnalysis`]).
//!
//! Cost: building the graph is linear in the number of accesses plus the number of
//! (edge, location) pairs, up to the sort of each transaction's own edges; scheduling is
//! `O((txs + edges) log txs)` per thread count.

use crate::access::{Location, TxAccess, TxIdx};
use alloy_primitives::{Address, U256, map::HashMap};
use std::{cmp::Reverse, collections::BinaryHeap};

/// The thread counts [`analyse`] simulates with list scheduling.
pub const THREAD_COUNTS: [usize; 4] = [2, 4, 8, 16];

/// How many hotspots a [`Summary`] keeps.
pub const TOP_HOTSPOTS: usize = 10;

/// How balance deltas ([`TxAccess::deltas`]) are treated when building the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Deltas are lazy commutative updates: they neither read nor depend on each other, and a
    /// read of the location depends on the last full writer and on every delta writer since.
    Lazy,
    /// Every delta is a plain read-modify-write: a read and a full write of the location.
    Naive,
}

impl Mode {
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

/// The longest gas-weighted path through the dependency DAG.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CriticalPath {
    /// Sum of the gas of the transactions on the path.
    pub gas: u64,
    /// The transactions on the path, in block order (empty only for an empty block).
    pub txs: Vec<TxIdx>,
}

/// The speedup of a list schedule on a given number of workers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThreadSpeedup {
    /// Number of simulated workers.
    pub threads: usize,
    /// Total work divided by the makespan (see [`DependencyGraph::speedup_with_threads`]).
    pub speedup: f64,
}

/// The read-after-write dependency DAG of one block.
///
/// Edges are stored sorted by `(dependent, dependency)`; there are no self edges and no
/// duplicate edges, and every edge points backwards (`dependency < dependent`), so block order
/// is a topological order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyGraph {
    mode: Mode,
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
pub fn dependencies(txs: &[TxAccess], mode: Mode) -> DependencyGraph {
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
            Mode::Lazy => &[],
            Mode::Naive => &tx.deltas,
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
            Mode::Lazy => &[],
            Mode::Naive => &tx.deltas,
        };
        for &loc in tx.writes.iter().chain(naive_writes) {
            let st = state.entry(loc).or_default();
            st.last_writer = Some(i);
            st.deltas.clear();
        }
        if mode == Mode::Lazy {
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

/// Duration of a transaction in the list-scheduling simulation: its gas, but at least 1 so
/// that a zero-gas transaction still occupies a worker for a moment and the order in which
/// transactions start and finish stays well defined.
const fn duration(gas: u64) -> u64 {
    if gas == 0 { 1 } else { gas }
}

impl DependencyGraph {
    /// The mode the graph was built with.
    pub const fn mode(&self) -> Mode {
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

    /// The longest path through the DAG, weighted by each transaction's gas.
    ///
    /// Paths are compared by total gas, then by number of transactions (so zero-gas
    /// transactions still extend a path); remaining ties pick the smallest index, both for the
    /// last transaction of the path and for each predecessor walking back from it. An empty
    /// block has an empty path of 0 gas.
    pub fn critical_path(&self) -> CriticalPath {
        let n = self.len();
        if n == 0 {
            return CriticalPath::default();
        }
        // best[i]: (gas, length) of the heaviest path ending at i; pred[i]: its predecessor.
        let mut best: Vec<(u64, usize)> = Vec::with_capacity(n);
        let mut pred: Vec<Option<TxIdx>> = Vec::with_capacity(n);
        for i in 0..n {
            let mut top: Option<(TxIdx, (u64, usize))> = None;
            for &d in self.dependencies_of(i) {
                if top.is_none_or(|(_, key)| best[d] > key) {
                    top = Some((d, best[d]));
                }
            }
            let (g, l) = top.map_or((0, 0), |(_, key)| key);
            best.push((g.saturating_add(self.gas[i]), l + 1));
            pred.push(top.map(|(d, _)| d));
        }
        let mut end = 0;
        for i in 1..n {
            if best[i] > best[end] {
                end = i;
            }
        }
        let mut txs = vec![end];
        let mut cur = end;
        while let Some(p) = pred[cur] {
            txs.push(p);
            cur = p;
        }
        txs.reverse();
        CriticalPath {
            gas: best[end].0,
            txs,
        }
    }

    /// Total gas divided by the critical path's gas: the speedup with unboundedly many
    /// workers. 1.0 for an empty block or a block that used no gas.
    pub fn theoretical_speedup(&self) -> f64 {
        let total = self.total_gas();
        if total == 0 {
            return 1.0;
        }
        // total > 0 implies the critical path (heaviest first) has gas > 0.
        total as f64 / self.critical_path().gas.max(1) as f64
    }

    /// Makespan of a list schedule on `threads` workers (0 is treated as 1).
    ///
    /// The simulation is Graham's list scheduling with block order as the priority: a
    /// transaction becomes ready when all its dependencies have finished; whenever workers are
    /// idle, the ready transactions with the smallest indices start on them; a transaction
    /// runs for its gas, with a minimum of 1 for zero-gas transactions (see below). All
    /// transactions finishing at the same instant release their dependents before the next
    /// start decision. An empty block has makespan 0.
    pub fn makespan(&self, threads: usize) -> u64 {
        Scheduler::new(self).makespan(threads)
    }

    /// Speedup of the list schedule of [`makespan`](Self::makespan) on `threads` workers:
    /// total work divided by makespan (1.0 for an empty block).
    ///
    /// Work is the sum of the simulated durations, i.e. the total gas with every zero-gas
    /// transaction counted as 1. For real blocks (every transaction uses at least 21,000 gas)
    /// this is exactly total gas / makespan; the minimum duration only keeps blocks of
    /// zero-gas transactions well defined (their speedup is then measured in transactions).
    /// On one worker the speedup is exactly 1.0.
    pub fn speedup_with_threads(&self, threads: usize) -> f64 {
        Scheduler::new(self).speedup(threads)
    }

    /// [`speedup_with_threads`](Self::speedup_with_threads) for each thread count, in the
    /// given order, sharing the scheduling set-up.
    pub fn speedups(&self, threads: &[usize]) -> Vec<ThreadSpeedup> {
        let scheduler = Scheduler::new(self);
        threads
            .iter()
            .map(|&t| ThreadSpeedup {
                threads: t,
                speedup: scheduler.speedup(t),
            })
            .collect()
    }
}

/// The reverse adjacency (dependents) of a graph, built once for several simulations.
struct Scheduler<'a> {
    graph: &'a DependencyGraph,
    /// `dependents[dependent_start[j]..dependent_start[j + 1]]` wait for `j`.
    dependent_start: Vec<usize>,
    dependents: Vec<TxIdx>,
    work: u64,
}

impl<'a> Scheduler<'a> {
    fn new(graph: &'a DependencyGraph) -> Self {
        let n = graph.len();
        let mut dependent_start = vec![0usize; n + 1];
        for e in &graph.edges {
            dependent_start[e.dependency + 1] += 1;
        }
        for j in 0..n {
            dependent_start[j + 1] += dependent_start[j];
        }
        let mut fill = dependent_start.clone();
        let mut dependents = vec![0; graph.edges.len()];
        // Edges are sorted by dependent, so each list comes out ascending.
        for e in &graph.edges {
            dependents[fill[e.dependency]] = e.dependent;
            fill[e.dependency] += 1;
        }
        let work = graph
            .gas
            .iter()
            .fold(0u64, |a, &g| a.saturating_add(duration(g)));
        Self {
            graph,
            dependent_start,
            dependents,
            work,
        }
    }

    fn makespan(&self, threads: usize) -> u64 {
        let g = self.graph;
        let n = g.len();
        let mut pending: Vec<usize> = (0..n).map(|i| g.dependencies_of(i).len()).collect();
        let mut ready: BinaryHeap<Reverse<TxIdx>> =
            (0..n).filter(|&i| pending[i] == 0).map(Reverse).collect();
        let mut running: BinaryHeap<Reverse<(u64, TxIdx)>> = BinaryHeap::new();
        let mut idle = threads.max(1);
        let mut now = 0u64;
        loop {
            while idle > 0 {
                let Some(Reverse(tx)) = ready.pop() else {
                    break;
                };
                idle -= 1;
                running.push(Reverse((now.saturating_add(duration(g.gas[tx])), tx)));
            }
            let Some(Reverse((t, _))) = running.peek().copied() else {
                break;
            };
            now = t;
            while let Some(&Reverse((t, tx))) = running.peek()
                && t == now
            {
                running.pop();
                idle += 1;
                for &d in &self.dependents[self.dependent_start[tx]..self.dependent_start[tx + 1]] {
                    pending[d] -= 1;
                    if pending[d] == 0 {
                        ready.push(Reverse(d));
                    }
                }
            }
        }
        now
    }

    fn speedup(&self, threads: usize) -> f64 {
        let makespan = self.makespan(threads);
        if makespan == 0 {
            1.0
        } else {
            self.work as f64 / makespan as f64
        }
    }
}

/// One location and how much serialisation it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hotspot {
    /// The location.
    pub location: Location,
    /// Its kind: `balance`, `nonce`, `code`, `existence` or `storage`.
    pub kind: &'static str,
    /// The account (contract, for storage) it belongs to.
    pub address: Address,
    /// The storage slot, for storage locations.
    pub slot: Option<U256>,
    /// Number of dependency edges the location causes (an edge caused by several locations
    /// counts for each of them).
    pub dependencies: usize,
    /// Number of distinct transactions that wait on the location (dependents of those edges).
    pub dependents: usize,
    /// Number of distinct transactions at either end of those edges.
    pub txs: usize,
}

/// Every location that causes at least one edge, ranked by the number of edges it causes
/// (descending), ties broken by [`Location`]'s order.
pub fn hotspots(graph: &DependencyGraph) -> Vec<Hotspot> {
    struct Acc {
        location: Location,
        dependencies: usize,
        dependents: usize,
        last_dependent: TxIdx,
        members: Vec<TxIdx>,
    }
    let mut index: HashMap<Location, usize> = HashMap::default();
    let mut accs: Vec<Acc> = Vec::new();
    for e in &graph.edges {
        for &loc in &e.locations {
            let k = *index.entry(loc).or_insert_with(|| {
                accs.push(Acc {
                    location: loc,
                    dependencies: 0,
                    dependents: 0,
                    last_dependent: TxIdx::MAX,
                    members: Vec::new(),
                });
                accs.len() - 1
            });
            let acc = &mut accs[k];
            acc.dependencies += 1;
            // Edges are sorted by dependent, so repeated dependents are adjacent.
            if acc.last_dependent != e.dependent {
                acc.last_dependent = e.dependent;
                acc.dependents += 1;
                acc.members.push(e.dependent);
            }
            acc.members.push(e.dependency);
        }
    }
    let mut out: Vec<Hotspot> = accs
        .into_iter()
        .map(|mut a| {
            a.members.sort_unstable();
            a.members.dedup();
            Hotspot {
                location: a.location,
                kind: a.location.kind(),
                address: a.location.address(),
                slot: match a.location {
                    Location::Storage(_, s) => Some(s),
                    _ => None,
                },
                dependencies: a.dependencies,
                dependents: a.dependents,
                txs: a.members.len(),
            }
        })
        .collect();
    out.sort_unstable_by(|a, b| {
        b.dependencies
            .cmp(&a.dependencies)
            .then(a.location.cmp(&b.location))
    });
    out
}

/// Everything measured about a block under one [`Mode`].
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The mode the graph was built with.
    pub mode: Mode,
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

impl Summary {
    /// Computes the summary of a block under `mode`.
    pub fn new(txs: &[TxAccess], mode: Mode) -> Self {
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
    /// With [`Mode::Lazy`].
    pub lazy: Summary,
    /// With [`Mode::Naive`].
    pub naive: Summary,
}

/// Analyses a block's transactions (in block order) in both modes.
pub fn analyse(txs: &[TxAccess]) -> BlockAnalysis {
    BlockAnalysis {
        lazy: Summary::new(txs, Mode::Lazy),
        naive: Summary::new(txs, Mode::Naive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> Address {
        Address::with_last_byte(n)
    }

    fn slot(contract: u8, s: u64) -> Location {
        Location::Storage(addr(contract), U256::from(s))
    }

    fn bal(n: u8) -> Location {
        Location::Balance(addr(n))
    }

    fn tx(gas: u64, reads: &[Location], writes: &[Location], deltas: &[Location]) -> TxAccess {
        TxAccess {
            gas,
            reads: reads.to_vec(),
            writes: writes.to_vec(),
            deltas: deltas.to_vec(),
        }
    }

    fn pairs(g: &DependencyGraph) -> Vec<(TxIdx, TxIdx)> {
        g.edges()
            .iter()
            .map(|e| (e.dependent, e.dependency))
            .collect()
    }

    /// Checks the structural invariants every graph must satisfy.
    fn check_invariants(g: &DependencyGraph) {
        let mut prev: Option<(TxIdx, TxIdx)> = None;
        for e in g.edges() {
            assert!(
                e.dependency < e.dependent,
                "edge must point backwards: {e:?}"
            );
            assert!(
                prev < Some((e.dependent, e.dependency)),
                "edges sorted, unique"
            );
            prev = Some((e.dependent, e.dependency));
            assert!(!e.locations.is_empty());
            assert!(
                e.locations.windows(2).all(|w| w[0] < w[1]),
                "locations sorted, unique"
            );
        }
        let total: usize = (0..g.len()).map(|i| g.dependencies_of(i).len()).sum();
        assert_eq!(total, g.edges().len());
    }

    #[test]
    fn analysis_empty_block() {
        let a = analyse(&[]);
        for s in [&a.lazy, &a.naive] {
            assert_eq!(s.txs, 0);
            assert_eq!(s.edges, 0);
            assert!(s.graph.is_empty());
            assert_eq!(s.conflict_rate, 0.0);
            assert_eq!(
                s.critical_path,
                CriticalPath {
                    gas: 0,
                    txs: vec![]
                }
            );
            assert_eq!(s.theoretical_speedup, 1.0);
            assert_eq!(s.graph.makespan(4), 0);
            assert_eq!(s.speedups.len(), THREAD_COUNTS.len());
            assert!(s.speedups.iter().all(|t| t.speedup == 1.0));
            assert!(s.hotspots.is_empty());
        }
        assert!(dependencies(&[], Mode::Lazy).edges_of(0).is_empty());
    }

    #[test]
    fn analysis_independent_txs() {
        let txs: Vec<_> = (0..4u8)
            .map(|i| tx(100, &[slot(i, 0)], &[slot(i, 1), bal(i + 10)], &[]))
            .collect();
        let g = dependencies(&txs, Mode::Lazy);
        check_invariants(&g);
        assert!(g.edges().is_empty());
        assert_eq!(g.conflict_rate(), 0.0);
        assert_eq!(g.theoretical_speedup(), 4.0);
        assert_eq!(
            g.critical_path(),
            CriticalPath {
                gas: 100,
                txs: vec![0]
            }
        );
        assert_eq!(g.makespan(1), 400);
        assert_eq!(g.makespan(2), 200);
        assert_eq!(g.speedup_with_threads(1), 1.0);
        assert_eq!(g.speedup_with_threads(2), 2.0);
        assert_eq!(g.speedup_with_threads(4), 4.0);
        assert_eq!(g.speedup_with_threads(16), 4.0);
        // 0 threads is treated as 1.
        assert_eq!(g.speedup_with_threads(0), 1.0);
        let s = g.speedups(&[2, 4, 8, 16]);
        assert_eq!(
            s.iter().map(|t| (t.threads, t.speedup)).collect::<Vec<_>>(),
            vec![(2, 2.0), (4, 4.0), (8, 4.0), (16, 4.0)]
        );
    }

    #[test]
    fn analysis_chain() {
        let n = 6u64;
        let txs: Vec<_> = (0..n)
            .map(|i| {
                let reads = if i == 0 { vec![] } else { vec![slot(1, i - 1)] };
                tx(10 + i, &reads, &[slot(1, i)], &[])
            })
            .collect();
        let g = dependencies(&txs, Mode::Lazy);
        check_invariants(&g);
        assert_eq!(
            pairs(&g),
            (1..n as usize).map(|i| (i, i - 1)).collect::<Vec<_>>()
        );
        assert_eq!(g.edges()[2].locations, vec![slot(1, 2)]);
        assert_eq!(g.dependencies_of(3), &[2]);
        assert!((g.conflict_rate() - 5.0 / 6.0).abs() < 1e-12);
        let total: u64 = (0..n).map(|i| 10 + i).sum();
        assert_eq!(
            g.critical_path(),
            CriticalPath {
                gas: total,
                txs: (0..n as usize).collect()
            }
        );
        assert_eq!(g.theoretical_speedup(), 1.0);
        for k in [1, 2, 4, 16] {
            assert_eq!(g.makespan(k), total);
            assert_eq!(g.speedup_with_threads(k), 1.0);
        }
    }

    #[test]
    fn analysis_diamond() {
        // 0 -> {1, 2} -> 3, gas 10, 20, 30, 5.
        let (a, b, c) = (slot(7, 0), slot(7, 1), slot(7, 2));
        let txs = vec![
            tx(10, &[], &[a], &[]),
            tx(20, &[a], &[b], &[]),
            tx(30, &[a], &[c], &[]),
            tx(5, &[b, c], &[], &[]),
        ];
        let g = dependencies(&txs, Mode::Lazy);
        check_invariants(&g);
        assert_eq!(pairs(&g), vec![(1, 0), (2, 0), (3, 1), (3, 2)]);
        assert_eq!(
            g.dependency_lists(),
            vec![vec![], vec![0], vec![0], vec![1, 2]]
        );
        assert_eq!(g.conflict_rate(), 0.75);
        assert_eq!(
            g.critical_path(),
            CriticalPath {
                gas: 45,
                txs: vec![0, 2, 3]
            }
        );
        assert_eq!(g.theoretical_speedup(), 65.0 / 45.0);
        // 1 worker: 10 + 20 + 30 + 5.
        assert_eq!(g.makespan(1), 65);
        // 2 workers: 0 in [0,10); 1 in [10,30) and 2 in [10,40); 3 in [40,45).
        assert_eq!(g.makespan(2), 45);
        assert_eq!(g.makespan(4), 45);
        assert_eq!(g.speedup_with_threads(2), 65.0 / 45.0);

        // Add an independent tx 4 of 25 gas so that 2 and 4 workers differ.
        let mut txs = txs;
        txs.push(tx(25, &[slot(8, 0)], &[slot(8, 1)], &[]));
        let g = dependencies(&txs, Mode::Lazy);
        assert_eq!(
            g.critical_path(),
            CriticalPath {
                gas: 45,
                txs: vec![0, 2, 3]
            }
        );
        assert_eq!(g.makespan(1), 90);
        // 2 workers: 0 [0,10) and 4 [0,25); at 10 both 1 and 2 are ready, 1 (smaller index)
        // starts [10,30); 2 waits for the worker freed at 25: [25,55); 3 [55,60).
        assert_eq!(g.makespan(2), 60);
        // 4 workers: 0 and 4 at 0; 1 and 2 at 10; 3 after 2 finishes at 40: [40,45).
        assert_eq!(g.makespan(4), 45);
        assert_eq!(g.speedup_with_threads(1), 1.0);
        assert_eq!(g.speedup_with_threads(2), 1.5);
        assert_eq!(g.speedup_with_threads(4), 2.0);
        assert_eq!(g.theoretical_speedup(), 2.0);
    }

    #[test]
    fn analysis_only_reads_create_edges_and_last_writer_wins() {
        let x = slot(3, 9);
        // Write-after-write without a read: no edge.
        let txs = vec![
            tx(1, &[], &[x], &[]),
            tx(1, &[], &[x], &[]),
            tx(1, &[], &[x], &[]),
        ];
        assert!(dependencies(&txs, Mode::Lazy).edges().is_empty());
        assert!(dependencies(&txs, Mode::Naive).edges().is_empty());

        // Write-after-read: no edge either (the reader came first).
        let txs = vec![tx(1, &[x], &[], &[]), tx(1, &[], &[x], &[])];
        assert!(dependencies(&txs, Mode::Lazy).edges().is_empty());

        // A read picks the last writer only.
        let txs = vec![
            tx(1, &[], &[x], &[]),
            tx(1, &[], &[x], &[]),
            tx(1, &[slot(4, 0)], &[], &[]),
            tx(1, &[x], &[], &[]),
        ];
        let g = dependencies(&txs, Mode::Lazy);
        check_invariants(&g);
        assert_eq!(pairs(&g), vec![(3, 1)]);

        // A tx reading what it writes itself does not depend on itself.
        let txs = vec![tx(1, &[x], &[x], &[]), tx(1, &[x], &[x], &[])];
        let g = dependencies(&txs, Mode::Lazy);
        assert_eq!(pairs(&g), vec![(1, 0)]);
    }

    #[test]
    fn analysis_edge_keeps_all_locations_sorted() {
        let (x, y, z) = (slot(5, 2), bal(9), Location::Nonce(addr(9)));
        let txs = vec![
            tx(1, &[], &[x, y, z], &[]),
            // Reads listed out of order and one twice: one edge, sorted unique locations.
            tx(1, &[x, z, y, x], &[], &[]),
        ];
        let g = dependencies(&txs, Mode::Lazy);
        check_invariants(&g);
        assert_eq!(g.edges().len(), 1);
        let mut want = vec![x, y, z];
        want.sort();
        assert_eq!(g.edges()[0].locations, want);
        assert_eq!(g.edges_of(1), g.edges());
        assert!(g.edges_of(0).is_empty());
        assert!(g.edges_of(99).is_empty());
        assert!(g.dependencies_of(99).is_empty());
    }

    #[test]
    fn analysis_lazy_vs_naive() {
        let cb = bal(0xcb);
        // Five txs that only credit the beneficiary.
        let credits: Vec<_> = (0..5u8)
            .map(|i| tx(21_000, &[], &[slot(i, 0)], &[cb]))
            .collect();
        let lazy = dependencies(&credits, Mode::Lazy);
        let naive = dependencies(&credits, Mode::Naive);
        check_invariants(&lazy);
        check_invariants(&naive);
        assert!(lazy.edges().is_empty());
        assert_eq!(pairs(&naive), vec![(1, 0), (2, 1), (3, 2), (4, 3)]);
        assert!(naive.edges().iter().all(|e| e.locations == vec![cb]));
        assert_eq!(lazy.theoretical_speedup(), 5.0);
        assert_eq!(naive.theoretical_speedup(), 1.0);

        // A reader of the balance depends (lazily) on every delta writer since the last full
        // write (none here), naively only on the last one.
        let mut txs = credits.clone();
        txs.push(tx(30_000, &[cb], &[], &[]));
        let lazy = dependencies(&txs, Mode::Lazy);
        let naive = dependencies(&txs, Mode::Naive);
        assert_eq!(lazy.dependencies_of(5), &[0, 1, 2, 3, 4]);
        assert_eq!(naive.dependencies_of(5), &[4]);
        assert!(naive.conflict_rate() > lazy.conflict_rate());
        assert_eq!(lazy.conflict_rate(), 1.0 / 6.0);
        assert_eq!(naive.conflict_rate(), 5.0 / 6.0);
        assert_eq!(
            lazy.critical_path(),
            CriticalPath {
                gas: 51_000,
                txs: vec![0, 5]
            }
        );

        // A full write in the middle resets the delta set: 0 d, 1 d, 2 W, 3 d, 4 d, 5 R.
        let txs = vec![
            tx(1, &[], &[], &[cb]),
            tx(1, &[], &[], &[cb]),
            tx(1, &[], &[cb], &[]),
            tx(1, &[], &[], &[cb]),
            tx(1, &[], &[], &[cb]),
            tx(1, &[cb], &[], &[]),
        ];
        let lazy = dependencies(&txs, Mode::Lazy);
        let naive = dependencies(&txs, Mode::Naive);
        assert_eq!(pairs(&lazy), vec![(5, 2), (5, 3), (5, 4)]);
        // Naive: 2's blind write reads nothing, so no (2, 1) edge.
        assert_eq!(pairs(&naive), vec![(1, 0), (3, 2), (4, 3), (5, 4)]);
        assert!(naive.conflict_rate() > lazy.conflict_rate());

        // A tx that both writes and deltas the balance counts as its full writer.
        let txs = vec![
            tx(1, &[], &[], &[cb]),
            tx(1, &[], &[cb], &[cb]),
            tx(1, &[cb], &[], &[]),
        ];
        assert_eq!(pairs(&dependencies(&txs, Mode::Lazy)), vec![(2, 1)]);

        let a = analyse(&txs);
        assert_eq!(a.lazy.mode, Mode::Lazy);
        assert_eq!(a.naive.mode, Mode::Naive);
    }

    #[test]
    fn analysis_hotspots() {
        let (hot, warm, cold) = (slot(0xaa, 1), slot(0xbb, 2), slot(0xaa, 3));
        let txs = vec![
            tx(1, &[], &[hot, warm, cold], &[]),
            tx(1, &[hot], &[], &[]),
            tx(1, &[hot], &[], &[]),
            tx(1, &[hot], &[cold], &[]),
            tx(1, &[warm], &[], &[]),
        ];
        let g = dependencies(&txs, Mode::Lazy);
        let h = hotspots(&g);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].location, hot);
        assert_eq!(h[0].kind, "storage");
        assert_eq!(h[0].address, addr(0xaa));
        assert_eq!(h[0].slot, Some(U256::from(1)));
        assert_eq!((h[0].dependencies, h[0].dependents, h[0].txs), (3, 3, 4));
        assert_eq!(h[1].location, warm);
        assert_eq!(h[1].address, addr(0xbb));
        assert_eq!((h[1].dependencies, h[1].dependents, h[1].txs), (1, 1, 2));

        // Ties are broken by location order; non-storage locations have no slot.
        let (p, q) = (bal(2), slot(1, 0));
        let txs = vec![tx(1, &[], &[q, p], &[]), tx(1, &[q, p], &[], &[])];
        let h = hotspots(&dependencies(&txs, Mode::Lazy));
        assert_eq!(h.iter().map(|h| h.location).collect::<Vec<_>>(), vec![p, q]);
        assert_eq!(h[0].slot, None);
        assert_eq!(h[0].kind, "balance");

        // Summary keeps at most TOP_HOTSPOTS, in ranking order.
        let mut txs = vec![tx(
            1,
            &[],
            &(0..20).map(|s| slot(9, s)).collect::<Vec<_>>(),
            &[],
        )];
        txs.extend((0..20u64).map(|s| tx(1, &[slot(9, s)], &[], &[])));
        let a = analyse(&txs);
        assert_eq!(a.lazy.hotspots.len(), TOP_HOTSPOTS);
        assert_eq!(a.lazy.hotspots, hotspots(&a.lazy.graph)[..TOP_HOTSPOTS]);
    }

    #[test]
    fn analysis_zero_gas_txs() {
        // Zero-gas txs still count as nodes on the path and take 1 unit when scheduled.
        let x = slot(1, 1);
        let txs = vec![
            tx(0, &[], &[x], &[]),
            tx(0, &[x], &[x], &[]),
            tx(0, &[], &[slot(2, 0)], &[]),
        ];
        let g = dependencies(&txs, Mode::Lazy);
        assert_eq!(
            g.critical_path(),
            CriticalPath {
                gas: 0,
                txs: vec![0, 1]
            }
        );
        assert_eq!(g.theoretical_speedup(), 1.0);
        assert_eq!(g.makespan(1), 3);
        assert_eq!(g.makespan(2), 2);
        assert_eq!(g.speedup_with_threads(2), 1.5);
    }

    #[test]
    fn analysis_summary_fields() {
        let txs = vec![
            tx(10, &[], &[slot(1, 0)], &[]),
            tx(30, &[slot(1, 0)], &[], &[]),
        ];
        let s = analyse(&txs).lazy;
        assert_eq!(
            (s.txs, s.edges, s.total_gas, s.conflicting_txs),
            (2, 1, 40, 1)
        );
        assert_eq!(s.conflict_rate, 0.5);
        assert_eq!(s.theoretical_speedup, s.graph.theoretical_speedup());
        assert_eq!(s.theoretical_speedup, 1.0);
        assert_eq!(
            s.speedups.iter().map(|t| t.threads).collect::<Vec<_>>(),
            THREAD_COUNTS
        );
        assert_eq!(s.speedup_at(8), Some(1.0));
        assert_eq!(s.speedup_at(3), None);
        assert_eq!(Mode::Lazy.as_str(), "lazy");
        assert_eq!(Mode::Naive.as_str(), "naive");
    }

    /// A pseudo-random block of 10,000 txs and ~120,000 accesses: deterministic and fast.
    #[test]
    fn analysis_large_block() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let cb = bal(0xcb);
        let txs: Vec<_> = (0..10_000u64)
            .map(|i| {
                let reads: Vec<_> = (0..8)
                    .map(|_| slot((next() % 50) as u8, next() % 2_000))
                    .collect();
                let writes: Vec<_> = (0..3)
                    .map(|_| slot((next() % 50) as u8, next() % 2_000))
                    .collect();
                let mut reads = reads;
                // Every 500th tx reads the beneficiary's balance.
                if i % 500 == 499 {
                    reads.push(cb);
                }
                tx(
                    21_000 + next() % 100_000,
                    &reads,
                    &writes,
                    &[cb, bal((i % 200) as u8)],
                )
            })
            .collect();
        let start = std::time::Instant::now();
        let a = analyse(&txs);
        let elapsed = start.elapsed();
        assert_eq!(a, analyse(&txs), "deterministic");
        for s in [&a.lazy, &a.naive] {
            check_invariants(&s.graph);
            assert!(s.theoretical_speedup >= 1.0);
            let mut prev = 1.0;
            for t in &s.speedups {
                assert!(t.speedup >= 1.0 && t.speedup <= t.threads as f64 + 1e-9);
                assert!(t.speedup <= s.theoretical_speedup + 1e-9);
                // Not guaranteed in general (Graham's anomalies), but holds here by a margin.
                assert!(t.speedup + 1e-9 >= prev * 0.9);
                prev = t.speedup;
            }
        }
        assert!(a.naive.conflict_rate >= a.lazy.conflict_rate);
        assert!(a.naive.critical_path.gas >= a.lazy.critical_path.gas);
        assert!(elapsed.as_secs() < 10, "took {elapsed:?}");
    }
}
