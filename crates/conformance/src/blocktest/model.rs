//! The JSON shape of an ethereum/tests BlockchainTests file.
//!
//! A file maps test names to tests. A test has a `network` (a fork name, or a transition
//! such as `BerlinToLondonAt5`), the full pre-state (`pre`), the genesis block as RLP
//! (`genesisRLP`), the blocks to import in order (each as `rlp`; an invalid one carries
//! `expectException`), the hash of the canonical head after the import (`lastblockhash`) and
//! the expected state at that head: either in full (`postState`) or as its root
//! (`postStateHash`, for large states). The decoded views the fixtures carry
//! (`blockHeader`, `transactions`, `genesisBlockHeader`...) are informational and ignored:
//! everything is decoded from the RLP, as a client does.

use std::{collections::BTreeMap, path::Path};

use alloy_primitives::{Address, B256};
use serde::Deserialize;

use crate::{
    files,
    json::{Num, PreAccount},
};

/// A BlockchainTests file: test name -> test. A `BTreeMap` keeps the names sorted.
pub(crate) type ChainSuite = BTreeMap<String, ChainTest>;

/// Reads and parses one file; the error names what is wrong and where.
pub(crate) fn load(path: &Path) -> Result<ChainSuite, String> {
    let bytes = files::read(path).map_err(|error| error.detail())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("invalid blockchain-test JSON: {e}"))
}

/// One named test: a pre-state, a chain of blocks and the expected end.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChainTest {
    /// The rules the chain runs under (`Cancun`, `ShanghaiToCancunAtTime15k`...).
    pub(crate) network: String,
    /// `NoProof` (no PoW seal check) or `Ethash`.
    #[serde(default)]
    pub(crate) seal_engine: Option<String>,
    /// Accounts of the genesis state.
    pub(crate) pre: BTreeMap<Address, PreAccount>,
    /// The genesis block, RLP-encoded (hex).
    #[serde(rename = "genesisRLP")]
    pub(crate) genesis_rlp: String,
    /// Blocks to import, in order.
    pub(crate) blocks: Vec<BlockEntry>,
    /// The hash of the canonical head once every block is imported.
    #[serde(rename = "lastblockhash")]
    pub(crate) last_block_hash: B256,
    /// The full state at the head.
    #[serde(default)]
    pub(crate) post_state: Option<BTreeMap<Address, PreAccount>>,
    /// The state root at the head, where the fixture does not list the state.
    #[serde(default)]
    pub(crate) post_state_hash: Option<B256>,
    /// Chain configuration carried by execution-spec-tests fixtures.
    #[serde(default)]
    pub(crate) config: Option<ChainConfig>,
}

/// The chain configuration of execution-spec-tests fixtures; only the chain id is used.
#[derive(Debug, Deserialize)]
pub(crate) struct ChainConfig {
    /// The chain id (1 when absent).
    #[serde(default)]
    pub(crate) chainid: Option<Num>,
}

/// One block to import.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlockEntry {
    /// The block, RLP-encoded (hex). Kept as text: invalid blocks may be undecodable on
    /// purpose, and that must be a rejection of this block, not a parse error of the file.
    pub(crate) rlp: String,
    /// The error a client must reject the block with (ethereum/tests' name for it).
    #[serde(default)]
    pub(crate) expect_exception: Option<String>,
}
