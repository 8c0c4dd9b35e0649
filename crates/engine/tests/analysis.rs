//! The dependency analysis (`replay_evm::analysis`) on hand-built blocks: edges with and
//! without lazy updates, conflict rates, critical paths, list-scheduled speedups, hotspots
//! and the per-block summary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use alloy_primitives::{Address, U256};
use replay_evm::{
    access::{Location, TxAccess, TxIdx},
    analysis::*,
};

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
    assert!(dependencies(&[], UpdateModel::Lazy).edges_of(0).is_empty());
}

#[test]
fn analysis_independent_txs() {
    let txs: Vec<_> = (0..4u8)
        .map(|i| tx(100, &[slot(i, 0)], &[slot(i, 1), bal(i + 10)], &[]))
        .collect();
    let g = dependencies(&txs, UpdateModel::Lazy);
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
    let g = dependencies(&txs, UpdateModel::Lazy);
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
    let g = dependencies(&txs, UpdateModel::Lazy);
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
    let g = dependencies(&txs, UpdateModel::Lazy);
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
    assert!(dependencies(&txs, UpdateModel::Lazy).edges().is_empty());
    assert!(dependencies(&txs, UpdateModel::Naive).edges().is_empty());

    // Write-after-read: no edge either (the reader came first).
    let txs = vec![tx(1, &[x], &[], &[]), tx(1, &[], &[x], &[])];
    assert!(dependencies(&txs, UpdateModel::Lazy).edges().is_empty());

    // A read picks the last writer only.
    let txs = vec![
        tx(1, &[], &[x], &[]),
        tx(1, &[], &[x], &[]),
        tx(1, &[slot(4, 0)], &[], &[]),
        tx(1, &[x], &[], &[]),
    ];
    let g = dependencies(&txs, UpdateModel::Lazy);
    check_invariants(&g);
    assert_eq!(pairs(&g), vec![(3, 1)]);

    // A tx reading what it writes itself does not depend on itself.
    let txs = vec![tx(1, &[x], &[x], &[]), tx(1, &[x], &[x], &[])];
    let g = dependencies(&txs, UpdateModel::Lazy);
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
    let g = dependencies(&txs, UpdateModel::Lazy);
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
    let lazy = dependencies(&credits, UpdateModel::Lazy);
    let naive = dependencies(&credits, UpdateModel::Naive);
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
    let lazy = dependencies(&txs, UpdateModel::Lazy);
    let naive = dependencies(&txs, UpdateModel::Naive);
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
    let lazy = dependencies(&txs, UpdateModel::Lazy);
    let naive = dependencies(&txs, UpdateModel::Naive);
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
    assert_eq!(pairs(&dependencies(&txs, UpdateModel::Lazy)), vec![(2, 1)]);

    let a = analyse(&txs);
    assert_eq!(a.lazy.mode, UpdateModel::Lazy);
    assert_eq!(a.naive.mode, UpdateModel::Naive);
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
    let g = dependencies(&txs, UpdateModel::Lazy);
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
    let h = hotspots(&dependencies(&txs, UpdateModel::Lazy));
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
    let g = dependencies(&txs, UpdateModel::Lazy);
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
    assert_eq!(UpdateModel::Lazy.as_str(), "lazy");
    assert_eq!(UpdateModel::Naive.as_str(), "naive");
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
