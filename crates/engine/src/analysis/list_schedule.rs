//! List scheduling of a block's dependency graph on `k` simulated workers (Graham's list
//! scheduling, block order as the priority): the makespan and speedup a parallel engine
//! with `k` threads could reach at best, if it knew the dependencies in advance.

use std::{cmp::Reverse, collections::BinaryHeap};

use super::graph::DependencyGraph;
use crate::access::TxIdx;

/// The speedup of a list schedule on a given number of workers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThreadSpeedup {
    /// Number of simulated workers.
    pub threads: usize,
    /// Total work divided by the makespan (see [`DependencyGraph::speedup_with_threads`]).
    pub speedup: f64,
}

/// Duration of a transaction in the list-scheduling simulation: its gas, but at least 1 so
/// that a zero-gas transaction still occupies a worker for a moment and the order in which
/// transactions start and finish stays well defined.
const fn duration(gas: u64) -> u64 {
    if gas == 0 { 1 } else { gas }
}

impl DependencyGraph {
    /// Makespan of a list schedule on `threads` workers (0 is treated as 1).
    ///
    /// The simulation is Graham's list scheduling with block order as the priority: a
    /// transaction becomes ready when all its dependencies have finished; whenever workers are
    /// idle, the ready transactions with the smallest indices start on them; a transaction
    /// runs for its gas, with a minimum of 1 for zero-gas transactions (see below). All
    /// transactions finishing at the same instant release their dependents before the next
    /// start decision. An empty block has makespan 0.
    pub fn makespan(&self, threads: usize) -> u64 {
        ListSchedule::new(self).makespan(threads)
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
        ListSchedule::new(self).speedup(threads)
    }

    /// [`speedup_with_threads`](Self::speedup_with_threads) for each thread count, in the
    /// given order, sharing the scheduling set-up.
    pub fn speedups(&self, threads: &[usize]) -> Vec<ThreadSpeedup> {
        let schedule = ListSchedule::new(self);
        threads
            .iter()
            .map(|&t| ThreadSpeedup {
                threads: t,
                speedup: schedule.speedup(t),
            })
            .collect()
    }
}

/// The set-up of a list schedule: the reverse adjacency (dependents) of a graph and its
/// total work, built once for several simulations.
struct ListSchedule<'a> {
    graph: &'a DependencyGraph,
    /// `dependents[dependent_start[j]..dependent_start[j + 1]]` wait for `j`.
    dependent_start: Vec<usize>,
    dependents: Vec<TxIdx>,
    work: u64,
}

impl<'a> ListSchedule<'a> {
    fn new(graph: &'a DependencyGraph) -> Self {
        let n = graph.len();
        let mut dependent_start = vec![0usize; n + 1];
        for e in graph.edges() {
            dependent_start[e.dependency + 1] += 1;
        }
        for j in 0..n {
            dependent_start[j + 1] += dependent_start[j];
        }
        let mut fill = dependent_start.clone();
        let mut dependents = vec![0; graph.edges().len()];
        // Edges are sorted by dependent, so each list comes out ascending.
        for e in graph.edges() {
            dependents[fill[e.dependency]] = e.dependent;
            fill[e.dependency] += 1;
        }
        let work = graph
            .gas()
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
                running.push(Reverse((now.saturating_add(duration(g.gas()[tx])), tx)));
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
