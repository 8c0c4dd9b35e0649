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
//! parallel engine in each requested mode and thread count; receipts, per-transaction
//! outcomes, gas used, state changes and the resulting state roots must be identical, or
//! both must reject the block for the same reason. A disagreement fails the test even where
//! the block is rightly rejected.

use std::num::NonZeroUsize;

use alloy_consensus::{Block, Header, Transaction, TxEnvelope};
use alloy_primitives::{B256, U256, hex, map::B256Map};
use alloy_rlp::Decodable;
use replay_evm::{
    block::ArchivedBlock,
    chain::Fork,
    error::{BlockError, ReplayError, VerifyError},
    parallel::{Concurrency, ParallelEngine, ParallelReplay},
    sequential::{BlockReplay, replay_sequential},
    verify::verify,
};

use super::{
    header::{Ancestor, check_header, check_ommers},
    model::{BlockEntry, ChainTest},
    network::{Network, NetworkError},
    rejection::{Rejection, expected_kind},
    state::WorldState,
};
use crate::statetest::compare::compare;

/// How many ancestors BLOCKHASH can reach.
const BLOCKHASH_WINDOW: usize = 256;
/// How many ancestors the ommer rules look at.
const OMMER_ANCESTORS: usize = 7;

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

/// What a test's run did, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Blocks replayed sequentially.
    pub(crate) blocks: usize,
    /// Parallel replays compared with the sequential one.
    pub(crate) parallel_replays: usize,
}

/// An imported block.
struct Node {
    header: Header,
    ommers: Vec<B256>,
    state: WorldState,
    total_difficulty: U256,
}

/// Why an import stopped.
enum Stop {
    /// The block is invalid.
    Rejected(Rejection),
    /// The runner or the engine is at fault: the test fails whatever it expects.
    Broken(String),
}

impl From<Rejection> for Stop {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
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

/// A block from its hex RLP, which must be consumed entirely.
fn decode(rlp: &str) -> Result<Block<TxEnvelope>, Rejection> {
    let bytes = hex::decode(rlp.trim()).map_err(|e| Rejection::Rlp(format!("not hex: {e}")))?;
    let mut rest = bytes.as_slice();
    let block =
        Block::<TxEnvelope>::decode(&mut rest).map_err(|e| Rejection::Rlp(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Rejection::Rlp(format!(
            "{} bytes after the block",
            rest.len()
        )));
    }
    Ok(block)
}

/// Imports one block on top of its parent: the block's hash and node, and a note when a
/// check could not be made. Parallel disagreements go to `mismatches`.
fn import(
    entry: &BlockEntry,
    nodes: &B256Map<Node>,
    network: &Network,
    engine: &ParallelEngine,
    runs: &[(Concurrency, usize)],
    tally: &mut Tally,
    mismatches: &mut Vec<String>,
) -> Result<(B256, Node, Option<String>), Stop> {
    let block = decode(&entry.rlp)?;
    let header = &block.header;
    let hash = header.hash_slow();
    let parent = nodes.get(&header.parent_hash).ok_or_else(|| {
        Rejection::UnknownParent(format!("{} is not a known block", header.parent_hash))
    })?;
    check_header(header, &parent.header, network).map_err(Rejection::Header)?;
    let fork = network.fork_at(header.number, header.timestamp);
    check_withdrawals(&block, fork)?;
    // ethereum/tests build the header of a block with an invalid transaction as if the
    // transaction were left out: its transactions root and blob gas used do not match the
    // body. Such a mismatch is reported only if execution finds no invalid transaction,
    // which is the block's first fault in the fixtures' eyes.
    let mut deferred = check_blob_gas_used(&block).err();

    let ancestors = ancestors(nodes, header.parent_hash, OMMER_ANCESTORS);
    let ommer_ancestors: Vec<Ancestor<'_>> = ancestors
        .iter()
        .map(|(hash, node)| Ancestor {
            hash: *hash,
            header: &node.header,
            ommers: &node.ommers,
        })
        .collect();
    check_ommers(hash, header, &block.body.ommers, &ommer_ancestors, network)
        .map_err(Rejection::Ommers)?;

    let hashes: Vec<(u64, B256)> = ancestors_of(nodes, header.parent_hash, BLOCKHASH_WINDOW);
    let ommers: Vec<B256> = block.body.ommers.iter().map(Header::hash_slow).collect();
    let archived = ArchivedBlock {
        chain_id: network.chain.chain_id,
        hash,
        pre_state: parent.state.pre_state(&hashes),
        ommer_hashes: ommers.clone(),
        block,
    };
    match archived.check() {
        Ok(()) => {}
        Err(error @ BlockError::RootMismatch { field, .. }) => {
            let rejection = Rejection::Body(field, error.to_string());
            if field != "transactionsRoot" {
                return Err(rejection.into());
            }
            deferred.get_or_insert(rejection);
        }
        // The only other failure of `check`: the header's gas used above what the
        // transactions could use at most.
        Err(other) => return Err(Rejection::Result("gasUsed", other.to_string()).into()),
    }

    let chain = &network.chain;
    let sequential = replay_sequential(&archived, chain);
    tally.blocks += 1;
    let sequential_state = match &sequential {
        Ok(replay) => Some(
            parent
                .state
                .apply(&replay.state_changes)
                .map_err(Stop::Broken)?,
        ),
        Err(_) => None,
    };
    for (concurrency, threads) in runs {
        let parallel = engine.replay(&archived, chain, *concurrency);
        tally.parallel_replays += 1;
        if let Err(message) = agree(&sequential, &parallel, *threads)
            .and_then(|()| same_root(&parent.state, sequential_state.as_ref(), &parallel))
        {
            mismatches.push(format!("{concurrency:?}: {message}"));
        }
    }

    let header = archived.header();
    let replay = sequential.map_err(|error| match error {
        ReplayError::InvalidTransaction { .. } | ReplayError::Block { .. } => {
            let also = deferred
                .as_ref()
                .map(|d| format!(" (the body is also inconsistent: {d})"))
                .unwrap_or_default();
            Stop::Rejected(Rejection::Transaction(format!("{error}{also}")))
        }
        ReplayError::BlockRule { .. } => Stop::Rejected(Rejection::BlockRule(error.to_string())),
        ReplayError::Engine(_) => Stop::Broken(error.to_string()),
    })?;
    if let Some(rejection) = deferred {
        return Err(rejection.into());
    }
    let verification = verify(header, &replay).map_err(|error| {
        let VerifyError::Mismatch { field, .. } = error.clone();
        Rejection::Result(field, error.to_string())
    })?;
    let state = sequential_state.ok_or_else(|| Stop::Broken("no state after a replay".into()))?;
    let root = state.root();
    if root != header.state_root {
        return Err(Rejection::Result(
            "stateRoot",
            format!("header has {}, replay gives {root}", header.state_root),
        )
        .into());
    }
    let note = (!verification.receipts_root_checked).then(|| {
        format!(
            "the receipts root is not checked before Byzantium ({}): those receipts commit to \
             the state root after each transaction, which the engine does not expose",
            replay.fork
        )
    });
    Ok((
        hash,
        Node {
            total_difficulty: parent.total_difficulty + header.difficulty,
            header: header.clone(),
            ommers,
            state,
        },
        note,
    ))
}

/// The block's shape under its fork: a withdrawals list exactly from Shanghai on. The RLP
/// decoder takes the list as optional, so a block without it (or with it too early) decodes;
/// under the block's fork it is malformed RLP.
fn check_withdrawals(block: &Block<TxEnvelope>, fork: Fork) -> Result<(), Rejection> {
    let has_withdrawals = block.body.withdrawals.is_some();
    if has_withdrawals != (fork >= Fork::Shanghai) {
        return Err(Rejection::Rlp(format!(
            "the block {} a withdrawals list under {fork}",
            if has_withdrawals { "has" } else { "lacks" }
        )));
    }
    Ok(())
}

/// A body rule the engine's `check` does not cover: the header's blob gas used is the
/// transactions' blob gas.
fn check_blob_gas_used(block: &Block<TxEnvelope>) -> Result<(), Rejection> {
    if let Some(used) = block.header.blob_gas_used {
        let blob_gas: u64 = block
            .body
            .transactions
            .iter()
            .filter_map(Transaction::blob_gas_used)
            .sum();
        if used != blob_gas {
            return Err(Rejection::Body(
                "blobGasUsed",
                format!("the header says {used}, the transactions use {blob_gas}"),
            ));
        }
    }
    Ok(())
}

/// Up to `limit` imported ancestors, starting at `hash` (the parent) and going back.
fn ancestors(nodes: &B256Map<Node>, mut hash: B256, limit: usize) -> Vec<(B256, &Node)> {
    let mut found = Vec::new();
    while found.len() < limit
        && let Some(node) = nodes.get(&hash)
    {
        found.push((hash, node));
        hash = node.header.parent_hash;
    }
    found
}

/// The numbers and hashes of up to `limit` ancestors, starting at `hash` (the parent).
fn ancestors_of(nodes: &B256Map<Node>, hash: B256, limit: usize) -> Vec<(u64, B256)> {
    ancestors(nodes, hash, limit)
        .into_iter()
        .map(|(hash, node)| (node.header.number, hash))
        .collect()
}

/// Whether a parallel replay agrees with the sequential one: equal results, or the same
/// rejection.
fn agree(
    sequential: &Result<BlockReplay, ReplayError>,
    parallel: &Result<ParallelReplay, ReplayError>,
    threads: usize,
) -> Result<(), String> {
    match (sequential, parallel) {
        // Both reject the block for a reason other than an invalid transaction (which
        // `compare` judges, wording aside): the reasons must be the same.
        (Err(seq), Err(par))
            if !matches!(
                (seq, par),
                (
                    ReplayError::InvalidTransaction { .. },
                    ReplayError::InvalidTransaction { .. }
                )
            ) =>
        {
            let (seq, par) = (seq.to_string(), par.to_string());
            if seq == par {
                Ok(())
            } else {
                Err(format!(
                    "both reject the block, for different reasons: sequential `{seq}`, \
                     parallel `{par}`"
                ))
            }
        }
        _ => compare(sequential, parallel, threads).map(|_| ()),
    }
}

/// Whether a successful parallel replay's changes give the sequential replay's state root.
fn same_root(
    parent: &WorldState,
    sequential: Option<&WorldState>,
    parallel: &Result<ParallelReplay, ReplayError>,
) -> Result<(), String> {
    let (Some(sequential), Ok(parallel)) = (sequential, parallel) else {
        return Ok(());
    };
    let state = parent.apply(&parallel.replay.state_changes)?;
    let (seq_root, par_root) = (sequential.root(), state.root());
    if seq_root == par_root {
        Ok(())
    } else {
        Err(format!(
            "state roots differ: sequential {seq_root}, parallel {par_root}"
        ))
    }
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
