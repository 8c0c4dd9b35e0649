//! Loads an [`ArchivedBlock`] from a block folder, the format of `fixtures/mainnet/<number>/`:
//!
//! - `block.json`: `eth_getBlockByNumber(n, true)`, the header and full transactions;
//! - `pre_state.json`: `{ "0xaddress": { "balance", "nonce", "code"?, "storage" } }`;
//! - `block_hashes.json`: `{ "<ancestor number>": "0xhash" }`.
//!
//! Every error names the file and what is wrong with it.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use alloy_consensus::{Block, BlockBody, TxEnvelope};
use alloy_primitives::{Address, B256, Bytes, U256, map::HashMap};
use alloy_rpc_types_eth::Block as RpcBlock;
use serde::Deserialize;

use crate::{
    block::ArchivedBlock,
    error::LoadError,
    pre_state::{PreAccount, PreState},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonAccount {
    balance: U256,
    nonce: u64,
    #[serde(default)]
    code: Bytes,
    #[serde(default)]
    storage: BTreeMap<U256, U256>,
}

fn read(path: &Path) -> Result<String, LoadError> {
    fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })
}

fn parse<T: for<'de> Deserialize<'de>>(path: &Path, text: &str) -> Result<T, LoadError> {
    serde_json::from_str(text).map_err(|source| LoadError::Json {
        path: path.to_owned(),
        source,
    })
}

/// Loads the block folder at `dir` as a block of chain `chain_id`.
///
/// The transactions' `from` fields are checked against the senders recovered from their
/// signatures, and the block against its own header roots ([`ArchivedBlock::check`]).
///
/// # Errors
/// [`LoadError`] naming the file: missing, unreadable, malformed JSON, or a block whose
/// content contradicts its header.
pub fn load_block_dir(dir: &Path, chain_id: u64) -> Result<ArchivedBlock, LoadError> {
    let (archived, claimed_senders) = decode(dir, chain_id)?;
    let block_path = dir.join("block.json");
    archived.check().map_err(|source| LoadError::Block {
        path: block_path.clone(),
        source,
    })?;
    check_senders(&archived, &claimed_senders, &block_path)?;
    Ok(archived)
}

/// Reads the block folder at `dir` without checking the block against its header or its
/// senders: for diagnosing a folder [`load_block_dir`] refuses (which header field was
/// edited). Replay only what [`load_block_dir`] accepts.
///
/// # Errors
/// [`LoadError`] naming the file: missing, unreadable or malformed.
pub fn read_block_dir(dir: &Path, chain_id: u64) -> Result<ArchivedBlock, LoadError> {
    decode(dir, chain_id).map(|(archived, _)| archived)
}

/// The block folder decoded, with the senders its transactions' `from` fields claim.
fn decode(dir: &Path, chain_id: u64) -> Result<(ArchivedBlock, Vec<Address>), LoadError> {
    if !dir.is_dir() {
        return Err(LoadError::NotADirectory(dir.to_owned()));
    }
    let block_path = dir.join("block.json");
    let rpc: RpcBlock = parse(&block_path, &read(&block_path)?)?;
    let invalid = |path: &PathBuf, what: String| LoadError::Invalid {
        path: path.clone(),
        what,
    };

    let hash = rpc.header.hash;
    let header = rpc.header.inner.clone();
    let ommer_hashes = rpc.uncles.clone();
    let withdrawals = rpc.withdrawals.clone();
    let Some(txs) = rpc.transactions.as_transactions() else {
        return Err(invalid(
            &block_path,
            "transactions are hashes, not full objects".into(),
        ));
    };
    let claimed_senders: Vec<Address> = txs.iter().map(|tx| tx.inner.signer()).collect();
    let transactions: Vec<TxEnvelope> = txs.iter().map(|tx| tx.inner.inner().clone()).collect();
    let block = Block {
        header,
        body: BlockBody {
            transactions,
            ommers: Vec::new(),
            withdrawals,
        },
    };

    let state_path = dir.join("pre_state.json");
    let accounts: BTreeMap<Address, JsonAccount> = parse(&state_path, &read(&state_path)?)?;
    let mut pre_state = PreState::new();
    for (address, account) in accounts {
        let storage: HashMap<U256, U256> = account
            .storage
            .into_iter()
            .filter(|(_, value)| !value.is_zero())
            .collect();
        let account = PreAccount::new(account.balance, account.nonce, account.code, storage)
            .map_err(|e| invalid(&state_path, format!("account {address}: {e}")))?;
        pre_state.insert_account(address, account);
    }

    let hashes_path = dir.join("block_hashes.json");
    let hashes: BTreeMap<String, B256> = parse(&hashes_path, &read(&hashes_path)?)?;
    for (number, hash) in hashes {
        let number = number
            .parse::<u64>()
            .map_err(|_| invalid(&hashes_path, format!("`{number}` is not a block number")))?;
        pre_state.insert_block_hash(number, hash);
    }

    let archived = ArchivedBlock {
        chain_id,
        hash,
        block,
        ommer_hashes,
        pre_state,
    };
    Ok((archived, claimed_senders))
}

/// Checks the `from` fields against the senders the signatures recover.
fn check_senders(
    archived: &ArchivedBlock,
    claimed_senders: &[Address],
    block_path: &Path,
) -> Result<(), LoadError> {
    let invalid = |path: &Path, what: String| LoadError::Invalid {
        path: path.to_owned(),
        what,
    };
    let fork = crate::chain::ChainSpec::by_id(archived.chain_id)
        .map(|chain| archived.fork(&chain))
        .unwrap_or(crate::chain::Fork::Osaka);
    let senders = archived
        .recover_senders(fork)
        .map_err(|source| LoadError::Block {
            path: block_path.to_owned(),
            source,
        })?;
    if let Some(index) = (0..senders.len()).find(|&i| senders[i] != claimed_senders[i]) {
        return Err(invalid(
            block_path,
            format!(
                "transaction {index}: `from` is {} but the signature recovers {}",
                claimed_senders[index], senders[index]
            ),
        ));
    }
    Ok(())
}
