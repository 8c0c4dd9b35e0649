//! The gas-weighted critical path of a block's dependency graph, and the speedup it bounds
//! (with unboundedly many workers).

use super::graph::DependencyGraph;
use crate::access::TxIdx;

/// The longest gas-weighted path through the dependency DAG.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CriticalPath {
    /// Sum of the gas of the transactions on the path.
    pub gas: u64,
    /// The transactions on the path, in block order (empty only for an empty block).
    pub txs: Vec<TxIdx>,
}

impl DependencyGraph {
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
            best.push((g.saturating_add(self.gas()[i]), l + 1));
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
}
