//! Hotspots: the locations that cause the most dependency edges in a block.

use alloy_primitives::{Address, U256, map::HashMap};

use super::graph::DependencyGraph;
use crate::access::{Location, TxIdx};

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
    for e in graph.edges() {
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
