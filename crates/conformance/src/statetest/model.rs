//! The JSON shape of an ethereum/tests (and execution-spec-tests) state-test file.
//!
//! Numbers and accounts are the shared [`Num`], [`Quantity`] and [`PreAccount`]
//! (`crate::json`).
//! Unknown fields are ignored: fixtures carry informational fields (`_info`, `txbytes`,
//! EEST's per-entry `state`) that the runner does not need.

use std::{collections::BTreeMap, path::Path};

use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Address, B256, Bytes};
use serde::{Deserialize, Deserializer, de};

use crate::{
    error::ConformanceError,
    files,
    json::{Num, PreAccount, Quantity},
};

/// A state-test file: test name -> test. A `BTreeMap` keeps the names sorted.
pub(crate) type Suite = BTreeMap<String, TestUnit>;

/// Reads and parses one state-test file.
///
/// # Errors
/// [`ConformanceError::NotFound`] or [`ConformanceError::Io`] when it cannot be read,
/// [`ConformanceError::Json`] when it is not a state-test file.
pub(crate) fn load(path: &Path) -> Result<Suite, ConformanceError> {
    let bytes = files::read(path)?;
    serde_json::from_slice(&bytes).map_err(|source| ConformanceError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// One named test: a pre-state, a transaction template and the expected results per fork.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TestUnit {
    /// Block environment.
    pub(crate) env: Env,
    /// Accounts before the transaction.
    pub(crate) pre: BTreeMap<Address, PreAccount>,
    /// The transaction template; post entries select one data/gas/value combination.
    pub(crate) transaction: TxParts,
    /// Fork name (as the file spells it) -> expected results.
    pub(crate) post: BTreeMap<String, Vec<PostEntry>>,
    /// Chain configuration carried by execution-spec-tests fixtures.
    #[serde(default)]
    pub(crate) config: Option<Config>,
}

impl TestUnit {
    /// The chain id a test runs under: EEST's `config.chainid`, else `env.currentChainID`, else 1.
    pub(crate) fn chain_id(&self) -> Result<u64, String> {
        match self.config.as_ref().and_then(|c| c.chainid) {
            Some(id) => id.to_u64("config.chainid"),
            None => match self.env.current_chain_id {
                Some(id) => id.to_u64("env.currentChainID"),
                None => Ok(1),
            },
        }
    }
}

/// The block environment of a test.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Env {
    pub(crate) current_coinbase: Address,
    pub(crate) current_gas_limit: Num,
    pub(crate) current_number: Num,
    pub(crate) current_timestamp: Num,
    #[serde(default)]
    pub(crate) current_difficulty: Option<Num>,
    #[serde(default)]
    pub(crate) current_base_fee: Option<Num>,
    /// Parsed as a number so that short spellings (`0x020000`) are accepted too.
    #[serde(default)]
    pub(crate) current_random: Option<Num>,
    #[serde(default)]
    pub(crate) current_excess_blob_gas: Option<Num>,
    #[serde(default, rename = "currentChainID")]
    pub(crate) current_chain_id: Option<Num>,
}

/// The transaction template of a test.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TxParts {
    pub(crate) data: Vec<Bytes>,
    pub(crate) gas_limit: Vec<Quantity>,
    pub(crate) value: Vec<Quantity>,
    pub(crate) nonce: Quantity,
    #[serde(default)]
    pub(crate) gas_price: Option<Quantity>,
    #[serde(default)]
    pub(crate) max_fee_per_gas: Option<Quantity>,
    #[serde(default)]
    pub(crate) max_priority_fee_per_gas: Option<Quantity>,
    /// One access list per `data` entry; `null` entries mean "no access list".
    #[serde(default)]
    pub(crate) access_lists: Vec<Option<Vec<AccessListEntry>>>,
    #[serde(default)]
    pub(crate) blob_versioned_hashes: Option<Vec<B256>>,
    #[serde(default)]
    pub(crate) max_fee_per_blob_gas: Option<Quantity>,
    #[serde(default)]
    pub(crate) authorization_list: Option<Vec<AuthorizationEntry>>,
    #[serde(default)]
    pub(crate) sender: Option<Address>,
    #[serde(default)]
    pub(crate) secret_key: Option<B256>,
    /// `""` (or absent) means contract creation.
    #[serde(default, deserialize_with = "maybe_empty_address")]
    pub(crate) to: Option<Address>,
    /// Explicit transaction type, when the fixture states it.
    #[serde(default, rename = "type")]
    pub(crate) tx_type: Option<Num>,
}

impl TxParts {
    /// The EIP-2718 type of the transaction: the fixture's explicit `type`, else the newest type
    /// whose fields it carries.
    pub(crate) fn tx_type(&self, has_access_list: bool) -> Result<u8, String> {
        Ok(match self.tx_type {
            Some(t) => {
                u8::try_from(t.0).map_err(|_| format!("transaction type {} too large", t.0))?
            }
            None if self.authorization_list.is_some() => 4,
            None if self.max_fee_per_blob_gas.is_some() => 3,
            None if self.max_fee_per_gas.is_some() => 2,
            None if has_access_list => 1,
            None => 0,
        })
    }
}

/// The entry `index` of the template array `field`, or a message when it is out of range.
pub(crate) fn pick<'t, T>(items: &'t [T], index: usize, field: &str) -> Result<&'t T, String> {
    items.get(index).ok_or_else(|| {
        format!(
            "index {index} out of range for transaction.{field} (length {})",
            items.len()
        )
    })
}

/// One EIP-2930 access-list item.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccessListEntry {
    pub(crate) address: Address,
    #[serde(default)]
    pub(crate) storage_keys: Vec<B256>,
}

/// The EIP-2930 access list of `entries` (empty when the fixture has none).
pub(crate) fn access_list(entries: Option<&Vec<AccessListEntry>>) -> AccessList {
    AccessList(
        entries
            .into_iter()
            .flatten()
            .map(|item| AccessListItem {
                address: item.address,
                storage_keys: item.storage_keys.clone(),
            })
            .collect(),
    )
}

/// One EIP-7702 authorization tuple, with its signature.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthorizationEntry {
    pub(crate) chain_id: Quantity,
    pub(crate) address: Address,
    pub(crate) nonce: Quantity,
    #[serde(default)]
    pub(crate) v: Option<Quantity>,
    #[serde(default)]
    pub(crate) y_parity: Option<Quantity>,
    pub(crate) r: Quantity,
    pub(crate) s: Quantity,
}

/// One expected result: which transaction variant, and the roots it must produce.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostEntry {
    pub(crate) hash: B256,
    pub(crate) logs: B256,
    pub(crate) indexes: Indexes,
    #[serde(default)]
    pub(crate) expect_exception: Option<String>,
}

/// Indexes into the transaction template's `data`, `gasLimit` and `value` arrays.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Indexes {
    pub(crate) data: usize,
    pub(crate) gas: usize,
    pub(crate) value: usize,
}

/// Chain configuration of execution-spec-tests fixtures.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Config {
    /// Fork name -> blob parameters.
    #[serde(default)]
    pub(crate) blob_schedule: Option<BTreeMap<String, BlobScheduleEntry>>,
    #[serde(default)]
    pub(crate) chainid: Option<Num>,
}

/// The EIP-7840 blob parameters of one fork.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlobScheduleEntry {
    pub(crate) max: Num,
    pub(crate) base_fee_update_fraction: Num,
}

fn maybe_empty_address<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Address>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<Address>()
            .map(Some)
            .map_err(|e| de::Error::custom(format!("invalid address `{s}`: {e}"))),
    }
}
