//! Importing one block of a blockchain test on top of its parent: decode the RLP, check the
//! header against the parent and the ommers against the ancestors, the body against the
//! header, replay sequentially (the oracle) and in each parallel mode and thread count, which
//! must agree ([`crate::parallel_check`]); verify the replay against the header (gas used,
//! logs bloom, receipts root) and the new state's root against its `stateRoot`.
//!
//! A block is rejected ([`Rejection`]) at the first stage it fails, in a client's order; a
//! parallel disagreement is recorded whether or not the block is valid.

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
    header::check_header,
    model::BlockEntry,
    network::Network,
    ommers::{Ancestor, check_ommers},
    rejection::Rejection,
    report::Tally,
    state::WorldState,
};
use crate::parallel_check::check_parallel;

/// How many ancestors BLOCKHASH can reach.
const BLOCKHASH_WINDOW: usize = 256;
/// How many ancestors the ommer rules look at.
const OMMER_ANCESTORS: usize = 7;

/// An imported block.
pub(crate) struct Node {
    /// Its header.
    pub(crate) header: Header,
    /// The hashes of its ommers.
    pub(crate) ommers: Vec<B256>,
    /// The full state after it.
    pub(crate) state: WorldState,
    /// The chain's total difficulty up to it.
    pub(crate) total_difficulty: U256,
}

/// Why an import stopped.
pub(crate) enum Stop {
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

/// A block from its hex RLP, which must be consumed entirely.
pub(crate) fn decode(rlp: &str) -> Result<Block<TxEnvelope>, Rejection> {
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
pub(crate) fn import(
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
        // Equal state changes give equal state roots: the sequential replay's changes, applied
        // to the parent's state, are checked against the header below.
        if let Err(message) = agree(&sequential, &parallel, *threads) {
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

/// Whether a parallel replay agrees with the sequential one ([`check_parallel`]); besides, a
/// block both reject for a reason other than an invalid transaction (a block rule, say)
/// agrees when the reasons are the same text.
fn agree(
    sequential: &Result<BlockReplay, ReplayError>,
    parallel: &Result<ParallelReplay, ReplayError>,
    threads: usize,
) -> Result<(), String> {
    match (sequential, parallel) {
        // Both reject the block for a reason other than an invalid transaction (which
        // `check_parallel` judges, wording aside): the reasons must be the same.
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
        _ => check_parallel(sequential, parallel, threads).map(|_| ()),
    }
}
