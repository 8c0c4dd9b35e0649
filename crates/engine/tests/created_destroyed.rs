//! Contracts created and destroyed within one block, under every fork from Frontier to Osaka
//! (before and after EIP-6780), in every mode at 1, 2 and 4 threads: the parallel replay
//! equals the sequential one.
//!
//! Before EIP-6780 (Cancun) a self-destruct deletes the account; from Cancun on only a
//! contract created in the same transaction is deleted. An account that did not exist before
//! the block and does not exist after it is no change at all, however many times it was
//! created and destroyed in between.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::num::NonZeroUsize;

use alloy_primitives::Address;
use replay_evm::{
    chain::Fork,
    parallel::{Concurrency, ParallelEngine},
    sequential::{BlockReplay, replay_sequential},
    verify::verify,
};
use replay_evm_workload::random::{Kind, RandomBlock, build, child_code_hash};

/// Every mode at 1, 2 and 4 threads.
fn concurrencies() -> Vec<Concurrency> {
    let mut all = Vec::new();
    for threads in [1, 2, 4] {
        let n = NonZeroUsize::new(threads).unwrap();
        all.extend([
            Concurrency::Threads(n),
            Concurrency::InOrder(n),
            Concurrency::Adaptive(n),
        ]);
    }
    all
}

/// What the sequential replay must show of the child after the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Not a changed account: absent before and after.
    Absent,
    /// Present, with the child's code.
    Exists,
}

/// One scenario: its name, its kinds (a filler transfer after), and the child's fate before
/// and from Cancun.
struct Case {
    name: &'static str,
    kinds: &'static [Kind],
    before_cancun: After,
    from_cancun: After,
}

const CASES: [Case; 6] = [
    Case {
        name: "created by a transaction, destroyed by a later one",
        kinds: &[Kind::CreateTx, Kind::Transfer, Kind::DestroyChild],
        before_cancun: After::Absent,
        from_cancun: After::Exists,
    },
    Case {
        name: "created by the factory, destroyed by a later transaction",
        kinds: &[Kind::FactoryCreate, Kind::DestroyChild],
        before_cancun: After::Absent,
        from_cancun: After::Exists,
    },
    Case {
        name: "init code that self-destructs",
        kinds: &[Kind::CreateAndDestroyTx, Kind::Transfer],
        before_cancun: After::Absent,
        from_cancun: After::Absent,
    },
    Case {
        name: "created and destroyed in one factory call",
        kinds: &[Kind::FactoryCreateAndDestroy, Kind::Transfer],
        before_cancun: After::Absent,
        from_cancun: After::Absent,
    },
    Case {
        name: "CREATE2, destroyed by a later transaction, CREATE2 again",
        kinds: &[
            Kind::FactoryCreate2,
            Kind::DestroyChild,
            Kind::Create2Redeploy,
        ],
        before_cancun: After::Exists,
        from_cancun: After::Exists,
    },
    Case {
        name: "CREATE2 and destroyed in one call, CREATE2 again",
        kinds: &[Kind::FactoryCreate2AndDestroy, Kind::Create2Redeploy],
        before_cancun: After::Exists,
        from_cancun: After::Exists,
    },
];

fn child_after(replay: &BlockReplay, child: Address) -> After {
    match replay.state_changes.accounts.get(&child) {
        None => After::Absent,
        Some(change) => {
            let info = change.info.unwrap_or_else(|| {
                panic!("child {child} listed as changed but absent: {change:?}")
            });
            assert_eq!(info.code_hash, child_code_hash(), "child {child}");
            After::Exists
        }
    }
}

/// Replays `random` in every mode, returning one line per disagreement with the sequential
/// replay.
fn disagreements(engine: &ParallelEngine, what: &str, random: &RandomBlock) -> Vec<String> {
    let (block, chain) = (&random.block, &random.chain);
    let seq = replay_sequential(block, chain).unwrap_or_else(|e| panic!("{what}: {e}"));
    verify(block.header(), &seq).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut found = Vec::new();
    for concurrency in concurrencies() {
        let at = format!("{what}, {concurrency:?}");
        let par = match engine.replay(block, chain, concurrency) {
            Ok(par) => par.replay,
            Err(e) => {
                found.push(format!("{at}: error: {e}"));
                continue;
            }
        };
        if let Err(e) = verify(block.header(), &par) {
            found.push(format!("{at}: does not verify: {e}"));
        }
        if let Some(difference) = seq.first_difference(&par) {
            found.push(format!("{at}: {difference}"));
        }
    }
    found
}

#[test]
fn created_and_destroyed_in_one_block_equals_sequential_under_every_fork() {
    let engine = ParallelEngine::new(NonZeroUsize::new(4).unwrap())
        .unwrap()
        .with_write_set_check(true);
    let mut found = Vec::new();
    let mut blocks = 0;
    for fork in Fork::ALL {
        for case in &CASES {
            if case.kinds.iter().any(|k| !k.available(fork)) {
                continue;
            }
            for seed in [1, 2] {
                let what = format!("{fork}, {}, seed {seed}", case.name);
                let random =
                    build(seed, fork, case.kinds).unwrap_or_else(|e| panic!("{what}: {e}"));
                let seq = replay_sequential(&random.block, &random.chain).unwrap();
                let statuses: Vec<_> = seq.transactions.iter().map(|t| t.status.clone()).collect();
                assert_eq!(random.unexpected(&statuses), vec![], "{what}");
                // The scenario happened as described: the child's fate follows EIP-6780.
                let (_, child) = *random.created.last().unwrap();
                let expected = if fork >= Fork::Cancun {
                    case.from_cancun
                } else {
                    case.before_cancun
                };
                assert_eq!(child_after(&seq, child), expected, "{what}: child {child}");
                found.extend(disagreements(&engine, &what, &random));
                blocks += 1;
            }
        }
    }
    println!("{blocks} blocks, {} disagreements", found.len());
    assert!(
        found.is_empty(),
        "{} disagreements with the sequential replay:\n{}",
        found.len(),
        found.join("\n")
    );
}
