//! One block from the node: the block, its ommer headers, its pre-state (prestateTracer
//! and/or state getters, completed by replay), verified and encoded as an archive row.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use alloy_consensus::{Block, BlockBody, Header, TxEnvelope};
use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256, map::HashMap};
use alloy_rpc_types_eth::{Block as RpcBlock, Header as RpcHeader};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, Nibbles, TrieAccount, proof::verify_proof};
use replay_evm::{
    block::ArchivedBlock,
    chain::{ChainSpec, Fork},
    pre_state::PreAccount,
    sequential::replay_sequential,
    verify::verify,
};
use replay_evm_dataset::archive::ArchiveRow;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    rpc::{Rpc, RpcFailure},
    state::{Known, Reads, SYSTEM_CONTRACTS, discover, obvious_accounts},
};

/// Where a block's pre-state comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// The prestateTracer, falling back to the state getters for good when the node
    /// answers "method not found" to `debug_*` (and for one block when the tracer fails on it).
    #[default]
    Auto,
    /// `debug_traceBlockByHash` with the prestateTracer, completed by the state getters.
    PrestateTracer,
    /// Only `eth_getBalance` / `eth_getTransactionCount` / `eth_getCode` / `eth_getStorageAt`
    /// at the parent block, batched, one round per replay that still misses something.
    StateGetters,
}

impl std::str::FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "prestate-tracer" => Ok(Self::PrestateTracer),
            "state-getters" => Ok(Self::StateGetters),
            other => Err(format!(
                "unknown method `{other}` (expected auto, prestate-tracer or state-getters)"
            )),
        }
    }
}

/// A block that could not be archived, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BlockFailure {
    /// Block number.
    pub number: u64,
    /// The stage that failed: `block`, `ommers`, `tracer`, `state`, `replay`, `check`,
    /// `verify` or `encode`.
    pub stage: String,
    /// Why, with the node's own message where the node refused.
    pub reason: String,
}

/// Replays with misses before a block is given up (each round fetches every miss of the
/// previous one, so a block needs as many rounds as its longest chain of reads that depend
/// on fetched values).
pub const MAX_ROUNDS: usize = 256;

/// Fetches blocks of one chain. Shared by the blocks in flight, each a task of its own so
/// that one block's replay (CPU work, on a worker thread) never stalls the others' requests.
#[derive(Debug)]
pub struct BlockFetcher {
    /// The client.
    pub rpc: Arc<Rpc>,
    /// The chain's rules.
    pub chain: Arc<ChainSpec>,
    /// Where pre-states come from.
    pub method: Method,
    /// Whether to skip the replay's verification against the header.
    pub no_verify: bool,
    /// Set once the node answered "method not found" to the tracer (auto falls back).
    pub tracer_missing: AtomicBool,
}

fn hex(n: u64) -> String {
    format!("{n:#x}")
}

fn parse<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| format!("{what}: unexpected answer: {e}"))
}

/// An account of a prestateTracer result (fields a client leaves out are zero or empty).
#[derive(Debug, serde::Deserialize)]
struct TracedAccount {
    #[serde(default)]
    balance: Option<U256>,
    #[serde(default)]
    nonce: Option<Value>,
    #[serde(default)]
    code: Option<Bytes>,
    #[serde(default)]
    storage: Option<BTreeMap<U256, U256>>,
}

fn nonce_of(value: &Option<Value>) -> Result<u64, String> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| format!("bad nonce {n}")),
        Some(Value::String(s)) => serde_json::from_value::<U64>(Value::String(s.clone()))
            .map(|n| n.to::<u64>())
            .map_err(|e| format!("bad nonce {s}: {e}")),
        Some(other) => Err(format!("bad nonce {other}")),
    }
}

impl BlockFetcher {
    /// Fetches, completes, verifies and encodes block `number`.
    ///
    /// # Errors
    /// [`BlockFailure`] naming the stage and the reason.
    pub async fn fetch(&self, number: u64) -> Result<ArchiveRow, BlockFailure> {
        let fail = |stage: &str| {
            let stage = stage.to_owned();
            move |reason: String| BlockFailure {
                number,
                stage,
                reason,
            }
        };
        let rpc_fail = |stage: &str| {
            let f = fail(stage);
            move |e: RpcFailure| f(e.to_string())
        };
        let value = self
            .rpc
            .call("eth_getBlockByNumber", json!([hex(number), true]))
            .await
            .map_err(rpc_fail("block"))?;
        if value.is_null() {
            return Err(fail("block")(format!("the node has no block {number}")));
        }
        let rpc_block: RpcBlock = parse(value, "eth_getBlockByNumber").map_err(fail("block"))?;
        let chain: &ChainSpec = &self.chain;
        let mut block = archived_block(chain.chain_id, &rpc_block).map_err(fail("block"))?;
        if block.number() != number {
            return Err(fail("block")(format!(
                "asked for block {number}, the node answered block {}",
                block.number()
            )));
        }
        if !block.ommer_hashes.is_empty() {
            block.block.body.ommers = self.ommers(&block).await.map_err(fail("ommers"))?;
        }
        block.check().map_err(|e| fail("check")(e.to_string()))?;
        let fork = block.fork(chain);
        let senders = block
            .recover_senders(fork)
            .map_err(|e| fail("check")(e.to_string()))?;

        let mut known = Known::default();
        let mut trusted_from_tracer = false;
        if self.method != Method::StateGetters && !self.tracer_missing.load(Ordering::Relaxed) {
            match self.trace(&block).await {
                Ok(traced) => {
                    known = traced;
                    trusted_from_tracer = true;
                }
                Err(e) if self.method == Method::Auto => {
                    if e.is_method_not_found() {
                        self.tracer_missing.store(true, Ordering::Relaxed);
                    }
                }
                Err(e) => return Err(fail("tracer")(e.to_string())),
            }
        }
        // The beneficiary and the system contracts change before the first transaction
        // runs or may be left out of its trace: always from the getters.
        if trusted_from_tracer {
            for address in SYSTEM_CONTRACTS
                .iter()
                .chain(std::iter::once(&block.header().beneficiary))
            {
                known.accounts.remove(address);
                known.slots.retain(|(a, _), _| a != address);
            }
        }
        let parent = number - 1;
        // Before Spurious Dragon (EIP-161) an empty account that exists is not one that does
        // not: a value transfer to the latter costs 25,000 gas more. The state getters and the
        // tracer answer zeros for both, so empty accounts are told apart by their proof
        // against the parent's state root.
        let existence = if fork < Fork::SpuriousDragon {
            known.accounts.retain(|_, account| account.is_some());
            Some(self.state_root(parent).await.map_err(fail("state"))?)
        } else {
            None
        };
        let mut wanted = Reads::default();
        for address in obvious_accounts(&block, &senders) {
            if !known.accounts.contains_key(&address) {
                wanted.accounts.insert(address);
            }
        }
        self.fetch_state(parent, &wanted, &mut known, existence)
            .await
            .map_err(fail("state"))?;

        let mut rounds = 0;
        let reads = loop {
            let (reads, misses, error) =
                tokio::task::block_in_place(|| discover(&block, chain, &senders, &known));
            if misses.is_empty() {
                if let Some(error) = error {
                    return Err(fail("replay")(error));
                }
                break reads;
            }
            rounds += 1;
            if rounds > MAX_ROUNDS {
                return Err(fail("state")(format!(
                    "still {} unknown reads after {MAX_ROUNDS} rounds",
                    misses.len()
                )));
            }
            self.fetch_state(parent, &misses, &mut known, existence)
                .await
                .map_err(fail("state"))?;
        };
        block.pre_state = known.pre_state(&reads).map_err(fail("state"))?;

        let no_verify = self.no_verify;
        tokio::task::block_in_place(|| {
            if !no_verify {
                let replay =
                    replay_sequential(&block, chain).map_err(|e| fail("replay")(e.to_string()))?;
                verify(block.header(), &replay).map_err(|e| fail("verify")(e.to_string()))?;
            }
            ArchiveRow::from_block_in(&block, chain).map_err(|e| fail("encode")(e.to_string()))
        })
    }

    async fn ommers(&self, block: &ArchivedBlock) -> Result<Vec<Header>, String> {
        let calls = (0..block.ommer_hashes.len())
            .map(|i| {
                (
                    "eth_getUncleByBlockHashAndIndex".to_owned(),
                    json!([block.hash, hex(i as u64)]),
                )
            })
            .collect();
        let mut out = Vec::new();
        for (i, answer) in self.rpc.batch(calls).await.into_iter().enumerate() {
            let value = answer.map_err(|e| e.to_string())?;
            if value.is_null() {
                return Err(format!("the node has no ommer {i} of block {}", block.hash));
            }
            let header: RpcHeader = parse(value, "eth_getUncleByBlockHashAndIndex")?;
            if header.hash != block.ommer_hashes[i] {
                return Err(format!(
                    "ommer {i}: the node answered {} for {}",
                    header.hash, block.ommer_hashes[i]
                ));
            }
            out.push(header.inner);
        }
        Ok(out)
    }

    /// The union of the block's per-transaction prestateTracer results, keeping the first
    /// occurrence of each account and each slot (the value before the first transaction
    /// that touches it, which is the parent block's).
    async fn trace(&self, block: &ArchivedBlock) -> Result<Known, RpcFailure> {
        // geth's default tracer time limit (5 s) is too short for big blocks: ask for as long
        // as the client waits for an answer.
        let timeout = format!("{}s", self.rpc.config().timeout.as_secs().max(1));
        let value = self
            .rpc
            .call(
                "debug_traceBlockByHash",
                json!([block.hash, {"tracer": "prestateTracer", "timeout": timeout}]),
            )
            .await?;
        let bad = |reason: String| RpcFailure::Transport {
            method: "debug_traceBlockByHash".into(),
            reason,
            attempts: 1,
        };
        let items: Vec<Value> = parse(value, "debug_traceBlockByHash").map_err(bad)?;
        if items.len() != block.transactions().len() {
            return Err(bad(format!(
                "{} results for {} transactions",
                items.len(),
                block.transactions().len()
            )));
        }
        let mut known = Known::default();
        for (index, item) in items.into_iter().enumerate() {
            if let Some(error) = item.get("error") {
                return Err(bad(format!("transaction {index}: {error}")));
            }
            let result = item.get("result").cloned().unwrap_or(item);
            let accounts: BTreeMap<Address, TracedAccount> =
                parse(result, "prestateTracer result").map_err(bad)?;
            for (address, account) in accounts {
                if !known.accounts.contains_key(&address) {
                    let nonce = nonce_of(&account.nonce).map_err(bad)?;
                    let pre = PreAccount::new(
                        account.balance.unwrap_or_default(),
                        nonce,
                        account.code.unwrap_or_default(),
                        HashMap::default(),
                    )
                    .map_err(|e| bad(format!("account {address}: {e}")))?;
                    known.insert_account(address, Some(pre));
                }
                for (slot, value) in account.storage.unwrap_or_default() {
                    known.slots.entry((address, slot)).or_insert(value);
                }
            }
        }
        Ok(known)
    }

    /// The state root of block `number`.
    async fn state_root(&self, number: u64) -> Result<B256, String> {
        let header = self
            .rpc
            .call("eth_getBlockByNumber", json!([hex(number), false]))
            .await
            .map_err(|e| e.to_string())?;
        let root = header
            .get("stateRoot")
            .cloned()
            .ok_or_else(|| format!("the node has no block {number}"))?;
        parse(root, "stateRoot")
    }

    /// Which of the empty `accounts` exist at the parent block (whose state root is
    /// `root`), from their `eth_getProof` account proofs.
    async fn existing_empty(
        &self,
        tag: &str,
        root: B256,
        accounts: &[Address],
    ) -> Result<Vec<Address>, String> {
        let calls = accounts
            .iter()
            .map(|a| ("eth_getProof".to_owned(), json!([a, [], tag])))
            .collect();
        let empty = alloy_rlp::encode(TrieAccount {
            nonce: 0,
            balance: U256::ZERO,
            storage_root: EMPTY_ROOT_HASH,
            code_hash: KECCAK_EMPTY,
        });
        let mut existing = Vec::new();
        for (address, answer) in accounts.iter().zip(self.rpc.batch(calls).await) {
            let value = answer.map_err(|e| e.to_string())?;
            let proof: Vec<Bytes> = parse(
                value.get("accountProof").cloned().unwrap_or_default(),
                "eth_getProof accountProof",
            )?;
            let key = Nibbles::unpack(keccak256(address));
            // A proof that proves neither (a node whose header roots are not its state's,
            // as anvil's genesis) leaves the account absent: the verification of the
            // replay tells whether that mattered.
            if verify_proof(root, key, Some(empty.clone()), &proof).is_ok() {
                existing.push(*address);
            }
        }
        Ok(existing)
    }

    /// Fetches `wanted` at block `parent` with the state getters (one batch) into `known`;
    /// with `existence` (the parent's state root), empty accounts are proven to exist or not.
    async fn fetch_state(
        &self,
        parent: u64,
        wanted: &Reads,
        known: &mut Known,
        existence: Option<B256>,
    ) -> Result<(), String> {
        let tag = hex(parent);
        let mut calls = Vec::new();
        let accounts: Vec<Address> = wanted
            .accounts
            .iter()
            .copied()
            .filter(|a| !known.accounts.contains_key(a))
            .collect();
        for address in &accounts {
            for method in ["eth_getBalance", "eth_getTransactionCount", "eth_getCode"] {
                calls.push((method.to_owned(), json!([address, tag])));
            }
        }
        let slots: Vec<(Address, U256)> = wanted
            .slots
            .iter()
            .copied()
            .filter(|k| !known.slots.contains_key(k))
            .collect();
        for (address, slot) in &slots {
            calls.push((
                "eth_getStorageAt".to_owned(),
                json!([address, B256::from(*slot), tag]),
            ));
        }
        let hashes: Vec<u64> = wanted
            .hashes
            .iter()
            .copied()
            .filter(|n| !known.hashes.contains_key(n))
            .collect();
        for number in &hashes {
            calls.push((
                "eth_getBlockByNumber".to_owned(),
                json!([hex(*number), false]),
            ));
        }
        if calls.is_empty() {
            return Ok(());
        }
        let mut answers = self.rpc.batch(calls).await.into_iter();
        let mut next = |what: &str| -> Result<Value, String> {
            answers
                .next()
                .ok_or_else(|| format!("{what}: no answer"))?
                .map_err(|e| e.to_string())
        };
        let mut empty = Vec::new();
        for address in accounts {
            let balance: U256 = parse(next("eth_getBalance")?, "eth_getBalance")?;
            let nonce: U64 = parse(next("eth_getTransactionCount")?, "eth_getTransactionCount")?;
            let code: Bytes = parse(next("eth_getCode")?, "eth_getCode")?;
            if balance.is_zero() && nonce.is_zero() && code.is_empty() {
                empty.push(address);
            }
            let account = PreAccount::new(balance, nonce.to::<u64>(), code, HashMap::default())
                .map_err(|e| format!("account {address}: {e}"))?;
            known.insert_account(address, Some(account));
        }
        for key in slots {
            let value: U256 = parse(next("eth_getStorageAt")?, "eth_getStorageAt")?;
            known.slots.insert(key, value);
        }
        for number in hashes {
            let value = next("eth_getBlockByNumber")?;
            let hash = value
                .get("hash")
                .cloned()
                .ok_or_else(|| format!("the node has no block {number}"))?;
            known.hashes.insert(number, parse(hash, "block hash")?);
        }
        if let Some(root) = existence
            && !empty.is_empty()
        {
            for address in self.existing_empty(&tag, root, &empty).await? {
                known.insert_existing_empty(address);
            }
        }
        Ok(())
    }
}

/// The consensus block of an `eth_getBlockByNumber(n, true)` answer (ommer headers not yet
/// filled in), with an empty pre-state.
///
/// # Errors
/// A message when the transactions are hashes or a `from` contradicts the signature.
pub fn archived_block(chain_id: u64, rpc: &RpcBlock) -> Result<ArchivedBlock, String> {
    let Some(txs) = rpc.transactions.as_transactions() else {
        return Err("transactions are hashes, not full objects".into());
    };
    let transactions: Vec<TxEnvelope> = txs.iter().map(|tx| tx.inner.inner().clone()).collect();
    Ok(ArchivedBlock {
        chain_id,
        hash: rpc.header.hash,
        block: Block {
            header: rpc.header.inner.clone(),
            body: BlockBody {
                transactions,
                ommers: Vec::new(),
                withdrawals: rpc.withdrawals.clone(),
            },
        },
        ommer_hashes: rpc.uncles.clone(),
        pre_state: Default::default(),
    })
}
