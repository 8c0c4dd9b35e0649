//! One blockchain test, block by block: decode, check the header and body, replay
//! sequentially and in every parallel mode, compare, verify, carry the state forward.
//!
//! Blocks are imported in the file's order. Each imported block becomes a node keyed by its
//! hash, holding its header, its ommers' hashes, its full [`WorldState`] and its total
//! difficulty; a block is imported on top of its parent's node, whichever branch that is, so
//! multi-chain (reorg) tests replay every branch on its own state and BLOCKHASH sees the
//! block's own ancestors. A rejected block leaves no node. At the end, the test's
//! `lastblockhash` must be an imported block (and, before the merge, one of the greatest
//! total difficulty: the format's canonical head), and its state must be the expected
//! post-state.
//!
//! Every block that reaches execution is replayed by the sequential oracle and by the
//! parallel engine in each requested mode and thread count (`import.rs`); the replays must
//! agree ([`crate::parallel_check`]: no difference in receipts, per-transaction outcomes,
//! gas used, requests hash and state changes, hence in the resulting state roots), or both
//! must reject the block for the same reason. A disagreement fails the test even where the
//! block is rightly rejected.

use std::num::NonZeroUsize;

use alloy_consensus::Header;
use alloy_primitives::map::B256Map;
use replay_evm::{
    chain::Fork,
    parallel::{Concurrency, ParallelEngine},
};

use super::{
    import::{Node, Stop, decode, import},
    model::ChainTest,
    network::{Network, NetworkError},
    rejection::expected_kind,
    report::Tally,
    state::WorldState,
};

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TestOutcome {
    /// Every block was imported or rejected as expected, every parallel replay agreed, and
    /// the head and its state are the expected ones.
    Pass,
    /// Something differs; `block` is the index of the block it is about, if any.
    Fail {
        /// The block (index in the file's `blocks`).
        block: Option<usize>,
        /// What differs.
        message: String,
    },
    /// The test cannot run, or ran but a check it needs cannot be made; the reason says
    /// which.
    Skip(String),
}

/// The parallel runs of every block: each mode at each thread count.
pub(crate) fn parallel_runs(threads: &[NonZeroUsize]) -> Vec<(Concurrency, usize)> {
    threads
        .iter()
        .flat_map(|&n| {
            [
                Concurrency::Threads(n),
                Concurrency::InOrder(n),
                Concurrency::Adaptive(n),
            ]
            .map(|c| (c, n.get()))
        })
        .collect()
}

/// Runs one test (see the module docs).
pub(crate) fn run_test(
    test: &ChainTest,
    engine: &ParallelEngine,
    runs: &[(Concurrency, usize)],
    tally: &mut Tally,
) -> TestOutcome {
    let fail = |block, message| TestOutcome::Fail { block, message };
    let chain_id = match test.config.as_ref().and_then(|c| c.chainid) {
        Some(id) => match id.to_u64("config.chainid") {
            Ok(id) => id,
            Err(message) => return fail(None, message),
        },
        None => 1,
    };
    let network = match Network::with_chain_id(&test.network, chain_id) {
        Ok(network) => network,
        Err(NetworkError::Unsupported(reason)) => return TestOutcome::Skip(reason),
        Err(NetworkError::Unknown(message)) => return fail(None, message),
    };
    if let Some(engine) = test.seal_engine.as_deref().filter(|e| *e != "NoProof") {
        return TestOutcome::Skip(format!(
            "sealEngine `{engine}`: the PoW seal (Ethash) is not checked by this runner"
        ));
    }
    let mut nodes: B256Map<Node> = B256Map::default();
    let genesis = match genesis(test) {
        Ok(genesis) => genesis,
        Err(message) => return fail(None, format!("genesis: {message}")),
    };
    let genesis_hash = genesis.header.hash_slow();
    nodes.insert(genesis_hash, genesis);

    let mut unchecked: Vec<(usize, String)> = Vec::new();
    let mut mismatches: Vec<String> = Vec::new();
    for (index, entry) in test.blocks.iter().enumerate() {
        let mut block_mismatches = Vec::new();
        let imported = import(
            entry,
            &nodes,
            &network,
            engine,
            runs,
            tally,
            &mut block_mismatches,
        );
        mismatches.extend(
            block_mismatches
                .into_iter()
                .map(|m| format!("block {index}: {m}")),
        );
        let expected = entry.expect_exception.as_deref();
        match (imported, expected) {
            (Ok((hash, node, note)), None) => {
                if let Some(note) = note {
                    unchecked.push((index, note));
                }
                nodes.insert(hash, node);
            }
            (Ok(_), Some(expected)) => {
                return fail(
                    Some(index),
                    format!("expected `{expected}`, but the block was imported"),
                );
            }
            (Err(Stop::Broken(message)), _) => return fail(Some(index), message),
            (Err(Stop::Rejected(rejection)), None) => {
                return fail(
                    Some(index),
                    format!("a valid block was rejected: {rejection}"),
                );
            }
            (Err(Stop::Rejected(rejection)), Some(expected)) => match expected_kind(expected) {
                Some(kinds) if kinds.iter().any(|k| k.matches(&rejection)) => {}
                Some(_) => {
                    return fail(
                        Some(index),
                        format!(
                            "expected `{expected}`, but the block was rejected as: {rejection}"
                        ),
                    );
                }
                None => unchecked.push((
                    index,
                    format!(
                        "the exception name `{expected}` is unknown to the runner, so the \
                         rejection ({rejection}) cannot be judged"
                    ),
                )),
            },
        }
    }
    if let Some(first) = mismatches.first() {
        return fail(
            None,
            format!(
                "{} parallel replay(s) disagree with the sequential one; the first: {first}",
                mismatches.len()
            ),
        );
    }
    let Some(head) = nodes.get(&test.last_block_hash) else {
        return fail(
            None,
            format!(
                "lastblockhash {} is not an imported block",
                test.last_block_hash
            ),
        );
    };
    let head_fork = network.fork_at(head.header.number, head.header.timestamp);
    if head_fork < Fork::Paris
        && let Some((hash, _)) = nodes
            .iter()
            .find(|(_, node)| node.total_difficulty > head.total_difficulty)
    {
        return fail(
            None,
            format!(
                "lastblockhash {} is not the canonical head: block {hash} has a greater total \
                 difficulty",
                test.last_block_hash
            ),
        );
    }
    if let Some(message) = check_post_state(test, &head.state) {
        return fail(None, message);
    }
    if unchecked.is_empty() {
        TestOutcome::Pass
    } else {
        TestOutcome::Skip(distinct(unchecked))
    }
}

/// Each distinct note with the blocks it concerns: `blocks 0, 1: note; block 3: other`.
fn distinct(notes: Vec<(usize, String)>) -> String {
    let mut grouped: Vec<(Vec<usize>, String)> = Vec::new();
    for (block, note) in notes {
        match grouped.iter_mut().find(|(_, n)| *n == note) {
            Some((blocks, _)) => blocks.push(block),
            None => grouped.push((vec![block], note)),
        }
    }
    grouped
        .into_iter()
        .map(|(blocks, note)| {
            let list: Vec<String> = blocks.iter().map(usize::to_string).collect();
            let noun = if blocks.len() == 1 { "block" } else { "blocks" };
            format!("{noun} {}: {note}", list.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The genesis node: its header from `genesisRLP`, its state from `pre`, whose root must be
/// the header's.
fn genesis(test: &ChainTest) -> Result<Node, String> {
    let block = decode(&test.genesis_rlp).map_err(|e| e.to_string())?;
    let state = WorldState::from_fixture(&test.pre)?;
    let root = state.root();
    if root != block.header.state_root {
        return Err(format!(
            "the pre-state's root is {root}, the genesis header's stateRoot {}",
            block.header.state_root
        ));
    }
    Ok(Node {
        total_difficulty: block.header.difficulty,
        ommers: block.body.ommers.iter().map(Header::hash_slow).collect(),
        header: block.header,
        state,
    })
}

/// The first difference between the head's state and the expected post-state, if any.
fn check_post_state(test: &ChainTest, state: &WorldState) -> Option<String> {
    if let Some(expected) = &test.post_state {
        return match WorldState::from_fixture(expected) {
            Ok(expected) => state
                .difference(&expected)
                .map(|d| format!("post-state differs: {d}")),
            Err(message) => Some(format!("postState: {message}")),
        };
    }
    if let Some(expected) = test.post_state_hash {
        let root = state.root();
        return (root != expected)
            .then(|| format!("post-state root is {root}, postStateHash {expected}"));
    }
    Some("the test has neither postState nor postStateHash".to_owned())
}
